"""``tracker runs``: the most recent runs in the store, as a table or as JSON records."""

from __future__ import annotations

import argparse
from typing import Any

from tracker.records.schema import LABELS

ORDER = 30


def register(sub: Any) -> None:
    parser = sub.add_parser("runs", help="list recent runs")
    parser.add_argument("--store", default=None)
    parser.add_argument("--limit", type=int, default=20)
    for label in LABELS:
        parser.add_argument(f"--{label}", default=None, help=f"only runs of this {label}")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(func=cmd_runs)


def cmd_runs(args: argparse.Namespace) -> int:
    from tracker.stores import open_configured

    store = open_configured(args.store)
    filters = {k: getattr(args, k) for k in LABELS if getattr(args, k) is not None}
    records = store.records(limit=args.limit, **filters)
    if args.format == "json":
        from tracker.reports.render.formats.json import dumps

        print(dumps([r.to_json() for r in records]))  # valid JSON whatever a store holds (no Infinity)
        return 0
    print(table(records, filters), end="")
    return 0


def table(records: list[Any], filters: dict[str, str]) -> str:
    """One line per run: when, labels, status, duration, energy (Wh) and emissions (g), three significant
    figures; or why there is nothing to list (an empty store, or filters that match no run)."""
    from tracker.reports.render.labels import clip, label
    from tracker.reports.render.units import duration, number

    if not records:
        if filters:
            return "no run matches " + ", ".join(f"{k} = {label(v)}" for k, v in filters.items()) + "\n"
        return "no runs yet\n"
    header = (
        f"{'started (UTC)':<20} {'project':<16} {'team':<12} {'status':<11} {'duration':>9} {'energy Wh':>10} "
        f"{'g CO2e':>9}"
    )
    counted = any(r.functional_units is not None for r in records)
    if counted:  # only when some run counted functional units: the SCI per unit (docs/methodology.md)
        header += f"  {'functional units':<22} {'CO2e per unit':>14}"
    lines = [header]
    for r in records:
        line = (
            f"{r.started_at.strftime('%Y-%m-%d %H:%M:%S'):<20} {clip(label(r.project), 16):<16} "
            f"{clip(label(r.team) if r.team else '', 12):<12} {label(r.status):<11} {duration(r.duration_s):>9} "
            f"{number(r.energy_kwh * 1000):>10} {number(r.emissions_kg * 1000):>9}"
        )
        if counted:
            line += f"  {_units(r):<22} {_per_unit(r):>14}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _units(record: Any) -> str:
    """``1,326 requests``, or nothing for a run that counted none."""
    from tracker.reports.render.labels import clip, label
    from tracker.reports.render.units import quantity

    if record.functional_units is None:
        return ""
    return clip(f"{quantity(record.functional_units)} {label(record.functional_unit)}", 22)


def _per_unit(record: Any) -> str:
    """The run's SCI, ``(emissions_kg + embodied_kg) / functional_units``, in a mass unit that fits."""
    from tracker.reports.render.units import mass

    if not record.functional_units:  # none counted, or zero units: no rate
        return ""
    return mass((record.emissions_kg + record.embodied_kg) / record.functional_units)
