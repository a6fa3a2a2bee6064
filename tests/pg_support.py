"""PostgreSQL for tests: the server to use, a fresh database per test, and a TCP relay that can make it vanish.

The server is ``$TRACKER_TEST_POSTGRES`` (set by ``.ci/run``: then it is required, and a missing server fails
the run), else ``postgresql://postgres@127.0.0.1:5432/postgres`` when it answers. Without the variable the tests
skip only when the server does not answer and ``CI`` is unset. Read at import, before the per-test fixture
clears ``TRACKER_*`` variables.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
from collections.abc import Iterator

import pytest

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ADMIN_URL = os.environ.get("TRACKER_TEST_POSTGRES") or DEFAULT_URL
REQUIRED = bool(os.environ.get("TRACKER_TEST_POSTGRES") or os.environ.get("CI"))


def _server_problem() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[test]')"
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {ADMIN_URL} does not answer: {exc}"
    return None


_problem: list[str | None] = []


def require_server() -> None:
    """Fail (when required) or skip (otherwise) the calling test if the server cannot be used."""
    if not _problem:
        _problem.append(_server_problem())
    problem = _problem[0]
    if problem is None:
        return
    if REQUIRED:
        pytest.fail(f"{problem} (required: TRACKER_TEST_POSTGRES or CI is set)", pytrace=False)
    pytest.skip(problem)


def with_database(url: str, name: str) -> str:
    """``url`` (a ``postgresql://`` URL) naming database ``name`` instead."""
    base, _, query = url.partition("?")
    scheme, _, rest = base.partition("://")
    authority = rest.split("/", 1)[0]
    return f"{scheme}://{authority}/{name}" + (f"?{query}" if query else "")


@pytest.fixture(name="pg_url")
def pg_database() -> Iterator[str]:
    """A database made for this test (``tracker_test_<random>``), dropped after it whatever is connected."""
    require_server()
    import psycopg

    name = f"tracker_test_{secrets.token_hex(6)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield with_database(ADMIN_URL, name)
    finally:
        from tracker.stores import factory

        factory.close_all()
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def server_address() -> tuple[str, int]:
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(ADMIN_URL)
    return str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432)


class Relay:
    """A TCP relay on 127.0.0.1 to the test server: ``stop()`` makes the server unreachable at the relay's port
    (and cuts open connections), ``start()`` brings it back on the same port. ``freeze()`` stops forwarding while
    every connection stays open and the kernel keeps acknowledging, as a frozen proxy does; ``thaw()`` resumes."""

    def __init__(self) -> None:
        self.target = server_address()
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._flowing = threading.Event()
        self._flowing.set()

    def url(self, database_url: str) -> str:
        """``database_url`` reached through this relay."""
        base, _, query = database_url.partition("?")
        scheme, _, rest = base.partition("://")
        authority, _, path = rest.partition("/")
        user = authority.rpartition("@")[0]
        return f"{scheme}://{user + '@' if user else ''}127.0.0.1:{self.port}/{path}" + (f"?{query}" if query else "")

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, []
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (a bare close() may not)
            listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self._listener is not listener:
                client.close()
                return
            try:
                upstream = socket.create_connection(self.target, timeout=3)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def freeze(self) -> None:
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self._flowing.wait()  # frozen: what arrived is held (the kernel has acknowledged it already)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
