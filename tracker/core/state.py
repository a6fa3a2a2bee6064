"""What a run is while it goes and as it ends: the part of a run that the run's end and the exporters read.

Kept apart from :class:`tracker.core.run.Run` (the lifecycle and the public API) so that the modules that read a
run (``finish``, ``exporters``) never import the module that calls them: data flows one way.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from tracker.core.context import RunContext
from tracker.core.spans import SpanProfile

if TYPE_CHECKING:
    from tracker.config import Config
    from tracker.grid.location import LocationHandle
    from tracker.measure.meter import Meter
    from tracker.records.schema import RunRecord


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
