"""The port helper the tests give child processes to listen on."""

from __future__ import annotations

import socket

from tests.fixtures.processes import _ephemeral_low, free_port


def test_free_ports_are_bindable_and_outside_the_ephemeral_range() -> None:
    """A port from the ephemeral range can be taken by any outgoing connection between the
    check and the child's bind (an OpenID provider failed with EADDRINUSE so)."""
    low = _ephemeral_low()
    for _ in range(20):
        port = free_port()
        if low > 20000:
            assert 15000 <= port < low
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
