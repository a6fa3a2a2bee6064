"""Fork hooks, registered once each: what a forked child must forget, and what a fork must wait for.

Threads, locks held by other threads, and database connections do not survive ``fork()`` in a usable state.
Each module that keeps such state registers a hook the first time it makes some (never at import), and the same
function asked for twice is registered once. Where ``os.register_at_fork`` does not exist (Windows) there are no
forks to handle.

:class:`ForkGate` is for work that must not be under way in another thread at the instant of a fork, because the
child would inherit it half done: a C library's process-wide mutex held (SQLite's allocator and file-lock
mutexes), or a transaction open. A fork waits for such work to end and keeps new work out until it is done.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from threading import get_ident

logger = logging.getLogger(__name__)

_registered: set[tuple[str, Callable[[], None]]] = set()
_lock = threading.Lock()
_gates: list[ForkGate] = []  # opened in the child before any other hook runs (one may close a connection)


def _first_in_child() -> None:
    """In a forked child, before every other hook: another thread of the parent may have held the registry's lock
    or a gate's lock at the fork."""
    global _lock
    _lock = threading.Lock()
    for gate in _gates:
        gate._reset_in_child()


def _register(when: str, fn: Callable[[], None]) -> None:
    key = (when, fn)
    if key in _registered or not hasattr(os, "register_at_fork"):  # the usual case, without the lock
        return
    with _lock:
        if key in _registered:
            return
        if not _registered:
            os.register_at_fork(after_in_child=_first_in_child)
        _registered.add(key)
    os.register_at_fork(**{when: fn})


def after_fork(fn: Callable[[], None]) -> None:
    """Run ``fn`` in the child after every later ``fork()``: drop what belongs to the parent."""
    _register("after_in_child", fn)


def before_fork(fn: Callable[[], None]) -> None:
    """Run ``fn`` in the parent just before every later ``fork()``: let work that holds a lock finish."""
    _register("before", fn)


def after_fork_in_parent(fn: Callable[[], None]) -> None:
    """Run ``fn`` in the parent after every later ``fork()`` (also when the fork failed)."""
    _register("after_in_parent", fn)


class ForkGate:
    """Work that a fork must not cut in half: ``with gate: ...`` around it.

    Threads pass at once and side by side; only while a fork is waiting does a thread that is not already inside
    wait at the gate (until the fork is done). A fork waits until no other thread is inside, at most ``wait_s``
    (then it forks anyway, and says so). Two cases never wait, so that the gate cannot deadlock: a thread already
    inside (a signal handler that interrupted its own thread's work there) and the forking thread itself (a signal
    handler that runs while the fork waits). :meth:`install` registers the hooks; the child starts with an open
    gate of its own, since the parent's other threads do not exist there.
    """

    def __init__(self, what: str, wait_s: float) -> None:
        self.what = what  # for the warning: what a fork waited for
        self.wait_s = wait_s
        self._reset()

    def _reset(self, keep: int | None = None) -> None:
        old = getattr(self, "_inside", {})
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._inside: dict[int, int] = {keep: old[keep]} if keep in old else {}  # thread ident -> depth
        self._forking: set[int] = set()  # threads waiting in, or going through, a fork

    def install(self) -> None:
        """Register this gate's fork hooks (once; called when the gated work is first set up, never at import)."""
        before_fork(self._close)
        after_fork_in_parent(self._open)
        with _lock:
            if self not in _gates:
                _gates.append(self)

    # The way in and out takes no lock (a lock cost ~1 µs more per SQLite write): a thread first says it is
    # inside, then looks for a fork; a fork first says it is forking, then looks for threads inside. Each step is
    # one dict or set operation, atomic under the GIL, so one of the two sees the other: a thread that sees a fork
    # steps back out and waits at the lock, and a fork that sees a thread waits for it to leave (a thread that
    # leaves while a fork is pending wakes it). A signal handler entering in the middle of either finds a
    # consistent count: no step removes this thread's entry before its new depth is written.
    def __enter__(self) -> None:
        me = get_ident()
        inside = self._inside
        depth = inside.get(me, 0)
        inside[me] = depth + 1
        if self._forking and not depth and me not in self._forking:
            self._wait_for_fork(me)

    def __exit__(self, *exc: object) -> None:
        me = get_ident()
        inside = self._inside
        depth = inside[me]
        if depth > 1:
            inside[me] = depth - 1
            return
        del inside[me]
        if self._forking:
            with self._lock:
                self._changed.notify_all()

    def _wait_for_fork(self, me: int) -> None:
        """A fork is waiting: step back out (waking it), wait until it is done, then come in under the lock (a
        fork says it is forking under the same lock, so it sees this thread once it is in)."""
        with self._lock:
            del self._inside[me]
            self._changed.notify_all()
            self._changed.wait_for(lambda: not self._forking, timeout=self.wait_s)
            self._inside[me] = 1

    def _close(self) -> None:
        me = get_ident()
        with self._lock:
            self._forking.add(me)
            if not self._changed.wait_for(lambda: not self._inside.keys() - {me}, timeout=self.wait_s):
                logger.warning(
                    "forking while %s is still under way in another thread after %.0f s: the child may hang",
                    self.what,
                    self.wait_s,
                )

    def _open(self) -> None:
        with self._lock:
            self._forking.discard(get_ident())
            self._changed.notify_all()

    def _reset_in_child(self) -> None:
        """Run by the first hook in the child (see ``_first_in_child``)."""
        # the forking thread keeps its depth (a fork from inside the gate leaves it later); the others are gone
        self._reset(keep=get_ident())
