"""MLflow: a run's steps as MLflow metrics, its record's provenance as tags and parameters.

    import mlflow
    from tracker.integrations import mlflow as tracker_mlflow
    with mlflow.start_run(), tracker_mlflow.track(project="vision") as run:
        for epoch in range(10):
            ...
            run.step("epoch", loss=loss)    # -> step_energy_kwh, step_emissions_kg, power_w, energy_kwh, emissions_kg

At the end: tags ``tracker.run_id``, ``tracker.cpu_method``, ``tracker.zone``, ``tracker.intensity_source``, ...,
parameters ``tracker.pue``, ``tracker.intensity_g_per_kwh``, ..., and metrics ``run_energy_kwh``,
``run_emissions_kg``, ... Works with any tracking URI, a local ``file:`` store included (no server). A failure to
log is logged once and never stops training.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import mlflow

from tracker.core.run import Run, Tracker
from tracker.integrations._logging import provenance, step_metrics
from tracker.records.schema import RunRecord

logger = logging.getLogger(__name__)


def log_steps(run: Run) -> None:
    """Log each of ``run``'s steps to the active MLflow run (``step`` = the step's index)."""
    metrics = step_metrics()
    run.add_step_listener(lambda _, step: mlflow.log_metrics(metrics(step), step=step.step))


def log_record(record: RunRecord) -> None:
    """The record's provenance as tags and parameters, and its final figures as metrics, on the active run."""
    tags, params, final = provenance(record)
    mlflow.set_tags(tags)
    mlflow.log_params(params)
    mlflow.log_metrics(final)


@contextlib.contextmanager
def track(**settings: Any) -> Iterator[Run]:
    """A tracker run logged to the active MLflow run (one is started if none is active, and ended with it)."""
    started = mlflow.active_run() is None
    if started:
        mlflow.start_run()
    tracker = Tracker(**settings)
    try:
        with tracker as run:
            log_steps(run)
            yield run
    finally:
        try:
            if tracker.run is not None and tracker.run.record is not None:
                log_record(tracker.run.record)
        except Exception as exc:
            logger.warning("tracker: logging the record to MLflow failed: %r", exc)
        if started:
            mlflow.end_run()
