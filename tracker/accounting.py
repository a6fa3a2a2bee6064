"""Turning joules into kWh and kg CO2e: pure functions, no I/O.

IT energy is the sum of the components; facility energy is IT energy x PUE, applied once; emissions are facility
energy x the grid intensity of the hour the energy was used, summed over hour buckets (so a run that spans a
change of intensity gets the sum of both hours, not an average).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from tracker.intensity import Intensity, IntensityProvider

J_PER_KWH = 3.6e6


@dataclass(frozen=True)
class Carbon:
    """The carbon side of a run: what was multiplied by what."""

    emissions_kg: float
    intensity: Intensity  # the intensity of the run's first hour (provenance); see g_per_kwh for the mean
    g_per_kwh: float  # energy-weighted mean intensity over the run


def kwh(joules: float) -> float:
    return joules / J_PER_KWH


def emissions(
    hourly_kwh: Iterable[tuple[datetime, float]],
    zone: str | None,
    pue: float,
    provider: IntensityProvider,
) -> Carbon:
    """Sum ``kWh x PUE x intensity(hour)`` over hour buckets of IT energy."""
    facility = grams = 0.0
    first: Intensity | None = None
    for hour, energy in hourly_kwh:
        value = provider.intensity(zone, hour)
        first = first or value
        facility += energy * pue
        grams += energy * pue * value.g_per_kwh
    if first is None:
        raise ValueError("no hour buckets")
    mean = grams / facility if facility > 0 else first.g_per_kwh
    return Carbon(grams / 1000.0, first, mean)
