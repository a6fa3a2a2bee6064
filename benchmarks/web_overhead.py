"""Overhead of the web middleware (``tracker.integrations.web``): in-process per request, and in a real server.

1. In process (the less noisy figure): the same request through a bare app and through the middleware, thousands of
   times in alternating blocks, each call timed with ``perf_counter_ns``; p50 and p99 of each, and the difference
   of the medians (the middleware's own cost per request). ASGI: a raw ASGI app and a Starlette app; WSGI: a raw
   WSGI app (call, iterate the body, close). ``sample_rate`` 1 and 0.1.
2. A real server: uvicorn in a subprocess serving a Starlette app, bare and with the middleware (alternating runs),
   loaded over loopback by ``wrk`` (Debian's ``wrk``; without it, a Python client in another process): p50 and p99
   latency and requests per second, and the requests the middleware counted against those the client completed.

``python benchmarks/web_overhead.py [--calls 20000] [--seconds 10] [--connections 8] [--rounds 2]
[--skip-in-process] [--skip-server]``; ``BENCH_MODE=machine`` measures the server in machine mode (process mode by
default). Prints markdown tables. On a shared machine run it more than once: the server figures move with other load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

SERVER_APP = textwrap.dedent(
    """
    import json, os
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def item(request):
        return PlainTextResponse("item")

    inner = Starlette(routes=[Route("/items/{id}", item)])
    if os.environ["BENCH_TRACKED"] == "1":
        from tracker.integrations.web import TrackerASGIMiddleware
        tracked = TrackerASGIMiddleware(inner, project="bench", store=os.environ["BENCH_STORE"], interval_s=60,
                                        sample_rate=float(os.environ.get("BENCH_SAMPLE", "1")),
                                        mode=os.environ.get("BENCH_MODE", "process"))
    else:
        tracked = inner

    async def app(scope, receive, send):
        if scope["type"] != "lifespan" or tracked is inner:
            await tracked(scope, receive, send)
            return
        async def send_(message):
            if message["type"] == "lifespan.shutdown.complete":
                counted = sum(s.requests for s in tracked.service.summaries)
                with open(os.environ["BENCH_OUT"], "w") as out:
                    json.dump({"counted": counted}, out)
            await send(message)
        await tracked(scope, receive, send_)
    """
)

PY_CLIENT = textwrap.dedent(
    """
    import http.client, json, sys, threading, time
    port, seconds, connections = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    latencies = []
    stop = time.perf_counter() + seconds
    def worker():
        mine = []
        conn = http.client.HTTPConnection("127.0.0.1", port)
        while time.perf_counter() < stop:
            t = time.perf_counter_ns()
            conn.request("GET", "/items/1"); conn.getresponse().read()
            mine.append(time.perf_counter_ns() - t)
        latencies.extend(mine)
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    [t.start() for t in threads]; [t.join() for t in threads]
    latencies.sort()
    print(json.dumps({"requests": len(latencies), "p50_us": latencies[len(latencies) // 2] / 1e3,
                      "p99_us": latencies[int(len(latencies) * 0.99)] / 1e3, "rps": len(latencies) / seconds}))
    """
)


def pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] / 1e3  # µs


# -- 1. in process -------------------------------------------------------------------------------------------------
def asgi_in_process(
    calls: int, sample_rate: float, starlette: bool, store: str, base: bool = False
) -> dict[str, float]:
    from tracker.integrations.web import TrackerASGIMiddleware

    if starlette:
        from starlette.applications import Starlette
        from starlette.responses import PlainTextResponse
        from starlette.routing import Route

        async def item(request: Any) -> Any:
            return PlainTextResponse("item")

        bare: Any = Starlette(routes=[Route("/items/{id}", item)])
        if base:  # a BaseHTTPMiddleware: the app below it runs in child tasks, whose steps the middleware times
            from starlette.middleware.base import BaseHTTPMiddleware

            async def dispatch(request: Any, call_next: Any) -> Any:
                return await call_next(request)

            bare.add_middleware(BaseHTTPMiddleware, dispatch=dispatch)
    else:
        start = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        body = {"type": "http.response.body", "body": b"item"}

        async def bare(scope: Any, receive: Any, send: Any) -> None:
            await send(start)
            await send(body)

    tracked = TrackerASGIMiddleware(bare, project="bench", store=store, interval_s=3600, sample_rate=sample_rate)
    tracked.service.start()
    scope = {"type": "http", "method": "GET", "path": "/items/1", "raw_path": b"/items/1", "root_path": "",
             "query_string": b"", "headers": [], "scheme": "http", "server": ("127.0.0.1", 80),
             "asgi": {"version": "3.0"}, "http_version": "1.1", "client": ("127.0.0.1", 1234)}  # fmt: skip

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    async def run() -> tuple[list[int], list[int]]:
        times: dict[str, list[int]] = {"bare": [], "tracked": []}
        block = 500
        for _ in range(calls // block):
            for name, app in (("bare", bare), ("tracked", tracked)):
                out = times[name]
                for _ in range(block):
                    s = dict(scope)
                    t = time.perf_counter_ns()
                    await app(s, receive, send)
                    out.append(time.perf_counter_ns() - t)
        return times["bare"], times["tracked"]

    bare_t, tracked_t = asyncio.run(run())
    tracked.service.close()
    return summary(bare_t, tracked_t)


def wsgi_in_process(calls: int, sample_rate: float, store: str) -> dict[str, float]:
    from tracker.integrations.web import TrackerWSGIMiddleware

    def bare(environ: Any, start_response: Any) -> list[bytes]:
        environ["tracker.route"] = "/items/{id}"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"item"]

    tracked = TrackerWSGIMiddleware(bare, project="bench", store=store, interval_s=3600, sample_rate=sample_rate)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/items/1", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80"}

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        return None

    times: dict[str, list[int]] = {"bare": [], "tracked": []}
    block = 500
    for _ in range(calls // block):
        for name, app in (("bare", bare), ("tracked", tracked)):
            out = times[name]
            for _ in range(block):
                e = dict(environ)
                t = time.perf_counter_ns()
                body = app(e, start_response)
                for _chunk in body:
                    pass
                close = getattr(body, "close", None)
                if close is not None:
                    close()
                out.append(time.perf_counter_ns() - t)
    tracked.close()
    return summary(times["bare"], times["tracked"])


def summary(bare: list[int], tracked: list[int]) -> dict[str, float]:
    return {
        "bare_p50_us": pct(bare, 0.5),
        "bare_p99_us": pct(bare, 0.99),
        "tracked_p50_us": pct(tracked, 0.5),
        "tracked_p99_us": pct(tracked, 0.99),
        "overhead_p50_us": statistics.median(tracked) / 1e3 - statistics.median(bare) / 1e3,
    }


# -- 2. a real server ------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_and_load(tracked: bool, seconds: float, connections: int, sample: float, work: Path) -> dict[str, Any]:
    (work / "bench_app.py").write_text(SERVER_APP, encoding="utf-8")
    port = free_port()
    out = work / f"counted-{time.monotonic_ns()}.json"
    env = {**os.environ, "BENCH_TRACKED": "1" if tracked else "0", "BENCH_STORE": str(work / "bench.db"),
           "BENCH_OUT": str(out), "BENCH_SAMPLE": str(sample)}  # fmt: skip
    command = [sys.executable, "-m", "uvicorn", "bench_app:app", "--app-dir", str(work), "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning", "--no-access-log", "--lifespan", "on"]  # fmt: skip
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        result = load(port, seconds, connections)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    if tracked and out.exists():
        result["counted"] = json.loads(out.read_text())["counted"]
    return result


def load(port: int, seconds: float, connections: int) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/items/1"
    if shutil.which("wrk"):
        done = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", url],
                              capture_output=True, text=True, check=True)  # fmt: skip
        text = done.stdout

        def latency(label: str) -> float:
            match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
            assert match, text
            return float(match.group(1)) * {"us": 1.0, "ms": 1e3, "s": 1e6}[match.group(2)]

        requests = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
        return {"client": "wrk", "requests": requests, "p50_us": latency("50"), "p99_us": latency("99"), "rps": rps,
                "non_2xx": int(errors.group(1)) if errors else 0}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", PY_CLIENT, str(port), str(seconds), str(connections)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return {"client": "python", **json.loads(done.stdout)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="in-process calls per variant")
    parser.add_argument("--seconds", type=float, default=10.0, help="load per server run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="server runs per variant, alternating")
    parser.add_argument("--skip-server", action="store_true")
    parser.add_argument("--skip-in-process", action="store_true")
    args = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print("## In process (µs per request)\n")
        print("| case | bare p50 | bare p99 | tracked p50 | tracked p99 | overhead p50 |")
        print("|---|---|---|---|---|---|")
        cases = [
            ("ASGI raw app, sample_rate=1", lambda: asgi_in_process(args.calls, 1.0, False, str(work / "a.db"))),
            ("ASGI raw app, sample_rate=0.1", lambda: asgi_in_process(args.calls, 0.1, False, str(work / "b.db"))),
            ("Starlette app, sample_rate=1", lambda: asgi_in_process(args.calls, 1.0, True, str(work / "c.db"))),
            (
                "Starlette + BaseHTTPMiddleware, sample_rate=1",
                lambda: asgi_in_process(args.calls, 1.0, True, str(work / "f.db"), base=True),
            ),
            ("WSGI raw app, sample_rate=1", lambda: wsgi_in_process(args.calls, 1.0, str(work / "d.db"))),
            ("WSGI raw app, sample_rate=0.1", lambda: wsgi_in_process(args.calls, 0.1, str(work / "e.db"))),
        ]
        for name, case in [] if args.skip_in_process else cases:
            r = case()
            print(f"| {name} | {r['bare_p50_us']:.1f} | {r['bare_p99_us']:.1f} | {r['tracked_p50_us']:.1f} | "
                  f"{r['tracked_p99_us']:.1f} | {r['overhead_p50_us']:.1f} |", flush=True)  # fmt: skip
        if args.skip_server:
            return
        print(f"\n## uvicorn + Starlette on loopback, {args.connections} connections, {args.seconds:g} s per run\n")
        print("| run | client | requests | req/s | p50 µs | p99 µs | counted by the middleware |")
        print("|---|---|---|---|---|---|---|")
        for round_ in range(args.rounds):
            for tracked in (False, True):
                r = serve_and_load(tracked, args.seconds, args.connections, 1.0, work)
                name = f"{'tracked' if tracked else 'bare'} #{round_ + 1}"
                counted = r.get("counted", "")
                print(f"| {name} | {r['client']} | {r['requests']} | {r['rps']:.0f} | {r['p50_us']:.0f} | "
                      f"{r['p99_us']:.0f} | {counted} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
