"""Build ``zones.csv`` and ``cloud_regions.csv``: grid zones and cloud regions, each value with its provenance.

Called by ``build_tables.py`` (which also writes ``PROVENANCE.md`` and ``LICENSES.md`` with the sections returned
here). Kept in its own module so that the country/CPU build stays as it was.

* ``zones.csv`` -- Electricity Maps zones (yearly lifecycle, consumption-based averages republished by the
  Green Web Foundation's co2.js under ODbL 1.0) and US states from EPA eGRID (direct, combustion-only
  factors, flagged ``direct``; keyed ``US-STATE-XX`` because Electricity Maps already uses ``US-AK`` and
  ``US-HI`` for zones of its own).
* ``cloud_regions.csv`` -- AWS, GCP and Azure regions mapped to a zone and a country. Region -> place
  facts come from permissively licensed files (mlco2/impact, MIT; Green Algorithms, CC BY 4.0; Google's
  region-carbon-info, Apache-2.0; a few AWS regions from AWS's public region list); place -> zone is our own
  fact table ``PLACES`` below (grid operator serving that place). GCP rows also carry Google's own yearly
  grid intensity for the region.

Standard library only; deterministic output.
"""

from __future__ import annotations

import csv
import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path

EM_DIR = Path("electricitymaps-yearly")
EM_YEAR = 2025
EGRID_STATES = Path("codecarbon/private_infra/2023/usa_emissions.json")
GOOGLE_YEAR = 2024
GOOGLE_FILE = Path(f"google-region-carbon-info/yearly/{GOOGLE_YEAR}.csv")
CODECARBON_CLOUD = Path("codecarbon/cloud/impact.csv")
MLCO2_IMPACT = Path("mlco2-impact/impact.csv")
GA_DATACENTRES = Path("green-algorithms/cloudProviders_datacenters.csv")

LB_PER_MWH_TO_G_PER_KWH = 0.453592  # 1 lb = 453.592 g (exact, international avoirdupois pound); MWh -> kWh /1000

EM_SOURCE = f"Electricity Maps yearly {EM_YEAR} average (via Green Web Foundation co2.js); ODbL 1.0"
EGRID_SOURCE = "US EPA eGRID2023, STC2ERTA state CO2e total output emission rate (via CodeCarbon 3.3.2); public domain"
GOOGLE_SOURCE = f"Google Cloud region-carbon-info {GOOGLE_YEAR} grid carbon intensity; Apache-2.0"
MLCO2_SOURCE = "region location: mlco2/impact data/impact.csv (MIT); zone: tracker PLACES table"
GA_SOURCE = "region location: Green Algorithms cloudProviders_datacenters.csv (CC BY 4.0); zone: tracker PLACES table"
AWS_DOCS_SOURCE = (
    "region location: AWS Regions list, https://docs.aws.amazon.com/global-infrastructure/latest/regions/"
    "aws-regions.html (2025); zone: tracker PLACES table"
)
GOOGLE_MAP_SOURCE = "region location: Google region-carbon-info (Apache-2.0); zone: tracker PLACES table"

ZONE_HEADER = ("zone", "kind", "name", "country", "g_per_kwh", "year", "source", "factor_type")
CLOUD_HEADER = ("provider", "region", "location", "country", "zone", "g_per_kwh", "year", "source")

# Countries that Electricity Maps splits into several zones whose intensities differ a lot: a cloud region
# there must be placed by a PLACES entry (the build fails otherwise) rather than fall back to the country key.
SPLIT_COUNTRIES = frozenset({"US", "JP", "AU", "CA", "IN", "SE", "NO", "DK", "IT", "BR", "CL"})

# Place (city, state or region name as the source files spell it, lower case, accents removed) -> (country
# alpha-2, Electricity Maps zone). Facts: which grid operator / bidding zone serves the place. Checked
# against the public operator maps (PJM, MISO, ERCOT, BPA, CAISO, Japan's ten utilities, the Nordic and
# Italian bidding zones, India's five regional grids). Cross-checked, not copied, against the GSF
# real-time-cloud em-zone-id column; where they differ we keep ours (see PROVENANCE.md).
PLACES: dict[str, tuple[str, str]] = {
    # United States: balancing authorities
    "ashburn": ("US", "US-MIDA-PJM"),
    "northern virginia": ("US", "US-MIDA-PJM"),
    "north virginia": ("US", "US-MIDA-PJM"),
    "virginia": ("US", "US-MIDA-PJM"),
    "blue ridge": ("US", "US-MIDA-PJM"),
    "boydton": ("US", "US-MIDA-PJM"),
    "columbus": ("US", "US-MIDA-PJM"),  # Ohio (AEP Ohio, PJM)
    "ohio": ("US", "US-MIDA-PJM"),
    "dublin": ("US", "US-MIDA-PJM"),  # only for us-gov-east-1 (Dublin, Ohio): see ROW_PLACES
    "chicago": ("US", "US-MIDA-PJM"),  # ComEd is in PJM
    "illinois": ("US", "US-MIDA-PJM"),
    "san francisco": ("US", "US-CAL-CISO"),
    "california": ("US", "US-CAL-CISO"),
    "los angeles": ("US", "US-CAL-CISO"),
    "portland": ("US", "US-NW-BPAT"),
    "oregon": ("US", "US-NW-BPAT"),
    "the dalles": ("US", "US-NW-BPAT"),
    "seattle": ("US", "US-NW-BPAT"),  # us-gov-west-1: AWS GovCloud (US-West), Pacific Northwest
    "quincy": ("US", "US-NW-GCPD"),  # Quincy, WA is served by Grant County PUD
    "washington": ("US", "US-NW-GCPD"),  # Azure West US 2 (Quincy)
    "iowa": ("US", "US-MIDW-MISO"),
    "des moines": ("US", "US-MIDW-MISO"),
    "council bluffs": ("US", "US-MIDW-MISO"),
    "texas": ("US", "US-TEX-ERCO"),
    "san antonio": ("US", "US-TEX-ERCO"),
    "dallas": ("US", "US-TEX-ERCO"),
    "wyoming": ("US", "US-NW-WACM"),  # Cheyenne, WAPA Rocky Mountain balancing area
    "mountain view": ("US", "US-NW-WACM"),  # mlco2 spells Azure West Central US's city so (it is in Wyoming)
    "south carolina": ("US", "US-CAR-SC"),
    "moncks corner": ("US", "US-CAR-SC"),
    "salt lake city": ("US", "US-NW-PACE"),
    "utah": ("US", "US-NW-PACE"),
    "las vegas": ("US", "US-NW-NEVP"),
    "nevada": ("US", "US-NW-NEVP"),
    "oklahoma": ("US", "US-CENT-SWPP"),
    "georgia": ("US", "US-SE-SOCO"),
    "arizona": ("US", "US-SW-AZPS"),
    # Japan, Australia, Canada, India, Nordics, Italy, Brazil, Chile
    "tokyo": ("JP", "JP-TK"),
    "osaka": ("JP", "JP-KN"),
    "osaka-shi": ("JP", "JP-KN"),
    "sydney": ("AU", "AU-NSW"),
    "new south wales": ("AU", "AU-NSW"),
    "canberra": ("AU", "AU-NSW"),  # the ACT is part of the NEM's NSW region
    "forrest": ("AU", "AU-NSW"),
    "melbourne": ("AU", "AU-VIC"),
    "victoria": ("AU", "AU-VIC"),
    "montreal": ("CA", "CA-QC"),
    "quebec": ("CA", "CA-QC"),
    "quebec city": ("CA", "CA-QC"),
    "toronto": ("CA", "CA-ON"),
    "calgary": ("CA", "CA-AB"),
    "mumbai": ("IN", "IN-WE"),
    "pune": ("IN", "IN-WE"),
    "lohogaon": ("IN", "IN-WE"),
    "hyderabad": ("IN", "IN-SO"),
    "chennai": ("IN", "IN-SO"),
    "pallavaram": ("IN", "IN-SO"),
    "delhi": ("IN", "IN-NO"),
    "stockholm": ("SE", "SE-SE3"),
    "gavle": ("SE", "SE-SE3"),
    "oslo": ("NO", "NO-NO1"),
    "stavanger": ("NO", "NO-NO2"),
    "copenhagen": ("DK", "DK-DK2"),
    "milan": ("IT", "IT-NO"),
    "turin": ("IT", "IT-NO"),
    "sao paulo": ("BR", "BR-CS"),
    "santiago": ("CL", "CL-SEN"),
    # single-zone countries named by a city (the country key is the zone)
    "hong kong": ("HK", "HK"),
    "wan chai": ("HK", "HK"),
    "taiwan": ("TW", "TW"),
    "changhua county": ("TW", "TW"),
    "seoul": ("KR", "KR"),
    "busan": ("KR", "KR"),
    "singapore": ("SG", "SG"),
    "jurong west": ("SG", "SG"),
    "jakarta": ("ID", "ID"),
    "warsaw": ("PL", "PL"),
    "finland": ("FI", "FI"),
    "hamina": ("FI", "FI"),
    "madrid": ("ES", "ES"),
    "belgium": ("BE", "BE"),
    "st. ghislain": ("BE", "BE"),
    "london": ("GB", "GB"),
    "frankfurt": ("DE", "DE"),
    "frankfurt am main": ("DE", "DE"),
    "berlin": ("DE", "DE"),
    "eemshaven": ("NL", "NL"),
    "netherlands": ("NL", "NL"),
    "amsterdam": ("NL", "NL"),
    "zurich": ("CH", "CH"),
    "geneva": ("CH", "CH"),
    "paris": ("FR", "FR"),
    "marseille": ("FR", "FR"),
    "doha": ("QA", "QA"),
    "dammam": ("SA", "SA"),
    "tel aviv": ("IL", "IL"),
    "israel": ("IL", "IL"),
    "johannesburg": ("ZA", "ZA"),
    "cape town": ("ZA", "ZA"),
    "pretoria": ("ZA", "ZA"),
    "stellenbosch": ("ZA", "ZA"),
    "mexico": ("MX", "MX"),
    "queretaro": ("MX", "MX"),
    "auckland": ("NZ", "NZ"),
    "dubai": ("AE", "AE"),
    "abu dhabi": ("AE", "AE"),
    "bahrain": ("BH", "BH"),
    "beijing": ("CN", "CN"),
    "shanghai": ("CN", "CN"),
    "zhongwei": ("CN", "CN"),
    "dublin ie": ("IE", "IE"),
    "ireland": ("IE", "IE"),
    "midhurst": ("GB", "GB"),
    "wallasey": ("GB", "GB"),
    "cardiff": ("GB", "GB"),
    "england": ("GB", "GB"),
    "huriel": ("FR", "FR"),
    "realmont": ("FR", "FR"),
    "vienna": ("AT", "AT"),
}

# Rows whose city alone is ambiguous (two Dublins): (provider, region) -> place key in PLACES.
ROW_PLACES = {("aws", "eu-west-1"): "dublin ie", ("azure", "northeurope"): "dublin ie"}

# AWS regions missing from mlco2/impact: region -> (location as AWS names it, place key in PLACES).
# Facts from the AWS Regions list (docs.aws.amazon.com/global-infrastructure, 2025).
AWS_EXTRA: dict[str, tuple[str, str]] = {
    "af-south-1": ("Africa (Cape Town)", "cape town"),
    "ap-south-2": ("Asia Pacific (Hyderabad)", "hyderabad"),
    "ap-southeast-3": ("Asia Pacific (Jakarta)", "jakarta"),
    "ap-southeast-4": ("Asia Pacific (Melbourne)", "melbourne"),
    "ca-west-1": ("Canada West (Calgary)", "calgary"),
    "eu-central-2": ("Europe (Zurich)", "zurich"),
    "eu-south-1": ("Europe (Milan)", "milan"),
    "eu-south-2": ("Europe (Spain)", "madrid"),
    "il-central-1": ("Israel (Tel Aviv)", "tel aviv"),
    "me-central-1": ("Middle East (UAE)", "dubai"),
    "me-south-1": ("Middle East (Bahrain)", "bahrain"),
}


@dataclass(frozen=True)
class ZoneRow:
    """One row of ``zones.csv``."""

    zone: str
    kind: str  # "zone" (Electricity Maps) | "us-state" (eGRID)
    name: str
    country: str
    g_per_kwh: float
    year: int
    source: str
    factor_type: str


@dataclass(frozen=True)
class CloudRow:
    """One row of ``cloud_regions.csv``."""

    provider: str
    region: str
    location: str
    country: str
    zone: str
    g_per_kwh: float | None
    year: int | None
    source: str


def fold(text: str) -> str:
    """Lower case, accents removed, whitespace collapsed: the key form of ``PLACES``."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).replace("ā", "a")
    return " ".join(plain.lower().replace("\n", " ").split())


def build_zone_rows(shared: Path) -> list[ZoneRow]:
    """Electricity Maps zones of ``EM_YEAR`` plus eGRID states, sorted by zone key."""
    em = json.loads((shared / EM_DIR / f"yearly_{EM_YEAR}.json").read_text(encoding="utf-8"))
    rows: list[ZoneRow] = []
    for key in sorted(em):
        entry = em[key]
        unit = entry["carbonIntensity"]["unit"]
        if unit != "gCO2eq/kWh":
            raise SystemExit(f"{key}: unexpected unit {unit!r}")
        info = entry["zone"]
        name = info.get("displayName") or info["zoneName"]
        if info.get("countryName"):
            name = f"{name} ({info['countryName']})"
        value = float(entry["carbonIntensity"]["value"])
        rows.append(ZoneRow(key, "zone", name, key.split("-")[0], value, EM_YEAR, EM_SOURCE, "lifecycle"))

    egrid = json.loads((shared / EGRID_STATES).read_text(encoding="utf-8"))
    if egrid["_unit"]["emissions"] != "lbs/MWh" or egrid["_source"]["year"] != 2023:
        raise SystemExit(f"{EGRID_STATES}: unit or year changed: {egrid['_unit']} {egrid['_source']}")
    for state, entry in sorted(egrid.items()):
        if state.startswith("_") or state == "usa":
            continue
        value = round(float(entry["emissions"]) * LB_PER_MWH_TO_G_PER_KWH, 2)
        code = entry["regionCode"].upper()
        label = f"{state.title()} (eGRID state, combustion only)"
        rows.append(ZoneRow(f"US-STATE-{code}", "us-state", label, "US", value, 2023, EGRID_SOURCE, "direct"))
    return sorted(rows, key=lambda r: r.zone)


def _place(provider: str, region: str, *candidates: str) -> tuple[str, str] | None:
    if (provider, region) in ROW_PLACES:
        return PLACES[ROW_PLACES[(provider, region)]]
    for text in candidates:
        hit = PLACES.get(fold(text)) if text else None
        if hit:
            return hit
    return None


def _read_two_header_csv(path: Path) -> list[dict[str, str]]:
    """Green Algorithms files have a description line before the header."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    return list(csv.DictReader(lines[1:]))


def azure_api_name(display: str) -> str:
    """``"Germany West Central (Public)"`` -> ``"germanywestcentral"`` (Azure's API names drop spaces)."""
    return "".join(display.split("(")[0].split()).lower()


def build_cloud_rows(shared: Path, zones: set[str]) -> list[CloudRow]:
    """AWS, GCP and Azure regions with their zone; fails when a region cannot be placed."""
    rows: dict[tuple[str, str], CloudRow] = {}

    def add(provider: str, region: str, location: str, place: tuple[str, str] | None, **kw: object) -> None:
        if place is None:
            raise SystemExit(f"{provider} {region} ({location}): no PLACES entry; add one")
        country, zone = place
        if zone not in zones:
            raise SystemExit(f"{provider} {region}: zone {zone} is not in the Electricity Maps table")
        rows.setdefault(
            (provider, region),
            CloudRow(
                provider,
                region,
                location,
                country,
                zone,
                kw.get("g_per_kwh"),  # type: ignore[arg-type]
                kw.get("year"),  # type: ignore[arg-type]
                str(kw["source"]),
            ),
        )

    with (shared / GOOGLE_FILE).open(encoding="utf-8", newline="") as handle:
        google = list(csv.DictReader(handle))
    value_column = next(c for c in google[0] if c.lower().startswith(("grid carbon", "lifecycle grid")))
    for record in google:
        region = record["Google Cloud Region"].strip()
        location = record["Location"].strip()
        add(
            "gcp",
            region,
            location,
            _place("gcp", region, location),
            g_per_kwh=round(float(record[value_column]), 2),
            year=GOOGLE_YEAR,
            source=GOOGLE_SOURCE + "; " + GOOGLE_MAP_SOURCE,
        )

    with (shared / MLCO2_IMPACT).open(encoding="utf-8", newline="") as handle:
        for record in csv.DictReader(handle):
            provider = record["provider"].strip()
            if provider not in ("aws", "azure"):
                continue
            region = record["region"].strip()
            location = record["regionName"].strip() or record["city"].strip()
            place = _place(provider, region, record["city"], record["state"])
            add(provider, region, location, place, source=MLCO2_SOURCE)

    for region, (location, key) in AWS_EXTRA.items():
        add("aws", region, location, PLACES[key], source=AWS_DOCS_SOURCE)

    for record in _read_two_header_csv(shared / GA_DATACENTRES):
        if record["provider"].strip() != "azure" or "sovereign" in record["Name"].lower():
            continue
        region = azure_api_name(record["Name"])
        place = _place("azure", region, record["Extra_details"], record["location_freeForm"])
        code = record["location"].strip()
        if place is None and code and "-" not in code and code not in SPLIT_COUNTRIES:
            place = (code, code)
        add("azure", region, record["Name"].strip(), place, source=GA_SOURCE)

    for row in rows.values():
        if row.country in SPLIT_COUNTRIES and row.zone == row.country:
            raise SystemExit(f"{row.provider} {row.region}: placed on the whole of {row.country}; add a PLACES entry")
    return sorted(rows.values(), key=lambda r: (r.provider, r.region))


def _number(value: float | None) -> str:
    if value is None:
        return ""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def zone_csv_rows(rows: list[ZoneRow]) -> list[list[str]]:
    """Text cells of ``zones.csv``."""
    return [
        [r.zone, r.kind, r.name, r.country, _number(r.g_per_kwh), str(r.year), r.source, r.factor_type] for r in rows
    ]


def cloud_csv_rows(rows: list[CloudRow]) -> list[list[str]]:
    """Text cells of ``cloud_regions.csv``."""
    return [
        [r.provider, r.region, r.location, r.country, r.zone, _number(r.g_per_kwh), str(r.year or ""), r.source]
        for r in rows
    ]


def provenance_section(shared: Path, zone_rows: list[ZoneRow], cloud_rows: list[CloudRow], sha) -> str:
    """The ``PROVENANCE.md`` sections for the two tables (``sha`` = build.sha256_prefix)."""
    em = sum(1 for r in zone_rows if r.kind == "zone")
    em_sub = sum(1 for r in zone_rows if r.kind == "zone" and "-" in r.zone)
    states = sum(1 for r in zone_rows if r.kind == "us-state")
    per_provider = {p: sum(1 for r in cloud_rows if r.provider == p) for p in ("aws", "azure", "gcp")}
    em_file = shared / EM_DIR / f"yearly_{EM_YEAR}.json"
    return f"""
## `zones.csv` -- grid zones (Electricity Maps zones and US states)

Columns: `zone` (key: an Electricity Maps zone key such as `NL`, `DK-DK1`, `US-CAL-CISO`, or `US-STATE-XX`
for an eGRID US state), `kind` (`zone` or `us-state`), `name`, `country` (ISO alpha-2; the zone key's prefix;
`XK` = Kosovo), `g_per_kwh` (gCO2e/kWh), `year`, `source`, `factor_type` (`lifecycle` or `direct`).

Origins:

- `{EM_DIR.as_posix()}/yearly_{EM_YEAR}.json`: GitHub **thegreenwebfoundation/co2.js**,
  `data/output/electricity-maps/yearly_{EM_YEAR}.json` (snapshot 27cbe8328aeaad0824fb07b3640dc45b72228c7b),
  produced by co2.js from the Electricity Maps API (`/v3/carbon-intensity/past`, yearly granularity).
  Values: Electricity Maps' yearly average, **lifecycle, consumption-based** (flow-traced, imports
  included), integers in gCO2eq/kWh. Licence of the data **ODbL 1.0** (attribution to Electricity Maps;
  share-alike applies to `zones.csv` as a derived database, which is therefore itself under ODbL 1.0).
  Input sha256 {sha(em_file)}. The {EM_YEAR} file was pulled early 2026; Electricity Maps may still revise it.
- `{EGRID_STATES.as_posix()}`: PyPI **codecarbon 3.3.2** (MIT), EPA **eGRID2023** field `STC2ERTA` (state
  annual CO2e total output emission rate, lb/MWh; US government data, public domain). Converted with
  1 lb/MWh = 0.453592 g/kWh, rounded to 2 decimals. These are **direct (combustion-only)**,
  generation-based factors: no upstream emissions, no imports. The rows are flagged `direct` and keyed
  `US-STATE-XX` (e.g. `US-STATE-CA`). The national `usa` row is not copied. Input sha256 {sha(shared / EGRID_STATES)}.

Counts: **{len(zone_rows)}** rows = {em} Electricity Maps zones ({em - em_sub} country-level keys,
{em_sub} sub-national zones) + {states} US states (50 + DC).

## `cloud_regions.csv` -- cloud regions mapped to a zone

Columns: `provider` (`aws`, `azure`, `gcp`), `region` (API name: `eu-west-1`, `westeurope`,
`europe-west4`), `location` (as the source names it), `country` (ISO alpha-2), `zone` (a key of
`zones.csv`), `g_per_kwh` and `year` (the provider's own figure: Google only; empty for AWS and Azure),
`source`.

Origins (region -> place): Google's `{GOOGLE_FILE.as_posix()}` (GitHub GoogleCloudPlatform/region-carbon-info,
commit 49f3f26bfd682305e8d9b572fea1f811900421a9, **Apache-2.0**; `g_per_kwh` is Google's location-based
grid carbon intensity for the region in {GOOGLE_YEAR}; input sha256 {sha(shared / GOOGLE_FILE)});
`{MLCO2_IMPACT.as_posix()}` (GitHub mlco2/impact, **MIT**; AWS and Azure API names with city/state; its
2019-era `impact` values are **not** used; input sha256 {sha(shared / MLCO2_IMPACT)});
`{GA_DATACENTRES.as_posix()}` (Green Algorithms, **CC BY 4.0**; Azure display names turned into API names
by dropping spaces and any parenthesis, sovereign/retired Germany regions skipped; input sha256
{sha(shared / GA_DATACENTRES)}); {len(AWS_EXTRA)} AWS regions absent from mlco2/impact, from the AWS
Regions list (facts: region code and city).

Place -> zone: the `PLACES` table in `scripts/build_zones.py`, our own facts (the grid operator or
bidding zone serving the place). The Green Software Foundation's real-time-cloud metadata (licence unclear,
not copied) was used only as a cross-check; it differs from ours on: AWS eu-north-1 (GSF `ES`, ours
`SE-SE3`, Stockholm), GCP europe-north1 (GSF `AU-VIC`, ours `FI`), Azure westus (GSF `US-NW-BPAT`, ours
`US-CAL-CISO`, California), Azure northcentralus (GSF `US-MIDW-MISO`, ours `US-MIDA-PJM`: Chicago's ComEd
is in PJM), GCP me-central1 (GSF `AE`, ours `QA`: Doha). In countries Electricity Maps splits into zones
({", ".join(sorted(SPLIT_COUNTRIES))}) every region must be placed on a sub-national zone, or the build fails.

Counts: **{len(cloud_rows)}** regions: AWS {per_provider["aws"]}, Azure {per_provider["azure"]},
GCP {per_provider["gcp"]}.
"""


LICENSES_SECTION = """
## Electricity Maps (via co2.js) -- ODbL 1.0

`zones.csv` (rows of kind `zone`) contains data from **Electricity Maps** (https://www.electricitymaps.com),
yearly carbon-intensity averages as republished by the Green Web Foundation's co2.js
(https://github.com/thegreenwebfoundation/co2.js, `data/output/electricity-maps/`), made available under the
Open Database License (ODbL) 1.0, https://opendatacommons.org/licenses/odbl/1-0/. `zones.csv` is a derived
database and is made available under the same licence, ODbL 1.0. Changes made: one year selected, zone
names joined with their country, eGRID US-state rows added.

## US EPA eGRID -- public domain

US-state rows of `zones.csv` come from EPA eGRID2023 (https://www.epa.gov/egrid), a US government work,
as shipped in CodeCarbon 3.3.2 (MIT, notice above), converted from lb/MWh to g/kWh.

## Google Cloud region-carbon-info -- Apache-2.0

GCP rows of `cloud_regions.csv` contain data from https://github.com/GoogleCloudPlatform/region-carbon-info
(`data/yearly/2024.csv`), Copyright Google LLC, licensed under the Apache License, Version 2.0,
https://www.apache.org/licenses/LICENSE-2.0. Changes made: region and grid-intensity columns kept, zone and
country added.

## mlco2/impact -- MIT

AWS and Azure region locations in `cloud_regions.csv` come from https://github.com/mlco2/impact
(`data/impact.csv`, snapshot d0d3ee5a71ea222ac344a94900642ed2ce649af4), MIT License (permission notice as in
the CodeCarbon section above; the repository's copyright line could not be read offline and must be added
here when it can: on 2026-11-23 a stored copy of the repository held no LICENSE file, and its `package.json`
(commit 184995bd) declares `"license": "MIT"` without a holder). Only region names and locations are used, not
the file's intensity values.

## Green Algorithms (cloud data centres) -- CC BY 4.0

Azure region locations in `cloud_regions.csv` also come from Green Algorithms'
`cloudProviders_datacenters.csv` (same project and licence as the constants above). Changes made: display
names converted to API names.
"""
