"""Running a function in a fresh process, so that its memory peak and its threads stay its own."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
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
    process may start processes of its own."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as executor:
        try:
            return executor.submit(function, *args).result()
        except BrokenProcessPool:
            raise ProcessEndedError(
                f"the process running {function.__name__} ended without a result (killed: out of memory?)"
            ) from None
