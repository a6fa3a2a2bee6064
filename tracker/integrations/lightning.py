"""PyTorch Lightning: a ``Callback`` that measures ``trainer.fit`` as one run, a step per training epoch.

    from tracker.integrations.lightning import TrackerCallback
    trainer = L.Trainer(max_epochs=10, callbacks=[TrackerCallback(project="vision")])

At each epoch's end the epoch's ``step_energy_kwh``, ``step_emissions_kg``, its average ``power_w`` and the run's
``energy_kwh`` and ``emissions_kg`` so far go to every logger of the trainer (``logger.log_metrics``, step = the
epoch), and the epoch's logged metrics (``trainer.callback_metrics``) are kept with the step. Only the global
zero process measures. A fit that raises writes a ``failed`` record (``on_exception``); a budget crossing with
``on_budget="stop"`` sets ``trainer.should_stop``.
"""

from __future__ import annotations

import math
from typing import Any

try:
    from lightning.pytorch.callbacks import Callback
except ImportError:  # the standalone package
    from pytorch_lightning.callbacks import Callback

from tracker.core.run import Run
from tracker.integrations.session import SessionView, TrainingSession, scalars


def epochs(trainer: Any) -> int | None:
    """How many epochs the fit will run, for the prediction: ``max_epochs``, or fewer when ``max_steps`` (optimizer
    steps) ends it first; ``None`` when neither bounds it (or the epoch's length is unknown, an iterable loader)."""
    limit = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else None
    max_steps = trainer.max_steps
    batches = trainer.num_training_batches
    if max_steps is not None and max_steps > 0 and isinstance(batches, int) and batches > 0:
        per_epoch = math.ceil(batches / max(1, trainer.accumulate_grad_batches))
        by_steps = math.ceil(max_steps / per_epoch)
        limit = by_steps if limit is None else min(limit, by_steps)
    return limit


class TrackerCallback(SessionView, Callback):  # type: ignore[misc]
    """Measure a fit as a run (or steps of ``run``, one you started); settings as ``tracker.track``."""

    def __init__(self, run: Run | None = None, **settings: Any) -> None:
        self.session = TrainingSession(run, **settings)
        self.logged: list[dict[str, float]] = []  # what went to the loggers, per epoch

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        if trainer.is_global_zero:
            self.session.start()

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if not self.session.active:
            return
        total = epochs(trainer)
        metrics = scalars(trainer.callback_metrics)
        step, stop = self.session.epoch(total, **metrics)
        if step is not None:
            figures = self.session.figures(step)
            self.logged.append(figures)
            for logger in trainer.loggers:
                try:
                    logger.log_metrics(figures, step=trainer.current_epoch)
                except Exception as exc:
                    self.session._fault("logging to the Lightning logger", exc)
        if stop:
            trainer.should_stop = True

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        self.session.stop()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self.session.stop(exception)
