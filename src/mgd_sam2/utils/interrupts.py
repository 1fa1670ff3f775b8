"""Ctrl-C during a clean-up: the first interrupt stops the work, a second must not cut the clean-up short."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from typing import Iterator


@contextlib.contextmanager
def interrupt_once(finishing: str) -> Iterator[None]:
    """Within, in the main thread: the first Ctrl-C (SIGINT) is handled as before it (a KeyboardInterrupt), and a
    later one is ignored until the block is left, saying ``finishing`` (what the clean-up waits for) and that Ctrl-\\
    quits at once, so that the clean-up the first one began ends. A second KeyboardInterrupt inside ``Thread.join``
    marks the thread stopped while it runs on (CPython 3.10 to 3.12 release its state lock), so the process can exit
    in the middle of the thread's write: ``timeout -s INT`` sends SIGINT twice (to the process, then to its group),
    and predict left a cut-out's temporary file. Where SIGINT is ignored or has no Python handler, or in another
    thread (which receives no signal), nothing changes."""
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield
        return
    interrupted = False

    def first_only(signum: int, frame: object) -> None:
        nonlocal interrupted
        if interrupted:
            print(f"finishing {finishing} (Ctrl-\\ quits at once)", file=sys.stderr)
            return
        interrupted = True
        previous(signum, frame)

    signal.signal(signal.SIGINT, first_only)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
