"""MPAdapter: the multi-view perception adapter placed before every Hiera block (docs/design.md, modules)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from mgd_sam2.models.layers import CrossViewConv
from mgd_sam2.models.multi_view import image_to_locals, join_views, locals_to_image, resize, split_views


class MPAdapter(nn.Module):
    """Bottleneck adapter whose middle mixes the global view with the stitched local views.

    ``X <- X + Up(GELU(Z'))`` with ``Z = Down(X)`` and ``Z'`` the cross-view fusion of ``Z``:
    the global branch sees the locals stitched and downsampled, the local branch sees the global
    upsampled, each through a depthwise `CrossViewConv` added residually.
    """

    def __init__(self, dim: int, bottleneck: int, grid: int) -> None:
        super().__init__()
        self.grid = grid
        self.down = nn.Linear(dim, bottleneck)
        self.local_fuse = CrossViewConv(bottleneck)
        self.global_fuse = CrossViewConv(bottleneck)
        self.up = nn.Linear(bottleneck, dim)
        for linear in (self.down, self.up):
            nn.init.trunc_normal_(linear.weight, std=0.02)
            nn.init.zeros_(linear.bias)

    def forward(self, x: Tensor) -> Tensor:
        """x: (g*g*B + B, H, W, D) channels-last Hiera tokens -> the adapter's residual, same shape."""
        z = self.down(x).permute(0, 3, 1, 2)  # (N, d, H, W)
        z_local, z_global = split_views(z, self.grid)
        stitched = locals_to_image(z_local, self.grid)  # (B, d, gH, gW)
        new_global = z_global + self.global_fuse(z_global, resize(stitched, z_global.shape[-2:]))
        new_stitched = stitched + self.local_fuse(stitched, resize(z_global, stitched.shape[-2:]))
        z = join_views(image_to_locals(new_stitched, self.grid), new_global)
        return self.up(F.gelu(z.permute(0, 2, 3, 1)))
