"""Detail modes: how much of a large image's pixels the network sees, with the same weights (the setting; the passes
themselves are inference/refine.py).

``off`` is the plain path (the image resized to the model input); ``crop`` adds a second pass on the object's box;
``tiles`` adds overlapping tiles at up to ``zoom`` times the plain resolution over the plain mask's uncertain band;
``guided`` upsamples the plain probabilities with a guided filter on the image's pixels (inference/guided.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from mgd_sam2.errors import ConfigError

DetailMode = Literal["off", "crop", "tiles", "guided"]  # as a type for configs (model.detail)
DETAIL_MODES: tuple[str, ...] = get_args(DetailMode)
DEFAULT_ZOOM = 2


@dataclass(frozen=True)
class Detail:
    """How much of a large image's pixels a mask uses: ``off`` (the plain path), ``crop``, ``tiles`` (up to ``zoom``
    tiles along each side) or ``guided``."""

    mode: str = "off"
    zoom: int = DEFAULT_ZOOM

    def __post_init__(self) -> None:
        if self.mode not in DETAIL_MODES:
            raise ConfigError(f"detail mode must be one of {', '.join(DETAIL_MODES)}, got {self.mode!r}")
        if isinstance(self.zoom, bool) or not isinstance(self.zoom, int) or self.zoom < 1:
            raise ConfigError(f"detail zoom must be a whole number of 1 or more, got {self.zoom!r}")

    @property
    def label(self) -> str:
        """ "off", "crop" or "tiles x2"."""
        return f"tiles x{self.zoom}" if self.mode == "tiles" else self.mode

    def recorded(self) -> dict[str, Any]:
        """What predict records of it in every PNG: nothing when off, so masks made before detail modes existed keep
        their settings."""
        if self.mode == "off":
            return {}
        return {"detail": {"mode": self.mode, **({"zoom": self.zoom} if self.mode == "tiles" else {})}}


OFF = Detail()


def chosen_detail(
    mode: str | Detail, zoom: int | None = None, *, mode_name: str = "detail", zoom_name: str = "detail_zoom"
) -> Detail:
    """The Detail a user chose: a mode name and a zoom, which only tiles use (None: the default zoom), or a Detail
    itself. A zoom given with another mode would go unused: a ConfigError naming the settings as the caller spells
    them."""
    if isinstance(mode, Detail):
        if zoom is not None:
            raise ConfigError(f"{mode_name} is a Detail, which holds its zoom: drop {zoom_name}")
        return mode
    if zoom is not None and mode != "tiles":
        raise ConfigError(f"{zoom_name} sets the tiles of {mode_name} tiles, and {mode_name} is {mode}: choose "
                          f"{mode_name} tiles, or drop {zoom_name}")  # fmt: skip
    return Detail(mode, DEFAULT_ZOOM if zoom is None else zoom)
