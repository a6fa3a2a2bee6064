"""The ``tracker`` command: ``run``, ``detect`` and ``runs``.

``tracker run -- CMD`` tracks the command's process tree (process attribution: its share of CPU time and memory),
prints a short summary on stderr and exits with the command's own exit code.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from tracker._version import __version__
from tracker.errors import ConfigError, TrackerError

logger = logging.getLogger("tracker.cli")
_LABEL_FLAGS = ("project", "experiment", "team", "organisation", "country")


def _add_settings(parser: argparse.ArgumentParser) -> None:
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


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = {flag: getattr(args, flag) for flag in _LABEL_FLAGS}
    for key in ("pue", "mode", "interval", "store", "csv", "cpu_watts", "gpu_watts", "ram_watts"):
        settings[key] = getattr(args, key)
    if args.tag:
        settings["tags"] = ",".join(args.tag)
    return {k: v for k, v in settings.items() if v is not None}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tracker", description="Measure the energy and carbon of code.")
    parser.add_argument("--version", action="version", version=f"tracker {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is detected and why")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a command and track its process tree")
    _add_settings(run)
    run.add_argument("cmd", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")

    detect = sub.add_parser("detect", help="print what would be measured and how")
    _add_settings(detect)
    detect.add_argument("--format", choices=("text", "json"), default="text")

    runs = sub.add_parser("runs", help="list recent runs")
    runs.add_argument("--store", default=None)
    runs.add_argument("--limit", type=int, default=20)
    runs.add_argument("--project", default=None)
    runs.add_argument("--format", choices=("table", "json"), default="table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="tracker: %(levelname)s: %(message)s"
    )
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "detect":
            return cmd_detect(args)
        return cmd_runs(args)
    except ConfigError as exc:
        print(f"tracker: configuration error: {exc}", file=sys.stderr)
        return 2
    except TrackerError as exc:
        print(f"tracker: {exc}", file=sys.stderr)
        return 1


def cmd_run(args: argparse.Namespace) -> int:
    from tracker.run import Tracker

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        print("tracker run: give a command after --, e.g. tracker run -- python train.py", file=sys.stderr)
        return 2
    settings = _settings(args)
    settings.setdefault("mode", "process")  # the command's tree, not the whole machine
    tracker = Tracker(name=" ".join(cmd)[:200], **settings)
    tracker.start()
    try:
        child = subprocess.Popen(cmd)
    except OSError as exc:
        tracker.stop("failed", f"cannot start {cmd[0]}: {exc}")
        print(f"tracker run: cannot start {cmd[0]!r}: {exc}", file=sys.stderr)
        return 127

    def forward(signum: int, frame: object) -> None:  # the child decides how to end; we keep measuring
        child.send_signal(signum)

    # Ctrl-C reaches the whole foreground process group, the child included: ignore it here rather than
    # forward a second one. SIGTERM is usually sent to this process alone: pass it on.
    previous = {signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN)}
    previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, forward)
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code == 0:
        status, error = "completed", None
    elif code in (-signal.SIGINT, 130):
        status, error = "interrupted", f"exit status {code}"
    elif code in (-signal.SIGTERM, 143):
        status, error = "terminated", f"exit status {code}"
    else:
        status, error = "failed", f"exit status {code}"
    record = tracker.stop(status, error)
    print(summary(record), file=sys.stderr)
    return code if code >= 0 else 128 - code


def summary(record: Any) -> str:
    """A few lines a person reads at the end of a run."""
    lines = [
        f"tracker: {record.status} in {record.duration_s:.2f} s, run {record.run_id[:12]} ({record.project})",
        f"  energy    {record.energy_kwh * 1000:.4f} Wh  (cpu {record.cpu_energy_kwh * 1000:.4f} "
        f"[{record.cpu_method}], gpu {record.gpu_energy_kwh * 1000:.4f} [{record.gpu_method}], "
        f"ram {record.ram_energy_kwh * 1000:.4f} [{record.ram_method}])",
        f"  emissions {record.emissions_kg * 1000:.4f} g CO2e  at {record.intensity_g_per_kwh:.1f} g/kWh "
        f"({record.country or 'world average'}, {record.intensity_year}), PUE {record.pue:g}",
    ]
    lines.extend(f"  note: {note}" for note in record.notes)
    return "\n".join(lines)


def cmd_detect(args: argparse.Namespace) -> int:
    from tracker import hardware
    from tracker.config import resolve
    from tracker.intensity import default_provider
    from tracker.meter import Meter
    from tracker.sources.base import Component

    config = resolve(_settings(args))
    machine = hardware.detect()
    meter = Meter.for_config(config)
    meter.start()
    try:
        from datetime import datetime, timezone

        intensity = default_provider().intensity(config.country, datetime.now(timezone.utc))
        info = {
            "host": machine.host,
            "cpu": machine.cpu_brand,
            "sockets": machine.sockets,
            "cores": machine.physical_cores,
            "logical_cpus": machine.logical_cpus,
            "memory_gib": round(machine.memory_bytes / 2**30, 2),
            "virtualised": machine.virtualised,
            "attribution": config.mode,
            "interval_s": config.interval,
            "sources": {c.value: meter.chains[c].active.describe() for c in Component},
            "methods": {c.value: meter.chains[c].method for c in Component},
            "intensity": {
                "g_per_kwh": intensity.g_per_kwh,
                "zone": intensity.zone,
                "label": intensity.label,
                "year": intensity.year,
                "source": intensity.source,
            },
            "pue": config.pue,
            "store": config.store or "default",
            "settings_from": dict(config.origins),
            "notes": meter.notes_since(0.0),
        }
    finally:
        meter.close()
    if args.format == "json":
        print(json.dumps(info, indent=2))
        return 0
    print(f"host         {info['host']} ({'virtual machine' if machine.virtualised else 'bare metal or unknown'})")
    print(
        f"cpu          {machine.cpu_brand}, {machine.sockets} socket(s), {machine.physical_cores} cores, "
        f"{machine.logical_cpus} logical"
    )
    print(f"memory       {info['memory_gib']} GiB")
    for component in Component:
        print(f"{component.value} power    {info['sources'][component.value]}")
    print(f"attribution  {config.mode} (interval {config.interval:g} s)")
    print(
        f"intensity    {intensity.g_per_kwh:g} g/kWh: {intensity.label} ({intensity.zone}, {intensity.year}), "
        f"{intensity.source}"
    )
    print(f"pue          {config.pue:g}")
    for key, origin in sorted(config.origins.items()):
        print(f"setting      {key} from {origin}")
    for note in info["notes"]:
        print(f"note         {note}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from tracker.config import resolve
    from tracker.stores import open_store

    store = open_store(resolve({"store": args.store}).store)
    records = store.records(limit=args.limit, project=args.project)
    if args.format == "json":
        print(json.dumps([r.to_json() for r in records], indent=2))
        return 0
    if not records:
        print("no runs yet")
        return 0
    header = f"{'started (UTC)':<20} {'project':<16} {'status':<11} {'duration':>10} {'energy Wh':>11} {'g CO2e':>10}"
    print(header)
    for r in records:
        print(
            f"{r.started_at.strftime('%Y-%m-%d %H:%M:%S'):<20} {r.project[:16]:<16} {r.status:<11} "
            f"{r.duration_s:>9.1f}s {r.energy_kwh * 1000:>11.4f} {r.emissions_kg * 1000:>10.4f}"
        )
    return 0
