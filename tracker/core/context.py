"""What a configuration needs at run time, worked out once: its PUE model, intensity provider and store.

A :class:`~tracker.config.Config` is a frozen value; the objects built from it (a PUE model, an intensity
provider holding an HTTP client, the default store's path read from the environment) live here instead, one
context per configuration. A :class:`~tracker.core.run.Tracker` keeps one for all its runs, so a later run of
the same tracker reads no environment variable and builds nothing (see ``docs/architecture.md``, "Cost of a
later run").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tracker.carbon.pue import Pue
    from tracker.config import Config
    from tracker.grid.intensity import IntensityProvider


class RunContext:
    """The per-configuration objects of runs: built at first use, then kept (not copied, not pickled)."""

    __slots__ = ("_provider", "_pue", "_store", "config")

    def __init__(self, config: Config) -> None:
        self.config = config
        self._pue: Pue | None = None
        self._provider: IntensityProvider | None = None
        self._store: str | None = None

    def pue_model(self) -> Pue:
        """The PUE to apply. A constant is built once; a site's schedule is looked at again on each call (the
        file may have changed; it is parsed again only when it did)."""
        constant = self._pue
        if constant is not None:
            return constant
        from tracker.carbon.pue import model_for

        config = self.config
        model = model_for(config.pue, config.pue_source, config.pue_schedule)
        if not config.pue_schedule:
            self._pue = model
        return model

    def intensity_provider(self) -> IntensityProvider:
        """The grid-intensity provider: embedded, or live when asked for (``live=auto``: when the Electricity
        Maps token is set). Chosen at the first run's end: the token is read then."""
        provider = self._provider
        if provider is None:
            from tracker.grid.intensity import provider_for

            provider = self._provider = provider_for(self.config)
        return provider

    def store_location(self) -> str:
        """Where runs are written: ``store``, else the default SQLite file in the user's data directory (that
        path is read from the environment at the first run's end, and kept)."""
        location = self._store
        if location is None:
            from tracker.stores.factory import location_of

            location = self._store = location_of(self.config)
        return location
