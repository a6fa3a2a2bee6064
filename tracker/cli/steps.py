"""``tracker steps RUN_ID``: one run's steps (``run.step(...)``, docs/ml.md) as a table, JSON, CSV or an HTML page
with a per-step chart."""

from __future__ import annotations

import argparse
import sys
from typing import Any

ORDER = 35


def register(sub: Any) -> None:
    parser = sub.add_parser("steps", help="one run's steps (energy, CO2e and metrics per epoch)")
    parser.add_argument("run_id", help="the run's id (tracker runs --format json shows it)")
    parser.add_argument("--store", default=None)
    parser.add_argument("--format", choices=("table", "json", "csv", "html"), default="table")
    parser.add_argument("--output", "-o", default=None, help="write to this file instead of standard output")
    parser.set_defaults(func=cmd_steps)


def cmd_steps(args: argparse.Namespace) -> int:
    from tracker.records.steps import frame
    from tracker.stores import open_configured

    store = open_configured(args.store)
    if args.format == "html":
        from tracker.reports.render.formats.html import HtmlRenderer
        from tracker.reports.steps import build_steps

        text = HtmlRenderer().render(build_steps(store, args.run_id))
    else:
        df = frame(store.steps(args.run_id))
        if args.format == "json":
            text = df.to_json(orient="records") + "\n"
        elif args.format == "csv":
            text = df.to_csv(index=False)
        else:
            text = (df.to_string(index=False) if not df.empty else f"run {args.run_id} has no steps") + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0
