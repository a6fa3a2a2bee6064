"""Checkpoints: a long run writes its record so far every ``checkpoint_s``, so that ``kill -9`` or a power cut loses
at most that much of it.

A checkpoint is the run's record built by the one record builder (:func:`tracker.core.finish.build_record`) from
the figures measured so far, with status ``running``, ``ended_at`` the time of its last tick, and its writer's pid,
start time and ``checkpoint_s`` (so that a reader can tell a run still going from one whose process is gone:
:mod:`tracker.stores.liveness` shows it as ``lost``). The run is not detached and its spans are not folded
finally: the record is built from copies taken under the meter's lock. The final record replaces the checkpoint
(stores upsert by ``run_id``, and a checkpoint never replaces a final record, whichever lands last).

Who writes: never the user's thread, never the sampler's tick. The sampler calls a hook when the earliest
checkpoint is due (``tracker.core.run._checkpoints_due``); the hook hands the due runs to the one daemon thread
here, started the first time a run lives longer than its ``checkpoint_s``. A loop of short runs starts no thread
and writes nothing more. Checkpoints go to the configured store only (not to the ``csv=`` copy) and never to the
spool: a checkpoint that cannot be written is skipped (logged once per store) and the next one, or the final
record, takes its place.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from queue import SimpleQueue

from tracker.carbon.accounting import kwh
from tracker.core.finish import Measured, build_record
from tracker.core.state import RunState
from tracker.forks import after_fork
from tracker.records.schema import RunRecord
from tracker.stores import liveness, spool

logger = logging.getLogger(__name__)

RUNNING = "running"

_lock = threading.Lock()
_queue: SimpleQueue[RunState] | None = None
_thread: threading.Thread | None = None
_pending: set[RunState] = set()  # handed over and not written yet: a run is queued once however slow the store
_failing: set[str] = set()  # stores whose last checkpoint failed: logged once, until one succeeds again
_hooked = False


def _reset_after_fork() -> None:
    """A forked child has no writer thread (threads do not survive a fork) and none of the parent's runs."""
    global _lock, _queue, _thread
    _lock, _queue, _thread = threading.Lock(), None, None
    _pending.clear()


def submit(runs: Iterable[RunState]) -> None:
    """Hand runs whose checkpoint is due to the writer thread (started here the first time). Returns at once."""
    global _queue, _thread, _hooked
    with _lock:
        if _thread is None or not _thread.is_alive():
            if not _hooked:
                _hooked = True
                after_fork(_reset_after_fork)
            _queue = SimpleQueue()
            _pending.clear()
            _thread = threading.Thread(target=_loop, args=(_queue,), name="tracker-checkpoints", daemon=True)
            _thread.start()
        queue = _queue
        fresh = [run for run in runs if run not in _pending]
        _pending.update(fresh)
    assert queue is not None
    for run in fresh:
        queue.put(run)


def _loop(queue: SimpleQueue[RunState]) -> None:
    while True:
        run = queue.get()
        try:
            write(run)
        except Exception as exc:  # the thread must survive anything: the next checkpoint tries again
            logger.error("checkpoint of run %s failed: %r", run.run_id, exc)
        finally:
            with _lock:
                _pending.discard(run)


def write(run: RunState) -> RunRecord | None:
    """Write one checkpoint of ``run`` to its store; the record, or ``None`` when there was nothing to write (the
    run ended meanwhile, nothing measured yet, ``save`` off) or the store failed."""
    if not run.config.save:
        return None
    record = snapshot(run)
    if record is None:
        return None
    location = run.context.store_location()
    try:
        spool.open_target("store", location).write(record)
    except Exception as exc:
        first = location not in _failing
        _failing.add(location)
        (logger.warning if first else logger.debug)(
            "checkpoint of run %s not written to %s: %s; the next one (or the final record) takes its place",
            run.run_id, spool.label(location), exc,
        )  # fmt: skip
        return None
    _failing.discard(location)
    return record


def snapshot(run: RunState) -> RunRecord | None:
    """The run's record so far (status ``running``), or ``None`` if it has ended or has no tick yet."""
    meter = run.meter
    if meter is None or not run.active:
        return None
    with meter.lock:  # the sampler's tick and the run's end wait for this copy: microseconds
        if not run.active:
            return None
        meter.catch_up()
        timeline = meter.timeline
        t = timeline.t[-1] if len(timeline) else run.t0
        if t <= run.t0:
            return None
        joules = timeline.between(run.t0, t)
        hours = [(hour, kwh(sum(j))) for hour, _, j in timeline.hours(run.t0, t, run.wall_offset)]
        share, scale = run.profile.share, None
        if share is not None:  # overlap="split": the run's part so far, as at its end (tracker.core.finish)
            whole = sum(joules)
            joules = (share.joules[0], share.joules[1], share.joules[2])
            hours = [(hour, kwh(j)) for hour, j in share.hour_buckets()]
            scale = sum(joules) / whole if whole > 0 else 0.0
        spans = [(name, list(stat)) for name, stat in run.profile.in_entry_order()]
    every = run.config.checkpoint_s
    notes = [*meter.notes_since(run.t0), f"checkpoint: the run was still going (one every {every:g} s); "
             "its final record replaces this one"]  # fmt: skip
    record = build_record(run, t, RUNNING, None, Measured(joules, hours, spans, scale), notes)
    record.pid, record.pid_started_at = liveness.this_process()
    record.checkpoint_s = every
    return record
