"""Cost of a live reading (``run.energy_kwh``, ``run.emissions_kg``, ``run.reading()``) and of a step boundary
(``run.step(...)``) inside an active run, per call, medians of several rounds (issue 16: target < 20 µs a read).

    python benchmarks/live.py [--rounds 7]

A read goes up to the meter's last tick (the sampler ticks at 1 s meanwhile, so some reads work a fresh tick out);
a step takes a sample now (one /proc/stat read and the sources), so it costs more and is meant for epochs.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time


def per_call(fn, n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    import tracker

    with tracker.track(project="bench", save=False, country="FR") as run:
        time.sleep(1.2)  # a first tick
        cases = {
            "run.energy_kwh": (lambda: run.energy_kwh, 100_000),
            "run.emissions_kg": (lambda: run.emissions_kg, 100_000),
            "run.power_w": (lambda: run.power_w, 100_000),
            "run.reading()": (lambda: run.reading(), 100_000),
            "run.emissions_kg, a new tick each time": (lambda: (setattr(run.live, "last", None), run.emissions_kg),
                                                        100_000),
            "run.reading(fresh=True)": (lambda: run.reading(fresh=True), 5_000),
            "run.step('batch', loss=0.1)": (lambda: run.step("batch", loss=0.1), 5_000),
        }
        results = {}
        for name, (fn, n) in cases.items():
            results[name] = statistics.median(per_call(fn, n) for _ in range(args.rounds))
    print("| call (inside an active run) | per call |")
    print("|---|---|")
    for name, seconds in results.items():
        print(f"| `{name}` | {seconds * 1e6:.2f} µs |")


if __name__ == "__main__":
    main()
