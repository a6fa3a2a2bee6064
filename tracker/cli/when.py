"""``tracker when``: the best time to start a run of a given length, for people and for schedulers."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

ORDER = 45


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "when",
        help="the greenest time to start a run of a given length (from the zone's forecast)",
        description="Chooses the start whose window has the lowest forecast intensity (the Carbon Aware SDK's "
        "overlap-weighted average); windows that cross the forecast's horizon are refused. Formats slurm, at "
        "and cron print the start in this machine's local time for sbatch --begin, at -t and crontab.",
    )
    parser.add_argument(
        "--zone",
        help="grid zone, country or cloud region (NL, DE, aws:eu-west-1); default: the configured location "
        "(TRACKER_ZONE, TRACKER_COUNTRY, TRACKER_CLOUD, the config file), as a run resolves it",
    )
    parser.add_argument("--duration", required=True, help="the run's length: 30m, 2h, 1h30m")
    parser.add_argument("--within", help="the run must be over within this span from now (12h)")
    parser.add_argument(
        "--deadline",
        help="the run must be over by then (ISO 8601 time, local unless it has Z or an offset; or a span from now)",
    )
    parser.add_argument("--granularity", choices=("hourly", "15_minutes", "5_minutes"), default="hourly")
    parser.add_argument("--format", choices=("text", "json", "slurm", "at", "cron"), default="text")
    parser.set_defaults(func=cmd_when)


def cmd_when(args: argparse.Namespace) -> int:
    from tracker.grid.forecast import NoForecast
    from tracker.schedule import formats
    from tracker.schedule.places import configured, place
    from tracker.schedule.when import best_window
    from tracker.schedule.windows import NoWindow

    where = place(args.zone) if args.zone else configured()
    if where is None:
        print(
            "tracker when: say where with --zone (or TRACKER_ZONE, TRACKER_COUNTRY, the config file)", file=sys.stderr
        )
        return 2
    try:
        window = best_window(
            where.zone, args.duration, within=args.within, deadline=args.deadline, granularity=args.granularity
        )
    except (NoForecast, NoWindow) as exc:
        print(f"tracker when: {exc}", file=sys.stderr)
        return 1
    if args.format == "json":
        print(json.dumps({"place": where.label, **window.to_json()}, indent=2))
    elif args.format == "slurm":
        print(formats.slurm(window.start))
    elif args.format == "at":
        print(formats.at(window.start))
    elif args.format == "cron":
        print(formats.cron(window.start))
    else:
        print(describe(where.label, window))
    return 0


def describe(label: str, window: Any) -> str:
    """The human answer: when, how green, compared with now, and from what."""
    from tracker.reports.render.units import duration
    from tracker.safetext import printable

    kind = "marginal (MOER)" if window.signal == "marginal" else "gCO2e/kWh"
    start = window.start.strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"start      {start}" + (f" (in {duration(window.delay_s)})" if window.delay_s > 0 else " (now)"),
        f"place      {label} [{window.zone}]",
        f"expected   {window.g_per_kwh:.0f} {kind} over {duration(window.duration_s)}",
        f"if now     {window.now_g_per_kwh:.0f} {kind}: {window.saved_g_per_kwh:.0f} less ({window.saved_pct:.0f} %)",
        f"forecast   {window.source}, to {window.horizon.strftime('%Y-%m-%d %H:%M UTC')} "
        f"({window.compared} starts compared)",
    ]
    lines.extend(f"note       {note}" for note in window.notes)
    return "\n".join(printable(line) for line in lines)
