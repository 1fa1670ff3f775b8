"""``benchmark ablation``: each module's cost (parameters, latency) and effect (a short training run on the
demo's synthetic data) in one table, adding the modules one at a time: global view only, + multi-view,
+ MPAdapter, + MCEM, + HMIM, + DRM (the full model); the first row is the trivial baseline, the mean training mask
predicted for every image, so that each module's effect reads against it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mgd_sam2.benchmark.speed import SpeedConfig, measure_isolated
from mgd_sam2.utils.files import write_json, write_text

SWITCHES = ("multi_view", "use_adapters", "use_mcem", "use_hmim", "use_drm")
CONSTANT = "constant (mean training mask)"  # the trivial baseline's row
# (row name, the switches turned on; each row adds one)
ABLATIONS: list[tuple[str, tuple[str, ...]]] = [
    ("global only", ()),
    ("+ multi-view", ("multi_view",)),
    ("+ MPAdapter", ("multi_view", "use_adapters")),
    ("+ MCEM", ("multi_view", "use_adapters", "use_mcem")),
    ("+ HMIM", ("multi_view", "use_adapters", "use_mcem", "use_hmim")),
    ("+ DRM", SWITCHES),
]
# (row key, column title); scores are keyed "<test split>/<metric>": SYN-TE of the training families and
# SYN-HO of the held-out ones (data/synth.py)
COLUMNS = [
    ("params_trainable", "trainable params"),
    ("latency_ms_p50", "latency ms"),
    ("SYN-TE/Smeasure", "TE Sα↑"),
    ("SYN-TE/maxFm", "TE maxFβ↑"),
    ("SYN-TE/wFmeasure", "TE Fβw↑"),
    ("SYN-TE/MAE", "TE MAE↓"),
    ("SYN-TE/HCE", "TE HCEγ↓"),
    ("SYN-TE/mBA", "TE mBA↑"),
    ("SYN-HO/Smeasure", "HO Sα↑"),
    ("SYN-HO/maxFm", "HO maxFβ↑"),
    ("SYN-HO/MAE", "HO MAE↓"),
]


def switches(enabled: tuple[str, ...]) -> dict[str, bool]:
    return {name: name in enabled for name in SWITCHES}


def format_cell(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if key == "params_trainable":
        return f"{value:,}"
    if key == "latency_ms_p50" or key.endswith("HCE"):
        return f"{value:.0f}"
    return f"{value:.3f}"


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| configuration | " + " | ".join(title for _, title in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for row in rows:
        lines.append(
            f"| {row['configuration']} | " + " | ".join(format_cell(key, row.get(key)) for key, _ in COLUMNS) + " |"
        )
    return "\n".join(lines) + "\n"


def run_ablation(
    config: Path,
    data_root: Path,
    out: Path,
    preset: str = "micro",
    epochs: int = 10,
    device: str = "cpu",
    speed_iters: int = 5,
    extra: list[str] | None = None,
) -> list[dict[str, Any]]:
    """The constant baseline, then speed and a short fit + test per configuration; writes ablation.md and
    ablation.json under ``out``."""
    from mgd_sam2.data.synth import DEMO_DATA, ensure_dataset
    from mgd_sam2.metrics.baseline import synthetic_constant_scores
    from mgd_sam2.training.runs import fit_and_test

    synthetic = data_root / "synthetic"
    ensure_dataset(synthetic, DEMO_DATA)
    constant = synthetic_constant_scores(synthetic, ("SYN-TE", "SYN-HO"))
    rows: list[dict[str, Any]] = [
        {
            "configuration": CONSTANT,
            **{f"{split}/{metric}": value for split, scores in constant.items() for metric, value in scores.items()},
        }
    ]
    for name, enabled in ABLATIONS:
        flags = switches(enabled)
        speed = measure_isolated(
            SpeedConfig(preset=preset, device=device, iters=speed_iters, switches=tuple(flags.items()))
        )
        overrides = [
            "--model.network.preset",
            preset,
            "--trainer.max_epochs",
            str(epochs),
            "--data.root",
            str(data_root),
            "--trainer.check_val_every_n_epoch",
            str(min(5, epochs)),
            "--trainer.logger.init_args.save_dir",
            str(out),
            "--trainer.logger.init_args.name",
            name.strip("+ ").replace(" ", "-"),
            *[item for key, value in flags.items() for item in (f"--model.network.{key}", str(value).lower())],
            *(extra or []),
        ]
        run = fit_and_test(config, overrides)
        rows.append(
            {
                "configuration": name,
                **flags,
                "params_trainable": speed["params_trainable"],
                "latency_ms_p50": speed["latency_ms_p50"],
                **{
                    f"{split}/{metric}": value
                    for split, scores in run.after.items()
                    for metric, value in scores.items()
                },
                "checkpoint": run.checkpoint,
            }
        )
    title = (
        f"Ablation: preset {preset}, {epochs} epochs on the synthetic data, test splits SYN-TE (training families) "
        "and SYN-HO (held-out families); "
        f"latency at batch 1, fp32, {device}\n\n"
    )
    write_text(out / "ablation.md", title + markdown(rows))
    write_json(out / "ablation.json", rows)
    return rows
