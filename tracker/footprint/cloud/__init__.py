"""Cloud providers' own footprint exports, imported as records (``kind="cloud"``) beside the runs.

One module per export, each turning the vendor's documented columns into :class:`CloudLine` (who, what, where,
when, kg CO2e location- and market-based, kWh where the vendor gives it); :mod:`.common` labels them through the
mapping file (:mod:`tracker.importers.labels`) and writes them with ids derived from their keys, so importing an
export twice, or an export that overlaps the last one, adds nothing.

- ``aws``: AWS Customer Carbon Footprint Tool, the carbon emissions Data Export (CSV), metric tons CO2e, monthly.
- ``gcp``: Google Cloud Carbon Footprint export (the BigQuery table exported as CSV, dotted column names), kg.
- ``azure``: Azure Emissions Impact Dashboard / Cloud for Sustainability ``EnrollmentEmission`` (CSV), mtCO2e per
  scope, monthly.
- ``ccf``: Cloud Carbon Footprint's estimates (``/api/footprint`` JSON: ``EstimationResult`` list), kWh and metric
  tons, daily.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SOURCES = ("aws-ccft", "gcp-carbon", "azure-emissions", "ccf")


def import_cloud(source: str, path: str | Path, store: Any, labels: Any) -> Any:
    """Read one export (``source`` one of :data:`SOURCES`) and store its records; returns the counts."""
    from tracker.footprint.cloud.common import write

    if source == "aws-ccft":
        from tracker.footprint.cloud.aws import read_aws as read
    elif source == "gcp-carbon":
        from tracker.footprint.cloud.gcp import read_gcp as read
    elif source == "azure-emissions":
        from tracker.footprint.cloud.azure import read_azure as read
    elif source == "ccf":
        from tracker.footprint.cloud.ccf import read_ccf as read
    else:
        raise ValueError(source)
    lines, count = read(path)
    return write(lines, store, labels, count)
