"""Whether a checkpoint's run still goes: shown ``running`` while its process lives, ``lost`` once it is gone.

A run that lasts longer than ``checkpoint_s`` writes a checkpoint record (status ``running``, its figures so far)
with its writer's pid and start time (:mod:`tracker.core.checkpoints`); its final record replaces it. A process
killed by ``kill -9``, the OOM killer, ``os._exit`` or a power cut leaves the checkpoint behind. The readers
(:meth:`Store.records`, :meth:`Store.dataframe`, hence ``load_runs``, ``tracker runs`` and ``tracker report``)
show such a record as ``lost``, with the energy up to its last checkpoint; the store keeps ``running``
(``Store.rows`` gives what is stored), so a record written late by a slow store still replaces it.

- On the host that wrote it, the process is asked: lost when no process has that pid, when the one that has it
  started at another time (the pid was given to another process, or the machine rebooted), or when it is a zombie.
- From another host it cannot be asked: lost once the checkpoint is older than ``STALE_FACTOR`` times its
  writer's ``checkpoint_s`` (the next one should have come long ago), else running.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

RUNNING, LOST = "running", "lost"
STALE_FACTOR = 2.0  # from another host: no checkpoint for this many intervals means the writer is gone
# a process's start time, as the OS gives it in Unix seconds, moves with the boot time's rounding and clock steps:
# two readings of one process agree within this; a pid given to another process within it is not told apart
START_TOLERANCE_S = 1.0


@functools.lru_cache(maxsize=4)
def _started(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).create_time())


def this_process() -> tuple[int, float | None]:
    """This process's pid and start time (Unix seconds; ``None`` where the OS does not say). Asked once per pid:
    a forked child has its own."""
    pid = os.getpid()
    try:
        return pid, _started(pid)
    except Exception as exc:  # no psutil support here: a reader on this host then trusts the pid alone
        logger.debug("this process's start time is unknown: %r", exc)
        return pid, None


def alive(pid: int, started: float | None) -> bool:
    """Whether the process ``pid`` that started at ``started`` still lives on this host."""
    import psutil

    try:
        process = psutil.Process(pid)
        if started is not None and abs(process.create_time() - started) > START_TOLERANCE_S:
            return False  # another process has that pid now
        return process.status() != psutil.STATUS_ZOMBIE  # killed, not yet reaped by its parent: it runs no more
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # another user's process: it exists, and its start time matched if it was read
        return True


def shown_status(row: dict[str, Any], host: str, now: float) -> str:
    """``running`` or ``lost`` for a stored checkpoint (``status`` = ``running``), as seen from ``host`` at ``now``
    (Unix seconds)."""
    pid = row.get("pid")
    if pid is not None and row.get("host") == host:
        return RUNNING if alive(int(pid), row.get("pid_started_at")) else LOST
    every = row.get("checkpoint_s")
    if not every:  # a checkpoint that says nothing of its writer: nothing to judge it by
        return RUNNING
    from tracker.records.schema import parse_iso

    try:
        last = parse_iso(row["ended_at"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return RUNNING
    return LOST if now - last > STALE_FACTOR * float(every) else RUNNING


def mark(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Set ``status`` to ``lost`` in the stored checkpoints whose run is gone (in place); returns ``rows``. Costs a
    pass over the statuses when there is no checkpoint among them."""
    if not any(row.get("status") == RUNNING for row in rows):
        return rows
    from tracker.measure.hardware import node_name

    host, now = node_name() or "unknown", time.time()
    for row in rows:
        if row.get("status") == RUNNING:
            row["status"] = shown_status(row, host, now)
    return rows


def select(
    rows: Callable[..., list[dict[str, Any]]], limit: int | None, filters: dict[str, Any]
) -> list[dict[str, Any]]:
    """``rows(limit=..., **filters)`` with the statuses shown. ``status="lost"`` or ``"running"`` selects by the
    shown status: the stored checkpoints are read, marked, then kept or not (and the limit applied after)."""
    wanted = filters.get("status")
    if wanted not in (RUNNING, LOST):
        return mark(rows(limit=limit, **filters))
    found = [row for row in mark(rows(**{**filters, "status": RUNNING})) if row["status"] == wanted]
    return found if limit is None else found[:limit]
