"""Everyday equivalents of an amount of energy and of emissions: car kilometres, hours of TV, days of a
household's electricity, smartphone charges.

The constants are physical quantities (grams per kilometre, watts, kWh per day, kWh per charge), each with its
source and year (also in ``docs/methodology.md``). Energy-based equivalents (TV, household, smartphone) divide
the energy drawn from the grid (facility energy, after PUE); they do not depend on the grid's intensity, which
would otherwise make a run on a clean grid look like "more TV". Only the car is emissions-based.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Constant:
    """One reference quantity and where it comes from."""

    name: str
    value: float
    unit: str
    source: str
    year: int


# An average passenger car in Europe, per km driven: 175 gCO2/km (UK DEFRA 2019 average car factor, as
# carried by Green Algorithms' referenceValues.csv, data/latest as of 2025-01-07, CC BY 4.0).
CAR_G_PER_KM = Constant(
    "car", 175.0, "g CO2e/km", "Green Algorithms referenceValues.csv (passengerCar_EU_perkm, from UK DEFRA 2019)", 2019
)
# A television in use: 138 Wh/day for 6.5 h/day of viewing = 21.2 W (ADEME, as cited by CodeCarbon 3.x's
# docs/explanation/methodology.md, 2025; the year of the ADEME study itself is not given there).
TV_W = Constant(
    "tv", 138.0 / 6.5, "W", "ADEME 138 Wh/day at 6.5 h/day, as cited in CodeCarbon 3.x docs/methodology.md", 2025
)
# An average US household's electricity: 10,715 kWh in 2020 = 29.36 kWh/day (US EIA FAQ id=97, updated 2021-10-07).
HOUSEHOLD_KWH_PER_DAY = Constant(
    "household", 10_715.0 / 365.0, "kWh/day", "US EIA, 10,715 kWh per US household in 2020 (FAQ 97)", 2020
)
# One full smartphone charge: 0.019 kWh (US EPA Greenhouse Gas Equivalencies Calculator, Calculations and
# References, 2024 revision).
SMARTPHONE_KWH_PER_CHARGE = Constant(
    "smartphone", 0.019, "kWh/charge", "US EPA Greenhouse Gas Equivalencies Calculator (2024 revision)", 2024
)

CONSTANTS: tuple[Constant, ...] = (CAR_G_PER_KM, TV_W, HOUSEHOLD_KWH_PER_DAY, SMARTPHONE_KWH_PER_CHARGE)


@dataclass(frozen=True)
class Equivalents:
    """What an amount of energy (kWh drawn from the grid) and of emissions (kg CO2e) compare with."""

    car_km: float
    tv_hours: float
    household_days: float
    smartphone_charges: float

    @classmethod
    def of(cls, energy_kwh: float, emissions_kg: float) -> Equivalents:
        return cls(
            car_km=emissions_kg * 1000.0 / CAR_G_PER_KM.value,
            tv_hours=energy_kwh * 1000.0 / TV_W.value,
            household_days=energy_kwh / HOUSEHOLD_KWH_PER_DAY.value,
            smartphone_charges=energy_kwh / SMARTPHONE_KWH_PER_CHARGE.value,
        )

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


LABELS = {
    "car_km": "km driven by an average car",
    "tv_hours": "hours of TV",
    "household_days": "days of an average household's electricity",
    "smartphone_charges": "smartphone charges",
}
