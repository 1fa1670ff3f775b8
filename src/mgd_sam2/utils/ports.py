"""Local servers started by us (the app, a DDP rendezvous in the tests): a free TCP port, and waiting until a
page answers."""

from __future__ import annotations

import http.client
import socket
import time
import urllib.request
from typing import Callable

# a proxy set in the environment (http_proxy without no_proxy=127.0.0.1) must not stand between us and our own server
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    """A port on 127.0.0.1 that no socket holds now (the OS's pick; it stays free unless another process takes it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_in_use(host: str, port: int) -> str | None:
    """Why a server cannot listen on ``host``:``port`` now (another one does; the address is not this machine's), as
    the OS says it; None where it can. Probed as a server binds (SO_REUSEADDR, as uvicorn sets it: a port left in
    TIME_WAIT is free)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        return error.strerror or str(error)
    return None


def wait_until_answers(url: str, limit_s: float, starting: Callable[[], bool] = lambda: True) -> bool:
    """Ask ``url`` (directly, no proxy) every half second, each request waiting up to 5 s, until it answers with
    status 200: True; False once ``limit_s`` seconds have passed (plus the request under way, at most 5 s more) or
    ``starting()`` says the server is gone. A busy machine's slow first answer is waited for, not taken as a
    failure."""
    started = time.perf_counter()
    while True:
        try:
            with DIRECT.open(url, timeout=5) as response:
                if response.status == 200:
                    return True
        except (OSError, http.client.HTTPException):  # not listening yet, or a half-started server's answer
            pass
        if not starting() or time.perf_counter() - started > limit_s:
            return False
        time.sleep(0.5)
