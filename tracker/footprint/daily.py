"""A site's day through the run's accounting, then each equipment's day (and each instance's share) as records.

The factors of a site's day come from :func:`tracker.estimate`, the very function (configuration, location,
intensity provider, :func:`tracker.carbon.accounting.account`) that accounts runs: one kWh spread over the day's
24 UTC hours, with the site's PUE for that day (or month), its supplier mix in force that day and its own
location-based factor when it has one. The accounting is linear in energy, so a piece of equipment's kg are its
kWh times that day's kg per kWh, exactly what ``tracker.estimate(kwh, ...)`` gives for it alone (tested), at one
estimate per site and day instead of one per equipment. The provenance columns (intensity source and year, PUE
source, supplier mix) are the estimate's, so an equipment record reads like a run's.

Each piece of equipment's day becomes one record per instance share (``project`` = the service, ``experiment`` =
the instance, ``name`` and ``host`` = the equipment) plus the unallocated rest: the shares add up to the
equipment, so summing records never counts a kWh twice. ``run_id`` is derived from (equipment, instance, day), so
importing the same day again replaces the same records and adds nothing; when the inventory changed in between (a
new instance, a share moved), the pipeline replaces all of that equipment's records of the day
(:meth:`tracker.stores.base.Store.replace_many`), so the old split's records do not stay beside the new one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from tracker.footprint.inventory import Inventory
from tracker.footprint.power import MINUTES, DayPower, day_start
from tracker.footprint.record import footprint_record
from tracker.footprint.sites import SiteBook
from tracker.records.schema import RunRecord

KIND = "equipment"
METHOD = "metered (data-centre power feed)"
_NAMESPACE = uuid.UUID("3d0c8f3e-9a51-4d55-b7a2-6e1f0c2a7d17")  # fixed: the same day always gets the same ids


@dataclass(frozen=True)
class SiteDay:
    """What one kWh of IT energy at a site on a day comes to: the estimate of that kWh and its columns."""

    pue: float
    facility_per_kwh: float
    location_kg_per_kwh: float
    market_kg_per_kwh: float
    columns: dict[str, Any]  # the record's carbon and provenance columns (carbon_columns' names)
    notes: tuple[str, ...]


def site_day(book: SiteBook, site: str, day: date) -> SiteDay:
    """Account one kWh at ``site`` on ``day`` through :func:`tracker.estimate`."""
    from tracker.carbon.estimates import estimate

    settings, pue_source, notes = book.settings(site, day)
    start = day_start(day)
    result = estimate(hourly=[(start + timedelta(hours=h), 1.0 / 24) for h in range(24)], isolated=True, **settings)
    columns = {
        name: getattr(result, name)
        for name in (
            "intensity_g_per_kwh",
            "intensity_source",
            "intensity_year",
            "intensity_factor_type",
            "market_source",
            "zone",
            "country",
            "location_source",
            "cloud_provider",
            "cloud_region",
        )
    }
    columns["pue_source"] = pue_source  # the estimate only knows "configured": the site file says which row
    return SiteDay(
        pue=result.pue,
        facility_per_kwh=result.facility_energy_kwh / result.energy_kwh,
        location_kg_per_kwh=result.emissions_kg / result.energy_kwh,
        market_kg_per_kwh=result.emissions_market_kg / result.energy_kwh,
        columns=columns,
        notes=(*notes, *result.notes),
    )


def record_id(equipment: str, instance: str, day: date) -> str:
    return uuid.uuid5(_NAMESPACE, f"{KIND}\x00{equipment}\x00{instance}\x00{day.isoformat()}").hex


def equipment_records(
    power: DayPower,
    inventory: Inventory,
    book: SiteBook,
    *,
    organisation: str | None = None,
    team: str | None = None,
    factors: dict[tuple[str, date], SiteDay] | None = None,
) -> Iterator[RunRecord]:
    """The records of one day: each equipment's energy split over its instances' shares (and the rest)."""
    factors = {} if factors is None else factors
    start = day_start(power.day)
    end = start + timedelta(days=1)
    kwh = power.kwh.tolist()
    measured = power.measured.tolist()
    interpolated = power.interpolated.tolist()
    for position, ident in enumerate(power.ids):
        item = inventory.equipment[ident]
        key = (item.site, power.day)
        if key not in factors:
            factors[key] = site_day(book, item.site, power.day)
        site = factors[key]
        missing = MINUTES - measured[position] - interpolated[position]
        notes = list(site.notes)
        if missing:
            done = (
                "counted at the mean power of the minutes sampled (extrapolated)"
                if power.extrapolated
                else "left out (energy as measured and interpolated, not extrapolated)"
            )
            notes.append(
                f"incomplete day: {missing} of {MINUTES} minutes ({missing / MINUTES:.1%}) have no sample, {done}"
            )
        base_tags = {
            "equipment": ident,
            "sub_category": item.sub_category,
            "minutes_measured": str(measured[position]),
            "minutes_interpolated": str(interpolated[position]),
            "missing_share": f"{missing / MINUTES:.6g}",
            "complete": "no" if missing else "yes",
            "power_source": power.source,
        }
        for share in inventory.shares_of(ident):
            energy = kwh[position] * share.fraction
            yield footprint_record(
                run_id=record_id(ident, share.instance, power.day),
                project=share.service,
                experiment=share.instance,
                team=share.team or team,
                organisation=organisation,
                name=ident,
                started_at=start,
                ended_at=end,
                duration_s=86400.0,
                energy_kwh=energy,
                pue=site.pue,
                facility_energy_kwh=energy * site.facility_per_kwh,
                emissions_kg=energy * site.location_kg_per_kwh,
                emissions_market_kg=energy * site.market_kg_per_kwh,
                cpu_power_w=energy * 1000.0 / 24.0,
                cpu_method=METHOD,
                attribution=f"allocation: {share.basis} ({share.fraction:.4%})",
                host=ident,
                cpu_model=item.sub_category,
                interval_s=60.0,
                tags={**base_tags, "allocation": share.basis, "share": f"{share.fraction:.6g}"},
                notes=notes,
                kind=KIND,
                site=item.site,
                category=item.category,
                **site.columns,
            )
