"""Power sources: each answers "how many joules has this component used since I last asked?"."""

from tracker.measure.sources.base import Component, Method, PowerSource, Usage

__all__ = ["Component", "Method", "PowerSource", "Usage"]
