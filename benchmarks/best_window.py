"""How long choosing the best window takes: 1,000 zones x a 72 h forecast at 5-minute steps (864 points each).

``PYTHONPATH=. python benchmarks/best_window.py`` (``--zones``, ``--hours``, ``--step-min``, ``--window-h``,
``--repeat``). Two paths are timed, each the best of ``--repeat`` runs:

- ``uniform``: every zone at once on one time grid, one vectorised running sum (:func:`best_starts_uniform`),
  what ``tracker where`` and a fleet scheduler would use;
- ``per-zone``: the general method (:func:`tracker.schedule.windows.best_window`: any point spacing, gaps
  refused, "now" inside a point), called once per zone.

The target (issue 15) is under 100 ms for 1,000 zones. Both paths are checked to agree on every zone's choice.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tracker.schedule.windows import best_starts_uniform, best_window


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zones", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=72.0)
    parser.add_argument("--step-min", type=float, default=5.0)
    parser.add_argument("--window-h", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    step = args.step_min * 60.0
    n = int(args.hours * 3600 / step)
    rng = np.random.default_rng(15)
    hours = np.arange(n) * step / 3600.0
    daily = 250 + 150 * np.sin(2 * np.pi * (hours[None, :] + rng.uniform(0, 24, (args.zones, 1))) / 24)
    values = np.clip(daily + rng.normal(0, 20, (args.zones, n)), 5, None)
    duration = args.window_h * 3600.0

    def timed(fn: object) -> tuple[float, object]:
        best_s, result = float("inf"), None
        for _ in range(args.repeat):
            t = time.perf_counter()
            result = fn()  # type: ignore[operator]
            best_s = min(best_s, time.perf_counter() - t)
        return best_s, result

    uniform_s, (idx, avg) = timed(lambda: best_starts_uniform(values, step, duration))
    starts = (np.arange(n) * step).tolist()
    durations = [step] * n
    per_zone_s, choices = timed(
        lambda: [best_window(starts, durations, row, duration, earliest_s=0.0) for row in values]
    )
    assert all(c.start_s == i * step and abs(c.g_per_kwh - a) < 1e-6 for c, i, a in zip(choices, idx, avg, strict=True))
    print(f"{args.zones} zones x {n} points ({args.hours:g} h at {args.step_min:g} min), {args.window_h:g} h window")
    print(f"uniform (all zones, one running sum): {uniform_s * 1000:8.1f} ms")
    print(f"per zone (general method, {args.zones} calls): {per_zone_s * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
