"""``benchmark speed``: a fixed protocol for latency, throughput and peak memory of inference (or training steps).

Protocol: random weights (speed does not depend on them), a fixed seeded input at the model's input
size, ``torch.inference_mode``, optional bf16 autocast and ``torch.compile``; warm-up passes first
(compilation happens there), then timed passes each ended by a device synchronisation. Every
configuration runs in a fresh process, so its peak memory is its own. The ONNX backends run the same
network exported (and for onnx-int8 quantized) in that process, through the same Backend interface as
predict; the export's time is not counted.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import platform
import resource
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

SPEED_BACKENDS = ("torch", "onnx", "onnx-int8")


@dataclass(frozen=True)
class SpeedConfig:
    preset: str = "base_plus"
    device: str = "cpu"
    batch: int = 1
    precision: str = "fp32"  # fp32 | bf16 (autocast)
    compile: bool = False
    warmup: int = 1
    iters: int = 3
    switches: tuple[tuple[str, bool], ...] = ()  # MGDSAM2 module switches, for ablations
    train: bool = False  # time a training step (forward, loss, backward, AdamW step) instead of inference
    backend: str = "torch"  # torch | onnx | onnx-int8 (ONNX Runtime on the CPU; int8 MatMul/Gemm weights)
    profile: bool = False  # also time each part of the network, and the shared pre- and post-processing

    def check(self) -> None:
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16, got {self.precision!r}")
        if self.backend not in SPEED_BACKENDS:
            raise ValueError(f"backend must be one of {SPEED_BACKENDS}, got {self.backend!r}")
        if self.backend != "torch" and (self.device != "cpu" or self.precision != "fp32" or self.compile or self.train):
            raise ValueError("the ONNX backends time fp32 inputs on the CPU, without --compile or --train")
        if self.profile and (self.compile or self.train):
            raise ValueError(
                "--profile times the inference pass, without --compile (hooks would break the graph) and "
                "without --train"
            )


def measure(config: SpeedConfig) -> dict[str, Any]:
    """Run the protocol for one configuration in this process."""
    import torch

    from mgd_sam2.data.views import tile
    from mgd_sam2.models.network import MGDSAM2, NetworkConfig
    from mgd_sam2.models.summary import parameter_counts
    from mgd_sam2.training.loss import mgd_loss

    config.check()
    device = torch.device(config.device)
    cuda = device.type == "cuda"
    torch.manual_seed(0)
    model = MGDSAM2(NetworkConfig(preset=config.preset, **dict(config.switches))).train(config.train).to(device)
    counts = parameter_counts(model)
    size = model.input_size
    generator = torch.Generator().manual_seed(0)
    views = tile(torch.randn(config.batch, 3, size, size, generator=generator), model.grid).to(device)
    mask = (torch.rand(config.batch, 1, size, size, generator=generator) > 0.5).float()
    targets = tile(mask, model.grid, global_mode="nearest").to(device)
    runner = torch.compile(model) if config.compile else model
    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16) if config.precision == "bf16" else contextlib.nullcontext()
    )
    optimizer = (
        torch.optim.AdamW([p for group in model.parameter_groups().values() for p in group]) if config.train else None
    )

    with tempfile.TemporaryDirectory() as folder:  # the ONNX files, removed however the run ends
        onnx = onnx_backend(model, Path(folder), config.backend == "onnx-int8") if config.backend != "torch" else None

        def step() -> None:
            if onnx is not None:
                onnx.backend.logits(views)
            elif optimizer is None:
                runner(views)
            else:
                with autocast:
                    out = runner(views)
                    loss = mgd_loss(out.logits, out.view_logits, targets.full, model.arrange(targets))["loss"]
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            if cuda:
                torch.cuda.synchronize(device)

        latencies = []
        with torch.inference_mode(not config.train), autocast if not config.train else contextlib.nullcontext():
            start = time.perf_counter()
            for _ in range(config.warmup):
                step()
            warmup_s = time.perf_counter() - start
            if cuda:
                torch.cuda.reset_peak_memory_stats(device)
            for _ in range(config.iters):
                start = time.perf_counter()
                step()
                latencies.append(time.perf_counter() - start)
            parts = profile_parts(model, views, onnx, config.iters, device) if config.profile else {}
        latencies_ms = np.array(latencies) * 1000
    return {
        **{key: value for key, value in asdict(config).items() if key != "switches"},
        **dict(config.switches),
        "input_size": size,
        "latency_ms_p50": float(np.percentile(latencies_ms, 50)),
        "latency_ms_p90": float(np.percentile(latencies_ms, 90)),
        "throughput_img_s": float(config.batch * 1000 / latencies_ms.mean()),
        "warmup_s": warmup_s,
        "peak_gpu_memory_mb": torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None,
        "peak_host_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux reports KiB
        "params_total": counts["total"],
        "params_trainable": counts["trainable"],
        "device_name": torch.cuda.get_device_name(device) if cuda else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "parts_s": parts,
    }


@dataclass
class OnnxFiles:
    backend: Any  # the OnnxBackend timed
    path: Path  # its file
    fp32: Path  # the fp32 export (its nodes carry module paths, for the profile)


def onnx_backend(model, folder: Path, int8: bool) -> OnnxFiles:
    """Export ``model`` (and quantize it) into ``folder``; the backend runs with torch's thread count."""
    import torch

    from mgd_sam2.inference.backends import OnnxBackend
    from mgd_sam2.inference.export import export_onnx, quantize_onnx

    fp32 = folder / "model.onnx"
    export_onnx(model, fp32)
    path = folder / "model_int8.onnx" if int8 else fp32
    if int8:
        quantize_onnx(fp32, path, model)
    return OnnxFiles(OnnxBackend(path, threads=torch.get_num_threads()), path, fp32)


def profile_parts(model, views, onnx: OnnxFiles | None, passes: int, device) -> dict[str, float]:
    """Seconds per image of each network part (benchmark/profile.py), pre- and post-processing."""
    import torch

    from mgd_sam2.benchmark.profile import profile_io, profile_onnx, profile_torch
    from mgd_sam2.inference.backends import ONNX_INPUTS

    batch = views.full.shape[0]
    if onnx is None:
        parts = profile_torch(model, views, passes, device)
        parts["other"] = parts["network"] - sum(v for k, v in parts.items() if k != "network")
        parts = {part: seconds / batch for part, seconds in parts.items()}
    else:  # ONNX Runtime runs one image at a time
        feed = {name: getattr(views, name)[:1].cpu().numpy() for name in ONNX_INPUTS}
        parts = profile_onnx(onnx.path, onnx.fp32, feed, passes, torch.get_num_threads())
    return {**parts, **profile_io(model.input_size, model.grid)}


def measure_isolated(config: SpeedConfig) -> dict[str, Any]:
    """:func:`measure` in a fresh spawned process."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(measure, (config,))
