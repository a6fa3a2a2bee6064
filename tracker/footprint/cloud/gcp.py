"""Google Cloud Carbon Footprint export: the BigQuery table (exported as CSV, nested fields as dotted column names),
one row per billing account, project, service, location and month.

Columns as documented by Google ("Carbon Footprint export data schema", 2025): ``usage_month``,
``billing_account_id``, ``project.id``, ``project.number``, ``service.id``, ``service.description``,
``location.location``, ``location.region``, ``carbon_model_version``, ``carbon_footprint_kgCO2e.scope1``,
``carbon_footprint_kgCO2e.scope2.location_based``, ``carbon_footprint_kgCO2e.scope2.market_based``,
``carbon_footprint_kgCO2e.scope3``, ``carbon_footprint_total_kgCO2e.location_based`` and ``.market_based``. Values
are kg CO2e. Scope 1 + 2 become the record's location- and market-based figures, Scope 3 its embodied figure, so
that their sum is Google's total. Google gives no energy.
"""

from __future__ import annotations

from pathlib import Path

from tracker.footprint.cloud.common import CloudLine, moment, months_later, number, read_csv

PREFIX = "carbon_footprint_kgco2e."
REQUIRED = (
    "usage_month",
    "billing_account_id",
    "project.id",
    "service.description",
    "location.region",
    f"{PREFIX}scope1",
    f"{PREFIX}scope2.location_based",
    f"{PREFIX}scope2.market_based",
    f"{PREFIX}scope3",
)


def read_gcp(path: str | Path) -> tuple[list[CloudLine], int]:
    rows, file = read_csv(path, REQUIRED)
    lines = []
    for row in rows:
        where = f"{file.name} line {row['_line']}"
        start = moment(row["usage_month"], where)
        end = months_later(start, 1)
        scope1 = number(row, f"{PREFIX}scope1", where)
        project = row["project.id"] or row.get("project.number") or f"billing account {row['billing_account_id']}"
        lines.append(
            CloudLine(
                provider="gcp",
                account=project,
                service=row["service.description"] or row.get("service.id", "") or "(unknown)",
                region=row["location.region"] or row.get("location.location") or None,
                start=start,
                end=end,
                location_kg=scope1 + number(row, f"{PREFIX}scope2.location_based", where),
                market_kg=scope1 + number(row, f"{PREFIX}scope2.market_based", where),
                embodied_kg=number(row, f"{PREFIX}scope3", where),
                keys=tuple(
                    v for v in (row["project.id"], row.get("project.number", ""), row["billing_account_id"]) if v
                ),
                method=f"Google Cloud Carbon Footprint model {row.get('carbon_model_version') or ''}".strip(),
                market_source="Google Cloud Carbon Footprint scope 2 market-based",
                where=where,
            )
        )
    return lines, len(rows)
