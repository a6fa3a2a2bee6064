"""What decides the grid intensity here, what better source there is, and the setting that gives it.

``tracker doctor`` asks this module with the location a run would resolve and the intensity it would get (the
same :func:`tracker.grid.location.start` and :func:`tracker.grid.intensity.provider_for` as a run). A world
average, a live source that fails, or a factor type asked for and not delivered count against the location; a
geo-IP country and yearly rather than hourly values are hints.
"""

from __future__ import annotations

from typing import Any

from tracker.grid.intensity import Intensity, live_enabled
from tracker.grid.location import Location
from tracker.measure.advice import Advice, Finding

TOKEN_FIX = "export ELECTRICITYMAPS_API_TOKEN=<your token>  # a free key from https://portal.electricitymaps.com"


def location(config: Any, where: Location, intensity: Intensity, virtualised: bool) -> Finding:
    """The finding for the location and the intensity a run with ``config`` would use now."""
    used = f"{intensity.g_per_kwh:g} g/kWh {intensity.factor_type}, {intensity.label} ({where.source}): " + (
        intensity.source
    )
    advice: list[Advice] = []
    if config.intensity_g_per_kwh is not None:
        return Finding("location", used, "configured")
    if where.source == "world-average":
        fixes = [
            "country=<ISO code, e.g. FR>  (or TRACKER_COUNTRY=FR, or country = \"FR\" under [tool.tracker])",
            "zone=<Electricity Maps zone, e.g. US-CAL-CISO>  for a grid region (tracker zones lists them)",
        ]
        if virtualised:
            fixes.insert(0, "cloud_provider=<aws|gcp|azure> and cloud_region=<region>  (or --cloud aws:eu-west-1)")
        advice.append(
            Advice(
                "your grid's intensity",
                "no location configured or detected: the world average is used",
                tuple(fixes),
                f"your grid's intensity instead of the world average ({intensity.g_per_kwh:g} g/kWh; grids "
                "range from about 20 to 800)",
            )
        )
    elif where.source == "geoip":
        advice.append(
            Advice(
                "the location you configure",
                "the country comes from your IP address (wrong behind a VPN or a proxy)",
                ("country=<ISO code> or zone=<zone>",),
                "the right grid for certain, and a sub-national zone where one exists",
                counts=False,
            )
        )
    note = intensity.note
    if "live intensity unavailable" in note:
        advice.append(
            Advice(
                "Electricity Maps hourly values",
                note,
                (
                    "tracker intensity --live on  # shows the service's error",
                    TOKEN_FIX + "  (a token that is refused switches live data off)",
                ),
                "the hour's own intensity instead of a yearly average",
            )
        )
    elif "emission_factor_type=direct" in note:
        advice.append(
            Advice(
                "Electricity Maps direct (combustion) factors",
                note,
                (TOKEN_FIX, "emission_factor_type=lifecycle  # or ask for what is embedded"),
                "the factor type you asked for instead of a lifecycle value",
            )
        )
    elif not live_enabled(config):
        advice.append(
            Advice(
                "Electricity Maps hourly values",
                "live data is off" if config.live == "off" else "ELECTRICITYMAPS_API_TOKEN is not set",
                (TOKEN_FIX,),
                "the hour's own intensity instead of a yearly average",
                counts=False,
            )
        )
    return Finding("location", used, where.source, tuple(advice))
