"""``tracker intensity``: the grid intensity for a zone, country or cloud region, embedded and live; with a
token the mix now (fossil / nuclear / renewable shares), ``--history 24h`` and ``--forecast``; several zones at
once with ``--zone DE,FR,NL``."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
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
    parser.add_argument("--history", metavar="SPAN", help="the hourly values of the last SPAN (24h, 3d; a token)")
    parser.add_argument("--forecast", action="store_true", help="the forecast (the configured forecast providers)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(func=cmd_intensity)


def cmd_intensity(args: argparse.Namespace) -> int:
    """One zone, or each of a comma-separated list (``--zone DE,FR,NL``) in turn."""
    zones = [z.strip() for z in (args.zone or "").split(",") if z.strip()]
    if len(zones) <= 1:
        return _one(args, None)
    outputs = [_one(argparse.Namespace(**{**vars(args), "zone": zone}), []) for zone in zones]
    if args.format == "json":
        print(json.dumps({"zones": [o for o in outputs if isinstance(o, dict)]}, indent=2, default=list))
    return 0


def _one(args: argparse.Namespace, collect: list[Any] | None) -> Any:
    """Print (or, for a multi-zone JSON answer, return) one place's view."""
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
    extra = _extras(args, place, live_enabled(config))
    if args.format == "json":
        out = {
            "location": place._asdict(),
            "embedded": embedded._asdict(),
            "live": live._asdict() if live else None,
            "live_note": live_error,
            "configured": own._asdict() if own else None,
            **extra,
        }
        if collect is not None:
            return out
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
    for line in _extra_lines(extra):
        print(line)
    for note in dict.fromkeys([*place.notes, embedded.note, live.note if live else "", own.note if own else ""]):
        if note:
            print(f"note       {note}")
    if collect is not None:
        print()
    return 0


def _extras(args: argparse.Namespace, place: Any, live: bool) -> dict[str, Any]:
    """The mix (with live data on), the history and the forecast, each with a note when it cannot be had."""
    from tracker.errors import TrackerError
    from tracker.grid.electricitymaps import Client

    out: dict[str, Any] = {}
    zone = place.zone or place.country
    client = Client()
    if live and zone:
        from tracker.grid.mix import parse_mix

        try:
            out["mix"] = asdict(parse_mix(client.power_breakdown(zone), zone))
        except TrackerError as exc:
            out["mix"], out["mix_note"] = None, f"not known: {exc}"
    if args.history:
        out["history"], out["history_note"] = _history(client, zone, args.history)
    if args.forecast:
        from tracker.grid.forecast_chain import forecast

        try:
            data = forecast(zone or "")
            out["forecast"] = {
                "source": data.source,
                "signal": data.signal,
                "points": [
                    {"datetime": _iso(t), "duration_s": d, "g_per_kwh": v}
                    for t, d, v in zip(data.starts_s, data.durations_s, data.values, strict=True)
                ],
            }
        except TrackerError as exc:
            out["forecast"], out["forecast_note"] = None, str(exc)
    return out


def _history(client: Any, zone: str | None, span: str) -> tuple[list[dict[str, Any]] | None, str]:
    from datetime import timedelta

    from tracker.errors import TrackerError
    from tracker.schedule.spans import seconds

    length = seconds("history", span)
    if not zone:
        return None, "no zone: the world average has no history"
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    try:
        if length <= 24 * 3600:
            readings = client.history(zone=zone)
        else:
            readings = client.past_range(now - timedelta(seconds=length), now, zone=zone)
    except TrackerError as exc:
        return None, f"not known: {exc}"
    start = now.timestamp() - length
    points = [
        {"datetime": _iso(r.datetime.timestamp()), "g_per_kwh": r.g_per_kwh}
        for r in readings
        if r.datetime.timestamp() >= start
    ]
    return points, f"Electricity Maps, hourly, last {span}"


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _extra_lines(extra: dict[str, Any]) -> list[str]:
    lines = []
    if extra.get("mix"):
        m = extra["mix"]
        lines.append(
            f"mix        fossil {m['fossil_pct']:.0f} %, nuclear {m['nuclear_pct']:.0f} %, renewable "
            f"{m['renewable_pct']:.0f} % ({m['source']}, {m['datetime']})"
        )
    elif "mix_note" in extra:
        lines.append(f"mix        {extra['mix_note']}")
    if "history" in extra:
        if extra["history"] is None:
            lines.append(f"history    {extra['history_note']}")
        else:
            values = [p["g_per_kwh"] for p in extra["history"]]
            lines.append(f"history    {extra['history_note']}: {len(values)} hours" + (
                f", {min(values):.0f} to {max(values):.0f} g/kWh, mean {sum(values) / len(values):.0f}"
                if values else ""
            ))  # fmt: skip
            lines.extend(f"{'':<10} {p['datetime']}  {p['g_per_kwh']:.0f}" for p in extra["history"])
    if "forecast" in extra:
        if extra["forecast"] is None:
            lines.append(f"forecast   {extra['forecast_note']}")
        else:
            f = extra["forecast"]
            kind = "marginal g/kWh" if f["signal"] == "marginal" else "gCO2e/kWh"
            lines.append(f"forecast   {f['source']} ({len(f['points'])} points, {kind})")
            lines.extend(f"{'':<10} {p['datetime']}  {p['g_per_kwh']:.0f}" for p in f["points"])
    return lines


def _line(title: str, value: Any) -> str:
    year = f", {value.year}" if value.year else ""
    return (
        f"{title:<10} {value.g_per_kwh:g} gCO2e/kWh ({value.factor_type}{year}) {value.label} [{value.zone}]\n"
        f"{'':<10} source: {value.source}"
    )
