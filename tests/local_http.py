"""A loopback HTTP server for tests: routes answer with canned (status, headers, body) or a function.

Only ever binds 127.0.0.1. Each request is recorded (method, path, query, headers) so that tests can check
what the client sent (auth header, parameters) and how many requests reached the server (cache tests).
A route may ``hang`` for a while, or ``drip`` its body a byte at a time, to test timeouts; hung handlers are
released when the server stops.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Answer:
    """What a route sends back."""

    status: int = 200
    body: Any = ""  # str/bytes sent as is; anything else as JSON
    headers: dict[str, str] = field(default_factory=dict)
    hang_s: float = 0.0  # wait this long before answering (a dead service)
    drip_s: float = 0.0  # send the body one byte at a time, this many seconds apart (a service that trickles)
    # a body too large to hold: chunks sent as they come, without Content-Length (the end is the connection's)
    stream: Callable[[], Iterator[bytes]] | None = None


@dataclass
class Seen:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


Route = Answer | Callable[[Seen], Answer]


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 with a route table keyed by (method, path)."""

    def __init__(self, routes: dict[tuple[str, str], Route] | None = None) -> None:
        self.routes: dict[tuple[str, str], Route] = dict(routes or {})
        self.seen: list[Seen] = []
        self.stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                parts = urlsplit(self.path)
                seen = Seen(
                    self.command, parts.path, parse_qs(parts.query), {k.lower(): v for k, v in self.headers.items()}
                )
                server.seen.append(seen)
                route = server.routes.get((self.command, parts.path))
                answer = Answer(404, {"error": "not found"}) if route is None else route
                if callable(answer):
                    answer = answer(seen)
                if answer.hang_s and server.stopping.wait(answer.hang_s):
                    return
                if answer.stream is not None:
                    self._stream(answer)
                    return
                body = answer.body
                if not isinstance(body, (str, bytes)):
                    body = json.dumps(body)
                    answer.headers.setdefault("Content-Type", "application/json")
                data = body.encode() if isinstance(body, str) else body
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if answer.drip_s:
                        for i in range(len(data)):
                            self.wfile.write(data[i : i + 1])
                            self.wfile.flush()
                            if server.stopping.wait(answer.drip_s):
                                return
                    else:
                        self.wfile.write(data)
                except OSError:
                    pass

            def _stream(self, answer: Answer) -> None:
                assert answer.stream is not None
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Connection", "close")
                    self.end_headers()
                    for chunk in answer.stream():
                        if server.stopping.is_set():
                            return
                        self.wfile.write(chunk)
                except OSError:  # the client stopped reading: what a size limit does
                    pass
                self.close_connection = True

            do_GET = _handle
            do_PUT = _handle

            def log_message(self, format: str, *args: Any) -> None:  # silence the default logging
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> LocalServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def count(self, path: str) -> int:
        """How many requests reached ``path``."""
        return sum(1 for s in self.seen if s.path == path)


@contextmanager
def serve(routes: dict[tuple[str, str], Route] | None = None) -> Iterator[LocalServer]:
    """Run a :class:`LocalServer` for the duration of a ``with`` block."""
    server = LocalServer(routes).start()
    try:
        yield server
    finally:
        server.stop()


def closed_port_url() -> str:
    """A loopback URL where nothing listens (connection refused at once)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
