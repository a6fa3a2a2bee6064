"""``tracker doctor``: for each component and for the location, what is used, what better source this machine
has, why it is not used, and the exact command or setting that fixes it, with the gain.

Exit code 0 when everything is at its best source here, 1 when some advice counts (hints do not: a value you
forced, yearly rather than hourly intensities), 2 for a configuration error. Takes the flags of ``tracker
detect``, and asks the same chains and the same location and intensity as a run with them would.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from tracker.cli._common import add_settings, settings

if TYPE_CHECKING:
    from tracker.measure.advice import Finding

ORDER = 25


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "doctor",
        help="say what would measure better on this machine, and the command that fixes it",
        description="Exit code: 0 when every component and the location are at their best source here, 1 when "
        "some advice counts (hints do not), 2 for a configuration error.",
    )
    add_settings(parser, "detect")  # the same settings as `tracker detect`: diagnose the configuration you run
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(func=cmd_doctor)


def diagnose(config_arguments: dict[str, Any]) -> list[Finding]:
    """The findings for the components and the location a run with these settings would use here."""
    from tracker.cli.detect import intensity_now
    from tracker.config import resolve
    from tracker.grid import advice as grid_advice
    from tracker.grid import location
    from tracker.measure import advice, hardware

    config = resolve(config_arguments)
    machine = hardware.detect()
    place = location.start(config)  # detection (if any) runs while the sources start
    found = advice.components(config, machine)
    where = place.result()
    found.append(grid_advice.location(config, where, intensity_now(config, where), machine.virtualised))
    return found


def cmd_doctor(args: argparse.Namespace) -> int:
    findings = diagnose(settings(args))
    at_best = all(f.at_best for f in findings)
    if args.format == "json":
        out = {
            "at_best": at_best,
            "findings": [
                {**f._asdict(), "at_best": f.at_best, "advice": [{**a._asdict(), "fix": list(a.fix)} for a in f.advice]}
                for f in findings
            ],
        }
        print(json.dumps(out, indent=2))
    else:
        print("\n".join(render(findings)))
    return 0 if at_best else 1


def render(findings: list[Finding]) -> list[str]:
    """The text report: a block per component, the fixes as commands to copy."""
    from tracker.safetext import printable

    todo = sum(1 for f in findings for a in f.advice if a.counts)
    lines = [
        "everything is measured with the best source this machine has"
        if not todo
        else f"{todo} thing(s) to fix for better figures on this machine (exit code 1)",
        "",
    ]
    for finding in findings:
        mark = "ok" if finding.at_best else "FIX"
        lines.append(f"{finding.subject:<9} [{mark}] {printable(finding.used)}")
        for item in finding.advice:
            kind = "better" if item.counts else "hint"
            lines.append(f"  {kind:<7} {printable(item.better)}")
            lines.append(f"  {'why':<7} {printable(item.why)}")
            for i, command in enumerate(item.fix):
                lines.append(f"  {'fix' if i == 0 else '':<7} {printable(command)}")
            lines.append(f"  {'gain':<7} {printable(item.gain)}")
    return lines
