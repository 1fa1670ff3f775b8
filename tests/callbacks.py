"""Callbacks the tests add to `mgd-sam2 fit` runs: ``--trainer.callbacks+=callbacks.NAME``, tests/ on PYTHONPATH."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from lightning.pytorch import Callback


class KillAtStep(Callback):
    """Send the training process ``signal_name`` (SIGKILL unless told) when a given optimizer step is about to start
    (the previous step's checkpoint is on disk)."""

    def __init__(self, step: int, signal_name: str = "SIGKILL") -> None:
        self.step, self.signal = step, signal.Signals[signal_name]

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signal)


class RecordLaunch(Callback):
    """Write how this process was launched to ``<folder>/rank<N>.json``: the cluster environment Lightning
    detected, world size and ranks."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def on_fit_start(self, trainer, pl_module) -> None:
        environment = trainer.strategy.cluster_environment
        record = {
            "environment": type(environment).__name__,
            "world_size": trainer.world_size,
            "global_rank": trainer.global_rank,
            "local_rank": trainer.local_rank,
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


class RecordSteps(Callback):
    """Write what a fit did to ``<folder>/steps.json``: optimizer steps, epochs, training and validation batches
    run, sanity-check batches, and whether the loss was finite at the end."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        self.batches = {"train": 0, "val": 0, "sanity": 0}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.batches["train"] += 1

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.batches["sanity" if trainer.sanity_checking else "val"] += 1

    def on_fit_end(self, trainer, pl_module) -> None:
        record = {"global_step": trainer.global_step, "epochs": trainer.current_epoch, **self.batches}
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "steps.json").write_text(json.dumps(record))


class ScoreByEpoch(Callback):
    """Log ``val/given`` at each validation's end: ``scores[current_epoch]``, a score the test chooses."""

    def __init__(self, scores: list[float]) -> None:
        self.scores = scores

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            pl_module.log("val/given", self.scores[trainer.current_epoch])


class RecordMetrics(Callback):
    """Write what a validation logged (``trainer.callback_metrics``, as float64 reprs) to ``<folder>/rank<N>.json``,
    from every process."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def on_validation_end(self, trainer, pl_module) -> None:
        metrics = {name: float(value) for name, value in trainer.callback_metrics.items()}
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / f"rank{trainer.global_rank}.json").write_text(json.dumps(metrics))
