"""Web services: energy per endpoint with real Starlette and Flask apps (test clients) and the attribution's rules.

The real server (uvicorn in a subprocess, a real HTTP client on loopback) is in ``test_web_server.py``.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from datetime import datetime, timezone
from typing import Any

import pytest
from runs_factory import make_record
from test_exporters import pushgateway  # noqa: F401  (the real pushgateway, a fixture)
from test_metrics_labels import families, promtool_check

import tracker
from tracker.carbon.accounting import J_PER_KWH
from tracker.cli import main
from tracker.errors import ConfigError
from tracker.exporters import prometheus
from tracker.exporters import requests as request_metrics
from tracker.integrations.web import TrackerASGIMiddleware, TrackerWSGIMiddleware, WebService, track_flask
from tracker.integrations.web.aggregate import (
    UNATTRIBUTED,
    UNMATCHED,
    Aggregator,
    IntervalStat,
    fine_index,
    fine_upper,
)
from tracker.integrations.web.attribution import attribute

pytest.importorskip("starlette")
pytest.importorskip("flask")

# Starlette's TestClient prefers httpx2 now; httpx is what it still runs on here
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
FORCED = {"cpu_watts": 10, "ram_watts": 2, "gpu_watts": 0, "interval": 0.05}


@pytest.fixture(autouse=True)
def _no_series_left() -> Any:
    yield
    from tracker.integrations.web import service

    for left in list(getattr(service, "_services", ())):  # one web service per process: each test closes its own
        left.close()
    request_metrics._sources.clear()  # each test's services leave no series for the next test's scrape


def starlette_app(store: str, **options: Any) -> Any:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse, StreamingResponse
    from starlette.routing import Mount, Route

    async def item(request: Any) -> Any:
        return PlainTextResponse(f"item {request.path_params['id']}")

    async def user(request: Any) -> Any:
        return PlainTextResponse(request.path_params["name"])

    async def boom(request: Any) -> Any:
        raise RuntimeError("handler failed")

    async def stream(request: Any) -> Any:
        async def chunks() -> Any:
            for i in range(4):
                await asyncio.sleep(0.05)
                yield f"chunk {i}\n".encode()

        return StreamingResponse(chunks(), media_type="text/plain")

    def sync_item(request: Any) -> Any:  # a def endpoint: Starlette runs it in its thread pool
        return PlainTextResponse("sync")

    app = Starlette(
        routes=[
            Route("/items/{id:int}", item),
            Route("/boom", boom),
            Route("/stream", stream),
            Route("/sync", sync_item),
            Mount("/api", routes=[Route("/users/{name}", user)]),
        ]
    )
    app.add_middleware(TrackerASGIMiddleware, project="web", store=store, **{**FORCED, **options})
    return app


def middleware_of(app: Any) -> TrackerASGIMiddleware:
    layer = app.middleware_stack
    while not isinstance(layer, TrackerASGIMiddleware):
        layer = layer.app
    return layer


def by_endpoint(records: Any) -> dict[tuple[str, str | None], Any]:
    return {(r.endpoint, r.status_class): r for r in records}


def test_starlette_records_per_route_template_with_streaming_and_errors(store_path: str) -> None:
    from starlette.testclient import TestClient

    app = starlette_app(store_path)
    with TestClient(app, raise_server_exceptions=True) as client:  # lifespan: startup starts, shutdown writes
        for i in range(20):
            assert client.get(f"/items/{i}").text == f"item {i}"
        assert client.get("/api/users/ada").text == "ada"
        assert client.post("/items/1").status_code == 405
        assert client.get("/no/such/path").status_code == 404
        streamed = client.get("/stream")
        assert streamed.text.count("chunk") == 4
        with pytest.raises(RuntimeError, match="handler failed"):  # re-raised to the server, 500 recorded
            client.get("/boom")
        assert client.get("/sync").text == "sync"
        middleware = middleware_of(app)
        assert middleware.service.running
    assert not middleware.service.running  # lifespan shutdown wrote the last interval

    summary = middleware.service.summaries[-1]
    assert summary.requests == 26
    found = by_endpoint(summary.records)
    assert found[("GET /items/{id:int}", "2xx")].functional_units == 20  # the template, never /items/7
    assert found[("GET /api/users/{name}", "2xx")].functional_units == 1  # under its mount's prefix
    assert found[("POST /items/{id:int}", "4xx")].functional_units == 1
    assert found[(f"GET {UNMATCHED}", "4xx")].functional_units == 1
    assert found[("GET /boom", "5xx")].functional_units == 1
    assert found[("GET /sync", "2xx")].functional_units == 1
    assert found[("GET /stream", "2xx")].duration_s >= 0.19  # to the last chunk: four 50 ms waits
    assert not any("/items/7" in (r.endpoint or "") for r in summary.records)

    stored = tracker.load_runs(store_path)
    assert len(stored) == len(summary.records)  # one row per endpoint and status class, not one per request
    assert stored["functional_units"].sum() == 26
    assert set(stored["functional_unit"].dropna()) == {"requests"}
    # the interval's records add up to the service's measured energy
    assert stored["energy_kwh"].sum() * J_PER_KWH == pytest.approx(summary.service_joules, rel=1e-9)
    assert summary.service_joules > 0
    assert (stored["emissions_kg"] >= 0).all() and stored["emissions_kg"].sum() > 0


def test_every_request_is_counted_and_sampling_reads_cpu_of_some(store_path: str) -> None:
    from starlette.testclient import TestClient

    app = starlette_app(store_path, sample_rate=0.1, interval_s=3600)
    with TestClient(app) as client:
        for i in range(1500):
            client.get(f"/items/{i}")
    summary = middleware_of(app).service.summaries[-1]
    assert summary.requests == 1500
    assert 80 <= summary.sampled <= 240  # ~10 %: a binomial(1500, 0.1) is inside this with p > 0.9999
    record = by_endpoint(summary.records)[("GET /items/{id:int}", "2xx")]
    assert record.functional_units == 1500
    # the sampled CPU time stands for all the endpoint's requests: its share is not cut to the sampled tenth
    assert summary.request_cpu_s > 0
    per_sampled = summary.request_cpu_s / 1500
    assert per_sampled > 0


def test_a_handler_exception_records_500_without_propagation_settings(store_path: str) -> None:
    from starlette.testclient import TestClient

    app = starlette_app(store_path)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/boom").status_code == 500
        assert client.get("/boom").status_code == 500
    found = by_endpoint(middleware_of(app).service.summaries[-1].records)
    assert found[("GET /boom", "5xx")].functional_units == 2


def test_intervals_write_one_record_per_endpoint_each(store_path: str) -> None:
    from starlette.testclient import TestClient

    app = starlette_app(store_path, interval_s=0.4)
    with TestClient(app) as client:
        deadline = time.perf_counter() + 1.5
        n = 0
        while time.perf_counter() < deadline:
            client.get(f"/items/{n}")
            n += 1
            time.sleep(0.005)
    service = middleware_of(app).service
    assert len(service.summaries) >= 3  # intervals closed by the service's thread, then the shutdown's
    stored = tracker.load_runs(store_path)
    items = stored[stored["endpoint"] == "GET /items/{id:int}"]
    assert items["functional_units"].sum() == n  # nothing lost across the intervals' boundaries
    assert len(items) == sum(1 for s in service.summaries if s.requests)
    assert stored["energy_kwh"].sum() * J_PER_KWH == pytest.approx(sum(s.service_joules for s in service.summaries))
    starts = sorted(stored["started_at"].unique())
    assert len(starts) == len(service.summaries)


def test_cardinality_is_capped_and_methods_normalised(store_path: str) -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    async def ok(request: Any) -> Any:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route(f"/r{i}", ok, methods=["GET", "PROPFIND"]) for i in range(6)])
    app.add_middleware(TrackerASGIMiddleware, store=store_path, max_endpoints=3, **FORCED)
    with TestClient(app) as client:
        client.request("PROPFIND", "/r0")  # a method outside RFC 9110's: named OTHER, one endpoint of the three
        for i in range(6):
            client.get(f"/r{i}")
    found = by_endpoint(middleware_of(app).service.summaries[-1].records)
    assert found[("OTHER /r0", "2xx")].functional_units == 1
    assert found[("GET /r0", "2xx")].functional_units == 1
    assert found[("GET /r1", "2xx")].functional_units == 1
    assert found[("GET (other)", "2xx")].functional_units == 4  # past the cap of 3 (route, method) pairs
    assert len([k for k in found if k[0] != UNATTRIBUTED]) == 4


def test_prometheus_series_and_report_by_endpoint(store_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    from prometheus_client import generate_latest
    from starlette.testclient import TestClient

    app = starlette_app(store_path)
    with TestClient(app, raise_server_exceptions=False) as client:
        for i in range(12):
            client.get(f"/items/{i}")
        client.get("/boom")
        service = middleware_of(app).service
        closed = service.flush()  # close an interval: its energy reaches the counters
        assert closed is not None
        text = generate_latest(prometheus.registry()).decode()
    promtool_check(text)
    samples = families(text)
    labels = {"route": "/items/{id:int}", "method": "GET", "status_class": "2xx"}
    requests = [s for s in samples["tracker_requests"] if s.name == "tracker_requests_total" and s.labels == labels]
    assert requests[0].value == 12
    energy = [s for s in samples["tracker_request_energy_joules"] if s.labels == labels]
    assert energy[0].name == "tracker_request_energy_joules_total" and energy[0].value > 0
    share = closed.shares[("/items/{id:int}", "GET", "2xx")]
    assert energy[0].value == pytest.approx(share.joules)
    duration = {s.name: s for s in samples["tracker_request_duration_seconds"]
                if s.labels.get("route") == labels["route"] and s.labels.get("le") in (None, "+Inf")}  # fmt: skip
    assert duration["tracker_request_duration_seconds_count"].value == 12
    per_request = [s for s in samples["tracker_request_energy_per_request_joules"]
                   if s.name.endswith("_count") and s.labels == labels]  # fmt: skip
    assert per_request[0].value == 12  # every request was sampled (sample_rate 1)
    errors = [s for s in samples["tracker_requests"] if s.labels.get("status_class") == "5xx"]
    assert errors[0].labels["route"] == "/boom" and errors[0].value == 1

    assert main(["report", "--store", store_path, "--by", "endpoint", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    groups = {g["endpoint"]: g for g in report["rows"]}
    assert groups["GET /items/{id:int}"]["functional_units"] == 12
    assert groups["GET /items/{id:int}"]["functional_unit"] == "requests"
    assert groups["GET /items/{id:int}"]["sci_kg_per_unit"] > 0  # SCI per request
    assert UNATTRIBUTED in groups
    assert main(["report", "--store", store_path, "--by", "endpoint"]) == 0
    assert "GET /items/{id:int}" in capsys.readouterr().out


def test_flask_records_rules_streaming_and_exceptions(store_path: str) -> None:
    from flask import Flask, Response, stream_with_context

    app = Flask("webtest")
    app.config["PROPAGATE_EXCEPTIONS"] = True

    @app.get("/items/<int:item_id>")
    def item(item_id: int) -> str:
        return f"item {item_id}"

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("handler failed")

    @app.get("/stream")
    def stream() -> Response:
        def chunks() -> Any:
            for i in range(4):
                time.sleep(0.05)
                yield f"chunk {i}\n"

        return Response(stream_with_context(chunks()), mimetype="text/plain")

    middleware = track_flask(app, project="flask", store=store_path, **FORCED)
    client = app.test_client()
    for i in range(10):
        assert client.get(f"/items/{i}").text == f"item {i}"
    assert client.get("/stream").text.count("chunk") == 4
    with pytest.raises(RuntimeError, match="handler failed"):
        client.get("/boom")
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and missing.text  # read: a test client keeps its last response unread
    summary = middleware.service.stop()
    assert summary is not None
    found = by_endpoint(summary.records)
    assert found[("GET /items/<int:item_id>", "2xx")].functional_units == 10
    assert found[("GET /boom", "5xx")].functional_units == 1
    assert found[("GET /stream", "2xx")].duration_s >= 0.19  # the body streamed after the view returned
    assert found[(f"GET {UNMATCHED}", "4xx")].functional_units == 1
    stored = tracker.load_runs(store_path)
    assert stored["functional_units"].sum() == 13
    assert stored["energy_kwh"].sum() * J_PER_KWH == pytest.approx(summary.service_joules, rel=1e-9)


def test_flask_10000_requests_from_threads_nothing_lost(store_path: str) -> None:
    from flask import Flask

    app = Flask("webload")

    @app.get("/items/<int:item_id>")
    def item(item_id: int) -> str:
        return "x"

    middleware = track_flask(app, project="load", store=store_path, interval_s=0.5, sample_rate=0.5, **FORCED)
    errors: list[BaseException] = []

    def client_thread(k: int) -> None:
        client = app.test_client()
        try:
            for i in range(2500):
                client.get(f"/items/{k * 2500 + i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=client_thread, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    middleware.close()
    stored = tracker.load_runs(store_path)
    assert stored[stored["endpoint"] == "GET /items/<int:item_id>"]["functional_units"].sum() == 10_000
    assert sum(s.requests for s in middleware.service.summaries) == 10_000
    assert middleware.service.aggregator.counted == 10_000


def test_a_run_stopped_by_the_exit_handler_still_writes_its_endpoints(store_path: str) -> None:
    """SIGTERM and interpreter exit stop every active run (tracker.core.lifecycle): the interval's run too, and
    its endpoints' records are written by whoever ends it."""
    from tracker.core.run import _stop_all

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["tracker.route"] = "/hello"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hi"]

    middleware = TrackerWSGIMiddleware(app, store=store_path, **FORCED)
    for _ in range(3):
        body = middleware({"REQUEST_METHOD": "GET", "PATH_INFO": "/hello"}, lambda s, h, e=None: None)
        assert b"".join(body) == b"hi"
        body.close()  # type: ignore[attr-defined]
    _stop_all("terminated")
    stored = tracker.load_runs(store_path)
    row = stored[stored["endpoint"] == "GET /hello"].iloc[0]
    assert row["functional_units"] == 3 and row["status"] == "terminated"
    middleware.service.running = False


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="sample_rate"):
        WebService(sample_rate=0)
    with pytest.raises(ConfigError, match="interval_s"):
        WebService(interval_s=-1)
    with pytest.raises(ConfigError, match="max_endpoints"):
        WebService(max_endpoints=0)
    with pytest.raises(ConfigError, match="country"):
        TrackerASGIMiddleware(lambda s, r, c: None, country="Atlantis")  # type: ignore[arg-type, return-value]


# -- the attribution, without a server -----------------------------------------------------------------------------
def _stat(requests: int, sampled: int, cpu_ns: int, duration_ns: int = 1_000_000) -> IntervalStat:
    stat = IntervalStat()
    stat.requests, stat.sampled, stat.cpu_ns, stat.duration_ns = requests, sampled, cpu_ns, duration_ns
    if sampled:
        stat.cpu_hist[fine_index(cpu_ns // sampled)] = sampled
    return stat


def _service(kwh: float = 1 / 1024) -> Any:
    return make_record(cpu_energy_kwh=kwh, ram_energy_kwh=0.0, emissions_kg=kwh * 0.5, duration_s=60.0,
                       started_at=datetime(2026, 1, 1, tzinfo=timezone.utc))  # fmt: skip


def test_energy_follows_cpu_time_scaled_for_sampling() -> None:
    service = _service()
    stats = {
        ("/a", "GET", "2xx"): _stat(requests=100, sampled=10, cpu_ns=10 * 2_000_000),  # 100 x 2 ms (estimated)
        ("/b", "GET", "2xx"): _stat(requests=10, sampled=10, cpu_ns=10 * 10_000_000),  # 10 x 10 ms
    }
    summary = attribute(service, stats, process_cpu_s=0.4)  # requests: 0.3 s of the process's 0.4 s
    found = by_endpoint(summary.records)
    total = service.energy_kwh
    assert found[("GET /a", "2xx")].energy_kwh == pytest.approx(total * 0.2 / 0.4)
    assert found[("GET /b", "2xx")].energy_kwh == pytest.approx(total * 0.1 / 0.4)
    assert found[(UNATTRIBUTED, None)].energy_kwh == pytest.approx(total * 0.25)
    assert found[(UNATTRIBUTED, None)].functional_units is None
    assert sum(r.energy_kwh for r in summary.records) == pytest.approx(total, rel=1e-12)
    assert sum(r.emissions_kg for r in summary.records) == pytest.approx(service.emissions_kg, rel=1e-12)
    assert summary.request_joules == pytest.approx(total * J_PER_KWH * 0.75)
    assert found[("GET /a", "2xx")].functional_units == 100
    # each sampled request's energy lands in its bucket: /b's requests used 10 ms x (joules per CPU-second)
    per_request = total * J_PER_KWH / 0.4 * 0.010
    share = summary.shares[("/b", "GET", "2xx")]
    assert sum(share.energy_counts) == 10
    assert share.energy_sum_j == pytest.approx(10 * per_request)


def test_requests_never_get_more_than_the_service_and_wall_time_is_the_fallback() -> None:
    service = _service()
    stats = {("/a", "GET", "2xx"): _stat(5, 5, 5_000_000_000)}
    summary = attribute(service, stats, process_cpu_s=1.0)  # the clocks disagree: capped at the whole
    assert summary.request_joules == pytest.approx(service.energy_kwh * J_PER_KWH)
    assert [r.endpoint for r in summary.records] == ["GET /a"]
    stats = {("/a", "GET", "2xx"): _stat(3, 3, 0, duration_ns=3_000), ("/b", "GET", "2xx"): _stat(1, 1, 0, 1_000)}
    summary = attribute(service, stats, process_cpu_s=0.5)  # a clock that saw no request's CPU: wall time
    found = by_endpoint(summary.records)
    assert found[("GET /a", "2xx")].energy_kwh == pytest.approx(service.energy_kwh * 0.75)
    assert "wall time" in found[("GET /a", "2xx")].notes[-1]
    summary = attribute(service, {}, process_cpu_s=0.5)  # no request at all: everything unattributed
    assert [(r.endpoint, r.energy_kwh) for r in summary.records] == [(UNATTRIBUTED, service.energy_kwh)]


def test_fine_cpu_bins_cover_every_value() -> None:
    for ns in (*range(0, 300), 1_000, 12_345, 999_999, 10**9, 123_456_789_012):
        index = fine_index(ns)
        assert fine_upper(index) >= ns
        assert index == 0 or fine_upper(index - 1) < ns or fine_index(fine_upper(index - 1)) == index
        assert fine_upper(index) <= max(ns * 1.25, ns + 1)


def test_aggregator_folds_what_threads_append() -> None:
    aggregator = Aggregator(max_endpoints=10)

    def work() -> None:
        for i in range(5000):
            aggregator.record(("/x", "GET", 200 if i % 10 else 503, 1000, -1))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for _ in range(20):
        aggregator.fold()  # folds while the threads append
    for t in threads:
        t.join()
    taken = aggregator.take()
    assert taken[("/x", "GET", "2xx")].requests == 18_000
    assert taken[("/x", "GET", "5xx")].requests == 2_000
    assert aggregator.take() == {}
    assert math.isclose(sum(s.requests for s in aggregator.series()), 20_000)


def test_django_routes_come_from_the_resolver_match(store_path: str) -> None:
    """Real Django behind the WSGI middleware, its route named by RouteMiddleware (``resolver_match.route``)."""
    django = pytest.importorskip("django")
    import sys
    import types

    from django.conf import settings
    from werkzeug.test import Client

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            ALLOWED_HOSTS=["*"],
            SECRET_KEY="test",
            ROOT_URLCONF="tracker_web_test_urls",
            MIDDLEWARE=["tracker.integrations.web.RouteMiddleware"],
            LOGGING_CONFIG=None,
        )
    django.setup()
    from django.core.wsgi import get_wsgi_application
    from django.http import HttpResponse
    from django.urls import path

    def item(request: Any, item_id: int) -> Any:
        return HttpResponse(f"item {item_id}")

    def boom(request: Any) -> Any:
        raise RuntimeError("handler failed")

    urls = types.ModuleType("tracker_web_test_urls")
    urls.urlpatterns = [path("items/<int:item_id>/", item), path("boom/", boom)]  # type: ignore[attr-defined]
    sys.modules["tracker_web_test_urls"] = urls
    middleware = TrackerWSGIMiddleware(get_wsgi_application(), project="django", store=store_path, **FORCED)
    client = Client(middleware)
    for i in range(5):
        assert client.get(f"/items/{i}/").get_data() == f"item {i}".encode()
    failed = client.get("/boom/")  # Django turns the exception into its 500 page
    assert failed.status_code == 500 and failed.get_data()
    missing = client.get("/nowhere/")
    assert missing.status_code == 404 and missing.get_data()
    summary = middleware.service.stop()
    assert summary is not None
    found = by_endpoint(summary.records)
    assert found[("GET /items/<int:item_id>/", "2xx")].functional_units == 5
    assert found[("GET /boom/", "5xx")].functional_units == 1
    assert found[(f"GET {UNMATCHED}", "4xx")].functional_units == 1


def test_a_forked_worker_measures_its_own_requests(store_path: str) -> None:
    """gunicorn --preload: the app (and the middleware) is built in the master, requests are served in forked
    workers. The child forgets the parent's run and thread and starts its own at its first request."""
    import os

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["tracker.route"] = "/hello"
        start_response("200 OK", [])
        return [b"hi"]

    middleware = TrackerWSGIMiddleware(app, store=store_path, **FORCED)
    assert middleware.service.running
    pid = os.fork()
    if pid == 0:  # the worker
        code = 1
        try:
            assert not middleware.service.running
            for _ in range(5):
                b"".join(middleware({"REQUEST_METHOD": "GET"}, lambda s, h, e=None: None))
            summary = middleware.service.stop()
            code = 0 if summary is not None and summary.requests == 5 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    stored = tracker.load_runs(store_path)
    assert stored[stored["endpoint"] == "GET /hello"]["functional_units"].sum() == 5
    summary = middleware.service.stop()  # the parent's own interval: none of the child's requests
    assert summary is not None and summary.requests == 0


def test_a_request_cancelled_before_its_response_is_a_499(store_path: str) -> None:
    async def slow(scope: Any, receive: Any, send: Any) -> None:  # a raw ASGI app: no framework at all
        await asyncio.sleep(10)

    middleware = TrackerASGIMiddleware(slow, store=store_path, **FORCED)

    async def serve() -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Any) -> None:
            return None

        task = asyncio.create_task(middleware({"type": "http", "method": "GET", "path": "/slow"}, receive, send))
        await asyncio.sleep(0.05)
        task.cancel()  # the server's answer to a client that went away
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(serve())
    summary = middleware.service.stop()
    assert summary is not None
    assert by_endpoint(summary.records)[(f"GET {UNMATCHED}", "4xx")].functional_units == 1


def test_threadpool_cpu_counts_a_sync_endpoints_cpu_as_its_requests(store_path: str) -> None:
    """Starlette runs ``def`` endpoints in a thread pool: their CPU time is not the loop thread's. Undecorated, it is
    the service's (unattributed) part; with ``@threadpool_cpu`` it is the request's."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from tracker.integrations.web import threadpool_cpu

    def spin(request: Any) -> Any:
        start = time.thread_time()
        while time.thread_time() - start < 0.02:
            sum(range(1000))
        return PlainTextResponse("done")

    app = Starlette(routes=[Route("/plain", spin), Route("/counted", threadpool_cpu(spin))])
    app.add_middleware(TrackerASGIMiddleware, store=store_path, **FORCED)
    with TestClient(app) as client:
        for _ in range(10):
            assert client.get("/plain").text == "done"
            assert client.get("/counted").text == "done"
    summary = middleware_of(app).service.summaries[-1]
    found = by_endpoint(summary.records)
    counted, plain = found[("GET /counted", "2xx")], found[("GET /plain", "2xx")]
    assert counted.energy_kwh > 10 * plain.energy_kwh  # the same work: 20 ms of CPU against the loop's few µs
    assert summary.request_cpu_s >= 0.2  # 10 x 20 ms counted for /counted
    assert found[(UNATTRIBUTED, None)].energy_kwh > 0  # /plain's 200 ms landed here


# -- the review's findings (issue 12, point 5) ------------------------------------------------------------------------
def _spin(seconds: float) -> None:
    start = time.thread_time()
    while time.thread_time() - start < seconds:
        sum(range(1000))


def test_cpu_of_child_tasks_is_the_requests(store_path: str) -> None:
    """Everything below a BaseHTTPMiddleware, and a StreamingResponse's body, runs in tasks of their own (anyio):
    their CPU time is the request's, not (unattributed)."""
    from starlette.applications import Starlette
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.responses import PlainTextResponse, StreamingResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    async def busy(request: Any) -> Any:
        _spin(0.02)
        return PlainTextResponse("x")

    async def stream(request: Any) -> Any:
        async def chunks() -> Any:
            for _ in range(2):
                _spin(0.01)
                yield b"x"

        return StreamingResponse(chunks())

    class Noop(BaseHTTPMiddleware):
        async def dispatch(self, request: Any, call_next: Any) -> Any:
            return await call_next(request)

    app = Starlette(routes=[Route("/busy", busy), Route("/stream", stream)])
    app.add_middleware(Noop)
    app.add_middleware(TrackerASGIMiddleware, store=store_path, **FORCED)
    with TestClient(app) as client:
        for _ in range(10):
            assert client.get("/busy").text == "x"
            assert client.get("/stream").text == "xx"
    summary = middleware_of(app).service.summaries[-1]
    assert summary.request_cpu_s >= 0.38  # 10 x 20 ms + 10 x 2 x 10 ms, all in child tasks
    found = by_endpoint(summary.records)
    unattributed = found[(UNATTRIBUTED, None)].energy_kwh
    assert found[("GET /busy", "2xx")].energy_kwh > unattributed
    assert found[("GET /stream", "2xx")].energy_kwh > unattributed


def test_routes_under_mounts_are_their_templates(store_path: str) -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route
    from starlette.testclient import TestClient

    async def user(request: Any) -> Any:
        return PlainTextResponse("u")

    async def files(scope: Any, receive: Any, send: Any) -> None:  # a mounted app with no routes of its own
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"f"})

    app = Starlette(
        routes=[
            Mount("/tenants/{tenant}", routes=[Mount("/v1", routes=[Route("/users/{name}", user)])]),
            Mount("/api", routes=[Route("/users/{name}", user)]),
            Mount("/static", app=files),
        ]
    )
    app.add_middleware(TrackerASGIMiddleware, store=store_path, **FORCED)
    with TestClient(app) as client:
        for tenant in ("acme", "globex", "initech"):
            assert client.get(f"/tenants/{tenant}/v1/users/bob").text == "u"
        assert client.get("/api/users/ada").text == "u"
        assert client.get("/api/nope").status_code == 404
        assert client.get("/api/users/x/", follow_redirects=False).status_code == 307
        assert client.get("/static/css/site.css").text == "f"
    found = by_endpoint(middleware_of(app).service.summaries[-1].records)
    assert found[("GET /tenants/{tenant}/v1/users/{name}", "2xx")].functional_units == 3  # no raw tenant names
    assert found[("GET /api/users/{name}", "2xx")].functional_units == 1
    assert found[(f"GET {UNMATCHED}", "4xx")].functional_units == 1  # not "GET /api/{path:path}"
    assert found[(f"GET {UNMATCHED}", "3xx")].functional_units == 1
    assert found[("GET /static/{path:path}", "2xx")].functional_units == 1
    assert not any("acme" in (r.endpoint or "") for r in middleware_of(app).service.summaries[-1].records)


def test_odd_route_values_and_a_failed_split_lose_nothing(store_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An app's own environ["tracker.route"] may be anything; an interval whose split fails is still written."""
    from flask import Flask, request

    from tracker.integrations.web import service

    app = Flask("odd")

    @app.get("/tuple")
    def odd() -> str:
        request.environ["tracker.route"] = ("/tuple",)
        return "t"

    @app.get("/empty")
    def empty() -> str:
        request.environ["tracker.route"] = ""
        return "e"

    middleware = track_flask(app, store=store_path, interval_s=3600, **FORCED)
    client = app.test_client()
    for _ in range(100):
        assert client.get("/tuple").text == "t"
        assert client.get("/empty").text == "e"
    missing = client.get("/nowhere")
    assert missing.status_code == 404
    missing.close()  # the request ends when the server closes its body
    summary = middleware.service.flush()
    assert summary is not None and summary.requests == 201
    found = by_endpoint(summary.records)
    assert found[("GET ('/tuple',)", "2xx")].functional_units == 100
    assert found[(f"GET {UNMATCHED}", "2xx")].functional_units == 100

    def broken(*args: Any) -> Any:
        raise ValueError("split failed")

    monkeypatch.setattr(service, "attribute", broken)  # a fault in the split: the interval is written unsplit
    client.get("/tuple")
    middleware.close()
    stored = tracker.load_runs(store_path)
    assert stored["functional_units"].sum() == 201
    unsplit = stored[stored["notes"].astype(str).str.contains("not split among endpoints")]
    assert len(unsplit) == 1 and unsplit["energy_kwh"].iloc[0] > 0


def test_a_fork_while_the_fold_holds_the_lock_does_not_hang(store_path: str) -> None:
    """gunicorn --preload: the fold thread may hold the aggregator's lock at the fork. The child gets new locks and
    none of the parent's figures."""
    import os
    import signal

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["tracker.route"] = "/hello"
        start_response("200 OK", [])
        return [b"hi"]

    middleware = TrackerWSGIMiddleware(app, store=store_path, interval_s=3600, **FORCED)
    for _ in range(3):
        b"".join(middleware({"REQUEST_METHOD": "GET"}, lambda s, h, e=None: None))
    middleware.service.aggregator.fold()
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with middleware.service.aggregator._lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.alarm(20)  # a hang ends the child (and fails the test) instead of the suite
            b"".join(middleware({"REQUEST_METHOD": "GET"}, lambda s, h, e=None: None))
            summary = middleware.service.stop()
            series = middleware.service.aggregator.series()
            code = 0 if summary is not None and summary.requests == 1 and series[0].requests == 1 else 2
        finally:
            os._exit(code)
    release.set()
    holder.join()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    summary = middleware.service.stop()
    assert summary is not None and summary.requests == 3  # the parent's own, none of the child's


def test_asgi_config_errors_are_raised_at_construction(store_path: str) -> None:
    async def raw(scope: Any, receive: Any, send: Any) -> None:
        return None

    with pytest.raises(ConfigError, match="pushgateway"):
        TrackerASGIMiddleware(raw, store=store_path, pushgateway="gateway:9091", **FORCED)


def test_sigterm_during_the_last_split_still_writes_the_interval(tmp_path: Any) -> None:
    """SIGTERM lands while stop() is splitting the last interval (the signal is sent from inside the fold, to hit
    that instant): the package's handler ends the run and its endpoints' records are written."""
    import subprocess
    import sys

    store = str(tmp_path / "r.db")
    script = f"""
import os, signal, sys
from tracker.integrations.web import TrackerWSGIMiddleware, aggregate
def app(environ, sr):
    environ["tracker.route"] = "/x"; sr("200 OK", []); return [b"x"]
mw = TrackerWSGIMiddleware(app, store={store!r}, cpu_watts=10, ram_watts=0, gpu_watts=0, interval=0.05)
for _ in range(10): b"".join(mw({{"REQUEST_METHOD": "GET"}}, lambda s, h, e=None: None))
fold = aggregate.Aggregator._fold
def fold_then_signal(self):
    if sys._getframe(1).f_code.co_name == "take":
        os.kill(os.getpid(), signal.SIGTERM)
    return fold(self)
aggregate.Aggregator._fold = fold_then_signal
mw.service.stop()
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0  # the SIGTERM ended it
    stored = tracker.load_runs(store)
    row = stored[stored["endpoint"] == "GET /x"]
    assert len(row) == 1 and row["functional_units"].iloc[0] == 10 and row["status"].iloc[0] == "terminated"


def test_the_service_pushes_one_stable_group_with_its_request_metrics(
    pushgateway: str,  # noqa: F811  (the fixture imported above)
    store_path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from test_exporters import fetch

    from tracker.exporters import prometheus as prom

    gateway = pushgateway
    monkeypatch.setattr(prom, "PUSH_EVERY_S", 0.2)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["tracker.route"] = "/hello"
        start_response("200 OK", [])
        return [b"hi"]

    middleware = TrackerWSGIMiddleware(app, store=store_path, interval_s=0.3, pushgateway=gateway,
                                       service_name="shop", **FORCED)  # fmt: skip
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        b"".join(middleware({"REQUEST_METHOD": "GET"}, lambda s, h, e=None: None))
        time.sleep(0.02)
    assert len(middleware.service.summaries) >= 5  # many intervals ...
    text = fetch(f"{gateway}/metrics")
    groups = {line.split("push_time_seconds{", 1)[1].split("}")[0] for line in text.splitlines()
              if line.startswith("push_time_seconds{")}  # fmt: skip
    assert len(groups) == 1, groups  # ... one group, not one per interval run
    assert 'service="shop"' in next(iter(groups)) and "run=" not in next(iter(groups))
    assert any(line.startswith("tracker_requests_total{") and 'route="/hello"' in line for line in text.splitlines())
    middleware.close()
    assert "push_time_seconds{" not in fetch(f"{gateway}/metrics")  # a cleanly stopped service leaves no group


def test_two_middlewares_share_one_service_and_count_once(store_path: str) -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    async def hello(request: Any) -> Any:
        return PlainTextResponse("hi")

    app = Starlette(routes=[Route("/hello", hello)])
    app.add_middleware(TrackerASGIMiddleware, store=store_path, **FORCED)
    app.add_middleware(TrackerASGIMiddleware, store=store_path, **FORCED)  # nested, the same settings
    with TestClient(app) as client:
        for _ in range(5):
            assert client.get("/hello").text == "hi"
        outer = middleware_of(app)
        inner = outer.app
        while not isinstance(inner, TrackerASGIMiddleware):
            inner = inner.app
        assert inner.service is outer.service
        with pytest.raises(ConfigError, match="one web service per process"):
            TrackerWSGIMiddleware(lambda e, s: [b""], store=store_path, interval_s=5, **FORCED)
    summary = outer.service.summaries[-1]
    assert summary.requests == 5  # each request once


def test_only_the_newest_summary_keeps_its_records(store_path: str) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["tracker.route"] = "/hello"
        start_response("200 OK", [])
        return [b"hi"]

    middleware = TrackerWSGIMiddleware(app, store=store_path, interval_s=3600, **FORCED)
    for _ in range(3):
        b"".join(middleware({"REQUEST_METHOD": "GET"}, lambda s, h, e=None: None))
        middleware.service.flush()
    summaries = list(middleware.service.summaries)
    assert len(summaries) == 3 and all(s.requests == 1 for s in summaries)
    assert [len(s.records) for s in summaries[:-1]] == [0, 0]  # written to the store already: not held
    assert summaries[-1].records and summaries[-1].shares


def test_a_background_task_failing_after_the_response_keeps_its_status(store_path: str) -> None:
    from starlette.applications import Starlette
    from starlette.background import BackgroundTask
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    def fail() -> None:
        raise RuntimeError("background failed")

    async def ok(request: Any) -> Any:
        return PlainTextResponse("ok", background=BackgroundTask(fail))

    app = Starlette(routes=[Route("/ok", ok)])
    app.add_middleware(TrackerASGIMiddleware, store=store_path, **FORCED)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/ok").status_code == 200
    found = by_endpoint(middleware_of(app).service.summaries[-1].records)
    assert found[("GET /ok", "2xx")].functional_units == 1
    assert ("GET /ok", "5xx") not in found


def test_a_failed_start_is_rolled_back(store_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tracker.core import run as runs
    from tracker.integrations.web import service

    class NoThreads(threading.Thread):
        def start(self) -> None:
            raise RuntimeError("can't start new thread")

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b"hi"]

    monkeypatch.setattr(service.threading, "Thread", NoThreads)
    middleware = TrackerWSGIMiddleware(app, store=store_path, **FORCED)  # its start fails: logged, not raised
    for _ in range(50):
        assert b"".join(middleware({"REQUEST_METHOD": "GET"}, lambda s, h, e=None: None)) == b"hi"
    assert not middleware.service.running
    assert len(middleware.service.aggregator.items) <= 1  # nothing folds them: not kept
    assert not any(isinstance(r, service._IntervalRun) for r in runs._active)  # no run left open
    assert middleware.service.stop() is None  # what atexit calls: no error
    monkeypatch.undo()
    middleware.service._retry_at = 0.0
    middleware.service.start()
    assert middleware.service.running


def test_an_app_returning_a_plain_awaitable_works(store_path: str) -> None:
    class Answer:  # an awaitable that is not a coroutine
        def __init__(self, send: Any) -> None:
            self.send = send

        def __await__(self) -> Any:
            yield from self.send({"type": "http.response.start", "status": 200, "headers": []}).__await__()
            yield from self.send({"type": "http.response.body", "body": b"ok"}).__await__()

    def app(scope: Any, receive: Any, send: Any) -> Any:
        return Answer(send)

    middleware = TrackerASGIMiddleware(app, store=store_path, **FORCED)
    sent: list[Any] = []

    async def serve() -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Any) -> None:
            sent.append(message)

        await middleware({"type": "http", "method": "GET", "path": "/"}, receive, send)

    asyncio.run(serve())
    assert sent[-1]["body"] == b"ok"
    summary = middleware.service.stop()
    assert summary is not None and by_endpoint(summary.records)[(f"GET {UNMATCHED}", "2xx")].functional_units == 1


def test_a_failing_metrics_source_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> list[Any]:
        raise RuntimeError("no figures")

    request_metrics.register(broken)
    with caplog.at_level("DEBUG", logger="tracker.exporters.requests"):
        assert request_metrics.series() == []
        assert request_metrics.series() == []
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "no figures" in r.getMessage()]
    assert len(warnings) == 1


def test_a_file_wrapper_response_is_passed_through_for_sendfile(store_path: str, tmp_path: Any) -> None:
    from wsgiref.util import FileWrapper

    from flask import Flask, send_file

    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 10_000)
    app = Flask("files")

    @app.get("/file")
    def file() -> Any:
        return send_file(path)

    middleware = track_flask(app, store=store_path, **FORCED)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/file", "SERVER_NAME": "x", "SERVER_PORT": "80",
               "wsgi.url_scheme": "http", "wsgi.input": None, "wsgi.file_wrapper": FileWrapper}  # fmt: skip
    body = app.wsgi_app(environ, lambda s, h, e=None: None)
    assert isinstance(body, FileWrapper)  # the server sees its own wrapper: sendfile() stays possible
    assert b"".join(body) == b"x" * 10_000
    body.close()
    summary = middleware.service.flush()
    assert summary is not None and by_endpoint(summary.records)[("GET /file", "2xx")].functional_units == 1


def test_services_are_not_kept_alive_by_the_exit_and_fork_hooks(store_path: str) -> None:
    import gc
    import weakref

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b"hi"]

    middleware = TrackerWSGIMiddleware(app, store=store_path, **FORCED)
    gone = weakref.ref(middleware.service)
    middleware.close()
    del middleware
    gc.collect()
    assert gone() is None


def test_a_mode_set_in_the_environment_is_kept(store_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_MODE", "machine")
    assert WebService(store=store_path, **FORCED).config.mode == "machine"
    monkeypatch.delenv("TRACKER_MODE")
    assert WebService(store=store_path, **FORCED).config.mode == "process"


def test_under_gevent_requests_are_shared_by_wall_time(tmp_path: Any) -> None:
    """gevent's greenlets share one OS thread: its CPU clock would give a request its neighbours' CPU time. Under a
    monkey-patched process no CPU time is read and the interval is shared by wall time (a subprocess: patching
    threading would change this test process)."""
    import subprocess
    import sys

    pytest.importorskip("gevent")
    script = f"""
from gevent import monkey
monkey.patch_all()
import gevent
from flask import Flask
from tracker.integrations.web import track_flask
app = Flask("green")
@app.get("/nap")
def nap():
    gevent.sleep(0.01)
    return "z"
mw = track_flask(app, store={str(tmp_path / "r.db")!r}, cpu_watts=10, ram_watts=0, gpu_watts=0, interval=0.05)
client = app.test_client()
gevent.joinall([gevent.spawn(lambda: [client.get("/nap").close() for _ in range(5)]) for _ in range(4)])
summary = mw.service.stop()
print(summary.requests, summary.sampled, [n for r in summary.records for n in r.notes if "by " in n])
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    requests, sampled, notes = done.stdout.strip().split(" ", 2)
    assert (requests, sampled) == ("20", "0")  # every request counted, none timed by the shared thread clock
    assert "by wall time" in notes


def test_fastapi_routes_routers_and_dependencies_are_their_templates(store_path: str) -> None:
    """FastAPI itself (not only Starlette): path parameters, an ``APIRouter`` under a prefix, a dependency, a
    validation error (422) and an exception (500), each under its route template."""
    from fastapi import APIRouter, Depends, FastAPI
    from fastapi.testclient import TestClient

    app = FastAPI()
    router = APIRouter(prefix="/v1/users")

    def caller() -> str:
        return "ada"

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @router.get("/{name}")
    def user(name: str, who: str = Depends(caller)) -> dict[str, str]:
        return {"name": name, "asked_by": who}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("handler failed")

    app.include_router(router)
    app.add_middleware(TrackerASGIMiddleware, store=store_path, project="fastapi-app", country="FR", interval_s=3600)

    with TestClient(app, raise_server_exceptions=False) as client:
        for i in range(5):
            assert client.get(f"/items/{i}").json() == {"id": i}
        assert client.get("/items/not-a-number").status_code == 422
        assert client.get("/v1/users/grace").json() == {"name": "grace", "asked_by": "ada"}
        assert client.get("/boom").status_code == 500
        assert client.get("/nowhere").status_code == 404
        middleware = middleware_of(app)
    summary = middleware.service.summaries[-1]
    found = by_endpoint(summary.records)
    assert found[("GET /items/{item_id}", "2xx")].functional_units == 5
    assert found[("GET /items/{item_id}", "4xx")].functional_units == 1  # the 422, under its template
    assert found[("GET /v1/users/{name}", "2xx")].functional_units == 1  # the router's prefix and its path
    assert found[("GET /boom", "5xx")].functional_units == 1
    assert found[(f"GET {UNMATCHED}", "4xx")].functional_units == 1
    assert not any("grace" in (r.endpoint or "") or "/items/3" in (r.endpoint or "") for r in summary.records)
    assert summary.requests == 9
