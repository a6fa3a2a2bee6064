"""Runs cut short still write their record: at interpreter exit and on SIGTERM.

Installed at the first run's start, never at import. The SIGTERM handler is only installed where the program
left the default action in place; it writes the records, restores the default and re-sends the signal, so the
process still dies of SIGTERM with the exit status callers expect.
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

_installed = False
_lock = threading.Lock()


def install(stop_all: Callable[[str], None], forget: Callable[[], None]) -> None:
    """Register ``stop_all(status)`` to run at exit ("aborted") and on SIGTERM ("terminated").

    ``forget()`` runs in the child after ``fork()``: the parent's runs belong to the parent, and a child that
    exits normally must not write them again as "aborted".
    """
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    atexit.register(stop_all, "aborted")
    after_fork(forget)
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return  # the program handles SIGTERM itself; its own exit path will reach atexit
    except (ValueError, AttributeError):  # no SIGTERM on this platform
        return

    def on_sigterm(signum: int, frame: object) -> None:
        try:
            stop_all("terminated")
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)
