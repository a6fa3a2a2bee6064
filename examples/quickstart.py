"""Quick start: measure a function, a block with named tasks, and read the runs back.

Runs on the embedded defaults: no account, no network, no server. Records go to the default SQLite store in
your user data directory (set TRACKER_STORE to put them elsewhere).

    python examples/quickstart.py
"""

from __future__ import annotations

import math

import tracker


@tracker.track
def prime_count(limit: int) -> int:
    """A CPU-bound function: called inside a run it becomes a span of that run."""
    sieve = bytearray([1]) * (limit + 1)
    sieve[0:2] = b"\x00\x00"
    for i in range(2, math.isqrt(limit) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytearray(len(sieve[i * i :: i]))
    return sum(sieve)


def main() -> None:
    with tracker.track(project="quickstart", experiment="sieve", country="FR", pue=1.2) as run:
        with tracker.task("small"):
            for _ in range(40):
                prime_count(500_000)
        with tracker.task("large"):
            prime_count(30_000_000)

    print(f"run {run.run_id[:12]}: {run.status} in {run.duration_s:.2f} s")
    methods = f"CPU {run.cpu_method}, RAM {run.ram_method}, GPU {run.gpu_method}"
    print(f"  energy    {run.energy_kwh * 1000:.5f} Wh ({methods})")
    print(f"  emissions {run.emissions_kg * 1000:.5f} g CO2e at {run.intensity_g_per_kwh:.1f} g/kWh")
    print(f"            ({run.country}, {run.intensity_year}; {run.intensity_source}), PUE {run.pue}")
    print("  profile:")
    for span in run.spans:
        print(f"    {span.name:<24} {span.calls:>4} calls {span.duration_s:>7.3f} s {span.energy_kwh * 1000:.5f} Wh")
    for note in run.notes:
        print(f"  note: {note}")

    runs = tracker.load_runs(project="quickstart")
    print(f"\n{len(runs)} quickstart run(s) in the store; total {runs['emissions_kg'].sum() * 1000:.5f} g CO2e")


if __name__ == "__main__":
    main()
