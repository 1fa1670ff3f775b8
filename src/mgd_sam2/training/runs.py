"""Whole runs from a config: fit, then test the best checkpoint (used by the demo and the ablations)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mgd_sam2.errors import ConfigError
from mgd_sam2.training.cli import build_cli


@dataclass
class RunResult:
    before: dict[str, float] = field(default_factory=dict)  # test scores of the untrained model (when asked for)
    after: dict[str, float] = field(default_factory=dict)  # test scores of the best checkpoint
    checkpoint: str = ""
    log_dir: Path = Path()
    test_images: int = 0


def test_scores(trainer, module, datamodule, ckpt_path: str | None = None) -> dict[str, float]:
    """The first test split's scores under pysodmetrics' names."""
    results = trainer.test(module, datamodule=datamodule, ckpt_path=ckpt_path, verbose=False)[0]
    return {key.removeprefix("test/"): float(value) for key, value in results.items() if key.count("/") == 1}


def fit_and_test(config: str | Path, overrides: list[str], test_before: bool = False) -> RunResult:
    """Train with ``config`` (plus CLI-style ``overrides``) and test the best checkpoint on the first test split."""
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
    result.after = test_scores(trainer, module, datamodule, ckpt_path=result.checkpoint)
    result.log_dir = Path(trainer.log_dir)
    result.test_images = len(datamodule.datasets["test"][0])
    return result
