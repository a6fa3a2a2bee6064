"""The renderer interface: one subclass per output format, one method per kind of report object.

A renderer only reads the object it is given (data from :mod:`tracker.reports.data`, ``annual`` and
``recommend``) and returns text; it never opens a store or asks the network. A format that has no form for
some kind of object leaves that method out and :meth:`Renderer.render` says so.
"""

from __future__ import annotations

from typing import Any, ClassVar

from tracker.errors import ConfigError
from tracker.reports.annual import AnnualStatement
from tracker.reports.data import Report
from tracker.reports.recommend import Recommendations
from tracker.reports.steps import StepSeries


class Renderer:
    """Turns a report object into a string in one format (``name``, as ``--format`` spells it)."""

    name: ClassVar[str] = ""
    # the kinds of object and the method that renders each
    KINDS: ClassVar[tuple[tuple[type, str], ...]] = (
        (Report, "report"),
        (AnnualStatement, "annual"),
        (Recommendations, "recommendations"),
        (StepSeries, "steps"),
    )

    def render(self, obj: Any) -> str:
        """``obj`` in this format; :class:`ConfigError` when the format has no form for it."""
        for kind, method in self.KINDS:
            if isinstance(obj, kind):
                if not hasattr(self, method):
                    raise ConfigError("format", self.name, f"not available for {method}")
                return str(getattr(self, method)(obj))
        raise TypeError(f"nothing renders a {type(obj).__name__}")
