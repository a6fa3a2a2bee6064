"""Store locations: which back end a location string names, whether it can be used here, and how to show it
without its password. A leaf module (errors only), so that the configuration can check ``store=`` at start
without loading any store.
"""

from __future__ import annotations

import re

from tracker.errors import ConfigError


def check_location(location: str) -> None:
    """Raise :class:`ConfigError` at start for a location no back end takes (not at the run's end)."""
    if backend(location) == "postgres":
        from importlib.util import find_spec

        if find_spec("psycopg") is None:
            raise ConfigError("store", redact(location), "PostgreSQL needs psycopg: pip install 'tracker[postgres]'")


def backend(location: str) -> str:
    """Which back end takes ``location``: ``postgres``, ``sqlite-url`` (``sqlite:///path``), ``csv`` or
    ``sqlite`` (a plain path); :class:`ConfigError` for any other URL."""
    lowered = location.lower()
    if lowered.startswith(("postgresql://", "postgres://")):
        return "postgres"
    if lowered.startswith("sqlite:///"):
        return "sqlite-url"
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith((".db", ".sqlite", ".sqlite3")) or "://" not in lowered:
        return "sqlite"
    raise ConfigError(
        "store", location, "expected a .db/.sqlite path, a sqlite:/// URL, a postgresql:// URL or a .csv path"
    )


def redact(location: str) -> str:
    """The location without its password, for logs, notes and messages."""
    location = re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", location)
    return re.sub(r"(password=)[^&\s]*", r"\1***", location)
