"""What shifting would have saved: per project, each run moved to the best window of its day (same zone) or to
the greenest allowed place of the same kind, in kg CO2e and percent.

**In time.** For each run, the hourly intensities of its UTC day (from the intensity provider: Electricity Maps
history with a token) give the average over the run's own window and over the best window of the same length
that day (:func:`tracker.schedule.windows.best_window`, the Carbon Aware SDK's overlap-weighted average); the
saving is the run's grid energy x the difference. Both figures come from the same hourly series, so the
comparison is like for like even where the run was accounted with yearly values. Without hourly data for a
zone, its runs are not compared in time, and the result says why.

**In place.** The run's energy at the yearly intensity of its place against the greenest allowed alternative:
the same provider's regions for a cloud region, the neighbouring zones for a zone or country, in both cases
within the same jurisdiction for data (:mod:`tracker.grid.jurisdictions`), on the embedded yearly figures of one
factor type (as :mod:`tracker.reports.recommend` compares them).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from tracker.errors import ConfigError, TrackerError
from tracker.grid.jurisdictions import same_jurisdiction
from tracker.grid.partitions import same_partition
from tracker.records.schema import parse_iso

if TYPE_CHECKING:
    from tracker.grid.intensity import Intensity, IntensityProvider
    from tracker.stores.base import Store

logger = logging.getLogger(__name__)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
WINDOW_DAYS = timedelta(days=2)  # the hours read for a run's day: 48 h from its 00:00 UTC (a run may cross midnight)
# Hours asked for at once: Electricity Maps' past-range answers at most 10 days at hourly granularity (API v3), so
# one span is one request.
FETCH_SPAN = timedelta(days=10)


@dataclass
class ShiftSaving:
    """One project's runs, and what moving them in time or place would have saved."""

    project: str
    runs: int
    energy_kwh: float  # drawn from the grid (facility energy)
    emissions_kg: float  # as recorded (location-based)
    time_runs: int  # runs compared in time (hourly data for their day)
    time_baseline_kg: float  # those runs at the hourly intensities of their own windows
    time_saved_kg: float
    place_runs: int  # runs with a known place and an allowed alternative compared
    place_baseline_kg: float  # those runs at their place's yearly intensity
    place_saved_kg: float
    time_note: str = ""  # why some runs were not compared in time (and how many)
    place_note: str = ""
    time_skipped: int = 0  # runs with energy not compared in time (no hourly data for their day, too long, ...)

    @property
    def time_saved_pct(self) -> float | None:
        return 100.0 * self.time_saved_kg / self.time_baseline_kg if self.time_baseline_kg > 0 else None

    @property
    def place_saved_pct(self) -> float | None:
        return 100.0 * self.place_saved_kg / self.place_baseline_kg if self.place_baseline_kg > 0 else None

    def to_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["time_saved_pct"] = self.time_saved_pct
        out["place_saved_pct"] = self.place_saved_pct
        return out


def shifting(
    store: Store,
    provider: IntensityProvider,
    since: datetime | None = None,
    until: datetime | None = None,
    **filters: Any,
) -> list[ShiftSaving]:
    """Per project (most emitting first), the savings of shifting each run in time and in place. Runs only (kind
    ``run``, selected by the store's query): an equipment day, a cloud export or an estimate is not a job that could
    have started at another hour or in another region."""
    from tracker.grid.intensity import EmbeddedIntensity
    from tracker.grid.location import Location

    filters = {**filters, "kind": "run"}
    rows = [r for r in store.rows(since=since, until=until, **filters) if r.get("status") != "running"]
    yearly = EmbeddedIntensity()
    hourly_cache: dict[tuple[str, datetime], list[tuple[float, float]] | str] = {}
    place_cache: dict[tuple[Any, ...], tuple[float, float] | None] = {}
    projects: dict[str, ShiftSaving] = {}
    _prefetch(hourly_cache, provider, yearly, rows)
    for row in rows:
        energy = float(row.get("facility_energy_kwh") or 0.0)
        project = str(row.get("project") or "")
        item = projects.setdefault(project, ShiftSaving(project, 0, 0.0, 0.0, 0, 0.0, 0.0, 0, 0.0, 0.0))
        item.runs += 1
        item.energy_kwh += energy
        item.emissions_kg += float(row.get("emissions_kg") or 0.0)
        if energy <= 0:
            continue
        zone = row.get("zone") or row.get("country")
        start = parse_iso(row["started_at"])
        duration = max(float(row.get("duration_s") or 0.0), 1.0)
        if zone:
            _in_time(item, hourly_cache, provider, yearly, Location(str(zone), None, "config"), start, duration, energy)
        else:
            item.time_note = "runs without a zone or country are not compared"
            item.time_skipped += 1
        _in_place(item, place_cache, row, energy)
    for item in projects.values():
        if item.time_skipped:  # say how many were left out, not only why the last one was
            item.time_note = (
                f"{item.time_skipped} of {item.time_skipped + item.time_runs} runs not compared in time: "
                + (item.time_note or "no hourly data")
            )
    return sorted(projects.values(), key=lambda p: -p.emissions_kg)


def _prefetch(
    cache: dict[tuple[str, datetime], list[tuple[float, float]] | str],
    provider: IntensityProvider,
    yearly: Any,
    rows: list[dict[str, Any]],
) -> None:
    """The hourly values of every zone's run days, asked for in spans of :data:`FETCH_SPAN` (Electricity Maps'
    past-range limit: one request each), not one request per zone and day: a year of daily runs is ~37 requests,
    not 365. Each span fills the per-day cache that :func:`_day_values` reads; a span that fails (a 429 midway)
    leaves only its own days without hourly data, and the result counts the runs not compared."""
    from tracker.grid.location import Location

    days: dict[str, set[datetime]] = {}
    for row in rows:
        zone = row.get("zone") or row.get("country")
        if not zone or float(row.get("facility_energy_kwh") or 0.0) <= 0:
            continue
        if max(float(row.get("duration_s") or 0.0), 1.0) > DAY.total_seconds():
            continue
        start = parse_iso(row["started_at"]).astimezone(timezone.utc)
        days.setdefault(str(zone), set()).add(start.replace(hour=0, minute=0, second=0, microsecond=0))
    for zone, wanted in days.items():
        where = Location(zone, None, "config")
        pending = sorted(d for d in wanted if (zone, d) not in cache)
        while pending:
            first = pending[0]
            covered = [d for d in pending if d + WINDOW_DAYS <= first + FETCH_SPAN]  # each day's 48 h inside
            hours = [first + timedelta(hours=h) for h in range(int((max(covered) + WINDOW_DAYS - first) / HOUR))]
            try:
                values = provider.intensities(where, hours)
            except TrackerError as exc:
                for day in covered:
                    cache[(zone, day)] = f"hourly data unavailable: {exc}"
            else:
                base = yearly.for_location(where)
                found = [(h.timestamp(), v.g_per_kwh) for h, v in zip(hours, values, strict=True) if not v.note
                         and not _is_yearly(v, base)]  # fmt: skip
                why = next((v.note for v in values if v.note), "")
                for day in covered:
                    lo, hi = day.timestamp(), (day + WINDOW_DAYS).timestamp()
                    mine = [p for p in found if lo <= p[0] < hi]
                    cache[(zone, day)] = mine or _unavailable(why)
            pending = [d for d in pending if d not in covered]


def _unavailable(why: str) -> str:
    if "live intensity unavailable" in why:  # a live provider's fallback note says why (a 429, a refusal)
        return f"hourly data unavailable: {why}"
    return "hourly data unavailable (yearly values only: set ELECTRICITYMAPS_API_TOKEN)"


def _day_values(
    cache: dict[tuple[str, datetime], list[tuple[float, float]] | str],
    provider: IntensityProvider,
    yearly: Any,
    where: Any,
    day: datetime,
) -> list[tuple[float, float]] | str:
    """The hourly readings of 48 hours from ``day`` 00:00 UTC (a run may cross midnight) as (start, g/kWh), or
    why there are none. An hour answered with the yearly value, or a value carried over from another hour (a
    note says so: not published yet), is no reading: it is left out, a hole no window may cross."""
    key = (where.zone, day)
    if key not in cache:
        hours = [day + timedelta(hours=h) for h in range(48)]
        try:
            values = provider.intensities(where, hours)
        except TrackerError as exc:
            cache[key] = f"hourly data unavailable: {exc}"
            return cache[key]
        base = yearly.for_location(where)
        found = [(h.timestamp(), v.g_per_kwh) for h, v in zip(hours, values, strict=True) if not v.note
                 and not _is_yearly(v, base)]  # fmt: skip
        cache[key] = found or "hourly data unavailable (yearly values only: set ELECTRICITYMAPS_API_TOKEN)"
    return cache[key]


def _in_time(
    item: ShiftSaving,
    cache: dict[tuple[str, datetime], list[tuple[float, float]] | str],
    provider: IntensityProvider,
    yearly: Any,
    where: Any,
    start: datetime,
    duration: float,
    energy: float,
) -> None:
    from tracker.schedule.windows import NoWindow, best_window

    if duration > DAY.total_seconds():
        item.time_note = "runs longer than a day are not compared in time"
        item.time_skipped += 1
        return
    day = start.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    readings = _day_values(cache, provider, yearly, where, day)
    if isinstance(readings, str):
        item.time_note = readings
        item.time_skipped += 1
        return
    starts = [t for t, _ in readings]
    values = [v for _, v in readings]
    span = [3600.0] * len(readings)
    t0, t1 = start.timestamp(), start.timestamp() + duration
    try:
        own = best_window(starts, span, values, duration, t0, t1)
        if own.start_s != t0:  # the run's own window is not all known (it starts before the first reading)
            raise NoWindow("the hours of its window are not all known")
        best = best_window(starts, span, values, duration, day.timestamp(), max(day.timestamp() + 86400.0, t1))
    except NoWindow as exc:
        item.time_note = str(exc)
        item.time_skipped += 1
        return
    actual = own.now_g_per_kwh  # the window starting at the run's own start
    item.time_runs += 1
    item.time_baseline_kg += energy * actual / 1000.0
    item.time_saved_kg += energy * max(0.0, actual - best.g_per_kwh) / 1000.0


def _in_place(
    item: ShiftSaving, cache: dict[tuple[Any, ...], tuple[float, float] | None], row: Any, energy: float
) -> None:
    key = (row.get("cloud_provider"), row.get("cloud_region"), row.get("zone"), row.get("country"))
    if key not in cache:
        cache[key] = _place_pair(*key)
    pair = cache[key]
    if pair is None:
        item.place_note = "runs without a known place in the embedded tables are not compared in place"
        return
    here, best = pair
    item.place_runs += 1
    item.place_baseline_kg += energy * here / 1000.0
    item.place_saved_kg += energy * (here - best) / 1000.0


def _place_pair(cloud: Any, region: Any, zone: Any, country: Any) -> tuple[float, float] | None:
    """(the place's yearly g/kWh, the greenest allowed alternative's, or the same when none is greener)."""
    from tracker.grid.zones import zone_table

    table = zone_table()
    try:
        if cloud and region:
            here_region = table.cloud(str(cloud), str(region))
            current = table.get(table.canonical(here_region.zone))
            options = [current.g_per_kwh]
            for other in table.cloud_regions(here_region.provider):
                if not same_jurisdiction(here_region.country, other.country):
                    continue
                if not same_partition(here_region.provider, here_region.region, other.region):
                    continue
                try:
                    row = table.get(table.canonical(other.zone))
                except (ConfigError, KeyError):
                    continue
                if row.factor_type == current.factor_type:
                    options.append(row.g_per_kwh)
            return current.g_per_kwh, min(options)
        if zone or country:
            key = table.canonical(str(zone or country))
            current = table.get(key)
            near = [n.g_per_kwh for n in table.neighbours(key) if same_jurisdiction(current.country, n.country)]
            return current.g_per_kwh, min([current.g_per_kwh, *near])
    except (ConfigError, KeyError) as exc:
        logger.info("no place comparison for %s/%s/%s/%s: %s", cloud, region, zone, country, exc)
    return None


def _is_yearly(value: Intensity, yearly: Intensity) -> bool:
    return value._replace(note="") == yearly._replace(note="")
