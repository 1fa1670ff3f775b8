"""The image encoder: SAM2's Hiera trunk (frozen unless trained on purpose) with an MPAdapter before each block, and its
FPN neck."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sam2.modeling.backbones.hieradet import Hiera
from sam2.modeling.backbones.image_encoder import FpnNeck
from sam2.modeling.position_encoding import PositionEmbeddingSine
from torch import Tensor, nn

from mgd_sam2.models.mpadapter import MPAdapter
from mgd_sam2.models.presets import Preset

FPN_DIM = 256


class AdaptedImageEncoder(nn.Module):
    """Hiera trunk + per-block MPAdapters + FPN neck; the stride-32 level is dropped (SAM2's scalp=1).

    With ``use_adapters=False`` it computes exactly what ``sam2``'s ``ImageEncoder`` computes. The trunk is frozen
    unless ``train_trunk``.
    """

    def __init__(
        self,
        preset: Preset,
        grid: int,
        use_adapters: bool = True,
        global_att_blocks: tuple[int, ...] | None = None,
        train_trunk: bool = False,
    ) -> None:
        super().__init__()
        self.trunk = Hiera(
            embed_dim=preset.embed_dim,
            num_heads=preset.num_heads,
            stages=preset.stages,
            global_att_blocks=tuple(global_att_blocks if global_att_blocks is not None else preset.global_att_blocks),
            window_spec=preset.window_spec,
            window_pos_embed_bkg_spatial_size=preset.window_pos_embed_bkg_spatial_size,
        )
        self.neck = FpnNeck(
            position_encoding=PositionEmbeddingSine(num_pos_feats=FPN_DIM),
            d_model=FPN_DIM,
            backbone_channel_list=preset.channel_list,
            fpn_top_down_levels=[2, 3],
            fpn_interp_model=preset.fpn_interp,
        )
        # One adapter per block, sized by the block's *input* width (the q-pool block of a stage
        # transition still takes the narrower input).
        self.adapters = (
            nn.ModuleList(
                MPAdapter(block.dim, max(1, block.dim // preset.adapter_ratio), grid) for block in self.trunk.blocks
            )
            if use_adapters
            else None
        )
        self.trunk.requires_grad_(train_trunk)

    def forward(self, views: Tensor) -> list[Tensor]:
        """views: (N, 3, V, V) -> FPN features [s4 (N,256,V/4,V/4), s8 (N,256,V/8,V/8), s16 (N,256,V/16,V/16)]."""
        x = self.trunk.patch_embed(views)  # (N, V/4, V/4, C) channels-last
        x = x + self.trunk._get_pos_embed(x.shape[1:3])
        stage_outputs = []
        for index, block in enumerate(self.trunk.blocks):
            if self.adapters is not None:
                x = x + self.adapters[index](x)
            x = block(x)
            if index in self.trunk.stage_ends:
                # contiguous (N, C, H, W): the neck's weight gradients then keep the weights' layout, as DDP expects
                stage_outputs.append(x.permute(0, 3, 1, 2).contiguous())
        return self.fpn(stage_outputs)[:-1]

    def fpn(self, stage_outputs: list[Tensor]) -> list[Tensor]:
        """sam2's ``FpnNeck.forward`` without the position encodings it also computes for every level (nothing here
        reads them): lateral 1x1 convs, then the top-down path on ``fpn_top_down_levels``, coarsest first.
        [finest (N,C1,H,W), ..., coarsest] -> the same levels with 256 channels."""
        neck = self.neck
        last = len(neck.convs) - 1
        out: list[Tensor] = [stage_outputs[0]] * len(stage_outputs)
        previous = None
        for level in range(last, -1, -1):
            lateral = neck.convs[last - level](stage_outputs[level])
            if level in neck.fpn_top_down_levels and previous is not None:
                nearest = neck.fpn_interp_model == "nearest"
                top_down = F.interpolate(
                    previous.to(dtype=torch.float32),
                    scale_factor=2.0,
                    mode=neck.fpn_interp_model,
                    align_corners=None if nearest else False,
                    antialias=False,
                )
                previous = lateral + top_down
                if neck.fuse_type == "avg":
                    previous = previous / 2
            else:
                previous = lateral
            out[level] = previous
        return out
