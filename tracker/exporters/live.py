"""The live figures of the runs that export metrics, computed when an exporter asks (a pull model).

The sampler does no extra work for metrics: a run that exports is put on a watch list at its start, and a
scrape (Prometheus ``/metrics``, a pushgateway push, an OpenTelemetry collection) reads the run's cumulative
energy off its meter's timeline at that moment. Emissions so far are worked out by the same accounting as the
record's (``tracker.carbon.accounting.carbon_of``: hour by hour, with the run's intensity provider, live or
embedded, and its PUE model, schedule included), in the scraper's thread, never in the run's. A finished run
keeps its final figures on the list for :data:`LINGER_S` seconds so that the next scrape still sees its last
values.

What a scrape of the whole process sees (:func:`series`) is one series per project / experiment / team, with
counters that accumulate across runs: each finished run's final figures are added to its labels' totals once,
and the running ones add what they have used so far. The run id is a label only for runs that ask for it
(``metrics_run_label``): each such run is a series of its own, as long as it lingers. Counters never go down:
when a run's final figure is below the estimate shown while it ran (its location became known at its end, say),
the counter holds its value until the accumulation passes it again.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from tracker.carbon.accounting import J_PER_KWH, carbon_of, kwh

if TYPE_CHECKING:
    from tracker.core.state import RunState
    from tracker.records.schema import RunRecord

logger = logging.getLogger(__name__)

COMPONENTS = ("cpu", "gpu", "ram")
LINGER_S = 120.0  # how long a finished run's final values stay visible to scrapes


@dataclass(frozen=True)
class LiveFigures:
    """One run's figures at the moment of a scrape. Energy and emissions are cumulative since the run began."""

    project: str
    experiment: str
    run_id: str  # "" for the figures of every run with these labels (the default series)
    joules: tuple[float, float, float]  # cpu, gpu, ram
    watts: tuple[float, float, float]  # over the last tick (0 once the run has ended)
    grams: float  # emissions, location-based, after PUE
    active: int  # runs measuring now (1 or 0 for one run)
    team: str = ""

    @property
    def labels(self) -> dict[str, str]:
        found = {"project": self.project, "experiment": self.experiment, "team": self.team}
        if self.run_id:
            found["run"] = self.run_id
        return found


@dataclass
class Watched:
    """A run on the watch list."""

    run: RunState
    record: RunRecord | None = None
    ended: float | None = None  # time.monotonic() at the end
    notes: list[str] = field(default_factory=list)
    warned: bool = False  # a failure to work out live emissions is logged once per run
    counted: bool = False  # its final figures are in its labels' totals


_watched: dict[str, Watched] = {}
_lock = threading.RLock()  # re-entrant: a signal handler writing the last records may interrupt its holder
Key = tuple[str, str, str, str]  # project, experiment, team, run id ("" unless the run asked for its own series)
# per key: the final figures of the finished runs (cpu J, gpu J, ram J, grams), and the counters last shown
_totals: dict[Key, list[float]] = {}
_shown: dict[Key, list[float]] = {}


def _key(run: RunState) -> Key:
    config = run.config
    run_id = run.run_id if getattr(config, "metrics_run_label", False) else ""
    return (config.project, config.experiment or "", config.team or "", run_id)


def _account(watched: Watched) -> None:
    """Add a finished run's final figures to its labels' totals, once (call with ``_lock`` held)."""
    record = watched.record
    if record is None or watched.counted:
        return
    watched.counted = True
    key = _key(watched.run)
    if key[3]:  # a series of its own: shown from the watch list while it lingers, not accumulated
        return
    total = _totals.setdefault(key, [0.0, 0.0, 0.0, 0.0])
    for i, component in enumerate(COMPONENTS):
        total[i] += getattr(record, f"{component}_energy_kwh") * J_PER_KWH
    total[3] += record.emissions_kg * 1000.0


def emissions_grams(run: RunState, hours: list[tuple[datetime, float]]) -> float:
    """Emissions so far of a running run's hour buckets (IT kWh per UTC hour), accounted as its record will be,
    at its location as far as it is known now (without waiting for detection); the record's figure replaces
    this at the end."""
    from tracker.grid.location import Location

    config, context = run.config, run.context
    place = run.location.peek() if run.location is not None else None
    if place is None:  # still being detected: the configured country, else the world average
        place = Location(None, config.country, "config" if config.country else "world-average")
    carbon = carbon_of(hours, place, config, context.intensity_provider(), context.pue_model(), [])
    return carbon.emissions_kg * 1000.0


def watch(run: RunState) -> Watched:
    """Put a started run on the watch list."""
    entry = Watched(run)
    with _lock:
        _watched[run.run_id] = entry
    return entry


def entry(run_id: str) -> Watched | None:
    with _lock:
        return _watched.get(run_id)


def finished(run: RunState, record: RunRecord) -> None:
    """Freeze a run's final figures (from its record) and start its linger time."""
    with _lock:
        watched = _watched.get(run.run_id)
        if watched is not None:
            watched.record = record
            watched.ended = time.monotonic()
            _account(watched)


def _read(watched: Watched) -> LiveFigures | None:
    run, record = watched.run, watched.record
    experiment = run.config.experiment or ""
    if record is not None:
        joules = tuple(getattr(record, f"{c}_energy_kwh") * J_PER_KWH for c in COMPONENTS)
        grams = record.emissions_kg * 1000.0
        return LiveFigures(
            run.config.project,
            experiment,
            run.run_id,
            joules,
            (0.0, 0.0, 0.0),
            grams,
            0,
            run.config.team or "",  # type: ignore[arg-type]
        )
    meter = run.meter
    if meter is None or not run.active:
        return None  # stopping right now (or accounting failed): nothing consistent to show
    with meter.lock:
        meter.catch_up()  # ticks the sampler noted but has not yet turned into energy
        timeline = meter.timeline
        end = timeline.t[-1]
        if end > run.t0:
            joules = timeline.between(run.t0, end)
            hours = [(hour, kwh(sum(j))) for hour, _, j in timeline.hours(run.t0, end, run.wall_offset)]
        else:
            joules, hours = (0.0, 0.0, 0.0), []
        watts = (0.0, 0.0, 0.0)
        if len(timeline) >= 2 and timeline.t[-1] > timeline.t[-2]:
            width = timeline.t[-1] - timeline.t[-2]
            watts = tuple((s[-1] - s[-2]) / width for s in (timeline.cpu, timeline.gpu, timeline.ram))  # type: ignore[assignment]
    grams = 0.0
    if hours:  # outside the meter's lock: a live intensity provider may ask the network (cached, bounded)
        try:
            grams = emissions_grams(run, hours)
        except Exception as exc:  # the record still gets its emissions from the accounting at the end
            if not watched.warned:
                watched.warned = True
                logger.warning("live emissions unavailable for run %s: %r", run.run_id, exc)
    return LiveFigures(run.config.project, experiment, run.run_id, joules, watts, grams, 1, run.config.team or "")


def _sweep(now: float) -> None:
    """Runs that ended without :func:`finished` (salvaged) take their record; drop those past their linger time
    (call with ``_lock`` held)."""
    for watched in _watched.values():
        if watched.ended is None and watched.run.record is not None:
            watched.record, watched.ended = watched.run.record, now
            _account(watched)
    for key in [k for k, w in _watched.items() if w.ended is not None and now - w.ended > LINGER_S]:
        del _watched[key]


def snapshot(run_id: str | None = None) -> list[LiveFigures]:
    """The figures of every watched run (or of one), read now, one per run (a run's pushgateway group)."""
    with _lock:
        _sweep(time.monotonic())
        entries = [w for k, w in _watched.items() if run_id is None or k == run_id]
    return [reading for reading in _read_all(entries) if reading is not None]


def series() -> list[LiveFigures]:
    """What a scrape of the process shows: per project / experiment / team, the finished runs' totals plus the
    running runs' figures so far (``run_id`` ""), and a series of its own for each run that asked for one."""
    with _lock:
        _sweep(time.monotonic())
        totals = {key: list(values) for key, values in _totals.items()}
        entries = [w for w in _watched.values() if not w.counted or _key(w.run)[3]]
    sums: dict[Key, list[float]] = {key: [*values[:3], 0.0, 0.0, 0.0, values[3], 0.0] for key, values in totals.items()}
    for reading, watched in zip(_read_all(entries, keep_none=True), entries, strict=True):
        if reading is None:
            continue
        row = sums.setdefault(_key(watched.run), [0.0] * 8)
        for i in range(3):
            row[i] += reading.joules[i]
            row[3 + i] += reading.watts[i]
        row[6] += reading.grams
        row[7] += reading.active
    found = []
    with _lock:
        for key, row in sums.items():
            counters = [row[0], row[1], row[2], row[6]]
            if not key[3]:  # the accumulated counters never go down (a per-run series ends with its run)
                shown = _shown.get(key)
                if shown is not None:
                    counters = [max(a, b) for a, b in zip(shown, counters, strict=True)]
                _shown[key] = counters
            project, experiment, team, run_id = key
            joules = (counters[0], counters[1], counters[2])
            found.append(
                LiveFigures(
                    project, experiment, run_id, joules, (row[3], row[4], row[5]), counters[3], int(row[7]), team
                )
            )
    return found


def _read_all(entries: list[Watched], keep_none: bool = False) -> list[LiveFigures | None]:
    readings: list[LiveFigures | None] = []
    for watched in entries:
        try:
            reading = _read(watched)
        except Exception as exc:  # a scrape must never break; the run goes on
            logger.warning("could not read run %s for metrics: %r", watched.run.run_id, exc)
            reading = None
        if reading is not None or keep_none:
            readings.append(reading)
    return readings


def forget_all() -> None:
    """Empty the watch list (tests; a forked child)."""
    with _lock:
        _watched.clear()
        _totals.clear()
        _shown.clear()
