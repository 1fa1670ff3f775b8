"""HMIM, the hierarchical multi-view interaction module: fuses the views on one FPN level (stride 8 or 4), guided
by the coarser level."""

from __future__ import annotations

import torch
from sam2.modeling.sam2_utils import LayerNorm2d
from torch import Tensor, nn

from mgd_sam2.models.multi_view import image_to_locals, join_views, locals_to_image, resize, split_views


class HMIM(nn.Module):
    """Hierarchical multi-view interaction on one FPN level, guided by the coarser level's stitched locals.

    ``G' = X_G + fuse1([X_G ; DW(P)])``, ``L' = L + fuse2([DW(Up(G')) ; L])``,
    ``X' = fuse3(views(L', G'))`` with ``fuse3 = LN2d -> GELU -> 1x1``.
    """

    def __init__(self, dim: int = 256, grid: int = 2) -> None:
        super().__init__()
        self.grid = grid
        self.prior_to_global = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.global_fuse = nn.Conv2d(2 * dim, dim, 1)
        self.global_to_local = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.local_fuse = nn.Conv2d(2 * dim, dim, 1)
        self.out = nn.Sequential(LayerNorm2d(dim), nn.GELU(), nn.Conv2d(dim, dim, 1))

    def forward(self, views: Tensor, prior: Tensor) -> tuple[Tensor, Tensor]:
        """views: (g*g*B + B, C, H, W); prior: (B, C, H', W') stitched locals of the coarser level.

        Returns (enhanced views, same shape as ``views``; stitched enhanced locals (B, C, g*H, g*W)).
        With g=2, H' = H and no resize happens.
        """
        g = self.grid
        local_views, global_view = split_views(views, g)
        stitched = locals_to_image(local_views, g)
        prior = resize(prior, global_view.shape[-2:])
        global_view = global_view + self.global_fuse(torch.cat([global_view, self.prior_to_global(prior)], dim=1))
        guide = self.global_to_local(resize(global_view, stitched.shape[-2:]))
        stitched = stitched + self.local_fuse(torch.cat([guide, stitched], dim=1))
        views = self.out(join_views(image_to_locals(stitched, g), global_view))
        return views, locals_to_image(split_views(views, g)[0], g)
