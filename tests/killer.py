"""A callback for the resume test: SIGKILL the training process when a given optimizer step is about to start
(the previous step's checkpoint is on disk). Used as ``--trainer.callbacks+=killer.KillAtStep`` with tests/
on PYTHONPATH."""

from __future__ import annotations

import os
import signal

from lightning.pytorch import Callback


class KillAtStep(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)
