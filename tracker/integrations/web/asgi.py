"""ASGI middleware (Starlette, FastAPI, any ASGI 3 app): every request counted per endpoint, its CPU time sampled.

Pure ASGI, no framework imported. Per request: two ``perf_counter_ns`` reads, the status and the time of the last
body chunk caught on the way out (``send``), one tuple appended to the service's queue. A sampled request's app
coroutine is driven step by step (:class:`_Timed`) and the event loop thread's CPU clock is read around each step,
so its CPU time is its own even when many requests interleave on the loop; the steps of tasks started inside the
request (a StreamingResponse's body, what runs below a BaseHTTPMiddleware) are added through the loop's task factory
(:func:`_task_factory`). Work the app hands to other threads
(Starlette and FastAPI run ``def`` endpoints in a thread pool) is not in it and goes to ``(unattributed)``, unless
the endpoint is decorated with :func:`threadpool_cpu` (``docs/web.md``).

The route is the template, never the raw path: Starlette's matched route (``scope["route"].path``, which Starlette
and FastAPI set), prefixed by the templates of the mounts it sits under (``Mount.path``); a route-less scope
with an ``endpoint`` (an older Starlette) is named by the endpoint's qualified name; a path no route matched is
``(unmatched)``, as is a mount of routes none of which matched. A request ends when its last body chunk is sent (a
streaming response included); CPU time spent after it (background tasks) is still the request's. An exception in the
app before the last body chunk records status 500 (after it, the status sent is kept) and is re-raised; a
request cancelled before its response started (the client went away) records 499, nginx's "client closed request".
"""

from __future__ import annotations

import asyncio
import collections.abc
import functools
import random
import threading
import time
from collections.abc import Awaitable, Callable, Generator, MutableMapping
from contextvars import ContextVar
from typing import Any, TypeVar

from tracker.integrations.web.aggregate import NO_CPU, UNMATCHED
from tracker.integrations.web.service import ServiceMiddleware

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

MARK = "tracker.web"  # in a scope (an environ) a middleware counts already: a nested one passes it through
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
    """Awaits an awaitable, summing the calling thread's CPU time over its own steps only; ``children`` is what
    the steps of the tasks started inside the request added (:class:`_ChildSteps`), ``pool`` what
    :func:`threadpool_cpu` adds from other threads."""

    __slots__ = ("children", "coro", "cpu", "pool", "thread")

    def __init__(self, coro: Awaitable[None]) -> None:
        self.coro = coro
        self.cpu = 0
        self.children = 0
        self.pool = 0
        self.thread = _ident()

    def __await__(self) -> Generator[Any, Any, None]:
        # any awaitable (an app may return a Future or an object with __await__): its iterator is what is driven
        coro: Any = self.coro.__await__()
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


class _ChildSteps(collections.abc.Coroutine):  # type: ignore[type-arg]
    """A task's coroutine started inside a sampled request (a StreamingResponse's body, everything below a
    ``BaseHTTPMiddleware`` or FastAPI's ``@app.middleware("http")``, a task group's tasks): each of its steps'
    CPU time is added to the request's. A real ``Coroutine`` (asyncio's tasks accept it), and it shows the inner
    coroutine's state (``cr_frame``, ``cr_running``: anyio reads them to know whether a task has started)."""

    __slots__ = ("coro", "timed")

    def __init__(self, coro: Any, timed: _Timed) -> None:
        self.coro = coro
        self.timed = timed

    def send(self, value: Any) -> Any:
        before = _cpu()
        try:
            return self.coro.send(value)
        finally:
            self.timed.children += _cpu() - before

    def throw(self, *args: Any) -> Any:
        before = _cpu()
        try:
            return self.coro.throw(*args)
        finally:
            self.timed.children += _cpu() - before

    def close(self) -> None:
        self.coro.close()

    def __await__(self) -> Any:
        return self.coro.__await__()

    def __getattr__(self, name: str) -> Any:  # cr_frame, cr_running, cr_await, cr_code, __qualname__ ...
        return getattr(self.coro, name)


def _task_factory(previous: Any) -> Any:
    """The event loop's task factory while a middleware serves on it: a task created in a sampled request's context
    (the context is copied into tasks, so ``_request`` is set there) steps through :class:`_ChildSteps`. Other
    tasks cost one ContextVar read. ``previous`` (a factory already installed) still makes the task."""

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        timed = _request.get()
        if timed is not None and timed.thread == _ident() and type(coro) is not _ChildSteps:
            coro = _ChildSteps(coro, timed)
        if previous is not None:
            return previous(loop, coro, **kwargs)
        return asyncio.Task(coro, loop=loop, **kwargs)

    factory.tracker_web = True  # type: ignore[attr-defined]
    return factory


_watched: Any = None  # the loop whose task factory is ours (a test client may run a new loop per request)


def _watch_tasks() -> None:
    """Install :func:`_task_factory` on the running asyncio loop, once per loop (another async library: nothing)."""
    global _watched
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not asyncio (trio): child tasks' CPU time stays (unattributed)
        return
    if loop is _watched:
        return
    current = loop.get_task_factory()
    if current is None or not getattr(current, "tracker_web", False):
        loop.set_task_factory(_task_factory(current))
    _watched = loop


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
    mounted = hasattr(route, "routes") and not hasattr(route, "endpoint")  # a Mount (or Host)
    if mounted and route.routes:  # a Mount of routes was the last match: nothing inside it matched (404, redirect)
        return UNMATCHED
    now = scope.get("root_path", "")
    if now != root_path or mounted:  # under mounts: their templates, never the concrete path (raw values)
        prefix = _mount_prefix(scope.get("router"), route)
        if prefix is None:  # not found from the top router: the mounts are unknown, the concrete path is not used
            prefix = "{mount}" if now != root_path else ""
        if mounted:  # a Mount of an app with no routes of its own (static files, a sub-app): everything under it
            return f"{prefix}{path}/{{path:path}}"
        return prefix + path
    return path


_prefixes: dict[int, tuple[Any, str | None]] = {}  # id(route) -> (route, its mounts' templates): bounded by routes


def _mount_prefix(router: Any, route: Any) -> str | None:
    """The templates of the Mounts (``Mount.path``, e.g. ``/tenants/{tenant}``) from the app's top router down to
    ``route``, joined; ``None`` when the route is not found under the router. Searched once per route."""
    known = _prefixes.get(id(route))
    if known is not None and known[0] is route:
        return known[1]
    found = _search(getattr(router, "routes", None) or [], route, "", 0)
    if len(_prefixes) < 10_000:
        _prefixes[id(route)] = (route, found)
    return found


def _search(routes: Any, target: Any, prefix: str, depth: int) -> str | None:
    for child in routes:
        if child is target:
            return prefix
        inner = getattr(child, "routes", None)
        if inner and depth < 32 and not hasattr(child, "endpoint"):
            mount = getattr(child, "path", "")  # a Host has no path: it adds nothing to the route
            found = _search(inner, target, prefix + (mount if isinstance(mount, str) else ""), depth + 1)
            if found is not None:
                return found
    return None


class TrackerASGIMiddleware(ServiceMiddleware):
    """Energy and CO2 per endpoint of an ASGI app: ``app.add_middleware(TrackerASGIMiddleware, project="api")``.

    ``interval_s``: one record per endpoint and status class this often (and at shutdown); ``sample_rate``: the
    share of requests whose CPU time is read (all are counted); ``max_endpoints``: the cap on distinct routes;
    ``service_name``: the records' name (default: the project). Other keywords are the tracker's settings
    (``project``, ``store``, ``country``, ``metrics_port``, ...). ``docs/web.md``.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "lifespan":
                await self._lifespan(scope, receive, send)
            else:  # websockets pass through, uncounted
                await self.app(scope, receive, send)
            return
        if MARK in scope:  # an outer middleware of this process's service counts this request already
            await self.app(scope, receive, send)
            return
        scope[MARK] = True
        service = self.service
        if not service.running:
            service.ensure_started()
        exchange = _Exchange(send)
        root_path = scope.get("root_path", "")
        start = _perf()
        if self._every or _random() < self._rate:
            _watch_tasks()
            timed = _Timed(self.app(scope, receive, exchange.send))
            token = _request.set(timed)
            try:
                await timed
            except Exception:
                if not exchange.end:  # after the last body chunk (a background task) the client had its status
                    exchange.status = 500
                raise
            except BaseException:  # cancelled (the client went away) before any response: nginx's 499
                exchange.status = exchange.status or CLIENT_GONE
                raise
            finally:
                end = exchange.end or _perf()
                _request.reset(token)
                status = exchange.status or 500  # an app that returned without a response: the server sends 500
                cpu = timed.cpu + timed.children + timed.pool
                self._record((route_of(scope, root_path), scope["method"], status, end - start, cpu))
        else:
            try:
                await self.app(scope, receive, exchange.send)
            except Exception:
                if not exchange.end:  # after the last body chunk (a background task) the client had its status
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
