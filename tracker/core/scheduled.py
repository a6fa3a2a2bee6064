"""How a run came to start when it did (issue 15): set by ``tracker.schedule.waiting`` for the runs started in
its context, read once when a run starts, and written on the run's record (``waited_s``, ``scheduled_by``,
``forecast_g_per_kwh``). A leaf: the scheduling code sits above ``core`` and hands this down, never the reverse.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import NamedTuple


class Scheduled(NamedTuple):
    """What the wait before a run decided."""

    waited_s: float  # how long the run waited for a greener grid
    scheduled_by: str  # "threshold" | "best-window" | "deadline" | "now" | "no-forecast", then ": " + the source
    forecast_g_per_kwh: float | None  # the forecast intensity at the chosen start (None: no forecast)


#: the schedule for runs started in this context (a ``wait_for_green`` block, a ``when_green`` call)
pending: ContextVar[Scheduled | None] = ContextVar("tracker_scheduled", default=None)


def columns(scheduled: Scheduled | None) -> dict[str, object]:
    """The record's scheduling columns (all ``None`` for a run nobody scheduled)."""
    if scheduled is None:
        return {"waited_s": None, "scheduled_by": None, "forecast_g_per_kwh": None}
    return scheduled._asdict()
