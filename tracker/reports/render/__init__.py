"""Renderers: report objects (a roll-up :class:`~tracker.reports.data.Report`, an
:class:`~tracker.reports.annual.AnnualStatement`, :class:`~tracker.reports.recommend.Recommendations`) as text
for people (terminal table, Markdown, HTML) or for programs (JSON, CSV).

``render(obj, fmt)`` is the one entry point. Each format is one module of :mod:`tracker.reports.render.formats`
defining ``RENDERER`` (a :class:`~tracker.reports.render.base.Renderer`), so a new format is one file. Numbers
for people go through :mod:`~tracker.reports.render.units`; labels through :mod:`~tracker.reports.render.labels`.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from tracker.errors import ConfigError


def format_names() -> tuple[str, ...]:
    """The format names, i.e. the modules of :mod:`tracker.reports.render.formats` (listed, not imported)."""
    package = importlib.import_module("tracker.reports.render.formats")
    return tuple(sorted(i.name for i in pkgutil.iter_modules(package.__path__) if not i.name.startswith("_")))


def render(obj: Any, fmt: str = "table") -> str:
    """``obj`` as ``fmt`` (``table``, ``markdown``, ``html``, ``json``, ``csv``, ...)."""
    names = format_names()
    if fmt not in names:
        raise ConfigError("format", fmt, f"expected one of {', '.join(names)}")
    module = importlib.import_module(f"tracker.reports.render.formats.{fmt}")
    return module.RENDERER.render(obj)
