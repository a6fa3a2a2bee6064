"""JSON: the raw values (SI-style units in the key names), for programs. Keys are a contract (docs/reports.md)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from typing import Any

from tracker.reports.annual import AnnualStatement
from tracker.reports.data import Report
from tracker.reports.recommend import Recommendations
from tracker.reports.render.base import Renderer
from tracker.reports.render.phrases import hourly_note


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (an imported infinity, a NaN) made ``None``: JSON has no
    ``Infinity``, and a program reading the output must be able to parse it."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Always valid JSON (RFC 8259): non-finite numbers as ``null``."""
    return json.dumps(finite(value), indent=2, allow_nan=False)


class JsonRenderer(Renderer):
    name = "json"

    def report(self, report: Report) -> str:
        """``rows`` (one object per group), ``total``, the equivalents and what the report covers."""
        data: dict[str, Any] = {
            "group_by": report.group_by,
            "period": report.period,
            "filters": report.filters,
            "store": report.store,
            "generated_at": report.generated_at,
            "rows": report.rows,
            "total": report.total,
            "equivalents": report.equivalents.to_dict(),
        }
        if report.sources:
            data["sources"] = report.sources
        return dumps(data) + "\n"

    def annual(self, statement: AnnualStatement) -> str:
        return dumps(asdict(statement)) + "\n"

    def recommendations(self, items: Recommendations) -> str:
        """``{"recommendations": [...]}``: every field, plus ``hourly_note`` (what the text form says)."""
        data = {
            "recommendations": [{**asdict(i), "hourly_note": hourly_note(i)} for i in items],
            "shifting": [s.to_json() for s in items.shifting],
        }
        return dumps(data) + "\n"


RENDERER = JsonRenderer()
