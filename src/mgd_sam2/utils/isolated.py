"""Running a function in a fresh process, so that its memory peak and its threads stay its own."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Callable

from mgd_sam2.errors import UserError


class ProcessEndedError(UserError, RuntimeError):
    """A fresh process ended without a result: killed by the system (out of memory, most often) or by a signal."""


def run_isolated(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` in a fresh spawned process: its result, or its exception raised here (a UserError keeps
    its type and one-line message). ``function`` (module level), ``args`` and the result must pickle.

    The process ends by returning, never by being terminated: a terminated process skips its exit finalizers, so a
    multiprocessing lock it created stays registered and Python warns of "leaked semaphore objects" at shutdown
    (tqdm creates one for its first progress bar, and torch's ONNX exporter shows one). Unlike a Pool's, the
    process may start processes of its own. It ends itself, within a second, if this process dies first (killed:
    nothing would wait for its result, and it would go on using the CPU and memory: `end_with_parent`)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as executor:
        try:
            return executor.submit(run_watched, os.getpid(), function, *args).result()
        except BrokenProcessPool:
            raise ProcessEndedError(
                f"the process running {function.__name__} ended without a result (killed: out of memory?)"
            ) from None


def run_watched(parent: int, function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` in this fresh process, which `end_with_parent` ends if process ``parent`` dies."""
    threading.Thread(target=end_with_parent, args=(parent,), daemon=True, name="end-with-parent").start()
    return function(*args)


def end_with_parent(parent: int, every_s: float = 0.5) -> None:
    """Wait while process ``parent`` is this process's parent, then end this process at once: the parent died (a
    process is given another parent then), and no one waits for its result. ``os._exit`` skips the finalizers, as
    no lock of it matters any more."""
    while os.getppid() == parent:
        time.sleep(every_s)
    os._exit(1)


def resident_mb(pid: int | str = "self") -> tuple[float, float]:
    """(resident set, its peak) of process ``pid`` (default: this one) in MiB (Linux: /proc/PID/status VmRSS and
    VmHWM). The peak is the process's own since it started its program: unlike ``getrusage``'s ``ru_maxrss``, which in
    a spawned process counts the copy of its parent made before the program starts."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return tuple(int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM"))
