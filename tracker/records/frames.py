"""Rows to pandas DataFrames with the contract's columns and types (pandas is imported only here)."""

from __future__ import annotations

import json
import logging
from typing import Any

from tracker.records.schema import COLUMNS

logger = logging.getLogger(__name__)

# The columns stored as JSON text, and what an empty one holds.
NESTED: dict[str, type] = {"tags": dict, "notes": list, "spans": list}


def decode(column: str, value: Any) -> Any:
    """A nested column's value as Python objects (``tags``: dict, ``notes``: list of str, ``spans``: list of
    dicts, in stored order); empty or missing: an empty container; text that is not JSON stays text (a
    damaged row must not stop a whole load)."""
    empty = NESTED[column]
    if value is None or value == "":
        return empty()
    if not isinstance(value, str):
        return value  # already decoded by the store
    if value in ("{}", "[]"):  # most runs: no need to parse
        return empty()
    try:
        return json.loads(value)
    except ValueError:
        logger.debug("%s is not JSON: kept as text", column)
        return value


def to_frame(rows: list[dict[str, Any]]) -> Any:
    """A DataFrame with every column of the contract; ``started_at``/``ended_at`` as UTC datetimes; ``tags``,
    ``notes`` and ``spans`` as the JSON text the stores hold (:func:`decode_nested` turns them into objects)."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in ("started_at", "ended_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame


def decode_nested(frame: Any) -> Any:
    """``frame`` (from :func:`to_frame`) with ``tags``, ``notes`` and ``spans`` as Python objects, in place."""
    import pandas as pd

    for column in NESTED:
        values = [decode(column, v) for v in frame[column].tolist()]
        frame[column] = pd.Series(values, index=frame.index, dtype=object)
    return frame
