"""Forecast providers other than Electricity Maps: the Carbon Aware SDK Web API and WattTime v3 (to come)."""

from __future__ import annotations

from typing import Any


def configured_web_providers() -> list[Any]:
    """The web providers the environment configures (none yet)."""
    return []
