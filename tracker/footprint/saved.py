"""``tracker.estimate(..., save=True)``: an estimate stored as a record (``kind="estimate"``) beside the runs.

The record is built from the estimate's own columns (the same names as a run's), labelled with the configuration's
``project`` / ``experiment`` / ``team`` / ``organisation`` and written to the configured store through the spool,
like a run's record (a store that is away gets it later). Its ``run_id`` is derived from the labels, the period (as
given, to the second), the energy and the factors (location, PUE, supplier mix, emissions), so saving the same
estimate twice stores it once, and the same energy saved for two places or mixes is two records.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from tracker.carbon.estimates import Estimate
from tracker.config import resolve
from tracker.footprint.record import footprint_record
from tracker.records.schema import RunRecord

KIND = "estimate"
_NAMESPACE = uuid.UUID("b8f6a1f4-2d0e-4c3a-9a55-0f3e7d1c2b44")


def estimate_record(result: Estimate, settings: dict[str, Any]) -> RunRecord:
    """The record of an estimate made with ``settings`` (the configuration keys it was given)."""
    config = resolve(settings)
    hours = result.carbon.hours
    # the period asked (09:30-10:30 stays that, not the hours it touches); an Estimate built elsewhere: its hours
    start: datetime = result.start or hours[0].hour
    end: datetime = result.end or hours[-1].hour + timedelta(hours=1)
    identity = (
        config.organisation,
        config.team,
        config.project,
        config.experiment,
        start.isoformat(),
        end.isoformat(),
        repr(result.energy_kwh),
        # the factors: the same energy and period saved for another place, PUE or supplier mix is another record
        result.zone,
        result.country,
        result.cloud_provider,
        result.cloud_region,
        repr(result.intensity_g_per_kwh),
        result.intensity_source,
        repr(result.pue),
        result.pue_source,
        result.market_source,
        repr(result.emissions_kg),
        repr(result.emissions_market_kg),
    )
    key = "\x00".join(str(v) for v in identity)
    duration = (end - start).total_seconds()
    return footprint_record(
        run_id=uuid.uuid5(_NAMESPACE, key).hex,
        project=config.project,
        experiment=config.experiment,
        team=config.team,
        organisation=config.organisation,
        name="estimate",
        started_at=start,
        ended_at=end,
        duration_s=duration,
        energy_kwh=result.energy_kwh,
        pue=result.pue,
        facility_energy_kwh=result.facility_energy_kwh,
        intensity_g_per_kwh=result.intensity_g_per_kwh,
        intensity_source=result.intensity_source,
        intensity_year=result.intensity_year,
        country=result.country,
        emissions_kg=result.emissions_kg,
        cpu_method="estimate (energy measured elsewhere)",
        attribution="given",
        zone=result.zone,
        location_source=result.location_source,
        cloud_provider=result.cloud_provider,
        cloud_region=result.cloud_region,
        intensity_factor_type=result.intensity_factor_type,
        pue_source=result.pue_source,
        emissions_market_kg=result.emissions_market_kg,
        market_source=result.market_source,
        embodied_kg=result.embodied_kg,
        tags=dict(config.tags),
        notes=list(result.notes),
        kind=KIND,
    )


def save_estimate(result: Estimate, settings: dict[str, Any]) -> RunRecord:
    """Store the estimate's record in the configured store (through the spool: never lost, never raises)."""
    from tracker.stores import spool
    from tracker.stores.factory import location_of

    record = estimate_record(result, settings)
    spool.deliver(record, "store", location_of(resolve(settings)))
    return record
