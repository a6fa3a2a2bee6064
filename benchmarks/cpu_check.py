"""Compare the CPU and RAM sources on real hardware: RAPL against the models (recorded in docs/hardware-checks.md).

The CPU counterpart of ``benchmarks/gpu_check.py``. Run on a machine whose RAPL counters can be read (root, or
``chmod o+r`` on the ``energy_uj`` files): ``PYTHONPATH=. python benchmarks/cpu_check.py`` (``--seconds`` per
phase, default 20). It holds a fixed load in three phases of the same length: idle, one busy process, and one busy
process per logical CPU. Each phase is ticked every 0.5 s the way a run is: the machine's utilisation from
``/proc/stat`` feeds the TDP model, the vCPU model and the RAM model, and the RAPL package and DRAM counters are
read through the tracker's own RAPL source. It prints the mean power each source gives per phase, and each model
over RAPL, as a Markdown table headed by the date, to paste into ``docs/hardware-checks.md``.

Where RAPL cannot be read it prints ``RAPL not readable here`` and the reason, and still prints the models (what
each would charge this machine for the same load), so the script runs, and is tested, everywhere.
``TRACKER_POWERCAP_ROOT`` points it at another powercap tree, as it does the tracker.
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tracker.errors import MeasurementError
from tracker.measure import hardware
from tracker.measure.sources.base import Component, PowerSource, Usage
from tracker.measure.sources.cpu_model import CpuModel
from tracker.measure.sources.ram import RamModel
from tracker.measure.sources.rapl import RaplSource, powercap_root
from tracker.measure.sources.vcpu_model import VcpuModel
from tracker.measure.usage import machine_cpu_seconds

#: the columns of the table: (heading, source key)
COLUMNS = (
    ("RAPL package W", "rapl"),
    ("TDP model W", "tdp"),
    ("vCPU model W", "vcpu"),
    ("RAPL DRAM W", "rapl-dram"),
    ("RAM model W", "ram"),
)
#: one busy process: a Python loop that never sleeps, until it is terminated at the end of its phase
BUSY = "while True:\n    pass\n"


@dataclass
class Phase:
    """One load held for a fixed time, and the joules each source counted over it."""

    name: str
    workers: int
    seconds: float = 0.0
    busy_s: float = 0.0
    total_s: float = 0.0
    joules: dict[str, float] = field(default_factory=dict)

    @property
    def utilisation(self) -> float:
        return self.busy_s / self.total_s if self.total_s > 0 else 0.0

    def watts(self, key: str) -> float | None:
        if key not in self.joules or self.seconds <= 0:
            return None
        return self.joules[key] / self.seconds


def open_rapl(component: Component, root: Path) -> tuple[RaplSource | None, str]:
    """The tracker's RAPL source for a component, started, or ``None`` and why it cannot be read here."""
    source = RaplSource(component, root)
    try:
        source.start()
    except MeasurementError as exc:
        return None, str(exc)
    return source, source.describe()


def run_phase(phase: Phase, seconds: float, interval: float, sources: dict[str, PowerSource]) -> None:
    """Hold ``phase.workers`` busy processes for ``seconds`` and tick every source as a run would."""
    workers = [
        subprocess.Popen([sys.executable, "-c", BUSY], stdin=subprocess.DEVNULL) for _ in range(phase.workers)
    ]
    try:
        for source in sources.values():  # drop what the counters gathered before the phase
            source.energy(Usage(dt=0.0, cpu_util=0.0))
        phase.joules = {key: 0.0 for key in sources}
        busy0, total0 = machine_cpu_seconds()
        start = last = time.perf_counter()
        end = start + seconds
        while last < end:
            time.sleep(max(0.0, min(interval, end - last)))
            now = time.perf_counter()
            busy, total = machine_cpu_seconds()
            util = (busy - busy0) / (total - total0) if total > total0 else 0.0
            usage = Usage(dt=now - last, cpu_util=min(1.0, max(0.0, util)))
            for key, source in list(sources.items()):
                try:
                    phase.joules[key] += source.energy(usage)
                except MeasurementError as exc:  # a counter that failed for good: say so, keep the others
                    print(f"{key} failed during {phase.name}: {exc}", flush=True)
                    del sources[key]
                    del phase.joules[key]
            phase.busy_s += busy - busy0
            phase.total_s += total - total0
            busy0, total0, last = busy, total, now
        phase.seconds = last - start
    finally:
        for worker in workers:  # only the processes started above, by their handles
            worker.terminate()
        for worker in workers:
            worker.wait()


def cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def ratio(model: float | None, measured: float | None) -> str:
    if model is None or measured is None or measured <= 0:
        return "n/a"
    return f"{model / measured:.2f}"


def table(phases: Sequence[Phase]) -> list[str]:
    """The Markdown table: one row per phase, mean watts per source, and each model over RAPL."""
    head = ["phase", "s", "utilisation", *(name for name, _ in COLUMNS), "TDP/RAPL", "vCPU/RAPL", "RAM/DRAM"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for phase in phases:
        watts = {key: phase.watts(key) for _, key in COLUMNS}
        row = [
            phase.name,
            f"{phase.seconds:.1f}",
            f"{phase.utilisation * 100:.1f} %",
            *(cell(watts[key]) for _, key in COLUMNS),
            ratio(watts["tdp"], watts["rapl"]),
            ratio(watts["vcpu"], watts["rapl"]),
            ratio(watts["ram"], watts["rapl-dram"]),
        ]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase (default 20)")
    parser.add_argument("--interval", type=float, default=0.5, help="tick length, as a run's (default 0.5)")
    parser.add_argument("--instance-type", default=None, help="cloud instance type for the vCPU model")
    parser.add_argument("--provider", default=None, help="cloud provider for the vCPU model (aws, azure, gcp)")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.interval <= 0:
        parser.error("--seconds and --interval must be above 0")

    machine = hardware.detect()
    root = powercap_root()
    now = datetime.datetime.now(datetime.timezone.utc)
    print(f"== CPU check, {now:%Y-%m-%d %H:%M} UTC", flush=True)
    print(
        f"machine: {machine.cpu_brand}; {machine.sockets} socket(s), {machine.physical_cores} cores, "
        f"{machine.logical_cpus} logical CPUs, {machine.memory_bytes / 2**30:.1f} GiB, "
        f"{'virtualised (hypervisor flag)' if machine.virtualised else 'bare metal (no hypervisor flag)'}"
    )
    print(f"powercap root: {root}")
    rapl_cpu, cpu_text = open_rapl(Component.CPU, root)
    rapl_ram, ram_text = open_rapl(Component.RAM, root)
    if rapl_cpu is None:
        print(f"RAPL not readable here: {cpu_text}")
        print("(the table's RAPL columns read n/a; the models are what the tracker would charge this machine)")
    else:
        print(f"RAPL (CPU): {cpu_text}")
        print(f"RAPL (RAM): {ram_text}")
    models: dict[str, PowerSource] = {
        "tdp": CpuModel(machine),
        "vcpu": VcpuModel(machine, args.provider, args.instance_type),
        "ram": RamModel(machine.memory_bytes),
    }
    for source in models.values():
        print(f"{source.name}: {source.describe()}")
    sources: dict[str, PowerSource] = dict(models)
    if rapl_cpu is not None:
        sources["rapl"] = rapl_cpu
    if rapl_ram is not None:
        sources["rapl-dram"] = rapl_ram

    cpus = machine.logical_cpus
    phases = [Phase("idle", 0), Phase("1 busy process", 1), Phase(f"{cpus} busy processes", cpus)]
    interval = min(args.interval, args.seconds)
    for phase in phases:
        print(f"-- {phase.name}, {args.seconds:g} s", flush=True)
        run_phase(phase, args.seconds, interval, sources)
    for source in (rapl_cpu, rapl_ram):
        if source is not None:
            for _, text in source.notes:
                print(f"RAPL note: {text}")
            source.close()

    print()
    print(f"### {now:%Y-%m-%d}: `benchmarks/cpu_check.py --seconds {args.seconds:g}` on {machine.cpu_brand}")
    print()
    for line in table(phases):
        print(line)
    print(flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
