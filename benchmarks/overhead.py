"""Overhead of tracking, side by side with CodeCarbon when it is installed in the same environment.

Prints one markdown table: import time, the first and later start+stop of a tracker in a process, the cost of a
decorated call inside a run, the sampler's CPU use per hour of tracking at a 1 s interval, and the memory added.
Every figure is measured in a fresh subprocess (``python benchmarks/overhead.py [--sampler-seconds 60]``).

The subprocesses run with ``python -S`` and the package and site-packages on ``PYTHONPATH``: an editable install's
``.pth`` hook imports ``typing``, ``pathlib`` and more while the interpreter starts, before any timer, which made
``import tracker`` look ~20 ms cheaper in a development checkout than after ``pip install .``. Without ``site``
both kinds of install pay the same, full price.

CodeCarbon is measured with ``OfflineEmissionsTracker(country_iso_code="FRA")`` and ``save_to_file=False`` so
that it makes no network calls (this machine has no network); its decorator (``track_emissions``) starts a
tracker per call, which is what its users get.
"""

from __future__ import annotations

import argparse
import json
import os
import site
import subprocess
import sys
import tempfile
import textwrap
from importlib.util import find_spec

PRELUDE = """
import json, os, resource, sys, time, logging
logging.disable(logging.WARNING)
def rss_mb():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
"""

TRACKER = {
    "import": "t = time.perf_counter(); import tracker; out = time.perf_counter() - t",
    "first": """
import tracker
t = time.perf_counter()
tr = tracker.Tracker(project="bench"); tr.start(); tr.stop()
out = time.perf_counter() - t
""",
    "later": """
import tracker
tr = tracker.Tracker(project="bench"); tr.start(); tr.stop()
n = 500
t = time.perf_counter()
for _ in range(n):
    tr.start(); tr.stop()
out = (time.perf_counter() - t) / n
""",
    "call": """
import tracker
def plain(): pass
@tracker.track
def decorated(): pass
n = 1_000_000
with tracker.track(project="bench"):
    t = time.perf_counter()
    for _ in range(n): plain()
    base = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(n): decorated()
    out = (time.perf_counter() - t - base) / n
""",
    "sampler": """
import tracker
from tracker.measure.sampler import get_sampler
seconds = float(os.environ["BENCH_SECONDS"])
with tracker.track(project="bench", interval=1.0):
    r0 = resource.getrusage(resource.RUSAGE_SELF); s0 = get_sampler().thread_cpu_seconds()
    time.sleep(seconds)
    r1 = resource.getrusage(resource.RUSAGE_SELF); s1 = get_sampler().thread_cpu_seconds()
process = (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) / seconds
out = {"thread": (s1 - s0) / seconds, "process": process}
""",
    "memory": """
before = rss_mb()
import tracker
tr = tracker.Tracker(project="bench"); tr.start(); time.sleep(1.5); tr.stop()
out = rss_mb() - before
""",
}

CODECARBON = {
    "import": "t = time.perf_counter(); import codecarbon; out = time.perf_counter() - t",
    "first": """
from codecarbon import OfflineEmissionsTracker
t = time.perf_counter()
tr = OfflineEmissionsTracker(country_iso_code="FRA", save_to_file=False, log_level="error"); tr.start(); tr.stop()
out = time.perf_counter() - t
""",
    "later": """
from codecarbon import OfflineEmissionsTracker
def make():
    return OfflineEmissionsTracker(country_iso_code="FRA", save_to_file=False, log_level="error")
tr = make(); tr.start(); tr.stop()
n = 20
t = time.perf_counter()
for _ in range(n):
    tr = make(); tr.start(); tr.stop()
out = (time.perf_counter() - t) / n
""",
    "call": """
from codecarbon import track_emissions
def plain(): pass
@track_emissions(offline=True, country_iso_code="FRA", save_to_file=False, log_level="error")
def decorated(): pass
decorated()
n = 50
t = time.perf_counter()
for _ in range(n): plain()
base = time.perf_counter() - t
t = time.perf_counter()
for _ in range(n): decorated()
out = (time.perf_counter() - t - base) / n
""",
    "sampler": """
from codecarbon import OfflineEmissionsTracker
seconds = float(os.environ["BENCH_SECONDS"])
tr = OfflineEmissionsTracker(country_iso_code="FRA", save_to_file=False, log_level="error", measure_power_secs=1)
tr.start()
r0 = resource.getrusage(resource.RUSAGE_SELF)
time.sleep(seconds)
r1 = resource.getrusage(resource.RUSAGE_SELF)
tr.stop()
out = {"thread": None, "process": (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) / seconds}
""",
    "memory": """
before = rss_mb()
from codecarbon import OfflineEmissionsTracker
tr = OfflineEmissionsTracker(country_iso_code="FRA", save_to_file=False, log_level="error")
tr.start(); time.sleep(1.5); tr.stop()
out = rss_mb() - before
""",
}


# How fast the host is while we measure (this VM's neighbours make it up to twice as slow at times): the floor
# any 1 s sampler pays here (wake up, read /proc/stat, nothing else), run beside the sampler measurement, and a
# fixed pure-Python loop.
HOST = {
    "floor": """
seconds = float(os.environ["BENCH_SECONDS"])
fd = os.open("/proc/stat", os.O_RDONLY)
r0 = resource.getrusage(resource.RUSAGE_SELF)
kept = []
for _ in range(int(seconds)):
    time.sleep(1.0)
    kept.append(os.pread(fd, 512, 0))
r1 = resource.getrusage(resource.RUSAGE_SELF)
out = (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) / int(seconds)
""",
    "python_loop": """
def loop():
    t = time.perf_counter(); x = 0
    for i in range(2_000_000): x += i * i
    return time.perf_counter() - t
out = min(loop() for _ in range(5))
""",
}


def _command(snippet: str) -> list[str]:
    code = PRELUDE + textwrap.dedent(snippet) + "\nprint('RESULT', json.dumps(out))\n"
    return [sys.executable, "-S", "-c", code]


def _result(stdout: str, stderr: str) -> object:
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"benchmark failed:\n{stdout}\n{stderr}")


def measure(snippet: str, env: dict[str, str]) -> object:
    done = subprocess.run(_command(snippet), capture_output=True, text=True, env=env, timeout=900)
    return _result(done.stdout, done.stderr)


def median_of(snippet: str, env: dict[str, str], repeat: int) -> float:
    values = sorted(float(measure(snippet, env)) for _ in range(repeat))  # type: ignore[arg-type]
    return values[len(values) // 2]


def run_suite(suite: dict[str, str], env: dict[str, str], seconds: float, host: dict[str, object]) -> dict[str, object]:
    env = {**env, "BENCH_SECONDS": str(seconds)}
    results: dict[str, object] = {
        "import_s": median_of(suite["import"], env, 5),
        "first_s": median_of(suite["first"], env, 3),
        "later_s": median_of(suite["later"], env, 3),
        "call_s": median_of(suite["call"], env, 3),
    }
    if "floor" not in host:  # the floor runs beside the first tool's sampler measurement
        floor = subprocess.Popen(
            _command(HOST["floor"]), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        results["sampler"] = measure(suite["sampler"], env)
        host["floor"] = _result(*floor.communicate(timeout=900))
    else:
        results["sampler"] = measure(suite["sampler"], env)
    results["memory_mb"] = median_of(suite["memory"], env, 3)
    return results


def fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.2f} µs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sampler-seconds", type=float, default=60.0, help="how long to watch the sampler")
    parser.add_argument("--json", action="store_true", help="print raw results as JSON too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "XDG_DATA_HOME": home, "HOME": home}
        # as users run it: bytecode cached (a PYTHONDONTWRITEBYTECODE=1 shell would compile every import anew)
        env = {k: v for k, v in env.items() if not k.startswith("TRACKER_") and k != "PYTHONDONTWRITEBYTECODE"}
        package = find_spec("tracker").submodule_search_locations[0]  # type: ignore[union-attr, index]
        subprocess.run([sys.executable, "-m", "compileall", "-q", package], env=env, check=False)
        # no site hooks in the measured processes (see the module docstring): the package and the environment's
        # site-packages are put on the path by hand
        env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(package), *site.getsitepackages()])
        host: dict[str, object] = {"python_loop_s": measure(HOST["python_loop"], env)}
        results = {"tracker": run_suite(TRACKER, env, args.sampler_seconds, host)}
        if find_spec("codecarbon") is not None:
            results["codecarbon"] = run_suite(CODECARBON, env, args.sampler_seconds, host)
    tools = list(results)
    print(f"| measure (machine: {os.cpu_count()} CPUs) | " + " | ".join(tools) + " |")
    print("|---|" + "---|" * len(tools))

    def row(label: str, cell: object) -> None:
        print(f"| {label} | " + " | ".join(cell(results[t]) for t in tools) + " |")  # type: ignore[operator]

    row("`import`", lambda r: fmt_time(r["import_s"]))
    row("first start+stop in a process", lambda r: fmt_time(r["first_s"]))
    row("later start+stop", lambda r: fmt_time(r["later_s"]))
    row("decorated empty function, per call", lambda r: fmt_time(r["call_s"]))
    row(
        "sampler CPU, % of one core at 1 s",
        lambda r: (
            f"{r['sampler']['process'] * 100:.3f} %"
            + (f" (thread {r['sampler']['thread'] * 100:.4f} %)" if r["sampler"]["thread"] is not None else "")
        ),
    )
    row("sampler CPU per hour of tracking", lambda r: f"{r['sampler']['process'] * 3600:.2f} s")
    row("memory added (RSS)", lambda r: f"{r['memory_mb']:.1f} MB")
    print(
        f"\nhost, same run: a bare `time.sleep(1)` + `pread(/proc/stat)` loop used {host['floor'] * 100:.3f} % "
        f"of one core (the floor of any 1 s sampler here); a 2M-iteration Python loop took "
        f"{host['python_loop_s'] * 1e3:.0f} ms"
    )
    if args.json:
        print(json.dumps({**results, "host": host}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
