"""``tracker where``: rank places (zones, countries, cloud regions) by carbon intensity now or over a window."""

from __future__ import annotations

import argparse
import json
from typing import Any

ORDER = 47


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "where",
        help="rank zones, countries or cloud regions by carbon intensity (now, or over a window)",
        description="Forecasts when every candidate has one, else the embedded yearly averages (said so).",
    )
    parser.add_argument("candidates", nargs="+", help="NL, DE, aws:eu-west-1, gcp:europe-west4, ...")
    parser.add_argument("--duration", help="the run's length: rank by the average over it (1h)")
    parser.add_argument("--at", help="when the run would start: ISO 8601 time or a span from now (default now)")
    parser.add_argument("--near", help="where the work runs today (for --same-provider/--same-country)")
    parser.add_argument("--same-provider", action="store_true", help="only the same cloud provider as --near")
    parser.add_argument("--same-country", action="store_true", help="only the same country as --near")
    parser.add_argument("--jurisdiction", help="EU, EEA, or same (as --near: the EU/EEA, else its country)")
    parser.add_argument("--residency", help="the countries the data may be in, comma-separated (DE,FR,NL)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(func=cmd_where)


def cmd_where(args: argparse.Namespace) -> int:
    from tracker.schedule.greenest import greenest

    ranking = greenest(
        args.candidates,
        at=args.at,
        duration=args.duration,
        near=args.near,
        same_provider=args.same_provider,
        same_country=args.same_country,
        jurisdiction=args.jurisdiction,
        residency=[c for c in args.residency.split(",") if c.strip()] if args.residency else None,
    )
    if args.format == "json":
        print(json.dumps(ranking.to_json(), indent=2))
        return 0
    from tracker.safetext import printable

    kind = "marginal (MOER) g/kWh" if ranking.signal == "marginal" else "gCO2e/kWh"
    lines = [f"ranked by {ranking.basis}"]
    first = ranking.best
    for i, r in enumerate(ranking, 1):
        less = ""
        if first is not None and r is not first and r.g_per_kwh > 0:
            less = f"  (the first: {100 * (r.g_per_kwh - first.g_per_kwh) / r.g_per_kwh:.0f} % less)"
        lines.append(f"{i:>3}. {r.place:<24} {r.g_per_kwh:>7.0f} {kind} [{r.zone}]{less}")
    lines.extend(f"  left out: {p}: {why}" for p, why in ranking.excluded)
    lines.extend(f"note: {n}" for n in ranking.notes)
    print("\n".join(printable(line) for line in lines))
    return 0
