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
    from contextlib import AbstractContextManager

    import pandas as pd

    from tracker.carbon.estimates import Estimate
    from tracker.schedule.greenest import Ranking
    from tracker.schedule.waiting import Waited
    from tracker.schedule.when import Window

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
    "best_window",
    "current_run",
    "estimate",
    "greenest",
    "load_runs",
    "load_steps",
    "propagate",
    "summarize",
    "task",
    "track",
    "wait_for_green",
    "when_green",
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


def estimate(energy_kwh: float | None = None, *, save: bool = False, **options: Any) -> Estimate:
    """The carbon of energy measured elsewhere (a meter, a data-centre day), accounted like a run.

    ``tracker.estimate(1000, start=..., end=..., pue=1.3, suppliers=[("a", 80, 0.008), ("b", 20, 0.01)])``;
    see :func:`tracker.carbon.estimates.estimate`. ``save=True`` also stores it as a record (``kind`` estimate)
    labelled with ``project=``, ``team=``, ``organisation=``... in the configured store (``store=``), once however
    often it is saved (:mod:`tracker.footprint.saved`).
    """
    from tracker.carbon.estimates import estimate as _estimate

    result = _estimate(energy_kwh, **options)
    if save:
        from tracker.footprint.saved import save_estimate

        settings = {k: v for k, v in options.items() if k not in ("start", "end", "hourly")}
        save_estimate(result, settings)
    return result


def best_window(zone: str, duration: Any, within: Any = None, deadline: Any = None, **options: Any) -> Window:
    """When to start a run of ``duration`` in ``zone`` (a zone, country or ``aws:eu-west-1``) for the lowest
    forecast intensity: ``tracker.best_window("NL", "2h", within="12h")``. The start, the expected average, the
    intensity if started now and the saving; see :func:`tracker.schedule.when.best_window`."""
    from tracker.schedule.places import place
    from tracker.schedule.when import best_window as _best_window

    return _best_window(place(zone).zone, duration, within, deadline, **options)


def wait_for_green(zone: str, max_intensity: float | None = None, deadline: Any = None, duration: Any = None,
                   **options: Any) -> AbstractContextManager[Waited]:  # fmt: skip
    """``with tracker.wait_for_green("NL", max_intensity=200, deadline="6h"):`` waits (interruptibly) until the
    forecast is that green, the best window begins or the deadline passes; runs started inside record the wait.
    See :mod:`tracker.schedule.waiting`."""
    from tracker.schedule.places import place
    from tracker.schedule.waiting import wait_for_green as _wait_for_green

    return _wait_for_green(place(zone).zone, max_intensity, deadline, duration, **options)


def when_green(zone: str, max_intensity: float | None = None, deadline: Any = None, duration: Any = None,
               **options: Any) -> Any:  # fmt: skip
    """``@tracker.when_green("NL", max_intensity=200, deadline="6h")`` above ``@track``: each call waits for a
    greener grid first (see :func:`wait_for_green`)."""
    from tracker.schedule.places import place
    from tracker.schedule.waiting import when_green as _when_green

    return _when_green(place(zone).zone, max_intensity, deadline, duration, **options)


def greenest(candidates: Any, at: Any = None, duration: Any = None, **constraints: Any) -> Ranking:
    """Rank zones, countries and cloud regions (``["aws:eu-west-1", "aws:eu-north-1", "NL"]``) by intensity now,
    at ``at`` or over ``duration``; constraints ``near=``, ``same_provider=``, ``same_country=``,
    ``jurisdiction="EU"|"EEA"|"same"``, ``residency=[...]``. See :func:`tracker.schedule.greenest.greenest`."""
    from tracker.schedule.greenest import greenest as _greenest

    return _greenest(candidates, at, duration, **constraints)
