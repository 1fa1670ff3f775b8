"""Small building blocks shared by several MGD-SAM2 modules."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class CrossViewConv(nn.Conv3d):
    """Depthwise fusion of two aligned maps: DW3x3(own) + DW3x3(other) + bias.

    Implemented as the released code does, a grouped Conv3d with kernel (2, 3, 3) over the two
    maps stacked on a depth axis, so its weights load from their checkpoints unchanged.
    """

    def __init__(self, channels: int) -> None:
        super().__init__(
            channels, channels, kernel_size=(2, 3, 3), stride=(2, 1, 1), padding=(0, 1, 1), groups=channels
        )

    def forward(self, own: Tensor, other: Tensor) -> Tensor:  # (N, C, H, W) x2 -> (N, C, H, W)
        return super().forward(torch.stack([own, other], dim=2)).squeeze(2)


def sine_position_encoding(height: int, width: int, channels: int, device: torch.device | None = None) -> Tensor:
    """DETR-style normalised sine encoding of a ``height x width`` grid -> (1, channels, H, W).

    Half the channels encode y, half x, each as interleaved sin/cos at temperature 10000; positions
    are pixel centres ``(i - 0.5) / n`` scaled to 2*pi (the variant MCEM uses).
    """
    feats = channels // 2
    y = (torch.arange(1, height + 1, dtype=torch.float32, device=device) - 0.5) / (height + 1e-6) * 2 * math.pi
    x = (torch.arange(1, width + 1, dtype=torch.float32, device=device) - 0.5) / (width + 1e-6) * 2 * math.pi
    dim_t = 10000 ** (2 * (torch.arange(feats, dtype=torch.float32, device=device) // 2) / feats)

    def encode(pos: Tensor) -> Tensor:  # (n,) -> (n, feats)
        pos = pos[:, None] / dim_t
        return torch.stack((pos[:, 0::2].sin(), pos[:, 1::2].cos()), dim=2).flatten(1)

    pos_y = encode(y)[:, None, :].expand(height, width, feats)
    pos_x = encode(x)[None, :, :].expand(height, width, feats)
    return torch.cat((pos_y, pos_x), dim=2).permute(2, 0, 1).unsqueeze(0)
