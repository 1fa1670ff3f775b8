"""``benchmark speed --profile``: where the time of one prediction goes, part by part.

The network's parts are timed with forward hooks (module groups of models/groups.py: trunk blocks,
MPAdapters, FPN neck, SAM2 decoder, MCEM, HMIM, DRM); pre-processing (decode, resize, normalise, cut the
views) and post-processing (logits to an 8-bit map at the original size, PNG encoding) on a real image
file. The ONNX backend is profiled by ONNX Runtime's own profiler, the OpenVINO backend by OpenVINO's per-node
counters, their nodes mapped to the same parts by the module path the exporter records in each node; nodes
that a runtime fused or renamed beyond recognition are counted as "other". The exported backends' nodes are also
summed by kernel (ONNX Runtime: the operator; OpenVINO: the executed node's type and implementation, such as
``FullyConnected brgemm_avx512_I8``), which says what the glue between the products costs.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Iterator

import torch
from torch import nn

from mgd_sam2.inference.export import node_parts, openvino_part
from mgd_sam2.models.groups import part_of

# The modules timed: the encoder's loop calls the trunk's patch embedding, blocks and the adapters one by one.
TIMED = re.compile(r"encoder\.trunk\.(patch_embed|blocks\.\d+)|encoder\.adapters\.\d+|encoder\.neck\.convs\.\d+|decoder"
                   r"|decoder\.(mcem|hmim_s8|hmim_s4)|drm")  # fmt: skip


@contextlib.contextmanager
def module_timer(model: nn.Module, synchronize) -> Iterator[dict[str, float]]:
    """Seconds spent in each part during the ``with`` block; outer parts exclude the inner ones they call."""
    totals: dict[str, float] = defaultdict(float)
    stack: list[tuple[str, float, float]] = []  # (part, start, time of inner parts)
    handles = []
    timed = {name: part_of(name) for name, _ in model.named_modules() if TIMED.fullmatch(name)}

    def before(part: str):
        def hook(module, args):
            synchronize()
            stack.append((part, time.perf_counter(), 0.0))

        return hook

    def after(module, args, output):
        synchronize()
        part, start, inner = stack.pop()
        elapsed = time.perf_counter() - start
        totals[part] += elapsed - inner
        if stack:
            outer_part, outer_start, outer_inner = stack[-1]
            stack[-1] = (outer_part, outer_start, outer_inner + elapsed)

    for name, part in timed.items():
        module = model.get_submodule(name)
        handles += [module.register_forward_pre_hook(before(part)), module.register_forward_hook(after)]
    try:
        yield totals
    finally:
        for handle in handles:
            handle.remove()


def profile_torch(model: nn.Module, views, passes: int, device: torch.device) -> dict[str, float]:
    """Mean seconds per forward pass and part (``"network"``: the whole forward)."""
    synchronize = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    with torch.inference_mode():
        model(views)  # warm-up
        with module_timer(model, synchronize) as totals:
            start = time.perf_counter()
            for _ in range(passes):
                model(views)
            synchronize()
            whole = time.perf_counter() - start
    result = {part: seconds / passes for part, seconds in totals.items()}
    result["network"] = whole / passes
    return result


def runtime_node_part(name: str, parts: dict[str, str]) -> str:
    """The part of a node ONNX Runtime ran: its exported name, or the name its rewrites derive from the exported
    node (``X/MatMulAddFusion``), its output (``Y_nchwc``) or the quantized node (``X_quant``)."""
    base = name.split("/")[0]
    for suffix in ("_nchwc", "_quant"):
        base = base.removesuffix(suffix)
    return parts.get(name) or parts.get(base) or "other"


def profile_onnx(
    path: str | Path, parts_source: str | Path, feed: dict, passes: int, threads: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Mean seconds per pass and part from ONNX Runtime's profiler (``"network"``: the whole run), and per pass and
    operator. ``parts_source`` is the fp32 export, whose nodes carry module paths (int8 nodes are named after them
    with ``_quant``)."""
    import onnxruntime as ort

    parts = node_parts(parts_source)
    totals: dict[str, float] = defaultdict(float)
    kernels: dict[str, float] = defaultdict(float)
    with tempfile.TemporaryDirectory() as folder:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(folder) / "ort")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        session.run(None, feed)  # warm-up, not counted
        start = time.perf_counter()
        for _ in range(passes):
            session.run(None, feed)
        whole = time.perf_counter() - start
        events = json.loads(Path(session.end_profiling()).read_text())
    runs = [event for event in events if event.get("cat") == "Session" and event.get("name") == "model_run"]
    first_timed = runs[1]["ts"] if len(runs) > 1 else 0
    for event in events:
        if event.get("cat") != "Node" or not event["name"].endswith("_kernel_time") or event["ts"] < first_timed:
            continue
        totals[runtime_node_part(event["name"][: -len("_kernel_time")], parts)] += event["dur"] / 1e6
        kernels[event["args"]["op_name"]] += event["dur"] / 1e6
    return per_pass(totals, whole, passes), by_kernel(kernels, 1.0, passes)


def profile_openvino(
    path: str | Path, parts_source: str | Path, feed: dict, passes: int, threads: int, bf16: bool
) -> tuple[dict[str, float], dict[str, float]]:
    """Mean seconds per pass and part from OpenVINO's per-node counters, for the model ``path`` compiled
    (uncached) in bf16 or fp32, and per pass and kernel (executed node type and implementation); ``parts_source``
    is the fp32 export, whose nodes carry module paths (NNCF keeps their names). Each executed node counts for the
    first exported node it fused (``originalLayersNames``) that belongs to a part. Nodes' times can overlap (their
    sum can exceed the whole pass), so where they add up to more than the pass they are scaled down to it: the
    shares stay, and the parts add up to the measured time."""
    from mgd_sam2.inference.backends import OpenVinoBackend

    backend = OpenVinoBackend(path, bf16, threads, cache=False, profiling=True)
    parts = node_parts(parts_source)
    fused = {
        op.get_friendly_name(): op.get_rt_info()["originalLayersNames"].astype(str).split(",")
        for op in backend.compiled.get_runtime_model().get_ops()
    }
    totals: dict[str, float] = defaultdict(float)
    kernels: dict[str, float] = defaultdict(float)
    backend.run(feed)  # warm-up, not counted
    whole = 0.0
    for _ in range(passes):
        start = time.perf_counter()
        backend.run(feed)
        whole += time.perf_counter() - start
        for node in backend.request.get_profiling_info():
            names = fused.get(node.node_name, [node.node_name])
            part = next(filter(None, (openvino_part(name, parts) for name in names)), "other")
            totals[part] += node.real_time.total_seconds()
            kernels[f"{node.node_type} {node.exec_type}"] += node.real_time.total_seconds()
    scale = min(1.0, whole / sum(totals.values()))
    return per_pass({part: seconds * scale for part, seconds in totals.items()}, whole, passes), by_kernel(
        kernels, scale, passes
    )


def per_pass(totals: dict[str, float], whole: float, passes: int) -> dict[str, float]:
    """Seconds per pass of each part and of the whole run (``"network"``). ``"other"`` gets nodes fused beyond
    recognition, plus what is not kernel time (session overhead, copies)."""
    result = {part: seconds / passes for part, seconds in totals.items()}
    result["network"] = whole / passes
    kernels = sum(seconds for part, seconds in result.items() if part != "network")
    result["other"] = result.get("other", 0.0) + max(0.0, result["network"] - kernels)
    return result


def by_kernel(totals: dict[str, float], scale: float, passes: int) -> dict[str, float]:
    """Seconds per pass of each kernel (scaled as the parts are), longest first; kernels that ran no time (OpenVINO
    lists nodes it skipped) are left out."""
    ranked = sorted(((kernel, seconds * scale / passes) for kernel, seconds in totals.items()), key=lambda kv: -kv[1])
    return {kernel: seconds for kernel, seconds in ranked if seconds > 0}


def profile_io(input_size: int, grid: int, side: tuple[int, int] = (2048, 1536), passes: int = 3) -> dict[str, float]:
    """Seconds per image of the shared pre-processing (decode a ``side`` JPEG, resize, normalise, cut the views:
    the predict dataset) and post-processing (logits to an 8-bit map at the original size, PNG encoding)."""
    import numpy as np
    from PIL import Image

    from mgd_sam2.data.datasets import Record, SegmentationDataset
    from mgd_sam2.inference.maps import to_uint8_maps

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        image = Path(folder) / "image.jpg"
        Image.fromarray(rng.integers(0, 256, (side[1], side[0], 3), dtype=np.uint8)).save(image, quality=90)
        dataset = SegmentationDataset([Record("image", "predict", image)], input_size, "predict", grid=grid)
        start = time.perf_counter()
        for _ in range(passes):
            dataset[0]
        pre = (time.perf_counter() - start) / passes
    coords = torch.linspace(-1, 1, input_size)
    logits = (8 * (0.5 - coords[:, None] ** 2 - coords[None, :] ** 2))[None, None]  # a smooth disk, as masks are
    start = time.perf_counter()
    for _ in range(passes):
        (mask,) = to_uint8_maps(logits, [(side[1], side[0])])
        Image.fromarray(mask.numpy()).save(io.BytesIO(), format="PNG")
    post = (time.perf_counter() - start) / passes
    return {"pre-processing": pre, "post-processing": post}
