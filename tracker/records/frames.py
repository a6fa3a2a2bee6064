"""Rows to pandas DataFrames with the contract's columns and types (pandas is imported only here)."""

from __future__ import annotations

from typing import Any

from tracker.records.schema import COLUMNS


def to_frame(rows: list[dict[str, Any]]) -> Any:
    """A DataFrame with every column of the contract; ``started_at``/``ended_at`` as UTC datetimes."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in ("started_at", "ended_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame
