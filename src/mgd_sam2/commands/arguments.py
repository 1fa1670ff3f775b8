"""Argument types shared by the subcommands: bad values are usage errors naming the flag, never tracebacks."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

if TYPE_CHECKING:
    from mgd_sam2.inference.detail import Detail

# OpenVINO int8's calibration images by default (model export, benchmark backends): the accuracy of every backend
# (docs/benchmarks.md) was measured calibrated on this many
CALIBRATION_IMAGES = 16


def positive_int(text: str) -> int:
    value = int_value(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int_value(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {value}")
    return value


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a fraction from 0 to 1, got {value}")
    return value


def image_size(text: str) -> tuple[int, int]:
    """WIDTHxHEIGHT in pixels, e.g. "2048x1536" -> (2048, 1536)."""
    parts = text.lower().split("x")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"give WIDTHxHEIGHT in pixels, e.g. 2048x1536, not {text!r}")
    width, height = (positive_int(part) for part in parts)
    return width, height


def int_value(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def comma_list(kind: Callable[[str], object], choices: Iterable[str] | None = None) -> Callable[[str], list]:
    """A parser of "a,b,c" into [kind(a), ...], each checked by ``kind`` and, if given, against ``choices``."""
    allowed = tuple(choices) if choices is not None else None

    def parse(text: str) -> list:
        items = [item.strip() for item in text.split(",") if item.strip()]
        if not items:
            raise argparse.ArgumentTypeError("give at least one value")
        if allowed is not None:
            unknown = [item for item in items if item not in allowed]
            if unknown:
                raise argparse.ArgumentTypeError(f"unknown {', '.join(unknown)}; choose from {', '.join(allowed)}")
        return [kind(item) for item in items]

    return parse


def add_workers_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """``--workers``: processes doing ``what``, by default `default_workers` (read as the parser is built)."""
    from mgd_sam2.utils.parallel import default_workers

    parser.add_argument(
        "--workers",
        type=non_negative_int,
        default=default_workers(),
        help=f"{what} (0: none, all of it in this process; default: %(default)s here, which is 2 or the CPUs this "
        "process may use, where fewer)",
    )


def add_weights_arguments(
    parser: argparse.ArgumentParser,
    ckpt_required: bool,
    ckpt_default: str = "",
    max_pixels: int | None = None,
    max_pixels_help: str = "a guard against decompression bombs and memory",
) -> None:
    """--ckpt, --weights, --backend, --device, --precision and --max-pixels (default ``max_pixels``, else
    predict's): which weights run, where and how (predict and the app; inference/loading.py and
    inference/devices.py give them meaning)."""
    from mgd_sam2.data.io import DEFAULT_MAX_PIXELS
    from mgd_sam2.inference.devices import BACKENDS, DEVICES, PRECISIONS

    parser.add_argument(
        "--ckpt",
        type=Path,
        required=ckpt_required,
        help="a Lightning checkpoint of a run (runs/NAME/.../best.ckpt), the authors' released MGD-SAM2 weights, "
        "a model folder (Segmenter.save_pretrained), a SAM2/SAM2.1 checkpoint or the released weights together with "
        "--weights (or those weights alone where the trunk trained too), or an export (model export --onnx or "
        f"--int8, the .xml of --openvino-int8, or a file --fastest wrote){ckpt_default}",
    )
    parser.add_argument(
        "--weights",
        type=Path,
        help="trained weights from `mgd-sam2 model export`, with the SAM2.1 checkpoint or released weights they were "
        "trained from as --ckpt",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="torch; for a .onnx --ckpt, onnx (ONNX Runtime, CPU, fp32 or the int8 file's) or openvino (OpenVINO, "
        "CPU, fp32, or bf16 with --precision bf16-mixed where the CPU has native bf16; also runs the .xml of model "
        "export --openvino-int8); auto: by the --ckpt file (onnx for .onnx, openvino for .xml)",
    )
    parser.add_argument("--device", choices=DEVICES, default="auto", help="where the model runs")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="auto: bf16-mixed on GPU, 32-true on CPU, and for an export of model export --fastest the precision it "
        "records (bf16-mixed where this CPU has native bf16 kernels, which bf16-mixed on a CPU needs)",
    )
    parser.add_argument(
        "--max-pixels",
        type=positive_int,
        default=max_pixels or DEFAULT_MAX_PIXELS,
        help=f"refuse images larger than this many pixels ({max_pixels_help})",
    )


def add_detail_arguments(parser: argparse.ArgumentParser) -> None:
    """--detail and --detail-zoom: how much of a large image's pixels the network sees (predict and the app;
    inference/detail.py gives them meaning)."""
    from mgd_sam2.inference.detail import DEFAULT_ZOOM, DETAIL_MODES

    parser.add_argument(
        "--detail",
        choices=DETAIL_MODES,
        default="off",
        help="more of a large image's pixels, with the same weights: crop runs the network again on the object's box "
        "(for an object small in the frame); tiles runs it on overlapping tiles at up to --detail-zoom times the plain "
        "resolution, over the plain mask's uncertain band; guided upsamples the plain probabilities with a guided "
        "filter on the image's own pixels (no second pass; it assumes the object differs in colour from what surrounds "
        "it); off: the image resized to the model input only",
    )
    parser.add_argument(
        "--detail-zoom",
        type=positive_int,
        help="--detail tiles: at most this many tiles along each side of an image (fewer where a tile would be smaller "
        f"than the model input in image pixels); the time grows with their number (default: {DEFAULT_ZOOM})",
    )


def detail_of(args: argparse.Namespace) -> Detail:
    """The Detail of --detail and --detail-zoom; a ConfigError for a zoom given without tiles, which would go unused."""
    from mgd_sam2.inference.detail import chosen_detail

    return chosen_detail(args.detail, args.detail_zoom, mode_name="--detail", zoom_name="--detail-zoom")


def add_cpu_kind_argument(parser: argparse.ArgumentParser, purpose: str) -> None:
    """``--cpu-kind``: a CPU kind (inference/cpu_kind.py) to use instead of the one detected, for ``purpose``."""
    from mgd_sam2.inference.cpu_kind import CPU_KINDS, KIND_FLAGS

    kinds = ", ".join(
        kind if KIND_FLAGS.get(kind, kind) == kind else f"{kind} ({KIND_FLAGS[kind]})" for kind in CPU_KINDS
    )
    parser.add_argument(
        "--cpu-kind",
        choices=CPU_KINDS,
        help=f"{purpose} for this kind of CPU instead of the one detected (/proc/cpuinfo flags): {kinds}; e.g. for "
        "another machine, or to match runtimes' ISA limits such as ONEDNN_MAX_CPU_ISA, which the detection ignores",
    )


def cpu_kind_argument(args: argparse.Namespace):
    """The `CpuKind` ``--cpu-kind`` names, else the detected one; where runtimes' ISA switches are set and no kind is
    given, a warning that the kind comes from the CPU's flags, not the limit (force one to match it)."""
    from mgd_sam2.inference.cpu_kind import describe_isa_limits, detect_cpu_kind
    from mgd_sam2.utils.progress import console

    cpu = detect_cpu_kind(args.cpu_kind)
    if args.cpu_kind is None and (limits := describe_isa_limits()):
        console().print(
            f"[yellow]warning: {limits} limits the runtimes' kernels, but the CPU kind is read from its flags: "
            f"{cpu.kind}; give --cpu-kind to choose for the kind the limit emulates"
        )
    return cpu


def add_action(actions: argparse._SubParsersAction, name: str, help_text: str) -> argparse.ArgumentParser:
    """A nested action (``benchmark speed``, ``model export``): ``help_text`` is its line in the parent's --help and
    the description of its own."""
    from mgd_sam2.cli import HelpFormatter

    return actions.add_parser(name, help=help_text, description=help_text, formatter_class=HelpFormatter)
