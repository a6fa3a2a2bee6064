"""One writer process for test_many_writers: runs N tracked runs through the public API, reports what reached it.

Usage: ``python many_writers_worker.py STORE RUNS PROJECT``. Prints one JSON line: the exceptions that reached
this (user) code, the tracker log records at WARNING or above, and the run ids whose record says a store failed.
"""

from __future__ import annotations

import json
import logging
import sys
import time


class Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def main() -> None:
    store, runs, project = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    counter = Count()
    logging.getLogger("tracker").addHandler(counter)
    import tracker

    raised: list[str] = []
    failed_notes: list[str] = []
    ids: list[str] = []
    began = time.perf_counter()
    t = tracker.Tracker(project=project, store=store, cpu_watts=10.0, ram_watts=1.0, country="DE")
    for _ in range(runs):
        try:
            t.start()
            record = t.stop()
        except Exception as exc:  # what the claim is about: nothing may reach user code
            raised.append(repr(exc))
            continue
        ids.append(record.run_id)
        if any("failed" in note for note in record.notes):
            failed_notes.append(record.run_id)
    print(
        json.dumps(
            {
                "raised": raised,
                "logged": counter.messages,
                "failed_notes": failed_notes,
                "ids": ids,
                "seconds": time.perf_counter() - began,
            }
        )
    )


if __name__ == "__main__":
    main()
