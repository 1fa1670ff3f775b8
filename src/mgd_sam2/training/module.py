"""The LightningModule: MGD-SAM2 with its loss, optimiser and schedule, per-split metrics and image logging."""

from __future__ import annotations

import warnings
from typing import Any, Optional

import torch
from lightning.pytorch import LightningModule
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.warnings import PossibleUserWarning
from torch import Tensor, nn
from torchmetrics import MeanMetric

from mgd_sam2.data.datasets import EvalBatch, PredictBatch, TrainBatch
from mgd_sam2.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from mgd_sam2.inference.backends import TorchBackend
from mgd_sam2.inference.detail import DEFAULT_ZOOM, Detail, DetailMode
from mgd_sam2.inference.maps import predict_logits, to_uint8_maps
from mgd_sam2.inference.predict import predict_batch
from mgd_sam2.metrics.functional import HceBinarization
from mgd_sam2.metrics.pairs import image_pairs
from mgd_sam2.metrics.sod import METRIC_CLASSES, MetricName, build_metrics, scalar_results
from mgd_sam2.models.checkpoints import CheckpointError, load_pretrained, refuse_mismatched_start
from mgd_sam2.models.groups import NEW_WEIGHT_DECAY, PRETRAINED_LR_SCALE, PRETRAINED_WEIGHT_DECAY
from mgd_sam2.models.multi_view import Views
from mgd_sam2.models.network import MGDSAM2, TRAINING_ONLY, MGDSAM2Output, NetworkConfig
from mgd_sam2.training import divergence
from mgd_sam2.training.loss import AUX_WEIGHT, mgd_loss
from mgd_sam2.training.resume import follow_the_schedule, start_next_epoch_afresh


def scores_by_split(logged: dict[str, Any], stage: str, splits: list[str]) -> dict[str, dict[str, float]]:
    """{split: {metric: value}} of ``splits``, in their order, from what `MGDSAM2Module.log_split_metrics` logged
    (``{stage}/{split}/{metric}`` keys of ``trainer.callback_metrics`` or of ``trainer.test``'s results)."""
    scores: dict[str, dict[str, float]] = {split: {} for split in splits}
    for key, value in logged.items():
        parts = key.split("/")
        if len(parts) == 3 and parts[0] == stage and parts[1] in scores and parts[2] != "loss":
            scores[parts[1]][parts[2]] = float(value)
    return scores


def network_changes(module: LightningModule, checkpoint: dict[str, Any], training: bool = True) -> str | None:
    """The network settings ``module`` builds that differ from those ``checkpoint`` was trained with, in words
    ("view_size 128 -> 64"), each as the preset resolves it; None where none does (settings a checkpoint does not
    record are not compared, nor those that only change what a fit trains where not ``training``)."""
    recorded = checkpoint.get("hyper_parameters", {}).get("network", {})
    built = NetworkConfig.from_dict(module.hparams.network).resolved()
    try:
        trained = NetworkConfig.from_dict({**built.to_dict(), **recorded}).resolved()
    except (TypeError, ValueError):  # settings of another version: the weights' own check says what differs
        return None
    changed = [key for key in recorded if hasattr(built, key) and getattr(trained, key) != getattr(built, key)
               and (training or key not in TRAINING_ONLY)]  # fmt: skip
    if "preset" in changed:  # the values a preset gives follow it: named where they were given
        changed = [key for key in changed if key == "preset" or recorded[key] != module.hparams.network.get(key)]
    return ", ".join(f"{key} {getattr(trained, key)!r} -> {getattr(built, key)!r}" for key in changed) or None


# the settings a resume takes from the optimizer's state, not from the config
OPTIMIZER_STATE_SETTINGS = ("lr", "pretrained_lr_scale", "weight_decay")


PRECISION_KEY = "precision"  # a checkpoint's entry: the trainer precision that wrote it


def optimizer_changes(module: LightningModule, checkpoint: dict[str, Any]) -> str | None:
    """The settings of ``OPTIMIZER_STATE_SETTINGS`` that ``module`` was given other than ``checkpoint`` was trained
    with, in words ("lr 0.0002 -> 0.02"); None where none is. A fit resuming the checkpoint restores its optimizer's
    and schedule's state, base rates and weight decay included, so these would go unused."""
    recorded = checkpoint.get("hyper_parameters", {})
    changed = [key for key in OPTIMIZER_STATE_SETTINGS if key in recorded and recorded[key] != module.hparams[key]]
    return ", ".join(f"{key} {recorded[key]!r} -> {module.hparams[key]!r}" for key in changed) or None


def refuse_other_network(module: LightningModule, checkpoint: dict[str, Any]) -> None:
    """A CheckpointError naming both networks when ``checkpoint``'s weights do not fit ``module``'s (a
    ``--model.network.*`` flag given with ``--ckpt_path`` builds another network than the one trained)."""
    ours = module.state_dict()
    theirs = checkpoint.get("state_dict", {})
    differ = [key for key, value in theirs.items() if key in ours and tuple(value.shape) != tuple(ours[key].shape)]
    missing = [key for key in ours if key not in theirs and not key.startswith("metrics.")]
    unexpected = [key for key in theirs if key not in ours and not key.startswith("metrics.")]
    if not (differ or missing or unexpected):
        return
    names = network_changes(module, checkpoint) or "the same settings"
    example = next(f"{keys[0]} {what}" for keys, what in ((differ, "has another shape"), (missing, "is not in the "
                   "checkpoint"), (unexpected, "is not in this network")) if keys)  # fmt: skip
    raise CheckpointError(
        f"the checkpoint's network is not the one this command builds ({names}; e.g. {example}): drop the "
        "--model.network flags to use the checkpoint's own network, or give a checkpoint of the network you ask for"
    )


class MGDSAM2Module(LightningModule):
    """MGD-SAM2 trained as released (docs/design.md, training): BCE+IoU loss with a 0.3-weighted per-view
    auxiliary term; AdamW with a base-LR group for the new modules and a 0.1x group for SAM2's neck and
    decoder; poly (power 0.9) decay stepped per epoch.

    Args:
        network: the network's settings: preset, view size, grid, module switches (``NetworkConfig``;
            in YAML ``model.network.preset`` and so on).
        pretrained: a SAM2/SAM2.1 checkpoint to start from, the authors' released MGD-SAM2 weights, or a training
            run's Lightning checkpoint (its network's weights: a fine-tune on other data, with a fresh optimizer).
            Loaded once, as the first stage sets up, unless the weights come from a Lightning checkpoint
            (``load_from_checkpoint``, the CLI's ``--ckpt_path``; ``trainer.fit(module, ckpt_path=...)`` in Python
            reads it first, then restores the checkpoint over it).
        lr: base learning rate of the new modules (the SAM2 neck/decoder get ``lr * pretrained_lr_scale``).
        pretrained_lr_scale: LR factor of the pretrained neck and decoder parts.
        weight_decay: weight decay of the pretrained parts (the new modules have none).
        poly_power: exponent of the per-epoch poly decay (1 - epoch / max_epochs) ** power.
        aux_weight: weight of the per-view auxiliary loss.
        val_metrics: metrics computed every validation (HCE is slow on large images).
        test_metrics: metrics computed in test.
        hce_binarize: HCE prediction binarisation, "dis" (raw > 128) or "pysod" (normalised > 0.5).
        tta: test/predict with horizontal flip x scales 0.75/1/1.25 (logits averaged).
        detail: predict only: a detail mode for images larger than the input, as ``mgd-sam2 predict --detail``
            (off, crop, tiles or guided; docs/prediction.md); the CLI then has the DataModule keep each image's pixels.
        detail_zoom: predict only: the tiles' zoom, as ``--detail-zoom`` (up to zoom x zoom tiles).
        log_images_every_n_steps: TensorBoard grids of input, GT and prediction every N training steps (0: never).
    """

    def __init__(
        self,
        *,
        network: NetworkConfig = NetworkConfig(),  # noqa: B008 (a frozen dataclass; jsonargparse shows the default)
        pretrained: Optional[str] = None,
        lr: float = 2e-4,
        pretrained_lr_scale: float = PRETRAINED_LR_SCALE,
        weight_decay: float = PRETRAINED_WEIGHT_DECAY,
        poly_power: float = 0.9,
        aux_weight: float = AUX_WEIGHT,
        val_metrics: list[MetricName] = ["S", "E", "F", "wF", "MAE"],  # noqa: B006 (jsonargparse shows the default)
        test_metrics: list[MetricName] = list(METRIC_CLASSES),  # noqa: B006, B008
        hce_binarize: HceBinarization = "dis",
        tta: bool = False,
        detail: DetailMode = "off",
        detail_zoom: int = DEFAULT_ZOOM,
        log_images_every_n_steps: int = 500,
    ) -> None:
        super().__init__()
        self.detail = Detail(detail, detail_zoom)  # a bad value fails here, before anything runs
        config = NetworkConfig.from_dict(network) if isinstance(network, dict) else network  # dict: from a checkpoint
        network = config.to_dict()  # saved as a plain dict, so checkpoints load with weights_only=True
        self.save_hyperparameters()
        self.model = MGDSAM2(config)
        self.metrics = nn.ModuleDict()  # "{stage}/{split}" -> MetricCollection, built in setup()
        self.val_losses = nn.ModuleDict()  # "val/{split}" -> the mean loss per image, built in setup()
        self.needs_pretrained = True  # until `pretrained` is loaded, or a Lightning checkpoint's weights replace it

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        refuse_other_network(self, checkpoint)  # before Lightning loads it: one line, not a page of size mismatches
        self.skip_pretrained()

    def skip_pretrained(self) -> None:
        """The weights come from a Lightning checkpoint (``load_from_checkpoint``, or a ``--ckpt_path`` the CLI is
        about to restore, which Lightning does after ``setup``): ``pretrained`` is neither read nor loaded over them."""
        self.needs_pretrained = False

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        divergence.refuse_non_finite_checkpoint(self, checkpoint)  # a diverged run is never saved (divergence.py)
        if self._trainer is not None:  # what a resume must run in to go on as the run did (training/cli.py)
            checkpoint[PRECISION_KEY] = str(self.trainer.precision)

    @property
    def input_size(self) -> int:
        """Model input side g*V in pixels; the CLI links it to the DataModule."""
        return self.model.input_size

    @property
    def grid(self) -> int:
        """Local views per side; the CLI links it to the DataModule, which cuts the views."""
        return self.model.grid

    @property
    def keep_images(self) -> bool:
        """Whether predict needs each image's own pixels besides its views (a detail mode); the CLI links it to
        the DataModule."""
        return self.detail.mode != "off"

    def setup(self, stage: str) -> None:
        # Lightning advises sync_dist=True for every epoch-level value under DDP; ours are already synced
        warnings.filterwarnings(
            "ignore", message=r"It is recommended to use `self.log\('(val|test)/", category=PossibleUserWarning
        )
        trainer = self._trainer
        if self.hparams.pretrained and self.needs_pretrained:
            refuse_mismatched_start(self.model.preset, self.hparams.pretrained)
            report = load_pretrained(self.model, self.hparams.pretrained)
            self.needs_pretrained = False
            rank_zero_info(report.summary())
        datamodule = getattr(trainer, "datamodule", None) if trainer is not None else None
        if datamodule is None:
            return
        metric_stage = {"fit": "val", "validate": "val", "test": "test"}.get(stage)
        if metric_stage is not None:
            names = self.hparams.val_metrics if metric_stage == "val" else self.hparams.test_metrics
            for split in datamodule.split_names(metric_stage):
                key = f"{metric_stage}/{split}"
                if key not in self.metrics:
                    self.metrics[key] = build_metrics(names, hce_binarize=self.hparams.hce_binarize, prefix=f"{key}/")
                if metric_stage == "val" and key not in self.val_losses:
                    # a metric, not self.log(sync_dist=True): Lightning averages the batch sizes of the processes
                    # in integers, so shards of 8 and 7 images divided the summed loss by 14 (float64: the sum's
                    # order, which differs with the number of processes, stays far below float32's rounding)
                    self.val_losses[key] = MeanMetric(nan_strategy="disable").set_dtype(torch.float64)

    def on_train_start(self) -> None:
        start_next_epoch_afresh(self.trainer)  # resuming from an epoch's last batch (training/resume.py)
        follow_the_schedule(self.trainer)

    def forward(self, views: Views) -> MGDSAM2Output:
        return self.model(views)

    def loss(self, out: MGDSAM2Output, target: Views) -> dict[str, Tensor]:
        view_targets = self.model.arrange(target)
        return mgd_loss(out.logits, out.view_logits, target.full, view_targets, self.hparams.aux_weight)

    def training_step(self, batch: TrainBatch, batch_idx: int) -> Tensor:
        out = self(batch["input"])
        losses = self.loss(out, batch["target"])
        divergence.stop_on_non_finite_loss(self, losses["loss"])
        size = batch["input"].full.shape[0]
        self.log("train/loss", losses["loss"], prog_bar=True, batch_size=size)
        self.log_dict({"train/loss_final": losses["final"], "train/loss_aux": losses["aux"]}, batch_size=size)
        every = self.hparams.log_images_every_n_steps
        if every and self.global_step % every == 0:
            self.log_images("train", batch["input"].full, batch["target"].full, out.logits)
        return losses["loss"]

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        divergence.stop_on_non_finite_gradients(self)

    def on_validation_start(self) -> None:
        divergence.refuse_non_finite_model(self, "validate")

    def on_test_start(self) -> None:
        divergence.refuse_non_finite_model(self, "test")

    def evaluation_step(self, stage: str, batch: EvalBatch, batch_idx: int) -> dict[str, Any]:
        """Score the batch; returns the 8-bit maps scored ({"maps", "name", "path", "split", "errors"}), which
        callbacks receive as ``outputs`` (``ScoredMapWriter`` saves them)."""
        split = batch["split"][0]  # one split per dataloader
        if stage == "val":
            out = self(batch["input"])
            logits = out.logits
            loss = self.loss(out, batch["target"])["loss"].detach()  # the batch's mean over its images
            # once per image: with nan_strategy "disable" MeanMetric ignores a weight (torchmetrics 1.9)
            self.val_losses[f"val/{split}"].update(loss.expand(len(batch["gt"])))
            if batch_idx == 0:
                self.log_images(f"val/{split}", batch["input"].full, batch["target"].full, logits)
        else:
            logits = predict_logits(TorchBackend(self.model), batch["input"], tta=self.hparams.tta)
        maps = to_uint8_maps(logits, [tuple(gt.shape) for gt in batch["gt"]])
        self.metrics[f"{stage}/{split}"].update(image_pairs(maps, batch["gt"]))
        return {
            "maps": [m.cpu() for m in maps],
            "name": batch["name"],
            "path": batch["path"],
            "split": split,
            "errors": [],
        }

    def validation_step(self, batch: EvalBatch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self.evaluation_step("val", batch, batch_idx)

    def test_step(self, batch: EvalBatch, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        return self.evaluation_step("test", batch, batch_idx)

    def log_split_metrics(self, stage: str) -> None:
        """Compute, log and reset every split's metrics as ``{stage}/{split}/{metric}`` (`scores_by_split` reads them
        back), and each validation split's mean loss per image as ``val/{split}/loss``; the first validation split is
        also logged as ``val/{metric}``, what checkpoints monitor."""
        first = stage == "val"
        for key, metrics in self.metrics.items():
            if not key.startswith(f"{stage}/"):
                continue
            updated = any(metric.update_count for metric in metrics.values())
            scalars = scalar_results(metrics.compute(), metrics.prefix) if updated else {}
            metrics.reset()
            # compute() gathered every process's states: each process holds the dataset value, no second reduction
            self.log_dict({metrics.prefix + name: value for name, value in scalars.items()}, sync_dist=False)
            if key in self.val_losses and self.val_losses[key].update_count:
                self.log(f"{key}/loss", self.val_losses[key].compute().float(), sync_dist=False)
                self.val_losses[key].reset()
            if first:
                self.log_dict({f"{stage}/{name}": value for name, value in scalars.items()}, sync_dist=False)
                first = False

    def on_validation_epoch_end(self) -> None:
        self.log_split_metrics("val")

    def on_test_epoch_end(self) -> None:
        self.log_split_metrics("test")

    def predict_step(self, batch: PredictBatch, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        """8-bit maps at each image's original size, for the prediction writer; bad images pass through as errors."""
        return predict_batch(TorchBackend(self.model), batch, tta=self.hparams.tta, detail=self.detail)

    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        groups = self.model.parameter_groups()
        optimizer = torch.optim.AdamW(
            [
                {"params": groups["new"], "lr": hp.lr, "weight_decay": NEW_WEIGHT_DECAY, "name": "new"},
                {
                    "params": groups["pretrained"],
                    "lr": hp.lr * hp.pretrained_lr_scale,
                    "weight_decay": hp.weight_decay,
                    "name": "pretrained",
                },
            ]
        )
        max_epochs = max(1, self.trainer.max_epochs or 1)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda epoch: max(0.0, 1 - epoch / max_epochs) ** hp.poly_power
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "epoch", "name": "lr"}}

    def log_images(self, tag: str, image: Tensor, mask: Tensor, logits: Tensor, count: int = 4) -> None:
        """A TensorBoard grid: inputs (unnormalised), GT masks and predicted probabilities, one row each."""
        experiment = getattr(self.logger, "experiment", None)
        if experiment is None or not hasattr(experiment, "add_image"):
            return
        from torchvision.utils import make_grid

        mean = torch.tensor(IMAGENET_MEAN, device=image.device)[:, None, None]
        std = torch.tensor(IMAGENET_STD, device=image.device)[:, None, None]
        shown = (image[:count].float() * std + mean).clamp(0, 1)
        rows = [shown, mask[:count].float().expand_as(shown), torch.sigmoid(logits[:count].float()).expand_as(shown)]
        experiment.add_image(
            f"{tag}/input_gt_prediction", make_grid(torch.cat(rows), nrow=shown.shape[0]), self.global_step
        )
