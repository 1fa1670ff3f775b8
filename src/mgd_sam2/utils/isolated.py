"""Running a function in a fresh process, so that its memory peak and its threads stay its own."""

from __future__ import annotations

import multiprocessing
import os
import signal
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

    The process ends by returning, not by being terminated: a terminated process skips its exit finalizers, so a
    multiprocessing lock it created stays registered and Python warns of "leaked semaphore objects" at shutdown
    (tqdm creates one for its first progress bar, and torch's ONNX exporter shows one). Unlike a Pool's, the
    process may start processes of its own. If this process dies first (killed: nothing would wait for the result,
    and the process would go on using the CPU and memory), it is interrupted within a second, so that its ``with``
    blocks remove their temporary files, and ends at most END_GRACE_S later (`end_with_parent`). After an interrupt,
    a process the executor started but could not register is ended too (`end_lost_workers`)."""
    context = multiprocessing.get_context("spawn")
    before = set(multiprocessing.active_children())
    try:
        with ProcessPoolExecutor(1, mp_context=context, initializer=watch_parent, initargs=(os.getpid(),)) as executor:
            try:
                return executor.submit(function, *args).result()
            except BrokenProcessPool:
                raise ProcessEndedError(
                    f"the process running {function.__name__} ended without a result (killed: out of memory?)"
                ) from None
    except BaseException:
        end_lost_workers(before)
        raise


def end_lost_workers(before: set[multiprocessing.process.BaseProcess]) -> None:
    """Terminate this process's children not in ``before`` that still run once an executor has shut down: only a
    worker the executor never registered (Ctrl-C landed between its start and its registration) can be left then,
    waiting for a task that never comes, and multiprocessing's exit handler would wait for it forever."""
    for process in set(multiprocessing.active_children()) - before:
        process.terminate()
        process.join(END_GRACE_S)


END_GRACE_S = 10.0  # an orphaned fresh process's time to unwind (remove its temporary files) before it is ended
ORPHANED_SIGNAL = signal.SIGUSR1  # its own signal: SIGINT may be ignored (inherited by a job started in background)


class OrphanedError(BaseException):
    """Raised in a fresh process's main thread when its parent died: not an Exception, so nothing catches it but
    the ``with`` blocks and ``finally`` clauses it unwinds."""


def watch_parent(parent: int) -> None:
    """In a fresh process's main thread, before it takes its task: ORPHANED_SIGNAL raises OrphanedError, and
    `end_with_parent` of process ``parent`` runs in a thread."""

    def orphaned(signum: int, frame: object) -> None:
        raise OrphanedError(f"process {parent}, which started this one, died")

    signal.signal(ORPHANED_SIGNAL, orphaned)
    threading.Thread(target=end_with_parent, args=(parent,), daemon=True, name="end-with-parent").start()


def end_with_parent(parent: int, every_s: float = 0.5) -> None:
    """Wait while process ``parent`` is this process's parent; once it died (a process is given another parent
    then) and no one waits for this one's result, send the main thread ORPHANED_SIGNAL (OrphanedError), so that its
    ``with`` blocks clean up, and end the process END_GRACE_S later whatever it does (``os._exit``: no lock of it
    matters any more; the main thread may be in a long call that only notices the signal when it returns)."""
    while os.getppid() == parent:
        time.sleep(every_s)
    signal.pthread_kill(threading.main_thread().ident, ORPHANED_SIGNAL)  # also wakes a sleep or a wait
    time.sleep(END_GRACE_S)
    os._exit(1)


def resident_mb(pid: int | str = "self") -> tuple[float, float]:
    """(resident set, its peak) of process ``pid`` (default: this one) in MiB (Linux: /proc/PID/status VmRSS and
    VmHWM). The peak is the process's own since it started its program: unlike ``getrusage``'s ``ru_maxrss``, which in
    a spawned process counts the copy of its parent made before the program starts."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return tuple(int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM"))


def reset_peak(pid: int | str = "self") -> None:
    """Reset the resident-set peak of process ``pid`` (VmHWM) to its current resident set (Linux 4.0+:
    ``/proc/PID/clear_refs``), so that `resident_mb`'s peak counts from now."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError as error:
        raise UserError(f"cannot reset the memory peak of process {pid} (/proc/{pid}/clear_refs: {error})") from error
