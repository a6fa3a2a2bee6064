"""The write deadline's watchdog on plain sockets: what fires, what does not, and what it leaves alone."""

from __future__ import annotations

import socket
import time

from tracker.stores.deadline import Watchdog


def test_a_blocked_receive_ends_at_its_deadline() -> None:
    ours, peer = socket.socketpair()  # the peer never answers: a frozen server, as far as we can tell
    ours.settimeout(5)  # a broken watchdog fails the test instead of hanging it
    with ours, peer:
        began = time.monotonic()
        with Watchdog().guard(ours.fileno(), 0.3) as guard:
            data = ours.recv(10)  # would block forever
        waited = time.monotonic() - began
        assert data == b"" and guard.fired  # the shut-down socket reads as closed
        assert 0.25 < waited < 3.0
        assert ours.fileno() != -1  # shut down, not closed: the owner closes its descriptor itself


def test_a_call_that_returns_in_time_is_left_alone() -> None:
    watchdog = Watchdog()
    ours, peer = socket.socketpair()
    ours.settimeout(5)
    with ours, peer:
        with watchdog.guard(ours.fileno(), 0.3) as guard:
            peer.sendall(b"ok")
            assert ours.recv(10) == b"ok"
        time.sleep(0.5)  # past the deadline: disarmed, nothing happens
        assert not guard.fired
        peer.sendall(b"still open")
        assert ours.recv(20) == b"still open"


def test_guards_on_several_sockets_fire_in_deadline_order() -> None:
    watchdog = Watchdog()
    pairs = [socket.socketpair() for _ in range(2)]
    for a, _ in pairs:
        a.settimeout(5)
    try:
        (late, _), (early, _) = pairs
        with watchdog.guard(late.fileno(), 5.0) as late_guard, watchdog.guard(early.fileno(), 0.2) as early_guard:
            assert early.recv(10) == b""
            assert early_guard.fired and not late_guard.fired  # the later deadline is still pending
        time.sleep(0.1)
        assert not late_guard.fired  # left before its deadline
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_a_descriptor_closed_and_reused_inside_the_block_is_not_touched() -> None:
    """libpq closes its socket on a fatal error, inside the guarded call; if another file then gets the same
    descriptor number, the deadline must not shut that one down: the guard works on its own duplicate."""
    ours, peer = socket.socketpair()
    fd = ours.fileno()
    with Watchdog().guard(fd, 0.2) as guard:
        ours.close()  # the owner closes its descriptor ...
        reused, other_peer = socket.socketpair()  # ... and the lowest free number is handed out again
        reused.settimeout(5)
        time.sleep(0.5)  # the deadline passes while still inside
    with reused, other_peer, peer:
        assert guard.fired
        other_peer.sendall(b"untouched")
        assert reused.recv(20) == b"untouched"  # whatever number it got, it still works
        assert peer.recv(10) == b""  # the guarded socket itself was shut down through the duplicate
