"""Helper for test_training.py: a small fit on CPU that can kill itself with SIGKILL at a given step.

usage: python resume_run.py DATA_ROOT RUN_DIR RESULT_FILE [--kill-at-step N] [--resume]
"""

from __future__ import annotations

import argparse
import os
import signal

import torch
from lightning.pytorch import Callback, Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint

from mgd_sam2.data.datamodule import SegmentationDataModule
from mgd_sam2.models.network import NetworkConfig
from mgd_sam2.training.module import MGDSAM2Module


class KillAt(Callback):
    """SIGKILL this process when the given optimizer step is about to start (the previous step's checkpoint is
    on disk)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_root")
    parser.add_argument("run_dir")
    parser.add_argument("result")
    parser.add_argument("--kill-at-step", type=int)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    seed_everything(0)
    module = MGDSAM2Module(network=NetworkConfig(preset="micro"), val_metrics=["S", "MAE"], log_images_every_n_steps=0)
    data = SegmentationDataModule(
        root=args.data_root,
        train=["synthetic/SYN-TR"],
        val=["synthetic/SYN-VD"],
        input_size=module.input_size,
        grid=module.grid,
        batch_size=2,
        num_workers=args.workers,
        check=False,
    )
    callbacks = [ModelCheckpoint(dirpath=args.run_dir, every_n_train_steps=1, save_top_k=0, save_last=True)]
    if args.kill_at_step is not None:
        callbacks.append(KillAt(args.kill_at_step))
    trainer = Trainer(
        max_epochs=3,
        accelerator="cpu",
        logger=False,
        callbacks=callbacks,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
        deterministic=True,
    )
    trainer.fit(module, datamodule=data, ckpt_path=os.path.join(args.run_dir, "last.ckpt") if args.resume else None)
    optimizer = trainer.optimizers[0].state_dict()
    torch.save(
        {
            "model": module.state_dict(),
            "optimizer": optimizer,
            "epoch": trainer.current_epoch,
            "global_step": trainer.global_step,
            "lr": [g["lr"] for g in trainer.optimizers[0].param_groups],
        },
        args.result,
    )


if __name__ == "__main__":
    main()
