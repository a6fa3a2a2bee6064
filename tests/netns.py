"""A network namespace where name lookups hang: loopback only, resolver on 127.0.0.1 that never answers.

Only root can make one (``ip netns add``). Inside, nothing but ``lo`` exists, so no packet can leave the
machine; ``/etc/netns/<name>/resolv.conf`` (bind-mounted over ``/etc/resolv.conf`` by ``ip netns exec``) names
127.0.0.1, where :data:`PRELUDE` (run first by every child) holds a UDP socket that reads nothing: each DNS query
waits for the resolver's full timeout, as on a network that silently drops packets.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HANGING_NAME = "db.tracker-test.example"  # any name not in /etc/hosts: its lookup goes to the silent resolver
PRELUDE = """
import socket as _socket
_sink = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
_sink.bind(("127.0.0.1", 53))  # queries are queued here and never answered (no ICMP "port unreachable")
_silent = _socket.socket()
_silent.bind(("127.0.0.1", 0))
_silent.listen(64)  # connections are accepted by the kernel, and nothing is ever said on them
SILENT_URL = "http://127.0.0.1:%d" % _silent.getsockname()[1]
"""
_names = itertools.count()


def require_netns() -> None:
    """Skip unless root with ``ip`` (fail instead in CI, where the runner is root)."""
    if os.geteuid() == 0 and shutil.which("ip"):
        return
    message = "network-namespace tests need root and iproute2"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def silent_network() -> Iterator[str]:
    """A fresh namespace (its name) with ``lo`` up and a resolver that never answers; removed afterwards."""
    require_netns()
    name = f"trk-{os.getpid()}-{next(_names)}"
    config = Path("/etc/netns") / name
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        config.mkdir(parents=True)
        (config / "resolv.conf").write_text("nameserver 127.0.0.1\n")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
        shutil.rmtree(config, ignore_errors=True)


def run_inside(name: str, code: str, env: dict[str, str] | None = None, timeout: float = 60) -> str:
    """Run :data:`PRELUDE` + ``code`` with this interpreter inside namespace ``name``; its stdout."""
    done = subprocess.run(
        ["ip", "netns", "exec", name, sys.executable, "-c", PRELUDE + code],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
