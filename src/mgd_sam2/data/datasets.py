"""Samples for training, evaluation and prediction.

Every sample holds the model input at ``input_size`` (= g * V), cut into views. Evaluation samples also carry the
original GT (uint8, original resolution) with its path and split, so predictions are scored at GT
resolution; prediction samples carry the original image size and path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from mgd_sam2.data.io import (
    DEFAULT_MAX_PIXELS,
    UnreadableImageError,
    find_images,
    list_images,
    passed_over,
    provenance,
    read_image,
    read_mask,
)
from mgd_sam2.data.layouts import Split, pair_by_stem, split_folders
from mgd_sam2.data.transforms import eval_transform, normalize_image, train_transform
from mgd_sam2.data.view_cutting import tile
from mgd_sam2.errors import MissingFileError
from mgd_sam2.models.multi_view import Views, check_input_size
from mgd_sam2.utils.files import broken_link

Mode = Literal["train", "eval", "predict"]


class TrainBatch(TypedDict):
    """A collated training batch: the input and the soft target (in [0, 1]) cut into views the same way."""

    input: Views
    target: Views


class EvalBatch(TrainBatch):
    """A collated validation/test batch: plus each original GT (uint8, original size) and where it came from."""

    gt: list[torch.Tensor]
    name: list[str]
    split: list[str]
    path: list[str]
    gt_path: list[str]


class PredictBatch(TypedDict, total=False):
    """A collated prediction batch: images that loaded (input, original sizes, names; the decoded images when the
    dataset keeps them) and those that did not (``errors``: [(path, message)]); either part may be missing."""

    input: Views
    size: list[tuple[int, int]]
    image: list[np.ndarray]  # (H, W, 3) uint8 RGB
    name: list[str]
    split: list[str]
    path: list[str]
    errors: list[tuple[str, str]]


Batch = Union[TrainBatch, EvalBatch, PredictBatch]


@dataclass(frozen=True)
class Record:
    name: str  # file stem
    split: str  # split name, e.g. "DIS-TE1"
    image: Path
    mask: Path | None = None


def split_records(split: Split) -> list[Record]:
    """Paired records of a split (unpaired files are check-data's business)."""
    if split.mask_dir is None:
        return [Record(path.stem, split.name, path) for path in list_images(split.image_dir)]
    return [
        Record(stem, split.name, image, mask)
        for stem, image, mask in pair_by_stem(split.image_dir, split.mask_dir).pairs
    ]


def image_records(path: str | Path, recursive: bool = False, split: str = "predict") -> tuple[list[Record], str]:
    """Prediction input: records for an image file or the images of a folder (its tree with ``recursive``),
    and a note of what was passed over ("" when nothing). A record's name is its output name: the path
    relative to the folder without its suffix, so outputs mirror the folder tree. In a folder, the PNGs that predict
    wrote (they record how they were made) are passed over: a mask written beside its image is no input.
    """
    path = Path(path)
    if path.is_file():
        return [Record(path.stem, split, path)], ""
    if link := broken_link(path):
        raise MissingFileError(f"prediction input {path} is {link}")
    if not path.is_dir():
        raise MissingFileError(f"prediction input not found: {path}")
    images, ignored = find_images(path, recursive)
    ours = {image for image in images if image.suffix.lower() == ".png" and provenance(image) is not None}
    if ours:  # outputs of an earlier run written beside the images (or into a subfolder), not photos to segment
        ignored["masks and cut-outs that mgd-sam2 predict wrote"] += len(ours)
        images = [image for image in images if image not in ours]
    if "subfolders" in ignored:
        ignored["subfolders (--recursive to include them)"] = ignored.pop("subfolders")
    note = passed_over(ignored)
    if not images:
        image_dir, _ = split_folders(path)
        hint = f" It looks like a dataset split: use --input {image_dir}." if image_dir else ""
        raise MissingFileError(f"no images found in {path}" + (f" (ignored: {note})." if note else ".") + hint)
    return [Record(p.relative_to(path).with_suffix("").as_posix(), split, p) for p in images], note


class SegmentationDataset(Dataset):
    """Samples cut into the network's views (in the loader workers).

    Every sample has ``input``: `Views` of the normalised image (batch of 1). ``train``: the
    input (augmented unless ``augment`` is False: then only resized, as in evaluation) and ``target``, the soft
    mask cut the same way (global view nearest-resized);
    ``eval``: plus the original GT; ``predict``: the image only, with its original size, and with ``keep_images``
    also the decoded image (for detail refinement, inference/refine.py). Images over ``max_pixels`` are refused
    (data/io.py).
    """

    def __init__(
        self,
        records: list[Record],
        input_size: int,
        mode: Mode,
        grid: int = 2,
        seed: int | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        augment: bool = True,
        keep_images: bool = False,
    ) -> None:
        if mode not in ("train", "eval", "predict"):
            raise ValueError(f"mode must be train, eval or predict, got {mode!r}")
        check_input_size(input_size, grid)
        self.records, self.input_size, self.mode, self.grid = records, input_size, mode, grid
        self.max_pixels, self.seed, self.keep_images = max_pixels, seed or 0, keep_images
        augmented = mode == "train" and augment
        self.transform = train_transform(input_size, seed) if augmented else eval_transform(input_size)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        """``key``: an index, or ``(index, seed)`` from ResumableSampler to seed this sample's augmentation."""
        index, seed = key if isinstance(key, tuple) else (key, None)
        if seed is None and self.mode == "train":
            # an index alone (a sampler other than ResumableSampler, e.g. Lightning's for overfit_batches): the
            # image's augmentation depends on (seed, index) only, so it is the same in every epoch and worker
            seed = hash((self.seed, index)) & 0x7FFFFFFF
        if seed is not None:
            self.transform.set_random_seed(seed)
        record = self.records[index]
        if self.mode == "predict":
            try:
                image = read_image(record.image, self.max_pixels)
            except UnreadableImageError as error:  # reported by the writer; the other images go on
                return {"error": str(error), "name": record.name, "split": record.split, "path": str(record.image)}
            return {**self.predict_input(image), "name": record.name, "split": record.split, "path": str(record.image)}
        image, mask = read_image(record.image, self.max_pixels), read_mask(record.mask)
        if image.shape[:2] != mask.shape:
            raise ValueError(
                f"{record.image} is {image.shape[1]}x{image.shape[0]} but its mask {record.mask} is "
                f"{mask.shape[1]}x{mask.shape[0]}; run `mgd-sam2 check-data` on the dataset"
            )
        out = self.transform(image=image, mask=mask)
        soft_mask = torch.from_numpy(np.ascontiguousarray(out["mask"]))[None, None].float() / 255  # target in [0, 1]
        sample = {
            "input": tile(normalize_image(out["image"])[None], self.grid),
            "target": tile(soft_mask, self.grid, global_mode="nearest"),
        }
        if self.mode == "eval":
            sample.update(
                gt=torch.from_numpy(mask), name=record.name, split=record.split, path=str(record.image),
                gt_path=str(record.mask),
            )  # fmt: skip
        return sample

    def predict_input(self, image: np.ndarray) -> dict[str, Any]:
        """(H, W, 3) uint8 RGB -> {"input": its views at the input size, "size": (H, W)} and with ``keep_images``
        "image": the array itself: what a predict sample holds besides its name (the Python API feeds images in memory
        through here too)."""
        sample = {
            "input": tile(normalize_image(self.transform(image=image)["image"])[None], self.grid),
            "size": image.shape[:2],
        }
        return {**sample, "image": image} if self.keep_images else sample


def collate(samples: list[dict[str, Any]]) -> Batch:
    """Concatenate the views; keep per-sample items (original GTs of varying size, names) as lists.

    Samples that failed to load (prediction only) are set aside as ``errors``: [(path, message)].
    """
    errors = [(s["path"], s["error"]) for s in samples if "error" in s]
    good = [s for s in samples if "error" not in s]
    batch: dict[str, Any] = {"errors": errors} if errors else {}  # the keys of TrainBatch, EvalBatch or PredictBatch
    if good:
        batch.update(
            {
                key: Views.cat([s[key] for s in good]) if isinstance(good[0][key], Views) else [s[key] for s in good]
                for key in good[0]
            }
        )
    return batch
