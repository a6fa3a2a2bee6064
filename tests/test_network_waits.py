"""Waits on a network that silently drops packets, in a network namespace (tests/netns.py): bounded, and paid once.

Inside the namespace a name lookup takes the resolver's full timeout (5 s x 2 attempts) and a connection to the
metadata URLs is accepted but never answered.
"""

from __future__ import annotations

import re

import pytest

from tests.netns import HANGING_NAME, run_inside, silent_network

pytestmark = pytest.mark.slow

FORCED = "cpu_watts=10, gpu_watts=0, ram_watts=2, interval=0.05"


def test_location_detection_is_waited_for_once_per_process(tmp_path: pytest.TempPathFactory) -> None:
    """cloud_metadata=on and geoip=true: the geo-IP name lookup hangs past the whole 2 s budget. Five runs
    wait for it once (the first run's budget), not five times."""
    code = f"""
import os, time
for provider in ("AWS", "GCP", "AZURE"):
    os.environ[f"TRACKER_METADATA_{{provider}}_URL"] = SILENT_URL
os.environ["TRACKER_GEOIP_URL"] = "https://{HANGING_NAME}/json/"
import tracker
began = time.monotonic()
for i in range(5):
    with tracker.track(cloud_metadata="on", geoip=True, store={str(tmp_path / "runs.db")!r}, {FORCED}) as run:
        pass
    print("RUN", round(time.monotonic() - began, 2), run.location_source, "|", " ".join(run.notes))
print("ELAPSED", time.monotonic() - began)
"""
    with silent_network() as ns:
        out = run_inside(ns, code, timeout=60)
    elapsed = float(re.findall(r"ELAPSED (\S+)", out)[0])
    runs = re.findall(r"RUN .*", out)
    assert len(runs) == 5
    assert all("world-average" in line and "did not finish within 2.00 s" in line for line in runs), out
    assert 1.9 <= elapsed < 4.0, out  # the first run's 2 s budget, and nearly nothing more for the other four


def test_a_postgres_host_name_whose_lookup_hangs_is_bounded_by_the_connect_timeout(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The docs promise connect_timeout (3 s) for a store that cannot be reached: the name lookup included.
    The record goes to the spool."""
    code = f"""
import time
import tracker
from tracker.errors import StoreError
from tracker.stores.postgres import PostgresStore

store = PostgresStore("postgresql://tracker@{HANGING_NAME}:5432/runs")
began = time.monotonic()
try:
    store.count()
except StoreError as exc:
    print("REFUSED", exc)
print("COUNT", time.monotonic() - began)
run = tracker.Tracker(store="postgresql://tracker@{HANGING_NAME}/runs", {FORCED}).start()
began = time.monotonic()
run.stop()
print("STOP", time.monotonic() - began, " ".join(run.notes))
"""
    with silent_network() as ns:
        out = run_inside(ns, code, env={"XDG_DATA_HOME": str(tmp_path / "data")}, timeout=90)
    assert "REFUSED cannot connect to PostgreSQL store" in out and HANGING_NAME in out, out
    count_s = float(re.findall(r"COUNT (\S+)", out)[0])
    stop_s = float(re.findall(r"STOP (\S+)", out)[0])
    assert count_s < 4.0, out  # connect_timeout 3 s, the lookup included (10 s before)
    assert stop_s < 4.0, out
    assert "spool" in out, out
