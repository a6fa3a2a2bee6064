"""Scale of ``tracker datacentre``: 10,000 pieces of equipment x 1,440 minute samples a day (14.4 M samples).

    PYTHONPATH=. python benchmarks/datacentre_scale.py [--equipment 10000] [--days 1] [--store]

Writes a Parquet file of minute watts (sorted by time, as exporters write, in row groups of 1 M rows, ~1 % of the
minutes missing in short and long gaps), then in a fresh process runs the whole path: the dataset scanner, the
per-day grid, interpolation and integration, the site's day through ``tracker.estimate``, one record per
equipment share and the roll-ups (and with ``--store`` the SQLite writes). It prints the wall time, the CPU time
and the peak resident memory of that process (``ru_maxrss``), and the total kWh. ``--days 30`` streams a month:
the peak memory stays that of one or two days, because a day is integrated and dropped when the next begins.
Numbers are in ``docs/datacentre.md`` and the README.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_files(folder: Path, equipment: int, days: int) -> dict[str, Path]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(17)
    ids = np.array([f"eq-{i:05d}" for i in range(equipment)])
    inventory = folder / "inv.csv"
    with inventory.open("w", encoding="utf-8") as out:
        out.write("type,id,category,sub_category,site,vcpus,equipment,key,allocation,service\n")
        for i, ident in enumerate(ids):
            category = ("compute", "storage", "network")[i % 3]
            out.write(f"equipment,{ident},{category},bench,{('AMS1', 'FRA1')[i % 2]},32,,,,\n")
            if category == "compute":
                out.write(f"instance,vm-{i},,,,,{ident},vcpu,16,svc-{i % 50}\n")
    (folder / "pue.csv").write_text("site,date,pue\nAMS1,2026-03,1.3\nFRA1,2026-03,1.4\n", encoding="utf-8")
    (folder / "sites.csv").write_text("site,country\nAMS1,NL\nFRA1,DE\n", encoding="utf-8")  # every site: a place
    (folder / "sup.csv").write_text(
        "site,valid_from,supplier,share_percent,kg_co2e_per_kwh\nAMS1,2026-01-01,wind,80,0.008\n"
        "AMS1,2026-01-01,grid,20,0.01\nFRA1,2026-01-01,grid,100,0.3\n",
        encoding="utf-8",
    )
    power = folder / "power.parquet"
    start = 1772323200  # 2026-03-01T00:00:00Z
    base = rng.uniform(80, 900, equipment)
    schema = pa.schema(
        [
            ("timestamp", pa.timestamp("s", tz="UTC")),
            ("equipment", pa.dictionary(pa.int32(), pa.string())),
            ("watts", pa.float64()),
        ]
    )
    dictionary = pa.array(ids)
    with pq.ParquetWriter(power, schema) as writer:
        for day in range(days):
            for block in range(0, 1440, 60):  # an hour of the fleet at a time: ~600,000 rows
                minutes = np.repeat(np.arange(block, block + 60), equipment)
                which = np.tile(np.arange(equipment, dtype=np.int32), 60)
                keep = rng.random(len(minutes)) > 0.01  # ~1 % of samples missing
                minutes, which = minutes[keep], which[keep]
                stamps = start + day * 86400 + minutes * 60
                watts = base[which] * rng.uniform(0.9, 1.1, len(which))
                batch = pa.table(
                    {
                        "timestamp": pa.array(stamps, pa.timestamp("s", tz="UTC")),
                        "equipment": pa.DictionaryArray.from_arrays(pa.array(which), dictionary),
                        "watts": pa.array(watts),
                    },
                    schema=schema,
                )
                writer.write_table(batch, row_group_size=1_000_000)
    return {
        "inventory": inventory,
        "power": power,
        "pue": folder / "pue.csv",
        "suppliers": folder / "sup.csv",
        "sites": folder / "sites.csv",
    }


def measure(files: dict[str, str], store: str | None) -> dict[str, float]:
    """The whole path in this process; its wall and CPU time and peak memory."""
    from tracker.footprint.pipeline import account_datacentre, load_estate
    from tracker.footprint.power import read_power

    began, cpu = time.perf_counter(), time.process_time()
    inventory, book = load_estate(files["inventory"], files["pue"], files["suppliers"], files["sites"])
    target = None
    if store:
        from tracker.stores import open_store

        target = open_store(store)
    days = read_power(files["power"], list(inventory.equipment), max_gap_min=5)
    result = account_datacentre(inventory, book, days, store=target)
    return {
        "wall_s": time.perf_counter() - began,
        "cpu_s": time.process_time() - cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "records": result.records,
        "days": len(result.days),
        "energy_kwh": result.rollup.total.energy_kwh,
        "incomplete_equipment_days": len(result.rollup.incomplete),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--equipment", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--store", action="store_true", help="also write the records to a SQLite store")
    parser.add_argument("--csv", action="store_true", help="read the minute power from CSV instead of Parquet")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        files = json.loads(args.child)
        print(json.dumps(measure(files, files.get("store"))))
        return
    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        files = {k: str(v) for k, v in make_files(Path(folder), args.equipment, args.days).items()}
        if args.csv:
            import pyarrow.csv as pacsv
            import pyarrow.parquet as pq

            table = pq.read_table(files["power"])
            table = table.set_column(1, "equipment", table.column(1).cast("string"))
            pacsv.write_csv(table, Path(folder) / "power.csv")
            files["power"] = str(Path(folder) / "power.csv")
        made = time.perf_counter() - began
        if args.store:
            files["store"] = str(Path(folder) / "bench.db")
        size = os.path.getsize(files["power"]) / 1e6
        out = subprocess.run(
            [sys.executable, __file__, "--child", json.dumps(files)], check=True, capture_output=True, text=True
        ).stdout
        numbers = json.loads(out.strip().splitlines()[-1])
    samples = args.equipment * 1440 * args.days
    print(
        f"{args.equipment:,} equipment x {args.days} day(s) = {samples / 1e6:.1f} M minute slots "
        f"(~99 % sampled), {'CSV' if args.csv else 'Parquet'} {size:.0f} MB, written in {made:.1f} s"
    )
    print(
        f"  wall {numbers['wall_s']:.1f} s, CPU {numbers['cpu_s']:.1f} s, peak RSS {numbers['peak_rss_mb']:.0f} MB, "
        f"{numbers['records']:,} records{' stored in SQLite' if args.store else ''}, "
        f"{numbers['energy_kwh']:,.0f} kWh, {numbers['incomplete_equipment_days']:,} incomplete equipment days"
    )


if __name__ == "__main__":
    main()
