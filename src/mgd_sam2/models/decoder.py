"""SAM2's mask decoder run without prompts, with MCEM and HMIM fused in before the upscaling (docs/design.md)."""

from __future__ import annotations

import torch
from sam2.modeling.position_encoding import PositionEmbeddingRandom
from sam2.modeling.sam.transformer import TwoWayTransformer
from sam2.modeling.sam2_utils import MLP, LayerNorm2d
from torch import Tensor, nn

from mgd_sam2.models.hmim import HMIM
from mgd_sam2.models.mcem import MCEM
from mgd_sam2.models.multi_view import stitch_locals

NUM_MASK_TOKENS = 2  # SAM2's multimask setting with one extra mask: the model reads token #1


class PromptFreeMaskDecoder(nn.Module):
    """Two-way transformer over [obj, iou, mask0, mask1] tokens and the stride-16 features (plus a
    learned no-mask dense embedding), then MCEM, HMIM(s8), HMIM(s4), SAM2's high-res upscaling and
    the hypernetwork of mask token #1.

    Attribute names of the pretrained parts equal those of ``sam2``'s ``MaskDecoder``, so SAM2
    checkpoints map onto them by prefix. SAM2's IoU and object-score heads are not built: nothing
    here reads their outputs.
    """

    def __init__(self, grid: int, use_mcem: bool = True, use_hmim: bool = True, dim: int = 256) -> None:
        super().__init__()
        self.grid = grid
        self.no_mask_embed = nn.Embedding(1, dim)
        self.pe_layer = PositionEmbeddingRandom(dim // 2)
        self.transformer = TwoWayTransformer(depth=2, embedding_dim=dim, mlp_dim=2048, num_heads=8)
        self.obj_score_token = nn.Embedding(1, dim)
        self.iou_token = nn.Embedding(1, dim)
        self.mask_tokens = nn.Embedding(NUM_MASK_TOKENS, dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(dim, dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(dim // 4),
            nn.GELU(),
            nn.ConvTranspose2d(dim // 4, dim // 8, kernel_size=2, stride=2),
            nn.GELU(),
        )
        self.conv_s0 = nn.Conv2d(dim, dim // 8, kernel_size=1)
        self.conv_s1 = nn.Conv2d(dim, dim // 4, kernel_size=1)
        self.output_hypernetworks_mlps = nn.ModuleList(MLP(dim, dim, dim // 8, 3) for _ in range(NUM_MASK_TOKENS))
        self.mcem = MCEM(dim, grid) if use_mcem else None
        self.hmim_s8 = HMIM(dim, grid) if use_hmim else None
        self.hmim_s4 = HMIM(dim, grid) if use_hmim else None

    def forward(self, features: list[Tensor]) -> tuple[Tensor, Tensor]:
        """features: FPN [s4 (N,C,4h,4w), s8 (N,C,2h,2w), s16 (N,C,h,w)] of N views.

        Returns (view logits (N, 1, 4h, 4w), upscaled embedding E (N, C/8, 4h, 4w)).
        """
        feat_s4, feat_s8, feat_s16 = features
        n, c, h, w = feat_s16.shape
        tokens = torch.cat([self.obj_score_token.weight, self.iou_token.weight, self.mask_tokens.weight])
        tokens = tokens.unsqueeze(0).expand(n, -1, -1)
        image = feat_s16 + self.no_mask_embed.weight.view(1, c, 1, 1)
        position = self.pe_layer((h, w)).unsqueeze(0).to(image.dtype)
        tokens, image = self.transformer(image, position, tokens)  # (N, 4, C), (N, h*w, C)
        src = image.transpose(1, 2).reshape(n, c, h, w).contiguous()  # tokens to a map (see encoder.py)

        prior = None
        if self.mcem is not None:
            src, prior = self.mcem(src)
        if self.hmim_s8 is not None:
            prior = stitch_locals(src, self.grid) if prior is None else prior
            feat_s8, prior = self.hmim_s8(feat_s8, prior)
            feat_s4, _ = self.hmim_s4(feat_s4, prior)

        up1, norm, act1, up2, act2 = self.output_upscaling
        embedding = act1(norm(up1(src) + self.conv_s1(feat_s8)))
        embedding = act2(up2(embedding) + self.conv_s0(feat_s4))  # (N, C/8, 4h, 4w)

        mask_tokens = tokens[:, 2 : 2 + NUM_MASK_TOKENS]
        hyper = torch.stack([mlp(mask_tokens[:, i]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], dim=1)
        masks = (hyper @ embedding.flatten(2)).view(n, NUM_MASK_TOKENS, *embedding.shape[-2:])
        return masks[:, 1:2], embedding
