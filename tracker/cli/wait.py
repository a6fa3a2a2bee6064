"""``tracker wait ... -- CMD``: wait for a greener grid, then run and track the command; its exit code.

For CI jobs and cron entries. Ctrl-C while waiting exits 130 and writes nothing (no command ran); once the
command runs, it is tracked as by ``tracker run``, and its record carries ``waited_s`` and ``scheduled_by``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tracker.cli._common import add_settings, command, settings

ORDER = 46


def register(sub: Any) -> None:
    parser = sub.add_parser("wait", help="wait for a greener grid, then run a command and track it")
    parser.add_argument("--max-intensity", type=float, help="start once the forecast is at or under this (g/kWh)")
    parser.add_argument(
        "--deadline",
        help="start by then at the latest (6h, or an ISO 8601 time: local time unless it has Z or an offset; "
        "default 24h)",
    )
    parser.add_argument(
        "--signal",
        choices=("average", "marginal"),
        default="average",
        help="what --max-intensity is: grid-average (default) or marginal (WattTime's MOER, g/kWh); a forecast "
        "of the other kind is never compared with it",
    )
    parser.add_argument("--duration", help="the command's expected length: also start when its best window begins")
    add_settings(parser, "run")
    parser.add_argument("cmd", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    parser.set_defaults(func=cmd_wait)


def cmd_wait(args: argparse.Namespace) -> int:
    from tracker.cli.run import execute
    from tracker.core import scheduled
    from tracker.schedule.places import configured as configured_place
    from tracker.schedule.waiting import wait

    cmd = command(args, "tracker wait: give a command after --, e.g. tracker wait --zone NL -- make")
    if cmd is None:
        return 2
    values = settings(args)  # --zone, --country or --cloud: where to wait for, and where the run is accounted
    # resolved as the run itself will be (flags, then TRACKER_ZONE & co., the config file, detection): the wait
    # is for the grid the run is accounted in
    where = configured_place(values)
    if where is None:
        print(
            "tracker wait: say where with --zone, --country or --cloud (or TRACKER_ZONE, TRACKER_COUNTRY, the "
            "config file)",
            file=sys.stderr,
        )
        return 2
    try:
        waited = wait(where.zone, args.max_intensity, args.deadline, args.duration, signal=args.signal)
    except KeyboardInterrupt:
        print("tracker wait: interrupted while waiting; nothing ran, nothing written", file=sys.stderr)
        return 130
    print(
        f"tracker: waited {waited.waited_s:.0f} s ({waited.scheduled_by}; forecast "
        f"{'unknown' if waited.forecast_g_per_kwh is None else f'{waited.forecast_g_per_kwh:.0f} g/kWh'})",
        file=sys.stderr,
    )
    token = scheduled.pending.set(waited.as_scheduled())
    try:
        return execute(cmd, values)
    finally:
        scheduled.pending.reset(token)
