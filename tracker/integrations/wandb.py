"""Weights & Biases: a run's steps as W&B metrics, its record's provenance in the W&B run's config and summary.

    import wandb
    from tracker.integrations import wandb as tracker_wandb
    wandb.init(project="vision")                     # WANDB_MODE=offline works the same
    with tracker_wandb.track(project="vision") as run:
        for epoch in range(10):
            ...
            run.step("epoch", loss=loss)             # -> tracker/step_energy_kwh, ..., x-axis tracker/step

Step metrics go under ``tracker/`` with their own x-axis (``tracker/step``, declared with ``define_metric``), and
are logged with ``commit=False``: they join the row W&B is building and never move its step, so the user's own
``wandb.log(..., step=s)`` calls are all kept. Two tracker steps with no commit between them: the row holding the
first is committed before the second is logged (W&B's step moves by one then; a later ``wandb.log(step=s)`` with
that older ``s`` would be refused by W&B). The last values wait in W&B's open row until the next commit or
``wandb.finish()``. At the end the provenance goes into
``wandb.config["tracker"]`` and the final figures into the summary (``tracker/run_energy_kwh``, ...). A failure to
log is logged once and never stops training.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import wandb

from tracker.core.run import Run, Tracker
from tracker.errors import TrackerError
from tracker.integrations._logging import provenance, step_metrics
from tracker.records.schema import RunRecord

logger = logging.getLogger(__name__)


def log_steps(run: Run, target: Any = None) -> None:
    """Log each of ``run``'s steps to the W&B run ``target`` (default: ``wandb.run``)."""
    wb = target or wandb.run
    wb.define_metric("tracker/step")
    wb.define_metric("tracker/*", step_metric="tracker/step")
    metrics = step_metrics()

    pending: list[int] = []  # the W&B step whose row holds our last values, not yet committed

    def listener(_: Run, step: Any) -> None:
        # commit=False: the values join W&B's current row and never move W&B's step, so the user's own
        # wandb.log(..., step=s) is not refused as "less than the current step"; only when our previous values
        # are still in the row being built (no commit since) is that row committed first, so none is overwritten
        if pending and _step(wb) == pending[-1]:
            wb.log({}, commit=True)
        wb.log({"tracker/step": step.step, **{f"tracker/{k}": v for k, v in metrics(step).items()}}, commit=False)
        pending[:] = [_step(wb)]

    run.add_step_listener(listener)


def _step(wb: Any) -> int:
    """The W&B step the next ``log()`` goes to. ``Run.step`` asks W&B's service process (a round trip per call, and
    its answer can trail the logs just sent); the client keeps the same count itself (``_local_step``: raised by
    ``log(step=s)``, moved by each commit), read when this W&B version has it."""
    local = getattr(wb, "_local_step", None)
    return local if isinstance(local, int) else wb.step


def log_record(record: RunRecord, target: Any = None) -> None:
    """The record's provenance into the W&B run's config, its final figures into the summary."""
    wb = target or wandb.run
    tags, params, final = provenance(record)
    wb.config.update({"tracker": {**tags, **params}}, allow_val_change=True)
    for key, value in final.items():
        wb.summary[f"tracker/{key}"] = value


@contextlib.contextmanager
def track(**settings: Any) -> Iterator[Run]:
    """A tracker run logged to the current W&B run (``wandb.init()`` first)."""
    if wandb.run is None:
        raise TrackerError("no W&B run to log to: call wandb.init() first")
    target = wandb.run
    tracker = Tracker(**settings)
    try:
        with tracker as run:
            try:
                log_steps(run, target)
            except Exception as exc:
                logger.warning("tracker: W&B step logging could not be set up: %r", exc)
            yield run
    finally:
        try:
            if tracker.run is not None and tracker.run.record is not None:
                log_record(tracker.run.record, target)
        except Exception as exc:
            logger.warning("tracker: logging the record to W&B failed: %r", exc)
