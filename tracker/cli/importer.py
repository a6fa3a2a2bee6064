"""``tracker import codecarbon FILE``: bring CodeCarbon's emissions.csv into the store (idempotent).

Lines that cannot be imported are listed (file, line, reason) and the others imported; exit 1 when any was
rejected."""

from __future__ import annotations

import argparse
import sys
from typing import Any

ORDER = 60
SHOWN = 20  # rejected lines listed one by one; the count says the rest


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "import", help="import runs measured by another tool (CodeCarbon) or a cloud provider's footprint export"
    )
    parser.add_argument(
        "source",
        choices=("codecarbon", "aws-ccft", "gcp-carbon", "azure-emissions", "ccf"),
        help="who wrote the file: CodeCarbon's emissions.csv, AWS CCFT data export, Google Cloud Carbon Footprint "
        "export, Azure Emissions Impact Dashboard data, Cloud Carbon Footprint estimates (docs/datacentre.md)",
    )
    parser.add_argument("file", help="the file (CSV; JSON for ccf)")
    parser.add_argument("--store", default=None, help="SQLite/CSV path or URL (default: the configured store)")
    parser.add_argument("--project", default=None, help="use this project instead of the file's project_name")
    parser.add_argument("--team", default=None, help="the team of the imported runs (where --mapping names none)")
    parser.add_argument("--organisation", default=None, help="their organisation (where --mapping names none)")
    parser.add_argument(
        "--mapping",
        default=None,
        help="CSV: match (a CodeCarbon project name, cloud account, project or subscription), project, team, "
        "organisation",
    )
    parser.set_defaults(func=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    from tracker.importers.codecarbon import import_codecarbon
    from tracker.stores import open_configured

    store = open_configured(args.store)
    if args.source != "codecarbon":
        return _cloud(args, store)
    result = import_codecarbon(
        args.file, store, project=args.project, team=args.team, organisation=args.organisation, mapping=args.mapping
    )
    from tracker.safetext import printable

    for reason in result.rejected[:SHOWN]:
        print(f"rejected {printable(reason)}", file=sys.stderr)
    if len(result.rejected) > SHOWN:
        print(f"... and {len(result.rejected) - SHOWN} more rejected lines", file=sys.stderr)
    print(
        f"{args.file}: {result.lines} lines, {result.records} runs: {result.added} added, "
        f"{result.updated} updated, {result.unchanged} already in {store.location}"
        f"{f', {len(result.rejected)} lines rejected' if result.rejected else ''}",
        file=sys.stderr,
    )
    return 1 if result.rejected else 0  # the good lines are imported; a script still notices the others


def _cloud(args: argparse.Namespace, store: Any) -> int:
    from tracker.footprint.cloud import import_cloud
    from tracker.importers.labels import load_label_map

    labels = load_label_map(args.mapping, project=args.project, team=args.team, organisation=args.organisation)
    result = import_cloud(args.source, args.file, store, labels)
    print(
        f"{args.file}: {result.lines} lines, {result.records} records: {result.added} added, "
        f"{result.unchanged} already in {store.location}",
        file=sys.stderr,
    )
    return 0
