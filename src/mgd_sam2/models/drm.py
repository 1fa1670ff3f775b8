"""DRM, the detail refinement module: full-resolution logits from the image and the decoder embedding."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mgd_sam2.models.layers import CrossViewConv
from mgd_sam2.models.multi_view import locals_to_image, resize, split_views


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 3) -> list[nn.Module]:
    """Bias-free conv, BatchNorm, ReLU (as a list, so callers can put it in their own Sequential)."""
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


class MultiKernelEnhance(nn.Module):
    """ME: x -> ReLU(x + BN(1x1([BN(conv3(r)), BN(conv5(r)), BN(conv7(r))] after ReLU))), r = 1x1(x)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        half = dim // 2
        self.reduce = nn.Conv2d(dim, half, 1)
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Conv2d(half, half, k, padding=k // 2), nn.BatchNorm2d(half)) for k in (3, 5, 7)
        )
        self.project = nn.Sequential(nn.ReLU(), nn.Conv2d(3 * half, dim, 1), nn.BatchNorm2d(dim))
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:  # (B, dim, H, W) -> same
        reduced = self.reduce(x)
        return self.act(x + self.project(torch.cat([branch(reduced) for branch in self.branches], dim=1)))


class DetailRefinement(nn.Module):
    """Gradual restoration: fuse the stitched local and upsampled global embeddings at (g*V/4)^2,
    then twice add image features and upsample x2, ending at the (g*V)^2 input resolution.

    BatchNorm is kept as released; Lightning's ``sync_batchnorm`` turns it into SyncBatchNorm under DDP.
    """

    def __init__(self, grid: int, embed_dim: int = 32, image_dim: int = 32) -> None:
        super().__init__()
        self.grid = grid
        self.image_stem = nn.Sequential(*conv_bn_relu(3, image_dim))
        self.image_enhance = MultiKernelEnhance(image_dim)
        self.view_fusion = CrossViewConv(embed_dim)
        self.view_fusion_norm = nn.Sequential(nn.BatchNorm2d(embed_dim), nn.ReLU(inplace=True))
        self.up1 = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), *conv_bn_relu(embed_dim, embed_dim)
        )
        self.up2 = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), *conv_bn_relu(embed_dim, embed_dim)
        )
        self.head = nn.Sequential(*conv_bn_relu(embed_dim, 32), *conv_bn_relu(32, 16))
        self.out_conv = nn.Conv2d(16, 1, 1)

    def forward(self, image: Tensor, embedding: Tensor) -> Tensor:
        """image: (B, 3, gV, gV) normalised input; embedding: (g*g*B + B, E, V/4, V/4) -> logits (B, 1, gV, gV)."""
        local_embed, global_embed = split_views(embedding, self.grid)
        stitched = locals_to_image(local_embed, self.grid)  # (B, E, gV/4, gV/4)
        x = self.view_fusion_norm(self.view_fusion(stitched, resize(global_embed, stitched.shape[-2:])))
        image_features = self.image_enhance(self.image_stem(image))  # (B, 32, gV, gV)
        x = self.up1(x + resize(image_features, x.shape[-2:]))
        x = self.up2(x + resize(image_features, x.shape[-2:]))
        return self.out_conv(self.head(x))
