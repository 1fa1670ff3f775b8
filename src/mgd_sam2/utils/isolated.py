"""Running a function in a fresh process, so that its memory peak and its threads stay its own."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Callable, Iterator

from mgd_sam2.errors import UserError
from mgd_sam2.utils.interrupts import interrupt_once


class ProcessEndedError(UserError, RuntimeError):
    """A fresh process ended without a result: killed by the system (out of memory, most often) or by a signal."""


def run_isolated(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` in a fresh spawned process: its result, or its exception raised here (a UserError keeps
    its type and one-line message). ``function`` (module level), ``args`` and the result must pickle.

    The process ends by returning, not by being terminated: a terminated process skips its exit finalizers, so a
    multiprocessing lock it created stays registered and Python warns of "leaked semaphore objects" at shutdown
    (tqdm creates one for its first progress bar, and torch's ONNX exporter shows one). Unlike a Pool's, the
    process may start processes of its own.

    Interrupts reach the process through this one only. It ignores SIGINT from its start: Ctrl-C, which the terminal
    sends to every process of the job, printed tracebacks from its imports and from the processes those start. An
    interrupt here (a KeyboardInterrupt in the main thread, whoever sent the SIGINT; called from another thread, this
    one is not interrupted and neither is the process) interrupts its task (`watch_parent`), which unwinds
    its ``with`` blocks, and is raised here once the process has ended; a later Ctrl-C meanwhile is ignored
    (`interrupt_once`): ``timeout -s INT`` sends two, and ending the process in its clean-up would leave temporary
    files and a leaked semaphore. If this process dies first (killed: nothing would wait for the result, and the
    process would go on using the CPU and memory), it is interrupted within a second too, and ends at most
    END_GRACE_S later (`end_with_parent`). After an interrupt, a process the executor started but could not
    register is ended too (`end_lost_workers`)."""
    context = multiprocessing.get_context("spawn")
    before = set(multiprocessing.active_children())
    try:
        with (
            interrupt_once(FINISHING),
            ProcessPoolExecutor(1, mp_context=context, initializer=watch_parent, initargs=(os.getpid(),)) as executor,
        ):
            future = None
            try:
                with sigint_blocked():  # inherited: the process starts with SIGINT blocked, until it ignores it
                    future = executor.submit(_task, function, *args)
                return future.result()
            except BrokenProcessPool:
                raise ProcessEndedError(
                    f"the process running {function.__name__} ended without a result (killed: out of memory?)"
                ) from None
            except BaseException:
                if future is None or not future.done():  # interrupted here, not an exception of the task
                    interrupt_started(before)
                raise
    except BaseException:
        end_lost_workers(before)
        raise


@contextlib.contextmanager
def sigint_blocked() -> Iterator[None]:
    """Within, SIGINT is blocked in this thread: a process started within (from this thread) inherits the blocked
    SIGINT, so that none reaches it before it chooses to ignore it. This process still gets a SIGINT meanwhile
    (through another of its threads, or once the block is left)."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def interrupt_started(before: set[multiprocessing.process.BaseProcess]) -> None:
    """Send INTERRUPT_SIGNAL to this process's children not in ``before``: a `run_isolated` process, which ignores
    SIGINT."""
    for process in started_since(before):
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            os.kill(process.pid, INTERRUPT_SIGNAL)


def started_since(before: set[multiprocessing.process.BaseProcess]) -> set[multiprocessing.process.BaseProcess]:
    """This process's living children not in ``before``."""
    return set(multiprocessing.active_children()) - before


def end_lost_workers(before: set[multiprocessing.process.BaseProcess]) -> None:
    """Terminate this process's children not in ``before`` that still run once an executor has shut down: only a
    worker the executor never registered (Ctrl-C landed between its start and its registration) can be left then,
    waiting for a task that never comes, and multiprocessing's exit handler would wait for it forever."""
    for process in started_since(before):
        process.terminate()
        process.join(END_GRACE_S)


END_GRACE_S = 10.0  # an orphaned fresh process's time to unwind (remove its temporary files) before it is ended
ORPHANED_SIGNAL = signal.SIGUSR1  # its own signal: SIGINT may be ignored (inherited by a job started in background)
FINISHING = "the clean-up of the interrupted worker process"
INTERRUPT_SIGNAL = signal.SIGUSR2  # a parent's interrupt, passed on to its fresh process (which ignores SIGINT)


class OrphanedError(BaseException):
    """Raised in a fresh process's main thread when its parent died: not an Exception, so nothing catches it but
    the ``with`` blocks and ``finally`` clauses it unwinds."""


def watch_parent(parent: int) -> None:
    """In a fresh process's main thread, before it takes its task: SIGINT is ignored (it reaches this process
    through its parent only); INTERRUPT_SIGNAL raises KeyboardInterrupt in the task, ends the process quietly before
    it (while its modules are imported; before this initializer, the signal's default action ends it), and is
    ignored after it (its result may be on its way: cut short, the parent would wait for the rest forever);
    ORPHANED_SIGNAL raises OrphanedError; and `end_with_parent` of process ``parent`` runs in a thread."""

    def orphaned(signum: int, frame: object) -> None:
        raise OrphanedError(f"process {parent}, which started this one, died")

    def interrupted(signum: int, frame: object) -> None:
        if _task_state == "running":
            raise KeyboardInterrupt
        if _task_state == "before":
            raise SystemExit(1)  # ends a multiprocessing process without a traceback
        # "done": the result may be on its way to the parent; the pool's shutdown ends the process

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a SIGINT pending, blocked since the start, is dropped
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(INTERRUPT_SIGNAL, interrupted)
    signal.signal(ORPHANED_SIGNAL, orphaned)
    threading.Thread(target=end_with_parent, args=(parent,), daemon=True, name="end-with-parent").start()


_task_state = "before"  # this `run_isolated` process's task: "before" it (its modules imported), "running", "done"


def _task(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` in a `run_isolated` process, its state kept for INTERRUPT_SIGNAL."""
    global _task_state
    _task_state = "running"
    try:
        return function(*args)
    finally:
        _task_state = "done"


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
