"""Writing predictions: 8-bit PNG masks at each image's original size, optional binary masks and RGBA cut-outs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from lightning.pytorch.callbacks import BasePredictionWriter
from PIL import Image

from mgd_sam2.data.io import UnreadableImageError, read_image
from mgd_sam2.utils.files import atomic_path

CUTOUT_SUFFIX = "_cutout"


def output_paths(output: Path, name: str, cutout: bool) -> list[Path]:
    """The files written for the image called ``name``: its mask, and its cut-out when asked for."""
    paths = [output / f"{name}.png"]
    if cutout:
        paths.append(output / f"{name}{CUTOUT_SUFFIX}.png")
    return paths


class MaskWriter(BasePredictionWriter):
    """Saves every predicted map as ``OUTPUT/<stem>.png`` (8-bit, or 0/255 with ``binary``) and, with
    ``cutout``, ``OUTPUT/<stem>_cutout.png``: the original image with the mask as alpha. Writes are
    atomic; images that failed to load are reported in ``failures`` and skipped."""

    def __init__(self, output: str | Path, binary: bool = False, cutout: bool = False) -> None:
        super().__init__(write_interval="batch")
        self.output, self.binary, self.cutout = Path(output), binary, cutout
        self.written: list[Path] = []
        self.failures: list[tuple[str, str]] = []

    def write_on_batch_end(
        self,
        trainer: Any,
        pl_module: Any,
        prediction: dict[str, Any],
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        self.failures += [(path, message) for path, message in prediction["errors"]]
        for mask, name, path in zip(prediction["maps"], prediction["name"], prediction["path"], strict=True):
            mask = mask.numpy()
            if self.binary:
                mask = np.where(mask > 128, 255, 0).astype(np.uint8)
            mask_path, *cutout_path = output_paths(self.output, name, self.cutout)
            with atomic_path(mask_path) as temporary:
                Image.fromarray(mask).save(temporary, format="PNG")
            self.written.append(mask_path)
            if cutout_path:
                try:
                    image = read_image(path, exif_transpose=True)
                except UnreadableImageError as error:
                    self.failures.append((path, str(error)))
                    continue
                with atomic_path(cutout_path[0]) as temporary:
                    Image.fromarray(np.dstack([image, mask]), "RGBA").save(temporary, format="PNG")
                self.written.append(cutout_path[0])

    def on_predict_end(self, trainer: Any, pl_module: Any) -> None:
        print(f"wrote {len(self.written)} files to {self.output}")
        for path, message in self.failures:
            print(f"skipped {path}: {message}", file=sys.stderr)


def predict_files(
    module: Any,
    images: list[str],
    writer: MaskWriter,
    device: str = "auto",
    precision: str = "auto",
    batch_size: int = 1,
    workers: int = 2,
) -> MaskWriter:
    """Run ``module`` on ``images`` through Lightning's predict loop, saving with ``writer`` (returned, with its
    ``written`` and ``failures``). ``device`` auto/cpu/cuda; ``precision`` auto = bf16-mixed on GPU, 32-true on CPU."""
    import torch
    from lightning.pytorch import Trainer

    from mgd_sam2.data.datamodule import SegmentationDataModule

    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if precision == "auto":
        precision = "bf16-mixed" if cuda else "32-true"
    data = SegmentationDataModule(
        predict=images, input_size=module.input_size, eval_batch_size=batch_size, num_workers=workers, check=False
    )
    trainer = Trainer(
        accelerator="gpu" if cuda else "cpu",
        devices=1,
        precision=precision,
        logger=False,
        callbacks=[writer],
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    trainer.predict(module, datamodule=data, return_predictions=False)
    return writer
