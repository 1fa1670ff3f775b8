"""Whole runs from a config: fit, then test the best checkpoint (used by the demo and the ablations)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mgd_sam2.errors import ConfigError
from mgd_sam2.inference.segmenter import InferenceSettings
from mgd_sam2.inference.writer import ScoredMapWriter
from mgd_sam2.training.cli import build_cli
from mgd_sam2.training.module import scores_by_split


@dataclass
class RunResult:
    # {test split: {metric: score}}
    before: dict[str, dict[str, float]] = field(default_factory=dict)  # the untrained model (when asked for)
    after: dict[str, dict[str, float]] = field(default_factory=dict)  # the best checkpoint
    checkpoint: str = ""
    log_dir: Path = Path()
    test_images: dict[str, int] = field(default_factory=dict)  # images per test split
    # with ``scored_maps``: the folder of the 8-bit maps the best checkpoint's test scored, {split: {stem: digest}}
    scored_maps: Path | None = None
    digests: dict[str, dict[str, str]] = field(default_factory=dict)


def scored_map_writer(folder: Path, checkpoint: str, trainer, tta: bool) -> ScoredMapWriter:
    """A writer of the test's maps that records the settings ``mgd-sam2 predict --ckpt checkpoint`` would."""
    device = "cuda" if trainer.strategy.root_device.type == "cuda" else "cpu"
    settings = InferenceSettings.resolve(checkpoint, None, "torch", device, str(trainer.precision))
    return ScoredMapWriter(folder, settings.recorded(tta))


def test_scores(trainer, module, datamodule, ckpt_path: str | None = None) -> dict[str, dict[str, float]]:
    """{test split: {metric (pysodmetrics' names): score}}, splits in the config's order."""
    results = trainer.test(module, datamodule=datamodule, ckpt_path=ckpt_path, verbose=False)[0]
    return scores_by_split(results, "test", datamodule.split_names("test"))


def fit_and_test(
    config: str | Path, overrides: list[str], test_before: bool = False, scored_maps: str | None = None
) -> RunResult:
    """Train with ``config`` (plus CLI-style ``overrides``) and test the best checkpoint on every test split.

    ``scored_maps``: a folder name under the run's log folder where the best checkpoint's test saves the 8-bit
    maps it scored, as ``mgd-sam2 predict`` would (``ScoredMapWriter``).
    """
    cli = build_cli(["-c", str(config), *overrides], run=False)
    trainer, module, datamodule = cli.trainer, cli.model, cli.datamodule
    result = RunResult()
    if test_before:
        result.before = test_scores(trainer, module, datamodule)
    trainer.fit(module, datamodule=datamodule)
    result.checkpoint = trainer.checkpoint_callback.best_model_path
    if not result.checkpoint:
        raise ConfigError(
            f"no best checkpoint: validation never ran in {trainer.max_epochs} epochs "
            f"(check_val_every_n_epoch {trainer.check_val_every_n_epoch}); train longer or validate more often"
        )
    result.log_dir = Path(trainer.log_dir)
    if scored_maps:
        result.scored_maps = result.log_dir / scored_maps
        writer = scored_map_writer(result.scored_maps, result.checkpoint, trainer, module.hparams.tta)
        trainer.callbacks.append(writer)
    result.after = test_scores(trainer, module, datamodule, ckpt_path=result.checkpoint)
    if scored_maps:
        result.digests = writer.digests
    result.test_images = {
        name: len(dataset)
        for name, dataset in zip(datamodule.split_names("test"), datamodule.datasets["test"], strict=True)
    }
    return result
