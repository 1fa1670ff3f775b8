"""``mgd-sam2 predict``: masks for images of any size, from any weights (see inference/loading.py).

With ``-c CONFIG`` the subcommand is Lightning's own ``predict`` (data.predict and a MaskWriter in
trainer.callbacks come from the config); without it, this front-end takes the flags below.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from mgd_sam2.commands.arguments import (
    add_detail_arguments,
    add_weights_arguments,
    detail_of,
    non_negative_int,
    positive_int,
)
from mgd_sam2.data.io import IMAGE_SUFFIXES
from mgd_sam2.errors import ConfigError
from mgd_sam2.utils.files import check_output_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_weights_arguments(parser, ckpt_required=True)
    parser.add_argument(
        "--input", type=Path, required=True, help="an image file or a folder of images (any size, any aspect ratio)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        required=True,
        help="folder for <stem>.png masks (8-bit, original resolution); not the input folder",
    )
    parser.add_argument(
        "--recursive", action="store_true", help="also predict the images in subfolders; outputs mirror the tree"
    )
    parser.add_argument(
        "--binary", action="store_true", help="write 0/255 masks (255 above 128) instead of 8-bit probabilities"
    )
    parser.add_argument(
        "--cutout", action="store_true", help="also write <stem>_cutout.png: the image with the mask as alpha (RGBA)"
    )
    parser.add_argument(
        "--tta", action="store_true", help="test-time augmentation: horizontal flip x scales 0.75/1/1.25 (6 passes)"
    )
    add_detail_arguments(parser)
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="redo images whose outputs exist (outputs made with other weights or options, or of a changed image file, "
        "are redone anyway); "
        "files that predict did not write are never overwritten",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=1,
        help="images per forward pass; on an H200 the network alone ran 2.6 times as many images per second at 8 as "
        "at 1, and predict end to end has not shown that gain yet (docs/benchmarks.md, On a GPU); a batch runs other "
        "floating-point kernels than one image, so masks of another batch size can differ by one grey level at a few "
        "pixels",
    )
    parser.add_argument(
        "--workers",
        type=non_negative_int,
        help="processes reading images while the network runs (default: 2 on a GPU; 0 on the CPU, where they would "
        "take cores from the network)",
    )
    generated = parser.format_usage().removeprefix("usage: ").rstrip()
    parser.usage = f"{generated}\n       %(prog)s -c CONFIG [LightningCLI predict options]"


def check_paths(records: list, input_path: Path, output: Path, cutout: bool, recursive: bool) -> None:
    """Refuse any layout in which an output could overwrite an input, before anything is written."""
    from mgd_sam2.inference.writer import output_paths

    if output.suffix.lower() in IMAGE_SUFFIXES and not output.is_dir():  # it would be a folder of that name
        raise ConfigError(
            f"--output {output} is the folder the masks go into, named after their images; this one would be a "
            f"folder called {output.name}: give a folder, e.g. --output {output.parent / 'masks'}"
        )
    check_output_dir(output, "--output")
    source, target = input_path.resolve(), output.resolve()
    if input_path.is_dir() and (target == source or (recursive and source in target.parents)):
        where = "is the input folder" if target == source else "is inside the input tree (--recursive)"
        raise ConfigError(f"--output {output} {where}: masks would mix with (or overwrite) the images; choose another")
    inputs = {record.image.resolve() for record in records}
    outputs = [path for record in records for path in output_paths(output, record.name, cutout)]
    collisions = [path for path in outputs if path.resolve() in inputs]
    if collisions:
        raise ConfigError(f"--output {output}: writing {collisions[0]} would overwrite an input image; choose another")
    clashes = {path for path, n in Counter(outputs).items() if n > 1}
    if clashes:  # a.jpg and a.png, or x.jpg's cut-out and an image called x_cutout
        clashing = [str(record.image) for record in records
                    if set(output_paths(output, record.name, cutout)) & clashes]  # fmt: skip
        names = ", ".join(sorted(path.name for path in clashes)[:4])
        raise ConfigError(
            f"{len(clashing)} input images would write the same output ({names}): {', '.join(clashing[:6])}; rename "
            "one of each, or predict them into separate --output folders"
        )


def check_some_image_opens(records: list, folder: Path, max_pixels: int) -> None:
    """Before the model loads: a folder none of whose images opens within ``max_pixels`` (headers only, up to the
    first that does: the usual case reads one) is an error naming the first image's problem."""
    from mgd_sam2.data.io import UnreadableImageError, opened_image

    first = None
    for record in records:
        try:
            with opened_image(record.image, max_pixels):
                return
        except UnreadableImageError as error:
            first = first or error
    raise UnreadableImageError(f"none of the {len(records)} images in {folder} can be predicted: e.g. {first}")


def run(args: argparse.Namespace) -> int:
    from mgd_sam2.data.datasets import image_records
    from mgd_sam2.data.io import opened_image
    from mgd_sam2.inference.predict import tta_note
    from mgd_sam2.inference.segmenter import InferenceSettings, Segmenter
    from mgd_sam2.inference.writer import plan_outputs
    from mgd_sam2.utils.files import remove_stale_temporaries

    records, ignored = image_records(args.input, recursive=args.recursive)
    check_paths(records, args.input, args.output, args.cutout, args.recursive)
    if ignored:
        print(f"note: ignored in {args.input}: {ignored}")
    if args.input.is_file():  # one file: no image, a truncated one or one over --max-pixels is said before the model
        with opened_image(args.input, args.max_pixels) as image:  # loads (one decode more, against a model load)
            image.load()
    else:
        check_some_image_opens(records, args.input, args.max_pixels)
    detail = detail_of(args)
    settings = InferenceSettings.resolve(args.ckpt, args.weights, args.backend, args.device, args.precision, detail)
    writer = settings.writer(
        args.output, binary=args.binary, cutout=args.cutout, tta=args.tta, max_pixels=args.max_pixels
    )
    plan = plan_outputs(records, writer, overwrite=args.overwrite)
    if plan.skipped:
        print(
            f"{plan.skipped} of {len(records)} images already have outputs in {args.output}; skipping them "
            "(--overwrite to redo)"
        )
    if plan.redone:
        print(plan.redo_note())
    folders = {(args.output / record.name).parent for record in records}
    if sum(remove_stale_temporaries(folder) for folder in folders):
        print(f"removed unfinished temporary files of an interrupted run from {args.output}")
    if plan.cutouts:
        print(f"{len(plan.cutouts)} of {len(records)} images have their masks in {args.output} and no cut-out: making "
              "their cut-outs from those masks")  # fmt: skip
        if again := writer.cut_out(plan.cutouts):
            print(f"{len(again)} of those masks changed since predict wrote them (e.g. {again[0].name}): predicting "
                  "them again")  # fmt: skip
            plan.todo += again
    if not plan.todo:
        if plan.cutouts:
            writer.finish()
        return 1 if writer.failures else 0
    segmenter = Segmenter.from_settings(settings, args.max_pixels)
    print(segmenter.model_lines)
    if args.tta and (note := tta_note(segmenter.backend)):
        print(note)
    writer = segmenter.predict_files(plan.todo, writer, batch_size=args.batch_size, workers=args.workers, tta=args.tta)
    return 1 if writer.failures else 0  # the writer has listed them
