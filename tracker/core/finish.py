"""The end of a run: the final tick, energy and carbon accounting, the record, and delivery to the stores.

Kept apart from ``run.py`` so that the hot path (spans) and the cold path (accounting, I/O) live in different
modules. Nothing here raises into user code: a failed store write is logged and the record waits in the spool
(``tracker.stores.spool``) for a later run or ``tracker sync``; if even that fails, the record is logged in full.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from tracker._version import __version__
from tracker.carbon.accounting import carbon_columns, carbon_of, kwh
from tracker.carbon.pue import Pue
from tracker.core import scheduled
from tracker.grid.location import Location
from tracker.measure import hardware
from tracker.measure.job import job_columns
from tracker.measure.sampler import get_sampler
from tracker.measure.sources.base import Component
from tracker.records.schema import RunRecord, SpanStat
from tracker.stores import spool  # this module is imported at the first run's end: these are loaded by then

if TYPE_CHECKING:
    from tracker.core.state import RunState

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Measured(NamedTuple):
    """What the meter says about a run at its end (or so far, for a checkpoint): joules per component, and IT kWh
    per UTC hour. A checkpoint passes a copy of the span figures too (``spans``, ``scale``): the sampler goes on
    folding into the run's own while the record is built."""

    joules: tuple[float, float, float]
    hours: list[tuple[datetime, float]]
    spans: list[tuple[str, list[float]]] | None = None
    scale: float | None = None


def finish(run: RunState, t1: float, status: str, error: str | None) -> RunRecord:
    """Measure the last tick, build the record and write it. Called once, by ``Run.stop``."""
    meter = run.meter
    assert meter is not None
    notes: list[str] = []
    try:
        last = meter.sample()
    except Exception as exc:  # a broken source must not lose the record
        last = t1
        notes.append(f"final sample failed: {exc!r}")
        logger.error("final sample failed: %r", exc)
    with meter.lock:
        run.profile.close(meter.timeline, min(t1, last))
        joules = meter.timeline.between(run.t0, t1)
        hours = [(hour, kwh(sum(j))) for hour, _, j in meter.timeline.hours(run.t0, t1, run.wall_offset)]
        share = run.profile.share
        if share is not None:  # overlap="split": the run's part of each tick, not the whole meter's energy
            whole = sum(joules)
            joules = (share.joules[0], share.joules[1], share.joules[2])
            hours = [(hour, kwh(j)) for hour, j in share.hour_buckets()]
            run.profile.scale = sum(joules) / whole if whole > 0 else 0.0
            notes.append(f"energy split with concurrent runs by their threads' CPU time (overlap=split): "
                         f"{run.profile.scale:.1%} of the meter's energy over this run")  # fmt: skip
    get_sampler().detach(meter, run.profile)
    notes.extend(meter.notes_since(run.t0))
    record = build_record(run, t1, status, error, Measured(joules, hours), notes)
    if run.exported:  # live metrics: final values, last push (tracker.exporters); faults become notes
        from tracker import exporters

        try:
            exporters.finished(run, record)
        except Exception as exc:
            logger.error("metrics export at the end of run %s failed: %r", run.run_id, exc)
            record.notes.append(f"metrics: export at the end failed: {exc!r}")
    return deliver(record, run)


def salvage(run: RunState, t1: float, status: str, error: str | None, exc: BaseException) -> RunRecord:
    """A record for a run whose measuring or accounting failed: the same record, built by the same function,
    with the energy and carbon figures zero, ``*_method`` = ``failed`` and the fault in a note."""
    if run.meter is not None:
        try:
            get_sampler().detach(run.meter, run.profile)
        except Exception as detach_exc:
            logger.error("could not detach run %s: %r", run.run_id, detach_exc)
    record = build_record(run, t1, status, error, None, [f"accounting failed, energy unknown: {exc!r}"])
    return deliver(record, run)


def _known(what: str, get: Callable[[], T], default: Callable[[], T]) -> T:
    """``get()`` while salvaging a record: a failure gives ``default()`` (the record must still be written)."""
    try:
        return get()
    except Exception as exc:
        logger.error("salvaged record: %s unknown: %r", what, exc)
        return default()


def build_record(
    run: RunState,
    t1: float,
    status: str,
    error: str | None,
    measured: Measured | None,
    notes: list[str],
) -> RunRecord:
    """The run's one record. ``measured`` is ``None`` when measuring or accounting failed (:func:`salvage`):
    then the energy and carbon figures are zero and everything else (labels, times, location, PUE and market
    provenance, machine, job) is filled in exactly as for a measured run."""
    config, meter, context = run.config, run.meter, run.context
    salvaging = measured is None
    started = datetime.fromtimestamp(run.t0 + run.wall_offset, tz=timezone.utc)
    ended = datetime.fromtimestamp(t1 + run.wall_offset, tz=timezone.utc)
    duration = max(0.0, t1 - run.t0)
    handle = run.location
    if handle is None:
        place = Location(None, None, "world-average")
    elif salvaging:
        place = _known("location", handle.result, lambda: _configured_country(config.country))
    else:
        place = handle.result()
    if salvaging:
        pue = _known("PUE", context.pue_model, lambda: Pue(config.pue, config.pue_source))
        machine = _known("machine", hardware.detect, lambda: None)
    else:
        pue, machine = context.pue_model(), hardware.detect()
    job = meter.job if meter is not None else None
    if measured is None:
        joules, carbon, spans = (0.0, 0.0, 0.0), None, []
        methods = dict.fromkeys(Component, "failed")
        gpus: list[str] = []
    else:
        assert meter is not None
        joules = measured.joules
        carbon = carbon_of(
            measured.hours or [(started, 0.0)], place, config, context.intensity_provider(), pue, notes
        )
        methods = meter.methods(run.profile.marks)
        gpus = meter.chains[Component.GPU].active.devices()
        spans = span_stats(run, carbon.kg_per_it_kwh, measured)
        notes = notes + (job.notes(config.mode) if job else [])
    cpu, gpu, ram = (kwh(j) for j in joules)
    energy = cpu + gpu + ram
    unit, units = _functional_units(run, notes)
    log = run.step_log
    steps = log.snapshot() if log is not None else []
    if log is not None and log.notes:  # the first prediction, a budget crossed (tracker.core.steps)
        notes = notes + log.notes
    columns = carbon_columns(carbon, place, config, pue, duration)
    return RunRecord(
        run_id=run.run_id,
        project=config.project,
        experiment=config.experiment,
        team=config.team,
        organisation=config.organisation,
        name=run.name,
        started_at=started,
        ended_at=ended,
        duration_s=duration,
        cpu_energy_kwh=cpu,
        gpu_energy_kwh=gpu,
        ram_energy_kwh=ram,
        energy_kwh=energy,
        facility_energy_kwh=energy * columns["pue"],  # the contract: IT energy x PUE, applied once
        **columns,
        cpu_power_w=joules[0] / duration if duration > 0 else 0.0,
        gpu_power_w=joules[1] / duration if duration > 0 else 0.0,
        ram_power_w=joules[2] / duration if duration > 0 else 0.0,
        cpu_method=methods[Component.CPU],
        gpu_method=methods[Component.GPU],
        ram_method=methods[Component.RAM],
        attribution=meter.mode if meter is not None else config.mode,
        host=machine.host if machine else "",
        cpu_model=machine.cpu_brand if machine else "",
        cpu_count=machine.logical_cpus if machine else 0,
        gpu_model=", ".join(gpus),
        gpu_count=len(gpus),
        ram_total_gb=machine.memory_bytes / 2**30 if machine else 0.0,
        tracker_version=__version__,
        status=status,
        error=error,
        interval_s=config.interval,
        tags=dict(config.tags),
        notes=notes,
        spans=spans,
        **job_columns(job),  # job id, node and ranks (tracker.measure.job, docs/jobs.md)
        functional_unit=unit,
        functional_units=units,
        **scheduled.columns(run.scheduled),  # waited for a greener grid (tracker.schedule.waiting)
        steps=steps,
    )


def _functional_units(run: RunState, notes: list[str]) -> tuple[str | None, float | None]:
    """SCI's R for the record: the unit's name and the count (``None``, ``None`` when the run counted nothing).
    Units counted without a ``functional_unit`` setting are named ``units``, with a note saying so."""
    count = run.take_units()
    if count is None:
        return run.config.functional_unit, None
    name = run.config.functional_unit
    if name is None:
        name = "units"
        notes.append("functional units counted without a functional_unit setting: named 'units'")
    return name, float(count)


def _configured_country(country: str | None) -> Location:
    """Where a salvaged run was, when even its location could not be read: its configured country, if any."""
    return Location(None, country, "config" if country else "world-average")


def span_stats(run: RunState, kg_per_kwh: float, measured: Measured | None = None) -> list[SpanStat]:
    """The run's spans, one per name, in the order each name was first entered. A split run's spans get its
    share of the meter's energy over the run (``overlap="split"``: the span's own ticks are not split again).
    ``measured`` may carry a copy of the figures taken under the meter's lock (a checkpoint's)."""
    spans = []
    items = run.profile.in_entry_order() if measured is None or measured.spans is None else measured.spans
    scale = run.profile.scale if measured is None or measured.scale is None else measured.scale
    for name, s in items:
        cpu, gpu, ram = kwh(s[2]) * scale, kwh(s[3]) * scale, kwh(s[4]) * scale
        energy = cpu + gpu + ram
        spans.append(
            SpanStat(
                name=name,
                calls=int(s[0]),
                duration_s=s[1],
                cpu_energy_kwh=cpu,
                gpu_energy_kwh=gpu,
                ram_energy_kwh=ram,
                energy_kwh=energy,
                emissions_kg=energy * kg_per_kwh,
            )
        )
    return spans


def deliver(record: RunRecord, run: RunState) -> RunRecord:
    """Write the record to the configured store and CSV; a target that fails gets it later from the spool.

    Never raises. After a successful write, records spooled earlier for that target are delivered too.
    """
    config = run.config
    if config.save:
        spool.deliver(record, "store", run.context.store_location())
    if config.csv:
        spool.deliver(record, "csv", config.csv)  # CSV whatever the file's extension
    return record
