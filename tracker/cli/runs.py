"""``tracker runs``: the most recent runs in the store, as a table or as JSON records."""

from __future__ import annotations

import argparse
import json
from typing import Any

ORDER = 30


def register(sub: Any) -> None:
    parser = sub.add_parser("runs", help="list recent runs")
    parser.add_argument("--store", default=None)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--project", default=None)
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(func=cmd_runs)


def cmd_runs(args: argparse.Namespace) -> int:
    from tracker.stores import open_configured

    store = open_configured(args.store)
    records = store.records(limit=args.limit, project=args.project)
    if args.format == "json":
        print(json.dumps([r.to_json() for r in records], indent=2))
        return 0
    if not records:
        print("no runs yet")
        return 0
    header = f"{'started (UTC)':<20} {'project':<16} {'status':<11} {'duration':>10} {'energy Wh':>11} {'g CO2e':>10}"
    print(header)
    for r in records:
        print(
            f"{r.started_at.strftime('%Y-%m-%d %H:%M:%S'):<20} {r.project[:16]:<16} {r.status:<11} "
            f"{r.duration_s:>9.1f}s {r.energy_kwh * 1000:>11.4f} {r.emissions_kg * 1000:>10.4f}"
        )
    return 0
