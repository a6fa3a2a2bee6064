"""Cloud Carbon Footprint's estimates: the ``/api/footprint`` answer (JSON), a list of ``EstimationResult``.

Shape as in Cloud Carbon Footprint's ``EstimationResult`` (cloud-carbon-footprint/common, 2023): ``timestamp`` (the
day or month the estimates are for), ``periodStartDate``, ``periodEndDate``, ``groupBy`` and ``serviceEstimates``, a
list of ``{cloudProvider, accountId, accountName, serviceName, region, kilowattHours, co2e, cost,
usesAverageCPUConstant}``, ``co2e`` in metric tons. CCF estimates location-based emissions only (its methodology
says so): the market-based figure is the same, and says so. The energy comes along (``kilowattHours``).
"""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path

from tracker.errors import ConfigError
from tracker.footprint.cloud.common import CloudFormatError, CloudLine, moment, months_later

PERIODS = {"day": timedelta(days=1), "week": timedelta(days=7)}
MONTHS = {"month": 1, "quarter": 3, "year": 12}  # CCF's groupBy values (its API's GroupBy enum)


def _value(item: dict, key: str, where: str) -> float:
    raw = item.get(key, 0) or 0
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise CloudFormatError(f"{where}: {key}={raw!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise CloudFormatError(f"{where}: {key}={raw!r} must be a finite number, zero or more")
    return value


def read_ccf(path: str | Path) -> tuple[list[CloudLine], int]:
    file = Path(path).expanduser()
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError("file", str(path), f"cannot read it as JSON: {exc}") from None
    if isinstance(data, dict):  # a saved API answer may wrap the list
        data = data.get("estimates", data.get("data"))
    if not isinstance(data, list):
        raise CloudFormatError(f"{file.name}: not Cloud Carbon Footprint estimates (expected a list of results)")
    lines = []
    count = 0
    for number, result in enumerate(data, start=1):
        where = f"{file.name} result {number}"
        if not isinstance(result, dict) or "timestamp" not in result or "serviceEstimates" not in result:
            raise CloudFormatError(f"{where}: expected timestamp and serviceEstimates")
        start = moment(str(result["timestamp"]), where)
        group = str(result.get("groupBy") or "day").lower()
        if group in MONTHS:
            end = months_later(start, MONTHS[group])
        elif group in PERIODS:
            end = start + PERIODS[group]
        else:
            raise CloudFormatError(f"{where}: groupBy={group!r}, expected day, week, month, quarter or year")
        for index, item in enumerate(result["serviceEstimates"] or (), start=1):
            count += 1
            here = f"{where} estimate {index}"
            if not isinstance(item, dict):
                raise CloudFormatError(f"{here}: expected an object")
            kg = _value(item, "co2e", here) * 1000.0
            provider = str(item.get("cloudProvider") or "unknown").lower()
            account = str(item.get("accountId") or item.get("accountName") or "(unknown)")
            lines.append(
                CloudLine(
                    provider=f"ccf:{provider}",
                    account=account,
                    service=str(item.get("serviceName") or "(unknown)"),
                    region=str(item.get("region") or "") or None,
                    start=start,
                    end=end,
                    location_kg=kg,
                    market_kg=kg,
                    energy_kwh=_value(item, "kilowattHours", here),
                    keys=tuple(str(v) for v in (item.get("accountId"), item.get("accountName")) if v),
                    method="Cloud Carbon Footprint estimate",
                    market_source="location-based (Cloud Carbon Footprint gives no market-based figure)",
                    where=here,
                    tags={"average_cpu_constant": "yes"} if item.get("usesAverageCPUConstant") else {},
                )
            )
    return lines, count
