"""What the experiment trackers (MLflow, W&B) are given: per-step metrics and the record's provenance."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tracker.records.schema import COLUMNS, FLOAT_COLUMNS, INT_COLUMNS, TOTALS, RunRecord
from tracker.records.steps import StepStat

#: the record's provenance, as text tags: every text column (labels, how each number was obtained, where the
#: electricity came from, the job, the status), not the times or the nested JSON ones
_NESTED_OR_TIME = ("started_at", "ended_at", "tags", "notes", "spans")
TAGS = tuple(c for c in COLUMNS if c not in FLOAT_COLUMNS and c not in INT_COLUMNS and c not in _NESTED_OR_TIME)
#: the factors the run's figures were multiplied by, and its sampling interval, as parameters
PARAMS = ("pue", "intensity_g_per_kwh", "intensity_year", "interval_s")
#: the run's final figures, as metrics: the roll-up totals of one run (``runs`` left out)
FINAL = tuple(t for t in TOTALS if t != "runs")


def step_metrics() -> Callable[[StepStat], dict[str, float]]:
    """A function from each step (in order) to what is logged for it: the step's own figures and the run's so far
    (the running sum of the steps, so the last one logged equals the sum of the stored steps exactly)."""
    sums = [0.0, 0.0]

    def metrics(step: StepStat) -> dict[str, float]:
        sums[0] += step.energy_kwh
        sums[1] += step.emissions_kg
        return {
            "step_energy_kwh": step.energy_kwh,
            "step_emissions_kg": step.emissions_kg,
            "power_w": step.power_w,
            "energy_kwh": sums[0],
            "emissions_kg": sums[1],
        }

    return metrics


def provenance(record: RunRecord) -> tuple[dict[str, str], dict[str, Any], dict[str, float]]:
    """(tags, params, final metrics) of a record; absent values left out."""
    tags = {f"tracker.{k}": str(getattr(record, k)) for k in TAGS if getattr(record, k) not in (None, "")}
    params = {f"tracker.{k}": getattr(record, k) for k in PARAMS if getattr(record, k) is not None}
    final = {f"run_{k}": float(getattr(record, k)) for k in FINAL}
    return tags, params, final
