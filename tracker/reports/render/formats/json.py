"""JSON: the raw values (SI-style units in the key names), for programs. Keys are a contract (docs/reports.md)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from tracker.reports.annual import AnnualStatement
from tracker.reports.data import Report
from tracker.reports.recommend import Recommendations
from tracker.reports.render.base import Renderer
from tracker.reports.render.phrases import hourly_note


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
        return json.dumps(data, indent=2) + "\n"

    def annual(self, statement: AnnualStatement) -> str:
        return json.dumps(asdict(statement), indent=2) + "\n"

    def recommendations(self, items: Recommendations) -> str:
        """``{"recommendations": [...]}``: every field, plus ``hourly_note`` (what the text form says)."""
        data = {"recommendations": [{**asdict(i), "hourly_note": hourly_note(i)} for i in items]}
        return json.dumps(data, indent=2) + "\n"


RENDERER = JsonRenderer()
