"""The control group a process runs in (a container, a SLURM job, a systemd service) and its counters.

Cgroup attribution (``mode="cgroup"``) charges a run with its cgroup's share of the machine: the cgroup's CPU
time over the machine's busy CPU time in the same tick, and its memory over installed memory
(``docs/methodology.md``, "Attribution"). This module finds the cgroup (``/proc/<pid>/cgroup`` and the cgroup
mounts in ``/proc/self/mountinfo``), says what it is and why (``classify``), reads a SLURM job's allocation and
the cgroup's own limits (which bound the shares), and reads the counters each tick through descriptors kept
open (:class:`Counters`: ``pread``, no path lookup, no psutil).

cgroup v2 first (``cpu.stat`` ``usage_usec``, ``memory.current``); where the process's v2 group is the root
(hybrid hosts: the controllers are mounted as v1 hierarchies) the v1 ``cpuacct.usage`` and
``memory.usage_in_bytes`` are read instead, each on its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Mapping
from typing import NamedTuple

from tracker.errors import MeasurementError

logger = logging.getLogger(__name__)

#: where ``/proc`` is (tests point it at a fake tree that follows the kernel's file formats)
PROC = "/proc"

# What a path component says about who made the cgroup. Container engines first: rootless Podman's groups sit
# under the user's slice, which alone would mean a login session.
_CONTAINERS: tuple[tuple[str, str], ...] = (  # compiled on first use (re's cache): nothing is compiled at import
    (r"^kubepods\b|^kubepods[.-]|^pod[0-9a-f_-]{8,}(\.slice)?$", "Kubernetes pod"),
    (r"^docker-[0-9a-f]{12,}\.scope$|^docker$", "Docker container"),
    (r"^cri-containerd-[0-9a-f]{12,}\.scope$|^containerd$|^nerdctl-[0-9a-f]{12,}\.scope$", "containerd container"),
    (r"^crio-[0-9a-f]{12,}(\.scope)?$", "CRI-O container"),
    (r"^libpod-[0-9a-f]{12,}(\.scope)?$|^libpod_parent$", "Podman container"),
    (r"^lxc$|^lxc\.payload[.:]|^lxc\.monitor", "LXC container"),
)
# SLURM: cgroup/v1 ``/slurm[_node]/uid_U/job_J/step_S/task_T``, cgroup/v2 ``/system.slice/[node_]slurmstepd.scope/
# job_J/step_S/user/task_T``. The job's group (every step and task of the job on this node) is the one measured.
_SLURM_JOB = r"^(.*/(?:uid_\d+|[^/]*slurmstepd\.scope)/job_\d+)(?=/|$)"
_SERVICE = r"^/system\.slice/(?:.+/)?[^/]+\.service(?:/|$)"

#: kinds for which ``mode`` left unset means cgroup attribution (a systemd service's processes are its own too)
AUTOMATIC = ("container", "slurm job", "systemd service")


class Cgroup(NamedTuple):
    """A cgroup and where its files are. ``path`` is the measured group (a SLURM job's, not its task's)."""

    path: str  # in its hierarchy, as /proc/<pid>/cgroup names it
    own_path: str  # the process's own group (a descendant of ``path`` for a SLURM task)
    version: int  # 2, or 1 where only the v1 cpuacct hierarchy places the process below its root
    cpu_file: str  # cpu.stat (v2, usage_usec) or cpuacct.usage (v1, nanoseconds)
    memory_file: str | None  # memory.current (v2) or memory.usage_in_bytes (v1); None: memory not accounted
    kind: str | None = None  # one of AUTOMATIC, "cgroup namespace" (a container), or None (another group)
    what: str = ""  # "Docker container", "SLURM job 42", ...
    reason: str = ""  # why it was classified so (tracker detect shows it)
    directory: str = ""  # the measured group's folder
    limits: Mapping[str, float] = {}  # cpus, memory_bytes (its own limits); read only

    def describe(self) -> str:
        what = self.what or "a cgroup"
        return f"{what}: {self.path} (cgroup v{self.version})"


def parse_proc_cgroup(text: str) -> tuple[str | None, dict[str, str]]:
    """(the v2 path or None, {v1 controller: path}) from the text of ``/proc/<pid>/cgroup``."""
    unified: str | None = None
    v1: dict[str, str] = {}
    for line in text.splitlines():
        hierarchy, sep, rest = line.partition(":")
        controllers, sep2, path = rest.partition(":")
        if not sep or not sep2:
            continue
        if hierarchy == "0" and controllers == "":
            unified = path
        else:
            for name in controllers.split(","):
                if name:
                    v1[name] = path
    return unified, v1


def _unescape(text: str) -> str:
    """mountinfo escapes spaces, tabs, newlines and backslashes as octal (``\\040``)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def parse_mountinfo(text: str) -> list[tuple[str, str, str, frozenset[str]]]:
    """The cgroup mounts: (mount point, root of the mount in its hierarchy, "cgroup2" or "cgroup", super options)."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 1 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        options = frozenset(tail[2].split(",")) if len(tail) > 2 else frozenset()
        mounts.append((_unescape(fields[4]), _unescape(fields[3]), tail[0], options))
    return mounts


def _folder(mountpoint: str, root: str, path: str) -> str:
    """The folder of cgroup ``path`` under a mount of its hierarchy whose root is ``root``."""
    if root != "/" and (path == root or path.startswith(root.rstrip("/") + "/")):
        path = path[len(root.rstrip("/")) :]
    return mountpoint.rstrip("/") + (path if path != "/" else "") or "/"


def classify(path: str, folder: str | None = None) -> tuple[str | None, str, str]:
    """(kind, what, why) for a cgroup path; kind None: neither a container's, a job's nor a service's group.

    ``folder``: the group's folder, to tell a container's own cgroup namespace (its root shows as ``/`` but has
    the limits files a host's root group never has) from the host's root.
    """
    parts = [p for p in path.split("/") if p]
    for part in parts:
        for pattern, what in _CONTAINERS:
            if re.search(pattern, part):
                return "container", what, f"the path component {part!r} is a {what}'s"
    job = re.match(_SLURM_JOB, path)
    if job:
        number = job.group(1).rsplit("job_", 1)[1]
        return "slurm job", f"SLURM job {number}", f"the path names SLURM job {number}'s cgroup"
    if parts and parts[0] == "system.slice" and re.match(_SERVICE, path):
        unit = next(p for p in parts if p.endswith(".service"))
        return "systemd service", f"systemd service {unit}", f"the path is under the system service {unit}"
    if not parts and folder is not None:
        for name in ("memory.max", "cpu.max"):
            if os.path.exists(os.path.join(folder, name)):
                return (
                    "container",
                    "container (own cgroup namespace)",
                    f"the group shows as / but has {name}, which the host's root group has not",
                )
        return None, "the root cgroup", "the process is in the root cgroup (the whole machine)"
    if parts and parts[0] == "user.slice":
        return None, "a login session", "the path is under user.slice (a login session's processes)"
    return None, "a cgroup", "the path names no container, SLURM job or system service"


def _read(path: str) -> str:
    with open(path, encoding="ascii", errors="replace") as fh:
        return fh.read()


def locate(pid: int | None = None, proc: str | None = None) -> Cgroup | None:
    """The cgroup of ``pid`` (this process by default) whose counters can be read; ``None`` where there is none
    (not Linux, no cgroup mounted, the process only in root groups, unreadable files)."""
    proc = proc or PROC
    try:
        own = _read(f"{proc}/{pid or 'self'}/cgroup")
        mounts = parse_mountinfo(_read(f"{proc}/self/mountinfo"))
    except OSError:
        return None
    unified, v1 = parse_proc_cgroup(own)
    v2_mount = next((m for m in mounts if m[2] == "cgroup2"), None)
    candidates: list[tuple[int, str, str, str | None]] = []  # (version, path, cpu file, memory file)
    if unified is not None and v2_mount is not None:
        path = _measured(unified)
        folder = _folder(v2_mount[0], v2_mount[1], path)
        memory = os.path.join(folder, "memory.current")
        candidates.append((2, path, os.path.join(folder, "cpu.stat"), memory if os.path.exists(memory) else None))
    cpuacct = next((m for m in mounts if m[2] == "cgroup" and "cpuacct" in m[3]), None)
    if "cpuacct" in v1 and cpuacct is not None:
        path = _measured(v1["cpuacct"])
        candidates.append((1, path, os.path.join(_folder(cpuacct[0], cpuacct[1], path), "cpuacct.usage"), None))
    readable = [c for c in candidates if os.path.exists(c[2])]
    if not readable:
        return None
    # the deepest placement wins: on a hybrid host the v2 group is "/" while the v1 hierarchies place the process
    version, path, cpu_file, memory_file = max(readable, key=lambda c: (c[1] != "/", c[0]))
    memory_v1 = next((m for m in mounts if m[2] == "cgroup" and "memory" in m[3]), None)
    v1_memory = None
    # the v1 memory group only where it is the same group (a hybrid host's container): another group's memory
    # (a sandbox's, a session's) would be charged to this one
    if memory_file is None and memory_v1 is not None and path != "/" and _measured(v1.get("memory", "/")) == path:
        v1_memory = os.path.join(_folder(memory_v1[0], memory_v1[1], path), "memory.usage_in_bytes")
        if not os.path.exists(v1_memory):
            v1_memory = None
    folder = os.path.dirname(cpu_file)
    kind, what, why = classify(path, folder)
    own_path = unified if version == 2 and unified is not None else v1.get("cpuacct", path)
    return Cgroup(
        path=path,
        own_path=own_path,
        version=version,
        cpu_file=cpu_file,
        memory_file=memory_file or v1_memory,
        kind=kind,
        what=what,
        reason=why,
        directory=folder,
        limits=_limits(folder) if version == 2 else {},
    )


def _measured(path: str) -> str:
    """The group measured for a process in ``path``: a SLURM job's (all its steps), else the process's own."""
    job = re.match(_SLURM_JOB, path)
    return job.group(1) if job else path


def parse_cpuset(text: str) -> int:
    """The number of CPUs in a cpuset list (``0-3,8,10-11``)."""
    count = 0
    for part in text.strip().split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        count += int(high or low) - int(low) + 1
    return count


def _limits(folder: str) -> dict[str, float]:
    """The group's own limits, read once: CPUs (``cpu.max`` quota / period, ``cpuset.cpus.effective``) and
    ``memory.max``. Missing files or ``max`` mean no limit."""
    limits: dict[str, float] = {}
    try:
        quota, period = _read(os.path.join(folder, "cpu.max")).split()[:2]
        if quota != "max":
            limits["cpus"] = int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        cpus = parse_cpuset(_read(os.path.join(folder, "cpuset.cpus.effective")))
        if cpus:
            limits["cpus"] = min(limits.get("cpus", float(cpus)), float(cpus))
    except (OSError, ValueError):
        pass
    try:
        memory = _read(os.path.join(folder, "memory.max")).strip()
        if memory != "max":
            limits["memory_bytes"] = float(int(memory))
    except (OSError, ValueError):
        pass
    return limits


class Allocation(NamedTuple):
    """What a SLURM job was given on this node (``None``: not said)."""

    job_id: str
    cpus: float | None
    memory_bytes: float | None
    gpus: tuple[str, ...] | None

    def describe(self) -> str:
        parts = []
        if self.cpus is not None:
            parts.append(f"{self.cpus:g} CPUs")
        if self.memory_bytes is not None:
            parts.append(f"{self.memory_bytes / 2**20:g} MiB")
        if self.gpus is not None:
            parts.append(f"GPUs {','.join(self.gpus) or 'none'}")
        return f"SLURM job {self.job_id} allocation: {', '.join(parts) or 'not stated'}"


def _number(environ: Mapping[str, str], name: str) -> float | None:
    value = environ.get(name, "").strip()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)", value.upper())
    if not match:
        return None
    scale = {"": 1, "K": 2**-10, "M": 1, "G": 2**10, "T": 2**20}[match.group(2)]  # in MiB, SLURM's unit
    return float(match.group(1)) * scale


def slurm_allocation(environ: Mapping[str, str] | None = None) -> Allocation | None:
    """The allocation of the SLURM job this process runs in, from its environment; ``None`` outside one.

    ``SLURM_CPUS_ON_NODE`` (CPUs on this node), ``SLURM_MEM_PER_NODE`` (MiB; else ``SLURM_MEM_PER_CPU`` x CPUs),
    ``SLURM_JOB_GPUS`` (the GPUs' indexes on the node, ``0,1``; ``SLURM_STEP_GPUS`` in a step).
    """
    env = os.environ if environ is None else environ
    job = env.get("SLURM_JOB_ID", "").strip()
    if not job:
        return None
    cpus = _number(env, "SLURM_CPUS_ON_NODE")
    memory = _number(env, "SLURM_MEM_PER_NODE")
    per_cpu = _number(env, "SLURM_MEM_PER_CPU")
    if memory is None and per_cpu is not None and cpus is not None:
        memory = per_cpu * cpus
    raw = env.get("SLURM_STEP_GPUS") or env.get("SLURM_JOB_GPUS")
    gpus = tuple(g.strip() for g in raw.split(",") if g.strip()) if raw is not None else None
    return Allocation(job, cpus, memory * 2**20 if memory is not None else None, gpus)


class Choice(NamedTuple):
    """The attribution a meter uses: the mode, the cgroup (cgroup mode), and why (for notes and ``detect``)."""

    mode: str
    group: Cgroup | None
    reason: str
    allocation: Allocation | None = None
    fell_back: bool = False  # mode=cgroup was asked for and could not be had (every record says so)


def choose(mode: str, explicit: bool, pid: int | None = None, environ: Mapping[str, str] | None = None) -> Choice:
    """Resolve the configured mode. ``auto`` (and a mode no layer set: ``explicit`` False) is cgroup attribution
    when the process is in a container's, a SLURM job's or a systemd service's cgroup, else machine mode.
    ``cgroup`` where no cgroup below the root can be read falls back to machine mode, with the reason."""
    if explicit and mode not in ("auto", "cgroup"):
        return Choice(mode, None, "set in the configuration")
    group = locate(pid)
    allocation = slurm_allocation(environ)
    if mode == "cgroup" and explicit:
        if group is None or group.path == "/":
            why = "no cgroup below the root can be read" if group is None else "the process is in the root cgroup"
            return Choice("machine", None, f"mode=cgroup, but {why}: machine mode instead", fell_back=True)
        return Choice("cgroup", group, f"set in the configuration; {group.reason}", allocation)
    how = "mode=auto" if explicit else "mode not set"
    if group is not None and group.kind is not None:
        return Choice("cgroup", group, f"{how}, and {group.reason}", allocation)
    why = group.reason if group is not None else "no cgroup can be read"
    return Choice("machine", group, f"{how}, and {why}: machine mode")


class Counters:
    """A cgroup's CPU seconds and memory bytes, read through descriptors kept open (``pread`` per tick)."""

    def __init__(self, group: Cgroup) -> None:
        self.group = group
        self._cpu: int | None = None
        self._memory: int | None = None

    def _fd(self, path: str) -> int:
        return os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))

    def cpu_seconds(self) -> float:
        """The group's CPU seconds since it was made (all its processes, living and gone, and its descendants)."""
        try:
            if self._cpu is None:
                self._cpu = self._fd(self.group.cpu_file)
            data = os.pread(self._cpu, 128, 0)
            if self.group.version == 1:  # cpuacct.usage: nanoseconds
                return int(data) / 1e9
            key, value = data.split(b"\n", 1)[0].split()  # cpu.stat starts with usage_usec
            if key != b"usage_usec":
                raise ValueError(f"unexpected first line {data[:40]!r}")
            return int(value) / 1e6
        except (OSError, ValueError) as exc:
            raise MeasurementError(f"cannot read {self.group.cpu_file}: {exc}") from exc

    def memory_bytes(self) -> float | None:
        """The group's memory now (``None``: not accounted, or unreadable)."""
        if self.group.memory_file is None:
            return None
        try:
            if self._memory is None:
                self._memory = self._fd(self.group.memory_file)
            return float(int(os.pread(self._memory, 64, 0)))
        except (OSError, ValueError):
            return None

    def close(self) -> None:
        for fd in (self._cpu, self._memory):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._cpu = self._memory = None
