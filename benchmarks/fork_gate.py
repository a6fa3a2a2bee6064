"""What the fork gate and the connection pool add to a SQLite write (``docs/stores.md``, "Forks and SQLite").

Prints the cost of the write path's gate + pool (without the SQLite statement) beside the thread-local lookup it
replaced (best of 7 batches: this VM's neighbours make single figures noisy). The whole start+stop of a run into
SQLite is ``benchmarks/overhead.py``'s "later start+stop". ``python benchmarks/fork_gate.py``.
"""

from __future__ import annotations

import threading
import timeit

from tracker.forks import ForkGate


def gate_and_pool() -> tuple[float, float]:
    """Seconds per pass: the gate + pool (now), the thread-local lookup (before)."""
    gate = ForkGate("benchmark", 1.0)
    idle: list[object] = [object()]
    local = threading.local()
    local.conn = object()

    def now() -> None:
        with gate:
            try:
                conn = idle.pop()
            except IndexError:
                conn = None
            try:
                pass
            finally:
                idle.append(conn)

    def before() -> object:
        return getattr(local, "conn", None)

    n = 200_000
    return (
        min(timeit.repeat(now, number=n, repeat=7)) / n,
        min(timeit.repeat(before, number=n, repeat=7)) / n,
    )


def main() -> None:
    now, before = gate_and_pool()
    print(f"gate + pool per write: {now * 1e6:.2f} µs (the thread-local lookup it replaced: {before * 1e6:.2f} µs)")


if __name__ == "__main__":
    main()
