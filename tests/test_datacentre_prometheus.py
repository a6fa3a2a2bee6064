"""The Prometheus path of ``tracker datacentre`` against the real server from Debian's packages: history loaded
with ``promtool tsdb create-blocks-from openmetrics`` into a temporary data directory, Prometheus on a free
loopback port, the daily integration pushed into the query. Both paths give the same kWh on the same data; at gaps
they differ, by what each does with the missing minutes (tested to the watt-minute)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from datacentre_support import INVENTORY_HEADER, equipment, write_csv, write_power

from tracker.cli import main
from tracker.footprint.inventory import load_inventory
from tracker.footprint.power import read_power
from tracker.footprint.prometheus_source import PrometheusError, PrometheusSource
from tracker.stores import open_store

FIRST = date(2026, 3, 14)
DAYS = 2
GAPS = {"array-01": {*range(100, 103), *range(1440 + 600, 1440 + 630)}}  # 3 min on day 1; 30 min on day 2
START = datetime(2026, 3, 14, tzinfo=timezone.utc)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (apt-get install prometheus)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def _watts(ident: str, minute: int) -> float:
    """Varying power, so that interpolation and means are not trivially equal: exact binary fractions."""
    base = {"esx-01": 400.0, "array-01": 250.0, "sw-01": 60.0}[ident]
    return base + (minute % 17) * 0.25 + (minute // 720) * 8.0


def _samples() -> list[tuple[str, str, int, float]]:
    rows = []
    for minute in range(DAYS * 1440):
        for ident, category in (("esx-01", "compute"), ("array-01", "storage"), ("sw-01", "network")):
            if minute not in GAPS.get(ident, set()):
                rows.append((ident, category, minute, _watts(ident, minute)))
    return rows


def _files(tmp_path: Path) -> dict[str, Path]:
    inventory = write_csv(
        tmp_path / "inv.csv",
        INVENTORY_HEADER,
        [equipment("esx-01", vcpus=32), equipment("array-01", "storage"), equipment("sw-01", "network")],
    )
    rows = [((START + timedelta(minutes=m)).isoformat(), ident, repr(w)) for ident, _, m, w in _samples()]
    power = write_power(tmp_path / "power.csv", rows)
    pue = write_csv(tmp_path / "pue.csv", ("site", "date", "pue"), [("AMS1", "2026-03", 1.3)])
    sup = write_csv(
        tmp_path / "sup.csv",
        ("site", "valid_from", "supplier", "share_percent", "kg_co2e_per_kwh"),
        [("AMS1", "2026-01-01", "wind", 100, 0.008)],
    )
    sites = write_csv(tmp_path / "sites.csv", ("site", "country"), [("AMS1", "NL")])
    return {"inventory": inventory, "power": power, "pue": pue, "suppliers": sup, "sites": sites}


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prometheus with the samples' history, on a free loopback port."""
    promtool, server = _tool("promtool"), _tool("prometheus")
    folder = tmp_path_factory.mktemp("prometheus")
    text = [
        "# HELP equipment_power_watts Instantaneous power of a piece of equipment.",
        "# TYPE equipment_power_watts gauge",
    ]
    base = int(START.timestamp())
    for ident, category, minute, watts in _samples():
        text.append(
            f'equipment_power_watts{{category="{category}",equipment="{ident}"}} {watts!r} {base + minute * 60}'
        )
    for minute in range(1440):  # the review's split series (finding 4), on the first day only
        instance = "a" if minute < 720 else "b"  # esx-02's exporter relabelled at noon: one series, then another
        stamp = base + minute * 60
        text.append(
            f'equipment_power_watts{{category="compute",equipment="esx-02",instance="{instance}"}} 1000 {stamp}'
        )
        for psu in ("1", "2"):  # esx-03 metered per power supply; the second one silent for 300 minutes
            if psu == "1" or not 600 <= minute < 900:
                text.append(f'equipment_power_watts{{category="compute",equipment="esx-03",psu="{psu}"}} 500 {stamp}')
    text.append("# EOF")
    (folder / "history.om").write_text("\n".join(text) + "\n", encoding="utf-8")
    data = folder / "data"
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(folder / "history.om"), str(data)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (folder / "prometheus.yml").write_text("global:\n  scrape_interval: 1m\n", encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            server,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=100y",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("Prometheus did not start")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
        if proc.poll() is None:
            proc.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _by_equipment(days) -> dict[tuple[str, date], tuple[float, int]]:  # type: ignore[no-untyped-def]
    found = {}
    for day in days:
        for position, ident in enumerate(day.ids):
            found[(ident, day.day)] = (float(day.kwh[position]), int(day.measured[position]))
    return found


def test_both_paths_give_the_same_kwh(prometheus: str, tmp_path: Path) -> None:
    files = _files(tmp_path)
    inventory = load_inventory(files["inventory"])
    until = FIRST + timedelta(days=DAYS)
    pulled = _by_equipment(PrometheusSource(prometheus, integration="avg").days(inventory, FIRST, until))
    summed = _by_equipment(PrometheusSource(prometheus, integration="sum").days(inventory, FIRST, until))
    from_file = _by_equipment(read_power(files["power"], list(inventory.equipment), max_gap_min=5))
    bare_file = _by_equipment(read_power(files["power"], list(inventory.equipment), max_gap_min=0))
    assert len(pulled) == len(from_file) == 6
    for key, (kwh, measured) in from_file.items():
        assert pulled[key][1] == summed[key][1] == bare_file[key][1]  # count_over_time: the minutes sampled
        # sum_over_time is the file path without interpolation, on every day, gaps or not
        assert summed[key][0] == pytest.approx(bare_file[key][0], rel=1e-12)
        if measured == 1440:  # a complete day: avg_over_time x 24 h is the file path's rectangle rule
            assert pulled[key][0] == pytest.approx(kwh, rel=1e-12), key
    # at gaps: Prometheus counts the missing minutes at the day's mean power; the file path interpolates 3 minutes
    # (max gap 5) and leaves 30 out
    for offset, missing in ((0, 3), (1, 30)):
        key = ("array-01", FIRST + timedelta(days=offset))
        sampled = [
            _watts("array-01", m) for m in range(offset * 1440, (offset + 1) * 1440) if m not in GAPS["array-01"]
        ]
        assert len(sampled) == 1440 - missing == pulled[key][1]
        assert pulled[key][0] == pytest.approx(sum(sampled) / len(sampled) * 1440 / 60_000, rel=1e-12)
        assert summed[key][0] == pytest.approx(sum(sampled) / 60_000, rel=1e-12)
        if missing == 3:  # interpolated: 100.. 102 lie on the line from minute 99 to 103
            filled = [
                _watts("array-01", 99) + (_watts("array-01", 103) - _watts("array-01", 99)) * k / 4 for k in (1, 2, 3)
            ]
            assert from_file[key][0] == pytest.approx((sum(sampled) + sum(filled)) / 60_000, rel=1e-12)
        else:
            assert from_file[key][0] == pytest.approx(sum(sampled) / 60_000, rel=1e-12)
        assert not math.isclose(pulled[key][0], from_file[key][0], rel_tol=1e-9)


def test_cli_with_prometheus_stores_the_days(
    prometheus: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _files(tmp_path)
    store = tmp_path / "fp.db"
    args = [
        "datacentre",
        "--inventory",
        str(files["inventory"]),
        "--prometheus",
        prometheus,
        "--pue",
        str(files["pue"]),
        "--suppliers",
        str(files["suppliers"]),
        "--sites",
        str(files["sites"]),
        "--since",
        FIRST.isoformat(),
        "--until",
        (FIRST + timedelta(days=DAYS)).isoformat(),
        "--store",
        str(store),
        "--format",
        "json",
    ]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["days"] == ["2026-03-14", "2026-03-15"] and summary["records"] == 6
    assert summary["incomplete_equipment_days"] == 2
    file_args = [
        *args[:3],
        "--power",
        str(files["power"]),
        *args[5:11],
        "--store",
        str(store),
        "--format",
        "json",
        "--dry-run",
        "--max-gap",
        "0",
    ]
    assert main([*args, "--integration", "sum", "--dry-run"]) == 0
    by_sum = json.loads(capsys.readouterr().out)
    assert main(file_args) == 0
    by_file = json.loads(capsys.readouterr().out)
    assert by_sum["total"]["energy_kwh"] == pytest.approx(by_file["total"]["energy_kwh"], rel=1e-12)
    records = open_store(str(store)).records()
    assert {r.kind for r in records} == {"equipment"} and len(records) == 6
    assert all("computed by the store" in r.tags["power_source"] for r in records)


def test_a_bad_query_is_an_error_naming_it(prometheus: str, tmp_path: Path) -> None:
    inventory = load_inventory(_files(tmp_path)["inventory"])
    source = PrometheusSource(prometheus, {"compute": "not a ( selector", "storage": "x", "network": "y"})
    with pytest.raises(PrometheusError, match="not a"):
        list(source.days(inventory, FIRST, FIRST + timedelta(days=1)))


def test_split_series_are_added_per_equipment_not_doubled(prometheus: str, tmp_path: Path) -> None:
    """Finding 4: a series relabelled at noon gave 48 kWh for 24 (avg); two power supplies, one silent for 300
    minutes, were marked complete (the count capped at 1,440)."""
    inventory = load_inventory(
        write_csv(tmp_path / "inv.csv", INVENTORY_HEADER, [equipment("esx-02"), equipment("esx-03")])
    )
    found, flags = {}, {}
    for integration in ("avg", "sum"):
        (day,) = PrometheusSource(prometheus, integration=integration).days(inventory, FIRST, FIRST + timedelta(days=1))
        found[integration] = _by_equipment([day])
        flags[integration] = getattr(day, "extrapolated", None)
    for integration in ("avg", "sum"):  # relabelled: 1,000 W all day, whole
        assert found[integration][("esx-02", FIRST)] == (pytest.approx(24.0, rel=1e-12), 1440)
    # power supplies: 500 W + 500 W, the second missing 300 minutes: incomplete; avg counts them at its mean
    assert found["avg"][("esx-03", FIRST)] == (pytest.approx(24.0, rel=1e-12), 1440 - 300)
    assert found["sum"][("esx-03", FIRST)] == (pytest.approx(12.0 + 500 * 1140 / 60_000, rel=1e-12), 1440 - 300)
    assert flags == {"avg": True, "sum": False}  # the record's note says the missing minutes were extrapolated


def test_queries_are_evaluated_at_exact_midnights(prometheus: str, tmp_path: Path) -> None:
    """Finding 12: a store that snaps start/end to the step (VictoriaMetrics, Thanos, Mimir) would move a query at
    midnight minus 1 ms to the midnight before, shifting every day; the queries now ask for exact midnights (a
    snapping store changes nothing) with the range written ``[1d] offset 1ms``, and real Prometheus agrees."""
    inventory = load_inventory(write_csv(tmp_path / "inv.csv", INVENTORY_HEADER, [equipment("esx-01")]))
    source = PrometheusSource(prometheus, integration="sum")
    asked = []
    real = source.query_range

    def snapping(query: str, start: float, end: float, step: float) -> list:
        asked.append((query, start, end))
        return real(query, start // step * step, end // step * step, step)  # what a step-aligning store does

    source.query_range = snapping  # type: ignore[method-assign]
    snapped = _by_equipment(source.days(inventory, FIRST, FIRST + timedelta(days=DAYS)))
    plain = _by_equipment(
        PrometheusSource(prometheus, integration="sum").days(inventory, FIRST, FIRST + timedelta(days=DAYS))
    )
    assert snapped == plain and len(plain) == DAYS
    for query, start, end in asked:
        assert start == datetime(2026, 3, 15, tzinfo=timezone.utc).timestamp() and end == start + 86400
        assert "[1d] offset 1ms)" in query
    expected = sum(_watts("esx-01", m) for m in range(1440)) / 60_000
    assert plain[("esx-01", FIRST)] == (pytest.approx(expected, rel=1e-12), 1440)
