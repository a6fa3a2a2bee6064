"""Embedded data tables (see PROVENANCE.md and LICENSES.md in this folder)."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).parent


def read_text(name: str) -> str:
    """The text of a bundled table. A plain file read: ``importlib.resources`` costs ~5 ms to import, and this
    package is always installed as files (it is not zip-safe)."""
    return (_HERE / name).read_text(encoding="utf-8")
