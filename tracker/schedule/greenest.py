"""``tracker.greenest``: rank zones, countries and cloud regions by the carbon intensity now or over a window.

Constraints come first, so that a suggestion is always one the user may follow: ``same_provider`` and
``same_country`` (relative to ``near``, the place the work runs today), ``jurisdiction`` (``"EU"``, ``"EEA"``, or
``"same"``: the EU/EEA for a place there, else its country, :mod:`tracker.grid.jurisdictions`) and ``residency``
(the countries the data may be in). What a constraint left out is listed with the reason.

One basis for all: the forecasts of every remaining candidate (the value at ``at``, or the overlap-weighted average
over ``[at, at + duration)``) when every one has a forecast of the same signal; otherwise the embedded yearly
averages for all of them, with a note saying why. A marginal signal is never ranked against an average one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from tracker.errors import ConfigError, TrackerError
from tracker.grid.forecast import YEARLY_ONLY, Forecast, ForecastProvider
from tracker.grid.forecast_chain import default_providers, forecast
from tracker.grid.jurisdictions import EEA, EU
from tracker.grid.jurisdictions import jurisdiction as jurisdiction_of
from tracker.grid.partitions import partition, same_partition
from tracker.grid.zones import zone_table
from tracker.schedule import spans
from tracker.schedule.places import Place, place
from tracker.schedule.windows import Curve, NoWindow


@dataclass(frozen=True)
class Ranked:
    """One candidate's figure on the ranking's basis."""

    place: str
    zone: str
    country: str | None
    g_per_kwh: float
    provider: str | None = None
    region: str | None = None


@dataclass
class Ranking:
    """Candidates, greenest first, all on one ``basis``; iterable like a list."""

    items: list[Ranked]
    basis: str  # "forecast: Electricity Maps forecast, 2026-...: 1 h from ..." or "yearly averages (...)"
    signal: str = "average"
    excluded: list[tuple[str, str]] = field(default_factory=list)  # (place, why)
    notes: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[Ranked]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def best(self) -> Ranked | None:
        return self.items[0] if self.items else None

    def to_json(self) -> dict[str, object]:
        return {
            "basis": self.basis,
            "signal": self.signal,
            "ranking": [vars(r) for r in self.items],
            "excluded": [{"place": p, "why": w} for p, w in self.excluded],
            "notes": list(self.notes),
        }


def _allowed(
    c: Place,
    near: Place | None,
    same_provider: bool,
    same_country: bool,
    jurisdiction: str | None,
    residency: frozenset[str] | None,
) -> str | None:
    """Why ``c`` is left out, or None when it is allowed."""
    if same_provider and near is not None and c.provider != near.provider:
        return f"not a {near.provider or 'grid zone'} place like {near.label}"
    if (
        same_provider
        and near is not None
        and near.provider
        and c.region
        and near.region
        and not same_partition(near.provider, near.region, c.region)  # GovCloud, China: another cloud
    ):
        return f"another {near.provider} partition ({partition(near.provider, c.region)}) than {near.label}"
    if same_country and near is not None and c.country != near.country:
        return f"not in {near.country}"
    if jurisdiction == "same" and near is not None and jurisdiction_of(c.country) != jurisdiction_of(near.country):
        return f"outside {jurisdiction_of(near.country)}"
    if jurisdiction in ("EU", "EEA") and (c.country or "") not in (EU if jurisdiction == "EU" else EEA):
        return f"outside the {jurisdiction}"
    if residency is not None and (c.country or "") not in residency:
        return f"{c.country or 'no country'} is not in the residency list"
    return None


def greenest(
    candidates: Iterable[str | Place],
    at: object = None,
    duration: object = None,
    *,
    near: str | Place | None = None,
    same_provider: bool = False,
    same_country: bool = False,
    jurisdiction: str | None = None,
    residency: Sequence[str] | None = None,
    providers: Sequence[ForecastProvider] | None = None,
    now: datetime | None = None,
) -> Ranking:
    """The allowed candidates, greenest first (see the module docstring). ``at``: a ``datetime``, ISO text or a
    span from now (default now); ``duration``: the run's length (default: the value at ``at``)."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    places = [c if isinstance(c, Place) else place(c, "candidates") for c in candidates]
    if not places:
        raise ConfigError("candidates", [], "give at least one zone, country or cloud region")
    home = place(near, "near") if isinstance(near, str) else near
    if jurisdiction is not None:
        jurisdiction = jurisdiction.upper() if jurisdiction.lower() != "same" else "same"
        if jurisdiction not in ("EU", "EEA", "same"):
            raise ConfigError("jurisdiction", jurisdiction, "expected EU, EEA or same")
    if home is None and (same_provider or same_country or jurisdiction == "same"):
        raise ConfigError("near", None, "same_provider, same_country and jurisdiction='same' need near=<place>")
    allowed_countries = None
    if residency is not None:
        table = zone_table()
        allowed_countries = frozenset(table.canonical(c, "residency") for c in residency)
    start = spans.moment("at", at, now) if at is not None else now
    length = spans.seconds("duration", duration) if duration is not None else None
    kept: list[Place] = []
    excluded: list[tuple[str, str]] = []
    for c in dict.fromkeys(places):
        why = _allowed(c, home, same_provider, same_country, jurisdiction, allowed_countries)
        if why is None:
            kept.append(c)
        else:
            excluded.append((c.label, why))
    chain = default_providers() if providers is None else list(providers)
    ranking, why = _by_forecast(kept, start, length, chain) if chain and kept else (None, YEARLY_ONLY)
    if ranking is None:
        ranking = _by_year(kept, why if at is not None or length is not None else None)
    ranking.excluded = excluded
    return ranking


def _by_forecast(
    kept: list[Place], start: datetime, length: float | None, chain: Sequence[ForecastProvider]
) -> tuple[Ranking | None, str]:
    """The ranking on forecasts, or None and why not (a candidate without a forecast, or mixed signals)."""
    figures: dict[str, float] = {}
    found: dict[str, Forecast] = {}
    for zone in dict.fromkeys(c.zone for c in kept):
        try:
            data = forecast(zone, providers=chain)
            curve = Curve(data.starts_s, data.durations_s, data.values)
            if length is None:
                value = data.at(start)
                if value is None:
                    raise NoWindow(f"the forecast does not cover {start.isoformat()}")
            else:
                value = curve.average(start.timestamp(), length)
        except TrackerError as exc:
            return None, f"{zone}: {exc}"
        figures[zone], found[zone] = value, data
    signals = {d.signal for d in found.values()}
    if len(signals) > 1:
        return None, "the forecasts mix marginal and average signals"
    sources = sorted({d.source for d in found.values()})
    when = start.strftime("%Y-%m-%d %H:%M UTC")
    span = f"average over {length / 3600:g} h from {when}" if length else f"at {when}"
    items = sorted(
        (Ranked(c.label, c.zone, c.country, figures[c.zone], c.provider, c.region) for c in kept),
        key=lambda r: (r.g_per_kwh, r.place),
    )
    return Ranking(items, f"forecast ({', '.join(sources)}), {span}", signals.pop()), ""


def _by_year(kept: list[Place], why: str | None) -> Ranking:
    """Every candidate's embedded yearly figure; ``why``: the reason a time was asked for and not used."""
    table = zone_table()
    items = []
    kinds = set()
    for c in kept:
        row = table.get(c.zone)
        kinds.add((row.factor_type, row.source.split(";")[0]))
        items.append(Ranked(c.label, c.zone, c.country, row.g_per_kwh, c.provider, c.region))
    items.sort(key=lambda r: (r.g_per_kwh, r.place))
    notes = []
    if why is not None:
        notes.append(f"no forecast for every candidate ({why}): ranked by yearly averages, not at the time asked")
    if len({k[0] for k in kinds}) > 1:
        notes.append("the yearly figures mix lifecycle and direct (combustion-only) factors: compare with care")
    basis = "yearly averages (" + "; ".join(sorted({f"{s}, {f}" for f, s in kinds})) + ")"
    return Ranking(items, basis, "average", notes=notes)
