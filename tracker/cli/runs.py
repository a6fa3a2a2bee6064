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
    lines = [header]
    for r in records:
        lines.append(
            f"{r.started_at.strftime('%Y-%m-%d %H:%M:%S'):<20} {clip(label(r.project), 16):<16} "
            f"{clip(label(r.team) if r.team else '', 12):<12} {label(r.status):<11} {duration(r.duration_s):>9} "
            f"{number(r.energy_kwh * 1000):>10} {number(r.emissions_kg * 1000):>9}"
        )
    return "\n".join(lines) + "\n"
