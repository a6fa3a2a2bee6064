"""One exception hierarchy for the whole package.

Only :class:`ConfigError` (and its parents) ever reaches user code, and only at start: a fault during
measurement is logged and recorded instead (see ``docs/architecture.md``, "Never break the user's code").
"""

from __future__ import annotations


class TrackerError(Exception):
    """Base class of every error raised by ``tracker``."""


class ConfigError(TrackerError, ValueError):
    """A configuration value is wrong. Raised at start, naming the key and the value."""

    def __init__(self, key: str, value: object, reason: str) -> None:
        self.key = key
        self.value = value
        self.reason = reason
        super().__init__(f"{key}={value!r}: {reason}")


class MeasurementError(TrackerError):
    """A power source could not be read. Caught by the sampler, which moves on to the next source."""


class StoreError(TrackerError):
    """A record could not be written to or read from a store."""
