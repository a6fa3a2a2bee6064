"""MLflow: a run's steps as MLflow metrics, its record's provenance as tags.

    import mlflow
    from tracker.integrations import mlflow as tracker_mlflow
    with mlflow.start_run(), tracker_mlflow.track(project="vision") as run:
        for epoch in range(10):
            ...
            run.step("epoch", loss=loss)    # -> step_energy_kwh, step_emissions_kg, power_w, energy_kwh, emissions_kg

At the end: tags ``tracker.run_id``, ``tracker.cpu_method``, ``tracker.zone``, ``tracker.intensity_source``, ...,
``tracker.pue``, ``tracker.intensity_g_per_kwh``, ``tracker.interval_s``, ..., and metrics ``run_energy_kwh``,
``run_emissions_kg``, ... Works with any tracking URI, a local ``file:`` store included (no server). A failure to
log is logged once and never stops training.

Everything goes to the MLflow run that was active when the tracker's run began (its id, through
``MlflowClient``), whatever run is active later: a nested run started inside the block does not receive the steps,
and no step starts an MLflow run of its own. The factors (PUE, intensity, interval) are tags, not parameters:
MLflow refuses to change a parameter, and two tracked blocks in one MLflow run may differ (the last one's tags
stay; their step metrics share the ``step`` axis, each block's from 0).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

import mlflow
from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient

from tracker.core.run import Run, Tracker
from tracker.errors import TrackerError
from tracker.integrations._logging import provenance, step_metrics
from tracker.records.schema import RunRecord

logger = logging.getLogger(__name__)


def _target(run_id: str | None) -> str:
    if run_id is not None:
        return run_id
    active = mlflow.active_run()
    if active is None:
        raise TrackerError("no MLflow run to log to: call mlflow.start_run() first (or pass run_id=)")
    return active.info.run_id


def _metrics(values: dict[str, float], step: int) -> list[Metric]:
    now = int(time.time() * 1000)
    return [Metric(key, float(value), now, step) for key, value in values.items()]


def log_steps(run: Run, run_id: str | None = None) -> None:
    """Log each of ``run``'s steps (``step`` = the step's index) to the MLflow run ``run_id``, by default the one
    active now (its id is kept: a run activated later does not get them). No active run: a :class:`TrackerError`
    here (before, the first step's ``mlflow.log_metrics`` started a run nobody ended)."""
    target = _target(run_id)
    client = MlflowClient()
    metrics = step_metrics()
    run.add_step_listener(lambda _, step: client.log_batch(target, metrics=_metrics(metrics(step), step.step)))


def log_record(record: RunRecord, run_id: str | None = None) -> None:
    """The record's provenance and factors as tags, its final figures as metrics, on the MLflow run ``run_id``
    (default: the active one)."""
    target = _target(run_id)
    tags, params, final = provenance(record)
    every = {**tags, **{key: str(value) for key, value in params.items()}}
    MlflowClient().log_batch(target, metrics=_metrics(final, 0), tags=[RunTag(k, v) for k, v in every.items()])


@contextlib.contextmanager
def track(**settings: Any) -> Iterator[Run]:
    """A tracker run logged to the active MLflow run (one is started if none is active, and ended with it).

    The settings are checked first: a :class:`tracker.ConfigError` leaves no MLflow run behind."""
    tracker = Tracker(**settings)
    started = mlflow.active_run() is None
    active = mlflow.start_run() if started else mlflow.active_run()
    run_id = active.info.run_id
    status = "FINISHED"
    try:
        with tracker as run:
            try:
                log_steps(run, run_id)
            except Exception as exc:
                logger.warning("tracker: MLflow step logging could not be set up: %r", exc)
            yield run
    except BaseException:
        status = "FAILED"
        raise
    finally:
        try:
            if tracker.run is not None and tracker.run.record is not None:
                log_record(tracker.run.record, run_id)
        except Exception as exc:
            logger.warning("tracker: logging the record to MLflow failed: %r", exc)
        if started:
            mlflow.end_run(status)
