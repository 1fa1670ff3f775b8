"""Multi-view tiling: one global view and grid x grid local views of a (g*V)^2 image, and back.

Views are ordered batch-major, as in the released MGD-SAM2: for a batch of B images the view
tensor is ``[locals of image 0 (row-major), locals of image 1, ..., global 0, ..., global B-1]``,
i.e. ``(g*g*B + B, C, V, V)``. Every module that mixes views (MPAdapter, MCEM, HMIM, DRM) and the
data pipeline use these functions, so the ordering is defined in exactly one place.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor


def num_views(grid: int) -> int:
    """Views per image: grid*grid locals plus one global."""
    return grid * grid + 1


def resize(x: Tensor, size: tuple[int, int], mode: str = "bilinear") -> Tensor:
    """Resize (N, C, H, W) to ``size``; bilinear/bicubic use align_corners=False, no antialiasing."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if mode == "nearest":
        return F.interpolate(x, size=size, mode="nearest")
    return F.interpolate(x, size=size, mode=mode, align_corners=False)


def image_to_locals(x: Tensor, grid: int) -> Tensor:
    """I2P: (B, C, g*H, g*W) -> (g*g*B, C, H, W), batch-major, row-major within an image."""
    return rearrange(x, "b c (gh h) (gw w) -> (b gh gw) c h w", gh=grid, gw=grid)


def locals_to_image(x: Tensor, grid: int) -> Tensor:
    """P2I: (g*g*B, C, H, W) -> (B, C, g*H, g*W); inverse of :func:`image_to_locals`."""
    return rearrange(x, "(b gh gw) c h w -> b c (gh h) (gw w)", gh=grid, gw=grid)


def split_views(x: Tensor, grid: int) -> tuple[Tensor, Tensor]:
    """(g*g*B + B, ...) -> locals (g*g*B, ...), globals (B, ...)."""
    batch = x.shape[0] // num_views(grid)
    if batch * num_views(grid) != x.shape[0]:
        raise ValueError(f"{x.shape[0]} views is not a multiple of {num_views(grid)} (grid {grid})")
    return x[: grid * grid * batch], x[grid * grid * batch :]


def join_views(locals_: Tensor, globals_: Tensor) -> Tensor:
    """Inverse of :func:`split_views`: (g*g*B, ...) and (B, ...) -> (g*g*B + B, ...)."""
    return torch.cat([locals_, globals_], dim=0)


def make_views(x: Tensor, grid: int, global_mode: str = "bilinear") -> Tensor:
    """(B, C, g*V, g*V) image or mask -> (g*g*B + B, C, V, V) views.

    The global view is the whole input resized by 1/g (``bilinear`` for images, ``nearest`` for
    masks); the locals are the non-overlapping g x g tiles.
    """
    height, width = x.shape[-2:]
    if height % grid or width % grid:
        raise ValueError(f"input {height}x{width} is not divisible by the grid {grid}")
    globals_ = resize(x, (height // grid, width // grid), mode=global_mode)
    return join_views(image_to_locals(x, grid), globals_)


def stitch_locals(views: Tensor, grid: int) -> Tensor:
    """(g*g*B + B, C, H, W) views -> (B, C, g*H, g*W): the local views put back together."""
    return locals_to_image(split_views(views, grid)[0], grid)
