"""Turning joules into kWh and kg CO2e: the one place where carbon is worked out, for runs, estimates, salvaged
records and live metrics alike.

Pure functions, no I/O of their own: the intensity provider (embedded, or the HTTP-backed live one) is passed in
by the caller, never imported here. IT energy is the sum of the components. Each UTC hour bucket of a run is
multiplied by the PUE of that hour (a constant, or the site's schedule for that day or month) and by the grid
intensity of that hour, and the buckets are summed: a run that spans a change of intensity or of PUE gets the
sum of both hours, not an average. Beside this location-based figure, a supplier mix gives the market-based one
(GHG Protocol Scope 2) from the same facility energy. Embodied emissions (SCI's M) are amortised over the
device's lifetime and kept apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from tracker.grid.intensity import Intensity

if TYPE_CHECKING:  # imported where used: most runs have no supplier mix
    from tracker.carbon.market import Supplier
    from tracker.carbon.pue import Pue
    from tracker.config import Config
    from tracker.grid.intensity import IntensityProvider
    from tracker.grid.location import Location

J_PER_KWH = 3.6e6
SECONDS_PER_YEAR = 365.25 * 86400  # Julian year: lifetimes are given in years


class HourUse(NamedTuple):
    """One UTC hour of a run: what was used and what it was multiplied by."""

    hour: datetime
    it_kwh: float
    pue: float
    intensity: Intensity
    pue_scheduled: bool = False

    @property
    def facility_kwh(self) -> float:
        return self.it_kwh * self.pue

    @property
    def emissions_kg(self) -> float:
        return self.facility_kwh * self.intensity.g_per_kwh / 1000.0


class Carbon(NamedTuple):
    """The carbon side of a run, with what was multiplied by what."""

    it_kwh: float
    facility_kwh: float
    emissions_kg: float  # location-based
    emissions_market_kg: float
    market_source: str
    intensity: Intensity  # the intensity of the run's first hour (provenance); g_per_kwh below is the mean
    g_per_kwh: float  # facility-energy-weighted mean intensity over the run
    pue: float  # effective: facility / IT energy (the constant when there is no energy)
    hours: tuple[HourUse, ...]

    @property
    def factor_type(self) -> str:
        """``lifecycle`` or ``direct``; ``mixed (...)`` if the hours disagree (never averaged silently)."""
        kinds = dict.fromkeys(h.intensity.factor_type for h in self.hours)
        return next(iter(kinds)) if len(kinds) == 1 else "mixed (" + ", ".join(kinds) + ")"

    @property
    def intensity_sources(self) -> str:
        """Every distinct source of the hours' intensities, in order of first use."""
        return "; ".join(dict.fromkeys(h.intensity.source for h in self.hours))

    @property
    def kg_per_it_kwh(self) -> float:
        """kg CO2e per kWh of IT energy over the whole run (effective PUE x mean intensity): what a span's energy
        is multiplied by (a span's hours are not accounted one by one)."""
        return self.pue * self.g_per_kwh / 1000.0


def kwh(joules: float) -> float:
    return joules / J_PER_KWH


def account(
    hourly_kwh: Sequence[tuple[datetime, float]],
    intensities: Sequence[Intensity],
    pue: Pue,
    suppliers: Sequence[Supplier] = (),
) -> Carbon:
    """Sum ``kWh x PUE(hour) x intensity(hour)`` over the hour buckets of IT energy; market-based beside it.

    ``intensities`` holds one value per bucket, in the same order (the provider answers for all hours at once).
    """
    if not hourly_kwh:
        raise ValueError("no hour buckets")
    if len(intensities) != len(hourly_kwh):
        raise ValueError(f"{len(hourly_kwh)} hour buckets but {len(intensities)} intensities")
    hours = []
    for (hour, energy), value in zip(hourly_kwh, intensities, strict=True):
        factor, scheduled = pue.at(hour)
        hours.append(HourUse(hour, energy, factor, value, scheduled))
    it = sum(h.it_kwh for h in hours)
    facility = sum(h.facility_kwh for h in hours)
    grams = sum(h.facility_kwh * h.intensity.g_per_kwh for h in hours)
    mean = grams / facility if facility > 0 else hours[0].intensity.g_per_kwh
    effective_pue = facility / it if it > 0 else hours[0].pue
    location_kg = grams / 1000.0
    if suppliers:
        from tracker.carbon.market import mix_factor

        market_kg = facility * mix_factor(suppliers)
    else:
        market_kg = location_kg
    return Carbon(
        it_kwh=it,
        facility_kwh=facility,
        emissions_kg=location_kg,
        emissions_market_kg=market_kg,
        market_source=market_source(suppliers),
        intensity=hours[0].intensity,
        g_per_kwh=mean,
        pue=effective_pue,
        hours=tuple(hours),
    )


def market_source(suppliers: Sequence[Supplier]) -> str:
    """Where the market-based figure comes from: the supplier mix, or the location-based figure without one."""
    if not suppliers:
        return "location-based (no supplier mix configured)"
    from tracker.carbon.market import describe

    return describe(suppliers)


def embodied_share_kg(embodied_kg: float, duration_s: float, lifetime_years: float, share: float = 1.0) -> float:
    """SCI's M: total embodied emissions x (time reserved / expected lifetime) x (share of the device reserved).

    A 1,000 kg server over 4 years, reserved whole for one hour: 1000 x 3600 / (4 x 365.25 x 86400) = 28.5 g.
    """
    if embodied_kg <= 0 or duration_s <= 0:
        return 0.0
    return embodied_kg * (duration_s / (lifetime_years * SECONDS_PER_YEAR)) * share


def carbon_of(
    hours: Sequence[tuple[datetime, float]],
    place: Location,
    config: Config,
    provider: IntensityProvider,
    pue: Pue,
    notes: list[str],
) -> Carbon:
    """Location- and market-based carbon of hour buckets of IT energy used at ``place``; explains every fallback
    in ``notes`` (where the location came from, an intensity that fell back, PUE schedule gaps).

    ``provider`` answers all the hours at once (one API call where the data is live); ``pue`` is the
    configuration's PUE model (constant, or the site's schedule).
    """
    values = provider.intensities(place, [hour for hour, _ in hours])
    carbon = account(hours, values, pue, config.suppliers)
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


def carbon_columns(
    carbon: Carbon | None, place: Location, config: Config, pue: Pue, duration_s: float
) -> dict[str, Any]:
    """The carbon and provenance fields of a record or an estimate (same names, same meaning).

    ``carbon`` is ``None`` when the accounting failed: the figures are zero and the intensity unknown, but the
    location, PUE and embodied provenance are the same as they would have been.
    """
    embodied = 0.0
    if config.embodied_kg:
        lifetime, share = config.embodied_lifetime_years, config.embodied_share
        embodied = embodied_share_kg(config.embodied_kg, duration_s, lifetime, share)
    columns: dict[str, Any] = {
        "pue": config.pue,
        "pue_source": pue.describe(),
        "intensity_g_per_kwh": 0.0,
        "intensity_source": "",
        "intensity_year": None,
        "intensity_factor_type": "lifecycle",
        "emissions_kg": 0.0,
        "emissions_market_kg": 0.0,
        "market_source": market_source(config.suppliers),
        "embodied_kg": embodied,
        "zone": place.zone,
        "country": place.country,
        "location_source": place.source,
        "cloud_provider": place.cloud_provider,
        "cloud_region": place.cloud_region,
    }
    if carbon is not None:
        columns.update(
            pue=carbon.pue,
            intensity_g_per_kwh=carbon.g_per_kwh,
            intensity_source=carbon.intensity_sources,
            intensity_year=carbon.intensity.year,
            intensity_factor_type=carbon.factor_type,
            emissions_kg=carbon.emissions_kg,
            emissions_market_kg=carbon.emissions_market_kg,
            market_source=carbon.market_source,
        )
    return columns
