"""Fixtures shared by the test modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from mgd_sam2.data.synth import SynthConfig, write_dataset

SPLITS = {"train": ["synthetic/SYN-TR"], "val": ["synthetic/SYN-VD"], "test": ["synthetic/SYN-TE"]}


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """A data root holding a small synthetic dataset (10 images of 96-160 px, DIS5K layout) under synthetic/.

    Shared by the whole session: tests read it and never write into it.
    """
    root = tmp_path_factory.mktemp("data")
    write_dataset(root / "synthetic", SynthConfig(num=10, min_size=96, max_size=160, held_out=2), workers=0, show=False)
    return root


@pytest.fixture(scope="session")
def trained_checkpoint(synthetic_root: Path, tmp_path_factory) -> Path:
    """A Lightning checkpoint of the micro preset after two training steps on the synthetic data."""
    from lightning.pytorch import Trainer, seed_everything

    from mgd_sam2.data.datamodule import SegmentationDataModule
    from mgd_sam2.models.network import NetworkConfig
    from mgd_sam2.training.module import MGDSAM2Module

    folder = tmp_path_factory.mktemp("run")
    seed_everything(0)
    module = MGDSAM2Module(
        network=NetworkConfig(preset="micro"), val_metrics=["S", "MAE"], test_metrics=["S", "MAE", "F"]
    )
    data = SegmentationDataModule(
        root=str(synthetic_root), **SPLITS, input_size=module.input_size, grid=module.grid, num_workers=0, check=False
    )
    trainer = Trainer(
        accelerator="cpu",
        default_root_dir=folder,
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
    )
    trainer.fit(module, datamodule=data)
    trainer.save_checkpoint(folder / "trained.ckpt")
    return folder / "trained.ckpt"
