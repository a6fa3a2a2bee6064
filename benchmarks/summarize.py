"""Time ``tracker.summarize`` over a million runs in the default store (SQLite), by project x month.

    python benchmarks/summarize.py [--runs 1000000] [--keep PATH]

The runs are generated straight into a SQLite file created by :class:`SqliteStore` (so the schema and indexes
are the real ones) with ``executemany``: 20 projects, 4 teams, 2 organisations, starts spread over two years.
The figure printed is the median of five calls of ``tracker.summarize(store=..., by=("project",),
period="month")`` after one warm-up call (the file is then in the page cache, as a store in daily use is).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import tracker
from tracker.records.schema import COLUMNS, iso
from tracker.stores.sqlite import SqliteStore


def generate(store: SqliteStore, count: int, seed: int = 1) -> None:
    """Insert ``count`` plausible runs in batches, in one transaction."""
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    base = {c: None for c in COLUMNS}
    base.update(
        name=None,
        pue=1.2,
        intensity_g_per_kwh=350.0,
        intensity_source="Ember",
        intensity_year=2024,
        country="DE",
        cpu_method="rapl",
        gpu_method="nvml-energy",
        ram_method="ram-model",
        attribution="machine",
        host="node-1",
        cpu_model="AMD EPYC",
        cpu_count=64,
        gpu_model="NVIDIA H100",
        gpu_count=1,
        ram_total_gb=512.0,
        tracker_version=tracker.__version__,
        status="completed",
        zone="DE",
        location_source="config",
        intensity_factor_type="lifecycle",
        pue_source="config",
        market_source="location-based (no supplier mix)",
        embodied_kg=0.0,
        tags="{}",
        notes="[]",
        spans="[]",
        interval_s=1.0,
    )
    with store._connection() as conn:  # one of the store's own connections, inside its fork gate
        sql = f"INSERT INTO runs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"
        conn.execute("BEGIN")
        batch = []
        for i in range(count):
            started = start + timedelta(seconds=rng.randint(0, 730 * 86400))
            duration = rng.uniform(1, 3600)
            cpu, gpu, ram = rng.random() * 0.1, rng.random() * 0.5, rng.random() * 0.02
            energy = cpu + gpu + ram
            row = dict(base)
            row.update(
                run_id=f"bench-{i:08d}",
                project=f"project-{i % 20:02d}",
                team=f"team-{i % 4}",
                organisation=f"org-{i % 2}",
                experiment=f"exp-{i % 7}",
                started_at=iso(started),
                ended_at=iso(started + timedelta(seconds=duration)),
                duration_s=duration,
                cpu_energy_kwh=cpu,
                gpu_energy_kwh=gpu,
                ram_energy_kwh=ram,
                energy_kwh=energy,
                facility_energy_kwh=energy * 1.2,
                emissions_kg=energy * 1.2 * 0.35,
                emissions_market_kg=energy * 1.2 * 0.3,
                cpu_power_w=cpu * 3.6e6 / duration,
                gpu_power_w=gpu * 3.6e6 / duration,
                ram_power_w=ram * 3.6e6 / duration,
            )
            batch.append([row[c] for c in COLUMNS])
            if len(batch) == 50_000:
                conn.executemany(sql, batch)
                batch.clear()
        conn.executemany(sql, batch)
        conn.execute("COMMIT")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--keep", default=None, help="write the store here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep or Path(tmp) / "runs.db")
        store = SqliteStore(str(path))
        t0 = time.perf_counter()
        generate(store, args.runs)
        print(f"generated {args.runs:,} runs in {time.perf_counter() - t0:.1f} s ({path.stat().st_size / 1e6:.0f} MB)")
        frame = tracker.summarize(store=store, by=("project",), period="month")  # warm-up
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            frame = tracker.summarize(store=store, by=("project",), period="month")
            times.append(time.perf_counter() - t0)
        assert int(frame["runs"].sum()) == args.runs
        print(
            f"summarize by project x month: {len(frame)} rows, median {statistics.median(times):.3f} s "
            f"(min {min(times):.3f} s, max {max(times):.3f} s)"
        )
        store.close()


if __name__ == "__main__":
    main()
