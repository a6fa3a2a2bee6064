"""A run's steps: the series beside the aggregate (one row per epoch, batch or phase, in order).

A step is what the user marks with ``run.step(name="epoch", loss=0.3, samples=60000)``: the interval since the
previous step boundary (or the run's start), with its energy, emissions and duration measured at the boundary and
the user's own metrics kept as given. Stores keep them in a child table ``steps`` (SQLite, PostgreSQL) keyed by
``(run_id, step)``; ``tracker.load_steps(run_id=...)`` gives them back as a DataFrame (``docs/ml.md``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from typing import Any

#: the user's metrics that name a count: energy per sample / per token is derived from them
COUNTS = ("samples", "tokens")


@dataclass
class StepStat:
    """One step of a run. ``step`` counts from 0 over all of the run's steps, whatever their names; times are UTC
    ISO 8601 text (as the run's own columns are stored)."""

    step: int
    name: str
    started_at: str
    ended_at: str
    duration_s: float
    cpu_energy_kwh: float
    gpu_energy_kwh: float
    ram_energy_kwh: float
    energy_kwh: float
    emissions_kg: float
    samples: float | None = None
    tokens: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def power_w(self) -> float:
        """Average IT power over the step (W)."""
        return self.energy_kwh * 3.6e6 / self.duration_s if self.duration_s > 0 else 0.0

    def per(self, count: str) -> float | None:
        """kWh per sample or per token (``count``), or ``None`` when the step gave no such count."""
        n = getattr(self, count)
        return self.energy_kwh / n if n else None


#: the child table's columns, in order: the run's id, then :class:`StepStat`'s fields (``metrics`` as JSON text)
STEP_COLUMNS: tuple[str, ...] = ("run_id", *(f.name for f in fields(StepStat)))
STEP_FLOATS = frozenset(STEP_COLUMNS[5:13])


def clean_metric(value: Any) -> Any:
    """A user metric as a store can keep it: numbers (a framework's 0-d tensor or NumPy scalar becomes a float),
    text and booleans as they are; anything else as its text. Non-finite floats stay (JSON ``NaN``, as pandas)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    item = getattr(value, "item", None)  # a 0-d tensor or NumPy scalar: its Python number (no autograd warning)
    if callable(item):
        try:
            value = item()
            if isinstance(value, (bool, int, float, str)):
                return value
        except (TypeError, ValueError, RuntimeError):
            pass
    try:
        return float(value)  # Decimal, Fraction, ...
    except (TypeError, ValueError):
        return str(value)


def step_rows(run_id: str, steps: list[StepStat]) -> list[tuple[Any, ...]]:
    """The child table's rows for a run's steps, in :data:`STEP_COLUMNS` order."""
    return [
        (run_id, s.step, s.name, s.started_at, s.ended_at, s.duration_s, s.cpu_energy_kwh, s.gpu_energy_kwh,
         s.ram_energy_kwh, s.energy_kwh, s.emissions_kg, s.samples, s.tokens, dumps_metrics(s.metrics))
        for s in steps
    ]  # fmt: skip


def dumps_metrics(metrics: dict[str, Any]) -> str:
    """Metrics as JSON text; a non-finite float as ``null`` would lose it, so it is kept as JSON's ``NaN``."""
    return json.dumps(metrics, sort_keys=False, default=str)


def to_json(steps: list[StepStat]) -> str:
    """The steps as one JSON text (the record's row when it goes to the spool or a CSV file)."""
    return json.dumps([s.__dict__ for s in steps], default=str)


def from_json(text: str) -> list[StepStat]:
    return [StepStat(**item) for item in json.loads(text)] if text else []


def from_row(row: dict[str, Any]) -> StepStat:
    """A step from a child-table row (``STEP_COLUMNS`` keys)."""
    metrics = row.get("metrics")
    if isinstance(metrics, str):
        metrics = json.loads(metrics) if metrics else {}
    values = {k: row[k] for k in STEP_COLUMNS[1:13]}
    for key in STEP_FLOATS:
        if values[key] is not None:
            values[key] = float(values[key])
    values["step"] = int(values["step"])
    return StepStat(**values, metrics=metrics or {})


def frame(rows: list[dict[str, Any]]) -> Any:
    """The steps of a run as a DataFrame, in step order: the child table's columns, ``power_w``, then
    ``energy_kwh_per_sample`` / ``emissions_kg_per_sample`` (and ``..._per_token``) where counts were given, then
    one column per user metric (``metrics`` JSON spread out; a metric no step has is absent)."""
    import pandas as pd

    steps = [from_row(r) for r in rows]
    out = []
    for s, r in zip(steps, rows, strict=True):
        item = {"run_id": r["run_id"], **{k: v for k, v in s.__dict__.items() if k != "metrics"}}
        item["power_w"] = s.power_w
        for count in COUNTS:
            n = getattr(s, count)
            item[f"energy_kwh_per_{count[:-1]}"] = s.energy_kwh / n if n else math.nan
            item[f"emissions_kg_per_{count[:-1]}"] = s.emissions_kg / n if n else math.nan
        for key, value in s.metrics.items():
            item.setdefault(key, value)
        out.append(item)
    columns = [*STEP_COLUMNS[:13], "power_w"]
    df = pd.DataFrame(out, columns=None if out else columns)
    return df.sort_values(["run_id", "step"], kind="stable").reset_index(drop=True) if out else df
