"""cgroup attribution against fake cgroupfs trees written in the kernel's file formats (issue 13, point 2).

The tree holds ``proc/self/cgroup``, ``proc/self/mountinfo`` and the cgroup mounts they name; the counters are
rewritten in place (same inode) as the kernel's are, so descriptors kept open read the new values.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tracker
from tracker.cli import main
from tracker.config import ConfigError, resolve
from tracker.measure import cgroup
from tracker.measure.cgroup import Allocation, Choice, choose, classify, locate, slurm_allocation
from tracker.measure.sources.chains import allocated_gpus
from tracker.measure.usage import UsageProbe

DOCKER = "0123456789abcdef" * 4
V2_MOUNT = "35 24 0:30 {root} {point} rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate\n"
V1_MOUNT = "{n} 31 0:{n} {root} {point} rw,nosuid,nodev,noexec,relatime shared:{n} - cgroup cgroup rw,{options}\n"
GIB = 2**30


class Host:
    """A fake /proc and /sys/fs/cgroup: ``v2`` is the process's cgroup v2 path, ``v1`` its v1 paths."""

    def __init__(self, base: Path, v2: str | None, v1: dict[str, str] | None = None, v2_root: str = "/") -> None:
        self.proc = base / "proc"
        self.mount = base / "sys" / "fs" / "cgroup"
        (self.proc / "self").mkdir(parents=True)
        lines = [f"{i + 1}:{name}:{path}" for i, (name, path) in enumerate((v1 or {}).items())]
        if v2 is not None:
            lines.append(f"0::{v2}")
        (self.proc / "self" / "cgroup").write_text("\n".join(reversed(lines)) + "\n")
        mounts = "22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
        if v1:
            mounts += f"31 22 0:26 / {self.mount} ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755\n"
            for n, name in enumerate(v1, start=40):
                point = self.mount / name.replace("name=", "")
                mounts += V1_MOUNT.format(n=n, root="/", point=point, options=name)
            if v2 is not None:
                mounts += V2_MOUNT.format(root=v2_root, point=self.mount / "unified")
        elif v2 is not None:
            mounts += V2_MOUNT.format(root=v2_root, point=self.mount)
        (self.proc / "self" / "mountinfo").write_text(mounts)
        self.v2_base = self.mount / "unified" if v1 else self.mount

    def group(self, path: str, version: int = 2, controller: str = "cpuacct", root: str = "/") -> Path:
        base = self.v2_base if version == 2 else self.mount / controller
        folder = base / path[len(root.rstrip("/")) :].lstrip("/")
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def cpu_stat(folder: Path, usage_s: float) -> None:
    """cpu.stat as cgroup v2 writes it (usage_usec first), rewritten in place."""
    usec = round(usage_s * 1e6)
    with open(folder / "cpu.stat", "r+" if (folder / "cpu.stat").exists() else "w") as fh:
        fh.seek(0)
        fh.write(f"usage_usec {usec}\nuser_usec {usec * 9 // 10}\nsystem_usec {usec // 10}\n")
        fh.write("core_sched.force_idle_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n")
        fh.write("nr_bursts 0\nburst_usec 0\n")
        fh.truncate()


def one_value(path: Path, value: int) -> None:
    with open(path, "r+" if path.exists() else "w") as fh:
        fh.seek(0)
        fh.write(f"{value}\n")
        fh.truncate()


@pytest.fixture
def docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Host, Path]:
    """A Docker container on a cgroup v2 host (systemd driver, host cgroup namespace)."""
    host = Host(tmp_path, f"/system.slice/docker-{DOCKER}.scope")
    folder = host.group(f"/system.slice/docker-{DOCKER}.scope")
    cpu_stat(folder, 10.0)
    one_value(folder / "memory.current", 2 * GIB)
    (folder / "cpu.max").write_text("max 100000\n")
    (folder / "memory.max").write_text("max\n")
    monkeypatch.setattr(cgroup, "PROC", str(host.proc))
    return host, folder


# -- what the files say ---------------------------------------------------------------------------------------


def test_hybrid_proc_cgroup_and_mountinfo_as_the_kernel_writes_them() -> None:
    text = "9:name=systemd:/\n4:memory:/process_api/15cab\n2:cpu,cpuacct:/docker/abc\n0::/\n"
    assert cgroup.parse_proc_cgroup(text) == (
        "/",
        {"name=systemd": "/", "memory": "/process_api/15cab", "cpu": "/docker/abc", "cpuacct": "/docker/abc"},
    )
    info = (
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "33 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:3 - cgroup cgroup rw,cpu,cpuacct\n"
        "41 31 0:38 /docker/abc /sys/fs/cgroup/my\\040dir rw,relatime - cgroup2 cgroup2 rw\n"
    )
    assert cgroup.parse_mountinfo(info) == [
        ("/sys/fs/cgroup/cpu,cpuacct", "/", "cgroup", frozenset({"rw", "cpu", "cpuacct"})),
        ("/sys/fs/cgroup/my dir", "/docker/abc", "cgroup2", frozenset({"rw"})),
    ]


@pytest.mark.parametrize(
    ("path", "kind", "what"),
    [
        (f"/docker/{DOCKER}", "container", "Docker container"),
        (f"/system.slice/docker-{DOCKER}.scope", "container", "Docker container"),
        (
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c3d4e_5f60.slice/"
            f"cri-containerd-{DOCKER}.scope",
            "container",
            "Kubernetes pod",
        ),
        (f"/kubepods/besteffort/pod1b2c3d4e-5f60-7a8b/{DOCKER}", "container", "Kubernetes pod"),
        (f"/system.slice/crio-{DOCKER}.scope", "container", "CRI-O container"),
        (  # rootless Podman sits under the user's slice, which alone would be a login session
            f"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{DOCKER}.scope",
            "container",
            "Podman container",
        ),
        ("/lxc.payload.web1", "container", "LXC container"),
        ("/slurm/uid_1000/job_4242", "slurm job", "SLURM job 4242"),
        ("/system.slice/slurmstepd.scope/job_77", "slurm job", "SLURM job 77"),
        ("/system.slice/node3_slurmstepd.scope/job_77", "slurm job", "SLURM job 77"),
        ("/system.slice/train.service", "systemd service", "systemd service train.service"),
        ("/user.slice/user-1000.slice/session-3.scope", None, "a login session"),
        ("/user.slice/user-1000.slice/user@1000.service/app.slice/vte-spawn-1.scope", None, "a login session"),
        ("/init.scope", None, "a cgroup"),
        ("/", None, "the root cgroup"),
    ],
)
def test_what_a_cgroup_path_is(path: str, kind: str | None, what: str) -> None:
    got_kind, got_what, why = classify(path, "/nonexistent")
    assert (got_kind, got_what) == (kind, what) and why


def test_a_container_with_its_own_cgroup_namespace_is_told_from_the_hosts_root(tmp_path: Path) -> None:
    # inside `docker run` on a v2 host the group shows as "/"; its folder has memory.max, the host's root has not
    assert classify("/", str(tmp_path))[0] is None
    (tmp_path / "memory.max").write_text("max\n")
    kind, what, why = classify("/", str(tmp_path))
    assert kind == "container" and "namespace" in what and "memory.max" in why


# -- where the counters are --------------------------------------------------------------------------------


def test_locate_a_docker_container_on_cgroup_v2(docker: tuple[Host, Path]) -> None:
    _, folder = docker
    (folder / "cpu.max").write_text("150000 100000\n")
    (folder / "cpuset.cpus.effective").write_text("0-3,8\n")
    (folder / "memory.max").write_text(f"{4 * GIB}\n")
    group = locate()
    assert group is not None
    assert (group.version, group.path, group.kind, group.what) == (
        2,
        f"/system.slice/docker-{DOCKER}.scope",
        "container",
        "Docker container",
    )
    assert group.cpu_file == str(folder / "cpu.stat") and group.memory_file == str(folder / "memory.current")
    assert group.limits == {"cpus": 1.5, "memory_bytes": 4 * GIB}


def test_a_slurm_task_is_measured_at_its_jobs_cgroup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task = "/system.slice/slurmstepd.scope/job_77/step_0/user/task_1"
    host = Host(tmp_path, task)
    host.group(task)
    job = host.group("/system.slice/slurmstepd.scope/job_77")
    cpu_stat(job, 5.0)
    monkeypatch.setattr(cgroup, "PROC", str(host.proc))
    group = locate()
    assert group is not None
    assert (group.path, group.own_path, group.kind) == ("/system.slice/slurmstepd.scope/job_77", task, "slurm job")
    assert group.cpu_file == str(job / "cpu.stat") and group.memory_file is None


def test_a_hybrid_host_reads_the_v1_hierarchies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """v2 mounted beside v1 controllers (this project's own VM): the v1 cpuacct and memory groups are read."""
    path = "/slurm/uid_0/job_9/step_batch"
    host = Host(tmp_path, "/", {"cpuacct": path, "memory": path, "name=systemd": "/"})
    cpu_stat(host.group("/"), 1.0)  # the v2 root: every process
    cpuacct = host.group("/slurm/uid_0/job_9", version=1, controller="cpuacct")
    one_value(cpuacct / "cpuacct.usage", 2_500_000_000)  # nanoseconds
    memory = host.group("/slurm/uid_0/job_9", version=1, controller="memory")
    one_value(memory / "memory.usage_in_bytes", GIB)
    monkeypatch.setattr(cgroup, "PROC", str(host.proc))
    group = locate()
    assert group is not None and (group.version, group.path, group.kind) == (1, "/slurm/uid_0/job_9", "slurm job")
    counters = cgroup.Counters(group)
    try:
        assert counters.cpu_seconds() == 2.5 and counters.memory_bytes() == GIB
    finally:
        counters.close()


def test_another_groups_v1_memory_is_never_charged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This project's own VM: the v2 group is the job's, the v1 memory group a sandbox's (not the same group)."""
    job = "/slurm/uid_0/job_5"
    host = Host(tmp_path, job, {"memory": "/process_api/15cab", "cpuacct": "/"})
    cpu_stat(host.group(job), 1.0)
    one_value(host.group("/process_api/15cab", version=1, controller="memory") / "memory.usage_in_bytes", GIB)
    monkeypatch.setattr(cgroup, "PROC", str(host.proc))
    group = locate()
    assert group is not None and (group.version, group.path, group.memory_file) == (2, job, None)


def test_a_mount_of_a_subtree_maps_paths_below_its_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """cgroupns=host with the container's own subtree mounted at /sys/fs/cgroup (mountinfo's root field)."""
    own = f"/docker/{DOCKER}"
    host = Host(tmp_path, own, v2_root=own)
    folder = host.group(own, root=own)
    assert folder == host.mount
    cpu_stat(folder, 3.0)
    monkeypatch.setattr(cgroup, "PROC", str(host.proc))
    group = locate()
    assert group is not None and group.cpu_file == str(host.mount / "cpu.stat") and group.kind == "container"


def test_no_cgroup_files_no_cgroup(tmp_path: Path) -> None:
    assert locate(proc=str(tmp_path / "absent")) is None
    host = Host(tmp_path, "/system.slice/x.service")  # named, but its folder is not there
    assert locate(proc=str(host.proc)) is None


# -- which mode ------------------------------------------------------------------------------------------------


def test_an_unset_mode_is_cgroup_in_a_container_and_machine_elsewhere(
    docker: tuple[Host, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = choose("machine", explicit=False)
    assert chosen.mode == "cgroup" and chosen.group is not None and "Docker container" in chosen.reason
    assert choose("auto", explicit=True).mode == "cgroup"
    assert choose("machine", explicit=True).mode == "machine"  # said by the user: the whole machine
    assert choose("process", explicit=True).mode == "process"
    session = Host(tmp_path / "login", "/user.slice/user-1000.slice/session-2.scope")
    cpu_stat(session.group("/user.slice/user-1000.slice/session-2.scope"), 1.0)
    monkeypatch.setattr(cgroup, "PROC", str(session.proc))
    assert choose("machine", explicit=False).mode == "machine"
    root = Host(tmp_path / "root", "/")
    cpu_stat(root.group("/"), 1.0)
    monkeypatch.setattr(cgroup, "PROC", str(root.proc))
    assert choose("machine", explicit=False).mode == "machine"
    fallback = choose("cgroup", explicit=True)  # asked for, not to be had: machine, and said
    assert fallback.mode == "machine" and fallback.fell_back and "root cgroup" in fallback.reason


def test_cgroup_and_auto_are_modes_and_an_unset_mode_has_its_own_meter() -> None:
    assert resolve({"mode": "cgroup"}).mode == "cgroup" and resolve({"mode": "auto"}).mode == "auto"
    with pytest.raises(ConfigError):
        resolve({"mode": "container"})
    # an unset mode may resolve to cgroup; runs saying mode="machine" must not share its meter
    assert resolve().measurement_key() != resolve({"mode": "machine"}).measurement_key()


# -- the shares ---------------------------------------------------------------------------------------------------


def probe_for(choice: Choice, cpus: int = 4, memory: int = 16 * GIB) -> UsageProbe:
    probe = UsageProbe("machine", choice=choice, machine=(cpus, memory))
    probe.start()
    probe._busy, probe._total = 1000.0, 4000.0  # the machine's counters are given by each test from here
    return probe


def test_cgroup_share_is_its_cpu_time_over_the_machines_busy_time(docker: tuple[Host, Path]) -> None:
    _, folder = docker
    probe = probe_for(choose("machine", explicit=False))
    assert probe.mode == "cgroup"
    cpu_stat(folder, 11.5)  # 1.5 s of the group's CPU time in a tick where the machine was busy for 3 s
    usage = probe.usage_from(1003.0, 4004.0, 1.0)
    assert usage.cpu_share == pytest.approx(0.5) and usage.cpu_util == pytest.approx(0.75)
    assert usage.ram_share == pytest.approx(2 / 16)  # memory.current over installed memory
    cpu_stat(folder, 11.5)  # idle group, busy machine: nothing
    assert probe.usage_from(1005.0, 4008.0, 1.0).cpu_share == 0.0
    assert any("Docker container" in note for note in probe.notes)
    probe.close()


def test_a_slurm_allocation_bounds_the_shares(docker: tuple[Host, Path]) -> None:
    _, folder = docker
    env = {"SLURM_JOB_ID": "42", "SLURM_CPUS_ON_NODE": "1", "SLURM_MEM_PER_NODE": "1024", "SLURM_JOB_GPUS": "1,3"}
    allocation = slurm_allocation(env)
    assert allocation == Allocation("42", 1.0, float(GIB), ("1", "3"))
    probe = probe_for(choose("machine", explicit=False, environ=env))
    cpu_stat(folder, 13.0)  # 3 s of 3 busy seconds: the whole busy machine, but 1 of 4 CPUs was allocated
    one_value(folder / "memory.current", 4 * GIB)  # and 4 GiB of 16 with 1 GiB allocated
    usage = probe.usage_from(1003.0, 4004.0, 1.0)
    assert usage.cpu_share == pytest.approx(0.25) and usage.ram_share == pytest.approx(1 / 16)
    assert any("at most 1 of 4 CPUs (SLURM_CPUS_ON_NODE of job 42)" in note for note in probe.notes)
    probe.close()


def test_the_cgroups_own_cpu_limit_bounds_its_share(docker: tuple[Host, Path]) -> None:
    _, folder = docker
    (folder / "cpu.max").write_text("200000 100000\n")  # docker run --cpus=2
    probe = probe_for(choose("machine", explicit=False))
    cpu_stat(folder, 14.0)
    assert probe.usage_from(1004.0, 4004.0, 1.0).cpu_share == pytest.approx(0.5)
    probe.close()


def test_slurm_memory_per_cpu_and_no_job() -> None:
    env = {"SLURM_JOB_ID": "7", "SLURM_CPUS_ON_NODE": "4", "SLURM_MEM_PER_CPU": "512"}
    assert slurm_allocation(env) == Allocation("7", 4.0, 2.0 * GIB, None)
    assert slurm_allocation({"SLURM_CPUS_ON_NODE": "4"}) is None


def test_unaccounted_memory_follows_the_cpu_share(docker: tuple[Host, Path]) -> None:
    _, folder = docker
    (folder / "memory.current").unlink()  # the memory controller is not enabled for the group
    probe = probe_for(choose("machine", explicit=False))
    cpu_stat(folder, 11.0)
    usage = probe.usage_from(1004.0, 4004.0, 1.0)
    assert usage.ram_share == usage.cpu_share == pytest.approx(0.25)
    assert any("memory is not accounted" in note for note in probe.notes)
    probe.close()


def test_a_removed_cgroup_counts_nothing_from_then_on_and_says_so(docker: tuple[Host, Path]) -> None:
    _, folder = docker
    probe = probe_for(choose("machine", explicit=False))
    probe.close()  # drop the kept descriptors: the next read opens the (now removed) file again
    (folder / "cpu.stat").unlink()
    usage = probe.usage_from(1004.0, 4004.0, 1.0)
    assert usage.cpu_share == 0.0 and usage.ram_share == 0.0
    assert any("attribution stopped" in note for note in probe.notes)


def test_a_slurm_jobs_gpus_bound_the_gpus_counted() -> None:
    devices = [0, 1, 2, 3]
    assert allocated_gpus(devices, ("1", "3"), lambda d: d) == [1, 3]
    # ConstrainDevices: the job sees only its own GPUs (renumbered from 0): all of them are its own
    assert allocated_gpus([0, 1], ("5", "6"), lambda d: d) == [0, 1]


# -- through a run and `tracker detect` -------------------------------------------------------------------------


def test_a_run_in_a_container_is_attributed_to_its_cgroup(docker: tuple[Host, Path], store_path: str) -> None:
    with tracker.track(store=store_path, interval=0.05) as run:
        sum(range(200_000))
    assert run.attribution == "cgroup"
    assert any(f"docker-{DOCKER}.scope" in note for note in run.notes)
    with tracker.track(store=store_path, mode="machine", interval=0.05) as forced:
        pass
    assert forced.attribution == "machine"


def test_detect_says_which_cgroup_and_why(docker: tuple[Host, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect", "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["attribution"] == "cgroup" and "Docker container" in info["attribution_reason"]
    assert info["cgroup"]["path"] == f"/system.slice/docker-{DOCKER}.scope" and info["cgroup"]["used"]
    assert main(["detect"]) == 0
    text = capsys.readouterr().out
    assert "attribution  cgroup" in text and f"docker-{DOCKER}.scope" in text
