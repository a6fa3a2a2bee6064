"""Grid carbon intensity: the provider interface and the first provider, the embedded country table.

A provider answers "what intensity applied to this location during this hour?" with an :class:`Intensity`
that says where the value came from. The embedded table is Ember's yearly, lifecycle, generation-based
intensity per country, processed by Our World in Data (CC BY 4.0; ``tracker/data/PROVENANCE.md``). Richer
providers (sub-national zones, live Electricity Maps data) plug in behind the same interface.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tracker import data
from tracker.errors import ConfigError

WORLD = "WORLD"


@dataclass(frozen=True)
class Intensity:
    """One grid intensity value with its provenance."""

    g_per_kwh: float
    source: str
    year: int | None
    zone: str  # ISO alpha-2 country, or "WORLD"
    factor_type: str = "lifecycle"  # or "direct" (combustion only)
    label: str = ""


class IntensityProvider(Protocol):
    """Anything that can say which intensity applied to a zone at a moment."""

    def intensity(self, zone: str | None, hour: datetime) -> Intensity: ...


@dataclass(frozen=True)
class CountryRow:
    alpha2: str
    alpha3: str
    name: str
    g_per_kwh: float
    year: int
    source: str
    factor_type: str


class CountryTable:
    """The embedded country intensities, indexed by alpha-2 and alpha-3 code."""

    def __init__(self, rows: list[CountryRow]) -> None:
        self.rows = {r.alpha2: r for r in rows}
        self._alpha3 = {r.alpha3: r.alpha2 for r in rows if r.alpha2 != WORLD}

    def canonical(self, code: str) -> str:
        """The alpha-2 code for an alpha-2 or alpha-3 code (any case); :class:`ConfigError` when unknown."""
        text = str(code).strip().upper()
        if len(text) == 2 and text in self.rows:
            return text
        if len(text) == 3 and text in self._alpha3:
            return self._alpha3[text]
        raise ConfigError(
            "country", code, "unknown country: expected an ISO 3166 alpha-2 or alpha-3 code listed by `tracker zones`"
        )

    def get(self, alpha2: str) -> CountryRow:
        return self.rows[alpha2]


@functools.cache
def country_table() -> CountryTable:
    rows = [
        CountryRow(
            r["alpha2"],
            r["alpha3"],
            r["name"],
            float(r["g_per_kwh"]),
            int(r["year"]),
            r["source"],
            r["factor_type"],
        )
        for r in csv.DictReader(data.read_text("country_intensity.csv").splitlines())
    ]
    return CountryTable(rows)


@functools.cache
def default_provider() -> IntensityProvider:
    """The provider used when none is configured: the embedded country table (one per process)."""
    return EmbeddedCountryIntensity()


class EmbeddedCountryIntensity:
    """Yearly country values from the embedded table; with no country, the labelled world average."""

    def __init__(self, table: CountryTable | None = None) -> None:
        self.table = table or country_table()

    def intensity(self, zone: str | None, hour: datetime) -> Intensity:
        row = self.table.get(zone or WORLD)
        label = "world average (no country configured)" if zone is None else row.name
        return Intensity(row.g_per_kwh, row.source, row.year, row.alpha2, row.factor_type, label)
