"""``tracker zones``: list the embedded countries, grid zones, US states and cloud regions."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

ORDER = 41


def register(sub: Any) -> None:
    parser = sub.add_parser("zones", help="list the embedded zones, countries and cloud regions")
    parser.add_argument("--kind", choices=("country", "zone", "us-state", "cloud"), default=None)
    parser.add_argument("--provider", choices=("aws", "gcp", "azure"), default=None, help="with --kind cloud")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(func=cmd_zones)


def cmd_zones(args: argparse.Namespace) -> int:
    from tracker.grid.zones import zone_table

    table = zone_table()
    clouds = table.cloud_regions(args.provider) if args.kind in (None, "cloud") else []
    rows = table.rows(args.kind) if args.kind != "cloud" else []
    if args.format == "json":
        print(json.dumps({"zones": [asdict(r) for r in rows], "cloud_regions": [asdict(c) for c in clouds]}, indent=2))
        return 0
    if rows:
        print(f"{'zone':<14} {'kind':<9} {'g/kWh':>8} {'year':>5} {'factor':<9} name")
        for r in rows:
            print(f"{r.zone:<14} {r.kind:<9} {r.g_per_kwh:>8g} {r.year:>5} {r.factor_type:<9} {r.name}")
    if clouds:
        if rows:
            print()
        print(f"{'provider':<8} {'region':<24} {'zone':<14} {'country':<7} {'own g/kWh':>9} location")
        for c in clouds:
            own = f"{c.g_per_kwh:g}" if c.g_per_kwh is not None else "-"
            print(f"{c.provider:<8} {c.region:<24} {c.zone:<14} {c.country:<7} {own:>9} {c.location}")
    print(f"\n{len(rows)} intensity rows, {len(clouds)} cloud regions; sources: tracker/data/PROVENANCE.md")
    return 0
