"""A fit's final weights in its ``last.ckpt``, whatever its number of steps."""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Callback


class FinalLastCheckpoint(Callback):
    """Writes each ``save_last`` ModelCheckpoint's ``last.ckpt`` as training ends, where its last save was at an
    earlier step. Lightning (2.6) writes it at the end only where none was written in the whole run, so a fit of 39
    steps saving every 5 kept step 35's, and the recipe's every 200 steps lose up to 199 (the fit's last line named
    that file as where the fit ended). The fit CLI adds it."""

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        for callback in trainer.checkpoint_callbacks:
            # Lightning's own record of the step its last save was at (no public equivalent)
            if callback.save_last and callback._last_global_step_saved != trainer.global_step:
                callback._save_last_checkpoint(trainer, callback._monitor_candidates(trainer))
