"""Where ``tracker`` keeps its files: the user's data and config directories (XDG on Linux)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def _home() -> Path:
    """The user's home, or a per-user temporary folder where there is none (random-UID containers)."""
    try:
        return Path.home()
    except (RuntimeError, KeyError, OSError):
        uid = os.getuid() if hasattr(os, "getuid") else "user"
        import tempfile  # rarely needed: not at import

        return Path(tempfile.gettempdir()) / f"tracker-{uid}"


def data_dir() -> Path:
    """The directory for the default store (``$XDG_DATA_HOME/tracker`` or the platform's equivalent)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or _home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = _home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or _home() / ".local" / "share")
    return base / "tracker"


def config_file() -> Path:
    """The user config file: ``$TRACKER_CONFIG``, else ``$XDG_CONFIG_HOME/tracker/config.toml``."""
    explicit = os.environ.get("TRACKER_CONFIG")
    if explicit:
        return Path(explicit)
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or _home() / "AppData" / "Roaming")
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or _home() / ".config")
    return base / "tracker" / "config.toml"


PRIVATE_DIR = 0o700  # the data and spool directories: records name hosts, commands and stores


def private_dir(directory: Path) -> None:
    """Create ``directory`` (and its missing parents up to the data directory) readable by its owner only.

    An existing directory keeps its mode: one the user made, or shared on purpose, is theirs to set."""
    top = data_dir()
    if directory != top and top in directory.parents:
        top.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    directory.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)


def default_store() -> str:
    """The default store: a SQLite file in the user's data directory (a run's end asks ``Config.store_location``,
    which keeps this per configuration)."""
    return str(data_dir() / "runs.db")
