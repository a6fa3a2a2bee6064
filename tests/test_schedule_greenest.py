"""``tracker.greenest`` and ``tracker where``: constraints first, then one basis for every candidate."""

from __future__ import annotations

import json

import pytest

import tracker
from tests.test_schedule_waiting import T0
from tracker.cli import main
from tracker.errors import ConfigError, TrackerError
from tracker.grid.forecast import Forecast
from tracker.grid.zones import zone_table

CANDIDATES = ["aws:eu-west-1", "aws:eu-north-1", "gcp:europe-west4", "aws:ca-central-1", "PL", "BY"]


class PerZone:
    """A provider with one flat hourly forecast per zone (the provider interface; HTTP is tested elsewhere)."""

    name = "per-zone"

    def __init__(self, values: dict[str, list[float]], signal: str = "average") -> None:
        self.values = values
        self.signal = signal

    def forecast(self, zone: str, horizon_hours: int = 72, granularity: str = "hourly") -> Forecast:
        if zone not in self.values:
            raise TrackerError(f"no forecast for {zone} here")
        vals = self.values[zone]
        n = len(vals)
        return Forecast(zone, tuple(T0 + i * 3600 for i in range(n)), (3600.0,) * n, tuple(vals), "test", self.signal)


def test_yearly_ranking_with_constraints() -> None:
    table = zone_table()
    ranking = tracker.greenest(CANDIDATES, jurisdiction="EU")
    assert [r.place for r in ranking] == ["aws eu-north-1", "gcp europe-west4", "aws eu-west-1", "PL"]
    values = [r.g_per_kwh for r in ranking]
    assert values == sorted(values) and values[0] == table.get(table.cloud("aws", "eu-north-1").zone).g_per_kwh
    assert dict(ranking.excluded) == {"aws ca-central-1": "outside the EU", "BY": "outside the EU"}
    assert ranking.basis.startswith("yearly averages") and not ranking.notes  # no time was asked for


def test_same_provider_country_jurisdiction_and_residency() -> None:
    same = tracker.greenest(CANDIDATES, near="aws:eu-central-1", same_provider=True)
    assert {r.provider for r in same} == {"aws"} and "gcp europe-west4" in dict(same.excluded)
    law = tracker.greenest(CANDIDATES, near="PL", jurisdiction="same")
    assert "BY" in dict(law.excluded) and "aws ca-central-1" in dict(law.excluded)
    assert {r.country for r in tracker.greenest(CANDIDATES, near="PL", same_country=True)} == {"PL"}
    kept = tracker.greenest(CANDIDATES, residency=["IE", "nld"])
    assert [r.place for r in kept] == ["gcp europe-west4", "aws eu-west-1"]
    gov = tracker.greenest(["aws:us-west-2", "aws:us-gov-west-1"], near="aws:us-east-1", same_provider=True)
    assert [r.place for r in gov] == ["aws us-west-2"] and "aws-us-gov" in dict(gov.excluded)["aws us-gov-west-1"]
    with pytest.raises(ConfigError, match="near"):
        tracker.greenest(CANDIDATES, same_provider=True)
    with pytest.raises(ConfigError, match="nowhere-1"):
        tracker.greenest(["aws:nowhere-1"])


def test_forecast_ranking_over_a_window_and_the_fallback_to_yearly() -> None:
    from datetime import datetime, timezone

    now = datetime.fromtimestamp(T0, tz=timezone.utc)
    provider = PerZone({"NL": [300, 100, 100], "FR": [50, 400, 400], "IE": [200, 200, 200]})
    ranking = tracker.greenest(["NL", "FR", "IE"], duration="2h", providers=[provider], now=now)
    assert [(r.place, r.g_per_kwh) for r in ranking] == [("IE", 200.0), ("NL", 200.0), ("FR", 225.0)]
    later = tracker.greenest(["NL", "FR", "IE"], at="1h", duration="2h", providers=[provider], now=now)
    assert [r.place for r in later] == ["NL", "IE", "FR"] and "average over 2 h" in later.basis
    partial = tracker.greenest(["NL", "DE"], duration="1h", providers=[provider], now=now)
    assert partial.basis.startswith("yearly averages") and "DE: " in partial.notes[0]
    mixed = tracker.greenest(
        ["NL", "FR"], providers=[PerZone({"NL": [1.0]}, "marginal"), PerZone({"FR": [2.0]})], now=now
    )  # a marginal figure is never ranked against an average one
    assert mixed.basis.startswith("yearly averages")


def test_where_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["where", "--duration", "1h", "--jurisdiction", "EEA", "--format", "json", *CANDIDATES]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ranking"][0]["place"] == "aws eu-north-1"
    assert {e["place"] for e in out["excluded"]} == {"aws ca-central-1", "BY"}
    assert "no time of day can be chosen" in out["notes"][0]
    assert main(["where", "NL", "FR"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[1].split()[1] == "FR"  # France's grid is the cleaner of the two
