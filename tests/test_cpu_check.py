"""``benchmarks/cpu_check.py`` runs in a quick mode: without RAPL it says so, with RAPL it compares the sources.

The script is for machines with readable RAPL counters (docs/hardware-checks.md); these tests keep it working
where there are none, as on this project's CI machine, and against a fake powercap tree whose counter moves.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from tests.fake_powercap import build_powercap

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "cpu_check.py"
QUICK = ["--seconds", "0.3", "--interval", "0.1"]


def _run(root: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TRACKER_POWERCAP_ROOT=str(root), PYTHONPATH=str(SCRIPT.parent.parent))
    return subprocess.run(
        [sys.executable, str(SCRIPT), *QUICK], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def _rows(stdout: str) -> list[list[str]]:
    """The table's body rows, split into cells."""
    lines = [line for line in stdout.splitlines() if line.startswith("| ") and not line.startswith("| phase")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_says_rapl_is_not_readable_and_still_prints_the_models(tmp_path: Path) -> None:
    empty = tmp_path / "powercap"  # a powercap root with no zones: what a machine without RAPL shows
    empty.mkdir()
    done = _run(empty)
    assert done.returncode == 0, done.stderr
    assert "RAPL not readable here" in done.stdout
    rows = _rows(done.stdout)
    assert [row[0] for row in rows][:2] == ["idle", "1 busy process"] and len(rows) == 3
    for row in rows:
        assert row[3] == "n/a" and row[6] == "n/a"  # RAPL package and DRAM columns
        assert float(row[4]) > 0 and float(row[5]) > 0 and float(row[7]) > 0  # TDP, vCPU and RAM models


def test_compares_a_moving_rapl_counter_with_the_models(tmp_path: Path) -> None:
    tree = build_powercap(tmp_path / "sys", packages=1, psys=False, mmio=False)
    stop = threading.Event()

    def feed() -> None:  # ~50 W through package-0 and ~5 W through its DRAM while the script runs
        while not stop.wait(0.01):
            tree.add("intel-rapl:0", 500_000)
            tree.add("intel-rapl:0:2", 50_000)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        done = _run(tree.root)
    finally:
        stop.set()
        feeder.join()
    assert done.returncode == 0, done.stderr
    assert "RAPL not readable here" not in done.stdout
    assert "RAPL (CPU): RAPL counters (package-0)" in done.stdout
    rows = _rows(done.stdout)
    assert len(rows) == 3
    for row in rows:
        assert float(row[3]) > 0 and float(row[6]) > 0  # RAPL package and DRAM watts
        assert float(row[8]) > 0 and float(row[10]) > 0  # TDP/RAPL and RAM/DRAM ratios
