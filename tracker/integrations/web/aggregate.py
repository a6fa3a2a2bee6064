"""The per-endpoint counts of a web service: framework-free, the middleware's only contact on a request's path.

A request costs the middleware one ``deque.append`` of a tuple ``(route, method, status, duration_ns, cpu_ns)``
(thread-safe without a lock: the deque's append is atomic). The service's own thread folds the deque every
second (and a scrape or an interval's end folds it at once) into figures per endpoint, that is per (route template,
method, status class): counts, summed durations, the CPU time of the sampled requests and a fine histogram of it
(from which each request's energy is read once the interval's energy is known), and the cumulative series that
Prometheus shows (:mod:`tracker.exporters.requests`). So the memory held is per endpoint, not per request, and a
burst between two folds holds at most that burst's tuples.

Cardinality is bounded: at most ``max_endpoints`` distinct (route, method) pairs; the rest fold into the route
``(other)``. Unknown methods (anything but the nine of RFC 9110 and PATCH) are named ``OTHER``.
"""

from __future__ import annotations

import bisect
import threading
from collections import deque
from dataclasses import dataclass

from tracker.exporters.requests import DURATION_BUCKETS_S, ENERGY_BUCKETS_J, RequestSeries

UNMATCHED = "(unmatched)"  # no route of the app matched the path (404s, scanners: bounded, never the raw path)
OTHER = "(other)"  # past the cap on distinct endpoints
UNATTRIBUTED = "(unattributed)"  # the service's energy outside the requests' measured CPU time
NO_CPU = -1  # a request that was not sampled: counted and timed, its CPU time not read

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
Key = tuple[str, str, str]  # route template, method, status class
Item = tuple[str, str, int, int, int]  # route, method, status, duration ns, CPU ns (NO_CPU when not sampled)

_DURATION_BOUNDS_NS = [round(b * 1e9) for b in DURATION_BUCKETS_S]


def status_class(status: int) -> str:
    """``2xx`` for 200..299 and so on; anything outside 100..599 is ``other``."""
    return f"{status // 100}xx" if type(status) is int and 100 <= status <= 599 else "other"


def fine_index(ns: int) -> int:
    """A request's CPU time's bin in a log scale with four bins per doubling (bins at most 25 % wide)."""
    if ns < 8:
        return ns
    bits = ns.bit_length()
    return bits * 4 + ((ns >> (bits - 3)) & 3)


def fine_upper(index: int) -> int:
    """The largest CPU time (ns) of a bin of :func:`fine_index`."""
    if index < 8:
        return index
    bits, sub = divmod(index, 4)
    return ((4 + sub + 1) << (bits - 3)) - 1


class IntervalStat:
    """One endpoint's figures in the current interval."""

    __slots__ = ("cpu_hist", "cpu_ns", "duration_ns", "requests", "sampled")

    def __init__(self) -> None:
        self.requests = 0
        self.duration_ns = 0
        self.sampled = 0  # requests whose CPU time was read
        self.cpu_ns = 0  # their CPU time
        self.cpu_hist: dict[int, int] = {}  # fine_index -> sampled requests


class _Cumulative:
    """One endpoint's series since the service began (Prometheus counters and histograms)."""

    __slots__ = ("duration_counts", "duration_ns", "energy_counts", "energy_j", "joules", "requests")

    def __init__(self) -> None:
        self.requests = 0
        self.duration_ns = 0
        self.duration_counts = [0] * (len(DURATION_BUCKETS_S) + 1)
        self.joules = 0.0
        self.energy_counts = [0] * (len(ENERGY_BUCKETS_J) + 1)
        self.energy_j = 0.0


@dataclass(frozen=True)
class EnergyShare:
    """What an interval's attribution gives one endpoint: its joules and those of its sampled requests, binned."""

    joules: float
    energy_counts: tuple[int, ...]
    energy_sum_j: float


class Aggregator:
    """Counts per endpoint; :attr:`record` is the request path's one call."""

    def __init__(self, max_endpoints: int = 100) -> None:
        self.max_endpoints = max_endpoints
        self.items: deque[Item] = deque()
        self.record = self.items.append  # the middleware's hot path: one atomic append, no lock
        # re-entrant: a signal handler that writes the last interval may interrupt a fold on the same thread
        self._lock = threading.RLock()
        self._interval: dict[Key, IntervalStat] = {}
        self._total: dict[Key, _Cumulative] = {}
        self._endpoints: set[tuple[str, str]] = set()
        self.counted = 0  # every request folded since the service began

    def fold(self) -> None:
        """Fold the requests recorded so far into the interval's and the cumulative figures."""
        with self._lock:
            self._fold()

    def _fold(self) -> None:
        pop = self.items.popleft
        interval, total, endpoints = self._interval, self._total, self._endpoints
        bounds = _DURATION_BOUNDS_NS
        n = 0
        while True:
            try:
                route, method, status, duration, cpu = pop()
            except IndexError:
                break
            n += 1
            if type(route) is not str:  # an app's own environ["tracker.route"] may be anything
                route = UNMATCHED if route is None else str(route)
            if not route:
                route = UNMATCHED
            if type(method) is not str or method not in METHODS:
                method = "OTHER"
            if (route, method) not in endpoints and route[0] != "(":  # pseudo-routes are always their own
                if len(endpoints) >= self.max_endpoints:
                    route = OTHER
                else:
                    endpoints.add((route, method))
            key = (route, method, status_class(status))
            stat = interval.get(key)
            if stat is None:
                stat = interval[key] = IntervalStat()
            stat.requests += 1
            stat.duration_ns += duration
            if cpu >= 0:
                stat.sampled += 1
                stat.cpu_ns += cpu
                index = fine_index(cpu)
                stat.cpu_hist[index] = stat.cpu_hist.get(index, 0) + 1
            cumulative = total.get(key)
            if cumulative is None:
                cumulative = total[key] = _Cumulative()
            cumulative.requests += 1
            cumulative.duration_ns += duration
            cumulative.duration_counts[bisect.bisect_left(bounds, duration)] += 1
        self.counted += n

    def reset(self) -> None:
        """Forget every figure and take a new lock (a forked child: the parent's requests are the parent's, and
        the parent's fold thread may have held the lock at the fork)."""
        self._lock = threading.RLock()
        self.items.clear()
        self._interval = {}
        self._total = {}
        self._endpoints = set()
        self.counted = 0

    def take(self) -> dict[Key, IntervalStat]:
        """The interval's figures (all recorded requests folded), and a fresh interval begun."""
        with self._lock:
            self._fold()
            taken, self._interval = self._interval, {}
            return taken

    def add_energy(self, shares: dict[Key, EnergyShare]) -> None:
        """Add a closed interval's attributed energy to the cumulative series."""
        with self._lock:
            for key, share in shares.items():
                cumulative = self._total.get(key)
                if cumulative is None:
                    cumulative = self._total[key] = _Cumulative()
                cumulative.joules += share.joules
                cumulative.energy_j += share.energy_sum_j
                for i, count in enumerate(share.energy_counts):
                    cumulative.energy_counts[i] += count

    def series(self) -> list[RequestSeries]:
        """The cumulative series for a scrape (requests recorded so far folded first)."""
        with self._lock:
            self._fold()
            return [
                RequestSeries(
                    route=key[0],
                    method=key[1],
                    status_class=key[2],
                    requests=c.requests,
                    joules=c.joules,
                    duration_counts=tuple(c.duration_counts),
                    duration_sum_s=c.duration_ns / 1e9,
                    energy_counts=tuple(c.energy_counts),
                    energy_sum_j=c.energy_j,
                )
                for key, c in self._total.items()
            ]
