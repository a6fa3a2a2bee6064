"""A record of what no tracked run measured (a piece of equipment's day, a cloud export's line, a saved estimate).

Such a record has no hardware of its own: no CPU, GPU or RAM figures, no host probe. :func:`footprint_record`
fills those columns the same way for every kind, so that the reports, which read them for runs, see the same
empty values whichever importer wrote the record; the caller gives the rest (and may override any of these).
"""

from __future__ import annotations

from typing import Any

from tracker._version import __version__
from tracker.records.schema import RunRecord

_NO_HARDWARE: dict[str, Any] = {
    "cpu_energy_kwh": 0.0,
    "gpu_energy_kwh": 0.0,
    "ram_energy_kwh": 0.0,
    "cpu_power_w": 0.0,
    "gpu_power_w": 0.0,
    "ram_power_w": 0.0,
    "gpu_method": "none",
    "ram_method": "none",
    "host": "",
    "cpu_model": "",
    "cpu_count": 0,
    "gpu_model": "",
    "gpu_count": 0,
    "ram_total_gb": 0.0,
    "status": "completed",
}


def footprint_record(**fields: Any) -> RunRecord:
    """A :class:`RunRecord` from ``fields``, the hardware columns empty unless given, written by this version."""
    return RunRecord(**{**_NO_HARDWARE, "tracker_version": __version__, **fields})
