"""An ordered parallel map over worker processes (a DataLoader underneath), with a progress bar."""

from __future__ import annotations

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
    function: Callable[[Any], Any], items: Sequence[Any], workers: int, label: str, show: bool = True
) -> Iterator[Any]:
    """Yield ``function(item)`` for each item, in order, computed in ``workers`` processes (0: in this one; never
    more than one per item)."""
    workers = min(workers, len(items))
    loader = DataLoader(_Mapped(function, items), batch_size=None, num_workers=workers, collate_fn=_identity)
    with progress_bar(len(items), label, show=show) as advance:
        for result in loader:
            advance()
            yield result
