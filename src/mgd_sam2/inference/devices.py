"""Where and in which precision inference runs: one rule for every inference command."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mgd_sam2.errors import ConfigError

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "32-true", "bf16-mixed")  # Lightning's names, so flags and -c CONFIG read alike


def resolve_device(device: str, precision: str) -> tuple[torch.device, torch.dtype | None]:
    """(``DEVICES`` entry, ``PRECISIONS`` entry) -> (device, autocast dtype or None for fp32).

    auto: CUDA when available; bf16 autocast on a GPU, fp32 on the CPU.
    """
    import torch

    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is visible here; use --device cpu (or auto)")
    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    bf16 = precision == "bf16-mixed" or (precision == "auto" and cuda)
    return torch.device("cuda" if cuda else "cpu"), torch.bfloat16 if bf16 else None
