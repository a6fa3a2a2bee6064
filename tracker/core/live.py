"""Live readings of an active run: its energy, emissions and power so far, cheap enough for every training step.

A reading goes up to the meter's last tick (``read``), or to a sample taken now (``read(run, fresh=True)``: what
a step boundary does). Energy is the timeline's cumulative joules between the run's start and that tick, exactly
as the run's end reads it; emissions are that energy bucketed by UTC hour, times each hour's PUE and intensity
from the same PUE model and intensity provider the record uses. Each hour's factor is asked once and kept, and the
hours already closed are summed once, so a read costs a lock, two bisections and a few multiplications
(``benchmarks/live.py``). The record built at the run's end is not touched by any of this.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from tracker.core.state import RunState
    from tracker.measure.meter import Meter

logger = logging.getLogger(__name__)

J_PER_KWH = 3.6e6


class Reading(NamedTuple):
    """A run's figures from its start up to ``t`` (a ``perf_counter`` time: the tick they were read at)."""

    t: float
    duration_s: float
    cpu_joules: float
    gpu_joules: float
    ram_joules: float
    emissions_kg: float

    @property
    def energy_kwh(self) -> float:
        return (self.cpu_joules + self.gpu_joules + self.ram_joules) / J_PER_KWH

    @property
    def cpu_energy_kwh(self) -> float:
        return self.cpu_joules / J_PER_KWH

    @property
    def gpu_energy_kwh(self) -> float:
        return self.gpu_joules / J_PER_KWH

    @property
    def ram_energy_kwh(self) -> float:
        return self.ram_joules / J_PER_KWH

    @property
    def power_w(self) -> float:
        """Average IT power since the run's start (W); 0 before the first tick."""
        d = self.duration_s
        return (self.cpu_joules + self.gpu_joules + self.ram_joules) / d if d > 0 else 0.0

    @property
    def cpu_power_w(self) -> float:
        return self.cpu_joules / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def gpu_power_w(self) -> float:
        return self.gpu_joules / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def ram_power_w(self) -> float:
        return self.ram_joules / self.duration_s if self.duration_s > 0 else 0.0


#: the attributes an active run answers from a live reading (``Run.__getattr__``): the reading's figures by the
#: names the record gives them (``energy_kwh``, ``cpu_energy_kwh``, ..., ``emissions_kg``), ``power_w``, ``duration_s``
LIVE = frozenset(name for name in dir(Reading) if name.endswith(("_kwh", "_kg", "_w")) or name == "duration_s")


class LiveCarbon:
    """One run's hour factors (kg CO2e per kWh of IT energy: PUE x intensity of that UTC hour) and the emissions of
    its closed hours, so that a reading multiplies only the current hour's energy."""

    __slots__ = ("closed_kg", "closed_until", "factors", "last", "lock")

    def __init__(self, t0: float) -> None:
        self.factors: dict[float, float] = {}  # Unix hour start -> kg per IT kWh
        self.closed_until = t0  # perf_counter time up to which closed_kg is summed (an hour boundary, or t0)
        self.closed_kg = 0.0
        self.last: Reading | None = None  # the last reading, returned again while no tick has come
        self.lock = threading.Lock()  # one reader at a time per run (taken before the meter's lock, never after)

    def factor(self, run: RunState, hour: float) -> float:
        """kg CO2e per kWh of IT energy in the UTC hour starting at ``hour`` (Unix seconds), asked once."""
        value = self.factors.get(hour)
        if value is None:
            from tracker.carbon.accounting import account
            from tracker.grid.location import Location

            handle = run.location
            place = handle.result() if handle is not None else Location(None, None, "world-average")
            moment = datetime.fromtimestamp(hour, tz=timezone.utc)
            context = run.context
            intensities = context.intensity_provider().intensities(place, [moment])
            value = account([(moment, 1.0)], intensities, context.pue_model()).emissions_kg
            self.factors[hour] = value
        return value


def read(run: RunState, fresh: bool = False) -> Reading:
    """The run's figures so far: up to the meter's last tick, or (``fresh``) to a sample taken now. Never raises
    for a measurement fault: a failed sample reads up to the last tick instead (logged at debug)."""
    meter = run.meter
    t0 = run.t0
    if meter is None:
        return Reading(t0, 0.0, 0.0, 0.0, 0.0, 0.0)
    if fresh:
        try:
            meter.sample()
        except Exception as exc:  # a broken source: the last tick's figures
            logger.debug("on-demand sample of run %s failed: %r", run.run_id, exc)
    live = run.live
    if live is None:
        live = run.live = LiveCarbon(t0)
    with live.lock:
        return _read(run, meter, live, t0)


def _read(run: RunState, meter: Meter, live: LiveCarbon, t0: float) -> Reading:
    with meter.lock:
        if meter._pending:
            meter.catch_up()
        timeline = meter.timeline
        t = timeline.t[-1]
        last = live.last
        if last is not None and last.t == t:
            return last
        if t <= t0:
            return Reading(t0, 0.0, 0.0, 0.0, 0.0, 0.0)
        share = run.profile.share
        if share is not None:  # overlap="split": the run's part of each tick, bucketed by hour by the share
            joules = (share.joules[0], share.joules[1], share.joules[2])
            buckets = share.hour_buckets()
            closed = None
        else:
            joules = timeline.between(t0, t)
            wall_offset = run.wall_offset
            wall = t + wall_offset
            hour = wall - wall % 3600.0
            boundary = hour - wall_offset  # the current hour's start, perf_counter time
            closed = None
            if boundary > live.closed_until:  # hours closed since the last reading: summed once, kept
                closed = [(h.timestamp(), sum(j)) for h, _, j in timeline.hours(live.closed_until, boundary,
                                                                                wall_offset)]  # fmt: skip
                live.closed_until = boundary
            start = live.closed_until
            current = timeline.between(start, t) if start > t0 else joules
    # the factors may ask the intensity provider (once per hour): outside the meter's lock
    if share is not None:
        kg = sum(j / J_PER_KWH * live.factor(run, h.timestamp()) for h, j in buckets)
    else:
        if closed:
            live.closed_kg += sum(j / J_PER_KWH * live.factor(run, h) for h, j in closed)
        kg = live.closed_kg + (current[0] + current[1] + current[2]) / J_PER_KWH * live.factor(run, hour)
    reading = Reading(t, t - t0, joules[0], joules[1], joules[2], kg)
    live.last = reading
    return reading
