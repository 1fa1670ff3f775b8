"""Checkpoints written in one rename, on any filesystem.

Lightning's TorchCheckpointIO writes a local checkpoint through an fsspec transaction: a temporary file in the
system's temporary folder, moved into place at the end. Where that folder is on another filesystem than the run (a
node's /tmp and a cluster's shared disk), the move is a copy into ``last.ckpt`` itself, and a job killed during it
leaves a truncated file, which a resume refuses (a multi-GPU/SLURM try-out). `AtomicCheckpointIO` writes the
temporary beside the checkpoint and renames it (`atomic_path`); the fit CLI puts it in place of Lightning's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from mgd_sam2.utils.files import atomic_path, remove_stale_temporaries


class AtomicCheckpointIO(TorchCheckpointIO):
    """TorchCheckpointIO whose local files are written beside their path and renamed into it (the temporaries of a
    process killed meanwhile are removed at the first save into their folder); remote paths (``s3://``, ...) are
    Lightning's."""

    def __init__(self) -> None:
        self.cleaned: set[Path] = set()  # folders whose stale temporaries were removed

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if storage_options is not None or "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        if (folder := Path(path).parent) not in self.cleaned:  # a killed job's temporary, as large as a checkpoint
            remove_stale_temporaries(folder)
            self.cleaned.add(folder)
        with atomic_path(Path(path)) as temporary:
            torch.save(checkpoint, temporary)


def use_atomic_checkpoints(trainer: Any) -> None:
    """Put `AtomicCheckpointIO` in place of the strategy's TorchCheckpointIO (one a config gives is kept)."""
    if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
        trainer.strategy.checkpoint_io = AtomicCheckpointIO()
