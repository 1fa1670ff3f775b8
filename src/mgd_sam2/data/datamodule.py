"""The LightningDataModule: dataset splits from the config, checked before use, loaded for each stage.

Under DDP, training shards with :class:`ResumableSampler` and evaluation with Lightning's
``UnrepeatedDistributedSampler``: Lightning's default evaluation sampler pads shards by repeating
samples, which would count those images twice in every metric (EVALUATION.md 3.2).
"""

from __future__ import annotations

from typing import Optional, Union

import torch
from lightning.pytorch import LightningDataModule
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, SequentialSampler

from mgd_sam2.data.check import require_clean
from mgd_sam2.data.datasets import SegmentationDataset, collate, image_records, split_records
from mgd_sam2.data.layouts import Split, resolve_split
from mgd_sam2.data.samplers import ResumableSampler
from mgd_sam2.utils.cache import cache_dir

SplitList = Optional[list[Union[str, dict[str, str]]]]


class SegmentationDataModule(LightningDataModule):
    """Image/mask splits for fit, validate and test; an image file or folder for predict.

    Args:
        root: folder the split names are relative to (``data/`` by default; see data/README.md).
        train: splits trained on jointly, e.g. ``[DIS5K/DIS-TR]`` or ``[DUTS/DUTS-TR, HRSOD/HRSOD-TR]``;
            a split is a path under ``root`` or ``{images: DIR, masks: DIR, name: NAME}``.
        val: splits validated on every epoch, each scored separately (checkpoints select on the first).
        test: splits tested on, each scored separately.
        predict: an image file or a folder of images (no masks needed).
        input_size: model input side g*V in pixels (linked from the model by the CLI).
        batch_size: training images per process (per GPU).
        eval_batch_size: images per validation/test/predict batch.
        num_workers: loader processes per dataloader.
        pin_memory: page-locked batches for faster host-to-GPU copies.
        seed: shuffling and augmentation seed (augmentations depend on (seed, epoch, index) only).
        check: validate the splits before use (cached per unchanged split) and refuse broken ones.
    """

    def __init__(
        self,
        root: str = "data",
        train: SplitList = None,
        val: SplitList = None,
        test: SplitList = None,
        predict: Optional[str] = None,
        input_size: int = 1024,
        batch_size: int = 2,
        eval_batch_size: int = 1,
        num_workers: int = 4,
        pin_memory: bool = True,
        seed: int = 0,
        check: bool = True,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.root, self.input_size, self.seed = root, input_size, seed
        self.specs = {"train": train or [], "val": val or [], "test": test or []}
        self.predict_input = predict
        self.datasets: dict[str, list[SegmentationDataset]] = {}
        self.train_sampler: ResumableSampler | None = None

    def splits(self, stage: str) -> list[Split]:
        return [resolve_split(self.root, spec) for spec in self.specs[stage]]

    def split_names(self, stage: str) -> list[str]:
        """Names of the ``val`` or ``test`` splits, in dataloader order."""
        return [split.name for split in self.splits(stage)]

    def stages_of(self, fn: str) -> tuple[str, ...]:
        return {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}.get(fn, ())

    def prepare_data(self) -> None:
        """Check the splits this run uses (on one process per node, before any worker starts)."""
        fn = self.trainer.state.fn.value if self.trainer is not None and self.trainer.state.fn else "fit"
        for stage in self.stages_of(fn):
            if not self.specs[stage]:
                raise ValueError(f"no {stage} splits configured (data.init_args.{stage} in the config)")
        if self.hparams.check:
            splits = [split for stage in self.stages_of(fn) for split in self.splits(stage)]
            require_clean(splits, cache_dir("checks"), workers=self.hparams.num_workers)

    def setup(self, stage: str) -> None:
        size = self.input_size
        if stage == "fit":
            records = [record for split in self.splits("train") for record in split_records(split)]
            self.datasets["train"] = [SegmentationDataset(records, size, "train", seed=self.seed)]
        if stage in ("fit", "validate"):
            self.datasets["val"] = [SegmentationDataset(split_records(split), size, "eval") for split in self.splits("val")]
        if stage == "test":
            self.datasets["test"] = [SegmentationDataset(split_records(split), size, "eval") for split in self.splits("test")]
        if stage == "predict":
            if not self.predict_input:
                raise ValueError("nothing to predict: set data.init_args.predict to an image file or folder")
            self.datasets["predict"] = [SegmentationDataset(image_records(self.predict_input), size, "predict")]

    @property
    def world(self) -> tuple[int, int]:
        """(number of processes, this process's rank)."""
        return (self.trainer.world_size, self.trainer.global_rank) if self.trainer is not None else (1, 0)

    def loader(self, dataset: SegmentationDataset, batch_size: int, sampler, drop_last: bool = False) -> DataLoader:
        workers = self.hparams.num_workers
        return DataLoader(
            dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
            pin_memory=self.hparams.pin_memory and torch.cuda.is_available(),  # pinning only helps host-to-GPU copies
            drop_last=drop_last, collate_fn=collate, persistent_workers=workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        dataset = self.datasets["train"][0]
        replicas, rank = self.world
        self.train_sampler = ResumableSampler(len(dataset), num_replicas=replicas, rank=rank, seed=self.seed)
        return self.loader(dataset, self.hparams.batch_size, self.train_sampler, drop_last=True)

    def eval_loaders(self, stage: str) -> list[DataLoader]:
        replicas, rank = self.world
        loaders = []
        for dataset in self.datasets[stage]:
            sampler = (
                UnrepeatedDistributedSampler(dataset, num_replicas=replicas, rank=rank, shuffle=False)
                if replicas > 1
                else SequentialSampler(dataset)
            )
            loaders.append(self.loader(dataset, self.hparams.eval_batch_size, sampler))
        return loaders

    def val_dataloader(self) -> list[DataLoader]:
        return self.eval_loaders("val")

    def test_dataloader(self) -> list[DataLoader]:
        return self.eval_loaders("test")

    def predict_dataloader(self) -> list[DataLoader]:
        return self.eval_loaders("predict")
