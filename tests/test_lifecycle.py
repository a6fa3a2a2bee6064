"""Runs cut short still write their record: SIGTERM, exit without stop(), an exception, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import tracker


def spawn(code: str, store: str) -> subprocess.Popen[str]:
    env = {**os.environ, "TRACKER_STORE": store}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, stdout=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_sigterm_writes_a_terminated_record_and_still_dies_of_sigterm(store_path: str) -> None:
    proc = spawn(
        """
        import time, tracker
        with tracker.track(project="killed"):
            print("started", flush=True)
            time.sleep(60)
        """,
        store_path,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == -signal.SIGTERM
    frame = tracker.load_runs(store_path)
    assert frame["status"].tolist() == ["terminated"]
    assert frame.loc[0, "project"] == "killed"


@pytest.mark.slow
def test_exit_without_stop_writes_an_aborted_record(store_path: str) -> None:
    proc = spawn(
        """
        import tracker
        tracker.Tracker(project="forgot").start()
        """,
        store_path,
    )
    assert proc.wait(timeout=20) == 0
    frame = tracker.load_runs(store_path)
    assert frame["status"].tolist() == ["aborted"]


@pytest.mark.slow
def test_a_program_with_its_own_sigterm_handler_keeps_it(store_path: str) -> None:
    proc = spawn(
        """
        import signal, sys, time, tracker
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(3))
        with tracker.track(project="own-handler"):
            print("started", flush=True)
            time.sleep(60)
        """,
        store_path,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 3  # the program's handler ran
    assert tracker.load_runs(store_path)["status"].tolist() == ["failed"]  # SystemExit(3) left the block


def test_sampler_thread_is_shared_and_started_lazily(store_path: str) -> None:
    import threading

    def samplers() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "tracker-sampler"]

    before = len(samplers())
    with tracker.track(store=store_path), tracker.track(store=store_path, project="second"):
        time.sleep(0.01)
    assert len(samplers()) == before + 1


def test_import_has_no_side_effects() -> None:
    code = (
        "import signal, threading, sys, tracker;"
        "assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL;"
        "assert threading.active_count() == 1;"
        "assert 'pandas' not in sys.modules and 'pynvml' not in sys.modules;"
        "print('clean')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "clean"


@pytest.mark.slow
def test_fork_child_runs_its_own_runs_and_leaves_the_parents_alone(store_path: str) -> None:
    proc = spawn(
        """
        import os, sys, time, tracker
        with tracker.track(project="parent"):
            pid = os.fork()
            if pid == 0:
                assert tracker.current_run() is None
                with tracker.track(project="child", interval=0.05):
                    time.sleep(0.1)
                sys.exit(0)  # a normal exit: atexit runs in the child too
            _, child_status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(child_status) == 0, child_status  # leaving the block was quiet
            # the child must not have written the parent's run (as "aborted") on its way out
            assert tracker.load_runs()["project"].tolist() == ["child"]
        """,
        store_path,
    )
    assert proc.wait(timeout=30) == 0
    frame = tracker.load_runs(store_path)
    assert sorted(zip(frame["project"], frame["status"], strict=True)) == [
        ("child", "completed"),
        ("parent", "completed"),
    ]
