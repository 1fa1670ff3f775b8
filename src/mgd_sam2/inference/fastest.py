"""The fastest export for each CPU kind (inference/cpu_kind.py) among those within the accuracy bounds, as measured:
what ``model export --fastest`` writes, and the precision it records for predict to run it in.

Each entry names the measurement it rests on (docs/benchmarks.md, "The fastest path for your CPU", shows this
table); a kind no run has measured gets the conservative path, and its reason starts with "not measured".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mgd_sam2.inference.cpu_kind import CpuKind
from mgd_sam2.inference.export_formats import EXPORT_BACKENDS, RECORD_KIND, RECORD_PRECISION

RUNTIMES = {"onnx": "ONNX Runtime fp32", "onnx-int8": "ONNX Runtime int8", "openvino-int8": "OpenVINO int8"}
PRECISION_NAMES = {"32-true": "fp32", "bf16-mixed": "bf16"}


@dataclass(frozen=True)
class FastestPath:
    backend: str  # benchmark speed's name of the path: a RUNTIMES key
    precision: str  # what predict runs it in: 32-true or bf16-mixed (Lightning's names)
    basis: str  # the measurement the choice rests on, or why there is none

    def describe(self, precision: str | None = None) -> str:
        """The path in words, run in ``precision`` (default: the one it records)."""
        precision = precision or self.precision
        run_in = f" run in {PRECISION_NAMES[precision]}" if self.backend.startswith("openvino") else ""
        return f"{RUNTIMES[self.backend]}{run_in}"


FASTEST = {
    "amx": FastestPath(
        "openvino-int8", "bf16-mixed",
        "the fastest of every backend and precision on two Intel Xeons with AMX, within the demo model's bounds on "
        "both (docs/measurements/speed_intel_xeon_amx.json, speed_intel_xeon_amx_model167.json, "
        "backends_demo_intel_xeon_amx.json, backends_demo_intel_xeon_amx_model167.json; docs/benchmarks.md, Speed); "
        "its int8 leaves the adapters and the first two stages' MLPs in bf16 (faster there: docs/speed-runs.md, "
        "\"int8 where it pays\"), and that file itself is within them on the second (the --fastest row of "
        "backends_demo_intel_xeon_amx_model167.json)",
    ),
    "avx512_bf16": FastestPath(
        "openvino-int8", "bf16-mixed",
        "the fastest of every backend and precision on AMD EPYCs with AVX-512 BF16, two Zen 4 and two Zen 5, within "
        "the demo model's bounds on each (docs/measurements/speed_amd_epyc_avx512.json, "
        "speed_amd_epyc_zen4_model17.json, speed_amd_epyc_zen5.json, speed_amd_epyc_zen5_later_export.json, "
        "backends_demo.json, backends_demo_amd_epyc_zen4_model17.json, backends_demo_amd_epyc_zen5.json, "
        "backends_demo_amd_epyc_zen5_later_export.json; docs/benchmarks.md, Speed); "
        "its int8 keeps the trunk and adapters: the AMX scope, which leaves parts in bf16, was slower on a Zen 4 "
        "(docs/speed-runs.md, \"int8 where it pays\")",
    ),
    "avx512_vnni": FastestPath(
        "openvino-int8", "32-true",
        "the fastest measured on AVX-512 kernels with VNNI and without bf16, emulated on an AMD EPYC Zen 5 by oneDNN's "
        "ISA limit, within the demo model's bounds there (docs/measurements/speed_amd_epyc_avx512_vnni_emulated.json, "
        "backends_demo_avx512_vnni_emulated.json); ONNX Runtime int8, which cannot be limited, took 1.36 times as "
        "long as it on that CPU's own kernels, where neither uses bf16 (speed_amd_epyc_zen5.json)",
    ),
    "avx512": FastestPath(
        "onnx-int8", "32-true",
        "not measured on AVX-512 without VNNI in ONNX Runtime, which cannot be limited to those kernels: on them, "
        "emulated on a Zen 5, OpenVINO int8's maps were past the demo model's bounds (without VNNI oneDNN sums int8 "
        "products in pairs in 16 bits, which can saturate), and OpenVINO fp32, 3 to 4 times torch fp32 there, "
        "is not a form --fastest writes (docs/measurements/speed_amd_epyc_avx512_emulated.json, "
        "backends_demo_avx512_emulated.json); ONNX Runtime int8 needs no calibration images, is the AVX2 choice, "
        "and its 7-bit weights keep those pair sums from saturating, so its masks there are the ones measured with "
        "VNNI (backends_demo_amd_epyc_zen5.json)",
    ),
    "avx2_vnni": FastestPath(
        "openvino-int8", "32-true",
        "the fastest measured on AVX2 kernels with AVX-VNNI, emulated on an AMD EPYC Zen 5 by oneDNN's ISA limit, "
        "within the demo model's bounds there (docs/measurements/speed_amd_epyc_avx2_vnni_emulated.json, "
        "backends_demo_avx2_vnni_emulated.json); ONNX Runtime cannot be limited to them and was "
        "not compared there, and in fp32 on AVX-512 VNNI its int8 ran slower than OpenVINO int8 (docs/benchmarks.md, "
        "Speed)",
    ),
    "avx2": FastestPath(
        "onnx-int8", "32-true",
        "the fastest of every backend on an AMD EPYC Zen 3 with AVX2 only (2.9 times torch fp32 in that run, its "
        "best; 2.29 times in passes interleaved with torch fp32 on another such machine, "
        "speed_amd_epyc_avx2_interleaved.json; its "
        "int8 product ran at 2.3 times OpenVINO's int8 and over twice every fp32 product), within the demo model's "
        "bounds there, where OpenVINO int8's maps were past them (docs/measurements/speed_amd_epyc_avx2.json, "
        "ceiling_amd_epyc_avx2.json, backends_demo_amd_epyc_avx2.json); its 7-bit weights keep AVX2's 16-bit int8 "
        "pair sums from saturating",
    ),
    "other": FastestPath(
        "onnx", "32-true",
        "not measured on a CPU without AVX2: ONNX Runtime fp32 gives PyTorch's masks and ran faster than PyTorch on "
        "every CPU measured (docs/benchmarks.md, Speed)",
    ),
}  # fmt: skip


def writes_the_same(kind: str, other: str) -> bool:
    """Whether ``model export --fastest`` writes the same form for CPU kinds ``kind`` and ``other``: the same backend
    run in the same precision (the files differ only in the kind recorded). OpenVINO int8 run in bf16 has a scope of
    its own per kind (export.OPENVINO_INT8_SCOPES), so two kinds of it count as different."""
    first, second = FASTEST[kind], FASTEST[other]
    openvino_bf16 = first.backend == "openvino-int8" and first.precision == "bf16-mixed"
    return (first.backend, first.precision) == (second.backend, second.precision) and not openvino_bf16


@dataclass(frozen=True)
class FastestFiles:
    """What ``model export --fastest STEM`` writes: the fp32 export and the quantized form chosen."""

    onnx: Path  # STEM.onnx (the quantizations' source)
    int8: Path | None  # STEM_int8.onnx, for onnx-int8
    openvino_int8: Path | None  # STEM_int8.xml (and .bin), for openvino-int8
    record: dict[str, str]  # the choice, for the metadata of the file predict runs (the quantized one, else onnx)

    @property
    def runs(self) -> Path:
        """The file predict runs: the quantized one, else the fp32 export."""
        return self.openvino_int8 or self.int8 or self.onnx


def fastest_record(kind: str) -> dict[str, str]:
    """What ``model export --fastest`` records for CPU kind ``kind``: the kind, and the precision predict runs in."""
    return {RECORD_KIND: kind, RECORD_PRECISION: FASTEST[kind].precision}


def without_export_suffix(path: Path) -> Path:
    """``path`` with a .onnx or .xml suffix taken off."""
    return path.with_suffix("") if path.suffix in EXPORT_BACKENDS else path  # a stem given as a file name


def export_stem(path: Path) -> Path:
    """The STEM of ``model export --fastest`` that writes ``path``, any of its `stem_files`, or the stem itself."""
    stem = without_export_suffix(path)
    return stem.with_name(stem.name.removesuffix("_int8"))


def stem_files(stem: Path) -> dict[str, Path]:
    """{form: file} of every export ``model export --fastest STEM`` can write (a .onnx or .xml suffix taken off
    ``stem``): STEM.onnx, STEM_int8.onnx, STEM_int8.xml."""
    stem = without_export_suffix(stem)
    quantized = stem.with_name(f"{stem.name}_int8")
    return {"onnx": stem.with_name(f"{stem.name}.onnx"), "onnx-int8": quantized.with_name(f"{quantized.name}.onnx"),
            "openvino-int8": quantized.with_name(f"{quantized.name}.xml")}  # fmt: skip


def fastest_files(cpu: CpuKind, stem: Path) -> FastestFiles:
    """The files the fastest path for ``cpu`` needs, named after ``stem`` (`stem_files`)."""
    path, files = FASTEST[cpu.kind], stem_files(stem)
    return FastestFiles(
        onnx=files["onnx"],
        int8=files["onnx-int8"] if path.backend == "onnx-int8" else None,
        openvino_int8=files["openvino-int8"] if path.backend == "openvino-int8" else None,
        record=fastest_record(cpu.kind),
    )
