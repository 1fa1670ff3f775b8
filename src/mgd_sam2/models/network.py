"""MGDSAM2: image -> views -> adapted SAM2 encoder -> prompt-free decoder with MCEM/HMIM -> DRM -> logits."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from mgd_sam2.data.views import make_views, resize, stitch_locals
from mgd_sam2.models.decoder import PromptFreeMaskDecoder
from mgd_sam2.models.encoder import AdaptedImageEncoder
from mgd_sam2.models.presets import get_preset
from mgd_sam2.models.refine import DetailRefinement

# Parameter-name prefixes of the modules new in MGD-SAM2 (base LR, no weight decay); every other
# trainable parameter is a pretrained SAM2 part (0.1x LR, weight decay 1e-5). MODEL.md 1.3.
NEW_MODULE_PREFIXES = (
    "encoder.adapters.",
    "decoder.mcem.",
    "decoder.hmim_s8.",
    "decoder.hmim_s4.",
    "decoder.mask_tokens.",
    "decoder.no_mask_embed.",
    "drm.",
)


@dataclass
class MGDSAM2Output:
    logits: Tensor  # (B, 1, gV, gV) final full-resolution logits
    view_logits: Tensor  # (g*g*B + B, 1, V/4, V/4) per-view low-resolution logits, for the auxiliary loss


class MGDSAM2(nn.Module):
    """The MGD-SAM2 network. Input: an ImageNet-normalised (B, 3, g*V, g*V) batch.

    Switches turn modules off for ablations: ``use_adapters`` (MPAdapter), ``use_mcem``,
    ``use_hmim``, ``use_drm`` (without it the stitched local masks are upsampled bilinearly), and
    ``multi_view`` (global view only: SAM2 on the 1/g-downsampled image, its mask upsampled; every
    module that mixes views must then be off).
    """

    def __init__(
        self,
        preset: str = "base_plus",
        view_size: int | None = None,
        grid: int | None = None,
        use_adapters: bool = True,
        use_mcem: bool = True,
        use_hmim: bool = True,
        use_drm: bool = True,
        multi_view: bool = True,
        global_att_blocks: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        spec = get_preset(preset)
        self.preset = preset
        self.view_size = view_size or spec.view_size
        self.grid = grid or spec.grid
        self.multi_view = multi_view
        if self.grid < 1:
            raise ValueError(f"grid must be >= 1, got {self.grid}")
        if not multi_view and (use_adapters or use_mcem or use_hmim or use_drm):
            raise ValueError(
                "multi_view=False (global view only) needs use_adapters, use_mcem, use_hmim and use_drm all False: "
                "each of them mixes local and global views"
            )
        self.check_input_size(self.input_size)
        self.encoder = AdaptedImageEncoder(spec, self.grid, use_adapters, global_att_blocks)
        self.decoder = PromptFreeMaskDecoder(self.grid, use_mcem, use_hmim)
        self.drm = DetailRefinement(self.grid) if use_drm else None

    @property
    def input_size(self) -> int:
        """Side of the square model input in pixels: g * V."""
        return self.grid * self.view_size

    def check_input_size(self, size: int) -> None:
        """Raise if a (size x size) input cannot be tiled: each view side must be a multiple of 32
        (Hiera's total stride and window embedding) and its stride-16 grid divisible by g (MCEM cells)."""
        view, rest = divmod(size, self.grid)
        if rest or view % 32 or (view // 16) % self.grid:
            raise ValueError(
                f"input size {size} does not tile into {self.grid}x{self.grid} views: need size = grid * V with "
                f"V a multiple of 32 and V/16 divisible by the grid (e.g. {self.grid * 32 * self.grid})"
            )

    def forward(self, image: Tensor) -> MGDSAM2Output:
        height, width = image.shape[-2:]
        if height != width:
            raise ValueError(f"MGDSAM2 takes square inputs, got {height}x{width}")
        self.check_input_size(height)
        if self.multi_view:
            views = make_views(image, self.grid)  # (g*g*B + B, 3, V, V)
        else:
            views = resize(image, (height // self.grid, width // self.grid))  # (B, 3, V, V)
        view_logits, embedding = self.decoder(self.encoder(views))
        if self.drm is not None:
            logits = self.drm(image, embedding)
        elif self.multi_view:
            logits = resize(stitch_locals(view_logits, self.grid), (height, width))
        else:
            logits = resize(view_logits, (height, width))
        return MGDSAM2Output(logits=logits, view_logits=view_logits)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters split into ``new`` (MGD-SAM2 modules) and ``pretrained`` (SAM2 neck/decoder)."""
        groups: dict[str, list[nn.Parameter]] = {"new": [], "pretrained": []}
        for name, parameter in self.named_parameters():
            if parameter.requires_grad:
                groups["new" if name.startswith(NEW_MODULE_PREFIXES) else "pretrained"].append(parameter)
        return groups
