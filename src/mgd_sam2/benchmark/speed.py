"""``benchmark speed``: a fixed protocol for latency, throughput and peak memory of inference (or training steps).

Protocol: random weights (speed does not depend on them), a fixed seeded input at the model's input size,
``torch.inference_mode``, optional bf16 autocast and ``torch.compile``; warm-up passes first (compilation happens
there), then timed passes each ended by a device synchronisation; then the last pass's probabilities are compared
with those of the torch fp32 eager pass (``sigmoid_diff_vs_fp32``). Every configuration runs in a fresh process, so
its peak memory is its own; or (``--interleave``, `measure_interleaved`) all of them in one fresh process, timed in
turns (a balanced order), for speed-ups that the machine's drift moves much less. The exported backends run the
same network exported (and for onnx-int8 and openvino-int8 quantized) as ``model export`` does, each step in a
process of its own (inference/export_steps.py), then through the same Backend interface as predict; the export's
time, the quantization and OpenVINO's compilation are not counted (``prepare_s`` reports them,
``export_peak_memory_mb`` the peak of the largest export step's process; ``peak_host_memory_mb`` is the timed
process's own).
"""

from __future__ import annotations

import platform
import resource
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from mgd_sam2.inference.cpu_kind import NO_ONNX_RUNTIME_SWITCH, describe_isa_limits

if TYPE_CHECKING:
    import torch

    from mgd_sam2.models.multi_view import Views
    from mgd_sam2.models.network import MGDSAM2

SPEED_BACKENDS = ("torch", "onnx", "onnx-int8", "openvino", "openvino-int8")


@dataclass(frozen=True)
class SpeedConfig:
    preset: str = "base_plus"
    device: str = "cpu"
    batch: int = 1
    precision: str = "32-true"  # 32-true | bf16-mixed (torch: autocast; openvino: its bf16 inference precision)
    compile: bool = False
    warmup: int = 1
    iters: int = 3
    switches: tuple[tuple[str, bool], ...] = ()  # MGDSAM2 module switches, for ablations
    train: bool = False  # time a training step (forward, loss, backward, AdamW step) instead of inference
    # torch | onnx | onnx-int8 (ONNX Runtime on the CPU; int8 MatMul/Gemm weights) | openvino | openvino-int8
    # (OpenVINO on the CPU; NNCF int8, calibrated on two noise images: the speed, not the accuracy, of real use)
    backend: str = "torch"
    profile: bool = False  # also time each part of the network, and the shared pre- and post-processing
    # openvino-int8 quantizes what `model export --fastest` does for this CPU kind where run in this precision
    # (inference/export.int8_scope); None: the default scope, a plain `model export --openvino-int8`
    cpu_kind: str | None = None

    def check(self) -> None:
        if self.precision not in ("32-true", "bf16-mixed"):
            raise ValueError(f"precision must be 32-true or bf16-mixed, got {self.precision!r}")
        if self.backend not in SPEED_BACKENDS:
            raise ValueError(f"backend must be one of {SPEED_BACKENDS}, got {self.backend!r}")
        if self.backend != "torch" and (self.device != "cpu" or self.compile or self.train):
            raise ValueError("the exported backends run on the CPU, without --compile or --train")
        if self.backend.startswith("onnx") and self.precision != "32-true":
            raise ValueError("the ONNX Runtime backends run in fp32 (or the int8 file's precision)")
        if self.backend.startswith("onnx") and (limits := describe_isa_limits()):
            raise ValueError(
                f"{NO_ONNX_RUNTIME_SWITCH}, so under {limits} it would time this "
                "CPU's own kernels beside the other rows' emulated ones: leave onnx and onnx-int8 out of --backend"
            )
        if self.profile and (self.compile or self.train):
            raise ValueError(
                "--profile times the inference pass, without --compile (hooks would break the graph) and "
                "without --train"
            )


@dataclass(frozen=True)
class RandomNetwork:
    """The benchmark's network: random weights from a fixed seed, so that an export step's process builds the same
    one (inference/export_steps.NetworkSource)."""

    preset: str
    switches: tuple[tuple[str, bool], ...] = ()
    seed: int = 0

    def load(self):
        import torch

        from mgd_sam2.models.network import MGDSAM2, NetworkConfig

        torch.manual_seed(self.seed)
        return MGDSAM2(NetworkConfig(preset=self.preset, **dict(self.switches)))


@dataclass
class Runner:
    """One configuration ready to time: ``step()`` runs one pass (an inference pass returns its logits)."""

    config: SpeedConfig
    model: Any  # the PyTorch network (the exported backends' source, and the drift's reference)
    views: Any
    step: Callable[[], Any]
    exported: ExportedFiles | None
    prepare_s: float | None  # export, quantization and compilation (None: PyTorch)

    @property
    def export_peak_mb(self) -> float | None:
        """The largest export step's own memory peak, MiB (None: PyTorch, which exports nothing)."""
        return self.exported.peak_mb if self.exported else None


def pass_autocast(config: SpeedConfig, exported: ExportedFiles | None):
    """The autocast a configuration's pass runs under: bf16 for PyTorch in bf16-mixed; none for the exported
    backends, which run in their file's (and OpenVINO's hint's) precision."""
    import torch

    bf16 = config.precision == "bf16-mixed" and exported is None
    return torch.autocast(torch.device(config.device).type, dtype=torch.bfloat16, enabled=bf16)


def prepare(
    config: SpeedConfig, folder: Path, networks: dict[tuple[RandomNetwork, torch.device], MGDSAM2] | None = None
) -> Runner:
    """Build ``config``'s network and input, export it into ``folder`` for an exported backend, and return its
    pass. ``networks``, where given, holds the networks already built for inference, one per source and device, so
    that configurations timed in one process share them (weights are not changed by an inference pass)."""
    import torch

    from mgd_sam2.data.view_cutting import tile
    from mgd_sam2.training.loss import mgd_loss

    config.check()
    device = torch.device(config.device)
    cuda = device.type == "cuda"
    source = RandomNetwork(config.preset, config.switches)
    if networks is None or config.train:
        model = source.load().train(config.train).to(device)
    else:
        if (source, device) not in networks:
            networks[source, device] = source.load().eval().to(device)
        model = networks[source, device]
    size = model.input_size
    generator = torch.Generator().manual_seed(0)
    views = tile(torch.randn(config.batch, 3, size, size, generator=generator), model.grid).to(device)
    mask = (torch.rand(config.batch, 1, size, size, generator=generator) > 0.5).float()
    targets = tile(mask, model.grid, global_mode="nearest").to(device)
    runner = torch.compile(model) if config.compile else model
    optimizer = (
        torch.optim.AdamW([p for group in model.parameter_groups().values() for p in group]) if config.train else None
    )
    start = time.perf_counter()
    exported = exported_backend(source, folder, config) if config.backend != "torch" else None
    prepare_s = time.perf_counter() - start if exported else None

    def step() -> torch.Tensor | None:
        logits = None
        with pass_autocast(config, exported):
            if exported is not None:
                logits = exported.backend.logits(views)
            elif optimizer is None:
                logits = runner(views).logits
            else:
                out = runner(views)
                loss = mgd_loss(out.logits, out.view_logits, targets.full, model.arrange(targets))["loss"]
        if optimizer is not None:
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize(device)
        return logits

    return Runner(config, model, views, step, exported, prepare_s)


def timed(step: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds of one pass, and what it returned."""
    start = time.perf_counter()
    out = step()
    return time.perf_counter() - start, out


def row(
    runner: Runner,
    latencies: list[float],
    warmup_s: float,
    logits,
    memory: dict[str, float | None],
    references: dict[tuple[int, int], Any] | None = None,
) -> dict:
    """One configuration's results (``latencies``: seconds of its timed passes; ``memory``: its peaks;
    ``references``: the fp32 reference logits already computed, `sigmoid_drift`'s)."""
    import torch

    from mgd_sam2.models.summary import parameter_counts

    config, device = runner.config, torch.device(runner.config.device)
    counts = parameter_counts(runner.model)
    latencies_ms = np.array(latencies) * 1000
    return {
        **{key: value for key, value in asdict(config).items() if key != "switches"},
        **dict(config.switches),
        "input_size": runner.model.input_size,
        "latency_ms_p50": float(np.percentile(latencies_ms, 50)),
        "latency_ms_p90": float(np.percentile(latencies_ms, 90)),
        "throughput_img_s": float(config.batch * 1000 / latencies_ms.mean()),
        "warmup_s": warmup_s,
        "prepare_s": runner.prepare_s,
        "sigmoid_diff_vs_fp32": None
        if config.train
        else sigmoid_drift(runner.model, runner.views, logits, config, references),
        **memory,
        "params_total": counts["total"],
        "params_trainable": counts["trainable"],
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "int8_scope": runner.exported.int8_scope if runner.exported else None,
    }


def measure(config: SpeedConfig) -> dict[str, Any]:
    """Run the protocol for one configuration in this process."""
    import torch

    device = torch.device(config.device)
    cuda = device.type == "cuda"
    with tempfile.TemporaryDirectory() as folder:  # the ONNX files, removed however the run ends
        runner = prepare(config, Path(folder))
        with torch.inference_mode(not config.train):
            warmup_s = sum(timed(runner.step)[0] for _ in range(config.warmup))
            if cuda:
                torch.cuda.reset_peak_memory_stats(device)
            latencies, logits = [], None
            for _ in range(config.iters):
                seconds, logits = timed(runner.step)
                latencies.append(seconds)
            memory = {
                "peak_gpu_memory_mb": torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None,
                "peak_host_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux: KiB
                "export_peak_memory_mb": runner.export_peak_mb,
            }
            parts: dict[str, float] = {}
            kernels: dict[str, float] = {}
            if config.profile:
                with pass_autocast(config, runner.exported):  # in the timed pass's precision
                    parts, kernels = profile_parts(runner.model, runner.views, runner.exported, config.iters, device)
        return {**row(runner, latencies, warmup_s, logits, memory), "parts_s": parts, "kernels_s": kernels}


def interleave_refusal(configs: list[SpeedConfig]) -> str | None:
    """Why ``configs`` cannot be timed in turns (None: they can)."""
    if any(config.train or config.profile for config in configs):
        return "interleaved passes time inference, without --train and --profile"
    if len({config.iters for config in configs}) != 1:
        return "interleaved configurations take the same number of rounds (--iters)"
    if len({config.device for config in configs}) != 1:
        return "interleaved configurations run on one device (--device)"
    return None


def balanced_period(count: int) -> int:
    """The rounds of `round_order` over which ``count`` configurations are balanced: n, or 2n for odd n above 1."""
    return count if count % 2 == 0 or count == 1 else 2 * count


def round_order(count: int, round_index: int) -> list[int]:
    """The turn order of one round, from a Williams design: row ``round_index`` of a Latin square whose first row is
    0, 1, n-1, 2, n-2, ... (each later row adds its index, modulo n; for odd n the next n rows are those reversed).
    Over each `balanced_period` every configuration takes every place equally often and, within a round, directly
    follows every other equally often, so neither the place in a round nor a neighbour's lingering threads or
    caches favour one (the last of a round and the first of the next are not balanced)."""
    first = [(count - j // 2) % count if j % 2 == 0 else (j + 1) // 2 for j in range(count)]
    row = [(value + round_index) % count for value in first]
    return row[::-1] if count % 2 and (round_index // count) % 2 else row


def measure_interleaved(configs: list[SpeedConfig]) -> dict[str, Any]:
    """Every configuration in this one process, timed in turns: after each one's warm-up, ``iters`` rounds, each
    one pass of every configuration (in `round_order`), so that the machine's drift (other tenants, clock, memory)
    reaches them alike. Each row adds ``paired_speedup_vs_first``: the median over rounds of the first
    configuration's time per image over its own in the same round (pass times over batch sizes), and
    ``latencies_ms``, its passes round by round. The host memory peak is the one process's, for all rows together
    (``{"rows": [...], "rounds", "orders", "peak_host_memory_mb", "peak_gpu_memory_mb"}``); each row's export peak
    is its steps' own, as in `measure`. Rows of one network and batch size share one fp32 reference for their
    drift: torch fp32 eager's last pass where it is among them, else one reference pass."""
    import torch

    refusal = interleave_refusal(configs)
    if refusal:
        raise ValueError(refusal)
    rounds = configs[0].iters
    device = torch.device(configs[0].device)
    cuda = device.type == "cuda"
    with tempfile.TemporaryDirectory() as folder:
        runners, networks = [], {}
        for index, config in enumerate(configs):
            (Path(folder) / str(index)).mkdir()
            runners.append(prepare(config, Path(folder) / str(index), networks))
        with torch.inference_mode():
            warmups = [sum(timed(runner.step)[0] for _ in range(runner.config.warmup)) for runner in runners]
            if cuda:
                torch.cuda.reset_peak_memory_stats(device)
            latencies: list[list[float]] = [[] for _ in runners]
            logits: list[Any] = [None] * len(runners)
            orders = [round_order(len(runners), index) for index in range(rounds)]
            for order in orders:
                for index in order:
                    seconds, logits[index] = timed(runners[index].step)
                    latencies[index].append(seconds)
            gpu_peak_mb = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None  # before the references
        references = {reference_key(runner.model, runner.config): out.float()
                      for runner, out in zip(runners, logits, strict=True) if is_reference(runner.config)}  # fmt: skip
        rows = [
            {**row(runner, times, warmup, out, interleaved_memory(runner), references), "parts_s": {}, "kernels_s": {},
             "paired_speedup_vs_first": float(np.median(np.array(latencies[0]) / np.array(times)
                                                        * runner.config.batch / configs[0].batch)),
             "latencies_ms": [seconds * 1000 for seconds in times]}
            for runner, times, warmup, out in zip(runners, latencies, warmups, logits, strict=True)
        ]  # fmt: skip
    return {
        "rows": rows,
        "rounds": rounds,
        "orders": orders,
        "peak_host_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_memory_mb": gpu_peak_mb,
    }


def interleaved_memory(runner: Runner) -> dict[str, float | None]:
    """An interleaved row's memory peaks: its export steps' only (the timed process is every row's)."""
    return {"peak_gpu_memory_mb": None, "peak_host_memory_mb": None, "export_peak_memory_mb": runner.export_peak_mb}


def is_reference(config: SpeedConfig) -> bool:
    """Whether ``config`` is the torch fp32 eager pass that every drift is measured from."""
    return config.backend == "torch" and config.precision == "32-true" and not config.compile and not config.train


def reference_key(model, config: SpeedConfig) -> tuple[int, int]:
    """What a reference pass depends on: the network and the batch size (`prepare`'s input is seeded from them)."""
    return id(model), config.batch


def sigmoid_drift(
    model, views, logits, config: SpeedConfig, references: dict[tuple[int, int], Any] | None = None
) -> float:
    """Mean absolute difference of this configuration's probabilities from those of the torch fp32 eager pass on
    the same input (0 for that configuration itself): what its speed costs in accuracy. ``references`` (by
    `reference_key`) holds reference logits already computed, and keeps the one this computes."""
    import torch

    if is_reference(config):
        return 0.0
    references = {} if references is None else references
    key = reference_key(model, config)
    if key not in references:
        with torch.inference_mode():
            references[key] = model(views).logits.float()
    reference = references[key]
    return float((logits.float().to(reference.device).sigmoid() - reference.sigmoid()).abs().mean())


@dataclass
class ExportedFiles:
    backend: Any  # the OnnxBackend or OpenVinoBackend timed
    path: Path  # its file
    fp32: Path  # the fp32 export (its nodes carry module paths, for the profile)
    int8_scope: str | None  # what OpenVINO int8 quantized, in words (None: not OpenVINO int8)
    peak_mb: float  # the largest export step's own memory peak, MiB


def exported_backend(source: RandomNetwork, folder: Path, config: SpeedConfig) -> ExportedFiles:
    """Export ``source``'s network (and quantize it for the int8 backends) into ``folder`` as ``model export`` does
    (OpenVINO int8: as ``--fastest`` does for ``config.cpu_kind`` run in ``config.precision``), and load it in
    ``config.backend``, with torch's thread count (OpenVINO: uncached, since the file is thrown away)."""
    import torch

    from mgd_sam2.inference.backends import OnnxBackend, OpenVinoBackend
    from mgd_sam2.inference.export import int8_scope
    from mgd_sam2.inference.export_formats import RECORD_KIND, RECORD_PRECISION
    from mgd_sam2.inference.export_steps import export_steps

    fp32 = folder / "model.onnx"
    int8 = folder / "model_int8.onnx" if config.backend == "onnx-int8" else None
    openvino_int8 = folder / "model_int8.xml" if config.backend == "openvino-int8" else None
    calibration, held_out = [], None
    if openvino_int8:  # and one image more, held out for the check
        *calibration, held_out = noise_images(folder, SPEED_CALIBRATION_IMAGES + 1)
    record = {RECORD_KIND: config.cpu_kind, RECORD_PRECISION: config.precision} if config.cpu_kind else None
    steps = export_steps(source, fp32, int8, openvino_int8, calibration, held_out, record)
    peak_mb = max(report["peak_host_memory_mb"] for _, report in steps)
    path = int8 or openvino_int8 or fp32
    scope = int8_scope(record).describe() if openvino_int8 else None
    threads = torch.get_num_threads()
    if config.backend.startswith("openvino"):
        backend = OpenVinoBackend(path, config.precision == "bf16-mixed", threads, cache=False)
        return ExportedFiles(backend, path, fp32, scope, peak_mb)
    return ExportedFiles(OnnxBackend(path, threads=threads), path, fp32, scope, peak_mb)


# openvino-int8's calibration images: its speed does not depend on what it was calibrated on (docs/speed-runs.md)
SPEED_CALIBRATION_IMAGES = 2


def noise_images(folder: Path, count: int, side: int = 256) -> list[Path]:
    """``count`` seeded uniform-noise RGB images (PNG, ``side`` px), for calibrating the benchmark's int8 model."""
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = [folder / f"noise_{index}.png" for index in range(count)]
    for path in paths:
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(path)
    return paths


def profile_parts(
    model: MGDSAM2, views: Views, exported: ExportedFiles | None, passes: int, device: torch.device
) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds per image of each network part (benchmark/profile.py), pre- and post-processing; and of each kernel
    for the exported backends (none for PyTorch, whose parts are timed by module hooks)."""
    import torch

    from mgd_sam2.benchmark.profile import profile_io, profile_onnx, profile_openvino, profile_torch
    from mgd_sam2.inference.backends import ONNX_INPUTS, OpenVinoBackend

    batch = views.full.shape[0]
    kernels: dict[str, float] = {}
    if exported is None:
        parts = profile_torch(model, views, passes, device)
        parts["other"] = parts["network"] - sum(v for k, v in parts.items() if k != "network")
        parts = {part: seconds / batch for part, seconds in parts.items()}
    else:  # the exported backends run one image at a time
        feed = {name: getattr(views, name)[:1].cpu().numpy() for name in ONNX_INPUTS}
        threads = torch.get_num_threads()
        if isinstance(exported.backend, OpenVinoBackend):  # a second compilation, with counters: the timed one had none
            bf16 = exported.backend.precision == "bf16"
            parts, kernels = profile_openvino(exported.path, exported.fp32, feed, passes, threads, bf16)
        else:
            parts, kernels = profile_onnx(exported.path, exported.fp32, feed, passes, threads)
    return {**parts, **profile_io(model.input_size, model.grid)}, kernels


def measure_isolated(config: SpeedConfig) -> dict[str, Any]:
    """`measure` in a fresh spawned process."""
    from mgd_sam2.utils.isolated import run_isolated

    return run_isolated(measure, config)


def measure_interleaved_isolated(configs: list[SpeedConfig]) -> dict[str, Any]:
    """`measure_interleaved` in a fresh spawned process."""
    from mgd_sam2.utils.isolated import run_isolated

    return run_isolated(measure_interleaved, configs)
