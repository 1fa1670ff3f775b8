"""What long commands show: a rich progress bar for long loops (or a silent stand-in), and counts in words."""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

_shown: list[Any] = []  # the Progress displays open now, innermost last


@contextlib.contextmanager
def progress_bar(total: int, label: str, show: bool = True) -> Iterator[Callable[..., None]]:
    """``with progress_bar(n, "work") as advance: ... advance()`` (or ``advance(k)`` for k items at once);
    shows nothing when ``show`` is False. Inside another bar it is a second line of that bar's display (rich before
    14 allows one live display at a time), removed when done."""
    if not show:
        yield lambda steps=1: None
        return
    if _shown:
        progress = _shown[-1]
        task = progress.add_task(label, total=total)
        try:
            yield lambda steps=1: progress.advance(task, steps)
        finally:
            progress.remove_task(task)
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
        _shown.append(progress)
        try:
            yield lambda steps=1: progress.advance(task, steps)
        finally:
            _shown.pop()


def console():
    """A rich Console; wide when the output is not a terminal, so tables are not cut to 80 columns."""
    from rich.console import Console

    probe = Console()
    return probe if probe.is_terminal else Console(width=200)


def plural(count: int, noun: str) -> str:
    """``count`` ``noun``s in words: "1 image", "16 images"."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
