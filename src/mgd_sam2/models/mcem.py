"""MCEM, the multi-view complementary enhancement module: fuses the global and local views' stride-16 tokens
in the decoder."""

from __future__ import annotations

import torch
from einops import rearrange
from sam2.modeling.sam.transformer import Attention
from sam2.modeling.sam2_utils import MLP
from torch import Tensor, nn

from mgd_sam2.models.layers import sine_position_encoding
from mgd_sam2.models.multi_view import image_to_locals, join_views, locals_to_image, resize, split_views


class MCEM(nn.Module):
    """Multi-view complementary enhancement: global queries attend to all stitched local tokens,
    then each local view attends to its own cell of the enhanced global view.

    One ``to_local`` attention per local position (grid*grid of them; 4 in the paper).
    """

    def __init__(self, dim: int = 256, grid: int = 2, num_heads: int = 8, mlp_dim: int = 512) -> None:
        super().__init__()
        self.grid = grid
        self.to_global = Attention(dim, num_heads, downsample_rate=2)
        self.global_norm1 = nn.LayerNorm(dim)
        self.global_mlp = MLP(dim, mlp_dim, dim, num_layers=2)
        self.global_norm2 = nn.LayerNorm(dim)
        self.to_local = nn.ModuleList(Attention(dim, num_heads, downsample_rate=2) for _ in range(grid * grid))
        self.local_norm1 = nn.LayerNorm(dim)
        self.local_mlp = MLP(dim, mlp_dim, dim, num_layers=2)
        self.local_norm2 = nn.LayerNorm(dim)

    def forward(self, views: Tensor) -> tuple[Tensor, Tensor]:
        """views: (g*g*B + B, C, h, w) -> (enhanced views, same shape; stitched locals (B, C, g*h, g*w)).

        h and w are divisible by g for every input that passes ``check_input_size`` (models/multi_view.py).
        """
        g = self.grid
        local_views, global_view = split_views(views, g)
        _, channels, h, w = global_view.shape
        stitched = locals_to_image(local_views, g)  # (B, C, gh, gw)
        pe_local = sine_position_encoding(g * h, g * w, channels, device=views.device).to(views.dtype)
        pe_global = resize(pe_local, (h, w), mode="bicubic")

        # local -> global: every global token looks at every stitched local token
        tokens_g = rearrange(global_view, "b c h w -> b (h w) c")
        tokens_l = rearrange(stitched, "b c h w -> b (h w) c")
        flat_pe_g = rearrange(pe_global, "1 c h w -> 1 (h w) c")
        flat_pe_l = rearrange(pe_local, "1 c h w -> 1 (h w) c")
        tokens_g = self.global_norm1(
            tokens_g + self.to_global(q=tokens_g + flat_pe_g, k=tokens_l + flat_pe_l, v=tokens_l)
        )
        tokens_g = self.global_norm2(tokens_g + self.global_mlp(tokens_g))

        # global -> local, cell-wise: local view k attends to cell k of the enhanced global view
        cells = "b c (gh h) (gw w) -> (gh gw) b (h w) c"
        local_cells = rearrange(stitched, cells, gh=g, gw=g)
        pe_local_cells = rearrange(pe_local, cells, gh=g, gw=g)
        global_map = rearrange(tokens_g, "b (h w) c -> b c h w", h=h, w=w).contiguous()  # see encoder.py
        global_cells = rearrange(global_map, cells, gh=g, gw=g)
        pe_global_cells = rearrange(pe_global, cells, gh=g, gw=g)
        attended = torch.stack(
            [
                attention(
                    q=local_cells[k] + pe_local_cells[k], k=global_cells[k] + pe_global_cells[k], v=global_cells[k]
                )
                for k, attention in enumerate(self.to_local)
            ]
        )  # (g*g, B, h*w, C)
        attended = rearrange(attended, "(gh gw) b (h w) c -> b (gh h gw w) c", gh=g, gw=g, h=h, w=w)
        tokens_l = self.local_norm1(tokens_l + attended)
        tokens_l = self.local_norm2(tokens_l + self.local_mlp(tokens_l))

        stitched = rearrange(tokens_l, "b (h w) c -> b c h w", h=g * h, w=g * w).contiguous()
        return join_views(image_to_locals(stitched, g), global_map), stitched
