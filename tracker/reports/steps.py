"""One run's steps as a report object: what ``tracker steps RUN_ID`` renders (HTML: a per-step chart).

Data only, read from a store (:meth:`tracker.stores.base.Store.steps`); the renderers in
:mod:`tracker.reports.render.formats` draw it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tracker.errors import StoreError


@dataclass
class StepSeries:
    """A run's record (as a stored row) and its steps in order, with the names of the user's numeric metrics."""

    run: dict[str, Any]
    steps: list[dict[str, Any]]
    metrics: list[str] = field(default_factory=list)
    store: str = ""


def build_steps(store: Any, run_id: str) -> StepSeries:
    """The run ``run_id`` and its steps from ``store``; :class:`StoreError` when the store has no such run."""
    from tracker.records.steps import from_row

    rows = store.shown_rows(run_id=run_id)
    if not rows:
        raise StoreError(f"no run {run_id!r} in {store.location}")
    steps = []
    metrics: dict[str, None] = {}
    for row in store.steps(run_id):
        step = from_row(row)
        item = {k: v for k, v in step.__dict__.items() if k != "metrics"}
        item["power_w"] = step.power_w
        for key, value in step.metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                metrics.setdefault(key)
                item[f"metric:{key}"] = float(value)
        steps.append(item)
    return StepSeries(rows[0], steps, list(metrics), store.location)
