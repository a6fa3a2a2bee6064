"""AWS Customer Carbon Footprint Tool: the carbon emissions Data Export (CSV), one row per account, product,
region and month.

Columns as documented by AWS ("Carbon emissions columns", Amazon Data Exports user guide, 2025):
``last_refresh_timestamp``, ``location``, ``model_version``, ``payer_account_id``, ``product_code``, ``region_code``,
``total_lbm_emissions_unit``, ``total_lbm_emissions_value``, ``total_mbm_emissions_unit``,
``total_mbm_emissions_value``, ``usage_account_id``, ``usage_period_end``, ``usage_period_start``. Values are metric
tons CO2e (``MTCO2e``, the only unit AWS uses so far; another unit is refused); they include Scope 1 and 2 (AWS
says Scope 3 will follow). AWS gives no energy.
"""

from __future__ import annotations

from pathlib import Path

from tracker.footprint.cloud.common import CloudFormatError, CloudLine, moment, number, read_csv

REQUIRED = (
    "usage_account_id",
    "product_code",
    "region_code",
    "usage_period_start",
    "usage_period_end",
    "total_lbm_emissions_value",
    "total_mbm_emissions_value",
)
_UNITS = {"": 1000.0, "mtco2e": 1000.0}  # kg per unit


def read_aws(path: str | Path) -> tuple[list[CloudLine], int]:
    rows, file = read_csv(path, REQUIRED)
    lines = []
    for row in rows:
        where = f"{file.name} line {row['_line']}"
        factors = []
        for kind in ("lbm", "mbm"):
            unit = row.get(f"total_{kind}_emissions_unit", "").lower()
            if unit not in _UNITS:
                raise CloudFormatError(f"{where}: total_{kind}_emissions_unit={unit!r}: expected MTCO2e")
            factors.append(_UNITS[unit])
        lines.append(
            CloudLine(
                provider="aws",
                account=row["usage_account_id"],
                service=row["product_code"] or "(global)",
                region=row["region_code"] or None,
                start=moment(row["usage_period_start"], where),
                end=moment(row["usage_period_end"], where),
                location_kg=number(row, "total_lbm_emissions_value", where) * factors[0],
                market_kg=number(row, "total_mbm_emissions_value", where) * factors[1],
                keys=tuple(v for v in (row["usage_account_id"], row.get("payer_account_id", "")) if v),
                method=f"AWS Customer Carbon Footprint Tool {row.get('model_version') or ''}".strip(),
                market_source="AWS CCFT market-based method (MBM)",
                where=where,
                tags={"location": row.get("location", "")} if row.get("location") else {},
            )
        )
    return lines, len(rows)
