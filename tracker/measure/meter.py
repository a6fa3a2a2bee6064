"""A meter: the usage probe, one source chain per component, and the timeline they fill.

Runs with the same measurement settings (mode, forced watts) share one meter. ``sample()`` is called by the
sampler thread every interval and synchronously when a run stops; a lock keeps the two apart. Each run that
uses the meter subscribes with its span profile (:class:`Subscriber`): the meter folds the profile's spans at each
tick and never sees the run itself.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sized
from typing import TYPE_CHECKING, Any, Protocol

from tracker.measure.share import CpuShare, split_tick
from tracker.measure.sources.base import Component
from tracker.measure.sources.chains import SourceChain
from tracker.measure.timeline import Timeline
from tracker.measure.usage import UsageProbe, parse_proc_stat, proc_stat_fd

if TYPE_CHECKING:
    from tracker.config import Config
    from tracker.measure.job import JobInfo

logger = logging.getLogger(__name__)

DEFER_TICKS = 60  # deferred ticks are worked out at least once a minute (a bounded, warm batch)
# An open run's timeline stays bounded: ticks older than COMPACT_AFTER_S behind the last one are compacted into
# hour points (Timeline.compact), once every COMPACT_EVERY ticks (an amortised pass, not per-tick work).
COMPACT_AFTER_S = 2 * 3600.0
COMPACT_EVERY = 3600


#: The package's one clock for intervals: ``perf_counter`` in seconds (spans use its nanoseconds). The function
#: itself, not a wrapper: the sampler reads it every tick.
now = time.perf_counter


class Subscriber(Protocol):
    """What a meter feeds: a run's span profile (``tracker.core.spans.SpanProfile``)."""

    t0: float  # the run's start: the timeline is kept from the oldest subscriber's start
    spans: Sized  # finished spans waiting to be folded (a tick with any works its energy out at once)
    marks: dict[Any, int]
    share: CpuShare | None  # its part of a split meter's energy (overlap="split"), else None

    def fold(self, timeline: Timeline, upto: float, final: bool = False) -> None: ...


class Meter:
    """Measures one configuration of the machine; feeds its timeline and the spans of its runs."""

    def __init__(
        self,
        chains: dict[Component, SourceChain],
        probe: UsageProbe,
        interval: float,
        clock: Callable[[], float] = now,
    ) -> None:
        self.chains = chains
        self._ordered = (chains[Component.CPU], chains[Component.GPU], chains[Component.RAM])
        self.probe = probe
        self.interval = interval
        self.clock = clock
        self.timeline = Timeline()
        # re-entrant: a SIGTERM handler may stop another run on this meter while the main thread holds it
        self.lock = threading.RLock()
        self.profiles: list[Subscriber] = []  # one per active run on this meter
        self.last = 0.0
        # deferred ticks (see tick()): (when each was taken, the raw /proc/stat bytes read then). The sampler
        # appends without the lock (one append is atomic); readers take the lock and work them out in order.
        self._pending: list[tuple[float, bytes]] = []
        self._stat_fd: int | None = None
        self.deferrable = False
        self.job: JobInfo | None = None  # this process's place in a multi-rank job (tracker.measure.job)
        self.split = False  # concurrent runs share each tick by CPU time (overlap="split", tracker.measure.share)
        self.wall_offset = 0.0  # Unix time minus the clock, taken at start: where the UTC hours fall
        self.compact_at = COMPACT_EVERY  # the timeline's length that triggers the next compaction

    @classmethod
    def for_config(cls, config: Config, pid: int | None = None) -> Meter:
        """The meter a configuration asks for: detected sources, a usage probe (``pid``: process mode's root)."""
        from tracker.measure import cgroup, hardware, job
        from tracker.measure.sources.chains import build_chains

        info = job.detect()
        machine = hardware.detect()
        # a mode no layer set is resolved here, once per meter: cgroup mode in a container's or job's cgroup
        choice = cgroup.choose(config.mode, "mode" in config.origins, pid)
        gpus = choice.allocation.gpus if choice.mode == "cgroup" and choice.allocation else None
        chains = build_chains(config, machine, job=info, allowed_gpus=gpus)
        probe = UsageProbe(config.mode, pid, choice, (machine.logical_cpus, machine.memory_bytes))
        meter = cls(chains, probe, config.interval)
        meter.job = info
        meter.split = config.overlap == "split"
        return meter

    def start(self) -> None:
        """Start the sources (detection happens here, once per meter) and take the baseline."""
        self.probe.start()
        for chain in self.chains.values():
            chain.start()
        self.last = self.clock()
        self.wall_offset = time.time() - self.last
        self.timeline.reset(self.last)
        self._stat_fd = proc_stat_fd()
        self._check_deferrable()

    def _check_deferrable(self) -> None:
        # machine mode with only modelled / constant / absent sources: a tick's energy is a pure function of
        # the machine's CPU counters, so it can be worked out later (process mode reads the tree at each tick)
        self.deferrable = (
            self.probe.mode == "machine"
            and self._stat_fd is not None
            and all(c.active.deferrable for c in self._ordered)
            and not self.split  # a split reads every run's thread clock at each tick
        )

    def rebase(self) -> None:
        """Called when a run attaches to an idle meter: read everything and throw the idle gap away."""
        with self.lock:
            t = self.clock()
            usage = self.probe.read(t - self.last)  # thrown away with the idle gap
            if not self.deferrable:  # counters move on to now; models keep no state: nothing to throw away
                for chain in self.chains.values():
                    chain.rebase(usage)
            self.last = t
            self.timeline.reset(t)
            self._pending.clear()  # a tick noted before the clear is dropped by catch_up (older than `t`)
            self._check_deferrable()

    def tick(self) -> float:
        """The sampler's call, once an interval. Returns the tick's time.

        When every source is a model of the machine's utilisation (no hardware counter to read now) and no
        span waits to be folded, a tick only notes the raw CPU counters, without taking the lock: the energy
        is worked out in a batch every ``DEFER_TICKS`` ticks or when anyone reads the timeline
        (:meth:`catch_up`). The result is the same, tick for tick. This is the cheapest tick we could measure
        (benchmarks/overhead.py): once a second every object touched is a cache miss.
        """
        if self.deferrable:
            for profile in self.profiles:  # each run's span deque, read without a call: the per-tick path
                if profile.spans:
                    break
            else:
                pending = self._pending
                if len(pending) < DEFER_TICKS:
                    t = self.clock()
                    try:
                        pending.append((t, os.pread(self._stat_fd, 512, 0)))  # parsed in catch_up()
                    except OSError:
                        self.deferrable = False  # the full path reads /proc/stat its own way (or psutil)
                    else:
                        self.last = t
                        return t
        return self.sample()

    def catch_up(self) -> None:
        """Turn deferred ticks into timeline entries, in order (call with the lock held, before reading).

        The sampler notes ticks without the lock, so a tick may land while a reader samples: one taken
        before the timeline's last entry, or whose counters are older than the last reading, is dropped (the
        later entry already covers its interval).
        """
        pending = self._pending
        if not pending:
            return
        batch = pending[:]
        del pending[: len(batch)]  # ticks appended meanwhile stay for the next batch
        cpu_chain, gpu_chain, ram_chain = self._ordered
        probe = self.probe
        timeline = self.timeline
        previous = timeline.t[-1] if len(timeline) else None
        for t, raw in batch:
            busy, total = parse_proc_stat(raw)
            if previous is None:  # a meter that was never started: the first tick is the baseline
                previous = t
            elif t <= previous or total < probe.last_total:
                continue
            usage = probe.usage_from(busy, total, t - previous)
            timeline.append(t, cpu_chain.energy(usage), gpu_chain.energy(usage), ram_chain.energy(usage))
            previous = t
        if len(timeline.t) >= self.compact_at:
            self.compact()

    def sample(self) -> float:
        """Read every source once, append to the timeline, fold finished spans. Returns the tick's time."""
        # Written flat on purpose: this runs once a second with cold caches, where every function call and
        # attribute lookup costs microseconds (benchmarks/overhead.py, "sampler").
        with self.lock:
            if self._pending:
                self.catch_up()
            t = self.clock()
            # since the timeline's last entry (not self.last: a racing deferred tick may have moved it)
            usage = self.probe.read(t - self.timeline.t[-1])
            cpu_chain, gpu_chain, ram_chain = self._ordered
            cpu = cpu_chain.energy(usage)
            gpu = gpu_chain.energy(usage)
            ram = ram_chain.energy(usage)
            if usage.cpu_share != 1.0 and cpu_chain.active.attributable:
                cpu *= usage.cpu_share
            if usage.ram_share != 1.0 and ram_chain.active.attributable:
                ram *= usage.ram_share
            self.timeline.append(t, cpu, gpu, ram)
            self.last = t
            if self.split:  # concurrent runs share this tick by CPU time (tracker.measure.share)
                split_tick(self.timeline, [p.share for p in self.profiles if p.share is not None], self.wall_offset)
            if len(self.timeline.t) >= self.compact_at:
                self.compact()
            if self.profiles:
                for profile in tuple(self.profiles):
                    profile.fold(self.timeline, t)
            return t

    def compact(self) -> None:
        """Compact the ticks older than :data:`COMPACT_AFTER_S` into hour points, keeping each run's start (call
        with the lock held). Spans are folded at the tick after they end, so only a span open for longer than
        that reaches back into the compacted part (its start is then interpolated within its hour)."""
        timeline = self.timeline
        timeline.compact(timeline.t[-1] - COMPACT_AFTER_S, [p.t0 for p in self.profiles], self.wall_offset)
        self.compact_at = len(timeline.t) + COMPACT_EVERY

    def trim(self) -> None:
        """Drop timeline samples older than every attached run's start."""
        with self.lock:
            if self.profiles:
                self.timeline.trim(min(profile.t0 for profile in self.profiles))

    def marks(self) -> dict[Component, int]:
        """How many sources each chain has used so far; a run keeps these from its start."""
        return {component: len(chain.used) for component, chain in self.chains.items()}

    def methods(self, marks: dict[Component, int] | None = None) -> dict[Component, str]:
        """Each component's method since ``marks`` (the source in use then, and any that took over since)."""
        return {
            component: ">".join(chain.used[max(0, (marks or {}).get(component, 1) - 1) :]) or "none"
            for component, chain in self.chains.items()
        }

    def notes_since(self, t0: float) -> list[str]:
        """Notes from detection, and those made at or after ``t0`` (a run's start)."""
        chains = [text for chain in self.chains.values() for t, text in chain.notes if t >= t0 or t == -math.inf]
        return [*self.probe.notes, *chains]

    @property
    def mode(self) -> str:
        """The attribution in use (a mode no layer set is resolved to ``machine`` or ``cgroup`` at creation)."""
        return self.probe.mode

    def close(self) -> None:
        for chain in self.chains.values():
            chain.close()
        self.probe.close()
