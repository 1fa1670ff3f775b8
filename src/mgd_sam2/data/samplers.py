"""The training sampler: shuffled per epoch from a seed, sharded across processes, resumable mid-epoch.

It yields ``(index, sample_seed)`` keys; the dataset seeds each sample's augmentation with
``sample_seed``, a function of (seed, epoch, index) only. So the data of an epoch does not depend
on the number of loader workers, and a run resumed mid-epoch (``skip_next_epoch_start``) sees exactly
the samples and augmentations it would have seen without the interruption.
"""

from __future__ import annotations

import hashlib
from typing import Iterator

from torch.utils.data import DataLoader, Dataset, DistributedSampler

from mgd_sam2.errors import ConfigError


class ResumableSampler(DistributedSampler):
    """A DistributedSampler (so Lightning never wraps it again) with per-sample seeds and a one-off skip."""

    def __init__(
        self,
        length: int,
        num_replicas: int = 1,
        rank: int = 0,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = True,
    ) -> None:
        super().__init__(
            range(length), num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=drop_last
        )
        self._skip = 0

    def skip_next_epoch_start(self, samples: int) -> None:
        """Drop the first ``samples`` keys of the next epoch of this process (already consumed before a restart)."""
        self._skip = samples

    def sample_seed(self, index: int) -> int:
        # tuples of ints hash the same in every process (only str/bytes hashing is randomised)
        return hash((self.seed, self.epoch, index)) & 0x7FFFFFFF

    def __iter__(self) -> Iterator[tuple[int, int]]:
        indices = list(super().__iter__())
        skip, self._skip = self._skip, 0
        for index in indices[skip:]:
            yield index, self.sample_seed(index)

    def __len__(self) -> int:
        return self.num_samples


RESUMED_SETTINGS = {  # what sets each entry of a ResumableLoader's state
    "samples": "training images (data.train)",
    "images": "training images' split and file names (data.train), digest",
    "sampler": "sampler (trainer.overfit_batches)",
    "seed": "seed (data.seed, or seed_everything where that is not given)",
    "num_replicas": "processes (trainer.devices x num_nodes)",
    "batch_size": "data.batch_size",
}


def images_digest(dataset: Dataset) -> str | None:
    """A short SHA-256 of the training records' split and file names, in order (``split/name`` lines): another set of
    as many images, or the same in another order, is another digest; the data root may move. None for a dataset
    without records."""
    records = getattr(dataset, "records", None)
    if records is None:
        return None
    names = "\n".join(f"{record.split}/{record.name}" for record in records)
    return hashlib.sha256(names.encode()).hexdigest()[:12]


class ResumableLoader(DataLoader):
    """The training DataLoader. Its state (what the sample order depends on) is saved in checkpoints; a resume
    with other data, seed, world size or batch size is refused, since it could not continue exactly."""

    def state_dict(self) -> dict[str, int | str | None]:
        sampler = self.sampler
        ours = isinstance(sampler, ResumableSampler)  # Lightning swaps in a SequentialSampler for overfit_batches
        return {
            "samples": len(self.dataset),
            "images": images_digest(self.dataset),
            "sampler": type(sampler).__name__,
            "seed": sampler.seed if ours else None,
            "num_replicas": sampler.num_replicas if ours else 1,
            "batch_size": self.batch_size,
        }

    def load_state_dict(self, state: dict[str, int | str | None]) -> None:
        current = self.state_dict()
        # checkpoints written before the sampler or the images' names were recorded
        state = {"sampler": ResumableSampler.__name__, "images": current["images"], **state}
        if state != current:
            changed = ", ".join(
                f"{RESUMED_SETTINGS[key]} {state.get(key)} -> {value}"
                for key, value in current.items()
                if state.get(key) != value
            )
            raise ConfigError(
                f"cannot resume this run exactly: its training order depends on settings that changed since its "
                f"checkpoint ({changed}); resume with the run's own settings (its config.yaml, on as many "
                "processes), or start a new run"
            )
