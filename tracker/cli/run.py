"""``tracker run -- CMD``: run a command, track its process tree, print a summary, exit with its code.

Process attribution by default: the command's share of CPU time and memory, not the whole machine.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from typing import Any

from tracker.cli._common import add_settings, command, settings

ORDER = 10


def register(sub: Any) -> None:
    parser = sub.add_parser("run", help="run a command and track its process tree")
    add_settings(parser, "run")
    parser.add_argument("cmd", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    parser.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    cmd = command(args, "tracker run: give a command after --, e.g. tracker run -- python train.py")
    if cmd is None:
        return 2
    return execute(cmd, settings(args))


def execute(cmd: list[str], values: dict[str, Any]) -> int:
    """Run ``cmd`` under a tracker configured with ``values``; its exit code (``tracker wait`` uses it too)."""
    from tracker.core.run import Tracker

    values.setdefault("mode", "process")  # the command's tree, not the whole machine
    from tracker.safetext import redact_argv

    tracker = Tracker(name=" ".join(redact_argv(cmd))[:200], **values)  # no --password=... in the record
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
    """A few lines a person reads at the end of a run, each figure in a unit that fits (the record keeps SI)."""
    from tracker.reports.render.units import duration, energy, intensity, mass, pue

    lines = [
        f"tracker: {record.status} in {duration(record.duration_s)}, run {record.run_id[:12]} ({record.project})",
        f"  energy    {energy(record.energy_kwh)}  (cpu {energy(record.cpu_energy_kwh)} [{record.cpu_method}], "
        f"gpu {energy(record.gpu_energy_kwh)} [{record.gpu_method}], ram {energy(record.ram_energy_kwh)} "
        f"[{record.ram_method}])",
        f"  emissions {mass(record.emissions_kg)} CO2e  at {intensity(record.intensity_g_per_kwh)} "
        f"({record.zone or record.country or 'world average'}, {record.intensity_year}, "
        f"{record.intensity_factor_type}), PUE {pue(record.pue)}",
    ]
    if record.market_source.startswith("supplier mix"):  # Scope 2 market-based, beside the location-based figure
        lines.append(f"  market-based {mass(record.emissions_market_kg)} CO2e  ({record.market_source})")
    if record.embodied_kg:
        lines.append(f"  embodied  {mass(record.embodied_kg)} CO2e  (the device's share, apart from the above)")
    lines.extend(f"  note: {note}" for note in record.notes)
    from tracker.safetext import printable

    return "\n".join(printable(line) for line in lines)  # labels and notes hold others' text: no terminal escapes
