"""The Starlette app that ``test_web_server.py`` serves with uvicorn in a subprocess (a real server, real HTTP).

Settings come from the environment: ``WEB_STORE`` (the store), ``WEB_SUMMARY`` (where the service's interval
summaries are written as JSON at exit), ``WEB_INTERVAL`` (seconds), ``WEB_BUSY_S`` (CPU seconds per /busy request).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from typing import Any

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Route

from tracker.integrations.web import TrackerASGIMiddleware

BUSY_S = float(os.environ.get("WEB_BUSY_S", "0.01"))


async def item(request: Any) -> PlainTextResponse:
    return PlainTextResponse(f"item {request.path_params['id']}")


async def busy(request: Any) -> PlainTextResponse:
    """CPU-bound on the event loop's thread for BUSY_S of CPU time."""
    start = time.thread_time()
    rounds = 0
    while time.thread_time() - start < BUSY_S:
        hashlib.sha256(b"x" * 4096).digest()
        rounds += 1
    return PlainTextResponse(str(rounds))


async def stream(request: Any) -> StreamingResponse:
    async def chunks() -> Any:
        for i in range(5):
            await asyncio.sleep(0.04)
            yield f"chunk {i}\n".encode()

    return StreamingResponse(chunks(), media_type="text/plain")


async def boom(request: Any) -> PlainTextResponse:
    raise RuntimeError("handler failed")


routes = [Route("/items/{id}", item), Route("/busy", busy), Route("/stream", stream), Route("/boom", boom)]
tracked = TrackerASGIMiddleware(
    Starlette(routes=routes),
    project="server",
    service_name="server",
    store=os.environ["WEB_STORE"],
    interval_s=float(os.environ.get("WEB_INTERVAL", "60")),
)


def _dump() -> None:
    summaries = [
        {
            "requests": s.requests,
            "sampled": s.sampled,
            "service_joules": s.service_joules,
            "request_joules": s.request_joules,
            "process_cpu_s": s.process_cpu_s,
            "request_cpu_s": s.request_cpu_s,
            "status": s.status,
        }
        for s in tracked.service.summaries
    ]
    with open(os.environ["WEB_SUMMARY"], "w", encoding="utf-8") as out:
        json.dump(summaries, out)


async def app(scope: Any, receive: Any, send: Any) -> None:
    """The tracked app, and the summaries written once its lifespan shutdown has written the last interval
    (uvicorn re-raises SIGTERM after a graceful shutdown: no ``atexit`` handler runs)."""
    if scope["type"] != "lifespan":
        await tracked(scope, receive, send)
        return

    async def send_(message: Any) -> None:
        if message["type"] == "lifespan.shutdown.complete":
            _dump()
        await send(message)

    await tracked(scope, receive, send_)
