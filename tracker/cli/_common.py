"""Flags shared by the commands that start a measurement (``run``, ``detect``, ``monitor``)."""

from __future__ import annotations

import argparse
from typing import Any

_LABEL_FLAGS = ("project", "experiment", "team", "organisation", "country")
_VALUE_FLAGS = ("pue", "mode", "interval", "store", "csv", "cpu_watts", "gpu_watts", "ram_watts")


def add_settings(parser: argparse.ArgumentParser) -> None:
    """The configuration flags; each maps to the config key of the same name (``--cpu-watts`` -> ``cpu_watts``)."""
    for flag in _LABEL_FLAGS:
        parser.add_argument(f"--{flag}", default=None)
    parser.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="repeatable")
    parser.add_argument("--pue", type=float, default=None)
    parser.add_argument("--mode", choices=("machine", "process"), default=None)
    parser.add_argument("--interval", type=float, default=None, help="sampling interval in seconds")
    parser.add_argument("--store", default=None, help="SQLite path or .csv path (default: the user data dir)")
    parser.add_argument("--csv", default=None, help="also append the record to this CSV file")
    for component in ("cpu", "gpu", "ram"):
        parser.add_argument(f"--{component}-watts", type=float, default=None)


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """The configuration arguments that were given (``None`` means: let the other layers decide)."""
    values: dict[str, Any] = {flag: getattr(args, flag) for flag in _LABEL_FLAGS + _VALUE_FLAGS}
    if args.tag:
        values["tags"] = ",".join(args.tag)
    return {k: v for k, v in values.items() if v is not None}
