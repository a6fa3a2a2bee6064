"""``tracker intensity``: the grid intensity for a zone, country or cloud region, embedded and live."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from typing import Any

from tracker.cli._common import add_settings, settings

ORDER = 40


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "intensity",
        help="print the grid carbon intensity for a zone, country or cloud region",
        description="Without --zone/--country/--cloud, the location is resolved as a run would resolve it.",
    )
    add_settings(parser, "intensity", exclusive=("zone", "country", "cloud"))  # and --live, --factor
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(func=cmd_intensity)


def cmd_intensity(args: argparse.Namespace) -> int:
    from tracker.config import resolve
    from tracker.grid import location
    from tracker.grid.intensity import EmbeddedIntensity, live_enabled, provider_for

    config = resolve(settings(args))
    place = location.resolve(config)
    embedded = EmbeddedIntensity().for_location(place)
    live = None
    live_error = "off (set ELECTRICITYMAPS_API_TOKEN, or --live on)"
    own = None  # the user's own factor (intensity_g_per_kwh): what runs use instead of the two others
    if config.intensity_g_per_kwh is not None:
        own = provider_for(config).intensities(place, [datetime.now(timezone.utc)])[0]
        live_error = "not used (intensity_g_per_kwh is set)"
    elif live_enabled(config):
        live = provider_for(config).intensities(place, [datetime.now(timezone.utc)])[0]
        live_error = ""
        if "live intensity unavailable" in live.note:  # the provider fell back to the embedded value
            live, live_error = None, live.note
    if args.format == "json":
        out = {
            "location": place._asdict(),
            "embedded": embedded._asdict(),
            "live": live._asdict() if live else None,
            "live_note": live_error,
            "configured": own._asdict() if own else None,
        }
        print(json.dumps(out, indent=2, default=list))
        return 0
    where = place.zone or place.country or "WORLD"
    if place.cloud_provider:
        where += f" ({place.cloud_provider} {place.cloud_region})"
    print(f"location   {where}, from {place.source}")
    print(_line("embedded", embedded))
    print(_line("live", live) if live else f"live       {live_error}")
    if own is not None:
        print(_line("yours", own))
    for note in dict.fromkeys([*place.notes, embedded.note, live.note if live else "", own.note if own else ""]):
        if note:
            print(f"note       {note}")
    return 0


def _line(title: str, value: Any) -> str:
    year = f", {value.year}" if value.year else ""
    return (
        f"{title:<10} {value.g_per_kwh:g} gCO2e/kWh ({value.factor_type}{year}) {value.label} [{value.zone}]\n"
        f"{'':<10} source: {value.source}"
    )
