"""An ordered parallel map over worker processes (a DataLoader underneath), with a progress bar."""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator, Sequence

from torch.utils.data import DataLoader, Dataset

from mgd_sam2.utils.progress import progress_bar


class _Mapped(Dataset):
    def __init__(self, function: Callable[[Any], Any], items: Sequence[Any]) -> None:
        self.function, self.items = function, items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Any:
        return self.function(self.items[index])


def _identity(item: Any) -> Any:
    return item


def default_workers(most: int = 2) -> int:
    """The default worker processes (the commands' ``--workers``, the functions they call): ``most``, or as many CPUs
    as this process may run on where fewer (its affinity: ``taskset``, a container's cpuset; torch warns of
    DataLoader workers beyond them)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this platform (macOS)
        usable = os.cpu_count() or 1
    return min(most, usable)


def workers_or_default(workers: int | None) -> int:
    """``workers``, or ``default_workers()`` for None."""
    return default_workers() if workers is None else workers


def available_memory() -> int | None:
    """Bytes of memory available to new work (Linux's MemAvailable), or None where it cannot be read."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def workers_for_memory(requested: int, bytes_per_worker: int) -> int:
    """At most ``requested`` worker processes, fewer when the available memory cannot hold them each with
    ``bytes_per_worker`` (0 is one process: this one)."""
    available = available_memory()
    if available is None or bytes_per_worker <= 0:
        return requested
    return max(0, min(requested, available // bytes_per_worker))


def parallel_map(
    function: Callable[[Any], Any], items: Sequence[Any], workers: int | None, label: str, show: bool = True
) -> Iterator[Any]:
    """Yield ``function(item)`` for each item, in order, computed in ``workers`` processes (0: in this one; None:
    ``default_workers()``; never more than one per item)."""
    workers = min(workers_or_default(workers), len(items))
    loader = DataLoader(_Mapped(function, items), batch_size=None, num_workers=workers, collate_fn=_identity)
    with progress_bar(len(items), label, show=show) as advance:
        for result in loader:
            advance()
            yield result
