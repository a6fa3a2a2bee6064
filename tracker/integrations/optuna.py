"""Optuna: each trial measured as a run, its energy and CO2e kept as the trial's user attributes, and usable as
objectives.

    from tracker.integrations.optuna import TrackedObjective
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.optimize(TrackedObjective(objective, also=("emissions_kg",), project="hpo"), n_trials=20)
    study.best_trials          # the Pareto front of accuracy against CO2e

Each trial gets user attributes ``energy_kwh``, ``emissions_kg``, ``duration_s`` (the run's totals, per component
too) and ``tracker_run_id`` (also
when the objective raises or the trial is pruned: the record is then ``failed``). ``also`` appends record fields
to the objective's value(s), for a multi-objective study. Trials are measured with ``overlap="split"`` unless
``overlap=`` is given: with ``n_jobs > 1`` the concurrent trials' energies add up to the machine's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tracker.core.run import Tracker
from tracker.integrations._logging import FINAL

#: the record fields each trial carries as user attributes: a run's totals (energy per component, emissions, ...)
ATTRS = FINAL


class TrackedObjective:
    """An Optuna objective that measures each trial (settings as ``tracker.track``; labelled with the trial's
    number in the run's tags)."""

    def __init__(self, objective: Callable[[Any], Any], also: Sequence[str] = (), **settings: Any) -> None:
        from tracker.records.schema import FLOAT_COLUMNS

        unknown = [name for name in also if name not in FLOAT_COLUMNS]
        if unknown:
            from tracker.errors import ConfigError

            raise ConfigError("also", unknown, "expected numeric record fields such as emissions_kg, energy_kwh")
        self.objective = objective
        self.also = tuple(also)
        # trials may run at once (study.optimize(n_jobs=2)): with overlap="whole" each would get the whole
        # machine's energy while it runs, and the trials together twice the machine's; "split" shares each tick
        # by the CPU time of each trial's thread (one trial at a time: all of it, as "whole")
        self.settings = {"overlap": "split", **settings}
        Tracker(**settings)  # a bad setting: ConfigError now, not at the first trial

    def __call__(self, trial: Any) -> Any:
        tags = {**dict(self.settings.get("tags") or {}), "optuna_trial": str(trial.number)}
        tracker = Tracker(**{**self.settings, "tags": tags})
        tracker.start()
        try:
            value = self.objective(trial)
        except BaseException as exc:
            from tracker.core.run import outcome

            record = tracker.stop(*outcome(exc))
            _attrs(trial, record)
            raise
        record = tracker.stop()
        _attrs(trial, record)
        if not self.also:
            return value
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        return (*values, *(float(getattr(record, name)) for name in self.also))

    def __repr__(self) -> str:
        return f"TrackedObjective({self.objective!r}, also={self.also!r})"


def _attrs(trial: Any, record: Any) -> None:
    for name in ATTRS:
        trial.set_user_attr(name, float(getattr(record, name)))
    trial.set_user_attr("tracker_run_id", record.run_id)


def pareto(study: Any, objectives: Sequence[str] = ("value", "emissions_kg")) -> list[dict[str, Any]]:
    """The study's Pareto-optimal trials (``study.best_trials``) as rows: number, values, user attributes."""
    rows = []
    for trial in sorted(study.best_trials, key=lambda t: t.number):
        row: dict[str, Any] = {"number": trial.number}
        row.update(dict(zip(objectives, trial.values, strict=False)))
        row.update(trial.user_attrs)
        rows.append(row)
    return rows
