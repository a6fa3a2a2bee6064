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

