"""How the library's warnings reach a person when the application has not configured logging.

The library logs to ``tracker.*`` loggers and, as a library should, leaves handlers to the application. When the
application configured none, Python falls back to its last-resort handler, which prints the bare message: a
person cannot tell that it came from tracker. :func:`install` (called when a configuration is resolved and at
a run's start, never at import) adds :class:`FallbackHandler` to the ``tracker`` logger. It prints
``tracker: LEVEL: message`` and a newline on standard error, the same form as the ``tracker`` command's, but only
for a record that no other handler will see: as soon as the application configures logging
(``logging.basicConfig``, a handler on ``tracker`` or on root), its handlers print the message, once, in its
format, and this one stays silent.
"""

from __future__ import annotations

import logging
import sys
import threading

LOGGER = "tracker"
FORMAT = "tracker: %(levelname)s: %(message)s"

_lock = threading.Lock()
_handler: FallbackHandler | None = None  # the one installed, if any: a run's start checks it without the lock


class FallbackHandler(logging.Handler):
    """Python's last resort for tracker's records (WARNING and above), with the ``tracker:`` prefix."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.setFormatter(logging.Formatter(FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        if self._others_handle(record.name):
            return
        try:
            stream = sys.stderr  # looked up per record, as the last resort does (tests and apps replace it)
            if stream is None:
                return
            text = self.format(record)
            stream.write(text if text.endswith("\n") else text + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)

    @staticmethod
    def _others_handle(name: str) -> bool:
        """Whether a handler of the application sits on the record's way up (respecting ``propagate``)."""
        logger: logging.Logger | None = logging.getLogger(name)
        while logger is not None:
            if any(not isinstance(h, FallbackHandler) for h in logger.handlers):
                return True
            if not logger.propagate:
                return False
            logger = logger.parent
        return False


def install() -> None:
    """Add the :class:`FallbackHandler` to the ``tracker`` logger, once per process (idempotent, thread-safe)."""
    global _handler
    target = logging.root.manager.loggerDict.get(LOGGER)
    if _handler is not None and isinstance(target, logging.Logger) and _handler in target.handlers:
        return  # every later call: a dictionary lookup and a one-item list, no lock (a run's start calls this)
    target = logging.getLogger(LOGGER)
    with _lock:
        found = [h for h in target.handlers if isinstance(h, FallbackHandler)]
        if found:
            _handler = found[0]
        else:
            _handler = FallbackHandler()
            target.addHandler(_handler)
