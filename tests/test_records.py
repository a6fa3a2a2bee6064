"""The record's row: the shapes every store writes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from runs_factory import make_record

from tracker.records.schema import RunRecord, iso, json_texts


@pytest.mark.parametrize(
    "notes",
    [
        ["one"],
        ["a", "", "c"],
        ['quote " backslash \\ newline \n tab \t nul \x00'],
        ["accents é ü, a snowman ☃, an emoji 😀 (a surrogate pair in JSON)"],
        ["</script>", "&amp;", "\u2028 \u2029"],
    ],
)
def test_notes_text_is_what_json_dumps_writes(notes: list[str]) -> None:
    assert json_texts(notes) == json.dumps(notes)
    assert json.loads(json_texts(notes)) == notes


def test_notes_that_are_not_text_fall_back_to_the_general_encoder() -> None:
    assert json_texts(["a", 1, None]) == json.dumps(["a", 1, None])  # type: ignore[list-item]


def test_iso_is_utc_whatever_the_zone_given() -> None:
    moment = datetime(2026, 3, 1, 12, 30, 0, 5, tzinfo=timezone.utc)
    assert iso(moment) == "2026-03-01T12:30:00.000005+00:00"
    paris = moment.astimezone(timezone(timedelta(hours=1)))
    assert iso(paris) == iso(moment)
    assert iso(moment.replace(microsecond=0)).endswith(".000000+00:00")  # one width: ISO text sorts


def test_row_round_trips_notes_tags_and_spans() -> None:
    record = make_record(3, notes=["first", 'a "quoted" note'], tags={"b": "2", "a": "1"})
    row = record.to_row()
    assert row["notes"] == json.dumps(record.notes)
    assert row["tags"] == '{"a": "1", "b": "2"}'
    assert RunRecord.from_row(row) == record
