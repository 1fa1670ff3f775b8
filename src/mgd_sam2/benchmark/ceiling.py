"""``benchmark ceiling``: how fast a prediction could at best run on this CPU, path by path.

A path's ceiling is the time its matrix products would take if each ran at this CPU's measured peak rate for the
engine and precision the path gives it, and nothing else cost anything (no glue, no memory traffic, no
normalisation). ``torch fp32 time / ceiling`` then bounds the speed-up over torch fp32 that tuning the path can
bring; a goal above it needs fewer operations or more of them in a faster precision. The bound is as good as the
measured rates: an engine that multiplied faster than its best measured product would beat it, so each rate is the
best of several passes of a large product (``side`` 4096: 137 GFLOP), with the threads the paths use, and for
int8 the faster of signed and unsigned activations; a smaller ``side`` measures lower rates and gives no bound.

Operations: one prediction of the network (random weights; the count does not depend on them), counted by torch's
FlopCounterMode (2 per multiply-add) part by part (models/groups.part_of), split into ``linear`` (Linear layers),
``conv`` (convolutions) and ``attention`` (products of two activations). FlopCounterMode does not count the CPU's
fused attention kernel (``_scaled_dot_product_flash_attention_for_cpu``), so it is counted here by torch's own
formula for the other attention kernels. The exports leave out the per-view masks the DRM replaces (a few of the
decoder's MFLOP), which are counted: the count is that much too high for them.

Peak rates, GFLOP/s of one square product: torch (fp32; bf16 where the CPU has native bf16 kernels), ONNX Runtime
(fp32; int8 as ``model export --int8`` quantizes: dynamic, per-channel 7-bit weights) and OpenVINO (fp32; bf16 where
native; int8 with quantize nodes on both inputs, as NNCF writes them). Convolutions and attention are given the
rate of that product: direct convolution arithmetic, no Winograd-style saving, is assumed.
"""

from __future__ import annotations

import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import numpy as np

PEAK_SIDE = 4096
KINDS = ("linear", "conv", "attention")


def nncf_int8(part: str) -> bool:
    """Whether ``model export --openvino-int8`` quantizes ``part``'s products (all of them, attention included), in
    its default scope: ``--fastest`` for AMX leaves some of them in bf16 (export.OPENVINO_INT8_SCOPES), and counting
    them at the faster int8 rate keeps the ceiling a bound."""
    from mgd_sam2.inference.export import OPENVINO_INT8

    return part in OPENVINO_INT8.parts


# What each path runs a product of (part, kind) in: an engine and precision of ``peak_rates``. Where a path's own
# runtime may run a product in either of two precisions, the faster one is given (a bound must not be too slow).
PATHS: dict[str, Callable[[str, str], str]] = {
    "torch fp32": lambda part, kind: "torch fp32",
    "torch bf16": lambda part, kind: "torch bf16",
    "onnx": lambda part, kind: "onnx fp32",
    # MatMul/Gemm with constant weights: quantize_dynamic leaves products of two activations (attention) in fp32
    "onnx-int8": lambda part, kind: "onnx int8" if kind == "linear" else "onnx fp32",
    "openvino fp32": lambda part, kind: "openvino fp32",
    "openvino bf16": lambda part, kind: "openvino bf16",
    "openvino-int8 fp32": lambda part, kind: "openvino int8" if nncf_int8(part) else "openvino fp32",
    "openvino-int8 bf16": lambda part, kind: "openvino int8" if nncf_int8(part) else "openvino bf16",
    # not paths: the limit of quantizing more (every weight product; every product) with OpenVINO
    "every weight product int8": lambda part, kind: "openvino int8" if kind != "attention" else "openvino bf16",
    "every product int8": lambda part, kind: "openvino int8",
}


def kind_of(op: Any) -> str:
    """``linear``, ``conv`` or ``attention`` for an aten operator FlopCounterMode counts."""
    name = str(op)
    if "conv" in name:
        return "conv"
    return "attention" if "bmm" in name or "dot_product" in name else "linear"


def count_operations(network: Any, views: Any) -> dict[str, dict[str, float]]:
    """Floating-point operations of ``network(views)``: {part: {kind: GFLOP}}; operations outside every part
    (the network's own glue) under "other"."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

    from mgd_sam2.models.groups import part_of

    def cpu_attention(query: torch.Size, key: torch.Size, value: torch.Size, *args: Any, **kwargs: Any) -> int:
        return sdpa_flop_count(query, key, value)  # FlopCounterMode passes the tensors' shapes

    mapping = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: cpu_attention}
    with torch.inference_mode(), FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        network.eval()(views)
    root = type(network).__name__
    tracked = {name: dict(ops) for name, ops in counter.get_flop_counts().items() if name.startswith(root + ".")}

    def parent(name: str) -> str | None:  # the nearest tracked module around it (a loop may skip levels)
        while "." in name:
            name = name.rsplit(".", 1)[0]
            if name in tracked:
                return name
        return None

    parents = {name: parent(name) for name in tracked}
    own = {name: dict(ops) for name, ops in tracked.items()}  # each module's operations less its tracked children's
    for name, ops in tracked.items():
        if parents[name] is not None:
            for op, count in ops.items():
                own[parents[name]][op] -= count
    operations: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(KINDS, 0.0))
    for name, ops in own.items():
        part = part_of(name[len(root) + 1 :]) or "other"
        for op, count in ops.items():
            operations[part][kind_of(op)] += count / 1e9
    outermost = [ops for name, ops in tracked.items() if parents[name] is None]
    for op, count in counter.get_flop_counts()["Global"].items():  # of no tracked module: the network's own forward
        counted = sum(ops.get(op, 0) for ops in outermost)
        if count != counted:
            operations["other"][kind_of(op)] += (count - counted) / 1e9
    return {part: dict(kinds) for part, kinds in operations.items() if any(kinds.values())}


def best_seconds(run: Callable[[], Any], warmup: int = 2, passes: int = 5) -> float:
    """The shortest time of ``passes`` calls of ``run`` after ``warmup`` untimed ones, in seconds."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(passes):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def torch_rate(side: int, bf16: bool) -> float:
    """GFLOP/s of one ``side``-square product in torch, fp32 or bf16, with torch's threads."""
    import torch

    dtype = torch.bfloat16 if bf16 else torch.float32
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randn(side, side, generator=generator).to(dtype) for _ in range(2))
    with torch.inference_mode():
        return 2 * side**3 / best_seconds(lambda: a @ b) / 1e9


def onnx_rate(side: int, int8: bool, folder: Path) -> float:
    """GFLOP/s of one ``side``-square product (constant weights) in ONNX Runtime, fp32 or int8, with torch's number
    of threads (as ``benchmark speed`` runs it); its files go in ``folder``."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from mgd_sam2.inference.export import int8_weights

    weight = np.random.default_rng(0).standard_normal((side, side)).astype(np.float32) * 0.02
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "product",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [side, side])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [side, side])],
        [numpy_helper.from_array(weight, "w")],
    )
    path = folder / "product.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    if int8:
        int8_weights(path, folder / "product_int8.onnx")
        path = folder / "product_int8.onnx"
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch_threads()
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((side, side)).astype(np.float32)
    return 2 * side**3 / best_seconds(lambda: session.run(None, {"x": x})) / 1e9


def openvino_rate(side: int, precision: str, unsigned: bool = False) -> float:
    """GFLOP/s of one ``side``-square product (constant weights) in OpenVINO with torch's number of threads:
    ``precision`` fp32, bf16, or int8 (quantize nodes on both inputs, ``unsigned`` activations or signed, run with an
    fp32 hint so that no conversion of the output to bf16 and back is timed)."""
    import openvino as ov
    import openvino.opset13 as ops

    from mgd_sam2.inference.backends import openvino_properties

    x = ops.parameter([side, side], np.float32, name="x")
    w = ops.constant(np.random.default_rng(0).standard_normal((side, side)).astype(np.float32) * 0.02)
    a, b = x, w
    if precision == "int8":

        def quantized(node: Any, low: float, high: float) -> Any:
            low_node, high_node = ops.constant(np.float32(low)), ops.constant(np.float32(high))
            return ops.fake_quantize(node, low_node, high_node, low_node, high_node, 256)

        a = quantized(x, 0.0, 4.0) if unsigned else quantized(x, -4.0, 4.0 * 127 / 128)
        b = quantized(w, -0.1, 0.1 * 127 / 128)
    model = ov.Model([ops.matmul(a, b, False, True)], [x])
    properties = openvino_properties("bf16" if precision == "bf16" else "f32", torch_threads())
    request = ov.Core().compile_model(model, "CPU", properties).create_infer_request()
    data = np.random.default_rng(1).standard_normal((side, side)).astype(np.float32)
    return 2 * side**3 / best_seconds(lambda: request.infer({0: data})) / 1e9


def torch_threads() -> int:
    """The threads torch runs with here, which ``benchmark speed`` gives the exported runtimes too."""
    import torch

    return torch.get_num_threads()


def peak_rates(side: int = PEAK_SIDE) -> tuple[dict[str, float], list[str]]:
    """GFLOP/s of one ``side``-square product per engine and precision available here, and what was not
    measured and why."""
    from importlib.util import find_spec

    from mgd_sam2.inference.backends import openvino_has_bf16
    from mgd_sam2.inference.cpu_kind import NO_ONNX_RUNTIME_SWITCH, isa_limits
    from mgd_sam2.inference.devices import cpu_has_native_bf16

    rates: dict[str, float] = {"torch fp32": torch_rate(side, bf16=False)}
    skipped = []
    if cpu_has_native_bf16():
        rates["torch bf16"] = torch_rate(side, bf16=True)
    else:
        skipped.append("torch bf16: no native bf16 kernels on this CPU")
    if find_spec("onnxruntime") is None:
        skipped.append("onnx: ONNX Runtime not installed (pip install 'mgd-sam2[onnx]')")
    elif isa_limits():
        skipped.append(f"onnx: {NO_ONNX_RUNTIME_SWITCH} (its rate would be this CPU's)")
    else:
        with tempfile.TemporaryDirectory() as folder:
            rates["onnx fp32"] = onnx_rate(side, False, Path(folder))
            rates["onnx int8"] = onnx_rate(side, True, Path(folder))
    if find_spec("openvino") is None:
        skipped.append("openvino: not installed (pip install 'mgd-sam2[openvino]')")
        return rates, skipped
    rates["openvino fp32"] = openvino_rate(side, "fp32")
    if openvino_has_bf16():
        rates["openvino bf16"] = openvino_rate(side, "bf16")
    else:
        skipped.append("openvino bf16: no native bf16 on this CPU")
    rates["openvino int8"] = max(openvino_rate(side, "int8", unsigned) for unsigned in (False, True))
    return rates, skipped


def ceilings(operations: dict[str, dict[str, float]], rates: dict[str, float]) -> dict[str, float]:
    """Seconds per prediction of each path of PATHS whose every rate was measured: its operations at its rates."""
    result = {}
    for path, rate_of in PATHS.items():
        keys = {(part, kind): rate_of(part, kind) for part, kinds in operations.items() for kind in kinds}
        if all(key in rates for key in keys.values()):
            result[path] = sum(operations[part][kind] / rates[key] for (part, kind), key in keys.items())
    return result


def measure_ceiling(preset: str, side: int = PEAK_SIDE) -> dict[str, Any]:
    """The results of ``benchmark ceiling``: operations per part, peak rates, torch fp32's time (``benchmark
    speed``'s protocol and process) and each path's ceiling (seconds, and the speed-up over torch fp32 it bounds)."""
    from mgd_sam2.benchmark.speed import RandomNetwork, SpeedConfig, measure_isolated
    from mgd_sam2.inference.export import check_views

    network = RandomNetwork(preset).load()
    operations = count_operations(network, check_views(network))
    del network
    measured = measure_isolated(SpeedConfig(preset))["latency_ms_p50"] / 1000
    rates, skipped = peak_rates(side)
    return {
        "preset": preset,
        "gflop": {part: {kind: round(value, 3) for kind, value in kinds.items()} for part, kinds in operations.items()},
        "gflop_total": sum(sum(kinds.values()) for kinds in operations.values()),
        "product_side": side,
        "peak_gflop_s": rates,
        "not_measured": skipped,
        "torch_fp32_s": measured,
        "speedup_baseline": "torch fp32 measured by this command",
        "ceilings": [
            {"path": path, "ceiling_s": seconds, "max_speedup_vs_torch_fp32": measured / seconds}
            for path, seconds in ceilings(operations, rates).items()
        ],  # fmt: skip
    }


def path_of(row: dict[str, Any]) -> str:
    """The PATHS name of a ``benchmark speed`` row (backend and precision)."""
    from mgd_sam2.inference.fastest import PRECISION_NAMES

    if row["backend"].startswith("onnx"):
        return row["backend"]
    return f"{row['backend']} {PRECISION_NAMES[row['precision']]}"


def speed_rows(speed: Any, preset: str) -> dict[str, dict[str, Any]]:
    """The rows of a ``benchmark speed --json`` file that time ``preset`` at batch 1 on the CPU, by path; a
    ValueError if it is not such a file."""
    try:
        rows = [row for row in speed["speed"] if row["preset"] == preset and row["batch"] == 1
                and row["device"] == "cpu" and not row["train"] and not row["compile"]]  # fmt: skip
        return {path_of(row): row for row in rows if row["latency_ms_p50"] > 0}
    except (KeyError, TypeError) as error:
        raise ValueError(f"not a `benchmark speed --json` file (no {error})") from None


def with_speed(results: dict[str, Any], speed: dict[str, Any]) -> dict[str, Any]:
    """``results`` with each ceiling beside what ``benchmark speed`` measured for that path (``speed``, a ``--json``
    file of the same machine): its seconds and speed-up over torch fp32 (``measured_s``,
    ``measured_speedup_vs_torch_fp32``) and the share of the ceiling's speed-up it reaches (``share_of_ceiling``:
    1 would be every product at the peak rate and nothing else). Where that file times torch fp32, both speed-ups
    are over its torch fp32, so that they compare (``speedup_baseline`` says which); every ceiling has the keys,
    None where the file has no such path."""
    rows = speed_rows(speed, results["preset"])
    baseline = results["torch_fp32_s"]
    if "torch fp32" in rows:
        baseline = rows["torch fp32"]["latency_ms_p50"] / 1000
        results = {**results, "speedup_baseline": "torch fp32 of the --speed file"}
    shown = []
    for ceiling in results["ceilings"]:
        row = rows.get(ceiling["path"])
        seconds = row["latency_ms_p50"] / 1000 if row else None
        shown.append({**ceiling, "max_speedup_vs_torch_fp32": baseline / ceiling["ceiling_s"], "measured_s": seconds,
                      "measured_speedup_vs_torch_fp32": baseline / seconds if row else None,
                      "share_of_ceiling": ceiling["ceiling_s"] / seconds if row else None})  # fmt: skip
    source = {key: speed.get(key) for key in ("date", "command", "machine")}
    return {**results, "speedup_baseline_s": baseline, "ceilings": shown, "speed_source": source}
