"""Fork hooks, registered once each: what a forked child must forget, and what a fork must wait for.

Threads, locks held by other threads, and database connections do not survive ``fork()`` in a usable state.
Each module that keeps such state registers a hook the first time it makes some (never at import), and the same
function asked for twice is registered once. Where ``os.register_at_fork`` does not exist (Windows) there are no
forks to handle.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

_registered: set[tuple[str, Callable[[], None]]] = set()
_lock = threading.Lock()


def _new_lock() -> None:
    """In a forked child: another thread of the parent may have held the registry's lock at the fork."""
    global _lock
    _lock = threading.Lock()


def _register(when: str, fn: Callable[[], None]) -> None:
    key = (when, fn)
    if key in _registered or not hasattr(os, "register_at_fork"):  # the usual case, without the lock
        return
    with _lock:
        if key in _registered:
            return
        if not _registered:
            os.register_at_fork(after_in_child=_new_lock)
        _registered.add(key)
    os.register_at_fork(**{when: fn})


def after_fork(fn: Callable[[], None]) -> None:
    """Run ``fn`` in the child after every later ``fork()``: drop what belongs to the parent."""
    _register("after_in_child", fn)


def before_fork(fn: Callable[[], None]) -> None:
    """Run ``fn`` in the parent just before every later ``fork()``: let work that holds a lock finish."""
    _register("before", fn)


def after_fork_in_parent(fn: Callable[[], None]) -> None:
    """Run ``fn`` in the parent after every later ``fork()``: release what :func:`before_fork` took."""
    _register("after_in_parent", fn)


class Gate:
    """A passage for calls into a C library that takes process-wide locks of its own with the GIL released
    (SQLite: its allocator and VFS mutexes, and the in-process record of the file locks it holds).

    A thread inside such a call when another thread forks leaves the child with those locks held for ever: the
    child's first call into the library hangs. Each call goes through the gate (``with gate:``, two uncontended
    lock operations); a ``fork()`` first waits until no thread is inside (at most ``wait_s``: a call stuck
    longer, say in a busy wait, holds none of those locks meanwhile) and keeps new callers out until it is done,
    and the child starts with the gate empty.
    """

    __slots__ = ("_cond", "_inside", "wait_s")

    def __init__(self, wait_s: float = 2.0) -> None:
        self._cond = threading.Condition(threading.RLock())
        self._inside = 0
        self.wait_s = wait_s
        before_fork(self._hold)
        after_fork_in_parent(self._release)
        after_fork(self._reset)

    def __enter__(self) -> None:
        with self._cond:
            self._inside += 1

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._inside -= 1
            if not self._inside:
                self._cond.notify_all()

    def _hold(self) -> None:
        self._cond.acquire()  # held across the fork: nobody enters or leaves meanwhile
        self._cond.wait_for(lambda: not self._inside, self.wait_s)

    def _release(self) -> None:
        self._cond.release()

    def _reset(self) -> None:
        self._cond = threading.Condition(threading.RLock())
        self._inside = 0
