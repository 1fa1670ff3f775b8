"""Where and in which precision inference runs: one rule for every inference command."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mgd_sam2.errors import ConfigError

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda")
BACKENDS = ("auto", "torch", "onnx", "openvino")  # auto: onnx for a .onnx file, else torch
EXPORTED_BACKENDS = ("onnx", "openvino")  # the backends that run a .onnx file from `model export --onnx`
PRECISIONS = ("auto", "32-true", "bf16-mixed")  # Lightning's names, so flags and -c CONFIG read alike


def resolve_device(device: str, precision: str) -> tuple[torch.device, torch.dtype | None]:
    """(``DEVICES`` entry, ``PRECISIONS`` entry) -> (device, autocast dtype or None for fp32).

    auto: CUDA when available; bf16 autocast on a GPU, fp32 on the CPU. bf16 on a CPU is refused without native bf16
    kernels (AVX512-BF16 or AMX, `cpu_has_native_bf16`): without them it runs slower than fp32, oneDNN emulating it on
    AVX-512 and PyTorch falling back to slow reference kernels on AVX2 (docs/speed-runs.md, bf16 on the CPU).
    """
    import torch

    check_names(device, precision)
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is visible here; use --device cpu (or auto)")
    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    bf16 = precision == "bf16-mixed" or (precision == "auto" and cuda)
    if bf16 and not cuda:
        refuse_emulated_bf16("--precision bf16-mixed", "use --precision 32-true, or the ONNX backend")
    return torch.device("cuda" if cuda else "cpu"), torch.bfloat16 if bf16 else None


def check_names(device: str, precision: str, backend: str = "auto") -> None:
    """Refuse a device, precision or backend spelt other than ``DEVICES`` / ``PRECISIONS`` / ``BACKENDS`` (one
    spelling everywhere: the CLI's, Lightning's), listing the valid ones."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")


def refuse_emulated_bf16(setting: str, fix: str) -> None:
    """A ConfigError naming ``setting`` and its ``fix`` where this CPU has no native bf16 kernels
    (`cpu_has_native_bf16`), where bf16 runs slower than fp32; nothing where it has them."""
    if not cpu_has_native_bf16():
        raise ConfigError(f"{setting} on this CPU: it has no native bf16 kernels, so bf16 runs slower than fp32 here; "
                          f"{fix} (docs/speed-runs.md, bf16 on the CPU)")  # fmt: skip


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN has native bf16 kernels on this CPU. On x86 that takes AVX512-BF16 or AMX
    (cpu_kind.BF16_KINDS), not held below them by oneDNN's ISA limit: oneDNN's own answer is yes on AVX-512 without
    them too, where it emulates bf16, slower than fp32 (measured under its ISA limit AVX512_CORE: docs/speed-runs.md,
    bf16 on the CPU), so the CPU's flags decide too. Elsewhere (ARM, whose bf16 extensions x86's flags do not name)
    oneDNN's answer stands."""
    import platform

    import torch

    from mgd_sam2.inference.cpu_kind import BF16_KINDS, X86_MACHINES, detect_cpu_kind, onednn_limit_keeps_bf16

    x86 = platform.machine().lower() in X86_MACHINES
    if x86 and (detect_cpu_kind().kind not in BF16_KINDS or not onednn_limit_keeps_bf16()):
        return False
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
