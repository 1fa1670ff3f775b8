"""Helper for test_training.py: fit a few steps and test under DDP with 2 CPU processes (gloo).

usage: python ddp_run.py DATA_ROOT CKPT RESULT_JSON
"""

from __future__ import annotations

import json
import sys

from lightning.pytorch import Trainer

from mgd_sam2.data.datamodule import SegmentationDataModule
from mgd_sam2.training.module import MGDSAM2Module


def main() -> None:
    data_root, ckpt, result = sys.argv[1:4]
    module = MGDSAM2Module.load_from_checkpoint(ckpt, map_location="cpu", weights_only=True, pretrained=None)
    shared = dict(root=data_root, input_size=module.input_size, grid=module.grid, num_workers=0, check=False)
    tested = SegmentationDataModule(test=["synthetic/SYN-TR"], **shared)  # 7 images: uneven shards
    trained = SegmentationDataModule(train=["synthetic/SYN-TR"], val=["synthetic/SYN-VD"], batch_size=2, **shared)
    common = dict(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        use_distributed_sampler=False,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    scores = Trainer(**common).test(module, datamodule=tested, verbose=False)[0]
    Trainer(max_epochs=1, limit_train_batches=2, num_sanity_val_steps=0, **common).fit(module, datamodule=trained)
    if module.global_rank == 0:
        with open(result, "w") as handle:
            json.dump(scores, handle)


if __name__ == "__main__":
    main()
