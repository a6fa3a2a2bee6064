"""ASGI middleware (Starlette, FastAPI, any ASGI 3 app): every request counted per endpoint, its CPU time sampled.

Pure ASGI, no framework imported. Per request: two ``perf_counter_ns`` reads, the status and the time of the last
body chunk caught on the way out (``send``), one tuple appended to the service's queue. A sampled request's app
coroutine is driven step by step (:class:`_Timed`) and the event loop thread's CPU clock is read around each step,
so its CPU time is its own even when many requests interleave on the loop. Work the app hands to other threads
(Starlette and FastAPI run ``def`` endpoints in a thread pool) is not in it and goes to ``(unattributed)``, unless
the endpoint is decorated with :func:`threadpool_cpu` (``docs/web.md``).

The route is the template, never the raw path: Starlette's matched route (``scope["route"].path``, which Starlette
and FastAPI set), prefixed by the mounts it sits under (``root_path`` grown while routing); a route-less scope
with an ``endpoint`` (an older Starlette) is named by the endpoint's qualified name; a path no route matched is
``(unmatched)``. A request ends when its last body chunk is sent (a streaming response included); CPU time spent
after it (background tasks) is still the request's. An exception in the app records status 500 and is re-raised; a
request cancelled before its response started (the client went away) records 499, nginx's "client closed request".
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections.abc import Awaitable, Callable, Generator, MutableMapping
from contextvars import ContextVar
from typing import Any, TypeVar

from tracker.integrations.web.aggregate import NO_CPU, UNMATCHED
from tracker.integrations.web.service import WebService

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

CLIENT_GONE = 499  # nginx's "client closed request": cancelled before a response was started
_perf = time.perf_counter_ns
_cpu = time.thread_time_ns
_random = random.random
_ident = threading.get_ident
# the sampled request being served in this context: asyncio tasks and thread pools (Starlette's
# run_in_threadpool, asyncio.to_thread) copy the context, so a sync endpoint run in a pool sees its request
_request: ContextVar[_Timed | None] = ContextVar("tracker_web_request", default=None)


class _Exchange:
    """One request's way out: the status and the time the last body chunk was sent."""

    __slots__ = ("end", "send_", "status")

    def __init__(self, send: Send) -> None:
        self.send_ = send
        self.status = 0  # no response started yet
        self.end = 0

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
        elif kind == "http.response.body" and not message.get("more_body", False):
            await self.send_(message)
            self.end = _perf()  # the last chunk is out: the request's end
            return
        await self.send_(message)


class _Timed:
    """Awaits a coroutine, summing the calling thread's CPU time over the coroutine's own steps only; ``pool`` is
    what :func:`threadpool_cpu` adds from other threads."""

    __slots__ = ("coro", "cpu", "pool", "thread")

    def __init__(self, coro: Awaitable[None]) -> None:
        self.coro = coro
        self.cpu = 0
        self.pool = 0
        self.thread = _ident()

    def __await__(self) -> Generator[Any, Any, None]:
        coro: Any = self.coro
        value: Any = None
        error: BaseException | None = None
        while True:
            before = _cpu()
            try:
                step = coro.send(value) if error is None else coro.throw(error)
            except StopIteration:
                self.cpu += _cpu() - before
                return
            except BaseException:
                self.cpu += _cpu() - before
                raise
            self.cpu += _cpu() - before
            try:
                value, error = (yield step), None
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # thrown in by the loop (a cancellation): handed on to the app
                value, error = None, exc


F = TypeVar("F", bound=Callable[..., Any])


def threadpool_cpu(fn: F) -> F:
    """Count a sync endpoint's CPU time as its request's when the framework runs it in a thread pool (Starlette's and
    FastAPI's ``def`` endpoints): ``@threadpool_cpu`` under the route decorator. Without it that CPU time is the
    service's ``(unattributed)`` part. Costs two CPU-clock reads per sampled call; a call on the event loop's own
    thread (already counted) or outside a sampled request adds nothing."""

    @functools.wraps(fn)
    def counted(*args: Any, **kwargs: Any) -> Any:
        timed = _request.get()
        if timed is None or timed.thread == _ident():
            return fn(*args, **kwargs)
        before = _cpu()
        try:
            return fn(*args, **kwargs)
        finally:
            timed.pool += _cpu() - before

    return counted  # type: ignore[return-value]


def route_of(scope: Scope, root_path: str) -> str:
    """The route template of a routed scope (see the module's text); ``root_path`` is the scope's at entry."""
    route = scope.get("route")
    if route is None:
        endpoint = scope.get("endpoint")
        if endpoint is None:
            return UNMATCHED
        name = getattr(endpoint, "__qualname__", None) or type(endpoint).__qualname__
        return f"endpoint:{getattr(endpoint, '__module__', '')}.{name}"
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    now = scope.get("root_path", "")
    prefix = now[len(root_path) :] if now != root_path and now.startswith(root_path) else ""
    if hasattr(route, "routes") and not hasattr(route, "endpoint"):  # a Mount of an app with no routes of its own
        return f"{prefix or path}/{{path:path}}"
    return prefix + path


class TrackerASGIMiddleware:
    """Energy and CO2 per endpoint of an ASGI app: ``app.add_middleware(TrackerASGIMiddleware, project="api")``.

    ``interval_s``: one record per endpoint and status class this often (and at shutdown); ``sample_rate``: the
    share of requests whose CPU time is read (all are counted); ``max_endpoints``: the cap on distinct routes;
    ``service_name``: the records' name (default: the project). Other keywords are the tracker's settings
    (``project``, ``store``, ``country``, ``metrics_port``, ...). ``docs/web.md``.
    """

    def __init__(
        self,
        app: App,
        *,
        interval_s: float = 60.0,
        sample_rate: float = 1.0,
        max_endpoints: int = 100,
        service_name: str | None = None,
        **settings: Any,
    ) -> None:
        self.app = app
        self.service = WebService(
            interval_s=interval_s, sample_rate=sample_rate, max_endpoints=max_endpoints, name=service_name, **settings
        )
        self._record = self.service.aggregator.record
        self._every = sample_rate >= 1.0
        self._rate = sample_rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "lifespan":
                await self._lifespan(scope, receive, send)
            else:  # websockets pass through, uncounted
                await self.app(scope, receive, send)
            return
        service = self.service
        if not service.running:
            service.ensure_started()
        exchange = _Exchange(send)
        root_path = scope.get("root_path", "")
        start = _perf()
        if self._every or _random() < self._rate:
            timed = _Timed(self.app(scope, receive, exchange.send))
            token = _request.set(timed)
            try:
                await timed
            except Exception:
                exchange.status = 500
                raise
            except BaseException:  # cancelled (the client went away) before any response: nginx's 499
                exchange.status = exchange.status or CLIENT_GONE
                raise
            finally:
                end = exchange.end or _perf()
                _request.reset(token)
                status = exchange.status or 500  # an app that returned without a response: the server sends 500
                cpu = timed.cpu + timed.pool
                self._record((route_of(scope, root_path), scope["method"], status, end - start, cpu))
        else:
            try:
                await self.app(scope, receive, exchange.send)
            except Exception:
                exchange.status = 500
                raise
            except BaseException:
                exchange.status = exchange.status or CLIENT_GONE
                raise
            finally:
                end = exchange.end or _perf()
                status = exchange.status or 500
                self._record((route_of(scope, root_path), scope["method"], status, end - start, NO_CPU))

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Start measuring at the server's startup; write the last interval at its shutdown."""
        service = self.service

        async def receive_() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                service.ensure_started()
            return message

        async def send_(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                service.stop()  # before the server hears of it: it may exit at once
            await send(message)

        await self.app(scope, receive_, send_)  # an app without lifespan raises: the server goes on without it
