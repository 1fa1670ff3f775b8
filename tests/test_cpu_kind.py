"""The CPU kind from its flags, the fastest path chosen for each kind, and the choice recorded and read back by
predict (issue 28). The chosen paths' accuracy is tests/test_export.py's."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mgd_sam2.cli import main
from mgd_sam2.inference import cpu_kind, loading
from mgd_sam2.inference.cpu_kind import CPU_KINDS, classify, cpuinfo_flags, detect_cpu_kind
from mgd_sam2.inference.fastest import FASTEST, fastest_files

# /proc/cpuinfo of each kind, shortened to one processor and the flags that matter next to some that do not
CPUINFO = {
    "amx": "model name\t: Intel(R) Xeon(R) Platinum 8481C\nflags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512bw "
    "avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8\n",
    "avx512_bf16": "model name\t: AMD EPYC 9R14\nflags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512bw avx512_vnni "
    "avx512_bf16\n",
    "avx512_vnni": "model name\t: Intel(R) Xeon(R) Gold 6248\nflags\t\t: fpu sse4_2 avx avx2 fma avx512f "
    "avx512bw avx512_vnni\n",  # Cascade Lake
    "avx512": "model name\t: Intel(R) Xeon(R) Gold 6148\nflags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512bw\n",
    "avx2_vnni": "model name\t: 12th Gen Intel(R) Core(TM) i7-1260P\nflags\t\t: fpu sse4_2 avx avx2 fma avx_vnni\n",
    "avx2": "model name\t: AMD EPYC 7B12\nflags\t\t: fpu sse4_2 avx avx2 fma\n",
    "other": "processor\t: 0\nFeatures\t: fp asimd evtstrm aes crc32 atomics\n",  # ARM: no "flags" line
}


@pytest.mark.parametrize("kind", CPU_KINDS)
def test_each_flag_set_makes_its_kind(kind: str, tmp_path: Path) -> None:
    (tmp_path / "cpuinfo").write_text(CPUINFO[kind] + "\n" + CPUINFO[kind])  # two processors
    detected = detect_cpu_kind(cpuinfo=tmp_path / "cpuinfo")
    assert detected.kind == kind and str(tmp_path / "cpuinfo") in detected.describe()
    assert set(detected.flags) <= cpuinfo_flags(CPUINFO[kind]) and ("avx2" in detected.flags) == (kind != "other")


def test_an_old_x86_is_other_and_a_kind_can_be_forced(tmp_path: Path) -> None:
    assert classify(frozenset({"sse4_2", "avx", "fma"})) == "other"
    (tmp_path / "cpuinfo").write_text(CPUINFO["avx512_bf16"])
    forced = detect_cpu_kind("avx2", cpuinfo=tmp_path / "cpuinfo")
    assert forced.kind == "avx2" and "forced by --cpu-kind; this CPU is of kind avx512_bf16" in forced.describe()


def test_avx_vnni_decides_only_below_avx512() -> None:
    zen5 = frozenset({"avx2", "avx_vnni", "avx512f", "avx512_vnni", "avx512_bf16"})  # AMD EPYC 9005
    assert classify(zen5) == "avx512_bf16" and classify(zen5 | {"amx_bf16"}) == "amx"
    assert classify(frozenset({"avx2", "avx_vnni"})) == "avx2_vnni"
    assert classify(frozenset({"avx2", "avx_vnni", "avx512f"})) == "avx512"
    assert classify(zen5 - {"avx512_bf16"}) == "avx512_vnni" and classify(zen5 - {"avx512_vnni"}) == "avx512_bf16"


def test_without_proc_cpuinfo_torch_detects_the_flags(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(cpu_kind, "torch_flags", lambda: frozenset({"avx2", "avx512f"}))
    detected = detect_cpu_kind(cpuinfo=tmp_path / "missing")
    assert detected.kind == "avx512" and "torch's CPU feature detection" in detected.describe()


def test_torch_flags_read_its_capabilities_or_its_older_probes(monkeypatch) -> None:
    import torch

    capabilities = {"avx2": True, "avx_vnni": True, "avx512_f": False, "avx512_vnni": False, "amx_bf16": False}
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities, raising=False)
    assert cpu_kind.torch_flags() == {"avx2", "avx_vnni"} and classify(cpu_kind.torch_flags()) == "avx2_vnni"
    capabilities.update(avx512_f=True, avx512_vnni=True)
    assert classify(cpu_kind.torch_flags()) == "avx512_vnni"
    monkeypatch.delattr(torch.cpu, "get_capabilities")  # an older torch: its probes, which know no AVX-VNNI
    probes = {"_is_amx_tile_supported": False, "_is_avx512_bf16_supported": False, "_is_vnni_supported": False,
              "_is_avx512_supported": False, "_is_avx2_supported": True}  # fmt: skip
    for name, present in probes.items():
        monkeypatch.setattr(torch.cpu, name, lambda present=present: present, raising=False)
    assert cpu_kind.torch_flags() == {"avx2"}


def test_a_measurement_names_the_gpu_where_one_is_visible(monkeypatch) -> None:
    import types

    import torch

    from mgd_sam2.benchmark.measurement import machine

    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)  # a CPU run, whether or not a GPU is there
    assert "GPU" not in machine()
    gpu = types.SimpleNamespace(name="NVIDIA H200", total_memory=143771 * 2**20)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: gpu if index == 1 else None)
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    line = machine()
    assert line.endswith(f"; GPU NVIDIA H200 (143771 MiB), CUDA 13.0, torch {torch.__version__}")
    # benchmark speed measures on CUDA in fresh processes: the caller says so where this process never started CUDA
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    assert machine(gpu=True) == line
    # the committed GPU measurements carry the same line (docs/measurements/gpu_*.json)
    committed = json.loads((Path(__file__).parents[1] / "docs/measurements/gpu_nvidia_h200.json").read_text())
    assert re.fullmatch(r".+, \d+ cores; CPU kind \w+ \(.+\); GPU NVIDIA H200 \(\d+ MiB\), CUDA [\d.]+, torch .+",
                        committed["machine"])  # fmt: skip
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(torch.version, "hip", "6.4")
    assert "; GPU NVIDIA H200 (143771 MiB), ROCm 6.4, torch" in machine(gpu=True)


def test_benchmark_speed_on_cuda_names_the_gpu_its_fresh_processes_used(monkeypatch, tmp_path: Path) -> None:
    """`benchmark speed --device cuda` measures in fresh processes, where this one never starts CUDA: its JSON names
    the GPU all the same (`machine(gpu=True)`); a CPU run names none."""
    import torch

    from mgd_sam2.benchmark import measurement, speed
    from mgd_sam2.cli import main

    row = {"throughput_img_s": 1.0, **{key: 0 for key in (
        "preset", "device", "train", "backend", "batch", "precision", "compile", "input_size", "latency_ms_p50",
        "latency_ms_p90", "peak_gpu_memory_mb", "peak_host_memory_mb", "export_peak_memory_mb", "params_total",
        "params_trainable", "sigmoid_diff_vs_fp32")}}  # fmt: skip
    monkeypatch.setattr(speed, "measure_isolated", lambda config: row)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # --device cuda's check; nothing runs on it
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    monkeypatch.setattr(measurement, "machine", lambda gpu=False: f"a machine{'; GPU' if gpu else ''}")
    for device, named in (("cuda", True), ("cpu", False)):
        out = tmp_path / f"{device}.json"
        assert main(["benchmark", "speed", "--preset", "micro", "--device", device, "--json", str(out)]) == 0
        assert json.loads(out.read_text())["machine"].endswith("; GPU") is named


def test_the_runtimes_isa_limits_are_read_and_recorded_but_leave_the_kind(monkeypatch, without_isa_limits) -> None:
    from mgd_sam2.benchmark.measurement import isa_limits_of, machine, measurement
    from mgd_sam2.inference import backends, devices

    class PluginWithBf16:  # what OpenVINO's CPU plugin reports on a CPU with bf16, whatever oneDNN's limit
        class Core:
            def get_property(self, device: str, name: str) -> list[str]:
                return ["FP32", "BF16", "INT8"]

    monkeypatch.setattr(backends, "import_openvino", lambda: PluginWithBf16)
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)  # oneDNN under the limit
    assert cpu_kind.isa_limits() == {} and isa_limits_of(machine()) == ""
    assert measurement({}, "mgd-sam2 benchmark x")["command"] == "mgd-sam2 benchmark x"
    unlimited = detect_cpu_kind()
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    assert backends.openvino_has_bf16()  # no oneDNN limit: the plugin's answer
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", " AVX2 ")
    monkeypatch.setenv("MKL_ENABLE_INSTRUCTIONS", " ")  # blank: not set
    assert cpu_kind.isa_limits() == {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
    prefix = "ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2"
    assert f"instruction sets limited by {prefix} (" in machine() and isa_limits_of(machine()) == prefix
    assert measurement({}, "mgd-sam2 benchmark x")["command"] == f"{prefix} mgd-sam2 benchmark x"
    assert detect_cpu_kind() == unlimited  # the flags stay the CPU's: --cpu-kind forces a kind
    assert not backends.openvino_has_bf16()  # oneDNN obeys the limit and decides, whatever the plugin reports
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    monkeypatch.setenv("DNNL_MAX_CPU_ISA", "AVX2")  # oneDNN's older name of the same limit
    assert not backends.openvino_has_bf16()


def test_each_kind_gets_a_path_with_its_reason() -> None:
    assert set(FASTEST) == set(CPU_KINDS)
    assert {kind: (path.backend, path.precision) for kind, path in FASTEST.items()} == {
        "amx": ("openvino-int8", "bf16-mixed"),
        "avx512_bf16": ("openvino-int8", "bf16-mixed"),
        "avx512_vnni": ("openvino-int8", "32-true"),
        "avx512": ("onnx-int8", "32-true"),
        "avx2_vnni": ("openvino-int8", "32-true"),
        "avx2": ("onnx-int8", "32-true"),
        "other": ("onnx", "32-true"),
    }
    for kind, path in FASTEST.items():
        assert "docs/" in path.basis, kind  # a pointer to the measurement, not a figure
        assert path.basis.startswith("not measured") == (kind in ("avx512", "other")), kind


def test_export_help_says_where_openvino_int8_is_the_fastest() -> None:
    """``model export --openvino-int8``'s help: the kinds with VNNI or native bf16, and ONNX Runtime elsewhere."""
    from mgd_sam2.cli import subcommand_parser

    help_text = " ".join(next(
        action.help for parser in subcommand_parser("model")._subparsers._group_actions[0].choices.values()
        for action in parser._actions if "--openvino-int8" in action.option_strings
    ).split())  # fmt: skip
    assert "measured on CPUs with VNNI or native bf16 (without them --fastest picks ONNX Runtime)" in help_text
    with_them = {kind for kind in CPU_KINDS if "vnni" in kind or "bf16" in kind or kind == "amx"}
    assert {kind for kind, path in FASTEST.items() if path.backend == "openvino-int8"} == with_them
    assert {path.backend for kind, path in FASTEST.items() if kind not in with_them} <= {"onnx", "onnx-int8"}


@pytest.mark.parametrize(
    ("kind", "stem", "files"),
    [
        ("amx", "out/model.onnx", ("out/model.onnx", None, "out/model_int8.xml")),
        ("avx2", "out/model", ("out/model.onnx", "out/model_int8.onnx", None)),
        ("other", "out/m.v2", ("out/m.v2.onnx", None, None)),
    ],
)
def test_the_chosen_files_are_named_after_the_stem(kind: str, stem: str, files: tuple) -> None:
    chosen = fastest_files(detect_cpu_kind(kind), Path(stem))
    assert (chosen.onnx, chosen.int8, chosen.openvino_int8) == tuple(Path(f) if f else None for f in files)
    assert chosen.record == {"cpu_kind": kind, "precision": FASTEST[kind].precision}


def test_predict_runs_an_export_in_the_precision_it_records(tmp_path: Path, monkeypatch) -> None:
    """auto: the recorded precision where OpenVINO has native bf16 here, else fp32; an explicit one as given."""
    xml = tmp_path / "model_int8.xml"
    xml.write_text('<net name="m"><rt_info><framework><precision value="bf16-mixed" /></framework></rt_info></net>')
    plain = tmp_path / "plain.xml"
    plain.write_text('<net name="m"><rt_info><framework><grid value="2" /></framework></rt_info></net>')
    for has_bf16, expected in ((True, "bf16-mixed"), (False, "32-true")):
        monkeypatch.setattr(loading, "openvino_has_bf16", lambda has_bf16=has_bf16: has_bf16)
        assert loading.exported_precision("openvino", xml, "auto") == expected
    monkeypatch.setattr(loading, "openvino_has_bf16", lambda: True)
    assert loading.exported_precision("openvino", xml, "32-true") == "32-true"
    assert loading.exported_precision("openvino", plain, "auto") == "32-true"  # nothing recorded
    assert loading.exported_precision("onnx", tmp_path / "model_int8.onnx", "auto") == "32-true"


def test_fastest_mistakes_are_one_line_errors(trained_checkpoint: Path, tmp_path: Path, capsys) -> None:
    base = ["model", "export", "--ckpt", str(trained_checkpoint)]
    for extra, message in (
        (["--fastest", str(tmp_path / "m"), "--cpu-kind", "avx512_bf16"], "give --calibration FOLDER"),
        (["--fastest", str(tmp_path / "m"), "--cpu-kind", "amx"], "OpenVINO int8 run in bf16, which is calibrated"),
        (["--fastest", str(tmp_path / "m"), "--onnx", str(tmp_path / "a.onnx")], "drop --onnx"),
        (["--onnx", str(tmp_path / "a.onnx"), "--cpu-kind", "avx2"], "give --fastest STEM too"),
    ):
        assert main([*base, *extra]) == 1
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, (extra, err)
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("kind", CPU_KINDS)
def test_bf16_is_native_only_with_the_flags_and_oneDNN_allowed_them(kind: str, monkeypatch, without_isa_limits) -> None:
    """oneDNN reports bf16 on every AVX-512 CPU (it emulates it without AVX512-BF16) and under ISA limits below
    AVX512_CORE_BF16 (measured: ONEDNN_MAX_CPU_ISA=AVX512_CORE on a Zen 5); on x86 only the kinds with the bf16 flags
    count, and only while the limit keeps them; on ARM oneDNN decides."""
    import platform

    import torch

    from mgd_sam2.inference.devices import cpu_has_native_bf16

    monkeypatch.setattr(cpu_kind, "detect_cpu_kind", lambda: detect_cpu_kind(kind))
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: True)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    flagged = kind in ("amx", "avx512_bf16")
    assert cpu_has_native_bf16() == flagged
    limits = {"AVX512_CORE": False, "AVX512_CORE_VNNI": False, "AVX2_VNNI": False, "avx512_core_bf16": True,
              "AVX512_CORE_AMX": True, "AVX10_2_512": True, "DEFAULT": True, "ALL": True}  # fmt: skip
    for limit, native in limits.items():
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", limit)
        assert cpu_has_native_bf16() == (native and flagged), limit
    monkeypatch.setenv("DNNL_MAX_CPU_ISA", "AVX512_CORE")  # the older name counts only where the newer is not set
    assert cpu_has_native_bf16() == flagged
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    assert not cpu_has_native_bf16()
    monkeypatch.delenv("DNNL_MAX_CPU_ISA")
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")  # no x86 flags to read: oneDNN's answer stands
    assert cpu_has_native_bf16()
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)  # oneDNN's answer counts too
    assert not cpu_has_native_bf16()


def test_a_cpu_kind_read_under_isa_switches_warns_unless_given(monkeypatch, capsys) -> None:
    """model export --fastest and the benchmarks read the kind from the CPU's flags; under runtimes' ISA switches
    that is not the kind the kernels emulate, so they say so unless --cpu-kind names one."""
    import argparse

    from mgd_sam2.commands.arguments import cpu_kind_argument
    from mgd_sam2.inference.cpu_kind import ISA_SWITCHES, detect_cpu_kind

    for name in ISA_SWITCHES:
        monkeypatch.delenv(name, raising=False)
    assert cpu_kind_argument(argparse.Namespace(cpu_kind=None)).kind == detect_cpu_kind().kind
    assert "warning" not in capsys.readouterr().out
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert cpu_kind_argument(argparse.Namespace(cpu_kind="avx2")).kind == "avx2"
    assert "warning" not in capsys.readouterr().out
    cpu_kind_argument(argparse.Namespace(cpu_kind=None))
    out = " ".join(capsys.readouterr().out.split())
    assert "ONEDNN_MAX_CPU_ISA=AVX2 limits the runtimes' kernels" in out and "give --cpu-kind" in out
