"""cgroup attribution against REAL cgroups made on this machine (issue 13, point 2).

Needs root and a cgroup2 mount: skipped elsewhere with the reason, required under CI (as root, like the
network-namespace tests). A busy child in its own cgroup is counted; a busy process outside it is not.
Everything made is removed afterwards (the children are killed first, so the groups are empty).
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tracker.measure import cgroup
from tracker.measure.cgroup import choose
from tracker.measure.usage import UsageProbe

_names = itertools.count()
BUSY = [sys.executable, "-c", "while True: pass"]
IDLE = [sys.executable, "-c", "import time; time.sleep(60)"]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"real cgroup tests: {reason}")
    pytest.skip(f"real cgroup tests: {reason}")


def _mount(fstype: str, option: str | None = None) -> Path | None:
    with open("/proc/self/mountinfo", encoding="ascii", errors="replace") as fh:
        for point, _root, kind, options in cgroup.parse_mountinfo(fh.read()):
            if kind == fstype and (option is None or option in options):
                return Path(point)
    return None


@contextmanager
def real_group(relative: str, hierarchy: Path | None = None) -> Iterator[Path]:
    """A new cgroup ``<mount>/tracker-test-PID-N/<relative>`` (v2 unless ``hierarchy``), removed afterwards."""
    if os.geteuid() != 0:
        _unavailable("making cgroups needs root")
    mount = hierarchy or _mount("cgroup2")
    if mount is None:
        _unavailable("no cgroup2 file system is mounted")
    assert mount is not None
    base = mount / f"tracker-test-{os.getpid()}-{next(_names)}"
    leaf = base / relative.strip("/")
    try:
        leaf.mkdir(parents=True)
    except OSError as exc:
        _unavailable(f"cannot make a cgroup under {mount}: {exc}")
    try:
        _enable_memory(base, leaf)
        yield leaf
    finally:  # deepest first; the children were killed, so every group is empty
        for folder in sorted((p for p in base.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            _remove(folder)
        _remove(base)


def _enable_memory(base: Path, leaf: Path) -> None:
    """Memory accounting for the leaf where the host offers the controller (not on a hybrid host: v1 has it)."""
    for folder in [base, *[p for p in leaf.parents if base in p.parents]]:
        if "memory" in (folder / "cgroup.controllers").read_text().split():
            (folder / "cgroup.subtree_control").write_text("+memory")


def _remove(folder: Path) -> None:
    for _ in range(50):  # a killed process leaves its group a moment later
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)
    folder.rmdir()


def _move(pid: int, folder: Path) -> None:
    try:
        (folder / "cgroup.procs").write_text(str(pid))
    except OSError as exc:
        _unavailable(f"cannot move a process into {folder}: {exc}")


@contextmanager
def processes(*commands: list[str]) -> Iterator[list[subprocess.Popen[bytes]]]:
    started = [subprocess.Popen(command) for command in commands]
    try:
        yield started
    finally:
        for child in started:
            child.send_signal(signal.SIGKILL)
            child.wait()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(
    probe: UsageProbe, watched: list[int], enough: float = 0.4, limit: float = 6.0
) -> tuple[float, float, list[float]]:
    """(the group's CPU seconds, its share of the machine's busy time, each watched process's CPU seconds), over
    the time the first watched process took to use ``enough`` CPU seconds (a loaded machine gives it less)."""
    probe.read(0.0)
    before, cpu = probe._tree_cpu, [_cpu_seconds(pid) for pid in watched]
    start = time.perf_counter()
    while _cpu_seconds(watched[0]) - cpu[0] < enough and time.perf_counter() - start < limit:
        time.sleep(0.1)
    usage = probe.read(time.perf_counter() - start)
    used = [_cpu_seconds(pid) - c for pid, c in zip(watched, cpu, strict=True)]
    return probe._tree_cpu - before, usage.cpu_share, used


def test_a_busy_child_in_its_own_cgroup_is_counted_and_a_busy_process_outside_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cgroup, "PROC", "/proc")
    # a SLURM-shaped path, so that an unset mode picks cgroup attribution by itself, measured at the job's group
    with (
        real_group("slurm/uid_0/job_7/step_0") as step,
        real_group("idle") as idle,
        processes(BUSY, IDLE, BUSY) as (inside, sleeper, outside),  # killed before the groups are removed
    ):
        _move(inside.pid, step)
        _move(sleeper.pid, idle)
        time.sleep(0.2)
        busy_choice = choose("machine", explicit=False, pid=inside.pid, environ={})
        assert busy_choice.mode == "cgroup", busy_choice.reason
        assert busy_choice.group is not None and busy_choice.group.path.endswith("/slurm/uid_0/job_7")
        idle_choice = choose("cgroup", explicit=True, pid=sleeper.pid, environ={})
        assert idle_choice.mode == "cgroup" and idle_choice.group is not None
        counted, idle_counted = UsageProbe(choice=busy_choice), UsageProbe(choice=idle_choice)
        counted.start()
        idle_counted.start()
        try:
            group_cpu, share, (child_cpu, outside_cpu) = _measure(counted, [inside.pid, outside.pid])
            idle_cpu, idle_share, (busy_cpu,) = _measure(idle_counted, [outside.pid], enough=0.2)
        finally:
            counted.close()
            idle_counted.close()
        # the group's time is the busy child's (the children's clock ticks are coarser: 10 ms each) ...
        assert child_cpu > 0.2 and group_cpu == pytest.approx(child_cpu, abs=0.03 + 0.1 * child_cpu)
        assert share > 0.0
        # ... without the busy process outside (which used enough CPU to show, were it counted)
        assert outside_cpu > 0.03 + 0.1 * child_cpu
        # the busy processes outside the idle group are not the idle group's
        assert busy_cpu > 0.1 and idle_cpu < 0.02 and idle_share < 0.02
        assert outside.poll() is None  # it was busy all along


RUN = textwrap.dedent(
    """
    import sys, time
    open(sys.argv[1] + "/cgroup.procs", "w").write("0")  # move this process into the group
    import tracker
    with tracker.track(store=sys.argv[2], interval=0.05) as run:
        end = time.perf_counter() + 0.6
        while time.perf_counter() < end:
            pass
    print(run.attribution, run.cpu_energy_kwh > 0, [n for n in run.notes if n.startswith("cgroup")])
    """
)


def test_a_tracked_run_in_a_job_cgroup_is_attributed_to_it(tmp_path: Path) -> None:
    with real_group("slurm/uid_0/job_8/step_0/task_0") as task:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKER_", "SLURM_"))}
        env["XDG_DATA_HOME"] = str(tmp_path)
        done = subprocess.run(
            [sys.executable, "-c", RUN, str(task), str(tmp_path / "runs.db")],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("cgroup True"), done.stdout
        assert "/slurm/uid_0/job_8 (cgroup v2)" in done.stdout
