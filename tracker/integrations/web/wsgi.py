"""WSGI middleware (Flask, Django, any WSGI app): every request counted per endpoint, its CPU time sampled.

A WSGI request runs on one thread from the app's call to the end of its response iterable, so a sampled
request's CPU time is that thread's CPU clock over that span (a streamed body's iteration included). The request
ends when the body's last chunk has been written (the server asks for the next and there is none), or at the
response's ``close()`` if that comes first (a client gone mid-stream; PEP 3333: every server calls it); test
clients that never close a response are counted too. An exception from the app, or from its body while
streaming, records status 500 and is re-raised.

The route template comes from the app, which knows it after routing: it puts it in ``environ["tracker.route"]``.
:func:`track_flask` does so for Flask (``request.url_rule.rule``), :class:`RouteMiddleware` for Django
(``request.resolver_match.route``); any other app may set the key itself. A request without it is
``(unmatched)``: never the raw path.
"""

from __future__ import annotations

import contextlib
import logging
import random
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from tracker.integrations.web.aggregate import NO_CPU, UNMATCHED
from tracker.integrations.web.service import ServiceMiddleware

logger = logging.getLogger(__name__)
ROUTE_KEY = "tracker.route"
MARK = "tracker.web"  # in an environ a middleware counts already: a nested one passes it through

_perf = time.perf_counter_ns
_cpu = time.thread_time_ns
_random = random.random
_ident = threading.get_ident

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def greenlets_patched() -> bool:
    """gevent or eventlet has monkey-patched threading: every greenlet shares one OS thread, so the thread's CPU
    clock would give a request its neighbours' CPU time too. Then no request's CPU time is read (the interval is
    shared by wall time)."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("threading"):
        return True
    patcher = sys.modules.get("eventlet.patcher")
    return patcher is not None and bool(patcher.is_monkey_patched("thread"))


class _Request:
    """One request: its start, status and (sampled) the thread and CPU clock it began on; recorded once."""

    __slots__ = ("cpu0", "done", "environ", "record", "start", "start_response_", "status", "thread")

    def __init__(self, environ: dict[str, Any], start_response: StartResponse, record: Callable[[Any], None]) -> None:
        self.environ = environ
        self.start_response_ = start_response
        self.record = record
        self.status = 500
        self.done = False
        self.cpu0 = NO_CPU
        self.thread = 0
        self.start = 0

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        try:
            self.status = int(status[:3])
        except ValueError:
            self.status = 0
        return self.start_response_(status, headers, exc_info) if exc_info else self.start_response_(status, headers)

    def finish(self) -> None:
        if self.done:
            return
        self.done = True
        end = _perf()
        cpu = NO_CPU
        if self.cpu0 != NO_CPU and _ident() == self.thread:  # another thread's clock would not be this request's
            cpu = _cpu() - self.cpu0
        environ = self.environ
        route = environ.get(ROUTE_KEY) or UNMATCHED
        self.record((route, environ.get("REQUEST_METHOD", "GET"), self.status, end - self.start, cpu))


class _Body:
    """The app's response iterable, passed through; the request ends after its last chunk, at ``close()`` or at an
    error, whichever comes first."""

    __slots__ = ("body", "request")

    def __init__(self, body: Iterable[bytes], request: _Request) -> None:
        self.body = body
        self.request = request

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.body
        except Exception:
            self.request.status = 500
            self.request.finish()
            raise
        self.request.finish()  # the last chunk is written (the server asks for the next): the request's end

    def __del__(self) -> None:  # neither iterated to its end nor closed (a test client's unread response)
        request = self.request
        if not request.done:
            with contextlib.suppress(Exception):  # at interpreter exit the service may be gone
                request.finish()

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.request.finish()


class TrackerWSGIMiddleware(ServiceMiddleware):
    """Energy and CO2 per endpoint of a WSGI app: ``app.wsgi_app = TrackerWSGIMiddleware(app.wsgi_app, ...)``.

    Keywords as :class:`tracker.integrations.web.TrackerASGIMiddleware`'s. Measuring starts here; the last
    interval is written at interpreter exit (``atexit``), on SIGTERM (the package's handler, where the server left
    the default action) or by :meth:`close`.
    """

    def __init__(self, app: WSGIApp, **options: Any) -> None:
        super().__init__(app, **options)
        self._greenlets = False
        # at once, usually on the main thread at the app's import: there the package's SIGTERM handler can be
        # installed (where the server left the default), so a server killed by SIGTERM still writes the last
        # interval; a WSGI server has no lifespan to say when it starts
        self._start()

    def _start(self) -> None:
        """Start measuring (here, or in a forked worker at its first request, after its server patched threads)."""
        self._greenlets = greenlets_patched()
        if self._greenlets:
            logger.info("web: gevent/eventlet greenlets share the thread's CPU clock: requests are shared by wall "
                        "time (docs/web.md)")  # fmt: skip
        self.service.ensure_started()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if MARK in environ:  # an outer middleware of this process's service counts this request already
            return self.app(environ, start_response)
        environ[MARK] = True
        if not self.service.running:
            self._start()
        request = _Request(environ, start_response, self._record)
        if (self._every or _random() < self._rate) and not self._greenlets:
            request.thread = _ident()
            request.cpu0 = _cpu()
        request.start = _perf()
        try:
            body = self.app(environ, request.start_response)
        except Exception:
            request.status = 500
            request.finish()
            raise
        wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(wrapper, type) and isinstance(body, wrapper):
            # a file the server may send with sendfile(), which it recognises by the wrapper's type: passed through
            # unwrapped, the request ends here (the file's transfer is not in its duration or CPU time)
            request.finish()
            return body
        return _Body(body, request)

    def close(self) -> None:
        """Write the last interval now and stop measuring (a test, or a server that knows its end)."""
        self.service.close()


def track_flask(app: Any, **options: Any) -> TrackerWSGIMiddleware:
    """Measure a Flask app per endpoint (``rule`` templates such as ``/items/<int:id>``). Returns the middleware.

    Keywords: :class:`TrackerWSGIMiddleware`'s. Wraps ``app.wsgi_app`` and adds a first ``before_request``
    function that puts the matched rule into the environ.
    """
    from flask import request

    def _route() -> None:
        rule = request.url_rule
        if rule is not None:
            request.environ[ROUTE_KEY] = rule.rule

    app.before_request_funcs.setdefault(None, []).insert(0, _route)
    middleware = TrackerWSGIMiddleware(app.wsgi_app, **options)
    app.wsgi_app = middleware
    return middleware


class RouteMiddleware:
    """Django middleware that names a request's route for :class:`TrackerWSGIMiddleware`: add
    ``"tracker.integrations.web.RouteMiddleware"`` to ``MIDDLEWARE`` and wrap the WSGI application
    (``application = TrackerWSGIMiddleware(get_wsgi_application(), project=...)``)."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        return self.get_response(request)

    def process_view(self, request: Any, view_func: Any, view_args: Any, view_kwargs: Any) -> None:
        match = getattr(request, "resolver_match", None)
        route = getattr(match, "route", None)
        if route is not None:
            request.META[ROUTE_KEY] = "/" + str(route).lstrip("^")  # Django's routes have no leading slash
        return None
