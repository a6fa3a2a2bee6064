"""Deadlines for blocking network writes: a frozen peer must not hang a run's end.

A PostgreSQL server or a proxy whose process is frozen (stopped with SIGSTOP, swapped out, a paused container
behind a live host) still has a kernel that acknowledges every packet. TCP keepalives and ``tcp_user_timeout``
then see a healthy connection, the server's ``statement_timeout`` never runs, and psycopg's blocking calls have
no timeout of their own: ``stop()`` would wait for as long as the peer stays frozen.

One watchdog thread per process (started at the first guarded call) shuts down the socket of a call that outlives
its deadline. The blocked call then fails at once as a broken connection, and the store's caller spools the
record (``tracker.stores.spool``). Each guard works on its own duplicate of the socket's descriptor (see
:class:`Guard`): the connection's descriptor is never closed here.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Iterator

from tracker.forks import after_fork

logger = logging.getLogger(__name__)


class Guard:
    """One guarded call: ``fired`` is true when its deadline passed and its socket was shut down.

    It holds its own duplicate of the socket's descriptor, taken when armed: if the connection's owner closes its
    descriptor meanwhile (libpq does on a fatal error) and the number is reused by another file, the watchdog
    still reaches the right socket, and only ever closes its own duplicate.
    """

    __slots__ = ("deadline", "fired", "sock")

    def __init__(self, sock: socket.socket | None, deadline: float) -> None:
        self.sock = sock  # None: the descriptor was not a socket we could duplicate; this guard cannot fire
        self.deadline = deadline
        self.fired = False


def _duplicate(fd: int) -> socket.socket | None:
    try:
        copy = os.dup(fd)
    except OSError as exc:
        logger.debug("no deadline for descriptor %d: %s", fd, exc)
        return None
    try:
        return socket.socket(fileno=copy)
    except OSError as exc:
        os.close(copy)
        logger.debug("no deadline for descriptor %d: %s", fd, exc)
        return None


class Watchdog:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: set[Guard] = set()
        self._thread: threading.Thread | None = None
        self._wake_at = math.inf  # when the watchdog wakes next by itself: a later deadline needs no wake-up

    @contextlib.contextmanager
    def guard(self, fd: int, seconds: float) -> Iterator[Guard]:
        """Shut down socket ``fd`` if the block is still running after ``seconds``."""
        guard = Guard(_duplicate(fd), time.monotonic() + seconds)
        if guard.sock is not None:
            with self._cond:
                self._armed.add(guard)
                if self._thread is None or not self._thread.is_alive():  # also after fork(): no thread survives it
                    self._thread = threading.Thread(target=self._watch, name="tracker-deadlines", daemon=True)
                    self._thread.start()
                elif guard.deadline < self._wake_at:  # not a thread wake-up (a context switch) per write
                    self._cond.notify()
        try:
            yield guard
        finally:
            if guard.sock is not None:
                with self._cond:  # the watchdog acts under this lock: once out, our socket is never touched
                    self._armed.discard(guard)
                guard.sock.close()  # our duplicate only

    def _watch(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for guard in [g for g in self._armed if g.deadline <= now]:
                    self._armed.discard(guard)
                    guard.fired = True
                    sock = guard.sock
                    assert sock is not None  # only guards with a socket are armed
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError as exc:  # already shut down by its owner: the call is ending anyway
                        logger.debug("deadline passed; shutting the socket down failed: %s", exc)
                self._wake_at = min((g.deadline for g in self._armed), default=now + 3600.0)
                self._cond.wait(max(self._wake_at - now, 0.0))


_watchdog: Watchdog | None = None
_lock = threading.Lock()


def watchdog() -> Watchdog:
    """The process's watchdog (made at first use: no thread for processes that never write over the network)."""
    global _watchdog
    if _watchdog is not None:  # every PostgreSQL write asks: no lock once it exists
        return _watchdog
    with _lock:
        if _watchdog is None:
            _watchdog = Watchdog()
            after_fork(_forget_after_fork)
        return _watchdog


def _forget_after_fork() -> None:
    """The child starts afresh: the parent's watchdog thread is gone, and its lock may have been held at fork."""
    global _watchdog, _lock
    _watchdog, _lock = None, threading.Lock()
