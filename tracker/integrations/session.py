"""What every framework adapter shares: a run begun by the framework's first hook (or one the user passes in),
a step per epoch, the budget turned into the framework's own clean stop, and faults that never reach training.

An adapter calls :meth:`TrainingSession.start` from its "training begins" hook, :meth:`TrainingSession.epoch` from
its "epoch ends" hook and :meth:`TrainingSession.stop` from its "training ends" (or "failed") hook. Settings are
checked when the adapter is built: a configuration mistake is a :class:`tracker.ConfigError` there, before
training starts.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any

from tracker.core.run import Run, Tracker, outcome
from tracker.errors import BudgetExceeded
from tracker.records.schema import RunRecord
from tracker.records.steps import StepStat

logger = logging.getLogger(__name__)


class TrainingSession:
    """One training job's run, as a framework's callbacks see it."""

    def __init__(self, run: Run | None = None, *, step_name: str = "epoch", **settings: Any) -> None:
        self.given = run  # a run the user started (and stops) around the training
        self.step_name = step_name
        self.tracker = Tracker(**settings) if run is None else None  # a bad setting: ConfigError here
        self.run: Run | None = None
        self.budget: BudgetExceeded | None = None  # the budget crossing that stopped training, if any
        self.record: RunRecord | None = None
        self._faults: set[str] = set()

    @property
    def active(self) -> bool:
        return self.run is not None and self.run.active

    def _fault(self, where: str, exc: BaseException) -> None:
        if where not in self._faults:
            self._faults.add(where)
            logger.warning("tracker: %s failed (said once; training goes on): %r", where, exc)

    def start(self) -> Run | None:
        """Begin the run (or join the user's); ``None`` if it could not begin (logged). A run of this session's
        still going is one whose training raised without the framework's end hook (Hugging Face and Keras have
        no exception hook): it is ended as ``failed`` first, never merged with the new training's steps."""
        if self.active:
            if self.given is not None:
                return self.run
            logger.warning("tracker: the previous training's run %s never reached its end hook (it raised?): "
                           "recorded as failed", self.run.run_id[:12])  # type: ignore[union-attr]  # fmt: skip
            self.stop(_Unfinished("the training ended without the framework's train-end hook (an exception?)"))
        try:
            self.run = self.given if self.given is not None else self.tracker.start()  # type: ignore[union-attr]
        except Exception as exc:
            self._fault("starting the run", exc)
            self.run = None
        return self.run

    def epoch(self, total: int | None = None, **metrics: Any) -> tuple[StepStat | None, bool]:
        """Mark the end of a step; returns the step (``None`` if nothing is measured) and whether training must
        stop (the budget, with ``on_budget="stop"``)."""
        run = self.run
        if run is None or not run.active:
            return None, False
        try:
            return run.step(self.step_name, total=total, **metrics), False
        except BudgetExceeded as exc:
            self.budget = exc
            return run.steps[-1], True
        except Exception as exc:
            self._fault("marking a step", exc)
            return None, False

    def figures(self, step: StepStat | None = None) -> dict[str, float]:
        """What the frameworks log: the run's energy and emissions so far (kWh, kg CO2e), and the last step's
        (``step_energy_kwh``, ``step_emissions_kg``, ``power_w``: its average power). Empty if nothing is known."""
        run = self.run
        if run is None:
            return {}
        try:
            reading = run.reading()
            figures = {"energy_kwh": reading.energy_kwh, "emissions_kg": reading.emissions_kg}
            if step is not None:  # the run so far up to this step's boundary, exactly: the step's reading
                figures["energy_kwh"] = sum(s.energy_kwh for s in run.steps[: step.step + 1])
                figures["emissions_kg"] = sum(s.emissions_kg for s in run.steps[: step.step + 1])
                figures["step_energy_kwh"] = step.energy_kwh
                figures["step_emissions_kg"] = step.emissions_kg
                figures["power_w"] = step.power_w
            return figures
        except Exception as exc:
            self._fault("reading the run", exc)
            return {}

    def stop(self, exc: BaseException | None = None) -> RunRecord | None:
        """End the run this session began (a run the user passed in is theirs to stop); its record."""
        run, self.run = self.run, None
        if run is None or self.given is not None or self.tracker is None:
            return None
        try:
            status, error = outcome(exc)
            self.record = self.tracker.stop(status, error) if run.active else run.record
        except Exception as caught:
            self._fault("stopping the run", caught)
        return self.record


class _Unfinished(Exception):
    """What ended a run whose training never called its end hook (for its record's error text)."""


class SessionView:
    """The run and the record of a callback's :class:`TrainingSession` (``self.session``), for users' code: one
    definition for every framework's callback, which mixes it in beside the framework's own base class."""

    session: TrainingSession

    @property
    def run(self) -> Run | None:
        return self.session.run

    @property
    def record(self) -> Any:
        return self.session.record

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """``with callback.guard(): trainer.train()``: a training that raises writes a ``failed`` record now (the
        frameworks without an exception hook never call the callback again), and the exception goes on."""
        try:
            yield
        except BaseException as exc:
            if self.session.active:
                self.session.stop(exc)
            raise

    def wrap(self, train: Callable[..., Any]) -> Callable[..., Any]:
        """``train`` (``trainer.train``, ``model.fit``) run inside :meth:`guard`."""

        @functools.wraps(train)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            with self.guard():
                return train(*args, **kwargs)

        guarded.__tracker_guarded__ = True  # type: ignore[attr-defined]
        return guarded


def scalars(values: Any) -> dict[str, float]:
    """The numeric entries of a framework's metrics mapping (tensors and NumPy scalars as floats)."""
    out: dict[str, float] = {}
    for key, value in dict(values or {}).items():
        try:
            out[str(key)] = float(value)
        except (TypeError, ValueError):
            continue
    return out
