"""``tracker sync``: deliver the records that wait in the spool because their store was away when they ended.

Exit 0 when nothing is left waiting, 1 otherwise (so a cron job or a CI step notices), and 1 when this sync set
records aside in ``rejected/`` (a store refused them as data; the later syncs no longer count them). Records of the old
``unsaved-records.jsonl`` fallback file are first moved into the spool, for the configured (or given) store.
"""

from __future__ import annotations

import argparse
from typing import Any

ORDER = 40


def register(sub: Any) -> None:
    parser = sub.add_parser("sync", help="deliver spooled records to their stores")
    parser.add_argument("--store", default=None, help="only the records meant for this store")
    parser.add_argument(
        "--to", default=None, help="deliver them to this store instead of their own (one that moved or is gone)"
    )
    parser.set_defaults(func=cmd_sync)


def cmd_sync(args: argparse.Namespace) -> int:
    from tracker.stores import configured_location, spool

    configured = configured_location(args.store)
    if args.to is not None:
        from tracker.stores.locations import check_location

        check_location(args.to)  # a store no back end takes is an error now, not one line per target
    results = spool.sync(location=args.store, legacy_location=configured, to=args.to)
    delivered = sum(r.delivered for r in results)
    left = sum(r.left for r in results)
    into = f" into {spool.label(args.to)}" if args.to is not None else ""
    rejected = sum(len(r.rejected) for r in results)
    for result in results:
        refused = f", {len(result.rejected)} rejected" if result.rejected else ""
        print(f"{spool.label(result.location)}: {result.delivered} delivered{into}, {result.left} left{refused}")
        for error in result.errors:
            print(f"  {error}")
        for where in result.rejected:
            print(f"  rejected (the store refuses the record itself): {where}")
    if rejected:
        print(f"{rejected} record(s) refused as data were set aside in {spool.rejected_dir()}")
    print(f"{delivered} delivered, {left} left" if results else "nothing to deliver")
    return 1 if left or rejected else 0
