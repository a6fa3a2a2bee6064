"""Opening stores: the back end for a location string, cached per process, and the configured store.

Stores are cached per process: opening one costs a connection and a schema check, which must not happen on every
run (see benchmarks/). This is the only module that imports the back ends (lazily, the one a location needs), so
that :mod:`tracker.stores.base` stays the interface that the back ends and the configuration both import.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from tracker.forks import after_fork
from tracker.paths import default_store
from tracker.stores.base import Store
from tracker.stores.locations import backend

if TYPE_CHECKING:
    from tracker.config import Config

_cache: dict[str, Store] = {}
_cache_lock = threading.Lock()


def _forget_after_fork() -> None:
    """A forked child must not use the parent's connections (SQLite forbids it): drop the stores, so that the child
    opens its own (each back end decides what becomes of the inherited connections: SQLite's are closed, idle, see
    :mod:`tracker.stores.sqlite`; PostgreSQL's dropped unclosed); and the cache's lock, which another thread of the
    parent may have held at the fork, is a new one."""
    global _cache_lock
    _cache.clear()
    _cache_lock = threading.Lock()


def open_store(location: str | None = None) -> Store:
    """The store for a location string (``None``: the default SQLite file), cached per process."""
    location = location or default_store()
    after_fork(_forget_after_fork)
    with _cache_lock:
        store = _cache.get(location)
        if store is None:
            store = _create(location)
            _cache[location] = store
        return store


def open_uncached(location: str | None = None) -> Store:
    """A new store object for a location, with its own connections and locks, not kept: for the records a process
    writes as a signal ends it (the frame the signal interrupted may hold the cached store's locks)."""
    return _create(location or default_store())


def location_of(config: Config) -> str:
    """Where a configuration's runs are written: its ``store``, else the default SQLite file in the user's data
    directory (read from the environment now: callers that ask per run keep the answer)."""
    return config.store or default_store()


def configured_location(store: str | None = None) -> str:
    """Where the configured runs are: ``store`` when given, else the configuration's (``TRACKER_STORE``,
    ``[tool.tracker]``, the config file), else the default SQLite file. The configuration is resolved (and the
    location checked) as for a run, so a command reads the store that a run in the same place writes to."""
    from tracker.config import resolve

    return location_of(resolve({"store": store}))


def open_configured(store: str | None = None) -> Store:
    """The configured store (see :func:`configured_location`), opened: what ``load_runs``, ``summarize`` and
    the ``runs``, ``report`` and ``import`` commands read from or write to."""
    return open_store(configured_location(store))


def _create(location: str) -> Store:
    kind = backend(location)
    if kind == "csv":
        from tracker.stores.csv import CsvStore

        return CsvStore(location)
    if kind == "postgres":
        from tracker.stores.postgres import PostgresStore

        return PostgresStore(location)
    from tracker.stores.sqlite import SqliteStore

    path = location[len("sqlite:///") :] if kind == "sqlite-url" else location
    return SqliteStore(path, location)


def close_all() -> None:
    """Close every cached store (tests, and the end of the process)."""
    with _cache_lock:
        for store in _cache.values():
            store.close()
        _cache.clear()
