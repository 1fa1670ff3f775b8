"""MGDSAM2: views -> adapted SAM2 encoder -> prompt-free decoder with MCEM/HMIM -> DRM -> logits."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Optional

from torch import Tensor, nn

from mgd_sam2.errors import ConfigError
from mgd_sam2.models.decoder import PromptFreeMaskDecoder
from mgd_sam2.models.drm import DetailRefinement
from mgd_sam2.models.encoder import AdaptedImageEncoder
from mgd_sam2.models.groups import module_group
from mgd_sam2.models.multi_view import Views, arrange_views, check_input_size, resize, stitch_locals
from mgd_sam2.models.presets import PresetName, check_global_att_blocks, get_preset


@dataclass(frozen=True)
class NetworkConfig:
    """Everything that defines an MGDSAM2 network (the LightningModule and saved weights carry it).

    Args:
        preset: backbone size (micro, tiny, small, base_plus, base_plus_official, large).
        view_size: per-view input V in pixels (default: the preset's: 512 for the SAM2.1 sizes, 64 for micro).
        grid: local views per side g (default: the preset's, 2); the model input is (g*V)^2.
        use_adapters: MPAdapter before every Hiera block.
        use_mcem: MCEM on the stride-16 decoder tokens.
        use_hmim: HMIM on the stride-8 and stride-4 FPN levels.
        use_drm: DRM head; without it the stitched local masks are upsampled bilinearly.
        multi_view: local views at all; False is SAM2 on the global view only, its mask upsampled (every
            module that mixes views must then be off).
        global_att_blocks: Hiera blocks with global attention (default: the preset's).
        train_trunk: train the Hiera trunk too (in the "pretrained" LR group, models/groups.py) instead of keeping
            it frozen as the paper does: for training without a SAM2 checkpoint or on a large dataset. Trained
            weights (``model export``) then include the trunk.
    """

    preset: PresetName = "base_plus"
    view_size: Optional[int] = None
    grid: Optional[int] = None
    use_adapters: bool = True
    use_mcem: bool = True
    use_hmim: bool = True
    use_drm: bool = True
    multi_view: bool = True
    global_att_blocks: Optional[tuple[int, ...]] = None
    train_trunk: bool = False

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> NetworkConfig:
        """From the plain dict stored in checkpoints and weights files (lists back to tuples)."""
        blocks = values.get("global_att_blocks")
        return cls(**{**values, "global_att_blocks": tuple(blocks) if blocks is not None else None})

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (no classes), safe for ``torch.load(weights_only=True)`` and YAML."""
        values = asdict(self)
        if self.global_att_blocks is not None:
            values["global_att_blocks"] = list(self.global_att_blocks)
        return values

    def resolved(self) -> NetworkConfig:
        """These settings with the preset's values where they are left to it (None), as the network is built."""
        spec = get_preset(self.preset)
        return replace(self, **{key: getattr(spec, key) for key in PRESET_DEFAULTS if getattr(self, key) is None})


PRESET_DEFAULTS = ("view_size", "grid", "global_att_blocks")  # NetworkConfig's settings None leaves to the preset
# NetworkConfig's settings that change what a fit trains, not what the network computes
TRAINING_ONLY = ("train_trunk",)


@dataclass
class MGDSAM2Output:
    logits: Tensor  # (B, 1, gV, gV) final full-resolution logits
    view_logits: Tensor  # (g*g*B + B, 1, V/4, V/4) per-view low-resolution logits (B views without multi_view)


class MGDSAM2(nn.Module):
    """The MGD-SAM2 network (see `NetworkConfig` for its settings).

    Input: `Views` of ImageNet-normalised images, cut by the data pipeline
    (``mgd_sam2.data.view_cutting.tile``) into the network's grid g; any view size V that tiles is accepted.
    """

    def __init__(self, config: NetworkConfig = NetworkConfig()) -> None:
        super().__init__()
        spec = get_preset(config.preset)
        self.config = config
        self.preset = config.preset
        resolved = config.resolved()
        self.view_size, self.grid = resolved.view_size, resolved.grid
        self.multi_view = config.multi_view
        uses_views = (config.use_adapters, config.use_mcem, config.use_hmim, config.use_drm)
        if not config.multi_view and any(uses_views):
            raise ConfigError(
                "multi_view=False (global view only) needs use_adapters, use_mcem, use_hmim and use_drm all False: "
                "each of them mixes local and global views"
            )
        check_input_size(self.input_size, self.grid)
        check_global_att_blocks(resolved.global_att_blocks, spec.stages)
        self.encoder = AdaptedImageEncoder(
            spec, self.grid, config.use_adapters, config.global_att_blocks, train_trunk=config.train_trunk
        )
        self.decoder = PromptFreeMaskDecoder(self.grid, config.use_mcem, config.use_hmim)
        self.drm = DetailRefinement(self.grid) if config.use_drm else None

    @property
    def input_size(self) -> int:
        """Side of the square input the network was built for, in pixels: g * V."""
        return self.grid * self.view_size

    @property
    def described(self) -> str:
        """The preset and the input it was built for, as messages name the network: "preset micro, input 2×64 = 128
        px" (g local views per side, each V pixels)."""
        return f"preset {self.preset}, input {self.grid}×{self.view_size} = {self.input_size} px"

    def arrange(self, views: Views) -> Tensor:
        """The views the encoder sees, in the batch-major layout: (g*g*B + B, C, V, V), or the B global
        views (B, C, V, V) without multi_view. Also arranges per-view targets the same way."""
        if views.grid != self.grid:
            raise ValueError(f"views cut into a {views.grid}x{views.grid} grid, the network is built for {self.grid}")
        return arrange_views(views) if self.multi_view else views.global_view

    def forward(self, views: Views) -> MGDSAM2Output:
        size = views.full.shape[-2:]
        check_input_size(size[-1], self.grid)
        view_logits, embedding = self.decoder(self.encoder(self.arrange(views)))
        if self.drm is not None:
            logits = self.drm(views.full, embedding)
        elif self.multi_view:
            logits = resize(stitch_locals(view_logits, self.grid), size)
        else:
            logits = resize(view_logits, size)
        return MGDSAM2Output(logits=logits, view_logits=view_logits)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters by LR group (models/groups.py): ``new`` and ``pretrained``."""
        groups: dict[str, list[nn.Parameter]] = {"new": [], "pretrained": []}
        for name, parameter in self.named_parameters():
            if parameter.requires_grad:
                groups[module_group(name).lr_group].append(parameter)
        return groups
