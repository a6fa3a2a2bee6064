"""Hugging Face ``transformers``: a ``TrainerCallback`` that measures the training job as one run, a step per epoch.

    from tracker.integrations.transformers import TrackerCallback
    trainer = Trainer(model=model, args=args, train_dataset=ds)
    TrackerCallback.attach(trainer, project="bert", budget_kg=2.0, on_budget="stop")
    trainer.train()                          # a train() that raises writes a failed record (attach wraps it)

Only the job's main process (``state.is_world_process_zero``) begins a run and writes its record; the other ranks
measure nothing (the main process's record covers its node; ``tracker run`` under ``torchrun`` gives every rank
its own record, docs/jobs.md). The run's energy and emissions so far go into every ``logs`` dict the Trainer
logs (``energy_kwh``, ``emissions_kg``; after an epoch also ``step_energy_kwh``, ``step_emissions_kg``,
``power_w``), so ``report_to`` targets (MLflow, W&B, TensorBoard) see them: :meth:`TrackerCallback.attach`
puts the callback first, before the reporting ones (a callback passed in ``callbacks=`` comes after them). The
log made at an epoch's end (``logging_strategy="epoch"``) carries that epoch's figures and leaves its loss with
the step; a log at another step carries the run's figures so far only. A
budget crossing with ``on_budget="stop"`` sets ``control.should_training_stop``: the Trainer stops cleanly.
"""

from __future__ import annotations

import math
from typing import Any

from transformers import TrainerCallback

from tracker.core.run import Run
from tracker.integrations.session import SessionView, TrainingSession, scalars


class TrackerCallback(SessionView, TrainerCallback):  # type: ignore[misc]
    """Measure ``trainer.train()`` as a run (or steps of ``run``, one you started); settings as ``tracker.track``."""

    def __init__(self, run: Run | None = None, **settings: Any) -> None:
        self.session = TrainingSession(run, **settings)
        self._pending: dict[str, float] = {}  # the last epoch's figures, for the log that follows it
        self._step: Any = None  # the last epoch's step: the Trainer logs the epoch's loss after its end
        self._at = -1  # the global step at which that epoch ended

    @classmethod
    def attach(cls, trainer: Any, run: Run | None = None, **settings: Any) -> TrackerCallback:
        """A callback added to ``trainer`` before its reporting callbacks (so they log energy too), and
        ``trainer.train`` wrapped so that a training that raises writes a ``failed`` record (the Trainer has no
        exception hook: without it the run would stay open until the next ``train()`` or the process's exit)."""
        callback = cls(run, **settings)
        trainer.callback_handler.callbacks.insert(0, callback)
        if not getattr(trainer.train, "__tracker_guarded__", False):
            trainer.train = callback.wrap(trainer.train)
        return callback

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self.session.start()

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not self.session.active:
            return
        total = math.ceil(args.num_train_epochs) if args.max_steps is None or args.max_steps <= 0 else None
        metrics: dict[str, Any] = {}
        loader = kwargs.get("train_dataloader")
        try:
            samples = len(loader.dataset) if loader is not None else None
        except TypeError:  # an iterable dataset has no length
            samples = None
        if samples:
            metrics["samples"] = samples
        step, stop = self.session.epoch(total, **metrics)
        if step is not None:
            self._pending = self.session.figures(step)
            self._step = step
            self._at = state.global_step
        if stop:
            control.should_training_stop = True

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not self.session.active or logs is None:
            return
        if state.global_step != self._at or "train_runtime" in logs:
            # not the epoch's own log: with logging_strategy="steps" the next log comes steps later (its loss is
            # not the epoch's, and its figures are the run's so far); the end-of-training summary is not either
            self._step = None
            self._pending = {}
        if self._step is not None:  # the epoch's own log (loss, learning rate, ...): kept with the epoch's step
            self._step.metrics.update({k: v for k, v in scalars(logs).items() if k != "epoch"})
            self._step = None
        logs.update(self._pending or self.session.figures())
        self._pending = {}

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.session.stop()
