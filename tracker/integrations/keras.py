"""Keras 3: a ``keras.callbacks.Callback`` that measures ``model.fit`` as one run, a step per epoch (any backend).

    from tracker.integrations.keras import TrackerCallback
    history = model.fit(x, y, epochs=10, callbacks=[TrackerCallback(project="keras")])
    history.history["step_energy_kwh"]

Keras has no exception hook: a ``fit`` that raises never calls ``on_train_end``. Wrap it so the run ends
``failed`` at once: ``with callback.guard(): model.fit(...)`` (or ``TrackerCallback.attach(model, ...)``, which
wraps ``model.fit``). Unwrapped, the run is ended as ``failed`` when the callback's next ``fit`` begins, or as
``aborted`` at the process's exit.

At each epoch's end the epoch's metrics (``loss``, ``accuracy``, ...) are kept with the step, and the epoch's
energy, emissions and power are added to the epoch's ``logs`` (so ``History`` and the callbacks after this one
see them). A budget crossing with ``on_budget="stop"`` sets ``model.stop_training``.
"""

from __future__ import annotations

from typing import Any

import keras

from tracker.core.run import Run
from tracker.integrations.session import SessionView, TrainingSession, scalars


class TrackerCallback(SessionView, keras.callbacks.Callback):  # type: ignore[misc]
    """Measure a fit as a run (or steps of ``run``, one you started); settings as ``tracker.track``."""

    def __init__(self, run: Run | None = None, samples: int | None = None, **settings: Any) -> None:
        super().__init__()
        self.session = TrainingSession(run, **settings)
        self.samples = samples  # training samples per epoch, for energy per sample

    @classmethod
    def attach(cls, model: Any, run: Run | None = None, **settings: Any) -> TrackerCallback:
        """A callback that every ``model.fit`` uses (added to its ``callbacks``, first), with ``model.fit`` wrapped
        so that a fit that raises writes a ``failed`` record."""
        callback = cls(run, **settings)
        fit = model.fit

        def fit_with_callback(*args: Any, **kwargs: Any) -> Any:
            callbacks = list(kwargs.get("callbacks") or [])
            if callback not in callbacks:
                callbacks.insert(0, callback)  # first: History and the callbacks after it see the energy
            kwargs["callbacks"] = callbacks
            return fit(*args, **kwargs)

        model.fit = callback.wrap(fit_with_callback)
        return callback

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.session.start()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if not self.session.active:
            return
        metrics = scalars(logs)
        if self.samples:
            metrics["samples"] = self.samples
        step, stop = self.session.epoch(self.params.get("epochs"), **metrics)
        if step is not None and logs is not None:
            logs.update(self.session.figures(step))
        if stop:
            self.model.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.session.stop()
