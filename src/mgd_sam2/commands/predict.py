"""``mgd-sam2 predict``: masks for images of any size, from any weights (see inference/loading.py).

With ``-c CONFIG`` the subcommand is Lightning's own ``predict`` (data.predict and a MaskWriter in
trainer.callbacks come from the config); without it, this front-end takes the flags below.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from mgd_sam2.inference.devices import DEVICES, PRECISIONS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ckpt",
        type=Path,
        required=True,
        help="a Lightning checkpoint of a run (runs/NAME/.../best.ckpt), the authors' released MGD-SAM2 weights, "
        "or a SAM2/SAM2.1 checkpoint together with --weights",
    )
    parser.add_argument("--weights", type=Path, help="trained weights from `mgd-sam2 model export`, for a SAM2 --ckpt")
    parser.add_argument(
        "--input", type=Path, required=True, help="an image file or a folder of images (any size, any aspect ratio)"
    )
    parser.add_argument(
        "--output", type=Path, required=True, help="folder for <stem>.png masks (8-bit, original resolution)"
    )
    parser.add_argument(
        "--binary", action="store_true", help="write 0/255 masks (threshold 128) instead of 8-bit probabilities"
    )
    parser.add_argument(
        "--cutout", action="store_true", help="also write <stem>_cutout.png: the image with the mask as alpha (RGBA)"
    )
    parser.add_argument(
        "--tta", action="store_true", help="test-time augmentation: horizontal flip x scales 0.75/1/1.25 (6 passes)"
    )
    parser.add_argument("--overwrite", action="store_true", help="predict images whose outputs already exist too")
    parser.add_argument("--device", choices=DEVICES, default="auto", help="where to run")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="auto: bf16-mixed on GPU, 32-true on CPU",
    )
    parser.add_argument("--batch-size", type=int, default=1, help="images per forward pass")
    parser.add_argument("--workers", type=int, default=2, help="processes reading images")


def run(args: argparse.Namespace) -> int:
    from mgd_sam2.data.datasets import image_records
    from mgd_sam2.errors import ConfigError
    from mgd_sam2.inference.loading import load_network
    from mgd_sam2.inference.predict import predict_files
    from mgd_sam2.inference.writer import MaskWriter, output_paths

    records = image_records(args.input)
    clashes = [name for name, n in Counter(r.name for r in records).items() if n > 1]
    if clashes:
        raise ConfigError(
            f"several input images share a name stem, their masks would collide: {', '.join(sorted(clashes)[:10])}"
        )
    todo = [
        r
        for r in records
        if args.overwrite or not all(p.is_file() for p in output_paths(args.output, r.name, args.cutout))
    ]
    if len(todo) < len(records):
        print(
            f"{len(records) - len(todo)} of {len(records)} images already have outputs in {args.output}; "
            "skipping them (--overwrite to redo)"
        )
    if not todo:
        return 0
    network, description = load_network(args.ckpt, args.weights)
    print(f"model: {description}")
    writer = predict_files(
        network,
        [r.image for r in todo],
        MaskWriter(args.output, binary=args.binary, cutout=args.cutout),
        device=args.device,
        precision=args.precision,
        batch_size=args.batch_size,
        workers=args.workers,
        tta=args.tta,
    )
    return 1 if writer.failures else 0  # the writer has listed them
