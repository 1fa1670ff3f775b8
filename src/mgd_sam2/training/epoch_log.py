"""A line per training epoch where the output is not a terminal (a log file, CI, ``make demo > log``): there the
progress bar draws nothing until the run ends, and a run of half an hour would otherwise look hung."""

from __future__ import annotations

import sys
import time
from typing import Any

from lightning.pytorch import Callback
from lightning.pytorch.callbacks import ProgressBar, TQDMProgressBar

SHOWN = ("train/loss", "val/Smeasure", "val/MAE")  # the last step's loss, the last validation's first split


class EpochLog(Callback):
    """Prints ``epoch E/N, step S: train/loss …, val/Smeasure …, val/MAE … (M min S s)`` after each training epoch
    (its validation included) on the main process, when standard output is not a terminal, and turns the progress
    bar off for the fit there. In an epoch without a validation, the last validation's scores are marked with the
    epoch they are from."""

    def __init__(self, keys: tuple[str, ...] = SHOWN) -> None:
        self.keys, self.start = keys, time.monotonic()
        self.validated: int | None = None  # the epoch (0-based) of the last validation, not the sanity check
        self.hidden_bar: ProgressBar | None = None  # the progress bar this callback turned off for the fit, if any

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        self.start = time.monotonic()
        bar = trainer.progress_bar_callback
        stream = sys.stderr if isinstance(bar, TQDMProgressBar) else sys.stdout  # where the bar draws
        if bar is not None and bar.is_enabled and not stream.isatty():
            # off a terminal the bar would only print its last state after the run (its epochs counted from 0)
            bar.disable()
            self.hidden_bar = bar

    def show_bar_again(self) -> None:
        """Turn on the bar `on_fit_start` turned off, so that a test after the fit in the same trainer shows it."""
        if self.hidden_bar is not None:
            self.hidden_bar.enable()
            self.hidden_bar = None

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage == "fit":
            self.show_bar_again()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self.show_bar_again()  # Lightning does not call teardown after a failed fit

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.sanity_checking:
            self.validated = trainer.current_epoch

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.is_global_zero or sys.stdout.isatty():
            return
        metrics = trainer.callback_metrics
        shown = [key for key in self.keys if key in metrics]
        values = [f"{key} {float(metrics[key]):.4f}" for key in shown]
        scored = [index for index, key in enumerate(shown) if key.startswith("val/")]
        if scored and self.validated is not None and self.validated != trainer.current_epoch:
            values[scored[-1]] += f" (epoch {self.validated + 1}'s validation)"
        minutes, seconds = divmod(int(time.monotonic() - self.start), 60)
        epochs = "" if trainer.max_epochs in (None, -1) else f"/{trainer.max_epochs}"
        line = f"epoch {trainer.current_epoch + 1}{epochs}, step {trainer.global_step}: {', '.join(values)}"
        print(f"{line} ({minutes} min {seconds} s)", flush=True)
