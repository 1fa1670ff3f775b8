"""A rich progress bar for long loops, or a silent stand-in."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator


@contextlib.contextmanager
def progress_bar(total: int, label: str, show: bool = True) -> Iterator[Callable[..., None]]:
    """``with progress_bar(n, "work") as advance: ... advance()`` (or ``advance(k)`` for k items at once);
    shows nothing when ``show`` is False."""
    if not show:
        yield lambda steps=1: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns) as progress:
        task = progress.add_task(label, total=total)
        yield lambda steps=1: progress.advance(task, steps)


def console():
    """A rich Console; wide when the output is not a terminal, so tables are not cut to 80 columns."""
    from rich.console import Console

    probe = Console()
    return probe if probe.is_terminal else Console(width=200)
