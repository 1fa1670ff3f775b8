"""The LightningDataModule: dataset splits from the config, checked before use, loaded for each stage.

Under DDP, training shards with `ResumableSampler` and evaluation with Lightning's
``UnrepeatedDistributedSampler``: Lightning's default evaluation sampler pads shards by repeating
samples, which would count those images twice in every metric (docs/design.md, evaluation).
"""

from __future__ import annotations

import random
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Optional, Union

import torch
from lightning.pytorch import LightningDataModule
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from lightning.pytorch.utilities import rank_zero_only
from torch.utils.data import DataLoader, SequentialSampler

from mgd_sam2.data.check import require_clean
from mgd_sam2.data.datasets import Record, SegmentationDataset, collate, image_records, split_records
from mgd_sam2.data.layouts import BENCHMARK_TEST_SPLITS, DatasetLayoutError, Split, resolve_split
from mgd_sam2.data.samplers import ResumableLoader, ResumableSampler
from mgd_sam2.errors import ConfigError, MissingFileError
from mgd_sam2.utils.cache import cache_dir

SplitList = Optional[list[Union[str, dict[str, str]]]]
HOLDOUT = "holdout"


class SegmentationDataModule(LightningDataModule):
    """Image/mask splits for fit, validate and test; an image file or folder for predict.

    Args:
        root: folder the split names are relative to (``data/`` by default; see data/README.md).
        train: splits trained on jointly, e.g. ``[DIS5K/DIS-TR]`` or ``[DUTS/DUTS-TR, HRSOD/HRSOD-TR]``;
            a split is a path under ``root`` or ``{images: DIR, masks: DIR, name: NAME}``.
        val: splits validated on every epoch, each scored separately (checkpoints select on the first).
        val_holdout: hold out this many training images (drawn with ``seed``) as a validation split named
            "holdout", listed first; for recipes without a validation split (never select on a test split).
        test: splits tested on, each scored separately.
        predict: an image file, a folder of images, or a list of image files (no masks needed): paths of their
            own (from the working folder), not under ``root``.
        input_size: model input side g*V in pixels (linked from the model by the CLI).
        grid: local views per side g; samples are cut into the network's views in the loader workers
            (linked from the model by the CLI).
        keep_images: predict batches also carry each decoded image, which the model's detail mode reads
            (linked from the model by the CLI: true when ``model.detail`` is not off).
        batch_size: training images per process (per GPU).
        eval_batch_size: images per validation/test/predict batch.
        num_workers: loader processes per dataloader.
        pin_memory: page-locked batches for faster host-to-GPU copies.
        seed: shuffling, held-out and augmentation seed (augmentations depend on (seed, epoch, index) only);
            None: the CLI's ``seed_everything`` where it is a number, else 0.
        augment: augment training images (docs/design.md, training); False trains on them only resized, as
            they are evaluated (for overfitting a few images while debugging).
        check: validate the splits before use (cached per unchanged split) and refuse broken ones.
    """

    def __init__(
        self,
        root: str = "data",
        train: SplitList = None,
        val: SplitList = None,
        val_holdout: int = 0,
        test: SplitList = None,
        predict: Optional[Union[str, list[str]]] = None,
        input_size: int = 1024,
        grid: int = 2,
        keep_images: bool = False,
        batch_size: int = 2,
        eval_batch_size: int = 1,
        num_workers: int = 4,
        pin_memory: bool = True,
        seed: int | None = None,
        augment: bool = True,
        check: bool = True,
    ) -> None:
        super().__init__()
        for name, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
            if value < 1:
                raise ConfigError(f"data.{name} must be 1 or more, got {value}")
        self.save_hyperparameters()
        self.root, self.input_size, self.grid, self.seed = root, input_size, grid, seed or 0
        self.specs = {"train": train or [], "val": val or [], "test": test or []}
        self.predict_input = predict
        self.datasets: dict[str, list[SegmentationDataset]] = {}
        self.train_sampler: ResumableSampler | None = None

    def resolved(self, stage: str) -> tuple[list[Split], list[str]]:
        """(the ``stage``'s splits in place, the error of each one missing)."""
        found, missing = [], []
        for spec in self.specs[stage]:
            try:
                found.append(resolve_split(self.root, spec))
            except DatasetLayoutError as error:
                missing.append(str(error))
        return found, missing

    def splits(self, stage: str) -> list[Split]:
        """The ``stage``'s splits; DatasetLayoutError naming every one that is missing, not only the first."""
        found, missing = self.resolved(stage)
        if len(missing) > 1:
            raise DatasetLayoutError(f"{len(missing)} {stage} splits not found:\n" + "\n".join(missing))
        if missing:
            raise DatasetLayoutError(missing[0])
        if stage != "train":
            refuse_shared_names(stage, found, [HOLDOUT] if stage == "val" and self.hparams.val_holdout else [])
        return found

    def split_names(self, stage: str) -> list[str]:
        """Names of the ``val`` or ``test`` splits, in dataloader order."""
        holdout = [HOLDOUT] if stage == "val" and self.hparams.val_holdout else []
        return holdout + [split.name for split in self.splits(stage)]

    def train_and_holdout(self) -> tuple[list[Record], list[Record]]:
        """Training records, and the ``val_holdout`` of them set aside (renamed to the split "holdout")."""
        records = [record for split in self.splits("train") for record in split_records(split)]
        count = self.hparams.val_holdout
        if not count:
            return records, []
        if count >= len(records):
            raise ConfigError(f"val_holdout {count} leaves no training images (there are {len(records)})")
        order = list(range(len(records)))
        random.Random(self.seed).shuffle(order)
        held = set(order[:count])
        return (
            [r for i, r in enumerate(records) if i not in held],
            [replace(r, split=HOLDOUT) for i, r in enumerate(records) if i in held],
        )

    def stages_of(self, fn: str) -> tuple[str, ...]:
        return {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}.get(fn, ())

    def prepare_data(self) -> None:
        """Check the splits this run uses (on one process per node, before any worker starts)."""
        fn = self.trainer.state.fn.value if self.trainer is not None and self.trainer.state.fn else "fit"
        for stage in self.stages_of(fn):
            if not self.specs[stage] and not (stage == "val" and self.hparams.val_holdout):
                holdout = ", or hold out training images with data.val_holdout N" if stage == "val" else ""
                raise ConfigError(f"no {stage} splits configured: give data.{stage} in the config{holdout}")
        if self.hparams.check:
            stages = set(self.stages_of(fn)) | ({"train"} if fn == "validate" and self.hparams.val_holdout else set())
            splits = [split for stage in sorted(stages) for split in self.splits(stage)]
            use = {"fit": "training", "validate": "validation", "test": "testing"}.get(fn, fn)
            require_clean(splits, cache_dir("checks"), workers=self.hparams.num_workers, use=use)

    def refuse_overlaps(self) -> None:
        """A fit's splits kept apart as the protocol keeps them (docs/design.md, checkpoint selection), among those in
        place (a fit needs no test split yet): a training split listed twice, or also a validation (but in an
        ``overfit_batches`` run) or test split, is a ConfigError; a validation split that is a benchmark's test
        split (HRSOD-TE; not DIS-VD, which the DIS tables report too), a note: the released code selected
        checkpoints on test sets, and one may ask how much that gains."""
        present = {stage: self.resolved(stage)[0] for stage in self.specs}
        keys = {stage: [split_key(split) for split in splits] for stage, splits in present.items()}
        train = present["train"]
        if twice := next((split for split in train if keys["train"].count(split_key(split)) > 1), None):
            raise ConfigError(
                f"data.train lists {twice.name} ({twice.image_dir.parent}) twice: its images would be trained on twice "
                "as often as the others', and a val_holdout drawn from it would stay in training; list it once"
            )
        why = {
            "val": "validation would score images the model trains on, and best.ckpt be selected on them: hold out "
            "training images with data.val_holdout instead (only a trainer.overfit_batches run validates on its "
            "training images)",
            "test": "its scores would measure what the model memorised: drop it from one of them",
        }
        if self.trainer is not None and self.trainer.overfit_batches:  # debugging: how well it learns its batches
            why.pop("val")
        for stage, reason in why.items():
            if shared := next((split for split in present[stage] if split_key(split) in keys["train"]), None):
                raise ConfigError(
                    f"data.{stage} {shared.name} ({shared.image_dir.parent}) is also in data.train: {reason}"
                )
        tested = next((split.name for split in present["val"] if split.name in BENCHMARK_TEST_SPLITS), None)
        if tested is not None and rank_zero_only.rank == 0:
            print(f"note: data.val {tested} is a benchmark's test split: best.ckpt is selected on images it is then "
                  "tested on, which published protocols do not do (docs/design.md, checkpoint selection); "
                  "data.val_holdout holds out training images instead", file=sys.stderr)  # fmt: skip

    def setup(self, stage: str) -> None:
        size = self.input_size
        if stage == "fit":
            self.refuse_overlaps()
        if stage in ("fit", "validate"):
            train, holdout = self.train_and_holdout() if stage == "fit" or self.hparams.val_holdout else ([], [])
            if stage == "fit":
                self.datasets["train"] = [
                    SegmentationDataset(
                        train, size, "train", grid=self.grid, seed=self.seed, augment=self.hparams.augment
                    )
                ]
            evaluated = ([holdout] if holdout else []) + [split_records(split) for split in self.splits("val")]
            self.datasets["val"] = [SegmentationDataset(records, size, "eval", grid=self.grid) for records in evaluated]
            if stage == "fit" and rank_zero_only.rank == 0:
                print(fit_data_line(train, evaluated, self.hparams.batch_size, self.world[0]))
        if stage == "test":
            self.datasets["test"] = [
                SegmentationDataset(split_records(split), size, "eval", grid=self.grid) for split in self.splits("test")
            ]
        if stage == "predict":
            if not self.predict_input:
                raise ConfigError("nothing to predict: set data.predict to an image file or folder")
            inputs = self.predict_input if isinstance(self.predict_input, list) else [self.predict_input]
            for item in inputs:
                under_root = Path(self.hparams.root) / item
                if not Path(item).exists() and under_root.exists():
                    raise MissingFileError(
                        f"data.predict {item} is not in the working folder: unlike train, val and test, data.predict "
                        f"is a path of its own, not one under data.root: give {under_root}"
                    )
            records = []
            for item in inputs:
                found, ignored = image_records(item)
                records += found
                if ignored and rank_zero_only.rank == 0:  # as `mgd-sam2 predict` says it
                    print(f"note: ignored in {item}: {ignored}")
            self.datasets["predict"] = [
                SegmentationDataset(records, size, "predict", grid=self.grid, keep_images=self.hparams.keep_images)
            ]

    @property
    def world(self) -> tuple[int, int]:
        """(number of processes, this process's rank)."""
        return (self.trainer.world_size, self.trainer.global_rank) if self.trainer is not None else (1, 0)

    def loader(
        self, dataset: SegmentationDataset, batch_size: int, sampler, drop_last: bool = False, kind=DataLoader
    ) -> DataLoader:
        workers = self.hparams.num_workers
        return kind(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=workers,
            pin_memory=self.hparams.pin_memory and torch.cuda.is_available(),  # pinning only helps host-to-GPU copies
            drop_last=drop_last,
            collate_fn=collate,
            persistent_workers=workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        dataset = self.datasets["train"][0]
        replicas, rank = self.world
        self.train_sampler = ResumableSampler(len(dataset), num_replicas=replicas, rank=rank, seed=self.seed)
        loader = self.loader(dataset, self.hparams.batch_size, self.train_sampler, drop_last=True, kind=ResumableLoader)
        if len(loader) == 0:  # Lightning would end the fit at step 0 and exit 0
            each = f" each of the {replicas} processes gets" if replicas > 1 else ""
            raise ConfigError(
                f"data.batch_size {self.hparams.batch_size} is more than the {len(self.train_sampler)} training "
                f"images{each}, and an incomplete batch is dropped: no batch to train on; lower --data.batch_size"
            )
        consumed = self.batches_consumed_before_restart()
        if 0 < consumed < self.batches_per_epoch(len(loader)):  # resumed mid-epoch: continue with the samples not seen
            self.train_sampler.skip_next_epoch_start(consumed * self.hparams.batch_size)
        return loader

    def batches_per_epoch(self, length: int) -> int:
        """The batches an epoch of ``length`` trains, under the trainer's ``limit_train_batches`` (a count, or a share
        of the loader, as Lightning counts them): a checkpoint at the last of them ends its epoch."""
        limit = 1.0 if self.trainer is None else self.trainer.limit_train_batches
        return min(length, limit) if isinstance(limit, int) else int(length * limit)

    def batches_consumed_before_restart(self) -> int:
        """Batches of the current epoch already trained on when this fit resumed from a checkpoint (else 0).

        Lightning restores its loop progress before asking for the loader; it counts the batches of the
        epoch so far and ends the epoch at the loader's length, so the loader must yield only the rest.
        """
        if self.trainer is None or not self.trainer.fit_loop.restarting:
            return 0
        return self.trainer.fit_loop.epoch_loop.batch_progress.current.ready

    def eval_loaders(self, stage: str) -> list[DataLoader]:
        replicas, rank = self.world
        loaders = []
        for dataset in self.datasets[stage]:
            if 0 < len(dataset) < replicas:  # a process without an image would fail alone, the others wait for it
                split = dataset.records[0].split
                setting = "data.val_holdout" if split == HOLDOUT else f"data.{stage}: {split}"
                raise ConfigError(
                    f"{setting} has {len(dataset)} image{'s' * (len(dataset) > 1)}, fewer than the "
                    f"{replicas} processes (trainer.devices x num_nodes), each of which takes a share of every split: "
                    f"give it {replicas} images or more, or run on {len(dataset)} process{'es' * (len(dataset) > 1)}"
                )
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


def split_key(split: Split) -> tuple[Path, Path | None]:
    """A split's images and masks folders, resolved: the same split however a config names it."""
    return split.image_dir.resolve(), split.mask_dir.resolve() if split.mask_dir is not None else None


def fit_data_line(train: list[Record], evaluated: list[list[Record]], batch_size: int, processes: int) -> str:
    """What a fit trains and validates on: each training split with its image count (after the holdout), and each
    validation split's; then the batch all ``processes`` take together and the batches of an epoch (the recipes' LR
    is not scaled with the number of processes: a try-out found no word of it as a fit starts)."""
    counts = Counter(record.split for record in train)  # in the order of data.train
    trained = " + ".join(f"{split} ({count})" for split, count in counts.items())
    total = f" = {len(train)} images" if len(counts) > 1 else " images"
    held = ", ".join(f"{records[0].split} ({len(records)})" for records in evaluated if records)
    batches = len(train) // processes // batch_size  # the sampler drops the tail, then each incomplete batch
    together = f"{batch_size} x {processes} processes = {batch_size * processes}" if processes > 1 else batch_size
    return (f"data: training on {trained}{total}; validating on {held or 'nothing'}\n"
            f"batch: {together} images a batch, {batches} batches an epoch")  # fmt: skip


def refuse_shared_names(stage: str, splits: list[Split], taken: list[str]) -> None:
    """Refuse two ``stage`` splits of one name (``A/test`` and ``B/test``, or one named as a name in ``taken``):
    scores are logged per split name (``test/test/Smeasure``), so theirs would be pooled into one row."""
    names = taken + [split.name for split in splits]
    for name in dict.fromkeys(names):
        if names.count(name) > 1:
            shared = [split for split in splits if split.name == name]
            last = shared[-1]
            raise ConfigError(
                f"data.{stage} has {names.count(name)} splits named {name!r} "
                f"({', '.join(str(split.image_dir.parent) for split in shared)}): scores are logged per split name, "
                "so theirs would be pooled into one row; give each but one as a mapping with a name of its own: "
                f"{{images: {last.image_dir}, masks: {last.mask_dir}, name: {name}-2}}"
            )
