"""What this machine is: CPU brand and sockets, core counts, installed memory. Detected once per process.

``/proc/cpuinfo`` is read first because it costs microseconds; py-cpuinfo, which starts a subprocess and takes
about a second, is only asked where that file does not exist (macOS, Windows).
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import NamedTuple

logger = logging.getLogger(__name__)


class Machine(NamedTuple):
    """The static facts about the host that the power models and the record need."""

    host: str
    cpu_brand: str
    sockets: int
    physical_cores: int
    logical_cpus: int
    memory_bytes: int
    virtualised: bool


def parse_cpuinfo(text: str) -> tuple[str, int, bool]:
    """Return (brand, sockets, virtualised) from the text of ``/proc/cpuinfo``."""
    brand, sockets, _cores, virtualised = _parse(text)
    return brand, sockets, virtualised


def _parse(text: str) -> tuple[str, int, int, bool]:
    """(brand, sockets, physical cores or 0 when not listed, virtualised)."""
    brand = ""
    sockets: set[str] = set()
    cores: set[tuple[str, str]] = set()
    socket_id = "0"
    virtualised = False
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if not sep:
            continue
        name = name.strip()
        value = value.strip()
        if name in ("model name", "Model", "Hardware", "cpu model") and not brand:
            brand = value
        elif name == "physical id":
            sockets.add(value)
            socket_id = value
        elif name == "core id":
            cores.add((socket_id, value))
        elif name == "flags" and " hypervisor" in f" {value}":
            virtualised = True
    return brand, max(1, len(sockets)), len(cores), virtualised


def _memory_bytes() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # not POSIX: ask psutil
        import psutil

        return int(psutil.virtual_memory().total)


def _brand_from_cpuinfo_package() -> str:
    try:
        import cpuinfo  # py-cpuinfo: slow (a subprocess), so only where /proc/cpuinfo is missing

        return str(cpuinfo.get_cpu_info().get("brand_raw", ""))
    except Exception as exc:  # a third-party probe may fail in many ways; the brand is optional
        logger.debug("py-cpuinfo failed: %s", exc)
        return ""


@functools.cache
def detect(cpuinfo_path: str = "/proc/cpuinfo") -> Machine:
    """Detect the machine once per process (the facts do not change while it runs)."""
    brand, sockets, cores, virtualised = "", 1, 0, False
    path = Path(cpuinfo_path)
    if path.is_file():
        try:
            brand, sockets, cores, virtualised = _parse(path.read_text(errors="replace"))
        except OSError as exc:
            logger.debug("cannot read %s: %s", path, exc)
    if not brand:
        import platform  # rarely reached; importing it costs ~3 ms

        brand = _brand_from_cpuinfo_package() or platform.processor() or "unknown CPU"
    logical = os.cpu_count() or 1
    if not cores:
        import psutil

        cores = psutil.cpu_count(logical=False) or logical
    physical = cores
    return Machine(
        host=node_name() or "unknown",
        cpu_brand=brand,
        sockets=sockets,
        physical_cores=physical,
        logical_cpus=logical,
        memory_bytes=_memory_bytes(),
        virtualised=virtualised,
    )


def node_name() -> str:
    """The machine's network name (``os.uname`` where there is one: ``platform`` costs milliseconds to import)."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import platform

    return platform.node()
