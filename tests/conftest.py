"""Fixtures shared by the test modules."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mgd_sam2.data.synth import SynthConfig, write_dataset

SOURCE = Path(__file__).resolve().parents[1] / "src"


def pytest_configure(config: pytest.Config) -> None:
    """The tests test this checkout: a venv whose editable install is another checkout's (one venv shared by two
    clones) would have every test import that one's code and pass or fail for it."""
    import mgd_sam2

    imported = Path(mgd_sam2.__file__).resolve().parents[1]
    if imported != SOURCE:
        raise pytest.UsageError(
            f"the tests import mgd_sam2 from {imported}, not from this checkout's {SOURCE}: this environment's "
            "install is another checkout's (a .venv linked or copied from it) or not an editable one. Give this "
            "checkout its own: remove its .venv if it is a link or copy, then `make install` here"
        )


SPLITS = {"train": ["synthetic/SYN-TR"], "val": ["synthetic/SYN-VD"], "test": ["synthetic/SYN-TE"]}


def linked_split(folder: Path, synthetic_root: Path, count: int) -> None:
    """A split ``folder`` (im/ and gt/) of links to the first ``count`` training pairs of the synthetic dataset."""
    for kind in ("im", "gt"):
        (folder / kind).mkdir(parents=True)
        for path in sorted((synthetic_root / "synthetic/SYN-TR" / kind).iterdir())[:count]:
            (folder / kind / path.name).symlink_to(path)


@pytest.fixture(scope="session", autouse=True)
def own_cache(tmp_path_factory):
    """MGD_SAM2_CACHE in this test process's own folder: the compiled-model caches are neither written by two
    pytest-xdist workers at once nor left in the user's ~/.cache (a test may still set its own)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MGD_SAM2_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture
def without_isa_limits(monkeypatch) -> None:
    """The runtimes' ISA switches (inference/cpu_kind.py) out of the environment, for a test that runs ONNX Runtime in
    a benchmark (refused under them) or reads a measurement's command (written after them): the suite may run under
    them (tests/bounds.py). The kernels already loaded keep the switches."""
    from mgd_sam2.inference.cpu_kind import ISA_SWITCHES

    for switch in ISA_SWITCHES:
        monkeypatch.delenv(switch, raising=False)


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """A data root holding a small synthetic dataset (10 images of 96-160 px, DIS5K layout) under synthetic/.

    Shared by the whole session: tests read it and never write into it.
    """
    root = tmp_path_factory.mktemp("data")
    write_dataset(root / "synthetic", SynthConfig(num=10, min_size=96, max_size=160, held_out=2), workers=0, show=False)
    return root


@pytest.fixture(scope="session")
def trained_checkpoint(synthetic_root: Path, tmp_path_factory) -> Path:
    """A Lightning checkpoint of the micro preset after two training steps on the synthetic data."""
    from lightning.pytorch import Trainer, seed_everything

    from mgd_sam2.data.datamodule import SegmentationDataModule
    from mgd_sam2.models.network import NetworkConfig
    from mgd_sam2.training.module import MGDSAM2Module

    folder = tmp_path_factory.mktemp("run")
    seed_everything(0)
    module = MGDSAM2Module(
        network=NetworkConfig(preset="micro"), val_metrics=["S", "MAE"], test_metrics=["S", "MAE", "F"]
    )
    data = SegmentationDataModule(
        root=str(synthetic_root), **SPLITS, input_size=module.input_size, grid=module.grid, num_workers=0, check=False
    )
    trainer = Trainer(
        accelerator="cpu",
        default_root_dir=folder,
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
    )
    trainer.fit(module, datamodule=data)
    trainer.save_checkpoint(folder / "trained.ckpt")
    return folder / "trained.ckpt"


@dataclass
class OverfitRun:
    root: Path  # data root of the 4 images (synthetic/SYN-TR), 64 x 64 each: the model input, so GT = target
    checkpoint: Path
    curve: list[dict[str, float]] = field(default_factory=list)  # {"step", "loss", "Smeasure", "MAE"} per check


OVERFIT_STEPS, OVERFIT_EVERY = 200, 50


@pytest.fixture(scope="session")
def overfit_run(tmp_path_factory) -> OverfitRun:
    """The micro preset at a 64 px input (view 32) trained until it fits 4 synthetic 64 x 64 images, validated on
    those same images every 50 steps: Lightning's ``overfit_batches=1`` (the 4 images are one batch), no
    augmentation, a constant LR of 3e-3 (no poly decay), 200 steps (about 30 s on 2 cores).

    A model that segments (confident maps) for the tests that need one: a broken link between data, views,
    network and loss keeps it from fitting."""
    from lightning.pytorch import Callback, Trainer, seed_everything

    from mgd_sam2.data.datamodule import SegmentationDataModule
    from mgd_sam2.models.network import NetworkConfig
    from mgd_sam2.training.module import MGDSAM2Module

    root = tmp_path_factory.mktemp("overfit")
    write_dataset(root / "synthetic", SynthConfig(num=6, min_size=64, max_size=64, held_out=0), workers=0, show=False)
    run = OverfitRun(root, root / "fitted.ckpt")

    class Curve(Callback):
        def on_validation_end(self, trainer, pl_module) -> None:  # after the module has logged the metrics
            metrics = trainer.callback_metrics
            run.curve.append(
                {"step": trainer.global_step, "loss": float(metrics["train/loss"]),
                 "Smeasure": float(metrics["val/Smeasure"]), "MAE": float(metrics["val/MAE"])}
            )  # fmt: skip

    seed_everything(0)
    module = MGDSAM2Module(
        network=NetworkConfig(preset="micro", view_size=32), lr=3e-3, poly_power=0.0, val_metrics=["S", "MAE"],
        test_metrics=["S", "MAE"], log_images_every_n_steps=0,
    )  # fmt: skip
    data = SegmentationDataModule(
        root=str(root), train=["synthetic/SYN-TR"], val=["synthetic/SYN-TR"], input_size=module.input_size,
        grid=module.grid, batch_size=4, eval_batch_size=4, num_workers=0, augment=False, check=False,
    )  # fmt: skip
    trainer = Trainer(
        accelerator="cpu", overfit_batches=1, max_epochs=OVERFIT_STEPS, check_val_every_n_epoch=OVERFIT_EVERY,
        num_sanity_val_steps=0, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, use_distributed_sampler=False, callbacks=[Curve()],
    )  # fmt: skip
    trainer.fit(module, datamodule=data)
    trainer.save_checkpoint(run.checkpoint)
    return run
