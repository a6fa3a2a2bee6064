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


_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)(\S*)@")  # greedy: up to the token's last "@"


def _hide_password(match: re.Match[str]) -> str:
    user, colon, _ = match.group(2).partition(":")
    return f"{match.group(1)}{user}:***@" if colon else match.group(0)


def redact(location: str) -> str:
    """The location (or a message holding URLs) without passwords, for logs, notes and messages.

    A URL's userinfo is everything from ``://`` to the token's last ``@``: a password may hold an unencoded
    ``/`` or ``@`` (libpq takes it), so the usual ``[^/@]*`` would leave it in the text. The user name stays."""
    location = _USERINFO.sub(_hide_password, location)
    return re.sub(r"(password=)[^&\s]*", r"\1***", location)
