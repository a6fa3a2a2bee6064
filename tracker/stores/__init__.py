"""Stores: where records go, and where :func:`tracker.load_runs` reads them back from."""

from tracker.stores.base import Store, open_store

__all__ = ["Store", "open_store"]
