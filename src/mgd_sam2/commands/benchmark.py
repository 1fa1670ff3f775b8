"""``mgd-sam2 benchmark ACTION``: reproducible measurements, each printed as a table and optionally saved as JSON."""

from __future__ import annotations

import argparse
from pathlib import Path

from mgd_sam2.benchmark.app import PHOTO_SIZE
from mgd_sam2.benchmark.ceiling import PEAK_SIDE
from mgd_sam2.benchmark.speed import SPEED_BACKENDS
from mgd_sam2.commands.arguments import (
    CALIBRATION_IMAGES,
    add_action,
    add_cpu_kind_argument,
    add_weights_arguments,
    add_workers_argument,
    comma_list,
    cpu_kind_argument,
    image_size,
    non_negative_int,
    positive_int,
    positive_number,
)
from mgd_sam2.errors import ConfigError
from mgd_sam2.inference.devices import EXPORTED_BACKENDS
from mgd_sam2.metrics.functional import HCE_BINARIZATIONS
from mgd_sam2.metrics.tables import BENCHMARK_SPLITS
from mgd_sam2.models.presets import PRESETS

SPEED_PRECISIONS = ("32-true", "bf16-mixed")  # Lightning's names, as predict's --precision
# (width, height) of the pair `benchmark metrics` measures the memory of: 48 megapixels
EVALUATION_MEMORY_SIZE = (8000, 6000)
DEMO_CKPT_DEFAULT = (
    "; default: the demo's best checkpoint if `make demo` ran, else an untrained micro model (a dry run)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for add in (
        add_accuracy_arguments,
        add_backends_arguments,
        add_speed_arguments,
        add_ceiling_arguments,
        add_predict_arguments,
        add_ablation_arguments,
        add_scaling_arguments,
        add_data_arguments,
        add_metrics_arguments,
        add_detail_arguments,
        add_app_arguments,
    ):
        add(actions)


def add_accuracy_arguments(actions: argparse._SubParsersAction) -> None:
    accuracy = add_action(
        actions, "accuracy", "published-layout tables, PR/F curves on DIS5K, HRSOD, UHRSD, DAVIS-S (or synthetic)"
    )
    add_weights_arguments(accuracy, ckpt_required=False, ckpt_default=DEMO_CKPT_DEFAULT)
    accuracy.add_argument("--data-root", type=Path, default=Path("data"), help="where the benchmark datasets are")
    accuracy.add_argument(
        "--out", type=Path, default=Path("runs/benchmark"), help="folder for tables, plots and predictions"
    )
    accuracy.add_argument(
        "--tta",
        action="store_true",
        help="horizontal flip x scales 0.75/1/1.25, six passes per image (recorded with the scores; published "
        "numbers come both ways: compare under the same setting)",
    )
    accuracy.add_argument(
        "--hce-binarize", choices=HCE_BINARIZATIONS, default="dis", help="HCE prediction binarisation"
    )
    accuracy.add_argument("--batch-size", type=positive_int, default=1, help="images per forward pass")
    add_workers_argument(accuracy, "loader and evaluator processes")
    accuracy.add_argument(
        "--predictions",
        type=Path,
        help="score saved predictions instead of a model, into the same tables: a folder holding a folder of 8-bit "
        "maps per split, named as the split (DIS-VD, DIS-TE1, ..., HRSOD-TE, UHRSD-TE, DAVIS-S; the layout this "
        "command writes under OUT/predictions), each map named as its GT mask; splits without one are noted",
    )
    accuracy.add_argument(
        "--resize-pred",
        action="store_true",
        help="with --predictions: resize saved predictions not at their GT's size bilinearly instead of failing",
    )
    accuracy.add_argument(
        "--splits",
        type=comma_list(str, BENCHMARK_SPLITS),
        help=f"comma-separated splits to score, each of which must be present (default: every one present of "
        f"{','.join(BENCHMARK_SPLITS)})",
    )


def add_backends_arguments(actions: argparse._SubParsersAction) -> None:
    backends = add_action(
        actions, "backends", "one trained model on every CPU backend and precision: scores and 8-bit maps vs torch fp32"
    )
    backends.add_argument(
        "--ckpt",
        type=Path,
        help="the trained weights (any kind model export takes); default: the demo's best checkpoint",
    )
    backends.add_argument(
        "--weights", type=Path, help="trained weights from `mgd-sam2 model export`, for the SAM2.1 or released --ckpt"
    )
    backends.add_argument(
        "--data-root", type=Path, default=Path("data/demo"), help="where the splits are (default: the demo's data)"
    )
    backends.add_argument(
        "--splits",
        type=comma_list(str),
        default=["synthetic/SYN-TE", "synthetic/SYN-HO"],
        help="comma-separated splits under --data-root (folders with im/ and gt/)",
    )
    backends.add_argument(
        "--calibration",
        type=Path,
        default=Path("data/demo/synthetic/SYN-TR/im"),
        help="images to calibrate OpenVINO int8 on (default: the demo's training images)",
    )
    backends.add_argument(
        "--calibration-images",
        type=positive_int,
        default=CALIBRATION_IMAGES,
        help="how many of them to calibrate on (the first by name); model export checks the int8 model on the next "
        "one, held out (on the last, with one fewer calibrated on, where the folder holds no more)",
    )
    backends.add_argument(
        "--out", type=Path, default=Path("runs/backends"), help="folder for the exports and every configuration's maps"
    )
    add_cpu_kind_argument(backends, "export and score model export --fastest's path")
    backends.add_argument("--workers", type=non_negative_int, default=0, help="loader and evaluator processes")
    backends.add_argument("--json", type=Path, help="also write the results here (the docs' measurements/ layout)")


def add_speed_arguments(actions: argparse._SubParsersAction) -> None:
    speed = add_action(actions, "speed", "latency p50/p90, throughput, peak memory, parameters (fixed protocol)")
    speed.add_argument("--preset", choices=list(PRESETS), default="base_plus", help="model size")
    speed.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to run")
    speed.add_argument(
        "--batch", type=comma_list(positive_int), default=[1], help="comma-separated batch sizes, e.g. 1,8"
    )
    speed.add_argument(
        "--precision",
        type=comma_list(str, SPEED_PRECISIONS),
        default=["32-true"],
        help="comma-separated: 32-true, bf16-mixed; precisions of the torch (bf16: autocast) and openvino backends "
        "(ONNX Runtime's are timed in fp32, or int8); bf16 on a CPU needs native bf16 kernels (AVX512-BF16 or AMX)",
    )
    speed.add_argument(
        "--backend",
        type=comma_list(str, SPEED_BACKENDS),
        default=["torch"],
        help="comma-separated: torch, onnx (ONNX Runtime fp32, CPU), onnx-int8 (int8 MatMul/Gemm weights), openvino "
        "(OpenVINO, CPU), openvino-int8 (NNCF int8, calibrated on 2 noise images; what it quantizes is what model "
        "export --fastest quantizes for this CPU kind run in that precision, e.g. less in bf16 on AMX); the network is "
        "exported and quantized as model export does, each step in a process of its own (not timed; its peak memory "
        "reported), "
        "and compiled in the timed process, not timed; under the runtimes' ISA switches (ONEDNN_MAX_CPU_ISA=AVX2 and "
        "the others of docs/speed-runs.md, to time a smaller CPU's kernels) onnx and onnx-int8 are refused",
    )
    speed.add_argument(
        "--compile", action=argparse.BooleanOptionalAction, default=False, help="torch.compile the model"
    )
    speed.add_argument(
        "--profile",
        action="store_true",
        help="also a table per configuration: seconds and share of each network part (trunk, adapters, neck, "
        "decoder, MCEM, HMIM, DRM) and of pre- and post-processing of a 2048x1536 JPEG; for the exported backends "
        "also one of the runtime's kernels (operator; OpenVINO: node type and implementation), all of them in --json",
    )
    speed.add_argument(
        "--train",
        action="store_true",
        help="time training steps (forward, BCE+IoU loss, backward, AdamW) instead of inference",
    )
    add_cpu_kind_argument(speed, "quantize openvino-int8 as model export --fastest does")
    speed.add_argument("--warmup", type=non_negative_int, help="untimed passes first (default: 1 on CPU, 10 on CUDA)")
    speed.add_argument("--iters", type=positive_int, help="timed passes (default: 3 on CPU, 50 on CUDA)")
    speed.add_argument(
        "--interleave",
        action="store_true",
        help="run every configuration in one process and time them in turns: --iters rounds, each one pass of every "
        "configuration in a balanced order (a Williams design: over n rounds, 2n for odd n, each configuration "
        "takes every place and, within a round, directly follows every other equally often; give --iters a "
        "multiple of that period), so that the machine's drift and a "
        "neighbour's lingering threads reach all alike; adds paired_speedup_vs_first, the median over rounds of the "
        "first configuration's time per image over each one's in the same round (list torch and 32-true first for "
        "speed-ups over torch fp32), and each pass's latency in --json; peak memory is then the one process's, not "
        "per configuration (each export step's own peak still is); without --train and --profile",
    )
    speed.add_argument("--json", type=Path, help="also write the results here")


def add_ceiling_arguments(actions: argparse._SubParsersAction) -> None:
    ceiling = add_action(
        actions,
        "ceiling",
        "the fastest each CPU path could be here: the network's products at this CPU's measured peak rates, as "
        "a bound on its speed-up over torch fp32 (under the runtimes' ISA switches: a smaller CPU's kernels, ONNX "
        "Runtime left out)",
    )
    ceiling.add_argument("--preset", choices=list(PRESETS), default="base_plus", help="model size")
    ceiling.add_argument(
        "--side",
        type=positive_int,
        default=PEAK_SIDE,
        help="side of the square matrix product whose best time gives each engine's and precision's peak rate; a "
        "smaller one measures lower rates and gives no bound (for quick looks)",
    )
    ceiling.add_argument(
        "--speed",
        type=Path,
        help="a `benchmark speed --json` file of this machine and preset: each path's measured time is shown beside "
        "its ceiling",
    )
    ceiling.add_argument("--json", type=Path, help="also write the results here")


def add_predict_arguments(actions: argparse._SubParsersAction) -> None:
    predict = add_action(
        actions, "predict", "end-to-end predict throughput (reading, views, network, writing) against the network alone"
    )
    add_weights_arguments(predict, ckpt_required=True)
    predict.add_argument(
        "--input",
        type=Path,
        help="an image or a folder of images to time (default: synthetic photos of 1-4K drawn into a temporary folder)",
    )
    predict.add_argument(
        "--images", type=positive_int, default=8, help="how many photos: drawn without --input, the first ones with it"
    )
    predict.add_argument(
        "--workers",
        type=non_negative_int,
        help="predict's loader processes (default: predict's, 2 on a GPU, 0 on the CPU)",
    )
    predict.add_argument(
        "--batch",
        type=comma_list(positive_int),
        default=[1],
        help="comma-separated batch sizes (predict's --batch-size), one row each, e.g. 1,8",
    )
    predict.add_argument("--json", type=Path, help="also write the results here")


def add_ablation_arguments(actions: argparse._SubParsersAction) -> None:
    ablation = add_action(
        actions, "ablation", "cost and effect of each module: speed + a short synthetic training run per configuration"
    )
    ablation.add_argument(
        "--preset", choices=list(PRESETS), default="micro", help="model size (micro trains in minutes on CPU)"
    )
    ablation.add_argument("--epochs", type=positive_int, default=10, help="training epochs per configuration")
    ablation.add_argument(
        "--data-root",
        type=Path,
        default=Path("data/demo"),
        help="synthetic/ is generated here if missing (the demo's dataset)",
    )
    ablation.add_argument("--out", type=Path, default=Path("runs/ablation"), help="folder for runs and the table")
    ablation.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to time the forward pass")
    ablation.add_argument("--speed-iters", type=positive_int, default=5, help="timed forward passes per configuration")


def add_scaling_arguments(actions: argparse._SubParsersAction) -> None:
    scaling = add_action(
        actions,
        "scaling",
        "DDP training throughput with 1, 2, 4, ... processes at a fixed global batch, and the efficiency",
    )
    scaling.add_argument(
        "-c",
        "--config",
        type=Path,
        help="a training config (default: the demo's, micro preset, on a small synthetic dataset generated under "
        "--out; for a GPU table use lightning_config.yaml)",
    )
    scaling.add_argument(
        "--devices", type=comma_list(positive_int), default=[1, 2], help="process counts, e.g. 1,2,4,8"
    )
    scaling.add_argument("--accelerator", choices=("cpu", "gpu"), default="cpu", help="where the processes run")
    scaling.add_argument("--global-batch", type=positive_int, default=4, help="images per step over all processes")
    scaling.add_argument("--steps", type=positive_int, default=10, help="timed training steps per device count")
    scaling.add_argument("--out", type=Path, default=Path("runs/scaling"), help="folder for the small synthetic data")
    scaling.add_argument("--json", type=Path, help="also write the results here")


def add_data_arguments(actions: argparse._SubParsersAction) -> None:
    data = add_action(actions, "data", "data loader throughput and synthetic generator scaling")
    data.add_argument(
        "--root", type=Path, default=Path("data"), help="data root; synthetic/ is generated there if missing"
    )
    data.add_argument("--split", default="synthetic/SYN-TR", help="split to load")
    data.add_argument("--input-size", type=positive_int, default=1024, help="model input side in pixels")
    add_workers_argument(data, "loader processes")
    data.add_argument("--batches", type=positive_int, default=20, help="batches timed per loader (batch size 2)")
    data.add_argument(
        "--sizes", type=positive_int, nargs="+", default=[512, 1024, 2048, 4096], help="generator side lengths to time"
    )
    data.add_argument("--json", type=Path, help="also write the results here")


def add_metrics_arguments(actions: argparse._SubParsersAction) -> None:
    metrics = add_action(
        actions,
        "metrics",
        "full evaluation vs pysodmetrics alone; F/E curves alone; HCE time vs image size; one large pair's memory",
    )
    metrics.add_argument("--pairs", type=positive_int, default=20, help="prediction/GT pairs of thin-structure masks")
    metrics.add_argument("--size", type=positive_int, default=2048, help="side of each mask in pixels")
    add_workers_argument(metrics, "processes of our evaluator")
    metrics.add_argument(
        "--hce-sizes", type=positive_int, nargs="+", default=[512, 1024, 2048, 4096], help="sides for the HCE scaling"
    )
    metrics.add_argument(
        "--memory-size",
        type=image_size,
        default=EVALUATION_MEMORY_SIZE,
        metavar="WIDTHxHEIGHT",
        help="one pair of this size evaluated in a fresh process: its peak memory above the process's own "
        f"(default: {EVALUATION_MEMORY_SIZE[0]}x{EVALUATION_MEMORY_SIZE[1]})",
    )
    metrics.add_argument("--json", type=Path, help="also write the results here")


def add_app_arguments(actions: argparse._SubParsersAction) -> None:
    app = add_action(
        actions,
        "app",
        "mgd-sam2 app as a user starts it: seconds to the page, to the first mask, per photo, and its memory",
    )
    app.add_argument(
        "--ckpt", type=Path, help="weights the app serves (any kind predict takes); default: the demo's best checkpoint"
    )
    app.add_argument(
        "--presets",
        type=comma_list(str, list(PRESETS)),
        default=[],
        help="comma-separated presets also measured, each with random weights (saved as a model folder in --out)",
    )
    app.add_argument("--images", type=positive_int, default=3, help="requests timed after the first (median)")
    app.add_argument(
        "--photo",
        type=image_size,
        default=PHOTO_SIZE,
        metavar="WIDTHxHEIGHT",
        help="size of the photo sent (a seeded JPEG); the app's --max-pixels is raised to it where it is larger "
        f"(default: {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]})",
    )
    app.add_argument("--out", type=Path, default=Path("runs/app-benchmark"), help="folder for the logs and weights")
    app.add_argument("--json", type=Path, help="also write the results here")


def add_detail_arguments(actions: argparse._SubParsersAction) -> None:
    from mgd_sam2.data.shapes import THIN_OBJECTS
    from mgd_sam2.data.synth import TRAINING_OBJECTS
    from mgd_sam2.inference.detail import DETAIL_MODES

    detail = add_action(
        actions,
        "detail",
        "detail modes on a synthetic 4K split (Sα, maxFβ, mBA, HCEγ, seconds per image) and their time and peak "
        "memory at 1-33 megapixels",
    )
    add_weights_arguments(detail, ckpt_required=False, ckpt_default=DEMO_CKPT_DEFAULT)
    detail.add_argument(
        "--modes",
        type=comma_list(str, DETAIL_MODES),
        default=list(DETAIL_MODES),
        help="comma-separated detail modes, each scored and timed; the first (off) is the others' reference",
    )
    detail.add_argument(
        "--zooms",
        type=comma_list(positive_int),
        default=[2, 4, 8],
        help="comma-separated --detail-zoom values of the tiles scored (a model of a small input, such as the demo's "
        "64 px, needs large ones to see a 4K image near its own pixels)",
    )
    detail.add_argument(
        "--data-root",
        type=Path,
        help="synthetic/SYN-TE is generated here if missing, else used whatever its settings (default: "
        "data/detail-MAX, MAX of --size)",
    )
    detail.add_argument(
        "--size",
        type=positive_int,
        nargs=2,
        default=(2160, 3840),
        metavar=("MIN", "MAX"),
        help="range of the generated images' side lengths in pixels (4K; 8K: 4320 7680)",
    )
    detail.add_argument(
        "--images",
        type=non_negative_int,
        default=30,
        help="images generated (the changes vary widely from image to image: see the intervals the results give); "
        "0: no accuracy part, only the time and memory at --megapixels",
    )
    detail.add_argument(
        "--objects",
        type=comma_list(str, TRAINING_OBJECTS),
        default=list(THIN_OBJECTS),
        help="comma-separated object families generated (default: the thin ones, 1-4 px structures at any size)",
    )
    detail.add_argument(
        "--out", type=Path, default=Path("runs/detail"), help="folder for the predictions and the figure"
    )
    add_workers_argument(detail, "evaluator processes")
    detail.add_argument("--preset", choices=list(PRESETS), default="base_plus", help="model timed, with random weights")
    detail.add_argument(
        "--megapixels",
        type=comma_list(positive_number),
        default=[1.0, 4.0, 16.0, 33.0],
        help="comma-separated sizes of the timed images (16:9, random pixels)",
    )
    detail.add_argument(
        "--timed-zooms",
        type=comma_list(positive_int),
        default=[2, 4],
        help="comma-separated --detail-zoom values of the tiles timed (each tile is a pass of --preset)",
    )
    detail.add_argument("--json", type=Path, help="also write the results here")


def number(value: float) -> str:
    """Three decimals; small non-zero values (probability differences) in scientific notation."""
    return f"{value:.2e}" if 0 < abs(value) < 0.01 else f"{value:.3f}"


def print_rows(title: str, rows: list[dict]) -> None:
    from rich.table import Table

    from mgd_sam2.utils.progress import console

    table = Table(title=title)
    for key in rows[0]:
        table.add_column(key, justify="right")
    for row in rows:
        table.add_row(*[number(v) if isinstance(v, float) else "—" if v is None else str(v) for v in row.values()])
    console().print(table)


def print_profile(row: dict) -> None:
    """One configuration's parts: milliseconds per image and share of the whole (network + pre + post)."""
    parts = dict(row["parts_s"])
    network = parts.pop("network")
    whole = network + parts["pre-processing"] + parts["post-processing"]
    title = f"profile: {row['preset']} {row['backend']} {row['precision']} batch {row['batch']}, ms per image"
    rows = [{"part": part, "ms": seconds * 1000, "share_%": 100 * seconds / whole}
            for part, seconds in sorted(parts.items(), key=lambda item: -item[1])]  # fmt: skip
    rows.append({"part": "whole (network + pre + post)", "ms": whole * 1000, "share_%": 100.0})
    print_rows(title, rows)
    if row["kernels_s"]:
        kernels = f"kernels: {row['preset']} {row['backend']} {row['precision']}, ms per image"
        print_rows(kernels, kernel_rows(row["kernels_s"], network))


def kernel_rows(kernels: dict[str, float], network: float, least: float = 0.01) -> list[dict]:
    """The kernels that took at least ``least`` of the network's pass (ms and share), the rest summed in one row:
    one run's cut (the docs' kernels table, which sets runs side by side, keeps a kernel any of them needs)."""
    shown = {kernel: seconds for kernel, seconds in kernels.items() if seconds >= least * network}
    rest = sum(kernels.values()) - sum(shown.values())
    rows = [{"kernel": kernel, "ms": seconds * 1000, "share_%": 100 * seconds / network}
            for kernel, seconds in shown.items()]  # fmt: skip
    rows.append({"kernel": f"{len(kernels) - len(shown)} others", "ms": rest * 1000, "share_%": 100 * rest / network})
    return rows


def check_arguments(args: argparse.Namespace) -> None:
    """Output paths and the device, checked before any measurement starts."""
    from mgd_sam2.inference.devices import resolve_device
    from mgd_sam2.utils.files import check_output_dir, check_output_file

    if getattr(args, "json", None):
        check_output_file(args.json, "--json")
    if getattr(args, "out", None):
        check_output_dir(args.out, "--out")
    if getattr(args, "device", "cpu") == "cuda":
        resolve_device("cuda", "auto")  # a one-line error where no GPU is visible


def speed_configs(args: argparse.Namespace) -> list:
    """The configurations ``benchmark speed`` times, each checked: every backend x batch x precision, where bf16 is
    the torch and openvino backends' (ONNX Runtime runs fp32) and is refused on a CPU without native bf16."""
    from mgd_sam2.benchmark.speed import SpeedConfig
    from mgd_sam2.inference.backends import import_openvino, require_openvino_bf16
    from mgd_sam2.inference.devices import resolve_device
    from mgd_sam2.inference.export import import_nncf

    openvino = any(backend.startswith("openvino") for backend in args.backend)
    if openvino:
        import_openvino()  # before any configuration runs
    if "openvino-int8" in args.backend:
        import_nncf()
    if args.device == "cpu" and "bf16-mixed" in args.precision:  # one-line errors where bf16 would be slow or not bf16
        if "torch" in args.backend:
            resolve_device("cpu", "bf16-mixed")
        if openvino:
            require_openvino_bf16()
    cuda = args.device == "cuda"
    warmup = args.warmup if args.warmup is not None else (10 if cuda else 1)
    iters = args.iters if args.iters is not None else (50 if cuda else 3)
    kind = cpu_kind_argument(args).kind
    configs = [
        SpeedConfig(args.preset, args.device, batch, precision, args.compile, warmup, iters, train=args.train,
                    backend=backend, profile=args.profile, cpu_kind=kind)
        for backend in args.backend
        for batch in args.batch
        for precision in (["32-true"] if backend.startswith("onnx") else args.precision)
    ]  # fmt: skip
    for config in configs:
        try:
            config.check()
        except ValueError as error:
            raise ConfigError(f"benchmark speed: {error}") from None
    return configs


def run(args: argparse.Namespace) -> int:
    check_arguments(args)
    if args.action == "accuracy":
        return run_accuracy_action(args)
    if args.action == "ablation":
        return run_ablation_action(args)
    if args.action == "backends":
        return run_backends_action(args)
    results = {"speed": speed_results, "ceiling": ceiling_results, "predict": predict_results,
               "scaling": scaling_results, "data": data_results, "metrics": metrics_results,
               "detail": detail_results, "app": app_results}[args.action](args)  # fmt: skip
    if args.json:
        from mgd_sam2.benchmark.measurement import measurement
        from mgd_sam2.utils.files import write_json

        # speed's configurations run in fresh processes: this one may never have started CUDA
        write_json(args.json, measurement(results, args.command_line, gpu=getattr(args, "device", None) == "cuda"))
    return 0


def run_ablation_action(args: argparse.Namespace) -> int:
    from mgd_sam2.benchmark.ablation import markdown, run_ablation
    from mgd_sam2.commands.demo import CONFIG

    rows = run_ablation(CONFIG, args.data_root, args.out, args.preset, args.epochs, args.device, args.speed_iters)
    print(f"\n{markdown(rows)}written {args.out / 'ablation.md'}")
    return 0


def run_backends_action(args: argparse.Namespace) -> int:
    from rich.table import Table

    from mgd_sam2.benchmark.backends import export_forms, run_backends
    from mgd_sam2.benchmark.measurement import measurement
    from mgd_sam2.commands.demo import demo_checkpoint
    from mgd_sam2.data.layouts import resolve_split
    from mgd_sam2.utils.files import write_json
    from mgd_sam2.utils.progress import console

    ckpt = args.ckpt or demo_checkpoint()
    if ckpt is None:
        raise ConfigError("no --ckpt given and no demo run found: run `make demo` first, or give --ckpt")
    splits = [resolve_split(args.data_root, spec) for spec in args.splits]
    cpu = cpu_kind_argument(args)
    forms = export_forms(ckpt, args.weights, args.calibration, args.calibration_images, args.out / "exports", cpu)
    rows = run_backends(forms, args.weights, splits, args.out, cpu.kind, args.workers)
    table = Table(title=f"{ckpt}: every CPU backend (maps vs torch fp32 in grey levels of 255)")
    for column in ["configuration", *[f"{split.name} {key}" for split in splits for key in ("Sα", "MAE")], "maps"]:
        table.add_column(column, justify="left" if column == "configuration" else "right")
    for row in rows:
        if "skipped" in row:
            table.add_row(row["label"], *["—"] * (2 * len(splits)), "skipped")
            continue
        values = [f"{row['scores'][split.name][key]:.4f}" for split in splits for key in ("Smeasure", "MAE")]
        distance = row["maps_vs_fp32"]
        table.add_row(row["label"], *values, f"mean {distance['mean']:.2f}, max {distance['max']}")
    console().print(table)
    if args.json:
        write_json(args.json, measurement({"backends": rows}, args.command_line))
    return 0


def unbalanced_note(count: int, rounds: int) -> str | None:
    """What ``rounds`` interleaved rounds of ``count`` configurations leave unbalanced, if they are not a whole
    number of the turn order's periods; else None."""
    from mgd_sam2.benchmark.speed import balanced_period

    period = balanced_period(count)
    extra = rounds % period
    if not extra:
        return None
    short = "they are less than one" if rounds < period else f"the last {extra} repeat the first {extra} of a"
    return (
        f"note: {rounds} rounds are not a whole number of the balanced order's period ({period} rounds for {count} "
        f"configurations): {short} period, so places and neighbours are not quite balanced; --iters "
        f"{period * max(1, round(rounds / period))} would be"
    )


def speed_results(args: argparse.Namespace) -> dict:
    """Results of `benchmark speed` (printed, and written with --json)."""
    from mgd_sam2.benchmark.speed import interleave_refusal, measure_interleaved_isolated, measure_isolated

    results: dict = {}
    if args.interleave:
        configs = speed_configs(args)
        refusal = interleave_refusal(configs)
        if refusal:  # before minutes of exporting, in the one wording the library raises
            raise ConfigError(f"benchmark speed --interleave: {refusal}")
        note = unbalanced_note(len(configs), configs[0].iters)
        if note:
            print(note)
        interleaved = measure_interleaved_isolated(configs)
        results["speed"] = interleaved.pop("rows")
        results["interleaved"] = interleaved
    else:
        results["speed"] = [measure_isolated(config) for config in speed_configs(args)]
    shown = (
        "preset",
        "device",
        "train",
        "backend",
        "batch",
        "precision",
        "compile",
        "input_size",
        "latency_ms_p50",
        "latency_ms_p90",
        "throughput_img_s",
        "peak_gpu_memory_mb",
        "peak_host_memory_mb",
        "export_peak_memory_mb",
        "params_total",
        "params_trainable",
        "sigmoid_diff_vs_fp32",
    )
    baseline = results["speed"][0]["throughput_img_s"]
    paired = ("paired_speedup_vs_first",) if args.interleave else ()
    print_rows(
        "training step speed" if args.train else "inference speed",
        [{**{key: row[key] for key in shown + paired}, "vs_first": row["throughput_img_s"] / baseline}
         for row in results["speed"]],
    )  # fmt: skip
    if args.interleave:
        interleaved = results["interleaved"]
        print(
            f"{interleaved['rounds']} interleaved rounds in one process, in a balanced order: its peak host "
            f"memory {interleaved['peak_host_memory_mb'] / 1024:.1f} GiB (every configuration's together); "
            + paired_over(results["speed"][0])
        )
    for row in results["speed"] if args.profile else []:
        print_profile(row)
    return results


def paired_over(first: dict) -> str:
    """What an interleaved run's paired speed-ups are over: its first row, with a hint where that is not torch fp32
    eager (the speed-up users ask for)."""
    name = f"{first['backend']} {first['precision']}" + (" compiled" if first["compile"] else "")
    hint = "" if name == "torch 32-true" else " (not torch fp32: list torch and 32-true first for speed-ups over it)"
    return f"paired speed-ups are over the first configuration, {name}{hint}"


def ceiling_results(args: argparse.Namespace) -> dict:
    """Results of `benchmark ceiling` (printed, and written with --json)."""
    import json

    from mgd_sam2.benchmark.ceiling import KINDS, measure_ceiling, speed_rows, with_speed
    from mgd_sam2.benchmark.measurement import isa_limits_of
    from mgd_sam2.inference.cpu_kind import describe_isa_limits

    speed = None
    if args.speed is not None:  # checked before minutes of measuring
        try:
            speed = json.loads(args.speed.read_text())
            speed_rows(speed, args.preset)
        except (OSError, ValueError) as error:
            raise ConfigError(f"--speed {args.speed}: {error}") from None
        measured, here = isa_limits_of(str(speed.get("machine", ""))), describe_isa_limits()
        if measured != here:  # its torch fp32 would be another CPU kind's kernels than the rates'
            raise ConfigError(
                f"--speed {args.speed} was measured under {measured or 'no ISA switches'}, this run is under "
                f"{here or 'none'}: run both under the same switches (docs/speed-runs.md, AVX2 kernels)"
            )
    results = measure_ceiling(args.preset, args.side)
    if speed is not None:
        results = with_speed(results, speed)
    print_rows(f"{args.preset}: GFLOP of one prediction", [
        {"part": part, **kinds, "total": sum(kinds.values())} for part, kinds in results["gflop"].items()
    ] + [{"part": "all", **{kind: sum(k[kind] for k in results["gflop"].values()) for kind in KINDS},
          "total": results["gflop_total"]}])  # fmt: skip
    print_rows(f"peak rates, one {args.side}-square product", [
        {"engine and precision": key, "GFLOP/s": value} for key, value in results["peak_gflop_s"].items()
    ])  # fmt: skip
    for note in results["not_measured"]:
        print(f"not measured: {note}")
    print_rows(f"ceilings (speed-ups over {results['speedup_baseline']})", results["ceilings"])
    return results


def predict_results(args: argparse.Namespace) -> dict:
    """Results of `benchmark predict` (printed, and written with --json)."""
    import tempfile

    from mgd_sam2.benchmark.predict_speed import photos, predict_throughput
    from mgd_sam2.inference.segmenter import Segmenter

    segmenter = Segmenter.load(
        args.ckpt, weights_extra=args.weights, backend=args.backend, device=args.device, precision=args.precision
    )
    print(segmenter.model_lines)
    with tempfile.TemporaryDirectory() as scratch:
        records = photos(args.input, args.images, Path(scratch))
        rows = [predict_throughput(segmenter.backend, records, args.workers, args.max_pixels, batch)
                for batch in args.batch]  # fmt: skip
    print_rows("predict throughput", rows)
    return {"predict": rows}


def scaling_results(args: argparse.Namespace) -> dict:
    """Results of `benchmark scaling` (printed, and written with --json)."""
    from mgd_sam2.benchmark.scaling import run_scaling
    from mgd_sam2.commands.demo import CONFIG
    from mgd_sam2.data.synth import SynthConfig, ensure_dataset

    extra = []
    if args.config is None:  # small images: the loaders keep up, so the table shows the training step
        ensure_dataset(args.out / "data" / "synthetic", SynthConfig(num=24, held_out=0, min_size=256, max_size=320),
                       flag="--out")  # fmt: skip
        extra = ["--data.root", str(args.out / "data"), "--data.test", "null"]
    results: dict = {}
    results["scaling"] = run_scaling(args.config or CONFIG, args.devices, args.accelerator, args.global_batch,
                                     args.steps, extra=extra)  # fmt: skip
    print_rows(f"DDP training throughput, global batch {args.global_batch}", results["scaling"])
    return results


def data_results(args: argparse.Namespace) -> dict:
    """Results of `benchmark data` (printed, and written with --json)."""
    from mgd_sam2.benchmark.data_speed import generator_scaling, loader_throughput
    from mgd_sam2.data.synth import ensure_dataset

    if args.split.startswith("synthetic/"):
        ensure_dataset(args.root / "synthetic", flag="--root")
    results: dict = {}
    results["loader"] = {
        "split": args.split,
        "input_size": args.input_size,
        "workers": args.workers,
        **loader_throughput(args.root, args.split, args.input_size, args.workers, args.batches),
    }
    print_rows("data loader (batch 2)", [results["loader"]])
    results["generator"] = generator_scaling(args.sizes)
    print_rows("synthetic generator, seconds per image", results["generator"])
    return results


def metrics_results(args: argparse.Namespace) -> dict:
    """Results of `benchmark metrics` (printed, and written with --json)."""
    from mgd_sam2.benchmark.metrics_speed import curve_measures, evaluation_memory, full_evaluation, hce_scaling

    results: dict = {}
    results["evaluation"] = full_evaluation(args.pairs, args.size, args.workers)
    print_rows("all metrics vs pysodmetrics alone (seconds)", [results["evaluation"]])
    results["curves"] = curve_measures(args.pairs, args.size)
    print_rows("F- and E-measure curves, one process (seconds)", [results["curves"]])
    results["hce"] = hce_scaling(args.hce_sizes)
    print_rows("HCE seconds per image", results["hce"])
    results["memory"] = evaluation_memory(*args.memory_size)
    print_rows("one pair's memory in the evaluator, every metric (MiB)", [results["memory"]])
    return results


def detail_results(args: argparse.Namespace) -> dict:
    """Results of `benchmark detail` (printed, and written with --json)."""
    from mgd_sam2.benchmark.detail import configurations, cost

    if args.images:
        results = accuracy_results(args)
    else:
        print(f"note: --images 0: no accuracy part; only the time and memory of {args.preset} with random weights "
              "(--ckpt, --data-root, --zooms and the split's flags are not used)")  # fmt: skip
        results = {}
    results["cost"] = cost(args.preset, args.megapixels, configurations(args.modes, args.timed_zooms), args.device)
    shown = ("megapixels", "width", "height", "configuration", "passes", "seconds", "time_ratio", "peak_rss_mb",
             "image_rss_mb", "peak_gpu_mb")  # fmt: skip
    print_rows(
        f"time and peak memory per image: {args.preset}, random weights (every tile runs)",
        [{key: row[key] for key in shown} for row in results["cost"]],
    )
    return results


def accuracy_results(args: argparse.Namespace) -> dict:
    """`benchmark detail`'s accuracy part: the split, every configuration's scores, the figure."""
    from dataclasses import asdict

    from mgd_sam2.benchmark.detail import EMPTY, configurations, detail_split, figure, score
    from mgd_sam2.data.datasets import split_records

    segmenter = scored_segmenter(args)
    root = args.data_root or Path(f"data/detail-{args.size[1]}")
    split, config = detail_split(root, args.images, tuple(args.size), tuple(args.objects))
    results: dict = {"model": segmenter.description, "split": str(split.image_dir.parent),
                     "images": len(split_records(split)), "synth": asdict(config)}  # fmt: skip
    results["accuracy"] = score(segmenter, split, configurations(args.modes, args.zooms), args.out, args.workers)
    shown = ("configuration", "Smeasure", "maxFm", "mBA", "HCE", "s_per_image", "mBA_gain", "HCE_ratio", "time_ratio")
    print_rows(
        f"detail modes on {results['split']} ({results['images']} images, sides {config.min_size}-{config.max_size} "
        "px), scored at GT resolution",
        [{key: row[key] for key in shown} for row in results["accuracy"]],
    )
    shown_masks = [row for row in results["accuracy"] if row["configuration"] != EMPTY]
    results["figure"] = str(figure(split, shown_masks, args.out / "detail_crop.png"))
    print(f"wrote {results['figure']}")
    return results


def app_results(args: argparse.Namespace) -> dict:
    """Results of `benchmark app` (printed, and written with --json)."""
    from mgd_sam2.benchmark.app import measure_app, random_weights
    from mgd_sam2.commands.demo import demo_checkpoint

    ckpt = args.ckpt or demo_checkpoint()
    if ckpt is None and not args.presets:
        raise ConfigError("no --ckpt given and no demo run found: run `make demo` first, or give --ckpt or --presets")
    models = [(Path(ckpt), str(ckpt))] if ckpt else []
    models += [(random_weights(preset, args.out / preset / "weights"), f"{preset}, random weights")
               for preset in args.presets]  # fmt: skip
    rows = [measure_app(path, label, args.out / f"app-{index}", args.images, args.photo)
            for index, (path, label) in enumerate(models)]  # fmt: skip
    width, height = args.photo
    print_rows(f"mgd-sam2 app on this CPU: seconds from its start and per {width}x{height} photo, memory in MiB", rows)
    return {"app": rows}


def scored_segmenter(args: argparse.Namespace):
    """The model `benchmark accuracy` and `benchmark detail` score: --ckpt, else the demo's best checkpoint, else an
    untrained micro model of seeded random weights (a dry run, the same in every run)."""
    from mgd_sam2.benchmark.speed import RandomNetwork
    from mgd_sam2.commands.demo import demo_checkpoint
    from mgd_sam2.inference.segmenter import Segmenter

    ckpt = args.ckpt
    if ckpt is None and (ckpt := demo_checkpoint()) is not None:
        print(f"note: no --ckpt given; using the demo's best checkpoint {ckpt}")
    if ckpt is None and args.backend in EXPORTED_BACKENDS:
        raise ConfigError(
            f"--backend {args.backend} runs an ONNX export: give it as --ckpt FILE.onnx (mgd-sam2 model export --onnx)"
        )
    if ckpt is None:
        segmenter = Segmenter.from_network(
            RandomNetwork("micro").load(),
            device=args.device,
            precision=args.precision,
            name="an UNTRAINED micro model (no --ckpt and no demo run: a dry run)",
        )
        print(f"note: no --ckpt given and no demo run found; scoring {segmenter.description}")
        return segmenter
    return Segmenter.load(
        ckpt,
        weights_extra=args.weights,
        backend=args.backend,
        device=args.device,
        precision=args.precision,
        max_pixels=args.max_pixels,
    )


PREDICTING_FLAGS = ("ckpt", "weights", "backend", "device", "precision", "max_pixels", "tta", "batch_size")


def run_accuracy_action(args: argparse.Namespace) -> int:
    from mgd_sam2.benchmark.accuracy import check_data_root, report_files, run_accuracy
    from mgd_sam2.cli import subcommand_parser
    from mgd_sam2.metrics.tables import rich_table
    from mgd_sam2.utils.progress import console

    defaults = vars(subcommand_parser("benchmark").parse_args(["accuracy"]))
    if args.predictions is not None:  # a flag of the other kind of run would be silently unused
        context, flags = "--predictions scores saved predictions", PREDICTING_FLAGS
    else:
        context, flags = "without --predictions a model predicts", ("resize_pred",)
    unused = [f"--{name.replace('_', '-')}" for name in flags if getattr(args, name) != defaults[name]]
    if unused:
        raise ConfigError(
            f"{context}: {', '.join(unused)} would not be used; drop {'them' if len(unused) > 1 else 'it'}"
        )
    check_data_root(args.data_root, args.splits, need_images=args.predictions is None)  # before a model loads
    segmenter = scored_segmenter(args) if args.predictions is None else None
    report = run_accuracy(
        segmenter,
        args.data_root,
        args.out,
        args.hce_binarize,
        args.workers,
        args.batch_size,
        tta=args.tta,
        saved=args.predictions,
        resize_pred=args.resize_pred,
        only=args.splits,
    )
    for layout, rows in report["tables"].items():
        console().print(rich_table(rows, layout, report["titles"][layout]))
    for note in report["notes"]:
        print(f"note: {note}")
    written = [path.name for path in report_files(args.out) if path.is_file()]  # this run's: the earlier removed
    print(f"wrote into {args.out}: {', '.join(written)}")
    return 0
