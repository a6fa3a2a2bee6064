"""An interval's service energy shared among its endpoints: pure, no clock and no I/O.

The service's record for the interval (a normal run's record: measured energy, accounted emissions, provenance)
is split into one record per endpoint and status class, plus ``(unattributed)``:

- each endpoint's CPU time is its sampled requests' CPU time scaled to all its requests
  (``cpu_sampled x requests / sampled``; an endpoint none of whose requests was sampled gets the interval's mean
  CPU time per sampled request);
- the requests together get the share of the service's energy that their CPU time is of the process's CPU time
  over the interval (at most all of it); each endpoint gets its part of that by its CPU time;
- the rest, ``(unattributed)``, is the energy of the process outside the requests' measured CPU time: the server's
  own work (parsing, the event loop), garbage collection, thread pools (an ASGI app's sync endpoints),
  background threads, and the idle process's share;
- without a CPU clock (``process_cpu_s`` is ``None``), or with one too coarse to see any request (all read 0,
  as Windows' 15.6 ms thread clock may), the requests get all of it, shared by their wall time.

Every energy and emission figure of the service's record (per component, facility, location- and market-based,
embodied, average powers) is multiplied by the endpoint's fraction, so the records of an interval add up to the
service's record exactly. ``duration_s`` is the summed wall time of the endpoint's requests; ``started_at`` and
``ended_at`` are the interval's.
"""

from __future__ import annotations

import bisect
import dataclasses
import os
from dataclasses import dataclass
from datetime import datetime

from tracker.carbon.accounting import J_PER_KWH
from tracker.exporters.requests import ENERGY_BUCKETS_J
from tracker.integrations.web.aggregate import UNATTRIBUTED, EnergyShare, IntervalStat, Key, fine_upper
from tracker.records.schema import TOTALS, RunRecord

# every energy and emission total of the record (the roll-ups' vocabulary, less the count and the time), and powers
SCALED = (*(c for c in TOTALS if c not in ("runs", "duration_s")), "cpu_power_w", "gpu_power_w", "ram_power_w")
UNIT = "requests"


@dataclass(frozen=True)
class IntervalSummary:
    """One closed interval of a web service, as written to the store."""

    started_at: datetime
    ended_at: datetime
    status: str
    requests: int
    sampled: int
    service_joules: float  # the service's measured energy over the interval (IT energy, all components)
    request_joules: float  # the part attributed to requests (the rest is "(unattributed)")
    process_cpu_s: float | None  # the process's CPU time over the interval (None: no CPU clock)
    request_cpu_s: float  # the requests' CPU time, sampled ones scaled to all
    records: tuple[RunRecord, ...]  # one per endpoint and status class, then "(unattributed)"
    shares: dict[Key, EnergyShare]


def attribute(service: RunRecord, stats: dict[Key, IntervalStat], process_cpu_s: float | None) -> IntervalSummary:
    """Split ``service`` (the interval's record) among the endpoints of ``stats`` (see the module's text)."""
    joules = service.energy_kwh * J_PER_KWH
    requests = sum(s.requests for s in stats.values())
    sampled = sum(s.sampled for s in stats.values())
    sampled_cpu = sum(s.cpu_ns for s in stats.values())
    mean_cpu = sampled_cpu / sampled if sampled else 0.0
    weights: dict[Key, float] = {
        key: s.cpu_ns * s.requests / s.sampled if s.sampled else mean_cpu * s.requests for key, s in stats.items()
    }
    total = sum(weights.values())
    by_cpu = process_cpu_s is not None and total > 0
    if by_cpu:
        assert process_cpu_s is not None
        request_share = min(1.0, total / 1e9 / process_cpu_s) if process_cpu_s > 0 else 1.0
    else:  # no CPU clock, or one too coarse to see any request (0 ns everywhere): wall time, all to the requests
        weights = {key: float(s.duration_ns) for key, s in stats.items()}
        total = sum(weights.values())
        request_share = 1.0 if total > 0 else 0.0
    basis = "CPU time" if by_cpu else "wall time"
    records: list[RunRecord] = []
    shares: dict[Key, EnergyShare] = {}
    used = 0.0
    j_per_ns = joules * request_share / total if by_cpu else 0.0
    for key, s in sorted(stats.items()):
        fraction = request_share * weights[key] / total if total > 0 else 0.0
        used += fraction
        counts = [0] * (len(ENERGY_BUCKETS_J) + 1)
        for index, n in s.cpu_hist.items():
            counts[bisect.bisect_left(ENERGY_BUCKETS_J, fine_upper(index) * j_per_ns)] += n
        shares[key] = EnergyShare(joules * fraction, tuple(counts), s.cpu_ns * j_per_ns)
        route, method, status_class = key
        note = (f"web: {s.requests} requests ({s.sampled} sampled for CPU time), {fraction:.4%} of the service's "
                f"energy over the interval, by {basis} (docs/web.md)")  # fmt: skip
        records.append(_part(service, fraction, f"{method} {route}", status_class, s.duration_ns / 1e9,
                             float(s.requests), note))  # fmt: skip
    rest = max(0.0, 1.0 - used)
    if rest > 1e-12 or not records:
        note = "web: the service's energy outside its requests' measured CPU time (docs/web.md)"
        records.append(_part(service, rest, UNATTRIBUTED, None, 0.0, None, note))
    request_joules = sum(s.joules for s in shares.values())
    return IntervalSummary(
        started_at=service.started_at,
        ended_at=service.ended_at,
        status=service.status,
        requests=requests,
        sampled=sampled,
        service_joules=joules,
        request_joules=request_joules,
        process_cpu_s=process_cpu_s,
        request_cpu_s=total / 1e9 if by_cpu else 0.0,
        records=tuple(records),
        shares=shares,
    )


def _part(
    service: RunRecord,
    fraction: float,
    endpoint: str,
    status_class: str | None,
    duration_s: float,
    units: float | None,
    note: str,
) -> RunRecord:
    """The service's record scaled to one endpoint's fraction."""
    values = {name: getattr(service, name) * fraction for name in SCALED}
    return dataclasses.replace(
        service,
        run_id=os.urandom(16).hex(),
        name=f"{service.name or 'web'}: {endpoint}",
        duration_s=duration_s,
        tags=dict(service.tags),
        notes=[*service.notes, note],
        spans=[],
        functional_unit=UNIT if units is not None else None,
        functional_units=units,
        endpoint=endpoint,
        status_class=status_class,
        **values,
    )
