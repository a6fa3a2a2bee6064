"""The end of a run: the final tick, energy and carbon accounting, the record, and delivery to the stores.

Kept apart from ``run.py`` so that the hot path (spans) and the cold path (accounting, I/O) live in different
modules. Nothing here raises into user code: a failed store write is logged and the record waits in the spool
(``tracker.stores.spool``) for a later run or ``tracker sync``; if even that fails, the record is logged in full.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from tracker._version import __version__
from tracker.carbon.accounting import Carbon, account, embodied_share_kg, kwh
from tracker.config import Config
from tracker.grid.location import Location
from tracker.measure import hardware
from tracker.measure.job import job_columns
from tracker.measure.sampler import get_sampler
from tracker.measure.sources.base import Component
from tracker.records.schema import RunRecord, SpanStat
from tracker.stores import spool  # this module is imported at the first run's end: these are loaded by then

if TYPE_CHECKING:
    from tracker.core.run import Run

logger = logging.getLogger(__name__)


def finish(run: Run, t1: float, status: str, error: str | None) -> RunRecord:
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
        run.fold_spans(meter.timeline, min(t1, last), final=True)
        joules = meter.timeline.between(run.t0, t1)
        hours = [(hour, kwh(sum(j))) for hour, _, j in meter.timeline.hours(run.t0, t1, run.wall_offset)]
    get_sampler().detach(meter, run)
    notes.extend(meter.notes_since(run.t0))
    record = build_record(run, t1, status, error, joules, hours, notes)
    if run.exported:  # live metrics: final values, last push (tracker.exporters); faults become notes
        from tracker import exporters

        try:
            exporters.finished(run, record)
        except Exception as exc:
            logger.error("metrics export at the end of run %s failed: %r", run.run_id, exc)
            record.notes.append(f"metrics: export at the end failed: {exc!r}")
    return deliver(record, run.config)


def build_record(
    run: Run,
    t1: float,
    status: str,
    error: str | None,
    joules: tuple[float, float, float],
    hours: list[tuple[datetime, float]],
    notes: list[str],
) -> RunRecord:
    config = run.config
    meter = run.meter
    assert meter is not None
    machine = hardware.detect()
    started = datetime.fromtimestamp(run.t0 + run.wall_offset, tz=timezone.utc)
    ended = datetime.fromtimestamp(t1 + run.wall_offset, tz=timezone.utc)
    duration = max(0.0, t1 - run.t0)
    cpu, gpu, ram = (kwh(j) for j in joules)
    energy = cpu + gpu + ram
    place = run.location.result() if run.location is not None else Location(None, None, "world-average")
    carbon = carbon_of(hours or [(started, 0.0)], place, config, notes)
    methods = meter.methods(run._marks)
    gpus = meter.chains[Component.GPU].active.devices()
    factor = carbon.pue * carbon.g_per_kwh / 1000.0
    spans = [
        SpanStat(
            name=name,
            calls=int(s[0]),
            duration_s=s[1],
            cpu_energy_kwh=kwh(s[2]),
            gpu_energy_kwh=kwh(s[3]),
            ram_energy_kwh=kwh(s[4]),
            energy_kwh=kwh(s[2] + s[3] + s[4]),
            emissions_kg=kwh(s[2] + s[3] + s[4]) * factor,
        )
        for name, s in sorted(run._profile.items(), key=lambda item: -item[1][2] - item[1][3] - item[1][4])
    ]
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
        facility_energy_kwh=energy * carbon.pue,  # the contract: IT energy x PUE, applied once
        **carbon_columns(carbon, place, config, duration),
        cpu_power_w=joules[0] / duration if duration > 0 else 0.0,
        gpu_power_w=joules[1] / duration if duration > 0 else 0.0,
        ram_power_w=joules[2] / duration if duration > 0 else 0.0,
        cpu_method=methods[Component.CPU],
        gpu_method=methods[Component.GPU],
        ram_method=methods[Component.RAM],
        attribution=config.mode,
        host=machine.host,
        cpu_model=machine.cpu_brand,
        cpu_count=machine.logical_cpus,
        gpu_model=", ".join(gpus),
        gpu_count=len(gpus),
        ram_total_gb=machine.memory_bytes / 2**30,
        tracker_version=__version__,
        status=status,
        error=error,
        interval_s=config.interval,
        tags=dict(config.tags),
        notes=notes + (meter.job.notes(config.mode) if meter.job else []),
        spans=spans,
        **job_columns(meter.job),  # job id, node and ranks (tracker.measure.job, docs/jobs.md)
    )


def carbon_of(hours: list[tuple[datetime, float]], place: Location, config: Config, notes: list[str]) -> Carbon:
    """Location- and market-based carbon of the run's hour buckets; explains every fallback in ``notes``."""
    values = config.intensity_provider().intensities(place, [hour for hour, _ in hours])
    carbon = account(hours, values, config.pue_model(), config.suppliers)
    notes.extend(place.notes)
    notes.extend(dict.fromkeys(v.note for v in values if v.note))
    if config.pue_schedule:
        missing = sorted({h.hour.strftime("%Y-%m-%d") for h in carbon.hours if not h.pue_scheduled})
        if missing:
            notes.append(
                f"PUE schedule {config.pue_schedule} has no value for {', '.join(missing)}: "
                f"PUE {config.pue:g} was used for those hours"
            )
    return carbon


def carbon_columns(carbon: Carbon, place: Location, config: Config, duration_s: float) -> dict[str, Any]:
    """The carbon and provenance fields shared by a run's record and an estimate (same names, same meaning)."""
    embodied = 0.0
    if config.embodied_kg:
        lifetime, share = config.embodied_lifetime_years, config.embodied_share
        embodied = embodied_share_kg(config.embodied_kg, duration_s, lifetime, share)
    return {
        "pue": carbon.pue,
        "pue_source": config.pue_model().describe(),
        "intensity_g_per_kwh": carbon.g_per_kwh,
        "intensity_source": carbon.intensity_sources,
        "intensity_year": carbon.intensity.year,
        "intensity_factor_type": carbon.factor_type,
        "emissions_kg": carbon.emissions_kg,
        "emissions_market_kg": carbon.emissions_market_kg,
        "market_source": carbon.market_source,
        "embodied_kg": embodied,
        "zone": place.zone,
        "country": place.country,
        "location_source": place.source,
        "cloud_provider": place.cloud_provider,
        "cloud_region": place.cloud_region,
    }


def deliver(record: RunRecord, config: Config) -> RunRecord:
    """Write the record to the configured store and CSV; a target that fails gets it later from the spool.

    Never raises. After a successful write, records spooled earlier for that target are delivered too.
    """
    if config.save:
        spool.deliver(record, "store", config.store_location())
    if config.csv:
        spool.deliver(record, "csv", config.csv)  # CSV whatever the file's extension
    return record


def salvage(run: Run, t1: float, status: str, error: str | None, exc: BaseException) -> RunRecord:
    """A record for a run whose accounting itself failed: times, labels and the fault; no energy figures."""
    if run.meter is not None:
        try:
            get_sampler().detach(run.meter, run)
        except Exception as detach_exc:
            logger.error("could not detach run %s: %r", run.run_id, detach_exc)
    config = run.config
    started = datetime.fromtimestamp(run.t0 + run.wall_offset, tz=timezone.utc)
    record = RunRecord(
        run_id=run.run_id, project=config.project, experiment=config.experiment, team=config.team,
        organisation=config.organisation, name=run.name, started_at=started,
        ended_at=datetime.fromtimestamp(t1 + run.wall_offset, tz=timezone.utc), duration_s=max(0.0, t1 - run.t0),
        cpu_energy_kwh=0.0, gpu_energy_kwh=0.0, ram_energy_kwh=0.0, energy_kwh=0.0, pue=config.pue,
        facility_energy_kwh=0.0, intensity_g_per_kwh=0.0, intensity_source="", intensity_year=None,
        country=config.country, emissions_kg=0.0, cpu_power_w=0.0, gpu_power_w=0.0, ram_power_w=0.0,
        cpu_method="failed", gpu_method="failed", ram_method="failed", attribution=config.mode, host="",
        cpu_model="", cpu_count=0, gpu_model="", gpu_count=0, ram_total_gb=0.0, tracker_version=__version__,
        status=status, error=error, interval_s=config.interval, tags=dict(config.tags),
        notes=[f"accounting failed, energy unknown: {exc!r}"],
        **job_columns(run.meter.job if run.meter is not None else None),
    )  # fmt: skip
    return deliver(record, config)
