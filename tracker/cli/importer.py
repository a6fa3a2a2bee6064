"""``tracker import codecarbon FILE``: bring CodeCarbon's emissions.csv into the store (idempotent)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

ORDER = 60


def register(sub: Any) -> None:
    parser = sub.add_parser("import", help="import runs measured by another tool (CodeCarbon's emissions.csv)")
    parser.add_argument("source", choices=("codecarbon",), help="the tool that wrote the file")
    parser.add_argument("file", help="the CSV file (CodeCarbon 2.x or 3.x columns)")
    parser.add_argument("--store", default=None, help="SQLite/CSV path or URL (default: the configured store)")
    parser.add_argument("--project", default=None, help="use this project instead of the file's project_name")
    parser.set_defaults(func=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    from tracker.importers.codecarbon import import_codecarbon
    from tracker.stores import open_configured

    store = open_configured(args.store)
    result = import_codecarbon(args.file, store, project=args.project)
    print(
        f"{args.file}: {result.lines} lines, {result.records} runs: {result.added} added, "
        f"{result.updated} updated, {result.unchanged} already in {store.location}",
        file=sys.stderr,
    )
    return 0
