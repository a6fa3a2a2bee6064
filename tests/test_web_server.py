"""The ASGI middleware in a real server: uvicorn in a subprocess serving ``web_app.py`` on 127.0.0.1, a real HTTP
client (``http.client``, keep-alive connections from several threads), a graceful shutdown by SIGTERM.

Checks: 10,000 requests all counted in the store; a streaming response and a handler's exception recorded; and on
the real host, with a CPU-busy endpoint, the requests' energy is the service's measured energy within 5 %.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import tracker
from tracker.carbon.accounting import J_PER_KWH

pytest.importorskip("uvicorn")
pytest.importorskip("starlette")

TESTS = Path(__file__).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def uvicorn_server(tmp_path: Path, **env: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """uvicorn serving web_app.py; on leaving, SIGTERM (graceful: lifespan shutdown writes the last interval)."""
    port = _free_port()
    found: dict[str, Any] = {"store": str(tmp_path / "web.db"), "summary": tmp_path / "summary.json"}
    environ = {**os.environ, "WEB_STORE": found["store"], "WEB_SUMMARY": str(found["summary"]), **env}
    command = [sys.executable, "-m", "uvicorn", "web_app:app", "--app-dir", str(TESTS), "--host", "127.0.0.1",
               "--port", str(port), "--lifespan", "on", "--log-level", "warning", "--no-access-log"]  # fmt: skip
    server = subprocess.Popen(command, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"uvicorn did not start: {server.communicate()[0]}") from None
                time.sleep(0.1)
        yield port, found
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=60)
        found["output"] = output
        found["returncode"] = server.returncode
    found["summaries"] = json.loads(found["summary"].read_text(encoding="utf-8"))


def get(connection: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, response.read()


@pytest.mark.slow
def test_uvicorn_10000_requests_streaming_and_errors_nothing_lost(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    # halfway, the clients pause past an interval's end: the requests span two intervals however fast they go
    halfway = threading.Barrier(4, action=lambda: time.sleep(2.5))
    with uvicorn_server(tmp_path, WEB_INTERVAL="2") as (port, found):

        def client(k: int) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                for i in range(2500):
                    if i == 1250:
                        halfway.wait(timeout=60)
                    status, body = get(connection, f"/items/{k * 2500 + i}")
                    assert status == 200 and body == f"item {k * 2500 + i}".encode()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        started = time.perf_counter()
        status, body = get(connection, "/stream")
        assert status == 200 and body.count(b"chunk") == 5 and time.perf_counter() - started >= 0.19
        assert get(connection, "/boom")[0] == 500
        connection.close()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)  # uvicorn closed the other one
        assert get(connection, "/missing")[0] == 404
        connection.close()
    assert not errors, errors[:3]
    assert found["returncode"] in (0, -signal.SIGTERM), found["output"]  # uvicorn re-raises the signal
    assert "handler failed" in found["output"]  # the exception reached the server (it logs it), not swallowed
    stored = tracker.load_runs(found["store"])
    items = stored[stored["endpoint"] == "GET /items/{id}"]
    assert items["functional_units"].sum() == 10_000  # every request, across several intervals
    assert len(items) >= 2 and len(items) == items["started_at"].nunique()  # one row per interval, not per request
    rows = {(e, c): r for e, c, r in zip(stored["endpoint"], stored["status_class"], stored.itertuples(), strict=True)}
    assert rows[("GET /boom", "5xx")].functional_units == 1
    assert rows[("GET /stream", "2xx")].duration_s >= 0.19  # to the last chunk sent
    assert rows[("GET (unmatched)", "4xx")].functional_units == 1
    assert sum(s["requests"] for s in found["summaries"]) == 10_003
    # every interval's rows add up to the service's measured energy for it
    total = sum(s["service_joules"] for s in found["summaries"])
    assert stored["energy_kwh"].sum() * J_PER_KWH == pytest.approx(total, rel=1e-9)


@pytest.mark.slow
def test_busy_endpoint_requests_account_for_the_service_energy_within_5_percent(tmp_path: Path) -> None:
    """On the real host (its own CPU source: RAPL where readable, else the TDP model), process attribution."""
    with uvicorn_server(tmp_path, WEB_INTERVAL="600", WEB_BUSY_S="0.02") as (port, found):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(150):  # 3 s of CPU in requests
            assert get(connection, "/busy")[0] == 200
        connection.close()
    assert found["returncode"] in (0, -signal.SIGTERM), found["output"]  # uvicorn re-raises the signal
    (summary,) = found["summaries"]
    assert summary["requests"] == 150
    assert summary["service_joules"] > 0
    ratio = summary["request_joules"] / summary["service_joules"]
    print(f"requests' share of the service's energy: {ratio:.4f}", summary)  # shown with -rP
    assert 0.95 <= ratio <= 1.0, summary
    stored = tracker.load_runs(found["store"])
    busy = stored[stored["endpoint"] == "GET /busy"]
    assert busy["energy_kwh"].sum() * J_PER_KWH == pytest.approx(summary["request_joules"], rel=1e-9)
    assert stored["energy_kwh"].sum() * J_PER_KWH == pytest.approx(summary["service_joules"], rel=1e-9)


@pytest.mark.slow
def test_a_wsgi_server_killed_by_sigterm_still_writes_its_last_interval(tmp_path: Path) -> None:
    """werkzeug's threaded server leaves SIGTERM's default: the package's handler ends the interval's run, and its
    endpoints' records are written before the process dies of the signal."""
    pytest.importorskip("flask")
    port, store = _free_port(), str(tmp_path / "flask.db")
    server = subprocess.Popen([sys.executable, str(TESTS / "web_flask_app.py"), str(port), store],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                connection.connect()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, server.communicate()[0]
                time.sleep(0.1)
        for i in range(300):
            assert get(connection, f"/items/{i}") == (200, f"item {i}".encode())
        connection.close()
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=60)
    assert server.returncode == -signal.SIGTERM, output
    stored = tracker.load_runs(store)
    items = stored[stored["endpoint"] == "GET /items/<int:item_id>"]
    assert items["functional_units"].sum() == 300
    assert set(items["status"]) == {"terminated"}
