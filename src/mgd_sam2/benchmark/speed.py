"""``benchmark speed``: a fixed protocol for latency, throughput and peak memory of inference (or training steps).

Protocol: random weights (speed does not depend on them), a fixed seeded input at the model's input
size, ``torch.inference_mode``, optional bf16 autocast and ``torch.compile``; warm-up passes first
(compilation happens there), then timed passes each ended by a device synchronisation. Every
configuration runs in a fresh process, so its peak memory is its own.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import platform
import resource
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


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


def measure(config: SpeedConfig) -> dict[str, Any]:
    """Run the protocol for one configuration in this process."""
    import torch

    from mgd_sam2.data.views import tile
    from mgd_sam2.models.network import MGDSAM2, NetworkConfig
    from mgd_sam2.models.summary import parameter_counts
    from mgd_sam2.training.loss import mgd_loss

    if config.precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be fp32 or bf16, got {config.precision!r}")
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

    def step() -> None:
        if optimizer is None:
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
    }


def measure_isolated(config: SpeedConfig) -> dict[str, Any]:
    """:func:`measure` in a fresh spawned process."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(measure, (config,))
