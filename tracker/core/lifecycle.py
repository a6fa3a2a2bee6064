"""Runs cut short still write their record: at interpreter exit, and on SIGTERM or SIGHUP.

Installed at the first run's start, never at import. The signal handlers are only installed where the program
left the default action in place; they write the records, restore the default and re-send the signal, so the
process still dies of that signal with the exit status callers expect (143 for SIGTERM, 129 for SIGHUP).

A handler runs on the main thread, between two bytecodes of whatever that thread was doing, so it must never wait
for a lock that the interrupted frame may hold: the frame cannot go on until the handler returns. The locks on
the way to a record are re-entrant (the run's, the meter's, the sampler's, the spool's), another thread's stop of a
run is awaited for a bounded time (``run.STOP_WAIT_S``), and the stores are opened afresh (their own connections
and locks, :func:`tracker.stores.spool.final_writes`): the interrupted frame may be inside a cached store's schema
check, or inside its connection. A target that fails once is not tried again: the next records go straight to the
spool, so the process ends in bounded time. A second signal while the records are written is ignored.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
from collections.abc import Callable

from tracker.forks import after_fork

logger = logging.getLogger(__name__)

SIGNALS = ("SIGTERM", "SIGHUP")  # a hang-up (the terminal or the SSH session went away) ends a run as SIGTERM does

_installed = False
_lock = threading.Lock()
_stop_all: Callable[[str], None] | None = None
_ending = False  # a handler is writing the records: a repeated signal waits for it, it does not start again


def _reset_after_fork() -> None:
    """The child's own runs get their own handler run (it inherits the handlers); no parent lock stays held."""
    global _lock, _ending
    _lock, _ending = threading.Lock(), False


def install(stop_all: Callable[[str], None], forget: Callable[[], None]) -> None:
    """Register ``stop_all(status)`` to run at exit ("aborted") and on SIGTERM/SIGHUP ("terminated").

    ``forget()`` runs in the child after ``fork()``: the parent's runs belong to the parent, and a child that
    exits normally must not write them again as "aborted".
    """
    global _installed, _stop_all
    if _installed:  # every run's start: no lock once installed
        return
    with _lock:
        if _installed:
            return
        _installed = True
    _stop_all = stop_all
    atexit.register(stop_all, "aborted")
    after_fork(forget)
    after_fork(_reset_after_fork)
    if threading.current_thread() is not threading.main_thread():
        return
    for name in SIGNALS:
        number = getattr(signal, name, None)
        if number is None:  # not on this platform
            continue
        try:
            if signal.getsignal(number) is not signal.SIG_DFL:
                continue  # the program handles it itself; its own exit path will reach atexit
            signal.signal(number, _on_signal)
        except (ValueError, OSError):
            continue


def _on_signal(signum: int, frame: object) -> None:
    """Write every run's record as ``terminated``, then die of the same signal."""
    global _ending
    if _ending:
        return  # the records are being written by the handler this one interrupted
    _ending = True
    try:
        from tracker.stores import spool

        spool.final_writes()
        if _stop_all is not None:
            _stop_all("terminated")
    except BaseException as exc:  # the process dies below whatever happened
        logger.error("could not write the records of the runs cut short by signal %d: %r", signum, exc)
    finally:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
