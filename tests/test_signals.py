"""Issue 14, items 1, 2 and 19: a signal never hangs the process and never loses a run's record.

Real processes, real signals. The deterministic cases send the signal from inside the code path under test (it is
handled at the next bytecode, exactly where an outside signal could land); the random case sends it from outside.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

import tracker


def spawn(code: str, store: str, **env: str) -> subprocess.Popen[str]:
    environment = {**os.environ, "TRACKER_STORE": store, **env}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], env=environment, stdout=subprocess.PIPE, text=True
    )


def statuses(store: str) -> list[tuple[str, str]]:
    frame = tracker.load_runs(store)
    return sorted(zip(frame["project"], frame["status"], strict=True))


SIGNAL_INSIDE_SCHEMA_UPGRADE = """
    import os, signal, tracker
    from tracker.stores import sqlite
    upgrade = sqlite.SqliteStore._upgrade
    def interrupted(self, conn, columns):
        if HOLD_WRITE_LOCK:
            conn.execute("BEGIN IMMEDIATE")  # SQLite's write lock, held by the interrupted frame
        else:
            upgrade(self, conn, columns)
        os.kill(os.getpid(), signal.SIGTERM)  # handled at the next bytecode: still under the store's schema lock
        conn.execute("SELECT 1")
    sqlite.SqliteStore._upgrade = interrupted
    with tracker.track(project="outer"):
        with tracker.track(project="inner"):
            pass
    print("not reached", flush=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize("hold_write_lock", [False, True])
def test_sigterm_inside_the_stores_schema_check_neither_hangs_nor_loses_a_record(
    store_path: str, hold_write_lock: bool
) -> None:
    """Item 1: the handler used to wait for ever on the schema lock held by the frame it interrupted. Holding
    SQLite's write lock too, the records go to the spool at once (not after the 30 s busy timeout)."""
    proc = spawn(f"HOLD_WRITE_LOCK = {hold_write_lock}\n" + textwrap.dedent(SIGNAL_INSIDE_SCHEMA_UPGRADE), store_path)
    began = time.monotonic()
    try:
        assert proc.wait(timeout=20) == -signal.SIGTERM
    finally:
        proc.kill()
    assert time.monotonic() - began < (10 if hold_write_lock else 20)
    assert proc.stdout is not None and "not reached" not in proc.stdout.read()
    from tracker.stores import spool

    spool.sync()  # the records the store could not take then wait in the spool; delivered now
    assert statuses(store_path) == [("inner", "terminated"), ("outer", "terminated")]


@pytest.mark.slow
def test_sigterm_while_another_process_locks_the_store_ends_in_bounded_time(store_path: str) -> None:
    """Item 1 as reported: a new SQLite file locked by another process; SIGTERM while the inner run's first write
    waits for it. Both records are written once the lock goes, and the process dies of SIGTERM."""
    conn = sqlite3.connect(store_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("BEGIN IMMEDIATE")  # the runs table does not exist yet: the first write upgrades the schema
    proc = spawn(
        """
        import tracker
        with tracker.track(project="outer"):
            with tracker.track(project="inner"):
                print("inner", flush=True)
        """,
        store_path,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "inner"
        time.sleep(0.5)  # now waiting for the lock, inside the schema upgrade
        proc.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        conn.execute("ROLLBACK")
        assert proc.wait(timeout=20) == -signal.SIGTERM
    finally:
        proc.kill()
        conn.close()
    from tracker.stores import spool

    spool.sync()
    assert statuses(store_path) == [("inner", "terminated"), ("outer", "terminated")]


@pytest.mark.slow
def test_sigterm_while_a_run_is_being_written_keeps_its_record(store_path: str) -> None:
    """Item 2: a run left the active list before its record was written; the handler found nothing to stop."""
    proc = spawn(
        """
        import os, signal, tracker
        from tracker.stores import spool
        deliver = spool.deliver
        def interrupted(record, kind, location):
            os.kill(os.getpid(), signal.SIGTERM)  # the run's stop() is under way: no longer active
            return deliver(record, kind, location)
        spool.deliver = interrupted
        with tracker.track(project="ending"):
            pass
        """,
        store_path,
    )
    assert proc.wait(timeout=20) == -signal.SIGTERM
    assert statuses(store_path) == [("ending", "terminated")]


LOOP = """
    import sys, tracker
    t = tracker.Tracker(project="loop")
    while True:
        run = t.start()
        print(run.run_id, flush=True)
        t.stop()
"""


@pytest.mark.slow
def test_sigterms_into_a_loop_of_short_runs_lose_no_record(store_path: str) -> None:
    """Item 2 from outside: every run that started (printed its id) has a record, whatever the signal hit."""
    started: list[str] = []
    for attempt in range(12):
        proc = spawn(LOOP, store_path)
        assert proc.stdout is not None
        for _ in range(3 + attempt % 5):
            started.append(proc.stdout.readline().strip())
        time.sleep(0.0005 * attempt)
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=20)
        started += rest.split()
        assert proc.returncode == -signal.SIGTERM
    stored = set(tracker.load_runs(store_path)["run_id"])
    assert set(started) <= stored, f"{len(set(started) - stored)} of {len(started)} runs have no record"


@pytest.mark.slow
def test_sighup_ends_runs_as_sigterm_does(store_path: str) -> None:
    """Item 19: a hang-up (terminal or SSH session gone) writes the record and dies of SIGHUP."""
    proc = spawn(
        """
        import time, tracker
        with tracker.track(project="hung-up"):
            print("started", flush=True)
            time.sleep(60)
        """,
        store_path,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(timeout=20) == -signal.SIGHUP
    assert statuses(store_path) == [("hung-up", "terminated")]


SIGNAL_INSIDE_STEPS_TRANSACTION = """
    import os, signal, sqlite3, time, tracker
    from tracker.stores import sqlite
    opened = sqlite.SqliteStore._open
    def traced(self):
        conn = opened(self)
        def statement(sql):
            # SQLite calls this from inside conn.execute(): the handler runs here, with the write lock held
            if sql.startswith("INSERT OR") and "steps" in sql and conn.in_transaction and not fired:
                fired.append(time.monotonic())
                os.kill(os.getpid(), signal.SIGTERM)
        conn.set_trace_callback(statement)
        return conn
    fired = []
    sqlite.SqliteStore._open = traced
    with tracker.track(project="outer", checkpoint_s=0):
        with tracker.track(project="inner", checkpoint_s=0) as run:
            run.step("epoch")
    print("not reached", flush=True)
"""


@pytest.mark.slow
def test_sigterm_inside_a_run_and_steps_transaction_spools_at_once(store_path: str) -> None:
    """ML review finding 6: a signal landing between BEGIN IMMEDIATE and COMMIT of a record with steps made the
    handler's own write wait SQLite's 30 s busy timeout for the lock its thread held. Now it spools at once."""
    proc = spawn(SIGNAL_INSIDE_STEPS_TRANSACTION, store_path)
    began = time.monotonic()
    try:
        assert proc.wait(timeout=60) == -signal.SIGTERM
    finally:
        proc.kill()
    assert time.monotonic() - began < 10
    assert proc.stdout is not None and "not reached" not in proc.stdout.read()
    from tracker.stores import spool

    spool.sync()
    assert statuses(store_path) == [("inner", "terminated"), ("outer", "terminated")]


SIGNAL_INSIDE_THE_LAST_FOLD = """
    import os, signal, tracker
    from tracker.core import spans
    fold = spans.SpanProfile.fold
    def interrupted(self, timeline, upto, final=False):
        if final and not getattr(spans, "sent", False):  # the run's own stop, inside close(), under its lock
            spans.sent = True
            os.kill(os.getpid(), signal.SIGTERM)  # handled at the next bytecode, still inside close()
        return fold(self, timeline, upto, final)
    spans.SpanProfile.fold = interrupted
    t = tracker.Tracker(project="loop")
    run = t.start()
    with tracker.task("work"):
        pass
    t.stop()
    print("not reached", flush=True)
"""


def test_sigterm_inside_a_runs_own_last_fold_writes_and_dies(store_path: str) -> None:
    """Found by 229 SIGTERMs into a loop of short runs (2 hung): a signal landing while the run's own stop held the
    span profile's lock made the handler, stopping that run again, wait for the lock for ever. Now the handler
    writes the record and the process dies of the signal."""
    proc = spawn(SIGNAL_INSIDE_THE_LAST_FOLD, store_path)
    try:
        assert proc.wait(timeout=20) == -signal.SIGTERM
    finally:
        proc.kill()
    assert proc.stdout is not None and "not reached" not in proc.stdout.read()
    assert statuses(store_path) == [("loop", "terminated")]
