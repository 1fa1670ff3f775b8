"""``mgd-sam2 demo`` (``make demo``): the whole job on the embedded synthetic dataset, on CPU, in minutes.

Generates data/demo/synthetic if missing (``DEMO_DATA``, or the generator flags: a dataset there made with other
settings is refused); tests the untrained micro model on the test splits
("before"); trains it (configs/demo.yaml); tests the best checkpoint ("after"), saving the 8-bit maps it scored as
PNGs; checks those files pixel for pixel against the maps scored and scores them again with the folder evaluator;
scores the trivial baseline, the mean training mask ("constant"); writes runs/demo/report.json.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from mgd_sam2.commands.arguments import positive_int
from mgd_sam2.commands.synth import add_generator_arguments, generator_config

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "demo.yaml"
DEMO_REPORT = Path("runs/demo/report.json")


def demo_checkpoint(report: Path = DEMO_REPORT) -> Path | None:
    """The best checkpoint of the last ``make demo`` run (recorded in its report), or None when there is none."""
    import json

    if not report.is_file():
        return None
    ckpt = Path(json.loads(report.read_text())["checkpoint"])
    return ckpt if ckpt.is_file() else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mgd_sam2.data.synth import DEMO_DATA

    parser.add_argument(
        "--data-root",
        type=Path,
        default=Path("data/demo"),
        help="synthetic/ is generated here if missing (or finished if interrupted); one already there made with other "
        "generator settings than the flags below is refused: give another --data-root",
    )
    add_generator_arguments(parser, DEMO_DATA)
    parser.add_argument(
        "--epochs", type=positive_int, default=None, help="training epochs (default: the demo config's)"
    )
    parser.add_argument("--report", type=Path, default=DEMO_REPORT, help="where to write before/after metrics")


# Lightning logs a metric as float32: rounding to it moves a value by at most 2^-24 of it.
FLOAT32_ROUNDING = 2.0**-24


def rescoring_bound(images: int) -> float:
    """Largest relative difference between a score the test step logged and the folder evaluator's score of the
    same 8-bit maps, over ``images`` images.

    Both run the same per-image functions on the same maps, so per-image values are equal; the paths differ in
    arithmetic only: Lightning logs float32 (2^-24 relative), and the float64 sums over images run in another
    order (``reordering_bound``).
    """
    from mgd_sam2.metrics.sod import reordering_bound

    return FLOAT32_ROUNDING + reordering_bound(images)


def same_score(logged: float, rescored: float, images: int) -> bool:
    """Whether two scores of the same maps agree within `rescoring_bound` (relative, so one rule serves
    metrics in [0, 1] and HCE in the thousands)."""
    if math.isnan(logged) or math.isnan(rescored):  # mBA without any GT boundary is undefined on both sides
        return math.isnan(logged) and math.isnan(rescored)
    return abs(logged - rescored) <= rescoring_bound(images) * max(abs(logged), abs(rescored))


def changed_maps(folder: Path, digests: dict[str, str]) -> list[str]:
    """The saved maps under ``folder`` that are missing or differ, pixel for pixel, from the maps scored
    ({stem: map_digest})."""
    from mgd_sam2.data.io import UnreadableImageError, read_prediction
    from mgd_sam2.inference.writer import map_digest

    problems = []
    for name, digest in digests.items():
        path = folder / f"{name}.png"
        try:
            if map_digest(read_prediction(path)) != digest:
                problems.append(f"{path} is not the map the test step scored")
        except UnreadableImageError as error:
            problems.append(str(error))
    return problems


def rescoring_mismatches(
    logged: dict[str, dict[str, float]], rescored: dict[str, dict[str, float]], images: dict[str, int]
) -> dict[str, tuple[float, float]]:
    """{"split/metric": (logged, rescored)} for every score outside `rescoring_bound`."""
    return {
        f"{split}/{key}": (scores[key], rescored[split][key])
        for split, scores in logged.items()
        for key in scores
        if key in rescored[split] and not same_score(scores[key], rescored[split][key], images[split])
    }


def run(args: argparse.Namespace) -> int:
    from mgd_sam2.data.synth import write_dataset
    from mgd_sam2.metrics.baseline import synthetic_constant_scores
    from mgd_sam2.metrics.evaluate import evaluate_folders
    from mgd_sam2.metrics.sod import SCALAR_KEYS
    from mgd_sam2.metrics.tables import rich_table
    from mgd_sam2.training.runs import fit_and_test
    from mgd_sam2.utils.files import check_output_file, write_json
    from mgd_sam2.utils.progress import console

    check_output_file(args.report, "--report")
    start = time.perf_counter()
    synthetic = args.data_root / "synthetic"
    write_dataset(synthetic, generator_config(args), flag="--data-root")
    overrides = ["--data.root", str(args.data_root)]
    if args.epochs:  # validate often enough that a best checkpoint exists after a short run
        overrides += [
            "--trainer.max_epochs",
            str(args.epochs),
            "--trainer.check_val_every_n_epoch",
            str(min(5, args.epochs)),
        ]
    run = fit_and_test(CONFIG, overrides, test_before=True, scored_maps="predictions")
    predictions = run.scored_maps
    # The test step saved the maps it scored; the files must hold those maps exactly, and the folder evaluator
    # must score them as the test step did, up to the arithmetic of rescoring_bound.
    changed = [problem for split in run.after for problem in changed_maps(predictions / split, run.digests[split])]
    rescored = {
        split: evaluate_folders(predictions / split, synthetic / split / "gt", progress=False).scores
        for split in run.after
    }
    mismatch = rescoring_mismatches(run.after, rescored, run.test_images)
    # the trivial baseline: the mean of the training masks, predicted for every test image
    constant = synthetic_constant_scores(synthetic, run.after)
    grid = write_grid(synthetic, predictions, list(run.after), run.log_dir / "demo_grid.png")
    seconds = time.perf_counter() - start

    keys = [key for key in SCALAR_KEYS if key in next(iter(run.after.values()))]
    for split, count in run.test_images.items():
        rows = {
            "before (untrained)": run.before[split],
            "constant (mean training mask)": constant[split],
            "after (best checkpoint)": run.after[split],
        }
        console().print(rich_table(rows, "all", f"demo on {split} ({count} images)"))
        gains = {key: run.after[split][key] - constant[split][key] for key in ("Smeasure", "maxFm", "MAE")}
        print(f"{split}: after vs the constant: Sα {gains['Smeasure']:+.3f}, maxFβ {gains['maxFm']:+.3f}, "
              f"MAE {gains['MAE']:+.3f}")  # fmt: skip
    print(f"{seconds:.0f} s in all")
    report = {
        kind: {split: {key: scores[split][key] for key in keys} for split in run.after}
        for kind, scores in (
            ("before", run.before), ("constant", constant), ("after", run.after), ("after_rescored", rescored)
        )
    }  # fmt: skip
    report.update(seconds=seconds, checkpoint=run.checkpoint, predictions=str(predictions), grid=str(grid))
    write_json(args.report, report)
    write_json(run.log_dir / "report.json", report)
    print(f"report: {args.report}; checkpoint: {run.checkpoint}; predictions: {predictions}; pictures: {grid}")
    if changed:
        print(f"error: saved predictions differ from the maps the test step scored: {changed}", file=sys.stderr)
        return 1
    if mismatch:
        print(f"error: scores of the saved predictions differ from the test step's: {mismatch}", file=sys.stderr)
        return 1
    return 0


def write_grid(synthetic: Path, predictions: Path, splits: list[str], out: Path, per_split: int = 4) -> Path:
    """A picture of the first images of each split: one column each, rows input / GT / prediction."""
    import numpy as np
    from PIL import Image, ImageDraw

    from mgd_sam2.data.io import read_image, read_mask, read_prediction
    from mgd_sam2.utils.files import atomic_path

    side, columns = 240, []
    for split in splits:
        for gt in sorted((synthetic / split / "gt").glob("*.png"))[:per_split]:
            image = next(p for p in (synthetic / split / "im").iterdir() if p.stem == gt.stem)
            tiles = [read_image(image), read_mask(gt), read_prediction(predictions / split / gt.name)]
            tiles = [np.array(Image.fromarray(t).convert("RGB").resize((side, side))) for t in tiles]
            column = Image.fromarray(np.concatenate(tiles, axis=0))
            ImageDraw.Draw(column).text((6, 4), split, fill=(255, 255, 0), stroke_width=2, stroke_fill=(0, 0, 0))
            columns.append(np.array(column))
    with atomic_path(out) as temporary:
        Image.fromarray(np.concatenate(columns, axis=1)).save(temporary, format="PNG")
    return out
