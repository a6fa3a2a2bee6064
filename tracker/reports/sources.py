"""Which total is which: a store's records per source (``kind``), and the tracked runs already inside metered
equipment.

A store may hold runs beside data-centre equipment days, cloud exports, estimates and imported runs
(``docs/datacentre.md``). A report's rows add all of them up; these totals say how much of that came from each
source, and how much of the runs' energy ran on a host on a day that is also metered as equipment (``host`` = the
equipment's id), so counted twice in a plain sum (their energy and emissions only: equipment records carry no
embodied share). The annual statement takes that overlap out of its totals (:mod:`tracker.reports.annual`); a
report shows it beside its rows.
"""

from __future__ import annotations

from typing import Any

from tracker.records.schema import TOTALS
from tracker.reports.summary import summarize

SHOWN = TOTALS  # every total a roll-up has, summed per source


def source_totals(store: Any, **options: Any) -> list[dict[str, Any]]:
    """Totals per ``kind`` (a record stored before kinds existed is a run), then ``overlap`` when some run shares
    its host with equipment; an empty list when the store holds runs only (nothing to tell apart)."""
    found: dict[str, dict[str, Any]] = {}
    for row in summarize(by=("kind",), store=store, **options).to_dict(orient="records"):
        kind = row["kind"] or "run"
        part = found.setdefault(kind, {"kind": kind, **dict.fromkeys(SHOWN, 0.0)})
        for column in SHOWN:
            part[column] += row[column]
    if set(found) <= {"run"}:
        return []
    parts = [found[k] for k in sorted(found)]
    if "equipment" in found and "run" in found:
        inside = runs_inside_equipment((), store=store, **options)
        if inside:
            overlap = {"kind": "overlap", **{c: sum(r[c] for r in inside) for c in SHOWN}}
            overlap["embodied_kg"] = 0.0  # equipment records carry no embodied emissions: the run's are not inside
            overlap["hosts"] = sorted({r["host"] for r in inside})
            parts.append(overlap)
    for part in parts:
        part["runs"] = int(part["runs"])
    return parts


def runs_inside_equipment(by: tuple[str, ...], **options: Any) -> list[dict[str, Any]]:
    """The tracked runs (totals grouped by ``by``, ``host`` and UTC day of ``started_at``) on a host and day that
    equipment records of the same ``by`` labels meter (with energy: a day without samples has a 0 kWh record): their
    energy is inside that equipment's day. A run on the host on a day it was not metered (before its power feed was
    imported, say) is not. A run is matched by the day
    it started (a run across midnight counts on its first day), and runs inside a VM never match (their ``host``
    is the VM, not the equipment): ``docs/datacentre.md``."""
    keys = (*by, "host")
    metered = {
        (*(row[k] for k in keys), row["period"])
        for row in summarize(by=keys, period="day", kind="equipment", **options).to_dict(orient="records")
        if float(row["energy_kwh"]) > 0  # a day with no samples (a 0 kWh record) holds no run's energy
    }
    if not metered:
        return []
    return [
        row
        for row in summarize(by=keys, period="day", kind="run", **options).to_dict(orient="records")
        if (*(row[k] for k in keys), row["period"]) in metered
    ]
