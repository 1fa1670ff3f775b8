"""A diverged run never becomes "best": training stops at the first non-finite loss or gradient with one line, no
checkpoint with non-finite weights is written or validated, and inference refuses such weights (training/divergence.py,
models/finite.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer, seed_everything
from PIL import Image

from mgd_sam2.cli import main
from mgd_sam2.data.datamodule import SegmentationDataModule
from mgd_sam2.errors import NonFiniteError
from mgd_sam2.models.checkpoints import read_weights_file
from mgd_sam2.models.finite import non_finite
from mgd_sam2.models.network import NetworkConfig
from mgd_sam2.training.module import MGDSAM2Module

DEMO = Path(__file__).resolve().parent.parent / "src/mgd_sam2/configs/demo.yaml"


def one_error_line(err: str) -> bool:
    return "Traceback" not in err and sum(line.startswith("error:") for line in err.splitlines()) == 1


def fit_micro(root: Path, folder: Path, steps: int, precision: str = "32-true", module: MGDSAM2Module | None = None):
    """``steps`` training steps of the micro preset at a 64 px input; returns (module, trainer)."""
    module = module or micro_module()
    data = SegmentationDataModule(root=str(root), train=["synthetic/SYN-TR"], val=["synthetic/SYN-VD"],
                                  input_size=module.input_size, grid=module.grid, batch_size=2, num_workers=0,
                                  check=False)  # fmt: skip
    trainer = Trainer(accelerator="cpu", default_root_dir=folder, max_steps=steps, limit_val_batches=0,
                      precision=precision, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, use_distributed_sampler=False)  # fmt: skip
    trainer.fit(module, datamodule=data)
    return module, trainer


def weights(module: MGDSAM2Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in module.model.state_dict().items()}


def test_a_diverged_fit_exits_with_one_line_and_keeps_nothing_as_best(
    synthetic_root: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """The issue's command: the demo config with a huge LR, validated every epoch."""
    monkeypatch.chdir(tmp_path)
    argv = ["fit", "-c", str(DEMO), "--data.root", str(synthetic_root), "--data.batch_size", "2",
            "--trainer.max_epochs", "2", "--trainer.check_val_every_n_epoch", "1", "--model.lr", "1e6"]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert one_error_line(err) and "training diverged at step" in err and "--model.lr (now 1e+06)" in err, err
    assert not list(tmp_path.rglob("best*.ckpt"))
    for saved in tmp_path.rglob("*.ckpt"):  # whatever was saved before the divergence is finite
        assert non_finite(read_weights_file(saved)["state_dict"].items())[0] == [], saved


def micro_module() -> MGDSAM2Module:
    seed_everything(0)
    return MGDSAM2Module(
        network=NetworkConfig(preset="micro", view_size=32), val_metrics=["S"], log_images_every_n_steps=0
    )


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_a_non_finite_loss_stops_before_the_step_in_every_precision(
    synthetic_root: Path, tmp_path: Path, precision: str
) -> None:
    """bf16 has fp32's exponent range: a non-finite loss is divergence there too, never a step to skip."""
    module, seen = micro_module(), {}
    loss = module.loss

    def nan_at_step_1(out, target):
        losses = loss(out, target)
        if module.global_step == 1:
            seen.update(weights(module))  # what step 0 left
            losses["loss"] = losses["loss"] * float("nan")
        return losses

    module.loss = nan_at_step_1
    with pytest.raises(NonFiniteError, match=r"training diverged at step 1 \(epoch 0\): the loss is nan") as raised:
        fit_micro(synthetic_root, tmp_path, steps=3, precision=precision, module=module)
    assert ("--trainer.precision 32-true" in str(raised.value)) == (precision != "32-true")
    assert seen and all(torch.equal(value, seen[key]) for key, value in weights(module).items())  # step 1 not taken


def test_non_finite_gradients_stop_before_the_optimizer_step(synthetic_root: Path, tmp_path: Path) -> None:
    module, seen = micro_module(), {}
    name, parameter = next((n, p) for n, p in module.named_parameters() if p.requires_grad)

    def inf_at_step_1(grad: torch.Tensor) -> torch.Tensor:
        if module.global_step == 1:
            seen.update(weights(module))
            return grad * float("inf")
        return grad

    parameter.register_hook(inf_at_step_1)
    with pytest.raises(NonFiniteError, match=rf"at step 1 .* the gradients of 1 tensors .* \(e.g. {name}\)"):
        fit_micro(synthetic_root, tmp_path, steps=3, module=module)
    assert seen and all(torch.equal(value, seen[key]) for key, value in weights(module).items())


def test_no_checkpoint_with_non_finite_weights_is_written_or_validated(synthetic_root: Path, tmp_path: Path) -> None:
    module, trainer = fit_micro(synthetic_root, tmp_path, steps=1)
    trainer.save_checkpoint(tmp_path / "finite.ckpt")
    with torch.no_grad():
        next(module.model.drm.parameters()).fill_(float("nan"))
    with pytest.raises(NonFiniteError, match="the checkpoint at step 1 .* it is not saved"):
        trainer.save_checkpoint(tmp_path / "nan.ckpt")
    assert (tmp_path / "finite.ckpt").is_file() and not (tmp_path / "nan.ckpt").exists()
    validator = Trainer(accelerator="cpu", limit_val_batches=1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False)  # fmt: skip
    with pytest.raises(NonFiniteError, match=r"the model to validate \(step 0\) holds NaN or infinite values in 1 of"):
        validator.validate(module, datamodule=trainer.datamodule)


def test_a_trainer_saves_a_module_it_never_fitted_and_predict_loads_it(tmp_path: Path) -> None:
    """A checkpoint of random weights without a run (tools/gpu/table.sh times predict with one): the finite check
    needs no fitted trainer, and the file loads."""
    from mgd_sam2.inference.loading import load_network

    trainer = Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.strategy.connect(micro_module())
    trainer.save_checkpoint(tmp_path / "random.ckpt")
    network, described = load_network(tmp_path / "random.ckpt")
    assert network.preset == "micro" and "Lightning checkpoint" in described


@pytest.fixture
def nan_checkpoint(trained_checkpoint: Path, tmp_path: Path) -> Path:
    """The trained checkpoint with one tensor of NaN, as a diverged run's best.ckpt held them."""
    content = torch.load(trained_checkpoint, weights_only=False)
    key = next(key for key, value in content["state_dict"].items() if torch.is_floating_point(value))
    content["state_dict"][key] = torch.full_like(content["state_dict"][key], float("nan"))
    torch.save(content, tmp_path / "nan.ckpt")
    return tmp_path / "nan.ckpt"


def test_validate_predict_export_and_the_app_refuse_non_finite_weights(
    nan_checkpoint: Path, synthetic_root: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the app's folders go here
    images = tmp_path / "in"
    images.mkdir()
    Image.new("RGB", (40, 30), (90, 120, 30)).save(images / "a.png")
    commands = [
        ["validate", "-c", str(DEMO), "--data.root", str(synthetic_root), "--trainer.logger", "false",
         "--ckpt_path", str(nan_checkpoint)],
        ["predict", "--ckpt", str(nan_checkpoint), "--input", str(images), "--output", str(tmp_path / "masks")],
        ["model", "export", "--ckpt", str(nan_checkpoint), "--out", str(tmp_path / "w.safetensors")],
        ["app", "--ckpt", str(nan_checkpoint), "--device", "cpu"],
    ]  # fmt: skip
    for argv in commands:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert one_error_line(err) and "holds NaN or infinite values in 1 of" in err, (argv, err)
        assert "training run diverged" in err and "--model.lr" in err, (argv, err)
    assert not (tmp_path / "masks").exists() or not any((tmp_path / "masks").iterdir())
    assert not (tmp_path / "w.safetensors").exists()
