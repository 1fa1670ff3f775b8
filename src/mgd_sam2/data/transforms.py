"""Augmentation and resizing, reproducing the released MGD-SAM2 training pipeline (docs/design.md, training).

Train, in this order, always: horizontal flip (p=0.5); a centred crop shrinking each side by a
random 1-30 px; rotation by an integer -15..14 degrees with p=0.2 (PIL bicubic image, nearest mask); PIL colour
enhancement of brightness, contrast, saturation and sharpness with the released factor grids;
then resize to the model input (PIL bilinear for the image as torchvision does on PIL images,
nearest for the mask) and ImageNet normalisation. Evaluation and prediction only resize and normalise.
Normalisation is `normalize_image`, the released float32 arithmetic, for every pipeline.
"""

from __future__ import annotations

from typing import Any

import albumentations as A
import numpy as np
import torch
from PIL import Image, ImageEnhance
from torch import Tensor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize_image(image: np.ndarray) -> Tensor:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32 ``(x / 255 - mean) / std``: torchvision's ToTensor then
    Normalize, the released code's arithmetic in the same order (so inputs match it bit for bit)."""
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div(255)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(3, 1, 1)
    return (x - mean) / std


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 -> (size[0], size[1], 3) with PIL's bilinear filter (antialiased when shrinking)."""
    if image.shape[:2] == tuple(size):
        return image
    return np.array(Image.fromarray(image).resize((size[1], size[0]), Image.Resampling.BILINEAR))


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) uint8 -> size, nearest neighbour (PIL's, as the released pipeline)."""
    if mask.shape[:2] == tuple(size):
        return mask
    return np.array(Image.fromarray(mask).resize((size[1], size[0]), Image.Resampling.NEAREST))


class PILResize(A.DualTransform):
    """Resize to ``height x width``: image PIL bilinear, mask nearest."""

    def __init__(self, height: int, width: int, p: float = 1.0) -> None:
        super().__init__(p=p)
        self.height, self.width = height, width

    def apply(self, img: np.ndarray, **params: Any) -> np.ndarray:
        return resize_image(img, (self.height, self.width))

    def apply_to_mask(self, mask: np.ndarray, **params: Any) -> np.ndarray:
        return resize_mask(mask, (self.height, self.width))

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("height", "width")


class CenteredJitterCrop(A.DualTransform):
    """Centred crop of width in [W - max_shrink, W) and height in [H - max_shrink, H)."""

    def __init__(self, max_shrink: int = 30, p: float = 1.0) -> None:
        super().__init__(p=p)
        self.max_shrink = max_shrink

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        height, width = params["shape"][:2]
        crop_w = self.py_random.randint(max(1, width - self.max_shrink), width - 1) if width > 1 else width
        crop_h = self.py_random.randint(max(1, height - self.max_shrink), height - 1) if height > 1 else height
        # the released box: ((W - w) >> 1, (H - h) >> 1, (W + w) >> 1, (H + h) >> 1)
        return {"box": ((width - crop_w) >> 1, (height - crop_h) >> 1, (width + crop_w) >> 1, (height + crop_h) >> 1)}

    def apply(self, img: np.ndarray, box: tuple[int, int, int, int] = (0, 0, 0, 0), **params: Any) -> np.ndarray:
        left, top, right, bottom = box
        return img[top:bottom, left:right]

    def apply_to_mask(
        self, mask: np.ndarray, box: tuple[int, int, int, int] = (0, 0, 0, 0), **params: Any
    ) -> np.ndarray:
        return self.apply(mask, box=box)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("max_shrink",)


class PILRotate(A.DualTransform):
    """The released rotation: an integer angle in [-limit, limit) degrees (numpy's ``randint(-limit, limit)``),
    counter-clockwise about the centre, same size, black corners; PIL bicubic for the image, nearest for the mask."""

    def __init__(self, limit: int = 15, p: float = 0.2) -> None:
        super().__init__(p=p)
        self.limit = limit

    def get_params(self) -> dict[str, Any]:
        return {"angle": self.py_random.randint(-self.limit, self.limit - 1)}

    def apply(self, img: np.ndarray, angle: int = 0, **params: Any) -> np.ndarray:
        return np.array(Image.fromarray(img).rotate(angle, Image.Resampling.BICUBIC))

    def apply_to_mask(self, mask: np.ndarray, angle: int = 0, **params: Any) -> np.ndarray:
        return np.array(Image.fromarray(mask).rotate(angle, Image.Resampling.NEAREST))

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("limit",)


class PILColorEnhance(A.ImageOnlyTransform):
    """PIL ImageEnhance brightness [0.5, 1.5], contrast [0.5, 1.5], colour [0, 2], sharpness [0, 3], in steps of 0.1."""

    def get_params(self) -> dict[str, Any]:
        randint = self.py_random.randint
        return {"factors": (randint(5, 15) / 10, randint(5, 15) / 10, randint(0, 20) / 10, randint(0, 30) / 10)}

    def apply(
        self, img: np.ndarray, factors: tuple[float, float, float, float] = (1, 1, 1, 1), **params: Any
    ) -> np.ndarray:
        image = Image.fromarray(img)
        for enhancer, factor in zip(
            (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color, ImageEnhance.Sharpness),
            factors,
            strict=True,
        ):
            image = enhancer(image).enhance(factor)
        return np.array(image)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ()


def train_transform(size: int, seed: int | None = None) -> A.Compose:
    """The released training augmentation, then resize to ``size`` x ``size`` (uint8 arrays; normalise with
    `normalize_image`)."""
    return A.Compose(
        [
            A.HorizontalFlip(p=0.5),
            CenteredJitterCrop(max_shrink=30),
            PILRotate(limit=15, p=0.2),
            PILColorEnhance(p=1.0),
            PILResize(size, size),
        ],
        seed=seed,
    )


def eval_transform(size: int) -> A.Compose:
    """Resize to ``size`` x ``size``; deterministic."""
    return A.Compose([PILResize(size, size)])
