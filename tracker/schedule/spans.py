"""Durations and moments as users write them: ``2h``, ``90m``, ``1h30m``, ``3d``, seconds, ``timedelta``; a
deadline as a duration from now or an ISO 8601 time. A mistake is a :class:`ConfigError` naming the argument."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone

from tracker.errors import ConfigError

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([smhd])")


def seconds(key: str, value: object) -> float:
    """A positive duration in seconds from ``timedelta``, a number (seconds) or text (``2h``, ``1h30m``)."""
    if isinstance(value, timedelta):
        result = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        result = float(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        try:
            result = float(text)
        except ValueError:
            parts = _PART.findall(text)
            if not parts or "".join(n + u for n, u in parts) != text:
                raise ConfigError(key, value, "expected a duration such as 90, 30m, 2h, 1h30m or 3d") from None
            result = sum(float(n) * _UNITS[u] for n, u in parts)
    else:
        raise ConfigError(key, value, "expected a duration (timedelta, seconds, or text such as 2h)")
    if not (math.isfinite(result) and result > 0):
        raise ConfigError(key, value, "the duration must be above zero")
    return result


def moment(key: str, value: object, now: datetime) -> datetime:
    """An absolute UTC time: a ``datetime``, ISO 8601 text, or a duration from ``now``.

    A time without a zone (``2026-03-01T18:00``, a naive ``datetime``) is this machine's local time (``TZ``), as
    ``sbatch --begin``, ``at -t`` and cron read theirs, and as ``tracker when --format slurm/at/cron`` prints its
    answers: one convention for what goes in and what comes out. ``Z`` or an offset says otherwise."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.astimezone()).astimezone(timezone.utc)  # naive: local time
    if isinstance(value, str) and ("-" in value or ":" in value):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(key, value, "expected an ISO 8601 time or a duration from now such as 6h") from None
        return moment(key, parsed, now)
    return now + timedelta(seconds=seconds(key, value))
