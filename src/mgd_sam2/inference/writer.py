"""Writing predictions: 8-bit PNG masks at each image's original size, optional binary masks and RGBA cut-outs.

Every PNG we write records how it was made in a text chunk (a digest of each weights file, the options that change
its bytes, and a digest of the image file it was made of; ``data.io.provenance`` reads it), so a later run can tell its
own outputs from a user's files and redo outputs made with other settings or of another image of the same name. The
digests are of the files' bytes, not their paths: the app's mask of an uploaded photo is the file predict writes for
it and names no folder of the server, and weights copied elsewhere make the same outputs, which are kept.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from lightning.pytorch import Callback
from lightning.pytorch.callbacks import BasePredictionWriter
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from mgd_sam2.data.datasets import Record
from mgd_sam2.data.io import (
    CUTOUT_SUFFIX,
    DEFAULT_MAX_PIXELS,
    FOREGROUND_THRESHOLD,
    PROVENANCE_KEY,
    UnreadableImageError,
    provenance,
    read_alpha,
    read_image,
    rgb_profile,
)
from mgd_sam2.errors import ConfigError
from mgd_sam2.utils.files import atomic_path, file_digest, file_key
from mgd_sam2.utils.progress import plural

# zlib level of the RGBA cut-outs: PIL's default (6) takes several times as long to encode a photo-sized cut-out
# for a slightly smaller file; masks compress far better at the default and keep it (docs/design.md, measured
# constants).
CUTOUT_PNG_LEVEL = 1


def binary_mask(mask: np.ndarray, threshold: int = FOREGROUND_THRESHOLD) -> np.ndarray:
    """(H, W) uint8 8-bit mask -> 0/255 mask, foreground where the mask is above ``threshold``."""
    return np.where(mask > threshold, 255, 0).astype(np.uint8)


def cutout_image(
    rgb: np.ndarray, mask: np.ndarray, alpha: np.ndarray | None = None, profile: bytes | None = None
) -> Image.Image:
    """The RGBA cut-out: the (H, W, 3) uint8 image ``rgb`` with the (H, W) uint8 ``mask`` as alpha, times the image's
    own (H, W) uint8 ``alpha`` where it has one (what was transparent stays so), rounded to the nearest level; with
    the photo's RGB colour ``profile`` (`rgb_profile`), which PNG files and PIL keep (without it, a Display P3 or
    Adobe RGB photo's cut-out is shown as sRGB, duller)."""
    if alpha is not None:
        mask = ((mask.astype(np.uint16) * alpha + 127) // 255).astype(np.uint8)
    cutout = Image.fromarray(np.dstack([rgb, mask]), "RGBA")
    if profile:
        cutout.info["icc_profile"] = profile
    return cutout


def output_paths(output: Path, name: str, cutout: bool) -> list[Path]:
    """The files written for the image called ``name``: its mask, and its cut-out when asked for."""
    paths = [output / f"{name}.png"]
    if cutout:
        paths.append(output / f"{name}{CUTOUT_SUFFIX}.png")
    return paths


IMAGE_KEY = "image"  # the provenance entry of the image file's digest


VERSION_CAUSE = "version"  # outputs whose files earlier versions recorded by [path, size, modification time]
_ABSENT = object()  # an entry one record has and the other lacks


def differences(recorded: dict[str, Any], expected: dict[str, Any]) -> set[str]:
    """The entries in which an output's ``recorded`` provenance differs from ``expected`` ("weights", "image", or an
    option's name; one present in only one of them differs); outputs written before image digests were recorded (no
    ``image`` entry) are taken as made of the image they are named after. ``VERSION_CAUSE`` alone for the form of
    earlier versions, which recorded the weights and image files by path (they differ whatever the user changed)."""
    keys = (set(recorded) | set(expected)) - ({IMAGE_KEY} if IMAGE_KEY not in recorded else set())
    changed = {key for key in keys if recorded.get(key, _ABSENT) != expected.get(key, _ABSENT)}
    weights = recorded.get("weights")  # a list, unless the record was edited by hand
    files = [*(weights if isinstance(weights, list) else []), recorded.get(IMAGE_KEY)]
    return {VERSION_CAUSE} if changed and any(isinstance(entry, list) for entry in files) else changed


def made_as(recorded: dict[str, Any], expected: dict[str, Any]) -> bool:
    """Whether an output's ``recorded`` provenance is ``expected``'s: no `differences`."""
    return not differences(recorded, expected)


@dataclass
class OutputPlan:
    todo: list[Record]  # images to predict
    cutouts: list[Record]  # images whose mask is there, as it would be made now, and whose cut-out is not
    skipped: int  # images whose outputs exist, made of the same image file with the same weights and options
    redone: int  # images in todo whose existing outputs were made with other weights or options, or of another image
    # why, counted by image: "weights", "image", VERSION_CAUSE or an option's name; the first image of "image"
    causes: Counter[str] = field(default_factory=Counter)
    image_example: Path | None = None

    def redo_note(self) -> str:
        """The redone images and why, in one line ("" where none): "2 images have outputs made with other weights
        (2); with other options: binary (2); redoing them"."""
        if not self.redone:
            return ""
        parts = []
        if self.causes["weights"]:
            parts.append(f"with other weights ({self.causes['weights']})")
        named = ("weights", IMAGE_KEY, VERSION_CAUSE)
        options = sorted(key for key in self.causes if key not in named and self.causes[key])
        if options:
            parts.append(f"with other options: {', '.join(f'{key} ({self.causes[key]})' for key in options)}")
        if self.causes[VERSION_CAUSE]:
            earlier = self.causes[VERSION_CAUSE]
            parts.append(f"by an earlier version of mgd-sam2, which recorded files by path ({earlier})")
        if self.causes[IMAGE_KEY]:
            parts.append(f"of another image file of the same name, or of the same file before it changed "
                         f"({self.causes[IMAGE_KEY]}, e.g. {self.image_example})")  # fmt: skip
        counted = "1 image has" if self.redone == 1 else f"{self.redone} images have"
        return f"{counted} outputs made {'; '.join(parts)}; redoing them"


def plan_outputs(
    records: list[Record], writer: MaskWriter, overwrite: bool = False, flag: str = "--output"
) -> OutputPlan:
    """Which images to predict into ``writer.output``. Raises ConfigError, before anything is written, when an
    output path holds a file this project did not write: a user's file is never overwritten (``flag``: the option
    that chose the folder, for the message)."""
    todo, cutouts, skipped, redone, foreign, causes, image_example = [], [], 0, 0, [], Counter(), None
    for record in records:
        outputs = output_paths(writer.output, record.name, writer.cutout)
        paths = [path for path in outputs if path.exists()]
        recorded = [provenance(path) for path in paths]
        foreign += [path for path, settings in zip(paths, recorded, strict=True) if settings is None]
        if not any(recorded):  # nothing of ours there: no digest to compare yet (it is taken when writing)
            todo.append(record)
            continue
        complete = len(paths) == len(outputs)
        expected = writer.recorded(record.image)
        if not overwrite and all(made_as(settings, expected) for settings in recorded if settings):
            if complete:
                skipped += 1
                continue
            if paths == outputs[:1]:  # the mask, of ours
                cutouts.append(record)
                continue
        changed = set().union(*(differences(settings, expected) for settings in recorded if settings))
        redone += bool(changed)
        causes.update(changed)
        image_example = image_example or (record.image if IMAGE_KEY in changed else None)
        todo.append(record)
    if foreign:
        raise ConfigError(
            f"{writer.output} ({flag}) holds {len(foreign)} file(s) that mgd-sam2 did not write where masks would go, "
            f"e.g. {foreign[0]}; they are never overwritten: choose another {flag} or move them"
        )
    return OutputPlan(todo, cutouts, skipped, redone, causes, image_example)


class MaskWriter(BasePredictionWriter):
    """Saves every predicted map as ``OUTPUT/<stem>.png`` (8-bit, or 0/255 with ``binary``) and, with
    ``cutout``, ``OUTPUT/<stem>_cutout.png``: the original image with the mask as alpha. Writes are
    atomic; images that failed to load are reported in ``failures`` and skipped.

    The predict loop (inference/predict.py) calls `write` and `finish`; as a Lightning
    callback (``mgd-sam2 predict -c CONFIG``) the Trainer calls them through its hooks. ``settings``
    (the weights and options that change the output bytes) are recorded in every file with ``binary``.
    """

    def __init__(
        self,
        output: str | Path,
        binary: bool = False,
        cutout: bool = False,
        settings: dict[str, Any] | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        super().__init__(write_interval="batch")
        self.output, self.binary, self.cutout, self.max_pixels = Path(output), binary, cutout, max_pixels
        self.settings = {**(settings or {}), "binary": binary}
        self.written: list[Path] = []
        self.replaced = 0  # of the files written, those that replaced an earlier run's file of ours
        self.removed: list[Path] = []  # cut-outs of ours that no longer matched the mask written beside them
        self.failures: list[tuple[str, str]] = []
        self.skipped_total = 0  # the failures of all processes together, in a multi-process predict -c
        self.sources: dict[Path, str] = {}  # the image each file written was written for
        self.digests: dict[tuple, str] = {}  # file_key -> file_digest: each image read once, however many

    def save_png(self, image: Image.Image, path: Path, source: str, compress_level: int = 6) -> bool:
        """Write ``path`` atomically with the settings recorded; a file there that predict did not write, or that
        this writer wrote for another image (two images of one name, within one process), is never replaced (the
        image is reported in ``failures`` instead, and False returned)."""
        if path.exists() and provenance(path) is None:
            self.failures.append((source, f"{path} exists and was not written by mgd-sam2 predict; left untouched"))
            return False
        if self.sources.get(path, source) != source:
            clash = f"{path} was written for {self.sources[path]}, an image of the same name; left untouched"
            self.failures.append((source, f"{clash}: rename one of them, or predict them into separate folders"))
            return False
        replacing = path.exists() and path not in self.sources  # an earlier run's (a user's is refused above)
        info = PngInfo()
        info.add_text(PROVENANCE_KEY, json.dumps(self.recorded(source), sort_keys=True))
        with atomic_path(path) as temporary:
            image.save(temporary, format="PNG", pnginfo=info, compress_level=compress_level)
        self.written.append(path)
        self.replaced += replacing
        self.sources[path] = source
        return True

    def recorded(self, source: str | Path) -> dict[str, Any]:
        """What the outputs of the image ``source`` record: these settings and the image file's digest."""
        if not Path(source).is_file():
            return {**self.settings, IMAGE_KEY: None}
        key = file_key(source)
        if key not in self.digests:
            self.digests[key] = file_digest(source)
        return {**self.settings, IMAGE_KEY: self.digests[key]}

    def write(self, prediction: dict[str, Any]) -> None:
        """prediction: {"maps": [(H, W) uint8 tensors], "name": [stems], "path": [image paths],
        "errors": [(path, message)]}."""
        self.failures += [(path, message) for path, message in prediction["errors"]]
        for mask, name, path in zip(prediction["maps"], prediction["name"], prediction["path"], strict=True):
            self.save(mask.numpy(), name, path)

    def save(self, mask: np.ndarray, name: str, source: str | Path, image: np.ndarray | None = None) -> list[Path]:
        """Write the (H, W) uint8 ``mask`` of the image ``source`` as ``name``'s outputs; the cut-out is made of
        ``image`` ((H, W, 3) uint8 RGB, as read by data.io.read_image) or, without it, of ``source`` read again.
        Returns the paths written (none where a failure was reported)."""
        source = str(source)
        if self.binary:
            mask = binary_mask(mask)
        mask_path, *cutout_path = output_paths(self.output, name, self.cutout)
        if not self.save_png(Image.fromarray(mask), mask_path, source):
            return []  # reported once, and no cut-out of a mask that was not written
        if not cutout_path:
            self.remove_stale_cutout(name, source)
            return [mask_path]
        return [mask_path, *self.save_cutout(mask, name, source, image)]

    def save_cutout(self, mask: np.ndarray, name: str, source: str, image: np.ndarray | None = None) -> list[Path]:
        """Write the cut-out of the image ``source`` (``image`` where read already) with the (H, W) uint8 ``mask``
        written for it as ``name``'s; returns the path written (none where a failure was reported)."""
        try:
            image = read_image(source, max_pixels=self.max_pixels) if image is None else image
            alpha = read_alpha(source, self.max_pixels) if Path(source).is_file() else None
        except UnreadableImageError as error:
            self.failures.append((source, str(error)))
            return []
        path = output_paths(self.output, name, cutout=True)[1]
        cutout = cutout_image(image, mask, alpha, rgb_profile(source) if Path(source).is_file() else None)
        return [path] if self.save_png(cutout, path, source, CUTOUT_PNG_LEVEL) else []

    def cut_out(self, records: list[Record]) -> list[Record]:
        """The cut-outs of ``records`` made from their masks, written earlier with the same weights, options and
        image (`plan_outputs`' ``cutouts``): the bytes predicting them again would give, without the model. Returns
        the records whose mask is no longer as predict wrote it (edited since: another mode or size, cut short), to
        be predicted again."""
        again = []
        for record in records:
            source = str(record.image)
            try:
                with Image.open(output_paths(self.output, record.name, cutout=False)[0]) as file:
                    mask = np.asarray(file) if file.mode == "L" else None
                image = read_image(source, max_pixels=self.max_pixels)
            except UnreadableImageError as error:  # the photo: as a prediction would report it
                self.failures.append((source, str(error)))
                continue
            except (OSError, SyntaxError, ValueError):  # the mask
                mask = None
            if mask is None or mask.shape != image.shape[:2]:
                again.append(record)
                continue
            self.save_cutout(mask, record.name, source, image)
        return again

    def remove_stale_cutout(self, name: str, source: str) -> None:
        """A mask written without ``cutout`` beside a cut-out that an earlier run of ours made with other weights or
        options (or of another image): remove that cut-out, which no longer shows this mask."""
        path = self.output / f"{name}{CUTOUT_SUFFIX}.png"
        settings = provenance(path) if path.is_file() else None
        if settings is not None and not made_as(settings, self.recorded(source)):
            path.unlink()
            self.removed.append(path)

    def finish(self) -> None:
        """Say what was written and removed, and list the images that were skipped."""
        self.say_written(len(self.written), self.replaced)
        self.say_removed_and_skipped()

    def say_written(self, written: int, replaced: int) -> None:
        if written:
            replacing = f" (replacing {replaced} that an earlier run wrote)" if replaced else ""
            print(f"wrote {plural(written, 'file')} to {self.output}{replacing}")
        else:
            print("wrote no file")

    def say_removed_and_skipped(self) -> None:
        if self.removed:
            print(f"removed {plural(len(self.removed), 'cut-out')} of an earlier run that no longer matched their "
                  f"masks, e.g. {self.removed[0]} (--cutout writes them anew)")  # fmt: skip
        for path, message in self.failures:  # the path once: "skipped X: cannot read X: …" says it twice
            print(f"skipped {path}: {message.removeprefix(f'cannot read {path}: ')}", file=sys.stderr)

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
        if trainer.world_size == 1:
            self.finish()
            return
        # each process wrote its share: the totals are said once, and the first process's exit status counts the
        # failures of all (Lightning's launcher returns the first's; the others' are not seen). The one collective
        # call after the loader's: where a process failed during predict, the others wait here until the launcher
        # ends them (torchrun, srun --kill-on-bad-exit, Lightning's for a process other than the first) or the
        # process group's timeout
        mine = torch.tensor([len(self.written), self.replaced, len(self.failures)], device=pl_module.device)
        written, replaced, self.skipped_total = trainer.strategy.reduce(mine, reduce_op="sum").tolist()
        if trainer.is_global_zero:
            self.say_written(written, replaced)
        self.say_removed_and_skipped()


def map_digest(mask: np.ndarray) -> str:
    """SHA-256 of an (H, W) uint8 map's size and pixels: equal digests are equal maps, pixel for pixel."""
    digest = hashlib.sha256(np.asarray(mask.shape, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(mask, dtype=np.uint8).tobytes())
    return digest.hexdigest()


class ScoredMapWriter(Callback):
    """Saves the 8-bit maps the test step scored (its ``outputs``) as ``OUTPUT/<split>/<stem>.png`` with a
    `MaskWriter` per split, and keeps each map's `map_digest` in ``digests`` ({split: {stem:
    digest}}), so the files can be checked against what was scored, pixel for pixel."""

    def __init__(self, output: str | Path, settings: dict[str, Any]) -> None:
        self.output, self.settings = Path(output), settings
        self.writers: dict[str, MaskWriter] = {}
        self.digests: dict[str, dict[str, str]] = {}

    def on_test_batch_end(
        self, trainer: Any, pl_module: Any, outputs: dict[str, Any], batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        split = outputs["split"]
        if split not in self.writers:
            self.writers[split] = MaskWriter(self.output / split, settings=self.settings)
            self.digests[split] = {}
        self.writers[split].write(outputs)
        for mask, name in zip(outputs["maps"], outputs["name"], strict=True):
            self.digests[split][name] = map_digest(mask.numpy())
