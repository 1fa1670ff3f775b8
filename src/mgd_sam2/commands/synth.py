"""``mgd-sam2 synth``: generate the embedded synthetic high-resolution dataset (DIS5K layout)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mgd_sam2.commands.arguments import add_workers_argument, comma_list, fraction, non_negative_int, positive_int
from mgd_sam2.data.shapes import THIN_OBJECTS
from mgd_sam2.data.synth import TRAINING_OBJECTS, HardCases, SynthConfig

# (flag, HardCases field, what the fraction of images has): the generator's hard cases
HARD_CASE_FLAGS = (
    ("--sharp-backgrounds", "sharp_background", "whose background is in focus, as sharp as the object (hard)"),
    ("--low-contrast", "low_contrast", "whose object is painted close to the colour behind it (hard)"),
    ("--occluded", "occluded", "with clutter in front of the object, cut out of its mask (hard)"),
)


def add_generator_arguments(parser: argparse.ArgumentParser, defaults: SynthConfig) -> None:
    """The generator's settings with ``defaults`` (shared with `mgd-sam2 demo`, which generates its dataset when it
    is missing)."""
    parser.add_argument(
        "--num",
        type=positive_int,
        default=defaults.num,
        help="images of the training families: 20%% test, 15%% validation, the rest train",
    )
    parser.add_argument(
        "--size",
        type=positive_int,
        nargs=2,
        default=(defaults.min_size, defaults.max_size),
        metavar=("MIN", "MAX"),
        help="range of side lengths in pixels",
    )
    parser.add_argument(
        "--held-out",
        type=non_negative_int,
        default=defaults.held_out,
        help="images of SYN-HO, drawn only from object and background families no other split uses",
    )
    hard = defaults.hard_cases
    for flag, field, what in HARD_CASE_FLAGS:
        parser.add_argument(
            flag, type=fraction, default=getattr(hard, field), help=f"fraction of images {what} (default: %(default)s)"
        )
    parser.add_argument(
        "--objects",
        type=comma_list(str, TRAINING_OBJECTS),
        default=list(defaults.objects),
        help=f"comma-separated object families of SYN-TR, SYN-VD and SYN-TE (default: all); the thin ones, whose fine "
        f"parts are 1-4 px at any size: {','.join(THIN_OBJECTS)}",
    )


def generator_config(args: argparse.Namespace, seed: int = 0) -> SynthConfig:
    """The SynthConfig that `add_generator_arguments`' flags describe."""
    hard = HardCases(**{field: getattr(args, flag[2:].replace("-", "_")) for flag, field, _ in HARD_CASE_FLAGS})
    return SynthConfig(
        args.num, seed, args.size[0], args.size[1], held_out=args.held_out, hard_cases=hard, objects=tuple(args.objects)
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("data/synthetic"), help="dataset folder to create (or finish)")
    add_generator_arguments(parser, SynthConfig())
    parser.add_argument("--seed", type=non_negative_int, default=0, help="every image is a function of (seed, index)")
    add_workers_argument(parser, "processes generating images")


def run(args: argparse.Namespace) -> int:
    from mgd_sam2.data.synth import write_dataset

    config = generator_config(args, args.seed)
    counts = write_dataset(args.out, config, workers=args.workers)
    sizes = ", ".join(f"{split} {n}" for split, n in config.split_sizes().items())
    print(f"{args.out}: {sizes} ({counts['written']} written, {counts['kept']} already there)")
    return 0
