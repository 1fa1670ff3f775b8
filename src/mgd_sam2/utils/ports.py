"""A free TCP port on this machine, for a server started by us (the app, a DDP rendezvous in the tests)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port on 127.0.0.1 that no socket holds now (the OS's pick; it stays free unless another process takes it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
