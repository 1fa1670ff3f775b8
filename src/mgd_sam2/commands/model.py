"""``mgd-sam2 model info``: parameter counts of a preset, per module and per learning-rate group."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from mgd_sam2.commands.arguments import (
    CALIBRATION_IMAGES,
    add_action,
    add_cpu_kind_argument,
    cpu_kind_argument,
    positive_int,
)
from mgd_sam2.models.presets import PRESETS
from mgd_sam2.utils.progress import plural


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    info = add_action(actions, "info", "parameter counts (total, trainable, per module, per LR group)")
    info.add_argument("--preset", default="base_plus", choices=list(PRESETS), help="model size")
    info.add_argument("--grid", type=positive_int, default=None, help="local views per side (default: the preset's, 2)")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    load = add_action(
        actions,
        "load",
        "load a SAM2/SAM2.1 checkpoint, released MGD-SAM2 weights or a training run's .ckpt into a preset and list "
        "every key by outcome",
    )
    load.add_argument(
        "--preset",
        default=None,
        choices=list(PRESETS),
        help="model size to load into (default: the network the file was trained in, base_plus_official for the "
        "released weights; for a SAM2 checkpoint, the preset of its size)",
    )
    load.add_argument("--ckpt", type=Path, required=True, help="the weights file")
    export_help = (
        "write a network's trained weights (safetensors, for predict --weights) and/or its exports: ONNX, ONNX "
        "Runtime int8, OpenVINO int8, or --fastest for this CPU's kind (for predict --ckpt), each checked against "
        "PyTorch"
    )
    export = add_action(actions, "export", export_help)
    export.add_argument(
        "--ckpt",
        type=Path,
        required=True,
        help="a Lightning checkpoint of a training run, the authors' released weights, a model folder (or a SAM2.1 "
        "checkpoint or the released weights with --weights); not an export",
    )
    export.add_argument("--weights", type=Path, help="trained weights for a SAM2.1 or released --ckpt")
    export.add_argument(
        "--out",
        type=Path,
        help="trained weights (everything but the frozen trunk): .safetensors (.pt: torch.save); an existing file is "
        "replaced only where model export --out wrote it",
    )
    export.add_argument(
        "--onnx", type=Path, help="an ONNX model at the network's input size, for ONNX Runtime or OpenVINO on the CPU"
    )
    export.add_argument(
        "--int8",
        type=Path,
        help="also an int8 ONNX model (dynamic quantization of the linear layers; faster on CPUs, slightly "
        "different masks: the command prints how much); needs --onnx",
    )
    export.add_argument(
        "--openvino-int8",
        type=Path,
        metavar="OUT.xml",
        help="also an OpenVINO int8 model (OUT.xml and OUT.bin; NNCF's calibrated quantization of the trunk's and "
        "adapters' linear layers and convolutions; the fastest path we measured on CPUs with VNNI or native bf16 "
        "(without them --fastest picks ONNX Runtime), for predict --ckpt OUT.xml; "
        "needs --onnx and --calibration)",
    )
    export.add_argument(
        "--fastest",
        type=Path,
        metavar="STEM",
        help="the fastest export for this CPU's kind within the accuracy bounds, as measured where a machine of that "
        "kind was at hand (docs/benchmarks.md, The fastest path for your CPU, says which kinds were not): "
        "STEM.onnx and the quantized form chosen, STEM_int8.xml (OpenVINO int8; needs --calibration) or "
        "STEM_int8.onnx; prints what it chose and why, and records the choice in the file, which predict --ckpt then "
        "runs in the precision recorded",
    )
    add_cpu_kind_argument(export, "choose --fastest")
    export.add_argument(
        "--calibration",
        type=Path,
        help="a folder of images like the ones you will segment, to calibrate --openvino-int8 (or --fastest's "
        "OpenVINO int8) on; one more of them, not calibrated on, is held out to check the int8 model on (at least 2)",
    )
    export.add_argument(
        "--calibration-images",
        type=positive_int,
        help="how many of the --calibration images to calibrate on (the first by name; each costs two passes of the "
        "network); the next is held out for the check, or the last where the folder holds no more (default: "
        f"{CALIBRATION_IMAGES})",
    )


def run(args: argparse.Namespace) -> int:
    if args.action == "load":
        from mgd_sam2.inference.loading import weights_network
        from mgd_sam2.models.checkpoints import load_pretrained, read_weights_file
        from mgd_sam2.models.network import MGDSAM2, NetworkConfig

        content = read_weights_file(args.ckpt)  # read once, for the network and the load
        config, why = (
            (NetworkConfig(preset=args.preset), "--preset") if args.preset else weights_network(content, args.ckpt)
        )
        network = MGDSAM2(config)
        report = load_pretrained(network, args.ckpt, content)
        print(f"{network.described} ({why}{'' if args.preset else '; --preset for another'})")
        print(report.details())
        print(report.summary())
        return 0
    if args.action == "export":
        return run_export(args)
    from mgd_sam2.models.network import MGDSAM2, NetworkConfig
    from mgd_sam2.models.summary import parameter_counts

    counts = parameter_counts(MGDSAM2(NetworkConfig(preset=args.preset, grid=args.grid)))
    if args.json:
        print(json.dumps({"preset": args.preset, **counts}, indent=2))
        return 0
    from mgd_sam2.models.groups import PRETRAINED_LR_SCALE, PRETRAINED_WEIGHT_DECAY
    from mgd_sam2.models.summary import parameter_table
    from mgd_sam2.utils.progress import console

    title = f"MGD-SAM2 {args.preset}: parameters"
    console().print(parameter_table(counts, title, PRETRAINED_LR_SCALE, PRETRAINED_WEIGHT_DECAY))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from mgd_sam2.errors import ConfigError
    from mgd_sam2.inference.loading import export_trained_weights, load_network
    from mgd_sam2.utils.files import check_output_file, remove_stale_temporaries

    if args.cpu_kind and not args.fastest:
        raise ConfigError("--cpu-kind chooses what --fastest writes: give --fastest STEM too")
    refuse_export_as_source(args.ckpt)
    record = choose_fastest(args) if args.fastest else None
    if not (args.out or args.onnx or args.int8 or args.openvino_int8):
        raise ConfigError(
            "nothing to write: give --out (trained weights), --onnx and/or --int8, --openvino-int8 (exported models), "
            "or --fastest"
        )
    for flag in ("int8", "openvino_int8"):
        if getattr(args, flag) and not args.onnx:
            raise ConfigError(f"--{flag.replace('_', '-')} is quantized from the fp32 export: give --onnx too")
    check_export_names(args)
    if args.openvino_int8:
        calibration, held_out = calibration_images(args)
    else:
        calibration, held_out = [], None
        check_unused_calibration(args, record)
    named = [(flag, getattr(args, flag)) for flag in ("out", "onnx", "int8", "openvino_int8") if getattr(args, flag)]
    if args.openvino_int8:
        named.append(("openvino_int8", args.openvino_int8.with_suffix(".bin")))  # its weights
    outputs = [check_output_file(path, output_flag(args, flag), output_fix(args, flag)) for flag, path in named]
    resolved = [path.resolve() for path in outputs]
    clash = [(output_flag(args, flag), path) for (flag, path), same in zip(named, resolved, strict=True)
             if resolved.count(same) > 1]  # fmt: skip
    if clash:
        raise ConfigError(f"{' and '.join(flag for flag, _ in clash)} name the same file, {clash[0][1]}: give each "
                          "its own")  # fmt: skip
    refuse_replacing_sources(args, named)
    if args.out:
        refuse_foreign_out(args.out)
    for folder in sorted({path.parent for path in outputs}):  # temporaries of a killed export, as predict's
        if remove_stale_temporaries(folder):
            print(f"removed unfinished temporary files of an interrupted export from {folder}")
    earlier = [str(path) for path in outputs if path.is_file()]
    if earlier:
        print(f"replacing {', '.join(earlier)} (each kept until its new file is written)")
    if args.fastest:
        from mgd_sam2.inference.fastest import stem_files

        others = [str(path) for path in stem_files(args.fastest).values() if path.is_file() and path not in
                  outputs]  # fmt: skip
        if others:
            print(f"note: {', '.join(others)}, of an earlier --fastest, stays as it was: predict the file named below")
    if args.out:
        network, description = load_network(args.ckpt, args.weights)
        count = export_trained_weights(network, args.out)
        del network  # the export loads its own, in its own process
        print(f"wrote {count} tensors of {description} to {args.out} ({args.out.stat().st_size / 2**20:.1f} MiB)")
    if args.onnx:
        write_exports(args, calibration, held_out, record)
    return 0


EXPORT_SUFFIXES = {"onnx": ".onnx", "int8": ".onnx", "openvino_int8": ".xml"}  # each export flag's file


def output_flag(args: argparse.Namespace, flag: str) -> str:
    """The flag a user gave for an output: ``--fastest`` where it chose the export's files."""
    return "--fastest" if args.fastest and flag != "out" else f"--{flag.replace('_', '-')}"


def output_fix(args: argparse.Namespace, flag: str) -> str:
    """What to do where an output is a folder: --fastest names its files from the STEM given."""
    return "give another STEM" if args.fastest and flag != "out" else "give a file name"


def refuse_replacing_sources(args: argparse.Namespace, named: list[tuple[str, Path]]) -> None:
    """An output that would replace the --ckpt or --weights the export reads (the file itself, or one of a --ckpt
    model folder, whose files may be links into a download cache): a one-line error, before the source is lost. An
    output is written by a rename onto its path, which replaces a link there, not the file it points to."""
    from mgd_sam2.errors import ConfigError

    for source_flag, source in (("--ckpt", args.ckpt), ("--weights", args.weights)):
        if source is None:
            continue
        read = source.resolve()
        for flag, path in named:
            target = path.parent.resolve() / path.name  # what the rename replaces
            if target == read or (source.is_dir() and target.parent == read and target.exists()):
                raise ConfigError(f"{output_flag(args, flag)} {path} would replace {source_flag} {source}, which "
                                  "the export reads: give another file name")  # fmt: skip


def refuse_foreign_out(out: Path) -> None:
    """--out replaces only a file that ``model export --out`` wrote: a photo, a SAM2 checkpoint or another project's
    weights there is a one-line error, before anything is loaded."""
    from mgd_sam2.errors import ConfigError
    from mgd_sam2.models.checkpoints import TRAINED_WEIGHTS_FORMAT, weights_format

    if out.is_file() and weights_format(out) != TRAINED_WEIGHTS_FORMAT:
        raise ConfigError(f"--out {out} exists and was not written by `mgd-sam2 model export --out`; it is never "
                          "replaced: give another file name, or move it")  # fmt: skip


def refuse_export_as_source(ckpt: Path) -> None:
    """An export given as --ckpt (a .onnx, a .xml, or the .bin beside one): a one-line error."""
    from mgd_sam2.errors import ConfigError
    from mgd_sam2.inference.export_formats import is_export

    if is_export(ckpt):
        raise ConfigError(f"--ckpt {ckpt} is an export: model export starts from PyTorch weights (the checkpoint or "
                          "weights it was exported from)")  # fmt: skip


def check_export_names(args: argparse.Namespace) -> None:
    """One-line errors before anything is written: an export named with another format's suffix (predict --ckpt
    tells the formats apart by it), trained weights named other than .safetensors, .pt or .pth (a photo, an export)."""
    from mgd_sam2.errors import ConfigError
    from mgd_sam2.inference.export_formats import EXPORT_FORMATS
    from mgd_sam2.models.checkpoints import TRAINED_WEIGHTS_SUFFIXES

    if args.out and not args.out.is_dir() and args.out.suffix not in TRAINED_WEIGHTS_SUFFIXES:  # a folder: said later
        raise ConfigError(f"--out writes trained weights: give a .safetensors (or .pt, .pth) file name, not {args.out}")
    for flag, suffix in EXPORT_SUFFIXES.items():
        path = getattr(args, flag)
        if path and path.suffix != suffix:
            raise ConfigError(f"--{flag.replace('_', '-')} writes {EXPORT_FORMATS[suffix]}: give a {suffix} file "
                              f"name, not {path}")  # fmt: skip


def write_exports(
    args: argparse.Namespace, calibration: list[Path], held_out: Path | None, record: dict[str, str] | None
) -> None:
    """The ONNX export and the quantized forms asked for, each in its own process (inference/export_steps.py)."""
    from mgd_sam2.inference.export_formats import RECORD_PRECISION
    from mgd_sam2.inference.export_steps import BOUND_MASK_LEVELS, export_steps
    from mgd_sam2.inference.loading import CheckpointSource

    steps = export_steps(CheckpointSource(args.ckpt, args.weights), args.onnx, args.int8, args.openvino_int8,
                         calibration, held_out, record)  # fmt: skip
    for path, report in steps:
        print(f"wrote {written(path, report, held_out)}")
        if args.openvino_int8 and path == (args.int8 or args.onnx):  # the next step
            print(f"calibrating OpenVINO int8 on {plural(len(calibration), 'image')} of {args.calibration}, then "
                  f"checking it on {held_out.name}, held out")  # fmt: skip
        if path == args.openvino_int8 and report["mask_mean_levels"] > BOUND_MASK_LEVELS:
            print(f"warning: on {held_out.name}, which it was not calibrated on, the int8 model's mask is "
                  f"{report['mask_mean_levels']:.2f} grey levels from PyTorch's on average, past the "
                  f"{BOUND_MASK_LEVELS:.1f} within which every --fastest path kept the demo model's masks "
                  "(docs/benchmarks.md, Goals and terms, calibrated on "
                  f"{CALIBRATION_IMAGES}): calibrate on more images like yours (--calibration, --calibration-images), "
                  f"or predict with {args.onnx}")  # fmt: skip
    written_files = (
        [args.int8 or args.openvino_int8 or args.onnx] if record else [args.openvino_int8, args.int8, args.onnx]
    )
    for run in [path for path in written_files if path is not None]:  # --fastest's: the one it chose
        if record and record[RECORD_PRECISION] == "bf16-mixed":
            how = f" (it runs in bf16-mixed on a CPU with native bf16 kernels, else in 32-true, as {run.name} records)"
        elif record:
            how = f" (it runs in {record[RECORD_PRECISION]}, as {run.name} records)"
        else:
            bf16 = "add --precision bf16-mixed on a CPU with native bf16 kernels"
            how = f" (in 32-true; {bf16})" if run.suffix == ".xml" else ""
        print(f"predict with: mgd-sam2 predict --ckpt {shlex.quote(str(run))} --input IMAGES --output MASKS{how}")


def written(path: Path, report: dict[str, float], held_out: Path | None) -> str:
    """An exported file, its size, its distance from PyTorch (an OpenVINO int8 file's: on ``held_out``) and its
    step's host memory peak, in words."""
    peak = f"; the step's peak host memory {report['peak_host_memory_mb'] / 1024:.2f} GiB"
    if path.suffix == ".xml":
        weights = path.with_suffix(".bin")
        precision = "bf16" if report["bf16"] else "fp32"
        return (f"{path} and {weights.name} ({weights.stat().st_size / 2**20:.1f} MiB): {distance(report)} (on "
                f"{held_out.name}, held out of the calibration, in {precision} as predict runs it on this CPU)"
                f"{peak}")  # fmt: skip
    size = f"{path.stat().st_size / 2**20:.1f} MiB"
    if "seconds" in report:  # the fp32 export, checked against PyTorch
        return (
            f"{path} ({size}, {report['seconds']:.0f} s): logits within {report['max_abs_logit_diff']:.1e} of "
            f"PyTorch's, {masks(report)}{peak}"
        )
    return f"{path} ({size}): {distance(report)}{peak}"


def choose_fastest(args: argparse.Namespace) -> dict[str, str]:
    """Set the export flags to the fastest path for this CPU's kind (or --cpu-kind), saying what and why; returns
    the choice to record."""
    from mgd_sam2.errors import ConfigError
    from mgd_sam2.inference.fastest import FASTEST, fastest_files

    given = [flag for flag in ("onnx", "int8", "openvino_int8") if getattr(args, flag)]
    if given:
        names = ", ".join(f"--{flag.replace('_', '-')}" for flag in given)
        raise ConfigError(f"--fastest chooses the exported files itself: drop {names}")
    cpu = cpu_kind_argument(args)
    path, files = FASTEST[cpu.kind], fastest_files(cpu, args.fastest)
    if files.openvino_int8 and args.calibration is None:
        raise ConfigError(
            f"--fastest on a CPU of kind {cpu.kind} is {path.describe()}, which is calibrated on images: give "
            "--calibration FOLDER (images like the ones you will segment)"
        )
    print(f"CPU kind: {cpu.describe()}")
    print(f"fastest path: {path.describe()}; why: {path.basis}")
    args.onnx, args.int8, args.openvino_int8 = files.onnx, files.int8, files.openvino_int8
    return files.record


def calibration_folder(args: argparse.Namespace) -> Path:
    """--calibration, or a one-line error where it is no folder (a mistyped path)."""
    from mgd_sam2.errors import ConfigError

    if not args.calibration.is_dir():
        raise ConfigError(f"--calibration {args.calibration} is not a folder of images")
    return args.calibration


def check_unused_calibration(args: argparse.Namespace, record: dict[str, str] | None) -> None:
    """A note for --calibration or --calibration-images given to an export that calibrates nothing (ONNX Runtime
    int8 needs no images; ``record``: --fastest's choice, if it made one); a --calibration that is no folder is an
    error all the same (a mistyped path)."""
    from mgd_sam2.inference.export_formats import RECORD_KIND
    from mgd_sam2.inference.fastest import FASTEST

    if args.calibration is not None:
        calibration_folder(args)
    unused = [flag for flag in ("calibration", "calibration_images") if getattr(args, flag) is not None]
    if not unused:
        return
    if record:
        why = f"{FASTEST[record[RECORD_KIND]].describe()} needs no calibration images"
    else:
        why = "only --openvino-int8 (or --fastest's OpenVINO int8) is calibrated"
    names = " and ".join(f"--{flag.replace('_', '-')}" for flag in unused)
    print(f"note: {names} {'is' if len(unused) == 1 else 'are'} not used: {why}")


def distance(report: dict[str, float]) -> str:
    """How far an exported model's output is from PyTorch's, in words."""
    return (f"logits within {report['max_abs_logit_diff']:.1e} of PyTorch's, probabilities "
            f"{report['mean_abs_sigmoid_diff']:.1e} apart on average, {masks(report)}")  # fmt: skip


def masks(report: dict[str, float]) -> str:
    """How far the export's mask of the check image, predicted as predict runs it, is from PyTorch's, in words."""
    return (f"its mask {report['mask_mean_levels']:.2f} grey levels from PyTorch's on average "
            f"(largest {report['mask_max_levels']})")  # fmt: skip


def calibration_images(args: argparse.Namespace) -> tuple[list[Path], Path]:
    """The first --calibration-images images of --calibration to calibrate on, and one image of the folder held out
    of them to check the int8 model on: the next by name, or the last where the folder holds no more (then one fewer
    is calibrated on). Each is decoded now (an unreadable one would stop the export after its ONNX step); a
    one-line error if the folder holds fewer than 2, or naming the unreadable ones."""
    from mgd_sam2.data.io import UnreadableImageError, list_images, read_image
    from mgd_sam2.errors import ConfigError
    from mgd_sam2.inference.backends import import_openvino
    from mgd_sam2.inference.export import import_nncf

    import_openvino(), import_nncf()  # now, not after the export
    if args.calibration is None:
        raise ConfigError("--openvino-int8 is calibrated on images: give --calibration FOLDER")
    images = list_images(calibration_folder(args))
    if len(images) < 2:
        held = plural(len(images), "image") if images else "no images"
        raise ConfigError(f"--calibration {args.calibration} holds {held}: give at least 2, one to calibrate on and "
                          "one held out to check the int8 model on (the accuracy of docs/benchmarks.md was measured "
                          f"calibrated on {CALIBRATION_IMAGES})")  # fmt: skip
    asked = args.calibration_images or CALIBRATION_IMAGES
    calibration = images[: min(asked, len(images) - 1)]
    held_out = images[len(calibration)]
    if len(calibration) < asked:
        measured = (f"; the accuracy of docs/benchmarks.md (Accuracy of every backend) was measured calibrated on "
                    f"{CALIBRATION_IMAGES}" if len(calibration) < CALIBRATION_IMAGES else "")  # fmt: skip
        print(f"note: --calibration {args.calibration} holds {plural(len(images), 'image')}, fewer than the "
              f"{asked} asked for plus one to hold out: calibrating on "
              f"{plural(len(calibration), 'image')}{measured}")  # fmt: skip
    unreadable = []
    for image in [*calibration, held_out]:
        try:
            read_image(image)
        except UnreadableImageError as error:
            unreadable.append(str(error))
    if unreadable:
        raise ConfigError(f"--calibration: {len(unreadable)} of its first {len(calibration) + 1} images cannot be "
                          f"read ({'; '.join(unreadable[:3])}): remove them, or give another folder")  # fmt: skip
    return calibration, held_out
