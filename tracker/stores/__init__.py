"""Stores: where records go, and where :func:`tracker.load_runs` reads them back from.

:func:`open_store` opens the store at a location string; :func:`open_configured` the configured one (what a run in
the same place writes to). The interface is :class:`Store` (:mod:`tracker.stores.base`).
"""

from tracker.stores.base import Store
from tracker.stores.factory import configured_location, open_configured, open_store

__all__ = ["Store", "configured_location", "open_configured", "open_store"]
