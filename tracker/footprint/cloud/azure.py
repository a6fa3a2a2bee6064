"""Azure: the Emissions Impact Dashboard's data (Microsoft Cloud for Sustainability ``EnrollmentEmission``,
exported as CSV), one row per month, subscription, service, region and scope.

Columns as documented by Microsoft ("Cloud for Sustainability API OData query examples", EnrollmentEmission,
2024): ``dateKey`` (``yyyymmdd``, the day always 01), ``enrollmentId``, ``orgName``, ``subscriptionId``,
``subscriptionName``, ``azureServiceName``, ``subService``, ``azureRegionName``, ``scope`` (Scope 1, 2 or 3),
``scopeId``, ``totalEmissions`` (mtCO2e). The rows of one month, subscription, service and region are added up:
Scope 1 and 2 into the record's operational figure, Scope 3 into its embodied one. Microsoft gives one Scope 2
figure (it follows its own market-based accounting): it is used for both location- and market-based, and the
record's ``market_source`` says so. No energy is given.
"""

from __future__ import annotations

from pathlib import Path

from tracker.footprint.cloud.common import CloudFormatError, CloudLine, moment, months_later, number, read_csv

REQUIRED = ("datekey", "subscriptionid", "azureservicename", "azureregionname", "scope", "totalemissions")


def read_azure(path: str | Path) -> tuple[list[CloudLine], int]:
    rows, file = read_csv(path, REQUIRED)
    lines = []
    for row in rows:
        where = f"{file.name} line {row['_line']}"
        start = moment(row["datekey"], where)
        end = months_later(start, 1)
        scope = (row.get("scopeid") or row["scope"]).lower().replace("scope", "").strip()
        if scope not in ("1", "2", "3"):
            raise CloudFormatError(f"{where}: scope={row['scope']!r}: expected Scope 1, 2 or 3")
        kg = number(row, "totalemissions", where) * 1000.0  # mtCO2e
        operational = kg if scope in ("1", "2") else 0.0
        service = row["azureservicename"] + (f" / {row['subservice']}" if row.get("subservice") else "")
        lines.append(
            CloudLine(
                provider="azure",
                account=row["subscriptionid"],
                service=service,
                region=row["azureregionname"] or None,
                start=start,
                end=end,
                location_kg=operational,
                market_kg=operational,
                embodied_kg=kg if scope == "3" else 0.0,
                keys=tuple(
                    v
                    for v in (row["subscriptionid"], row.get("subscriptionname", ""), row.get("enrollmentid", ""))
                    if v
                ),
                method="Microsoft Emissions Impact Dashboard",
                market_source="Microsoft's one Scope 2 figure (used for both location- and market-based)",
                where=where,
            )
        )
    return lines, len(rows)
