"""The one inference path: `Segmenter` resolves the weights, backend, device and precision once and turns
images (files, PIL images, arrays) into 8-bit masks at their own size.

``mgd-sam2 predict``, the app and ``benchmark accuracy`` go through it, so a mask from Python equals the file
predict writes, byte for byte:

```python
from mgd_sam2 import Segmenter

segmenter = Segmenter.load("runs/demo/version_0/checkpoints/best.ckpt")
mask = segmenter.predict("photo.jpg")  # (H, W) uint8 at the photo's size
segmenter.cutout("photo.jpg").save("photo_cutout.png")  # RGBA, the mask as alpha
```
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np
import torch
from PIL import Image

from mgd_sam2.data.datasets import Record, SegmentationDataset, collate
from mgd_sam2.data.io import (
    DEFAULT_MAX_PIXELS,
    FOREGROUND_THRESHOLD,
    image_from_memory,
    read_alpha,
    read_image,
    rgb_profile,
)
from mgd_sam2.errors import ConfigError
from mgd_sam2.inference.backends import Backend, OnnxBackend, OpenVinoBackend, TorchBackend
from mgd_sam2.inference.detail import OFF, Detail, chosen_detail
from mgd_sam2.inference.devices import EXPORTED_BACKENDS, check_names, resolve_device
from mgd_sam2.inference.export_formats import EXPORT_BACKENDS
from mgd_sam2.inference.loading import (
    backend_name,
    check_exported_flags,
    exported_precision,
    load_network,
    refuse_export_stem,
    weights_digests,
)
from mgd_sam2.inference.predict import check_tta, predict_batch, predict_files
from mgd_sam2.inference.writer import MaskWriter, binary_mask, cutout_image
from mgd_sam2.models.network import MGDSAM2

ImageInput = Union[str, Path, Image.Image, np.ndarray]


@dataclass(frozen=True)
class InferenceSettings:
    """Where and how the weights run, resolved from the user's choices (every "auto" decided)."""

    weights: str  # the file (or model folder) given
    weights_extra: str | None  # trained weights for a SAM2 checkpoint
    backend: str  # torch, onnx or openvino
    device: str  # cpu or cuda
    precision: str  # 32-true or bf16-mixed (Lightning's names, the CLI's)
    detail: Detail = OFF  # how much of a large image's pixels the network sees (inference/detail.py)
    # SHA-256 of each weights file, taken once as the settings are resolved (a file replaced later, as a training run
    # rewrites best.ckpt beside a running app, is not what this model runs)
    weights_digests: tuple[str, ...] = ()

    @classmethod
    def resolve(
        cls,
        weights: str | Path,
        weights_extra: str | Path | None,
        backend: str,
        device: str,
        precision: str,
        detail: Detail = OFF,
    ) -> InferenceSettings:
        """Resolve the flags of predict/the app (a Hub id is downloaded here, to its local folder); flags a backend
        cannot honour raise ConfigError or CheckpointError here, before any image is read."""
        from mgd_sam2.inference.model_folder import hub_folder

        check_names(device, precision, backend)
        refuse_export_stem(weights)  # before a stem with a folder (out/model) is taken for a Hub id
        weights = hub_folder(weights) or weights  # a Hub id: its downloaded folder, then read like any folder
        runs = backend_name(weights, backend)
        if runs == "torch" and Path(weights).suffix in EXPORT_BACKENDS:
            raise ConfigError(
                f"--backend torch runs PyTorch weights, and {weights} is an export of `mgd-sam2 model export`: leave "
                "--backend at auto, or give onnx or openvino"
            )
        if runs == "torch":
            target, autocast = resolve_device(device, precision)
            device, precision = target.type, "bf16-mixed" if autocast else "32-true"
        else:
            check_exported_flags(runs, weights, weights_extra, device, precision)
            device, precision = "cpu", exported_precision(runs, weights, precision)
        extra = str(weights_extra) if weights_extra is not None else None
        digests = tuple(weights_digests(weights, weights_extra))
        return cls(str(weights), extra, runs, device, precision, detail, digests)

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """The torch backend's autocast dtype (None: fp32)."""
        return torch.bfloat16 if self.precision == "bf16-mixed" else None

    def writer(
        self, output: str | Path, *, binary: bool, cutout: bool, tta: bool, max_pixels: int = DEFAULT_MAX_PIXELS
    ) -> MaskWriter:
        """A MaskWriter into ``output`` that records these settings in every PNG (what predict writes with)."""
        return MaskWriter(output, binary, cutout, settings=self.recorded(tta), max_pixels=max_pixels)

    def recorded(self, tta: bool) -> dict[str, Any]:
        """What a mask's bytes depend on besides its image, recorded in every PNG written (inference/writer.py):
        the weights files' digests, TTA, the backend, the precision and a detail mode other than off."""
        return {
            "weights": list(self.weights_digests),
            "tta": tta,
            "backend": self.backend,
            "precision": self.precision,
            **self.detail.recorded(),
        }


def check_max_pixels(max_pixels: int) -> None:
    """A ConfigError for a pixel limit that is no whole number of pixels, 1 or more (the CLI's --max-pixels)."""
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, numbers.Integral) or max_pixels < 1:
        raise ConfigError(f"max_pixels is a whole number of pixels, 1 or more, got {max_pixels!r}")


class Segmenter:
    """A loaded model that segments images: ``Segmenter.load(weights)`` then ``predict``, ``cutout``,
    ``predict_files`` or ``save_pretrained``.

    Bad input raises a `mgd_sam2.UserError` whose message names the problem: ``UnreadableImageError``
    for an image, ``ConfigError`` for a setting, ``CheckpointError`` for weights.
    """

    def __init__(
        self,
        backend: Backend,
        settings: InferenceSettings,
        description: str,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        check_max_pixels(max_pixels)
        self.backend, self.settings, self.description, self.max_pixels = backend, settings, description, max_pixels
        # predict's resizing and view cutting, for images in memory (Segmenter.masks)
        self.inputs = SegmentationDataset(
            [], backend.input_size, "predict", grid=backend.grid, keep_images=settings.detail.mode != "off"
        )

    @property
    def public_description(self) -> str:
        """``description`` with the weights files named by their names alone, no folder of this machine (the app's
        page, a model card)."""
        description = self.description
        paths = sorted((str(path) for path in (self.settings.weights, self.settings.weights_extra) if path), key=len)
        for path in reversed(paths):  # the longer first: one path may begin with the other
            description = description.replace(path, Path(path).name)
        return description

    @property
    def how(self) -> str:
        """How it runs, e.g. ``torch on cpu, 32-true, detail off``."""
        settings = self.settings
        return f"{settings.backend} on {settings.device}, {settings.precision}, detail {settings.detail.label}"

    @property
    def model_lines(self) -> str:
        """What the commands print before they predict: ``model: <description>`` and ``runs: <how>``."""
        return f"model: {self.description}\nruns: {self.how}"

    def __repr__(self) -> str:
        """What runs and how, e.g. ``Segmenter(model.ckpt: MGD-SAM2 micro ..., torch on cpu, 32-true, detail off)``."""
        return f"Segmenter({self.description}, {self.how})"

    @classmethod
    def load(
        cls,
        weights: str | Path,
        *,
        weights_extra: str | Path | None = None,
        backend: str = "auto",
        device: str = "auto",
        precision: str = "auto",
        max_pixels: int = DEFAULT_MAX_PIXELS,
        detail: str | Detail = "off",
        detail_zoom: int | None = None,
    ) -> Segmenter:
        """Load anything ``mgd-sam2 predict --ckpt`` takes.

        Args:
            weights: a Lightning checkpoint of a training run, the authors' released MGD-SAM2 weights, a SAM2.1
                checkpoint (with ``weights_extra``), an ``.onnx`` export, an OpenVINO ``.xml``, a model folder
                written by `save_pretrained`, or the Hub id of one (``owner/name``, downloaded with
                ``huggingface_hub``).
            weights_extra: the trained weights of ``mgd-sam2 model export --out`` for a SAM2.1 checkpoint.
            backend: auto (by the file: onnx for .onnx, openvino for .xml, else torch), torch, onnx or openvino.
            device: auto (CUDA when available), cpu or cuda.
            precision: auto (bf16-mixed on a GPU, 32-true on the CPU; for an export, the precision ``model export
                --fastest`` recorded in it where this CPU has it), 32-true or bf16-mixed.
            max_pixels: images larger than this are refused (a guard against decompression bombs and memory).
            detail: off (the plain path: the image resized to the model input), crop (a second pass on the object's
                box), tiles (overlapping tiles over the uncertain band) or guided (the plain probabilities upsampled
                with a guided filter on the image's pixels), as ``predict --detail``; the same weights
                (docs/prediction.md, detail mode); or a Detail (``from mgd_sam2 import Detail``), such as another
                Segmenter's ``settings.detail``.
            detail_zoom: tiles: at most this many along each side of an image (``predict --detail-zoom``; None: the
                default, ``DEFAULT_ZOOM``). A ConfigError with another mode, where it would go unused.
        """
        check_max_pixels(max_pixels)  # before the weights load
        settings = InferenceSettings.resolve(
            weights, weights_extra, backend, device, precision, chosen_detail(detail, detail_zoom)
        )
        return cls.from_settings(settings, max_pixels)

    @classmethod
    def from_settings(
        cls, settings: InferenceSettings, max_pixels: int = DEFAULT_MAX_PIXELS, cache: bool = True
    ) -> Segmenter:
        """Load the weights ``settings`` name, as they say (``InferenceSettings.resolve`` made them); ``cache``:
        OpenVINO's compile cache (False for a file about to be thrown away)."""
        weights, weights_extra = settings.weights, settings.weights_extra
        if settings.backend in EXPORTED_BACKENDS:
            bf16 = settings.precision == "bf16-mixed"
            runner = (OnnxBackend(weights) if settings.backend == "onnx"
                      else OpenVinoBackend(weights, bf16=bf16, cache=cache))  # fmt: skip
            return cls(runner, settings, runner.describe(), max_pixels)
        network, description = load_network(weights, weights_extra)
        backend = TorchBackend(network.eval(), torch.device(settings.device), settings.autocast_dtype)
        return cls(backend, settings, description, max_pixels)

    @classmethod
    def from_network(
        cls, network: MGDSAM2, *, device: str = "auto", precision: str = "auto", name: str = "a network in memory"
    ) -> Segmenter:
        """A Segmenter around a network built in Python (e.g. ``MGDSAM2(NetworkConfig(preset="micro"))``)."""
        target, autocast_dtype = resolve_device(device, precision)
        settings = InferenceSettings(name, None, "torch", target.type, "bf16-mixed" if autocast_dtype else "32-true")
        backend = TorchBackend(network.eval(), target, settings.autocast_dtype)
        return cls(backend, settings, f"{name} ({network.described})")

    def with_detail(self, detail: str | Detail, detail_zoom: int | None = None) -> Segmenter:
        """This model with another detail mode (see `load`); the weights are shared, not loaded again."""
        settings = replace(self.settings, detail=chosen_detail(detail, detail_zoom))
        return Segmenter(self.backend, settings, self.description, self.max_pixels)

    @property
    def network(self) -> MGDSAM2:
        """The PyTorch network (the torch backend only)."""
        if not isinstance(self.backend, TorchBackend):
            name = self.backend.name
            raise ConfigError(f"the {name} backend runs an export, not a PyTorch network; load the weights it was "
                              "exported from with the torch backend")  # fmt: skip
        return self.backend.network

    def predict(
        self, image: ImageInput | Sequence[ImageInput], *, tta: bool = False, batch_size: int = 1
    ) -> np.ndarray | list[np.ndarray]:
        """(H, W) uint8 mask at the image's own size (8-bit probabilities, as predict's PNGs hold), or a list of
        them for a list of images (``batch_size`` images per forward pass).

        An image is a path, a PIL image or an ``np.ndarray`` (H×W×3 uint8 RGB; grey and RGBA as files are read).
        """
        if batch_size < 1:
            raise ConfigError(f"batch_size must be 1 or more, got {batch_size}")
        if isinstance(image, (list, tuple)):  # read batch by batch: memory holds one batch of images, not the list
            batches = (image[start : start + batch_size] for start in range(0, len(image), batch_size))
            return [mask for batch in batches for mask in self.masks([self.read(item) for item in batch], tta)]
        return self.masks([self.read(image)], tta)[0]

    def cutout(
        self, image: ImageInput, *, binary: bool = False, threshold: int = FOREGROUND_THRESHOLD, tta: bool = False
    ) -> Image.Image:
        """The image with its mask as alpha (RGBA), as ``predict --cutout`` writes it, with the image's RGB colour
        profile where it embeds one; ``binary``: a 0/255 alpha (foreground above ``threshold``, a grey level from 0
        to 254)."""
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Integral) or not 0 <= threshold <= 254:
            raise ConfigError(f"threshold is a grey level from 0 to 254 (foreground above it), got {threshold!r}")
        rgb = self.read(image)
        mask = self.masks([rgb], tta)[0]
        alpha, profile = read_alpha(image, self.max_pixels), rgb_profile(image)
        return cutout_image(rgb, binary_mask(mask, threshold) if binary else mask, alpha, profile)

    def read(self, image: ImageInput) -> np.ndarray:
        """(H, W, 3) uint8 RGB by predict's rules (EXIF orientation, grey, alpha, 16-bit, the pixel limit)."""
        if isinstance(image, (str, Path)):
            return read_image(image, self.max_pixels)
        return image_from_memory(image, self.max_pixels)

    def masks(self, images: list[np.ndarray], tta: bool) -> list[np.ndarray]:
        """One forward pass of (H, W, 3) uint8 RGB images (and the passes of the settings' detail mode, image by
        image) -> their (H, W) uint8 masks."""
        check_tta(self.backend, tta)
        batch = collate([self.inputs.predict_input(image) for image in images])
        with torch.inference_mode():  # the backend moves the views to its device
            return [m.numpy() for m in predict_batch(self.backend, batch, tta=tta, detail=self.settings.detail)["maps"]]

    def predict_files(
        self,
        images: list[Record] | list[str | Path],
        writer: MaskWriter,
        *,
        batch_size: int = 1,
        workers: int | None = None,
        tta: bool = False,
        show: bool = True,
    ) -> MaskWriter:
        """Predict image files into ``writer`` (what ``mgd-sam2 predict`` runs); returns it with ``written`` and
        ``failures``. ``workers``: loader processes (None: 2 on a GPU, 0 on the CPU)."""
        return predict_files(
            self.backend, images, writer, batch_size, workers, tta, self.max_pixels, show, self.settings.detail
        )

    def writer(
        self, output: str | Path, *, binary: bool = False, cutout: bool = False, tta: bool = False
    ) -> MaskWriter:
        """A MaskWriter into ``output`` that records this Segmenter's settings in every PNG."""
        return self.settings.writer(output, binary=binary, cutout=cutout, tta=tta, max_pixels=self.max_pixels)

    def save_pretrained(self, folder: str | Path, *, card: dict[str, Any] | None = None) -> Path:
        """Write a model folder (``config.json``, ``model.safetensors``, ``README.md`` model card) that
        ``Segmenter.load(folder)`` and ``mgd-sam2 predict --ckpt folder`` read; ``card``: what the card reports
        (``training``, ``scores``: {split: {metric: value}}); a Lightning checkpoint's own record of its training
        (`training_record`) where ``card`` gives none; the card names the weights by file name, no folder of this
        machine, and a re-saved model folder keeps its card's source. The torch backend only. A model folder written
        here before is rewritten; any other folder holding files (hidden ones aside) is a ConfigError, and nothing is
        written."""
        from mgd_sam2.inference.loading import training_record
        from mgd_sam2.inference.model_folder import check_card, folder_kept, is_model_folder, save_model_folder

        check_card(card or {})  # before dict(): a list of pairs would pass as a card
        network, card, weights = self.network, dict(card or {}), Path(self.settings.weights)
        from_files = bool(self.settings.weights_digests)  # not a network built in memory, whatever its name
        if from_files and not card.get("training") and self.settings.weights_extra is None:
            if record := training_record(weights):  # None for weights that record no training
                card["training"] = record
        kept = folder_kept(weights, "source") if from_files and is_model_folder(weights) else None
        return save_model_folder(network, folder, source=kept or self.public_description, card=card)
