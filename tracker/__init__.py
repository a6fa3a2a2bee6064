"""tracker: measure the energy and carbon emissions of code while it runs.

    from tracker import track

    @track(project="demo")
    def train(): ...

    with track(project="demo") as run:
        ...
    print(run.energy_kwh, run.emissions_kg, run.cpu_method)

    with track(project="api", functional_unit="requests") as run:
        for request in requests:
            ...
            run.add_units()             # reports show CO2e per request (SCI)

Importing this package is cheap (no pandas, no NVML, no threads); everything heavy starts with the first run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracker._version import __version__
from tracker.core.calls import propagate, task, track
from tracker.core.run import Run, Tracker, add_units, current_run
from tracker.errors import BudgetExceeded, ConfigError, MeasurementError, StoreError, TrackerError

if TYPE_CHECKING:
    import pandas as pd

    from tracker.carbon.estimates import Estimate

__all__ = [
    "BudgetExceeded",
    "ConfigError",
    "MeasurementError",
    "Run",
    "StoreError",
    "Tracker",
    "TrackerError",
    "__version__",
    "add_units",
    "current_run",
    "estimate",
    "load_runs",
    "load_steps",
    "propagate",
    "summarize",
    "task",
    "track",
]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext tracker``: the ``%%track``, ``%tracker_start`` and ``%tracker_stop`` magics
    (:mod:`tracker.integrations.notebook`)."""
    from tracker.integrations.notebook import load

    load(ipython)


def load_runs(
    store: str | None = None, *, limit: int | None = None, decode: bool = False, **filters: Any
) -> pd.DataFrame:
    """The store's runs as a pandas DataFrame (newest first), one row per run, with the contract's columns.

    ``store`` defaults to the configured one (``TRACKER_STORE``, ``[tool.tracker]``, ...), else the default
    SQLite file; ``filters`` match exactly on the columns of :data:`tracker.records.schema.FILTERS`
    (``project="x"``, ``team="y"``, ``status="failed"``). ``decode=True``: ``tags`` (dict), ``notes`` (list of
    str) and ``spans`` (list of dicts, in stored order) as Python objects rather than the stored JSON text.
    """
    if decode:
        from tracker.records.frames import decode_nested

        return decode_nested(load_runs(store, limit=limit, **filters))
    from tracker.stores import open_configured

    return open_configured(store).dataframe(limit=limit, **filters)


def load_steps(run_id: str, store: str | None = None) -> pd.DataFrame:
    """A run's steps (``run.step(...)``) as a pandas DataFrame, in order: energy per component, emissions,
    duration, ``power_w``, energy and emissions per sample / token where counts were given, and one column per
    metric the steps carried (``docs/ml.md``). Empty for a run without steps."""
    from tracker.records.steps import frame
    from tracker.stores import open_configured

    return frame(open_configured(store).steps(run_id))


def summarize(runs: pd.DataFrame | None = None, **options: Any) -> pd.DataFrame:
    """Roll-up totals per project (or any labels: ``by=("team", "project")``) and period (``period="month"``).

    ``runs``: a DataFrame from :func:`load_runs`, else the store's runs (``store=``), totalled inside the store
    where it can (SQL). Options and columns: :func:`tracker.reports.summary.summarize` and ``docs/reports.md``.
    """
    from tracker.reports.summary import summarize as _summarize

    return _summarize(runs, **options)


def estimate(energy_kwh: float | None = None, **options: Any) -> Estimate:
    """The carbon of energy measured elsewhere (a meter, a data-centre day), accounted like a run.

    ``tracker.estimate(1000, start=..., end=..., pue=1.3, suppliers=[("a", 80, 0.008), ("b", 20, 0.01)])``;
    see :func:`tracker.carbon.estimates.estimate`.
    """
    from tracker.carbon.estimates import estimate as _estimate

    return _estimate(energy_kwh, **options)
