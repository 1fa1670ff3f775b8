"""`benchmark ceiling`: the network's operations per part add up to an independent count, each path's ceiling is its
operations at its rates, and the command writes every figure."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from mgd_sam2.benchmark.ceiling import PATHS, ceilings, count_operations, path_of, speed_rows, with_speed
from mgd_sam2.benchmark.speed import RandomNetwork
from mgd_sam2.inference.export import check_views

# the runtimes' switches to AVX2 kernels on a larger CPU (inference/cpu_kind.py)
AVX2_LIMITS = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
AVX2_PREFIX = "ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2"


@pytest.fixture(scope="module")
def micro():
    network = RandomNetwork("micro").load().eval()
    return network, check_views(network)


def test_the_parts_add_up_to_every_product_and_the_cpus_attention(micro, monkeypatch) -> None:
    """Independently: FlopCounterMode's whole count plus attention counted at F.scaled_dot_product_attention's
    calls (4 x batch x query length x key length x head size), and the trunk's Linear layers from their shapes."""
    network, views = micro
    attention, linear = [0], [0]
    sdpa = F.scaled_dot_product_attention

    def counted(query, key, value, *args, **kwargs):
        attention[0] += 4 * query.shape[:-2].numel() * query.shape[-2] * key.shape[-2] * query.shape[-1]
        return sdpa(query, key, value, *args, **kwargs)

    def linear_hook(module, inputs, output):
        linear[0] += 2 * inputs[0].numel() // module.in_features * module.in_features * module.out_features

    hooks = [module.register_forward_hook(linear_hook) for module in network.encoder.trunk.modules()
             if isinstance(module, nn.Linear)]  # fmt: skip
    monkeypatch.setattr(F, "scaled_dot_product_attention", counted)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        network(views)
    for hook in hooks:
        hook.remove()
    monkeypatch.undo()
    operations = count_operations(network, views)
    whole = sum(counter.get_flop_counts()["Global"].values()) + attention[0]
    assert attention[0] > 0 and linear[0] > 0
    assert math.isclose(sum(sum(kinds.values()) for kinds in operations.values()) * 1e9, whole, rel_tol=1e-12)
    assert math.isclose(operations["Hiera trunk"]["linear"] * 1e9, linear[0], rel_tol=1e-12)
    assert operations["DRM"]["conv"] > 0 and operations["DRM"]["linear"] == 0
    assert "other" not in operations  # every product of the network is in one of its parts


def test_a_ceiling_is_each_products_operations_at_the_rate_its_path_runs_it_in() -> None:
    operations = {"Hiera trunk": {"linear": 8.0, "conv": 0.0, "attention": 2.0}, "DRM": {"linear": 0.0, "conv": 4.0,
                  "attention": 0.0}}  # fmt: skip
    rates = {"torch fp32": 2.0, "openvino fp32": 1.0, "openvino bf16": 4.0, "openvino int8": 8.0}
    result = ceilings(operations, rates)
    assert result["torch fp32"] == 14.0 / 2.0
    assert result["openvino-int8 bf16"] == 10.0 / 8.0 + 4.0 / 4.0  # the trunk in int8, the DRM in bf16
    assert result["openvino-int8 fp32"] == 10.0 / 8.0 + 4.0 / 1.0
    assert result["every weight product int8"] == 12.0 / 8.0 + 2.0 / 4.0
    assert result["every product int8"] == 14.0 / 8.0
    assert "torch bf16" not in result and "onnx-int8" not in result  # rates not measured: no ceiling


def test_speed_rows_are_matched_to_their_paths_and_both_speedups_share_one_torch_fp32() -> None:
    rows = [{"preset": "micro", "batch": 1, "device": "cpu", "train": False, "compile": False, "backend": backend,
             "precision": precision, "latency_ms_p50": ms} for backend, precision, ms in
            [("torch", "32-true", 1000.0), ("torch", "bf16-mixed", 500.0), ("onnx-int8", "32-true", 400.0),
             ("openvino-int8", "bf16-mixed", 250.0), ("openvino", "32-true", 9.0)]]  # fmt: skip
    rows[-1]["batch"] = 8  # another batch size: not this path's time
    assert {path_of(row) for row in rows} <= set(PATHS)
    rows_in = [{"path": path, "ceiling_s": 0.1, "max_speedup_vs_torch_fp32": 20.0} for path in PATHS]
    results = {"preset": "micro", "torch_fp32_s": 2.0, "speedup_baseline": "this run", "ceilings": rows_in}
    updated = with_speed(results, {"speed": rows, "date": "d"})
    shown = {row["path"]: row for row in updated["ceilings"]}
    assert updated["speedup_baseline_s"] == 1.0 and "--speed" in updated["speedup_baseline"]
    fastest = shown["openvino-int8 bf16"]
    assert (fastest["measured_s"], fastest["measured_speedup_vs_torch_fp32"]) == (0.25, 4.0)
    assert fastest["max_speedup_vs_torch_fp32"] == 10.0  # over the file's torch fp32, as the measured one
    assert fastest["share_of_ceiling"] == 0.1 / 0.25 == 4.0 / 10.0
    assert shown["torch bf16"]["measured_speedup_vs_torch_fp32"] == 2.0
    assert shown["openvino fp32"]["measured_s"] is None and shown["openvino fp32"]["share_of_ceiling"] is None
    without_torch = with_speed(results, {"speed": rows[1:]})  # no torch fp32 there: this run's is the baseline
    assert without_torch["speedup_baseline_s"] == 2.0
    assert {row["path"]: row for row in without_torch["ceilings"]}["torch bf16"][
        "measured_speedup_vs_torch_fp32"
    ] == 4.0
    for wrong in ({"ceilings": []}, {"speed": [{"preset": "micro"}]}, []):
        with pytest.raises(ValueError, match="not a `benchmark speed --json` file"):
            speed_rows(wrong, "micro")


@pytest.mark.slow
def test_the_ceiling_command_writes_every_figure(tmp_path: Path, without_isa_limits) -> None:
    """As a user runs it (its own process: ONNX Runtime and OpenVINO stay out of pytest's)."""
    out = tmp_path / "ceiling.json"
    command = [sys.executable, "-m", "mgd_sam2.cli", "benchmark", "ceiling", "--preset", "micro", "--side", "128",
               "--json", str(out)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "pre-processing before quantization" not in result.stdout + result.stderr
    measured = json.loads(out.read_text())
    assert measured["command"].startswith("mgd-sam2 benchmark ceiling") and "limited by" not in measured["machine"]
    assert {"torch fp32", "onnx fp32", "onnx int8", "openvino fp32", "openvino int8"} <= set(measured["peak_gflop_s"])
    assert all(rate > 0 for rate in measured["peak_gflop_s"].values())
    paths = {row["path"]: row for row in measured["ceilings"]}
    assert {"torch fp32", "onnx", "onnx-int8", "openvino fp32", "openvino-int8 fp32", "every product int8"} <= set(
        paths
    )
    for row in paths.values():
        assert math.isclose(row["max_speedup_vs_torch_fp32"], measured["torch_fp32_s"] / row["ceiling_s"])
    assert "ceilings (speed-ups over torch fp32 measured by this command)" in result.stdout


@pytest.mark.slow
def test_the_ceiling_of_avx2_kernels_on_a_larger_cpu_leaves_out_what_cannot_be_limited(
    tmp_path: Path, without_isa_limits
) -> None:
    """Under the ISA switches every rate is of AVX2 kernels: ONNX Runtime, which has no switch, is left out with its
    reason, bf16 is not native (OpenVINO's plugin would still report it), and the machine line names the limits."""
    out = tmp_path / "ceiling.json"
    command = [sys.executable, "-m", "mgd_sam2.cli", "benchmark", "ceiling", "--preset", "micro", "--side", "128",
               "--json", str(out)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **AVX2_LIMITS})
    assert result.returncode == 0, result.stderr[-3000:]
    measured = json.loads(out.read_text())
    assert f"instruction sets limited by {AVX2_PREFIX} (" in measured["machine"]
    assert measured["command"].startswith(f"{AVX2_PREFIX} mgd-sam2 benchmark ceiling")  # as a shell would run it
    assert set(measured["peak_gflop_s"]) == {"torch fp32", "openvino fp32", "openvino int8"}
    assert any(reason.startswith("onnx: ONNX Runtime has no switch") for reason in measured["not_measured"])
    paths = {row["path"] for row in measured["ceilings"]}
    assert paths == {"torch fp32", "openvino fp32", "openvino-int8 fp32", "every product int8"}  # no bf16 rate


def test_a_speed_file_of_other_isa_switches_is_refused_before_measuring(tmp_path: Path, without_isa_limits) -> None:
    """Its torch fp32 would be another CPU kind's kernels than the rates measured here."""
    from mgd_sam2.benchmark.measurement import machine

    row = {"preset": "micro", "batch": 1, "device": "cpu", "train": False, "compile": False, "backend": "torch",
           "precision": "32-true", "latency_ms_p50": 100.0}  # fmt: skip
    speed = tmp_path / "speed.json"
    speed.write_text(json.dumps({"machine": machine(), "speed": [row]}))  # measured without switches
    command = [sys.executable, "-m", "mgd_sam2.cli", "benchmark", "ceiling", "--preset", "micro", "--speed", str(speed)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, **AVX2_LIMITS})
    assert result.returncode != 0 and "Traceback" not in result.stderr and "peak rates" not in result.stdout
    assert (f"--speed {speed} was measured under no ISA switches, this run is under {AVX2_PREFIX}: run both under "
            "the same switches") in result.stderr + result.stdout  # fmt: skip


def test_a_speed_file_that_is_not_one_is_refused_before_measuring(tmp_path: Path) -> None:
    wrong = tmp_path / "ceiling.json"
    wrong.write_text(json.dumps({"ceilings": []}))
    command = [sys.executable, "-m", "mgd_sam2.cli", "benchmark", "ceiling", "--preset", "micro", "--speed", str(wrong)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert f"--speed {wrong}: not a `benchmark speed --json` file" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr and "peak rates" not in result.stdout
