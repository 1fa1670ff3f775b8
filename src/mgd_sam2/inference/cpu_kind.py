"""What kind of CPU this is, for the speed choices that depend on it (inference/fastest.py).

The kinds differ in the kernels the CPU runtimes can use: AMX tiles (bf16 and int8 matrix products), AVX-512 with
native bf16 dot products (Intel's Cooper Lake, AMD's Zen 4 and 5), AVX-512 with VNNI's one-instruction int8 dot
products but no bf16 (Intel's other Xeons since Cascade Lake, 2019, before Sapphire Rapids; Ice Lake), AVX-512 without
either (Skylake-SP), AVX2 with VNNI (AVX-VNNI: Intel's
desktop and laptop CPUs since Alder Lake, late 2021, which have no AVX-512), AVX2 only, or none of these (another
architecture, an old x86).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mgd_sam2.errors import ConfigError

CPU_KINDS = ("amx", "avx512_bf16", "avx512_vnni", "avx512", "avx2_vnni", "avx2", "other")  # fastest hardware first
# The flag that makes each kind, as /proc/cpuinfo spells it; the first one a CPU has decides.
KIND_FLAGS = {"amx": "amx_bf16", "avx512_bf16": "avx512_bf16", "avx512_vnni": "avx512_vnni", "avx512": "avx512f",
              "avx2_vnni": "avx_vnni", "avx2": "avx2"}  # fmt: skip
CPUINFO = Path("/proc/cpuinfo")
X86_MACHINES = frozenset({"x86_64", "amd64", "i386", "i686"})  # platform.machine(), lowercased, where KIND_FLAGS apply
# The switches that make the runtimes use fewer instruction sets than the CPU has (PyTorch's own kernels, MKL's,
# oneDNN's in PyTorch and OpenVINO; DNNL_MAX_CPU_ISA is oneDNN's older name), so that one CPU measures a smaller kind's
# kernels: for example ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 on an AVX-512 CPU
# (ONEDNN_MAX_CPU_ISA=AVX2_VNNI: AVX2 with AVX-VNNI's int8 products). The runtimes read them when they load, so they are
# set before the process starts. ONNX Runtime has no such switch, and OpenVINO's own kernels (interpolation,
# normalisation, reductions) and its fp32 matrix products ignore oneDNN's.
ONEDNN_SWITCHES = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")
# The kinds with native bf16 dot products, and the oneDNN ISA limits that leave them to it (its names and aliases up to
# oneDNN 3.7; DEFAULT and ALL limit nothing): oneDNN also runs bf16 on AVX-512 without them (avx512_core, and under a
# limit below AVX512_CORE_BF16), emulated with fp32 arithmetic.
BF16_KINDS = ("amx", "avx512_bf16")
ONEDNN_BF16_ISAS = frozenset({"AVX512_CORE_BF16", "AVX10_1_512", "AVX512_CORE_FP16", "AVX10_1_512_AMX",
                              "AVX512_CORE_AMX", "AVX10_1_512_AMX_FP16", "AVX512_CORE_AMX_FP16", "AVX10_2_512",
                              "AVX10_2", "AVX10_2_512_AMX_2", "AVX10_2_AMX_2", "DEFAULT", "ALL"})  # fmt: skip
ISA_SWITCHES = ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", *ONEDNN_SWITCHES)
NO_ONNX_RUNTIME_SWITCH = "ONNX Runtime has no switch to limit its instruction sets"


@dataclass(frozen=True)
class CpuKind:
    kind: str  # one of CPU_KINDS
    flags: tuple[str, ...]  # the KIND_FLAGS the CPU has
    source: str  # where the kind comes from, in words

    def describe(self) -> str:
        flags = " ".join(self.flags) or f"none of {' '.join(KIND_FLAGS.values())}"
        return f"{self.kind} (flags: {flags}; {self.source})"


def isa_limits() -> dict[str, str]:
    """The ISA_SWITCHES set in this process's environment, by name (empty: the runtimes use all the CPU has). A value
    that limits nothing (``ONEDNN_MAX_CPU_ISA=ALL``) counts too: it is the user's statement of what was measured."""
    values = {name: os.environ.get(name, "").strip() for name in ISA_SWITCHES}
    return {name: value for name, value in values.items() if value}


def onednn_limit_keeps_bf16() -> bool:
    """Whether oneDNN's ISA limit, where the environment sets one, leaves it bf16 instructions (ONEDNN_BF16_ISAS).
    oneDNN reads the first of ONEDNN_SWITCHES that is set, so ONEDNN_MAX_CPU_ISA wins over DNNL_MAX_CPU_ISA."""
    limits = isa_limits()
    limit = next((limits[name] for name in ONEDNN_SWITCHES if name in limits), None)
    return limit is None or limit.upper() in ONEDNN_BF16_ISAS


def describe_isa_limits() -> str:
    """The ISA switches set, as a shell prefix would set them ("NAME=value ..."; empty where none is)."""
    return " ".join(f"{name}={value}" for name, value in isa_limits().items())


def classify(flags: set[str] | frozenset[str]) -> str:
    """The CPU_KINDS entry of a CPU with these feature flags (/proc/cpuinfo's names)."""
    return next((kind for kind, flag in KIND_FLAGS.items() if flag in flags), "other")


def cpuinfo_fields(text: str) -> dict[str, str]:
    """The fields of the first processor listed in a /proc/cpuinfo text ("model name", "cpu family", "flags", ...)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        fields.setdefault(name.strip(), value.strip())
    return fields


def cpuinfo_flags(text: str) -> frozenset[str]:
    """The flags of the first processor listed in a /proc/cpuinfo text (empty: no "flags" line, as on ARM)."""
    return frozenset(cpuinfo_fields(text).get("flags", "").split())


TORCH_NAMES = {"avx512f": "avx512_f"}  # torch.cpu.get_capabilities()'s keys, where they differ from /proc/cpuinfo's


def torch_flags() -> frozenset[str]:
    """The KIND_FLAGS torch's CPU feature detection (cpuinfo) reports: for systems without /proc/cpuinfo. A torch
    without ``torch.cpu.get_capabilities()`` (older releases) has only its ``_is_*_supported()`` probes, which report
    no AVX-VNNI, so an avx2_vnni CPU counts as avx2 there and gets the avx2 path (ONNX Runtime int8)."""
    import torch

    if hasattr(torch.cpu, "get_capabilities"):
        capabilities = torch.cpu.get_capabilities()
        return frozenset(flag for flag in KIND_FLAGS.values() if capabilities.get(TORCH_NAMES.get(flag, flag)))
    found = {"amx_bf16": torch.cpu._is_amx_tile_supported(), "avx512_bf16": torch.cpu._is_avx512_bf16_supported(),
             "avx512_vnni": torch.cpu._is_vnni_supported(), "avx512f": torch.cpu._is_avx512_supported(),
             "avx2": torch.cpu._is_avx2_supported()}  # fmt: skip
    return frozenset(flag for flag, present in found.items() if present)


def detect_cpu_kind(forced: str | None = None, cpuinfo: Path = CPUINFO) -> CpuKind:
    """This CPU's kind, from /proc/cpuinfo (else torch's detection); ``forced``: a CPU_KINDS entry to use instead
    (``model export --cpu-kind``: exporting for another machine). Runtimes' ISA limits such as
    ``ONEDNN_MAX_CPU_ISA`` do not change the flags: force the kind to match them."""
    if forced is not None and forced not in CPU_KINDS:
        raise ConfigError(f"unknown CPU kind {forced!r}; choose one of {', '.join(CPU_KINDS)}")
    try:
        flags, source = cpuinfo_flags(cpuinfo.read_text()), f"from {cpuinfo}"
    except OSError:
        flags, source = torch_flags(), "from torch's CPU feature detection"
    detected = classify(flags)
    if forced is not None:
        source = f"forced by --cpu-kind; this CPU is of kind {detected}, {source}"
    return CpuKind(forced or detected, tuple(flag for flag in KIND_FLAGS.values() if flag in flags), source)
