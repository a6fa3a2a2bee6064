"""``tracker monitor``: measure the whole machine until stopped, one record per interval, metrics while it runs.

Each interval is a normal run (machine attribution, project ``monitor`` unless configured otherwise, tag
``monitor=<host>``), so reports, roll-ups and exporters treat it like any other. Intervals follow a fixed
schedule from the start (``--every``, default 15 minutes) and are contiguous: each run ends at exactly the
instant the next begins, so the records add up to the whole monitored time with no gap and no overlap.
SIGTERM and Ctrl-C end the current, partial interval as a record with status ``terminated`` or
``interrupted`` (its figures are complete for the time it covers; the status says it is short), and the
command exits 0. See ``docs/metrics.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import re
import select
import signal
import time
from typing import Any

from tracker.cli._common import add_settings, settings
from tracker.errors import ConfigError

ORDER = 15
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}
MAX_EVERY_S = 366 * 24 * 3600.0


def parse_duration(text: str) -> float:
    """``"15m"``, ``"1s"``, ``"2h"``, ``"0.5s"`` or plain seconds (``"90"``) to seconds; ``ConfigError`` otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([smh]?)\s*", text.lower())
    if not match:
        raise ConfigError("every", text, "expected a duration such as 90, 30s, 15m or 1h")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not (math.isfinite(seconds) and seconds > 0):
        raise ConfigError("every", text, "the interval must be above zero")
    if seconds > MAX_EVERY_S:  # beyond the clock's range long before: one record a year is the most that means much
        raise ConfigError("every", text, f"the interval must be at most a year ({MAX_EVERY_S:g} s)")
    return seconds


def register(sub: Any) -> None:
    parser = sub.add_parser("monitor", help="measure the whole machine until stopped, a record per interval")
    add_settings(parser, "monitor")  # the measurement settings and the live metrics' (--metrics-port, --otel, ...)
    parser.add_argument("--every", default="15m", help="length of each record's interval: 90, 30s, 15m, 1h (15m)")
    parser.set_defaults(func=cmd_monitor)


class _Stop:
    """Set by SIGTERM or SIGINT: the main loop wakes, ends the partial interval and returns.

    The handler takes no lock: Python runs it in the main thread between any two bytecodes, so one that set a
    ``threading.Event`` could deadlock when the signal lands while the main thread holds that event's own lock
    (inside ``Event.wait``). The wake-up comes from ``signal.set_wakeup_fd`` instead: the interpreter's C-level
    handler writes a byte to a pipe that :meth:`wait` selects on, so a signal arriving at any moment, even just
    before the wait, ends it.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._previous_fd = -1

    def __call__(self, signum: int, frame: object) -> None:
        if self.signum is None:
            self.signum = signum

    def install(self) -> dict[int, Any]:
        """Handle SIGTERM and SIGINT; returns the handlers to put back."""
        self._previous_fd = signal.set_wakeup_fd(self._write)
        return {sig: signal.signal(sig, self) for sig in (signal.SIGTERM, signal.SIGINT)}

    def uninstall(self, previous: dict[int, Any]) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(self._previous_fd)
        os.close(self._read)
        os.close(self._write)

    def wait_until(self, deadline: float) -> bool:
        """Sleep until ``deadline`` (a ``perf_counter`` time); True as soon as a stop signal has come."""
        while self.signum is None:
            left = deadline - time.perf_counter()
            if left <= 0:
                return False
            select.select([self._read], [], [], left)
            with contextlib.suppress(BlockingIOError):
                os.read(self._read, 512)  # drain: any other signal with a Python handler wakes us too
        return True


def cmd_monitor(args: argparse.Namespace) -> int:
    from tracker.config import resolve
    from tracker.core.run import Run

    every = parse_duration(args.every)
    if args.mode in ("process", "cgroup"):
        raise ConfigError("mode", args.mode, "tracker monitor measures the whole machine (machine mode)")
    host = platform.node() or "localhost"
    values = settings(args)
    values["mode"] = "machine"
    values["tags"] = ",".join(filter(None, [f"monitor={host}", values.get("tags", "")]))
    config = resolve(values)
    if "project" not in config.origins:  # nothing configured it: the monitor's own project
        config = resolve({**values, "project": "monitor"})

    stop = _Stop()
    previous = stop.install()
    try:
        run = Run(config, name=f"monitor {host}").start()
        origin, wall_offset = run.t0, run.wall_offset
        print(f"tracker monitor: measuring {host} every {every:g} s into project {config.project!r}", flush=True)
        k = 1
        while True:
            boundary = origin + k * every
            if stop.wait_until(boundary):
                break
            behind = time.perf_counter() - boundary
            if behind > every:  # the process was suspended: one long record up to the latest boundary
                k += int(behind // every)
                boundary = origin + k * every
            following = Run(config, name=f"monitor {host}").start(at=boundary, wall_offset=wall_offset)
            _report(run.stop("completed", at=boundary))
            run = following
            k += 1
        ended = time.perf_counter()
        name = signal.Signals(stop.signum).name if stop.signum is not None else "a signal"
        status = "interrupted" if stop.signum == signal.SIGINT else "terminated"
        partial = f"{name}: monitor stopped after {ended - run.t0:.3f} s of a {every:g} s interval"
        _report(run.stop(status, partial, at=ended))
    finally:
        stop.uninstall(previous)
    return 0


def _report(record: Any) -> None:
    print(
        f"{record.started_at:%Y-%m-%d %H:%M:%S} {record.duration_s:9.1f} s {record.energy_kwh * 1000:10.4f} Wh "
        f"{record.emissions_kg * 1000:9.3f} g CO2e {record.status}",
        flush=True,
    )
