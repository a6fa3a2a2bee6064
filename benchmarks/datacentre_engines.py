"""Which columnar engine for ``tracker datacentre``: pyarrow + numpy (what the package uses) against DuckDB and
polars, on the same Parquet file and the same rule (daily kWh per equipment, gaps of at most 5 minutes
interpolated linearly, longer ones left out).

    python benchmarks/datacentre_engines.py [--equipment 10000] [--days 1] [--engines pyarrow,duckdb,polars]

DuckDB and polars are not dependencies of the package: install them beside it to run this (``pip install duckdb
polars``). The file is made by ``benchmarks/datacentre_scale.py``'s generator; each engine runs in a fresh process
(wall time, CPU time, peak RSS), and the totals are compared so that the engines are seen to compute the same thing.
A gap of k missing minutes between samples v0 and v1 adds ``k x (v0 + v1) / 2`` watt-minutes (the sum of the k
interpolated values), which the SQL and the dataframe express with ``LEAD`` over each equipment's day.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MAX_GAP = 5

DUCKDB_SQL = f"""
WITH s AS (
    SELECT CAST(equipment AS VARCHAR) AS equipment, CAST(epoch(timestamp) AS BIGINT) // 60 AS m, watts
    FROM read_parquet(?)
), w AS (
    SELECT equipment, m // 1440 AS day, m, watts,
           LEAD(m) OVER (PARTITION BY equipment, m // 1440 ORDER BY m) AS nm,
           LEAD(watts) OVER (PARTITION BY equipment, m // 1440 ORDER BY m) AS nw
    FROM s
)
SELECT equipment, day,
       (SUM(watts) + SUM(CASE WHEN nm - m - 1 BETWEEN 1 AND {MAX_GAP} THEN (nm - m - 1) * (watts + nw) / 2 ELSE 0 END))
           / 60000.0 AS kwh,
       COUNT(*) AS measured
FROM w GROUP BY equipment, day
"""


def run_pyarrow(path: str, ids: list[str]) -> tuple[float, int]:
    from tracker.footprint.power import read_power

    kwh, days = 0.0, 0
    for day in read_power(path, ids, max_gap_min=MAX_GAP):
        kwh += float(day.kwh.sum())
        days += 1
    return kwh, days


def run_duckdb(path: str, ids: list[str]) -> tuple[float, int]:
    import duckdb

    connection = duckdb.connect()
    rows = connection.execute(f"SELECT SUM(kwh), COUNT(DISTINCT day) FROM ({DUCKDB_SQL})", [path]).fetchone()
    return float(rows[0]), int(rows[1])


def run_polars(path: str, ids: list[str]) -> tuple[float, int]:
    import polars as pl

    frame = (
        pl.scan_parquet(path)
        .select(
            pl.col("equipment").cast(pl.String),
            (pl.col("timestamp").dt.epoch("s") // 60).alias("m"),
            pl.col("watts"),
        )
        .with_columns((pl.col("m") // 1440).alias("day"))
        .sort("equipment", "m")
        .with_columns(
            pl.col("m").shift(-1).over("equipment", "day").alias("nm"),
            pl.col("watts").shift(-1).over("equipment", "day").alias("nw"),
        )
        .with_columns((pl.col("nm") - pl.col("m") - 1).alias("gap"))
        .group_by("equipment", "day")
        .agg(
            (
                (
                    pl.col("watts").sum()
                    + pl.when(pl.col("gap").is_between(1, MAX_GAP))
                    .then(pl.col("gap") * (pl.col("watts") + pl.col("nw")) / 2)
                    .otherwise(0.0)
                    .sum()
                )
                / 60000.0
            ).alias("kwh")
        )
        .select(pl.col("kwh").sum(), pl.col("day").n_unique())
        .collect()
    )
    return float(frame.item(0, 0)), int(frame.item(0, 1))


ENGINES = {"pyarrow": run_pyarrow, "duckdb": run_duckdb, "polars": run_polars}


def child(engine: str, path: str, ids: list[str]) -> dict[str, float]:
    began, cpu = time.perf_counter(), time.process_time()
    kwh, days = ENGINES[engine](path, ids)
    return {
        "wall_s": time.perf_counter() - began,
        "cpu_s": time.process_time() - cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "kwh": kwh,
        "days": days,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--equipment", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--engines", default="pyarrow,duckdb,polars")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        task = json.loads(args.child)
        print(json.dumps(child(task["engine"], task["path"], task["ids"])))
        return
    sys.path.insert(0, str(Path(__file__).parent))
    from datacentre_scale import make_files

    with tempfile.TemporaryDirectory() as folder:
        files = make_files(Path(folder), args.equipment, args.days)
        ids = [f"eq-{i:05d}" for i in range(args.equipment)]
        print(
            f"{args.equipment:,} equipment x {args.days} day(s), Parquet {files['power'].stat().st_size / 1e6:.0f} MB"
        )
        for engine in args.engines.split(","):
            task = json.dumps({"engine": engine, "path": str(files["power"]), "ids": ids})
            done = subprocess.run(
                [sys.executable, __file__, "--child", task], capture_output=True, text=True, check=False
            )
            if done.returncode:
                print(
                    f"  {engine:8} failed: {done.stderr.strip().splitlines()[-1] if done.stderr else done.returncode}"
                )
                continue
            n = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"  {engine:8} wall {n['wall_s']:6.1f} s  CPU {n['cpu_s']:6.1f} s  "
                f"peak RSS {n['peak_rss_mb']:6.0f} MB  {n['kwh']:,.3f} kWh over {n['days']} day(s)"
            )


if __name__ == "__main__":
    main()
