"""Building a ready-to-run MGDSAM2Module from any weights a user has.

Accepted: a Lightning checkpoint of this project (it carries the model config); the authors'
released MGD-SAM2 weights (base_plus_official is built for them); a SAM2/SAM2.1 checkpoint plus a
trained-weights file written by ``mgd-sam2 model export`` (the small file of everything but the
frozen trunk).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mgd_sam2.models.checkpoints import (
    CheckpointError,
    is_official_mgdsam2,
    load_official_state,
    load_sam2_state,
    read_weights_file,
    unwrap_state_dict,
)
from mgd_sam2.training.module import MGDSAM2Module

TRAINED_WEIGHTS_FORMAT = "mgd-sam2 trained weights v1"


def export_trained_weights(module: MGDSAM2Module, path: str | Path) -> int:
    """Write every tensor but the frozen Hiera trunk, with the model config; returns the number of tensors."""
    from mgd_sam2.utils.files import atomic_path

    state = {key: value for key, value in module.model.state_dict().items() if not key.startswith("encoder.trunk.")}
    hparams = {key: value for key, value in module.hparams.items() if key != "pretrained"}
    with atomic_path(path) as temporary:
        torch.save({"format": TRAINED_WEIGHTS_FORMAT, "hparams": hparams, "state_dict": state}, temporary)
    return len(state)


def load_module(
    ckpt: str | Path, weights: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> tuple[MGDSAM2Module, str]:
    """(module in eval mode, a one-line description of what was loaded). ``overrides`` replace hyperparameters
    that do not change the weights (e.g. ``tta``)."""
    overrides = overrides or {}
    content = read_weights_file(ckpt)
    if "state_dict" in content and "hyper_parameters" in content:  # a Lightning checkpoint of ours
        if weights is not None:
            raise CheckpointError(f"{ckpt} is a complete Lightning checkpoint; --weights is only for a SAM2 checkpoint")
        module = MGDSAM2Module.load_from_checkpoint(
            ckpt, map_location="cpu", weights_only=True, pretrained=None, **overrides
        )
        return module.eval(), f"Lightning checkpoint {ckpt} (preset {module.hparams.preset})"
    state = unwrap_state_dict(content)
    if is_official_mgdsam2(state):
        if weights is not None:
            raise CheckpointError(f"{ckpt} holds the released MGD-SAM2 weights already; drop --weights")
        module = MGDSAM2Module(preset="base_plus_official", **overrides)
        report = load_official_state(module.model, state, str(ckpt))
        module.pretrained_loaded = True
        return module.eval(), report.summary()
    if weights is None:
        raise CheckpointError(
            f"{ckpt} is a SAM2 checkpoint without trained MGD-SAM2 parts; pass the trained weights with --weights "
            "(written by `mgd-sam2 model export`), or use a Lightning checkpoint of a training run"
        )
    trained = read_weights_file(weights)
    if trained.get("format") != TRAINED_WEIGHTS_FORMAT:
        raise CheckpointError(f"{weights} is not a trained-weights file written by `mgd-sam2 model export`")
    module = MGDSAM2Module(**{**trained["hparams"], **overrides, "pretrained": None})
    report = load_sam2_state(module.model, content, str(ckpt))
    result = module.model.load_state_dict(trained["state_dict"], strict=False)
    missing = [key for key in result.missing_keys if not key.startswith("encoder.trunk.")]
    if missing or result.unexpected_keys:
        raise CheckpointError(
            f"{weights} does not fit the model it describes: "
            f"missing {missing[:5]}, unexpected {result.unexpected_keys[:5]}"
        )
    module.pretrained_loaded = True
    return (
        module.eval(),
        f"{report.kind} trunk from {ckpt} + trained weights from {weights} (preset {module.hparams.preset})",
    )
