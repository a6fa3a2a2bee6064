"""The usage probe: machine CPU utilisation and, in process or cgroup mode, the tracked share.

In ``machine`` mode every share is 1.0. In ``process`` mode the CPU share is the tree's CPU time over the
machine's busy CPU time in the same tick (so all processes' shares add up to the machine's power), and the RAM
share is the tree's resident memory over installed memory. In ``cgroup`` mode the same with the cgroup's CPU time
and memory (``tracker.measure.cgroup``), each share bounded by the cgroup's limits and a SLURM job's allocation.
Reading ``/proc/stat`` never blocks (unlike ``psutil.cpu_percent(interval=...)``).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Any

from tracker.errors import MeasurementError
from tracker.forks import after_fork
from tracker.measure.sources.base import Usage

if TYPE_CHECKING:
    from tracker.measure.cgroup import Choice, Counters

logger = logging.getLogger(__name__)


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_LINUX = sys.platform.startswith("linux")


class _ProcStat:
    """The first line of /proc/stat, read through a file descriptor kept open.

    Opening the file costs more than reading it (path lookup): on this project's 2-vCPU machine a cold
    ``open()+read()`` took ~195 µs per tick and ``pread`` on a kept descriptor ~90 µs (benchmarks/).
    """

    def __init__(self, path: str = "/proc/stat") -> None:
        self.path = path
        self.fd: int | None = None

    def line(self) -> bytes:
        if self.fd is None:
            self.fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        return os.pread(self.fd, 512, 0).split(b"\n", 1)[0]

    def forget(self) -> None:
        """After ``fork()``: the child re-opens its own descriptor (no ``getpid()`` system call per tick)."""
        self.fd = None


_stat = _ProcStat()


def _watch_forks() -> None:
    after_fork(_stat.forget)


def parse_proc_stat(data: bytes) -> tuple[float, float]:
    """(busy, total) CPU seconds from the start of /proc/stat (its first line, ``cpu  user nice system ...``)."""
    fields = data.split(b"\n", 1)[0].split()
    # user nice system idle iowait irq softirq steal: idle time is idle + iowait; guest is already in user
    total = (
        int(fields[1]) + int(fields[2]) + int(fields[3]) + int(fields[4])
        + int(fields[5]) + int(fields[6]) + int(fields[7]) + int(fields[8])
    )  # fmt: skip
    return (total - int(fields[4]) - int(fields[5])) / _TICK, total / _TICK


def proc_stat_fd() -> int | None:
    """The descriptor kept open on /proc/stat (opened on first use), or ``None`` where there is none or where
    its first line is not in the format :func:`parse_proc_stat` reads (very old kernels: psutil then)."""
    if not _LINUX:
        return None
    try:
        parse_proc_stat(_stat.line())
    except (OSError, ValueError, IndexError):
        return None
    return _stat.fd


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds summed over all CPUs since boot."""
    if _LINUX:
        try:
            return parse_proc_stat(_stat.line())
        except (OSError, ValueError, IndexError):
            pass
    import psutil

    times = psutil.cpu_times()
    total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


class UsageProbe:
    """Reads utilisation once per tick; shared by every source of a meter."""

    def __init__(
        self,
        mode: str = "machine",
        pid: int | None = None,
        choice: Choice | None = None,
        machine: tuple[int, int] | None = None,
    ) -> None:
        """``choice``: cgroup mode's group and why (``tracker.measure.cgroup.choose``); its mode wins over
        ``mode``. ``machine``: (logical CPUs, installed bytes), which bound a cgroup's shares."""
        self.choice = choice
        self.mode = choice.mode if choice is not None else mode
        self.pid = pid if pid is not None else os.getpid()
        self._process: Any = None  # a psutil.Process in process mode
        self._busy = 0.0
        self._total = 0.0
        self._tree_cpu = 0.0
        self._memory = 1.0
        self._gone = False
        self._machine = machine
        self._counters: Counters | None = None  # cgroup mode
        self._cpu_cap = 1.0  # the most of the machine's CPU (and RAM) a cgroup is charged: its limits, allocation
        self._ram_cap = 1.0
        #: what the probe decided, for every record of the meter (attribution, its cgroup, bounds, faults)
        self.notes: list[str] = []
        #: the tracked processes at the last reading (process mode), for sources that share a device by process
        self.pids: frozenset[int] = frozenset()

    def start(self) -> None:
        _watch_forks()  # registered at the first probe, not at import (no import-time side effects)
        self._busy, self._total = machine_cpu_seconds()
        if self.choice is not None and (self.mode == "cgroup" or self.choice.fell_back):
            self.notes.append(f"attribution: {self.mode} ({self.choice.reason})")
            if self.choice.fell_back:
                logger.warning("%s", self.choice.reason)
        if self.mode == "cgroup":
            self._start_cgroup()
        elif self.mode == "process":
            import psutil  # only process mode needs per-process accounting

            self._memory = float(psutil.virtual_memory().total)
            try:
                self._process = psutil.Process(self.pid)
            except psutil.Error:
                self._process = None
                self._gone = True
            self._tree_cpu, _ = self._tree()

    def _start_cgroup(self) -> None:
        from tracker.measure.cgroup import Counters

        assert self.choice is not None and self.choice.group is not None
        group, allocation = self.choice.group, self.choice.allocation
        cpus, memory = self._machine or (os.cpu_count() or 1, _installed_memory())
        self._memory = float(memory)
        self._counters = Counters(group)
        bounds: list[str] = []
        limit_cpus: list[tuple[float, str]] = []
        limit_memory: list[tuple[float, str]] = []
        if "cpus" in group.limits:
            limit_cpus.append((group.limits["cpus"], "the cgroup's cpu.max / cpuset"))
        if "memory_bytes" in group.limits:
            limit_memory.append((group.limits["memory_bytes"], "the cgroup's memory.max"))
        if allocation is not None:
            if allocation.cpus is not None:
                limit_cpus.append((allocation.cpus, f"SLURM_CPUS_ON_NODE of job {allocation.job_id}"))
            if allocation.memory_bytes is not None:
                limit_memory.append((allocation.memory_bytes, f"the SLURM memory of job {allocation.job_id}"))
        if limit_cpus:
            value, source = min(limit_cpus)
            self._cpu_cap = min(1.0, value / cpus)
            bounds.append(f"cpu share at most {value:g} of {cpus} CPUs ({source})")
        if limit_memory:
            value, source = min(limit_memory)
            self._ram_cap = min(1.0, value / memory)
            bounds.append(f"ram share at most {value / 2**30:.3g} of {memory / 2**30:.3g} GiB ({source})")
        if group.memory_file is None:
            bounds.append("the cgroup's memory is not accounted here: ram counted at the cpu share")
        self.notes.append(f"cgroup: {group.describe()}" + (f"; {'; '.join(bounds)}" if bounds else ""))
        try:
            self._tree_cpu = self._counters.cpu_seconds()
        except MeasurementError as exc:
            self._cgroup_fault(exc)

    def _cgroup_fault(self, exc: MeasurementError) -> None:
        """The cgroup's counters cannot be read (the group was removed): its share is 0 from now on, said once."""
        if not self._gone:
            self._gone = True
            logger.warning("cgroup attribution stopped: %s", exc)
            self.notes.append(f"cgroup: attribution stopped, its share counted as 0 from then on: {exc}")

    def _tree(self) -> tuple[float, float]:
        """(CPU seconds, resident bytes) of the process and all its descendants, reaped ones included."""
        import psutil

        if self._process is None or self._gone:
            return self._tree_cpu, 0.0
        try:
            processes = [self._process, *self._process.children(recursive=True)]
        except psutil.Error:
            self._gone = True
            return self._tree_cpu, 0.0
        self.pids = frozenset(proc.pid for proc in processes)
        cpu = rss = 0.0
        for proc in processes:
            try:
                with proc.oneshot():
                    t = proc.cpu_times()
                    cpu += t.user + t.system + t.children_user + t.children_system
                    rss += proc.memory_info().rss
            except psutil.Error:  # a child exited between listing and reading: its time moves to its parent
                continue
        return cpu, rss

    @property
    def last_total(self) -> float:
        """The machine's total CPU seconds at the last reading (readings older than this are stale)."""
        return self._total

    def read(self, dt: float) -> Usage:
        busy, total = machine_cpu_seconds()
        return self.usage_from(busy, total, dt)

    def usage_from(self, busy: float, total: float, dt: float) -> Usage:
        """The usage since the previous reading, given the machine's (busy, total) CPU seconds now.

        Split from :meth:`read` so that a meter may note the raw counters at each tick and work out the usage
        later, in order (machine mode only: process mode reads the process tree at the tick itself).
        """
        d_busy, d_total = busy - self._busy, total - self._total
        self._busy, self._total = busy, total
        util = min(1.0, max(0.0, d_busy / d_total)) if d_total > 0 else 0.0
        if self.mode == "cgroup":
            return self._cgroup_usage(dt, util, d_busy)
        if self.mode != "process":
            return Usage(dt=dt, cpu_util=util)
        tree_cpu, rss = self._tree()
        d_tree = max(0.0, tree_cpu - self._tree_cpu)
        # never step back: a child reaped between reading the parent and reading the child vanishes for one
        # tick, and its whole lifetime would come back as new time on the next one
        self._tree_cpu = max(self._tree_cpu, tree_cpu)
        if d_busy > 0:
            share = min(1.0, d_tree / d_busy)
        else:
            share = 1.0 if d_tree > 0 else 0.0
        return Usage(dt=dt, cpu_util=util, cpu_share=share, ram_share=min(1.0, rss / self._memory), pids=self.pids)

    def _cgroup_usage(self, dt: float, util: float, d_busy: float) -> Usage:
        """cgroup mode: the group's CPU seconds over the machine's busy seconds, its memory over installed."""
        counters = self._counters
        assert counters is not None
        used = self._tree_cpu
        if not self._gone:
            try:
                used = counters.cpu_seconds()
            except MeasurementError as exc:
                self._cgroup_fault(exc)
        d_used = max(0.0, used - self._tree_cpu)
        self._tree_cpu = max(self._tree_cpu, used)
        if d_busy > 0:
            share = min(self._cpu_cap, d_used / d_busy)
        else:
            share = self._cpu_cap if d_used > 0 else 0.0
        memory = None if self._gone else counters.memory_bytes()
        ram = share if memory is None else min(self._ram_cap, memory / self._memory)
        return Usage(dt=dt, cpu_util=util, cpu_share=share, ram_share=ram)

    def close(self) -> None:
        if self._counters is not None:
            self._counters.close()


def _installed_memory() -> int:
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, AttributeError):  # pragma: no cover - not POSIX
        import psutil

        return int(psutil.virtual_memory().total)
