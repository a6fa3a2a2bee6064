"""Polling for a condition that another thread makes true (the sampler's, a checkpoint's)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(condition: Callable[[], bool], timeout: float = 3.0) -> bool:
    """True as soon as ``condition()`` is; False if it still is not after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()
