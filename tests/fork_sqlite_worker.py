"""One parent process for test_fork_sqlite: threads write tracked runs into one SQLite file while the main thread
forks children that each write one tracked run into the same file.

Usage: ``python fork_sqlite_worker.py DB CHILDREN [--lanes N] [--deadline S] [--dump-dir DIR]``.

Each of the ``lanes`` loops starts a thread that writes one to three short runs and ends, then the next thread:
a thread ending (its connection released) and a thread writing are both likely to be under way at a fork. Each
child runs one ``with tracker.track(...)`` block and leaves with ``os._exit``. The parent waits for each child up
to ``deadline`` seconds; a child still alive then is counted as hung (its stack dumped with py-spy into
``dump-dir`` when asked) and killed. Prints one JSON line: the children that exited cleanly, failed or hung, the
run ids the threads got back, and the faults that reached the threads.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time


def _child(db: str, index: int) -> None:
    """In the forked child: one tracked run into the parent's store; the exit status says how it went."""
    status = 1
    try:
        import tracker

        with tracker.track(store=db, project=f"child-{index}", cpu_watts=10.0, ram_watts=1.0, country="DE") as run:
            pass
        status = 0 if run.record is not None and not any("failed" in n for n in run.record.notes) else 2
    finally:
        os._exit(status)


def _lane(db: str, lane: int, stop: threading.Event, ids: list[str], faults: list[str]) -> None:
    import tracker

    settings = {"store": db, "project": f"lane-{lane}", "cpu_watts": 10.0, "ram_watts": 1.0, "country": "DE"}

    def writer(count: int) -> None:
        for _ in range(count):
            try:
                with tracker.track(**settings) as run:
                    pass
                ids.append(run.record.run_id)
                faults.extend(n for n in run.record.notes if "failed" in n)
            except Exception as exc:  # nothing may reach user code
                faults.append(repr(exc))

    turn = 0
    while not stop.is_set():
        turn += 1
        thread = threading.Thread(target=writer, args=(1 + turn % 3,))
        thread.start()
        thread.join()


def _wait(pid: int, deadline: float) -> int | None:
    """The child's exit status, or None when it is still alive at the deadline."""
    end = time.monotonic() + deadline
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > end:
            return None
        time.sleep(0.002)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("children", type=int)
    parser.add_argument("--lanes", type=int, default=2)
    parser.add_argument("--deadline", type=float, default=4.0)
    parser.add_argument("--dump-dir")
    args = parser.parse_args()

    import tracker

    with tracker.track(store=args.db, project="warm-up", cpu_watts=10.0, ram_watts=1.0, country="DE"):
        pass  # the store and its schema exist before the threads start
    stop = threading.Event()
    ids: list[str] = []
    faults: list[str] = []
    lanes = [threading.Thread(target=_lane, args=(args.db, i, stop, ids, faults)) for i in range(args.lanes)]
    for lane in lanes:
        lane.start()
    ok, failed, hung = [], [], []
    began = time.perf_counter()
    py_spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    try:
        for index in range(args.children):
            time.sleep(0.001 * (index % 5))  # land the forks at different points of the threads' work
            pid = os.fork()
            if pid == 0:
                _child(args.db, index)
            code = _wait(pid, args.deadline)
            if code is None:
                hung.append(index)
                if args.dump_dir and len(hung) <= 3 and os.path.exists(py_spy):
                    dump = subprocess.run(
                        [py_spy, "dump", "--native", "--pid", str(pid)], capture_output=True, text=True, timeout=60
                    )
                    with open(os.path.join(args.dump_dir, f"hung-{index}.txt"), "w") as fh:
                        fh.write(dump.stdout + dump.stderr)
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            elif code == 0:
                ok.append(index)
            else:
                failed.append((index, code))
    finally:
        stop.set()
        for lane in lanes:
            lane.join()
    print(
        json.dumps(
            {
                "ok": ok,
                "failed": failed,
                "hung": hung,
                "thread_ids": ids,
                "faults": faults,
                "seconds": time.perf_counter() - began,
            }
        )
    )


if __name__ == "__main__":
    main()
