"""``mgd-sam2 demo`` (``make demo``): the whole job on the embedded synthetic dataset, on CPU, in minutes.

Generates data/synthetic if missing; tests the untrained micro model on SYN-TE ("before"); trains it
(configs/demo.yaml); tests the best checkpoint ("after"); writes its predictions for SYN-TE as 8-bit
PNGs and scores those files again with the folder evaluator; writes runs/demo/report.json.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from mgd_sam2.commands.arguments import positive_int
from mgd_sam2.commands.synth import add_generator_arguments

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "demo.yaml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", type=Path, default=Path("data"), help="synthetic/ is generated here if missing")
    add_generator_arguments(parser, when=", when there is no synthetic dataset yet")
    parser.add_argument(
        "--epochs", type=positive_int, default=None, help="training epochs (default: the demo config's)"
    )
    parser.add_argument(
        "--report", type=Path, default=Path("runs/demo/report.json"), help="where to write before/after metrics"
    )


def same_score(logged: float, rescored: float) -> bool:
    """Equal up to float32 rounding: Lightning logs metrics as float32, the folder evaluator keeps float64
    (HCE is in the thousands, so an absolute tolerance would not fit every metric's scale)."""
    both_undefined = math.isnan(logged) and math.isnan(rescored)  # mBA without any GT boundary
    return both_undefined or math.isclose(logged, rescored, rel_tol=1e-6, abs_tol=1e-9)


def run(args: argparse.Namespace) -> int:
    from mgd_sam2.cli import main
    from mgd_sam2.data.synth import SynthConfig, ensure_dataset
    from mgd_sam2.metrics.evaluate import evaluate_folders
    from mgd_sam2.metrics.sod import SCALAR_KEYS
    from mgd_sam2.metrics.tables import rich_table
    from mgd_sam2.training.runs import fit_and_test
    from mgd_sam2.utils.files import check_output_file, write_json
    from mgd_sam2.utils.progress import console

    check_output_file(args.report, "--report")
    start = time.perf_counter()
    ensure_dataset(
        args.data_root / "synthetic", SynthConfig(num=args.num, min_size=args.size[0], max_size=args.size[1])
    )
    overrides = ["--data.root", str(args.data_root)]
    if args.epochs:  # validate often enough that a best checkpoint exists after a short run
        overrides += [
            "--trainer.max_epochs",
            str(args.epochs),
            "--trainer.check_val_every_n_epoch",
            str(min(5, args.epochs)),
        ]
    run = fit_and_test(CONFIG, overrides, test_before=True)
    before, after, best, run_dir = run.before, run.after, run.checkpoint, run.log_dir
    predictions = run_dir / "predictions"
    test_images = args.data_root / "synthetic" / "SYN-TE"
    main(["predict", "--ckpt", best, "--input", str(test_images / "im"), "--output", str(predictions), "--overwrite"])
    rescored = evaluate_folders(predictions, test_images / "gt").scores
    mismatch = {
        key: (after[key], rescored[key])
        for key in after
        if key in rescored and not same_score(after[key], rescored[key])
    }
    seconds = time.perf_counter() - start

    keys = [key for key in SCALAR_KEYS if key in after]
    rows = {
        "before (untrained)": before,
        "after (best checkpoint)": after,
        "after, re-scored from saved PNGs": rescored,
    }
    console().print(rich_table(rows, "all", f"demo on synthetic SYN-TE ({run.test_images} images), {seconds:.0f} s"))
    report = {
        "before": {k: before[k] for k in keys},
        "after": {k: after[k] for k in keys},
        "after_rescored": {k: rescored[k] for k in keys},
        "seconds": seconds,
        "checkpoint": best,
        "predictions": str(predictions),
    }
    write_json(args.report, report)
    write_json(run_dir / "report.json", report)
    print(f"report: {args.report}; checkpoint: {best}; predictions: {predictions}")
    if mismatch:
        print(f"error: scores of the saved predictions differ from the test step's: {mismatch}", file=sys.stderr)
        return 1
    return 0
