"""``tracker datacentre``: a data centre's equipment days accounted and stored beside the runs (issue 17).

    tracker datacentre --inventory inv.csv --power power.parquet --pue pue.csv --suppliers sup.csv \\
        [--sites sites.csv] [--prometheus URL] [--since 2026-03-01 --until 2026-04-01] [--store ...]

Progress (one line a day) goes to stderr, the summary to stdout (``--format json`` for a machine)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, timedelta
from typing import Any

ORDER = 65


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "datacentre", help="account data-centre equipment from its power data and store the days beside the runs"
    )
    parser.add_argument("--inventory", required=True, help="equipment and instances (CSV or Parquet)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--power", help="minute watts per equipment: timestamp, equipment, watts (CSV or Parquet)")
    source.add_argument("--prometheus", metavar="URL", help="a Prometheus-compatible HTTP API (Prometheus, Mimir)")
    parser.add_argument("--pue", help="site, date (YYYY-MM-DD daily or YYYY-MM monthly), pue")
    parser.add_argument("--suppliers", help="site, valid_from, supplier, share_percent, kg_co2e_per_kwh")
    parser.add_argument("--sites", help="site, zone or country, and optionally intensity_g_per_kwh (own factor)")
    parser.add_argument(
        "--selector",
        action="append",
        default=[],
        metavar="CATEGORY=PROMQL",
        help='PromQL selector per category (default: equipment_power_watts{category="..."})',
    )
    parser.add_argument(
        "--integration",
        choices=("avg", "sum"),
        default="avg",
        help="with --prometheus: avg_over_time x 24 h (missing minutes at the day's mean) or sum_over_time "
        "(missing minutes as nothing)",
    )
    parser.add_argument("--label", default="equipment", help="with --prometheus: the label naming the equipment")
    parser.add_argument("--since", type=date.fromisoformat, help="first UTC day (YYYY-MM-DD)")
    parser.add_argument("--until", type=date.fromisoformat, help="day after the last (YYYY-MM-DD)")
    parser.add_argument(
        "--max-gap",
        type=int,
        default=5,
        metavar="MIN",
        help="interpolate gaps of at most this many minutes (default 5); longer ones are missing",
    )
    parser.add_argument("--organisation", help="the organisation label of the records")
    parser.add_argument("--team", help="the team label of instances that name none")
    parser.add_argument("--store", default=None, help="SQLite/CSV path or URL (default: the configured store)")
    parser.add_argument("--dry-run", action="store_true", help="account and summarise, store nothing")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(func=cmd_datacentre)


def cmd_datacentre(args: argparse.Namespace) -> int:
    from tracker.errors import ConfigError
    from tracker.footprint.pipeline import account_datacentre, load_estate

    if args.max_gap < 0:
        raise ConfigError("max-gap", args.max_gap, "give zero or more minutes")
    if args.since and args.until and not args.since < args.until:
        raise ConfigError("since", str(args.since), "since must be before until")

    def progress(line: str) -> None:
        if not args.quiet:
            print(f"tracker datacentre: {line}", file=sys.stderr, flush=True)

    inventory, book = load_estate(args.inventory, args.pue, args.suppliers, args.sites)
    progress(f"inventory: {len(inventory.equipment):,} pieces of equipment at {len(inventory.sites)} sites")
    ids = list(inventory.equipment)
    sites = {item.site for item in inventory.equipment.values()}
    if args.since and args.until:  # a missing location or PUE day refused now, before any day is imported
        book.check_days(sites, args.since, args.until - timedelta(days=1))
    else:
        for site in sorted(sites):
            book.location_of(site)
    if args.prometheus:
        from tracker.footprint.prometheus_source import PrometheusSource, parse_selectors

        if not (args.since and args.until):
            raise ConfigError("since", None, "--prometheus needs --since and --until (the days to ask for)")
        source = PrometheusSource(
            args.prometheus, parse_selectors(args.selector), integration=args.integration, label=args.label
        )
        days = source.days(inventory, args.since, args.until, progress=progress)
    else:
        from tracker.footprint.power import read_power

        days = read_power(
            args.power, ids, max_gap_min=args.max_gap, since=args.since, until=args.until, progress=progress
        )
    store = None
    if not args.dry_run:
        from tracker.stores import open_configured

        store = open_configured(args.store)
    result = account_datacentre(
        inventory, book, days, store=store, organisation=args.organisation, team=args.team, progress=progress
    )
    summary = _summary(result)
    if args.format == "json":
        print(json.dumps(summary, indent=2))
    else:
        _print(summary)
    return 0


def _summary(result: Any) -> dict[str, Any]:
    from dataclasses import asdict

    roll = result.rollup
    return {
        "days": [d.isoformat() for d in result.days],
        "equipment": result.equipment,
        "records": result.records,
        "store": result.store,
        "total": asdict(roll.total),
        "incomplete_equipment_days": len(roll.incomplete),
        "by": {
            level: {k: asdict(v) for k, v in sorted(groups.items())}
            for level, groups in roll.groups.items()
            if level in ("service", "site", "category", "month")
        },
        "runs_on_inventoried_equipment": [{"host": h, "energy_kwh": e} for h, e in result.overlap],
    }


def _print(summary: dict[str, Any]) -> None:
    from tracker.reports.render.units import energy, mass
    from tracker.safetext import printable

    total = summary["total"]
    days = summary["days"]
    span = days[0] if len(days) == 1 else f"{days[0]} .. {days[-1]} ({len(days)} days)"
    print(
        f"data centre {span}: {summary['equipment']:,} pieces of equipment, {summary['records']:,} records"
        + (f" in {summary['store']}" if summary["store"] else " (not stored: --dry-run)")
    )
    print(f"  IT energy        {energy(total['energy_kwh'])}")
    print(f"  facility energy  {energy(total['facility_energy_kwh'])}")
    print(f"  location-based   {mass(total['emissions_kg'])} CO2e")
    print(f"  market-based     {mass(total['emissions_market_kg'])} CO2e")
    if summary["incomplete_equipment_days"]:
        print(
            f"  incomplete       {summary['incomplete_equipment_days']:,} equipment days have minutes missing "
            "(see the records' notes and missing_share tag)"
        )
    for level in ("service", "site", "category"):
        print(f"by {level}:")
        for key, row in summary["by"].get(level, {}).items():
            print(
                f"  {printable(key):<28} {energy(row['energy_kwh']):>12}  {mass(row['emissions_kg']):>10} location"
                f"  {mass(row['emissions_market_kg']):>10} market"
            )
    if summary["runs_on_inventoried_equipment"]:
        inside = sum(r["energy_kwh"] for r in summary["runs_on_inventoried_equipment"])
        hosts = ", ".join(printable(r["host"]) for r in summary["runs_on_inventoried_equipment"][:5])
        print(
            f"note: tracked runs on inventoried equipment ({hosts}) used {energy(inside)} of IT energy: that energy "
            "is inside the equipment total above; the annual statement counts it once, under equipment"
        )
