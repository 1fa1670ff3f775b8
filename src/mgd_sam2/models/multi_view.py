"""The model's view layout: what the data pipeline hands the network, and how the network orders views.

The data pipeline cuts every image into one global view and g x g local views (``mgd_sam2.data.view_cutting``)
and hands the network a `Views`. Inside the network the views of a batch of B images are one
tensor, batch-major as in the released MGD-SAM2: ``[locals of image 0 (row-major), locals of image 1,
..., global 0, ..., global B-1]``, i.e. ``(g*g*B + B, C, V, V)``. Every module that mixes views
(MPAdapter, MCEM, HMIM, DRM) and the loss use the functions here, so the order is defined once.

One rule decides which input sizes tile (`check_input_size`): each view side V is a multiple of
32 (Hiera's total stride with its window embedding) and its stride-16 token grid V/16 is divisible by g
(MCEM attends cell by cell).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor

from mgd_sam2.errors import ConfigError


@dataclass
class Views:
    """B images as the network takes them (images, or masks as training targets, with C channels).

    full: (B, C, g*V, g*V) the whole input (DRM refines at this resolution; the loss's final target);
    local_views: (B, g*g, C, V, V) the g x g non-overlapping tiles of ``full``, row-major;
    global_view: (B, C, V, V) ``full`` resized by 1/g.
    """

    full: Tensor
    local_views: Tensor
    global_view: Tensor

    @property
    def grid(self) -> int:
        return math.isqrt(self.local_views.shape[1])

    @classmethod
    def cat(cls, items: list[Views]) -> Views:
        """Concatenate along the batch axis (the loaders' collate)."""
        return cls(*(torch.cat([getattr(item, field.name) for item in items]) for field in fields(cls)))

    def to(self, device: torch.device | str, non_blocking: bool | None = None) -> Views:
        """The fields on ``device``. ``non_blocking`` None: asynchronous copies to a CUDA device only (from pinned
        memory they overlap the work queued before; Lightning's batch transfer calls ``to(device)``); copies to the
        host or to other devices wait, so their result is ready when it is read."""
        if non_blocking is None:
            non_blocking = torch.device(device).type == "cuda"
        return Views(*(getattr(self, field.name).to(device, non_blocking=non_blocking) for field in fields(self)))

    def pin_memory(self) -> Views:
        """Page-locked copies, so DataLoader(pin_memory=True) pins the fields of a batch."""
        return Views(*(getattr(self, field.name).pin_memory() for field in fields(self)))


def input_size_unit(grid: int) -> int:
    """The smallest input side g*V that tiles; every valid side is a multiple of it."""
    return grid * math.lcm(32, 16 * grid)


def check_input_size(size: int, grid: int) -> None:
    """Raise ValueError unless a (size x size) input cuts into g x g views the network can take (module docstring)."""
    if grid < 1 or size <= 0 or size % input_size_unit(grid):
        raise ConfigError(
            f"input size {size} does not tile into {grid}x{grid} views: need size = grid * V with V a multiple of 32 "
            f"and V/16 divisible by the grid, i.e. a multiple of {input_size_unit(max(grid, 1))}"
        )


def nearest_input_size(size: float, grid: int) -> int:
    """The valid input side closest to ``size`` (at least one unit): for TTA scales, 0.75 x 1024 -> 768."""
    unit = input_size_unit(grid)
    return max(unit, round(size / unit) * unit)


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
    """I2P: (B, C, g*H, g*W) -> (g*g*B, C, H, W), batch-major, row-major within an image.

    Written as slices and a concatenation rather than a 6-D permute (as is `locals_to_image`): the same values, and
    in an export OpenVINO moves them without reordering its channels-last tensors to planar and back
    (docs/speed-runs.md, "The views' stitching")."""
    if x.shape[-2] % grid or x.shape[-1] % grid:
        raise ValueError(f"a {tuple(x.shape[-2:])} image does not cut into {grid}x{grid} equal tiles")
    h, w = x.shape[-2] // grid, x.shape[-1] // grid
    tiles = [x[..., i * h : (i + 1) * h, j * w : (j + 1) * w] for i in range(grid) for j in range(grid)]
    # contiguous: concatenations keep a channels-last input's layout, and a convolution then gives its weight's
    # gradient in that layout too (DDP copies such gradients into its buckets on every step)
    if x.shape[0] == 1:  # one image (an export's input): no reshape in the graph
        return torch.cat(tiles).contiguous()
    return torch.stack(tiles, dim=1).flatten(0, 1).contiguous()  # (B, g*g, C, H, W) -> batch-major


def locals_to_image(x: Tensor, grid: int) -> Tensor:
    """P2I: (g*g*B, C, H, W) -> (B, C, g*H, g*W); inverse of `image_to_locals`."""
    n = grid * grid
    if x.shape[0] % n:
        raise ValueError(f"{x.shape[0]} local views is not a multiple of {n} (grid {grid})")
    tiles = [x[k::n] for k in range(n)]  # tile k of every image: (B, C, H, W)
    rows = [torch.cat(tiles[row * grid : (row + 1) * grid], dim=-1) for row in range(grid)]
    return torch.cat(rows, dim=-2).contiguous()  # as `image_to_locals`


def split_views(x: Tensor, grid: int) -> tuple[Tensor, Tensor]:
    """(g*g*B + B, ...) -> locals (g*g*B, ...), globals (B, ...)."""
    batch = x.shape[0] // num_views(grid)
    if batch * num_views(grid) != x.shape[0]:
        raise ValueError(f"{x.shape[0]} views is not a multiple of {num_views(grid)} (grid {grid})")
    return x[: grid * grid * batch], x[grid * grid * batch :]


def join_views(locals_: Tensor, globals_: Tensor) -> Tensor:
    """Inverse of `split_views`: (g*g*B, ...) and (B, ...) -> (g*g*B + B, ...)."""
    return torch.cat([locals_, globals_], dim=0)


def arrange_views(views: Views) -> Tensor:
    """`Views` -> the network's batch-major (g*g*B + B, C, V, V) tensor."""
    return join_views(views.local_views.flatten(0, 1), views.global_view)


def stitch_locals(views: Tensor, grid: int) -> Tensor:
    """(g*g*B + B, C, H, W) views -> (B, C, g*H, g*W): the local views put back together."""
    return locals_to_image(split_views(views, grid)[0], grid)
