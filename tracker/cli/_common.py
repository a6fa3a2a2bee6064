"""Flags shared by the commands that start a measurement (``run``, ``detect``, ``monitor``)."""

from __future__ import annotations

import argparse
from typing import Any

from tracker.errors import ConfigError
from tracker.records.schema import LABELS

_LABEL_FLAGS = (*LABELS, "country", "zone", "default_zone")
_VALUE_FLAGS = (
    *("pue", "pue_schedule", "mode", "interval", "store", "csv", "cpu_watts", "gpu_watts", "ram_watts"),
    *("cloud_metadata", "live", "embodied_kg", "embodied_lifetime_years", "embodied_share"),
)


def add_settings(parser: argparse.ArgumentParser) -> None:
    """The configuration flags; each maps to the config key of the same name (``--cpu-watts`` -> ``cpu_watts``)."""
    for flag in _LABEL_FLAGS:
        parser.add_argument(f"--{flag.replace('_', '-')}", dest=flag, default=None)
    parser.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="repeatable")
    parser.add_argument("--cloud", default=None, metavar="PROVIDER:REGION", help="e.g. aws:eu-west-1, gcp:europe-west4")
    parser.add_argument("--cloud-metadata", choices=("auto", "on", "off"), default=None)
    parser.add_argument("--geoip", action="store_true", default=None, help="ask an online geo-IP service (opt-in)")
    parser.add_argument("--live", choices=("auto", "on", "off"), default=None, help="Electricity Maps live data")
    parser.add_argument("--pue", default=None, help="a number >= 1, a provider (aws, azure, gcp, industry) or a CSV")
    parser.add_argument("--pue-schedule", default=None, metavar="CSV", help="daily or monthly PUE values (date,pue)")
    parser.add_argument(
        "--supplier",
        action="append",
        default=[],
        metavar="NAME:SHARE%:KG_PER_KWH",
        help="repeatable; shares sum to 100",
    )
    parser.add_argument("--embodied-kg", type=float, default=None, help="the device's embodied emissions (kg CO2e)")
    parser.add_argument("--embodied-lifetime-years", type=float, default=None)
    parser.add_argument("--embodied-share", type=float, default=None, help="share of the device reserved (0..1]")
    parser.add_argument("--mode", choices=("machine", "process"), default=None)
    parser.add_argument("--interval", type=float, default=None, help="sampling interval in seconds")
    parser.add_argument(
        "--store", default=None, help="SQLite path, .csv path or postgresql:// URL (default: the user data dir)"
    )
    parser.add_argument("--csv", default=None, help="also append the record to this CSV file")
    for component in ("cpu", "gpu", "ram"):
        parser.add_argument(f"--{component}-watts", type=float, default=None)


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """The configuration arguments that were given (``None`` means: let the other layers decide)."""
    values: dict[str, Any] = {flag: getattr(args, flag) for flag in _LABEL_FLAGS + _VALUE_FLAGS}
    if args.tag:
        values["tags"] = ",".join(args.tag)
    if args.supplier:
        values["suppliers"] = ",".join(args.supplier)
    if args.geoip:
        values["geoip"] = True
    if args.cloud:
        provider, sep, region = args.cloud.partition(":")
        if not sep or not region:
            raise ConfigError("cloud", args.cloud, "expected PROVIDER:REGION, e.g. aws:eu-west-1")
        values["cloud_provider"], values["cloud_region"] = provider, region
    return {k: v for k, v in values.items() if v is not None}
