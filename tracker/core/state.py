"""What a run is while it goes and as it ends: the part of a run that the run's end and the exporters read.

Kept apart from :class:`tracker.core.run.Run` (the lifecycle and the public API) so that the modules that read a
run (``finish``, ``exporters``) never import the module that calls them: data flows one way.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from tracker.core import scheduled
from tracker.core.context import RunContext
from tracker.core.spans import SpanProfile

if TYPE_CHECKING:
    from tracker.config import Config
    from tracker.grid.location import LocationHandle
    from tracker.measure.meter import Meter
    from tracker.records.schema import RunRecord

logger = logging.getLogger(__name__)

#: one lock for every run's count of functional units: held for one addition, so no run pays for a lock of its own
_units_lock = threading.Lock()
_INF = float("inf")


class RunState:
    """One run's identity, configuration, measurement handles and span profile; its record once it has ended."""

    def __init__(
        self, config: Config, *, name: str | None = None, pid: int | None = None, context: RunContext | None = None
    ) -> None:
        self.config = config
        self.context = context if context is not None else RunContext(config)
        self.name = name
        self.pid = pid
        self.run_id = os.urandom(16).hex()  # 128 random bits, like uuid4, without importing uuid
        self.active = False
        self.record: RunRecord | None = None
        self.meter: Meter | None = None
        self.t0 = 0.0  # perf_counter seconds
        self.wall_offset = 0.0  # add to a perf_counter time to get Unix time
        self.profile = SpanProfile()
        self.forked = False
        self.exported = False  # live metrics are exported for this run (tracker.exporters)
        self.location: LocationHandle | None = None  # resolved in the background while the run goes on
        self.unit_count: float | None = config.functional_units  # SCI's R so far; None: nothing counted
        self.units_taken = False  # the record has read the count: later units are late
        self.late_units = 0  # additions that came too late (logged at the first)
        self.scheduled = scheduled.pending.get()  # a wait for a greener grid before this run (issue 15)
        # made at the first use, by modules that read this one (not imported here: data flows one way)
        self.live: Any = None  # live readings' hour factors (tracker.core.live.LiveCarbon)
        self.step_log: Any = None  # run.step() boundaries (tracker.core.steps.StepLog)
        self.prediction: Any = None  # the run's predicted total (tracker.core.predict.Prediction), once possible

    def add_units(self, n: float = 1) -> None:
        """Count ``n`` functional units (SCI's R: requests, samples, tokens, ...) served by this run; reports show
        its emissions per unit, named by the ``functional_unit`` setting. Safe from any thread, ~0.4 µs a call.

        Units added after the run's record was built are not counted (logged once per run). ``n`` must be a
        number from 0 up (``ValueError`` otherwise: a count that is not a count is the caller's bug)."""
        if not 0 <= n < _INF:  # NaN fails here too
            raise ValueError(f"a count of functional units is a finite number >= 0, not {n!r}")
        with _units_lock:
            if not self.units_taken:
                count = self.unit_count
                self.unit_count = n if count is None else count + n
                return
            first = not self.late_units
            self.late_units += 1
        if first:
            logger.warning("run %s had ended: %r functional units added after its record was built are not counted "
                           "(said once per run)", self.run_id, n)  # fmt: skip

    def take_units(self) -> float | None:
        """The count for the record, read once: what is added after it is late."""
        with _units_lock:
            self.units_taken = True
            return self.unit_count
