"""Quick start: measure a function, a block with named tasks, and read the runs back.

Runs on the embedded defaults: no account, no network, no server. Records go to the default SQLite store in
your user data directory (set TRACKER_STORE to put them elsewhere).

    python examples/quickstart.py
"""

from __future__ import annotations

import math

import tracker
from tracker.reports.render.units import duration, energy, intensity, mass, pue


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

    # the record keeps SI values (kWh, kg, s); tracker's units helpers show each in a unit that fits
    print(f"run {run.run_id[:12]}: {run.status} in {duration(run.duration_s)}")
    methods = f"CPU {run.cpu_method}, RAM {run.ram_method}, GPU {run.gpu_method}"
    print(f"  energy    {energy(run.energy_kwh)} ({methods})")
    print(f"  emissions {mass(run.emissions_kg)} CO2e at {intensity(run.intensity_g_per_kwh)}")
    print(f"            ({run.country}, {run.intensity_year}; {run.intensity_source}), PUE {pue(run.pue)}")
    print("  profile (in the order entered):")
    for span in run.spans:
        print(f"    {span.name:<24} {span.calls:>4} calls {duration(span.duration_s):>9} {energy(span.energy_kwh):>10}")
    for note in run.notes:
        print(f"  note: {note}")

    runs = tracker.load_runs(project="quickstart")
    print(f"\n{len(runs)} quickstart run(s) in the store; total {mass(runs['emissions_kg'].sum())} CO2e")


if __name__ == "__main__":
    main()
