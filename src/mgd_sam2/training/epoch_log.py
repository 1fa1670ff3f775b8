"""A line per training epoch where the output is not a terminal (a log file, CI, ``make demo > log``): there the
progress bar draws nothing until the run ends, and a run of half an hour would otherwise look hung."""

from __future__ import annotations

import sys
import time
from typing import Any

from lightning.pytorch import Callback

SHOWN = ("train/loss", "val/Smeasure", "val/MAE")  # the last step's loss, the last validation's first split


class EpochLog(Callback):
    """Prints ``epoch E/N, step S: train/loss …, val/Smeasure …, val/MAE … (M min S s)`` after each training epoch
    (its validation included) on the main process, when standard output is not a terminal."""

    def __init__(self, keys: tuple[str, ...] = SHOWN) -> None:
        self.keys, self.start = keys, time.monotonic()

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        self.start = time.monotonic()

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.is_global_zero or sys.stdout.isatty():
            return
        metrics = trainer.callback_metrics
        values = [f"{key} {float(metrics[key]):.4f}" for key in self.keys if key in metrics]
        minutes, seconds = divmod(int(time.monotonic() - self.start), 60)
        epochs = "" if trainer.max_epochs in (None, -1) else f"/{trainer.max_epochs}"
        line = f"epoch {trainer.current_epoch + 1}{epochs}, step {trainer.global_step}: {', '.join(values)}"
        print(f"{line} ({minutes} min {seconds} s)", flush=True)
