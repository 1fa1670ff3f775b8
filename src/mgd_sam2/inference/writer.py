"""Writing predictions: 8-bit PNG masks at each image's original size, optional binary masks and RGBA cut-outs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from lightning.pytorch.callbacks import BasePredictionWriter
from PIL import Image

from mgd_sam2.data.io import FOREGROUND_THRESHOLD, UnreadableImageError, read_image
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
    atomic; images that failed to load are reported in ``failures`` and skipped.

    The predict loop (inference/predict.py) calls :meth:`write` and :meth:`finish`; as a Lightning
    callback (``mgd-sam2 predict -c CONFIG``) the Trainer calls them through its hooks.
    """

    def __init__(self, output: str | Path, binary: bool = False, cutout: bool = False) -> None:
        super().__init__(write_interval="batch")
        self.output, self.binary, self.cutout = Path(output), binary, cutout
        self.written: list[Path] = []
        self.failures: list[tuple[str, str]] = []

    def write(self, prediction: dict[str, Any]) -> None:
        """prediction: {"maps": [(H, W) uint8 tensors], "name": [stems], "path": [image paths],
        "errors": [(path, message)]}."""
        self.failures += [(path, message) for path, message in prediction["errors"]]
        for mask, name, path in zip(prediction["maps"], prediction["name"], prediction["path"], strict=True):
            mask = mask.numpy()
            if self.binary:
                mask = np.where(mask > FOREGROUND_THRESHOLD, 255, 0).astype(np.uint8)
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

    def finish(self) -> None:
        """Say what was written and list the images that were skipped."""
        print(f"wrote {len(self.written)} files to {self.output}")
        for path, message in self.failures:
            print(f"skipped {path}: {message}", file=sys.stderr)

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
        self.write(prediction)

    def on_predict_end(self, trainer: Any, pl_module: Any) -> None:
        self.finish()
