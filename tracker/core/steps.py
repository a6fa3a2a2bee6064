"""A run's step boundaries: ``run.step(name="epoch", loss=0.3, samples=60000)`` (docs/ml.md).

Each call takes a sample now (so the boundary is exact, not up to a second late), and the step is the interval
since the previous boundary (or the run's start): its energy per component, emissions, duration, and the user's
metrics as given. Steps follow each other, so their energies add up to the run's energy up to the last boundary
(what remains is the time after the last step). Then, with a known total number of steps, the run's total is
predicted (:mod:`tracker.core.predict`, logged once) and checked against the budget: a crossing is logged once, or
with ``on_budget="stop"`` raised as :class:`tracker.errors.BudgetExceeded` from this call, the step boundary.

A boundary costs one sample (tens of microseconds with modelled sources): meant for epochs, evaluation rounds or
logging intervals, not for every batch of a fast loop (``run.energy_kwh`` reads without sampling for that).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from tracker.core import live
from tracker.core.predict import Moments, Prediction, predict
from tracker.errors import BudgetExceeded
from tracker.records.schema import iso
from tracker.records.steps import StepStat, clean_metric

if TYPE_CHECKING:
    from tracker.core.state import RunState

logger = logging.getLogger(__name__)

MIN_STEPS_FOR_BUDGET = 2  # steps of the predicted series before the budget is checked against the prediction


class StepLog:
    """One run's steps so far, its prediction and its budget state."""

    def __init__(self, run: RunState) -> None:
        self.run = run
        self.items: list[StepStat] = []
        self.lock = threading.Lock()
        self.last: live.Reading | None = None  # the reading at the previous boundary (None: the run's start)
        self.total: int | None = run.config.total_steps
        self.series: str | None = None  # the name whose steps the total counts: the one ``total=`` came with (or the
        # first step's name, with ``total_steps`` set in the configuration)
        self.moments = Moments()  # of the series' step energies
        self.prediction: Prediction | None = None
        self.crossed: str | None = None  # the budget first exceeded ("energy_kwh" / "emissions_kg"), said once
        self.notes: list[str] = []  # for the record: the first prediction, a budget crossed
        self.listeners: list[Callable[[Any, StepStat], None]] = []  # told of each step (tracker.integrations)
        self._failed: set[int] = set()  # listeners whose fault was logged (once each)

    def mark(self, name: str, total: int | None, metrics: dict[str, Any]) -> StepStat:
        run = self.run
        with self.lock:
            now = live.read(run, fresh=True)
            last = self.last or live.Reading(run.t0, 0.0, 0.0, 0.0, 0.0, 0.0)
            samples = metrics.pop("samples", None)
            tokens = metrics.pop("tokens", None)
            offset = run.wall_offset
            cpu = (now.cpu_joules - last.cpu_joules) / live.J_PER_KWH
            gpu = (now.gpu_joules - last.gpu_joules) / live.J_PER_KWH
            ram = (now.ram_joules - last.ram_joules) / live.J_PER_KWH
            step = StepStat(
                step=len(self.items),
                name=name,
                started_at=iso(datetime.fromtimestamp(last.t + offset, tz=timezone.utc)),
                ended_at=iso(datetime.fromtimestamp(now.t + offset, tz=timezone.utc)),
                duration_s=max(0.0, now.t - last.t),
                cpu_energy_kwh=cpu,
                gpu_energy_kwh=gpu,
                ram_energy_kwh=ram,
                energy_kwh=cpu + gpu + ram,
                emissions_kg=now.emissions_kg - last.emissions_kg,
                samples=None if samples is None else float(samples),
                tokens=None if tokens is None else float(tokens),
                metrics={str(k): clean_metric(v) for k, v in metrics.items()},
            )
            self.items.append(step)
            self.last = now
            if total is not None:
                self.total = int(total)
                if name != self.series:  # the total counts this name's steps: the mean is of those alone
                    self._restart(name)
            elif self.series is None:
                self.series = name
            if name == self.series:
                self.moments.add(step.energy_kwh)
            crossing = self._forecast(now)
        for listener in self.listeners:  # outside the lock; a listener's fault never reaches the training loop
            try:
                listener(run, step)
            except Exception as exc:
                if id(listener) not in self._failed:
                    self._failed.add(id(listener))
                    logger.warning("run %s: a step listener failed (said once): %r", run.run_id[:12], exc)
        if crossing is not None:
            raise crossing
        return step

    def _restart(self, name: str) -> None:
        """Predict from ``name``'s steps from now on: the steps of another name seen so far (a warm-up, an
        evaluation) are in the energy measured so far, not in the mean step; a prediction made from them goes."""
        self.series = name
        self.moments = Moments()
        self.prediction = None
        self.run.prediction = None

    def _forecast(self, now: live.Reading) -> BudgetExceeded | None:
        """Update the prediction and check the budget; the exception to raise, if the run must stop here."""
        config = self.run.config
        ours = self.moments
        if self.total is not None and ours.n >= config.predict_after:
            first = self.prediction is None
            self.prediction = predict(ours, max(self.total, ours.n), now.energy_kwh, now.emissions_kg)
            self.run.prediction = self.prediction
            if first:
                text = self.prediction.describe()
                logger.info("run %s: %s", self.run.run_id[:12], text)
                self.notes.append(f"{text} ({self.prediction.method})")
        if self.crossed is not None:
            return None
        # one step is a point estimate with no spread: a budget stop on it alone would follow any slow first step
        # (data loading, compilation); the measured figures are checked until a second step gives a spread
        expected = self.prediction if ours.n >= MIN_STEPS_FOR_BUDGET else None
        energy = expected.energy_kwh if expected else now.energy_kwh
        kg = expected.emissions_kg if expected else now.emissions_kg
        for what, value, budget in (("energy_kwh", energy, config.budget_kwh), ("emissions_kg", kg, config.budget_kg)):
            if budget is not None and value > budget:
                self.crossed = what
                error = BudgetExceeded(what, value, budget, len(self.items))
                stop = config.on_budget == "stop"
                self.notes.append(f"budget: {error}" + ("; the run was stopped at that step" if stop else ""))
                logger.warning("run %s: %s%s", self.run.run_id[:12], error,
                               "; stopping at this step (on_budget=stop)" if stop else "")  # fmt: skip
                return error if stop else None
        return None

    def snapshot(self) -> list[StepStat]:
        with self.lock:
            return list(self.items)
