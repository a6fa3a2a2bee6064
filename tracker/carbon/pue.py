"""Power usage effectiveness: a constant, a provider's published fleet value, or a site's schedule.

PUE multiplies IT energy once, at the time the energy was used: ``accounting`` asks :meth:`Pue.at` for each UTC
hour bucket of a run. A schedule is a CSV of daily (``2026-11-23``) or monthly (``2026-11``) values for one
site; a day's value wins over its month's, and an hour the schedule does not cover uses the constant (1.0 unless
``pue=`` says otherwise) and the record says so.
"""

from __future__ import annotations

import csv
import functools
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

from tracker.errors import ConfigError


class ProviderPue(NamedTuple):
    """A published fleet-wide PUE, with where and when it was published."""

    value: float
    year: int
    source: str


# Fleet-wide values as published by each operator (checked against the stored pages listed in
# ../shared/data/PROVENANCE.md, section 6c). A region's own PUE, where published, is better: use a number.
PROVIDER_PUE: dict[str, ProviderPue] = {
    "aws": ProviderPue(1.15, 2024, "AWS global data centres, 2024 (aws.amazon.com/sustainability/data-centers)"),
    "azure": ProviderPue(
        1.18, 2024, "Microsoft data centre portfolio average, reported 2024 (datacenters.microsoft.com/sustainability)"
    ),
    "gcp": ProviderPue(1.10, 2021, "Google fleet trailing-twelve-month PUE, Q2 2021 (google.com/about/datacenters)"),
    "industry": ProviderPue(
        1.56, 2024, "Uptime Institute Global Data Center Survey 2024, industry average (via Green Algorithms)"
    ),
}
PROVIDER_ALIASES = {"amazon": "aws", "microsoft": "azure", "google": "gcp", "average": "industry", "uptime": "industry"}


def provider_pue(name: str) -> ProviderPue | None:
    """The published value for a provider name (``aws``, ``azure``, ``gcp``, ``industry``), any case."""
    key = name.strip().lower()
    return PROVIDER_PUE.get(PROVIDER_ALIASES.get(key, key))


class PueSchedule(NamedTuple):
    """Daily and monthly PUE values of one site, read from a CSV with columns ``date`` and ``pue``."""

    path: str
    daily: dict[str, float]  # "YYYY-MM-DD" -> PUE
    monthly: dict[str, float]  # "YYYY-MM" -> PUE

    @classmethod
    def load(cls, path: str) -> PueSchedule:
        """Read and validate the whole file at start: a bad row is a :class:`ConfigError` naming it."""
        file = _expanded(path)
        try:
            text = file.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise ConfigError("pue_schedule", path, f"cannot read the PUE schedule: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError("pue_schedule", path, f"the PUE schedule is not UTF-8 text (byte {exc.start})") from None
        except ValueError as exc:  # a NUL byte in the path
            raise ConfigError("pue_schedule", path, f"not a usable path: {exc}") from None
        if "\x00" in text:
            raise ConfigError("pue_schedule", path, "the PUE schedule holds a NUL byte: not a CSV text file")
        try:
            return cls._parse(path, text)
        except csv.Error as exc:  # a field over the csv module's limit (128 KiB)
            raise ConfigError("pue_schedule", path, f"not a CSV the schedule can use: {exc}") from None

    @classmethod
    def _parse(cls, path: str, text: str) -> PueSchedule:
        reader = csv.DictReader(text.splitlines())
        fields = {name.strip().lower() for name in reader.fieldnames or []}
        if not {"date", "pue"} <= fields:
            raise ConfigError("pue_schedule", path, "expected a CSV with a header row naming 'date' and 'pue'")
        daily: dict[str, float] = {}
        monthly: dict[str, float] = {}
        for raw in reader:
            number = reader.line_num  # the file's line, blank lines included (the reader skips them)
            row = {str(k).strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
            date, value = row.get("date", ""), row.get("pue", "")
            where = f"{path} line {number}"
            try:
                pue = float(value)
            except ValueError:
                raise ConfigError("pue_schedule", f"{where}: {value!r}", "the PUE must be a number") from None
            if not (math.isfinite(pue) and pue >= 1.0):
                raise ConfigError("pue_schedule", f"{where}: {value}", "PUE must be a number >= 1.0")
            target = _bucket(date, where)
            table = daily if len(target) == 10 else monthly
            if target in table:
                raise ConfigError("pue_schedule", f"{where}: {date}", "this date appears twice")
            table[target] = pue
        if not daily and not monthly:
            raise ConfigError("pue_schedule", path, "the schedule has no rows")
        return cls(str(path), daily, monthly)

    def value(self, moment: datetime) -> float | None:
        """The value for the UTC day of ``moment``, else its month, else ``None``."""
        day = moment.astimezone(timezone.utc).date().isoformat()  # not strftime: "%Y" of the year 999 is "999"
        found = self.daily.get(day)
        return found if found is not None else self.monthly.get(day[:7])


def _expanded(path: str) -> Path:
    """``path`` with ``~`` expanded; :class:`ConfigError` for a ``~user`` with no home (pathlib's RuntimeError)."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        raise ConfigError("pue_schedule", path, "cannot expand '~': no such user or no home directory") from None


def _bucket(date: str, where: str) -> str:
    for pattern, size in (("%Y-%m-%d", 10), ("%Y-%m", 7)):
        try:
            return datetime.strptime(date, pattern).date().isoformat()[:size]  # YYYY-MM-DD, the year in 4 digits
        except ValueError:
            continue
    raise ConfigError("pue_schedule", f"{where}: {date!r}", "dates must be YYYY-MM-DD (daily) or YYYY-MM (monthly)")


class Pue(NamedTuple):
    """What multiplies IT energy: a constant with its source, and optionally a schedule that overrides it."""

    constant: float = 1.0
    source: str = "default (no facility overhead)"
    schedule: PueSchedule | None = None

    def at(self, moment: datetime) -> tuple[float, bool]:
        """The PUE for the hour starting at ``moment``, and whether it came from the schedule."""
        if self.schedule is not None:
            value = self.schedule.value(moment)
            if value is not None:
                return value, True
        return self.constant, False

    def describe(self) -> str:
        if self.schedule is None:
            return self.source
        return f"schedule {self.schedule.path} (else {self.constant:g}: {self.source})"


@functools.lru_cache(maxsize=8)
def _schedule_at(path: str, stamp: tuple[int, int]) -> PueSchedule:
    return PueSchedule.load(path)


def load_schedule(path: str) -> PueSchedule:
    """Read a PUE schedule once per version of the file (a run's end must not re-parse it every time)."""
    try:
        stat = _expanded(path).stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
    except (OSError, ValueError):  # ValueError: a NUL byte in the path (and ConfigError: a ~user without a home)
        stamp = (0, 0)  # PueSchedule.load raises the ConfigError that names the path
    return _schedule_at(path, stamp)


def model_for(constant: float, source: str, schedule: str | None = None) -> Pue:
    """The PUE a configuration asks for (its ``pue``, ``pue_source`` and ``pue_schedule``): the constant with its
    source, and the site's schedule when one is configured (read again when the file changes)."""
    return Pue(constant, source, load_schedule(schedule) if schedule else None)
