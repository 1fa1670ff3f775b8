"""A fit's final weights in its ``last.ckpt``, whatever its number of steps."""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Callback
from lightning.pytorch.callbacks import ModelCheckpoint


class FinalLastCheckpoint(Callback):
    """Makes a fit's final training step a save step of each ModelCheckpoint that keeps ``save_last`` every
    ``every_n_train_steps`` (the recipe's resume point). Lightning writes such a ``last.ckpt`` at a fit's end only
    where none was written in the whole run, so a fit of 39 steps saving every 5 kept step 35's, and the recipe's
    every 200 steps lose up to 199. The save is at the batch's end, where the ModelCheckpoint's own saves are, before
    the final validation (which a run resumed from it runs again: training/resume.py): a run resumed from it with a
    higher ``max_steps`` goes on as an uninterrupted one would (a save as training ends would record its epoch as
    finished). A fit that ends otherwise (``max_time``, early stopping, a signal) keeps Lightning's behaviour, but
    for a resumed fit that trained nothing, which keeps the ``last.ckpt`` it resumed (`on_train_end`). The fit CLI
    adds it."""

    start_step = 0  # the optimizer step the fit started at (a resumed checkpoint's)

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self.start_step = trainer.global_step

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        """A resumed fit that trained nothing (its limits reached, or stopped by EarlyStopping at the validation it
        ran again: training/resume.py) keeps the ``last.ckpt`` it resumed. Lightning's ModelCheckpoint, whose hook
        runs after this one, writes a last checkpoint at the end of a process that saved none: it would hold the
        restored loops, an epoch closed without its validation, which a later resume would then skip."""
        if trainer.ckpt_path is None or trainer.global_step != self.start_step:
            return
        for callback in model_checkpoints(trainer):
            if callback.save_last and not callback._last_checkpoint_saved:
                callback._last_checkpoint_saved = str(trainer.ckpt_path)  # read as "saved" at the fit's end only

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if not final_step(trainer, batch_idx):
            return
        # Lightning's own step-save criteria and calls (no public equivalent): a save step's top-k and last
        for callback in model_checkpoints(trainer):
            if not callback.save_last or callback.monitor is not None:
                continue
            if callback._every_n_train_steps >= 1 and not callback._should_skip_saving_checkpoint(trainer):
                candidates = callback._monitor_candidates(trainer)
                callback._save_topk_checkpoint(trainer, candidates)
                callback._save_last_checkpoint(trainer, candidates)


def model_checkpoints(trainer: Any) -> list[ModelCheckpoint]:
    """The trainer's ModelCheckpoints (its ``checkpoint_callbacks`` hold any Checkpoint: OnExceptionCheckpoint has no
    monitor, best or last)."""
    return [callback for callback in trainer.checkpoint_callbacks if isinstance(callback, ModelCheckpoint)]


def final_step(trainer: Any, batch_idx: int) -> bool:
    """Whether the batch ``batch_idx`` that just ended is the fit's last: it reached ``max_steps``, or it is the
    last batch of the last of ``max_epochs``."""
    if trainer.max_steps != -1 and trainer.global_step >= trainer.max_steps:
        return True
    last_epoch = trainer.max_epochs not in (None, -1) and trainer.current_epoch + 1 >= trainer.max_epochs
    return last_epoch and batch_idx + 1 >= trainer.num_training_batches
