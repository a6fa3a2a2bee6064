"""``tracker report``: roll-up totals of the stored runs, as a table, JSON, CSV, Markdown or an HTML page;
``--annual YEAR`` gives the yearly statement per organisation; ``--recommend`` the greener regions and hours.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tracker.errors import TrackerError
from tracker.records.schema import LABELS

ORDER = 40


def register(sub: Any) -> None:
    from tracker.reports.render import format_names

    parser = sub.add_parser(
        "report",
        help="totals per project, team, ... and period; HTML with charts; annual statement",
        description="Totals of the stored runs per group and period. Examples: "
        "tracker report --by project --period month; tracker report --format html -o report.html; "
        "tracker report --annual 2026",
    )
    parser.add_argument("--store", default=None, help="SQLite/CSV path or URL (default: the configured store)")
    for label in LABELS:
        parser.add_argument(f"--{label}", default=None, help=f"only runs with this {label}")
    parser.add_argument(
        "--kind", default=None, help="only records of this source: run, equipment, cloud, estimate, imported"
    )
    parser.add_argument("--since", default=None, help="only runs started at or after this UTC date/time")
    parser.add_argument("--until", default=None, help="only runs started before this UTC date/time")
    parser.add_argument(
        "--by",
        action="append",
        default=None,
        help="group by these labels (repeat or comma-separate): organisation, team, project, experiment, job, run, "
        "endpoint, zone, host, ... (default: project)",
    )
    parser.add_argument("--period", choices=("day", "week", "month", "quarter", "year"), default=None)
    parser.add_argument("--format", choices=format_names(), default="table")
    parser.add_argument("-o", "--output", default=None, help="write to this file instead of standard output")
    parser.add_argument("--annual", type=int, default=None, metavar="YEAR", help="the annual statement for YEAR")
    parser.add_argument(
        "--mix",
        default=None,
        metavar="FILE.csv",
        help="with --annual: your own electricity mix per zone (columns zone,fossil_pct,nuclear_pct,renewable_pct,"
        "source); overrides the embedded yearly generation mix of the zone's country",
    )
    parser.add_argument("--recommend", action="store_true", help="greener regions and hours for the runs' zones")
    parser.set_defaults(func=cmd_report)


def _by(values: list[str] | None) -> tuple[str, ...]:
    if not values:
        return ("project",)
    names = [n.strip() for v in values for n in v.split(",")]
    return tuple(n for n in names if n and n not in ("none", "all"))


def cmd_report(args: argparse.Namespace) -> int:
    from tracker.reports.periods import as_utc
    from tracker.stores import open_configured

    store = open_configured(args.store)
    since, until = as_utc(args.since), as_utc(args.until)
    labels = {k: getattr(args, k) for k in LABELS}
    from tracker.reports.render import render

    if args.annual is not None:
        from tracker.grid.mix import read_mix_csv
        from tracker.reports.annual import annual_statement

        given = read_mix_csv(args.mix) if args.mix else None
        statement = annual_statement(store, args.annual, organisation=args.organisation, mix=given)
        return _emit(render(statement, args.format), args.output)
    if args.recommend:
        from tracker.config import resolve
        from tracker.grid.intensity import provider_for
        from tracker.reports.recommend import recommend

        provider = provider_for(resolve({"store": args.store}))
        items = recommend(store, since=since, until=until, provider=provider, **labels)
        return _emit(render(items, args.format), args.output)

    from tracker.reports.data import build_report

    report = build_report(
        store,
        by=_by(args.by),
        period=args.period,
        since=since,
        until=until,
        charts=args.format == "html",
        kind=args.kind,
        **labels,
    )
    if args.format == "html":  # the report's section "What shifting would have saved"
        from tracker.config import resolve
        from tracker.grid.intensity import provider_for
        from tracker.reports.shifting import shifting

        report.shifting = shifting(store, provider_for(resolve({"store": args.store})), since, until, **labels)
    return _emit(render(report, args.format), args.output)


def _emit(text: str, output: str | None) -> int:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return 0
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:  # a folder, a missing one, no permission: said in a line, no traceback
        raise TrackerError(f"cannot write {output}: {exc.strerror or exc}") from None
    print(f"wrote {output}", file=sys.stderr)
    return 0
