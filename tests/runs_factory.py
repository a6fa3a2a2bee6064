"""Generated run records for roll-up and report tests: several organisations, teams, projects and months.

Energies are multiples of 1/1024 kWh and emissions of 1/4096 kg, so every sum is exact in binary floating
point whatever the order of addition: totals can be compared with ``==`` against hand-computed sums.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

from tracker.records.schema import RunRecord

HIERARCHY = {
    "acme": {"ml": ["vision", "speech"], "data": ["etl"]},
    "globex": {"research": ["llm", "vision"]},
}


def make_record(index: int = 0, **overrides: Any) -> RunRecord:
    """One completed run with plausible values; ``overrides`` set any field."""
    started = overrides.pop("started_at", datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(hours=index))
    duration = overrides.pop("duration_s", 60.0)
    cpu = overrides.pop("cpu_energy_kwh", 1 / 1024)
    gpu = overrides.pop("gpu_energy_kwh", 0.0)
    ram = overrides.pop("ram_energy_kwh", 1 / 1024)
    energy = cpu + gpu + ram
    values: dict[str, Any] = dict(
        run_id=f"run-{index:06d}",
        project="default",
        experiment=None,
        team=None,
        organisation=None,
        name=None,
        started_at=started,
        ended_at=started + timedelta(seconds=duration),
        duration_s=duration,
        cpu_energy_kwh=cpu,
        gpu_energy_kwh=gpu,
        ram_energy_kwh=ram,
        energy_kwh=energy,
        pue=1.0,
        facility_energy_kwh=energy,
        intensity_g_per_kwh=256.0,
        intensity_source="Ember",
        intensity_year=2024,
        country="DE",
        emissions_kg=energy * 0.25,
        cpu_power_w=10.0,
        gpu_power_w=0.0,
        ram_power_w=3.0,
        cpu_method="rapl",
        gpu_method="none",
        ram_method="ram-model",
        attribution="machine",
        host="host-a",
        cpu_model="Test CPU",
        cpu_count=8,
        gpu_model="",
        gpu_count=0,
        ram_total_gb=32.0,
        tracker_version="0.1.0",
        status="completed",
        zone="DE",
        emissions_market_kg=energy * 0.125,
    )
    values.update(overrides)
    return RunRecord(**values)


def generated_runs(count: int = 240, seed: int = 7) -> list[RunRecord]:
    """Runs spread over organisations, teams, projects, experiments and the months of 2025-11 .. 2026-04."""
    rng = random.Random(seed)
    places = [(org, team, project) for org, teams in HIERARCHY.items() for team, ps in teams.items() for project in ps]
    start = datetime(2025, 11, 1, tzinfo=timezone.utc)
    runs = []
    for i in range(count):
        org, team, project = places[i % len(places)]
        cpu = rng.randint(1, 4096) / 1024
        gpu = rng.choice([0, rng.randint(1, 8192) / 1024])
        ram = rng.randint(1, 512) / 1024
        energy = cpu + gpu + ram
        runs.append(
            make_record(
                i,
                organisation=org,
                team=team,
                project=project,
                experiment=rng.choice(["baseline", "tuned", None]),
                job_id=rng.choice(["job-1", "job-2", None]),
                started_at=start + timedelta(minutes=rng.randint(0, 181 * 24 * 60)),
                duration_s=float(rng.randint(1, 7200)),
                cpu_energy_kwh=cpu,
                gpu_energy_kwh=gpu,
                ram_energy_kwh=ram,
                facility_energy_kwh=energy * 1.25,
                pue=1.25,
                emissions_kg=rng.randint(0, 40960) / 4096,
                emissions_market_kg=rng.randint(0, 40960) / 4096,
                embodied_kg=rng.randint(0, 64) / 4096,
            )
        )
    return runs
