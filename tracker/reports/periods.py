"""Calendar periods of a run's start (UTC) as text keys, computed the same way in Python, pandas and SQLite.

A roll-up by period groups runs by a text label: ``2026-11-23`` (day), ``2026-W47`` (ISO 8601 week, so the
year is the ISO week-numbering year: 2027-01-01 is in ``2026-W53``), ``2026-11`` (month), ``2026-Q4``
(quarter), ``2026`` (year). Labels sort in time order as text, which is why they are text and not dates.
Every implementation here must give the same label for the same instant; tests compare them.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from tracker.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

PERIODS = ("day", "week", "month", "quarter", "year")


def check_period(period: str | None) -> str | None:
    """The period name, or :class:`ConfigError` for one that no roll-up knows."""
    if period is None or period in PERIODS:
        return period
    raise ConfigError("period", period, f"expected one of {', '.join(PERIODS)}")


def period_key(moment: datetime, period: str) -> str:
    """The label of the period that holds ``moment`` (read as UTC when naive)."""
    check_period(period)
    moment = moment.astimezone(timezone.utc) if moment.tzinfo else moment
    if period == "day":
        return moment.strftime("%Y-%m-%d")
    if period == "week":
        year, week, _ = moment.isocalendar()
        return f"{year:04d}-W{week:02d}"
    if period == "month":
        return moment.strftime("%Y-%m")
    if period == "quarter":
        return f"{moment.year:04d}-Q{(moment.month - 1) // 3 + 1}"
    return f"{moment.year:04d}"


def _start(label: str, period: str) -> datetime:
    """The first instant (UTC) of the period named ``label``."""
    if period == "week":
        year, week = label.split("-W")
        return datetime.fromisocalendar(int(year), int(week), 1).replace(tzinfo=timezone.utc)
    if period == "quarter":
        year, quarter = label.split("-Q")
        return datetime(int(year), 3 * int(quarter) - 2, 1, tzinfo=timezone.utc)
    parts = [int(p) for p in label.split("-")] + [1, 1]
    return datetime(parts[0], parts[1], parts[2], tzinfo=timezone.utc)


def period_labels(first: str, last: str, period: str) -> list[str]:
    """Every period label from ``first`` to ``last`` inclusive, in time order (charts show empty periods too)."""
    check_period(period)
    moment, end = _start(first, period), _start(last, period)
    labels = []
    while moment <= end:
        labels.append(period_key(moment, period))
        if period in ("day", "week"):
            moment += timedelta(days=1 if period == "day" else 7)
        else:
            months = {"month": 1, "quarter": 3, "year": 12}[period]
            index = moment.year * 12 + moment.month - 1 + months
            moment = moment.replace(year=index // 12, month=index % 12 + 1)
    return labels


def period_series(started: pd.Series, period: str) -> pd.Series:
    """Vectorised :func:`period_key` over a UTC datetime column (pandas)."""
    check_period(period)
    if period == "day":
        return started.dt.strftime("%Y-%m-%d")
    if period == "month":
        return started.dt.strftime("%Y-%m")
    if period == "year":
        return started.dt.strftime("%Y")
    if period == "quarter":
        return started.dt.strftime("%Y") + "-Q" + started.dt.quarter.astype(str)
    iso = started.dt.isocalendar()
    return iso["year"].astype(str).str.zfill(4) + "-W" + iso["week"].astype(str).str.zfill(2)


def sql_period(column: str, period: str) -> str:
    """A SQLite expression for the label of ``column`` (ISO 8601 UTC text, as the stores write it).

    ISO weeks without ``%V`` (SQLite only gained it in 3.46): the Thursday of a date's ISO week is
    ``date(d, '-3 days', 'weekday 4')``; its calendar year is the ISO year and its day of the year gives the week.
    """
    check_period(period)
    if period == "day":
        return f"substr({column}, 1, 10)"
    if period == "month":
        return f"substr({column}, 1, 7)"
    if period == "year":
        return f"substr({column}, 1, 4)"
    if period == "quarter":
        return f"substr({column}, 1, 4) || '-Q' || ((CAST(substr({column}, 6, 2) AS INTEGER) + 2) / 3)"
    thursday = f"date(substr({column}, 1, 10), '-3 days', 'weekday 4')"
    return (
        f"strftime('%Y', {thursday}) || '-W' || "
        f"printf('%02d', (CAST(strftime('%j', {thursday}) AS INTEGER) - 1) / 7 + 1)"
    )


def as_utc(moment: Any) -> datetime | None:
    """A ``since``/``until`` bound as an aware UTC datetime (a naive one is read as UTC; a date string works)."""
    if moment is None:
        return None
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ConfigError("since/until", moment, "expected an ISO 8601 date or date-time") from exc
    if not isinstance(moment, datetime):
        raise ConfigError("since/until", moment, "expected a datetime or an ISO 8601 string")
    return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
