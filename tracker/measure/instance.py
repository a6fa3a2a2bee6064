"""The cloud instance type this virtual machine runs as (``m5.large``), and where that was learnt.

Why: the vCPU model (:mod:`tracker.measure.sources.vcpu_model`) takes the platform CPU from the instance type
when it is known; a VM's brand string rarely names a model. The order is:

1. ``instance_type=`` in the configuration: always wins, nothing is asked;
2. the cloud metadata service (AWS IMDSv2 ``/latest/meta-data/instance-type``, GCP
   ``/computeMetadata/v1/instance/machine-type``, Azure IMDS ``compute/vmSize``), asked under the same rule as
   for the location (``cloud_metadata``: ``auto`` only where DMI shows a cloud VM, ``on``, ``off``), with the
   same endpoints, requests, budget and answer size cap (:mod:`tracker.grid.location`);
3. unknown: the model falls back to the CPU's model number or vendor.

:func:`start` never blocks: the question runs on a daemon thread, once per process and per set of endpoints,
and :meth:`InstanceHandle.peek` answers ``None`` until the answer is in (or the budget has run out, even in a
forked child whose copy of the thread never ran). The meter starts before the answer is in; the model then
switches its coefficients once, at a tick (:meth:`VcpuModel.settle`).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from tracker.grid import location

logger = logging.getLogger(__name__)

#: what an instance type may look like (``m5.large``, ``e2-standard-2``, ``Standard_D2s_v3``): anything else
#: in an answer (an HTML error page from a proxy, a huge body) is no instance type, and never reaches a note
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class InstanceType(NamedTuple):
    """The instance type, if known; who said it (``configuration`` or ``cloud metadata``); why not, if not."""

    name: str | None
    provider: str | None
    source: str  # "configuration" | "cloud metadata" | "unknown"
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        """``instance type m5.large from cloud metadata (aws)``: the words the record's notes use."""
        if self.name is None:
            return "instance type unknown"
        if self.source == "configuration":
            return f"instance type {self.name} from configuration (instance_type)"
        return f"instance type {self.name} from {self.source} ({self.provider})"


def _name(body: bytes) -> str:
    """The instance type in a metadata answer (GCP's is a path ending in it). Raises on anything else."""
    text = body.decode("ascii", "replace").strip().rsplit("/", 1)[-1]
    if not NAME.fullmatch(text):
        raise OSError(f"not an instance type: {text[:40]!r}")
    return text


def probe_aws(base: str, deadline: float) -> str:
    """AWS IMDSv2: ``m5.large``."""
    return _name(location.aws_get(base, "/latest/meta-data/instance-type", deadline))


def probe_gcp(base: str, deadline: float) -> str:
    """GCP: ``projects/<n>/machineTypes/e2-standard-2`` -> ``e2-standard-2``."""
    return _name(location.gcp_get(base, "/computeMetadata/v1/instance/machine-type", deadline))


def probe_azure(base: str, deadline: float) -> str:
    """Azure IMDS: the compute ``vmSize`` (``Standard_D2s_v3``)."""
    return _name(location.azure_get(base, "vmSize", deadline))


PROBES: dict[str, Callable[[str, float], str]] = {"aws": probe_aws, "gcp": probe_gcp, "azure": probe_azure}


class _Detection:
    """One question to the metadata services, shared by every meter of the process with the same endpoints."""

    def __init__(self, wait_s: float) -> None:
        self.done = threading.Event()
        self.found: tuple[str, str] | None = None  # (provider, instance type)
        self.notes: list[str] = []
        self.wait_s = wait_s
        self.deadline = time.monotonic() + wait_s


class InstanceHandle:
    """What :func:`start` returns: the instance type once known (``peek``), or after a bounded wait (``result``)."""

    def __init__(self, ready: InstanceType | None, detection: _Detection | None = None) -> None:
        self._ready = ready
        self._detection = detection

    def peek(self) -> InstanceType | None:
        """The answer if it is in (or the budget is spent), else ``None``; never waits."""
        if self._ready is not None:
            return self._ready
        detection = self._detection
        assert detection is not None
        if detection.done.is_set() or time.monotonic() >= detection.deadline:
            return self._settle()
        return None

    def result(self) -> InstanceType:
        """The answer, waiting at most what is left of the budget (``tracker detect``, ``tracker doctor``)."""
        if self._ready is not None:
            return self._ready
        detection = self._detection
        assert detection is not None
        detection.done.wait(max(0.0, detection.deadline - time.monotonic()))
        return self._settle()

    def _settle(self) -> InstanceType:
        detection = self._detection
        assert detection is not None
        if detection.done.is_set() and detection.found is not None:
            provider, name = detection.found
            answer = InstanceType(name, provider, "cloud metadata")
        else:
            notes = list(detection.notes) if detection.done.is_set() else []
            if not detection.done.is_set():
                notes.append(f"instance type: no answer within {detection.wait_s:.2f} s")
            answer = InstanceType(None, None, "unknown", tuple(notes))
        self._ready = answer
        return answer


_detections: dict[tuple[Any, ...], _Detection] = {}
_lock = threading.Lock()


def _detect(providers: tuple[str, ...], detection: _Detection) -> None:
    """The background part: ask the providers in parallel, within the metadata budget."""
    try:
        found, notes = location.ask_metadata(providers, location.METADATA_BUDGET_S, PROBES)
        detection.found = found
        detection.notes.extend(f"instance type: {note}" for note in notes)
    except Exception as exc:  # pragma: no cover - defensive: never break a run
        detection.notes.append(f"instance type: detection failed: {exc}")
    finally:
        detection.done.set()


def start(config: Any) -> InstanceHandle:
    """Begin finding the instance type for ``config``; returns at once (see the module's docstring)."""
    if config.instance_type:
        return InstanceHandle(InstanceType(config.instance_type, config.cloud_provider, "configuration"))
    providers, skipped = location.metadata_providers(getattr(config, "cloud_metadata", "auto"))
    if not providers:
        return InstanceHandle(InstanceType(None, None, "unknown", (f"instance type: {skipped}",) if skipped else ()))
    if config.cloud_provider in providers:  # the provider you named: ask it alone
        providers = (config.cloud_provider,)
    key = (providers, tuple(location.metadata_url(p) for p in providers))
    with _lock:
        detection = _detections.get(key)
        if detection is None:
            detection = _detections[key] = _Detection(location.METADATA_BUDGET_S + location.WAIT_MARGIN_S)
            thread = threading.Thread(
                target=_detect, args=(providers, detection), name="tracker-instance-type", daemon=True
            )
            thread.start()
    return InstanceHandle(None, detection)


def reset() -> None:
    """Forget cached answers (tests)."""
    with _lock:
        _detections.clear()
