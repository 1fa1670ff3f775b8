"""``mgd-sam2 fit|validate|test|predict -c CONFIG``: Lightning's CLI over MGDSAM2Module and SegmentationDataModule.

On top of LightningCLI, about run folders (``<save_dir>/<name>/version_N`` of the logger, the first of a list: the
folder Lightning's ModelCheckpoint writes into):

* ``fit --ckpt_path last`` resumes the newest training run *in its own folder*: its
  ``checkpoints/last.ckpt`` at the step it was written, logging on into the same TensorBoard run. With
  nothing to resume it is an error (Lightning would silently start over in a new folder). An older run's
  ``last.ckpt`` given by its path resumes that run in its folder too; another checkpoint file starts a new version.
* ``validate``/``test``/``predict`` of a checkpoint inside a run folder of a TensorBoard or CSV logger log into that
  run's ``<subcommand>/`` folder (with their config, ``config_<subcommand>.yaml``) instead of opening a new version.
  A resumed fit with a CSVLogger keeps the run's ``metrics.csv``, which Lightning's would delete.
* ``validate``/``test``/``predict --ckpt_path last`` or ``best`` are the newest training run's ``last.ckpt`` or its
  monitored checkpoint (Lightning's own keywords mean this process's trainer, which has none: it would score the
  untrained network). Without ``--ckpt_path``, ``validate``/``test``/``predict`` say that they use the network as
  the config builds it.
* ``fit`` checks the config's ``model.pretrained`` before Lightning starts (and saves ``config.yaml``), so a start
  that cannot load it leaves no run folder behind; a fit that fails before its first step removes the folder it
  began. A resumed fit keeps the run's ``config.yaml`` and saves its own as ``config_resumed_K.yaml``.

The newest run is the newest ``version_N`` that training made (its ``config.yaml`` or ``checkpoints``): the folders
of validate, test and predict runs are passed over. A config whose logger sets its own ``version`` (a number or a
name) has one run, that version's folder.

A ``--ckpt_path`` file is checked before anything loads it: missing, a folder, or truncated is a
one-line error.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.utilities import rank_zero_only

from mgd_sam2.commands.parser import UNKNOWN_KEY, closest_options
from mgd_sam2.data.datamodule import SegmentationDataModule
from mgd_sam2.errors import ConfigError, MissingFileError, UserError
from mgd_sam2.inference.writer import MaskWriter
from mgd_sam2.models.checkpoints import load_torch_file, read_weights_file, refuse_mismatched_start
from mgd_sam2.training.checkpoint_io import use_atomic_checkpoints
from mgd_sam2.training.final_checkpoint import FinalLastCheckpoint, model_checkpoints
from mgd_sam2.training.module import (
    PRECISION_KEY,
    MGDSAM2Module,
    network_changes,
    optimizer_changes,
    refuse_other_network,
    scores_by_split,
)
from mgd_sam2.training.slurm_requeue import SlurmRequeue, requeue_checkpoints
from mgd_sam2.utils.files import atomic_path

LIGHTNING_CKPT_KEYWORDS = ("hpc", "registry")  # ckpt_path values Lightning resolves itself
RUN_KEYWORDS = ("last", "best")  # ckpt_path values resolved here, to the newest training run's files
VERSION_FOLDER = re.compile(r"^version_(\d+)$")
VERSIONED_LOGGERS = ("TensorBoardLogger", "CSVLogger")  # loggers writing <save_dir>/<name>/version_N


# what each subcommand's --help says of it and of its --ckpt_path (Lightning's own texts describe a Python session's
# trainer, whose previous fit `best` and `last` would mean, and its first line of test's is cut mid-sentence)
SUBCOMMAND_HELP = {
    "fit": "Train the network of a YAML config (mgd-sam2 fit -c lightning_config.yaml); docs/training.md.",
    "validate": "Score the config's validation splits (data.val) with a checkpoint, a row per split.",
    "test": "Score the config's test splits (data.test) with a checkpoint at GT resolution, a row per split.",
    "predict": "Write masks of data.predict's images with a checkpoint, through a MaskWriter callback "
    "(mgd-sam2 predict --ckpt CKPT --input IMAGES --output MASKS is the same without a config).",
}
CKPT_PATH_HELP = {
    "fit": "last: resume the newest training run of this config from its checkpoints/last.ckpt, in its own folder; "
    "or a checkpoint file to resume (Lightning's hpc and registry work as in Lightning). Without it a new run starts "
    "(model.pretrained: its starting weights).",
    "evaluate": "best or last: the config's newest training run's (or the run its logger's version names) "
    "checkpoints/best.ckpt (the monitored ModelCheckpoint's) or last.ckpt; or a checkpoint file (Lightning's hpc "
    "and registry work as in Lightning). Without it, the network as the config builds it (untrained parts and all).",
}


class MGDSAM2CLI(LightningCLI):
    """LightningCLI with the network's input size (g * V) and grid fed to the DataModule, which cuts the views,
    so the two always agree (and whether predict keeps each image's pixels, which a detail mode reads);
    ``--ckpt_path`` resolved to run folders (module docstring)."""

    checkpoint_step: int | None = None  # the optimizer step of the --ckpt_path file, once the checks read it
    set_aside: list[tuple[Path, Path]] = []  # (kept as, name) of the run folder's files this run renamed to keep

    def _add_subcommands(self, parser: LightningArgumentParser, **kwargs: Any) -> None:
        """Lightning's subcommands, with this project's descriptions and --ckpt_path help."""
        super()._add_subcommands(parser, **kwargs)
        for name, subparser in self._subcommand_parsers.items():
            subparser.description = SUBCOMMAND_HELP[name]
            action = subparser._option_string_actions.get("--ckpt_path")
            if action is not None:
                action.help = CKPT_PATH_HELP["fit" if name == "fit" else "evaluate"]
            for group in subparser._action_groups:  # the group of the Trainer method's own arguments
                if action in group._group_actions:
                    group.title = f"the checkpoint and other arguments of {name}"

    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments("model.input_size", "data.input_size", apply_on="instantiate")
        parser.link_arguments("model.grid", "data.grid", apply_on="instantiate")
        parser.link_arguments("model.keep_images", "data.keep_images", apply_on="instantiate")

    def parse_arguments(self, parser, args) -> None:
        parser.given_args = list(args or [])  # for its errors, which name the config file of an unknown key
        super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        seed = (self.config[subcommand] if subcommand else self.config).get("seed_everything")  # as given (true's
        self.given_seed = seed if isinstance(seed, int) and not isinstance(seed, bool) else None  # number comes later)
        refuse_optimizer_flags(self.config[subcommand] if subcommand else self.config)
        if subcommand:  # before LightningCLI reads the checkpoint's hyperparameters
            self.ckpt_given = self.config[subcommand].get("ckpt_path")
            resolve_checkpoint(subcommand, self.config[subcommand])
            self.model_flags = {key: self.config[subcommand][key] for key in model_flags(args or [])}

    def before_instantiate_classes(self) -> None:
        """LightningCLI lays a checkpoint's hyperparameters over the whole command line; the ``--model.*`` flags
        given explicitly win again (``test --ckpt_path best.ckpt --model.tta true`` tests with TTA)."""
        subcommand = self.config.get("subcommand")
        for key, value in getattr(self, "model_flags", {}).items():
            self.config[subcommand][key] = value
        config = self.config[subcommand] if subcommand else self.config
        if config.data.seed is None:  # the data order and augmentations follow --seed_everything (a try-out's
            # seeds shared one), or in a resume the run's own (whatever seed_everything is given now)
            config.data.seed = resumed_data_seed(config.get("ckpt_path"))
            if config.data.seed is None:
                config.data.seed = getattr(self, "given_seed", None) or 0

    def refuse_unrunnable(self) -> None:
        """Every subcommand's checks before it runs: another network's checkpoint, weights cast from fp32, bf16 on a CPU
        without it."""
        ckpt = self.config[self.subcommand].get("ckpt_path")
        checkpoint = load_torch_file(Path(ckpt), mmap=True) if ckpt and Path(ckpt).is_file() else None
        self.checkpoint_step = checkpoint.get("global_step") if checkpoint else None  # for "nothing was trained"
        if checkpoint is not None:
            self.check_ckpt_network(ckpt, checkpoint)
        if ckpt:  # a file, or a keyword Lightning resolves ("hpc", "registry"): its weights replace model.pretrained
            self.model.skip_pretrained()
        refuse_cast_weights(self.trainer)
        refuse_cpu_bf16(self.trainer, self.config[self.subcommand].trainer.precision)

    def check_ckpt_network(self, ckpt: str, checkpoint: dict) -> None:
        """Before the subcommand runs (and saves its config into the run): a ``--ckpt_path`` file whose network is not
        the one built (a ``--model.network`` flag) is a one-line error, as the module's own load check would give.
        Where only settings that keep the weights' shapes differ (the view size, say), a fit resuming it is refused
        too (it would go on training another network than the run's, in its folder), and validate, test and predict
        say so (evaluating at another view size is a question one may ask)."""
        refuse_other_network(self.model, checkpoint)
        changed = network_changes(self.model, checkpoint, training=self.subcommand == "fit")
        if changed and self.subcommand == "fit":
            raise ConfigError(
                f"--ckpt_path {ckpt} was trained with other network settings than this fit builds ({changed}): a "
                "resumed run goes on training its own network; drop the --model.network flags, or start a new run"
            )
        if self.subcommand == "fit":
            configured = self.config[self.subcommand].trainer.precision
            refuse_other_precision(ckpt, checkpoint.get(PRECISION_KEY), self.trainer, configured)
        if self.subcommand == "fit" and (unused := optimizer_changes(self.model, checkpoint)):
            raise ConfigError(
                f"--ckpt_path {ckpt} was trained with other optimizer settings than this fit is given ({unused}): a "
                "resumed run goes on with its optimizer's state, whose learning rates and weight decay are the "
                "checkpoint's, so these would go unused; drop those --model flags, or start a new run"
            )
        if changed:
            print(f"note: {self.subcommand} runs the weights of {ckpt} in a network built with other settings than "
                  f"they were trained with ({changed})", file=sys.stderr)  # fmt: skip

    def before_fit(self) -> None:
        global _fit_trainer
        _fit_trainer = self.trainer
        self.refuse_unrunnable()
        refuse_cpu_sync_batchnorm(self.trainer)
        use_atomic_checkpoints(self.trainer)
        ckpt = self.config_init[self.subcommand].get("ckpt_path")
        if ckpt is None or getattr(self, "ckpt_given", None) not in (*RUN_KEYWORDS, *LIGHTNING_CKPT_KEYWORDS):
            refuse_reused_run(self.trainer, ckpt)  # a file given, not the run's own last or best, nor a requeue's
        if ckpt is None:
            refuse_stale_hpc(self.config[self.subcommand])
        if ckpt:  # a resume that passed the checks above
            self.set_aside = keep_csv_metrics(self.trainer)
        if self.trainer.fast_dev_run:  # Lightning's promise: no checkpoints; its ModelCheckpoint.on_train_end
            for callback in self.trainer.checkpoint_callbacks:  # (2.6) still writes save_last's last.ckpt
                callback.save_last = False
        trunk_frozen = not self.model.hparams.network.get("train_trunk")
        if self.trainer.is_global_zero and ckpt is None and self.model.hparams.pretrained is None and trunk_frozen:
            print("note: model.pretrained is null and the Hiera trunk is frozen (the paper's setting), so the trunk "
                  "keeps its random weights: add --model.network.train_trunk true (the demo's setting) to train it, "
                  "or give a SAM2.1 checkpoint as --model.pretrained")  # fmt: skip
        if self.trainer.is_global_zero and not any(callback.monitor for callback in model_checkpoints(self.trainer)):
            print("note: no ModelCheckpoint of this fit monitors a score, so it writes no best checkpoint "
                  "(--ckpt_path best will find none); a config's trainer.callbacks list replaces the recipe's whole "
                  "list")  # fmt: skip
        for added in (FinalLastCheckpoint, SlurmRequeue):  # the final step's weights in last.ckpt; SLURM's requeue
            if not any(isinstance(callback, added) for callback in self.trainer.callbacks):
                self.trainer.callbacks.append(added())

    def _run_subcommand(self, subcommand: str) -> None:
        """A run that fails before its first step (fit) or batch (validate, test, predict) leaves its folder as it
        found it (`remove_unstarted_run`): a fresh fit (a batch larger than the split, a crash as the processes
        start) leaves no run folder that would stand as the newest run with nothing in it; a resume (changed data)
        or an evaluation (a split not found) puts back the files it set aside, so the earlier run's keep their
        names, and each logger's hparams.yaml its content."""
        before, made = run_folder_entries(self.trainer), unmade_parents(self.trainer)
        folders = {Path(logger.log_dir) for logger in self.trainer.loggers if getattr(logger, "log_dir", None)}
        earlier = {
            path: path.read_bytes() for path in (folder / "hparams.yaml" for folder in folders) if path.is_file()
        }
        try:
            super()._run_subcommand(subcommand)
        except BaseException:
            if not self.started(subcommand):
                remove_unstarted_run(self.trainer, before, self.set_aside, subcommand, earlier, made)
            raise

    def started(self, subcommand: str) -> bool:
        """Whether the run trained a step (fit: past its checkpoint's) or began a batch. Where its loops ran in
        processes of their own (ddp_spawn), this one cannot tell: the run is taken as started, and its folder left
        as it is (the logs of steps that ran are never removed)."""
        from lightning.pytorch.strategies.launchers import _MultiProcessingLauncher

        trainer = self.trainer
        if isinstance(trainer.strategy.launcher, _MultiProcessingLauncher):
            return True
        if subcommand == "fit":
            return trainer.global_step > (self.checkpoint_step or 0)
        return getattr(trainer, f"{subcommand}_loop").batch_progress.total.ready > 0  # validate_loop, test_loop, ...

    def before_validate(self) -> None:
        self.refuse_unrunnable()
        self.set_aside = keep_earlier_evaluation(self.trainer, "validate")

    def before_test(self) -> None:
        self.refuse_unrunnable()
        self.set_aside = keep_earlier_evaluation(self.trainer, "test")

    def before_predict(self) -> None:
        """Lightning's predict keeps the maps only through a prediction writer: without one, refuse to run; a
        ``--model.detail_zoom`` flag with a mode other than tiles would go unused: refused as predict's
        ``--detail-zoom`` is (a config's key is not: checkpoints and configs carry the default)."""
        from mgd_sam2.inference.detail import chosen_detail

        self.refuse_unrunnable()
        if "model.detail_zoom" in getattr(self, "model_flags", {}):
            detail = self.model.detail
            chosen_detail(detail.mode, detail.zoom, mode_name="--model.detail", zoom_name="--model.detail_zoom")
        if not any(isinstance(callback, BasePredictionWriter) for callback in self.trainer.callbacks):
            raise ConfigError(
                "predict -c writes its maps through a MaskWriter callback, and this config has none: add "
                "--trainer.callbacks+=mgd_sam2.inference.writer.MaskWriter --trainer.callbacks.output MASKS, or "
                "predict with mgd-sam2 predict --ckpt CKPT --input IMAGES --output MASKS"
            )
        self.set_aside = keep_earlier_evaluation(self.trainer, "predict")


UNSTARTED_RUN_FILES = ("hparams.yaml", "metrics.csv")  # with its config*.yaml and TensorBoard's event files


def run_logger(trainer: Any) -> Any:
    """The trainer's first logger where it is a TensorBoard or CSV logger, whose ``log_dir`` is the run folder
    (Lightning's ModelCheckpoint writes there); None for another logger or none."""
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    logger = trainer.loggers[0] if trainer.loggers else None
    return logger if isinstance(logger, (TensorBoardLogger, CSVLogger)) else None


def run_folder_entries(trainer: Any) -> set[str] | None:
    """The names in the trainer's run folder before its fit starts; None where there is no such folder yet (reading
    ``log_dir`` fixes the version Lightning would pick and makes no folder)."""
    logger = run_logger(trainer)
    folder = Path(logger.log_dir) if logger is not None else None
    return {path.name for path in folder.iterdir()} if folder is not None and folder.is_dir() else None


def unmade_parents(trainer: Any) -> list[Path]:
    """The parents of the trainer's run folder that do not exist yet, deepest first (the logger's ``name`` folder,
    ``runs/`` itself in a fresh clone): the run makes them."""
    logger = run_logger(trainer)
    if logger is None:
        return []
    return [parent for parent in Path(logger.log_dir).parents if not parent.exists()]


def refuse_reused_run(trainer: Any, ckpt: str | None = None) -> None:
    """A fit into a run folder that training made already (a version the config names, used before), fresh or
    resuming another run's ``ckpt``, would replace that run's config and mix its curves and checkpoints with the new
    run's: a one-line error instead, on every process (nothing is written before they all pass here, and a rank left
    alone would wait for the others). Resuming from a checkpoint in that folder, or in a checkpoint callback's own
    ``dirpath``, is that run's own resume."""
    logger = run_logger(trainer)
    if logger is None or not is_training_run(folder := Path(logger.log_dir)):
        return
    folders = [folder, folder / "checkpoints", *(Path(callback.dirpath) for callback in trainer.checkpoint_callbacks
                                                 if getattr(callback, "dirpath", None))]  # fmt: skip
    # as given and resolved: checkpoints/ may link to a scratch disk, and so may a checkpoint file in it
    own = {path for folder in folders for path in (folder.absolute(), folder.resolve())}
    if ckpt and own & {*Path(ckpt).absolute().parents, *Path(ckpt).resolve().parents}:
        return
    resumable = newest_version(folder / "checkpoints" / "last.ckpt").is_file()
    resume = "resume it with --ckpt_path last, or " if resumable else ""
    other = f" and --ckpt_path {ckpt} is not one of its checkpoints" if ckpt else ""
    raise ConfigError(
        f"{folder} holds a training run already{other}: {resume}give this run another version "
        "(--trainer.logger.init_args.version), or move that folder"
    )


_fit_trainer: Any = None  # the fit run_lightning_cli runs, once it began: what its interruption leaves


def fit_wrote_last() -> bool | None:
    """Whether the fit that run_lightning_cli runs has a ``last.ckpt`` to resume from (one of its ModelCheckpoints
    wrote or restored one that is there); None where no fit began."""
    if _fit_trainer is None:
        return None
    if any(isinstance(callback, SlurmRequeue) and callback.saved for callback in _fit_trainer.callbacks):
        return True
    return any(Path(callback.last_model_path).is_file() for callback in model_checkpoints(_fit_trainer)
               if callback.save_last and callback.last_model_path)  # fmt: skip


def refuse_optimizer_flags(config: Any) -> None:
    """LightningCLI's ``--optimizer`` and ``--lr_scheduler`` replace the module's optimizer and schedule (one LR
    group, no poly decay) with a warning only, while the parameter table and hyperparameters still show the
    recipe's: a one-line error instead (a null one, as every run's saved config.yaml holds, is no change)."""
    given = [key for key in ("optimizer", "lr_scheduler") if config.get(key) is not None]
    if given:
        raise ConfigError(
            f"--{given[0]} would replace the recipe's optimizer, AdamW in two LR groups with a poly decay: set it "
            "with --model.lr, --model.pretrained_lr_scale, --model.weight_decay and --model.poly_power"
        )


def resumed_data_seed(ckpt: str | None) -> int | None:
    """The data seed a checkpoint's run trained with (its DataModule's ``seed``, 0 where an earlier version stored
    none), so that a resume goes on with the run's data order; None for no checkpoint file, or one without the
    DataModule's hyperparameters."""
    if not ckpt or not Path(ckpt).is_file():
        return None
    try:
        data = load_torch_file(Path(ckpt), mmap=True).get("datamodule_hyper_parameters")
    except UserError:
        return None  # check_checkpoint_file names the problem
    return None if data is None else data.get("seed") or 0


def refuse_stale_hpc(config: Any) -> None:
    """A fit without ``--ckpt_path`` on SLURM. In a job that was not requeued (``SLURM_RESTART_COUNT`` unset or 0),
    where the root folder holds a requeue checkpoint (``hpc_ckpt_N.ckpt``, Lightning's plugin's): Lightning would
    resume it silently, and it can only be an earlier job's, of any run sharing the folder. In a requeued job where
    the root folder holds none (Lightning then resumes its own) but the config's run has a checkpoint: a new run
    would start, as `SlurmRequeue` saves in the run's folder, where Lightning does not look. A one-line error
    instead, each time."""
    from lightning.fabric.plugins.environments import SLURMEnvironment

    if not SLURMEnvironment.detect():
        return
    hpc = hpc_checkpoint(config)
    if (restarts := int(os.environ.get("SLURM_RESTART_COUNT") or 0)) > 0:
        try:
            found = None if hpc is not None else last_checkpoint(config)[0]
        except ConfigError:  # no run saved yet: a new one starts
            return
        if found is not None:
            raise ConfigError(
                f"this SLURM job was requeued ({restarts}x) and given no --ckpt_path, so it would start a new run: "
                f"add --ckpt_path last to continue from {found} (examples/slurm.sbatch does)"
            )
        return
    if hpc is not None:
        raise ConfigError(
            f"{hpc} is an earlier SLURM job's requeue checkpoint, which Lightning would resume into this new job "
            "without --ckpt_path: move it out of the folder to start afresh, or resume its run with --ckpt_path last"
        )


def remove_unstarted_run(
    trainer: Any,
    before: set[str] | None,
    set_aside: list[tuple[Path, Path]] = (),
    subcommand: str = "fit",
    earlier: dict[Path, bytes] | None = None,
    made: Sequence[Path] = (),
) -> None:
    """Leave the run folders of a run that ended before its first step (fit) or batch as it found them: put back the
    files it ``set_aside`` (renamed to keep them: an earlier test's ``config_test.yaml``, a resumed run's
    ``metrics.csv``, in any logger's folder) and the ``earlier`` content of files it rewrote (the loggers'
    ``hparams.yaml``); remove what it wrote into its run folder (its config, the loggers' first files), and the
    folder where it made it (``before`` None; else the names there before it) with the parents it ``made`` where
    they are empty then, but nothing where anything else is new there, a checkpoint folder included. Rank 0 alone
    (the folder is its logger's: no collective call, which ranks that already failed would never join)."""
    if not trainer.is_global_zero:
        return
    restored = []
    try:
        for kept_as, name in set_aside:  # the failed run's own file of that name first
            name.unlink(missing_ok=True)
            kept_as.rename(name)
            restored.append(name)
        for path, content in (earlier or {}).items():
            if not path.is_file() or path.read_bytes() != content:
                with atomic_path(path) as temporary:
                    temporary.write_bytes(content)
    except OSError:  # never in the way of the error that ended the run
        pass
    logger = run_logger(trainer)
    folder = Path(logger.log_dir) if logger is not None else None
    added = [path for path in folder.iterdir() if before is None or path.name not in before] if folder and (
        folder.is_dir()) else []  # fmt: skip
    written = [path for path in added if path.name in UNSTARTED_RUN_FILES
               or path.name.startswith("events.out.tfevents.")
               or (path.name.startswith("config") and path.suffix == ".yaml")]  # fmt: skip
    removed, gone, parents = [], False, []
    if folder is not None and folder.is_dir() and len(written) == len(added) and (written or before is None):
        try:
            for path in written:
                path.unlink()
                removed.append(path.name)
            if before is None:
                folder.rmdir()
                gone = True
            for parent in made:  # deepest first; one that holds anything ends the climb
                parent.rmdir()
                parents.append(parent)
        except OSError:
            pass
    ended = f"the {subcommand} ended before its first {'step' if subcommand == 'fit' else 'batch'}"
    if gone:
        print(f"removed {', '.join(map(str, [folder, *parents]))}: {ended}")  # a note; the error is stderr's line
        return
    said = [f"removed {', '.join(sorted(removed))} from {folder}" if removed else "",
            f"put back {', '.join(map(str, restored))}" if restored else ""]  # fmt: skip
    if any(said):
        print(f"{'; '.join(filter(None, said))}: {ended}")


def refuse_cpu_sync_batchnorm(trainer: Any) -> None:
    """A one-line error, before the processes start, for ``sync_batchnorm: true`` (the recipe's) in a fit of several
    CPU processes: torch's DistributedDataParallel refuses SyncBatchNorm on the CPU, in a traceback per process."""
    from lightning.pytorch.accelerators import CPUAccelerator

    if getattr(trainer.strategy, "_layer_sync", None) is not None and isinstance(trainer.accelerator, CPUAccelerator):
        raise ConfigError(
            "trainer.sync_batchnorm: true needs GPUs (torch runs SyncBatchNorm on CUDA devices only), and this fit "
            "runs on the CPU: add --trainer.sync_batchnorm false (each process then normalises its own batches)"
        )


CAST_WEIGHTS = {"bf16-true": "bf16", "16-true": "fp16", "64-true": "fp64"}  # Lightning's that cast the weights


def refuse_cast_weights(trainer: Any) -> None:
    """``bf16-true``, ``16-true`` or ``64-true``: a one-line error, not a traceback from the mask decoder (sam2's
    positional encoding builds a float32 grid and multiplies it by its matrix, which Lightning's cast made another
    type)."""
    if str(trainer.precision) in CAST_WEIGHTS:
        raise ConfigError(
            f"trainer.precision: {trainer.precision} casts every weight to {CAST_WEIGHTS[str(trainer.precision)]}, "
            "which sam2's mask decoder does not run in: use --trainer.precision bf16-mixed (products in bf16, weights "
            "in fp32) or 32-true"
        )


def refuse_cpu_bf16(trainer: Any, configured: Any = None) -> None:
    """The recipe's ``precision: bf16-mixed`` on a CPU without native bf16 kernels, where bf16 runs slower than fp32
    (oneDNN emulates it, or torch's reference kernels run it): a one-line error with the flag that fixes it, before
    any run folder is made, as predict refuses it. ``configured``: the precision the config gave, named where
    Lightning runs it as another (16-mixed becomes bf16-mixed on a CPU)."""
    from lightning.pytorch.accelerators import CPUAccelerator

    from mgd_sam2.inference.devices import refuse_emulated_bf16

    if "bf16" in str(trainer.precision) and isinstance(trainer.accelerator, CPUAccelerator):
        given = str(configured) if configured is not None else trainer.precision
        runs_as = f" (which Lightning runs as {trainer.precision} here)" if given != trainer.precision else ""
        refuse_emulated_bf16(f"trainer.precision: {given}{runs_as}", "add --trainer.precision 32-true")
        if runs_as and rank_zero_only.rank == 0:  # it runs: say in what
            print(f"note: trainer.precision: {given} runs as {trainer.precision} on the CPU (Lightning's choice: "
                  "fp16 autocast is for GPUs)")  # fmt: skip


def refuse_other_precision(ckpt: str, recorded: str | None, trainer: Any, configured: Any = None) -> None:
    """A resume in another ``trainer.precision`` than its checkpoint ``recorded`` (where it did) computes other numbers
    than the run would have: a one-line error with the flag, or, where this machine cannot run the run's precision
    (16-mixed, which Lightning runs as bf16-mixed on a CPU; bf16 on a CPU without native kernels), where to go on."""
    from lightning.pytorch.accelerators import CPUAccelerator

    from mgd_sam2.inference.devices import cpu_has_native_bf16

    precision = str(trainer.precision)
    if recorded is None or recorded == precision:
        return
    if isinstance(trainer.accelerator, CPUAccelerator):
        cannot = None
        if recorded == "16-mixed":
            cannot = "Lightning runs it as bf16-mixed on a CPU"
        elif "bf16" in recorded and not cpu_has_native_bf16():
            cannot = "this CPU has no native bf16 kernels"
        if cannot:
            raise ConfigError(
                f"--ckpt_path {ckpt} was trained in {recorded}, which this machine cannot go on in ({cannot}): resume "
                "it on a GPU, or start a new run"
            )
    given = f" (given as {configured})" if configured is not None and str(configured) != precision else ""
    raise ConfigError(
        f"--ckpt_path {ckpt} was trained in {recorded} and this fit would go on in {precision}{given}, which computes "
        f"other numbers: add --trainer.precision {recorded} (the run's), or start a new run"
    )


def model_flags(args: list[str]) -> list[str]:
    """The ``model.*`` keys set by explicit ``--model.KEY VALUE`` or ``--model.KEY=VALUE`` arguments."""
    return [arg[2:].split("=", 1)[0] for arg in args if arg.startswith("--model.")]


def root_folder(config: Any) -> Path:
    """The config's ``trainer.default_root_dir`` (the working folder where it is unset), as Lightning resolves it."""
    return Path(config.trainer.default_root_dir or ".")


def primary_logger(config: Any) -> Any:
    """The configured logger whose run folder Lightning's ModelCheckpoint writes into: the logger, or the first of
    a list (an empty list is no logger, as ``False``)."""
    logger = config.trainer.logger
    if isinstance(logger, (list, tuple)):
        return logger[0] if logger else False
    return logger


def logger_folder(config: Any) -> Path | None:
    """``<save_dir>/<name>`` of the configured logger (the first of a list: the folder of its version_N runs;
    ``save_dir`` defaults to the root folder, as in Lightning), or None without one."""
    logger = primary_logger(config)
    if logger is None or logger is True:  # Lightning's default TensorBoardLogger
        return root_folder(config) / "lightning_logs"
    init = getattr(logger, "init_args", None)
    if init is None:
        return None
    save_dir = getattr(init, "save_dir", None)
    return (Path(save_dir) if save_dir is not None else root_folder(config)) / (getattr(init, "name", None) or "")


def hpc_checkpoint(config: Any, written_to: Path | None = None) -> Path | None:
    """The newest SLURM requeue checkpoint (``hpc_ckpt_<N>.ckpt``) of the run whose checkpoints are in ``written_to``:
    `SlurmRequeue`'s, in that folder, or one that Lightning's own plugin saved in the default root folder, which
    runs sharing it take turns numbering (`written_into` tells the run's); without ``written_to``, the newest in the
    root folder, whatever its run. None if there is none."""
    if written_to is not None and (own := requeue_checkpoints(written_to)):
        return own[0]
    candidates = requeue_checkpoints(root_folder(config))
    return next((path for path in candidates if written_to is None or written_into(path, written_to)), None)


def is_training_run(folder: Path) -> bool:
    """Whether training made ``folder`` (its ``config.yaml`` or ``checkpoints``), not validate, test or predict."""
    return (folder / "config.yaml").is_file() or (folder / "checkpoints").is_dir()


def training_runs(folder: Path) -> list[tuple[int, Path]]:
    """[(N, folder)] of the ``version_N`` folders under ``folder`` that training made, oldest first."""
    return sorted(
        (int(match.group(1)), child)
        for child in folder.glob("version_*")
        if (match := VERSION_FOLDER.match(child.name)) and is_training_run(child)
    )


def version_folder(version: int | str) -> str:
    """The folder name Lightning's TensorBoard and CSV loggers give a run's version: ``version_N``, or the name."""
    return f"version_{version}" if isinstance(version, int) else version


def versioned_logger(logger: Any) -> bool:
    """Whether a config's logger (its class_path and init_args) writes ``<save_dir>/<name>/<version>`` runs."""
    return str(getattr(logger, "class_path", "")).endswith(VERSIONED_LOGGERS)


def configured_version(config: Any) -> int | str | None:
    """The ``version`` the config gives its TensorBoard or CSV logger (the first of a list), whose folder is then its
    one run; None where it sets none, or for another logger (whose ``version`` means something else: W&B's run id)."""
    logger = primary_logger(config)
    return getattr(logger.init_args, "version", None) if versioned_logger(logger) else None


def configured_runs(config: Any) -> tuple[Path, list[tuple[int | str, Path]]]:
    """(where the config's runs are looked for, its training runs oldest first as [(version, folder)]): the run of
    the logger's own ``version`` where the config sets one (a number or a name), else every ``version_N`` that
    training made in the logger's folder."""
    folder = logger_folder(config)
    version = configured_version(config)
    if version is None:
        return folder, training_runs(folder)
    run = folder / version_folder(version)
    return run, [(version, run)] if is_training_run(run) else []


def newest_version(path: Path) -> Path:
    """The newest written of ``path`` and the versions Lightning's ModelCheckpoint gives its name where the file is
    there but not its own (``best-v1.ckpt``: a resumed run re-validating an epoch whose best.ckpt the interrupted
    run wrote, or a second run in a shared ``dirpath``; the shipped configs turn the versions off); ``path`` itself
    where none is there."""
    found = [candidate for candidate in (path, *path.parent.glob(f"{path.stem}-v*{path.suffix}"))
             if candidate.is_file() and re.fullmatch(rf"{re.escape(path.stem)}(-v\d+)?", candidate.stem)]  # fmt: skip
    return max(found, key=lambda candidate: candidate.stat().st_mtime_ns) if found else path


def newest_run_file(runs: list[tuple[int | str, Path]], name: str, keyword: str, written: str) -> Path:
    """``checkpoints/<name>`` (or its newest version, `newest_version`) of the newest of ``runs``, or a ConfigError
    naming an older run's file to give."""
    newest = runs[-1][1]
    path = newest_version(newest / "checkpoints" / name)
    if not path.is_file():
        older = [
            str(child / "checkpoints" / name) for _, child in runs[:-1] if (child / "checkpoints" / name).is_file()
        ]
        hint = f"; to take an older run's, give its file, e.g. --ckpt_path {older[-1]}" if older else ""
        raise ConfigError(
            f"--ckpt_path {keyword}: the config's latest run, {newest}, has no checkpoints/{name} yet ({written}){hint}"
        )
    return path


def checkpoint_callbacks(config: Any) -> list[Any]:
    """The ``init_args`` of the config's ModelCheckpoint callbacks (None for one without)."""
    return [
        getattr(callback, "init_args", None)
        for callback in getattr(config.trainer, "callbacks", None) or []
        if str(getattr(callback, "class_path", "")).endswith("ModelCheckpoint")
    ]


def shared_checkpoint_folder(config: Any, dirpath: str | None) -> Path | None:
    """The one folder a ModelCheckpoint writes into for every run: its own ``dirpath``, or without a logger
    Lightning's ``<default_root_dir>/checkpoints``; None where each run keeps its checkpoints in its own folder."""
    if dirpath:
        return Path(dirpath)
    return root_folder(config) / "checkpoints" if logger_folder(config) is None else None


def best_checkpoint(config: Any) -> tuple[Path, int | str | None]:
    """(the file of the config's monitored ModelCheckpoint in its newest training run, or in the callback's own
    ``dirpath``; that run's version, None for a ``dirpath``), or a ConfigError saying why there is none."""
    monitored = [args for args in checkpoint_callbacks(config) if getattr(args, "monitor", None)]
    names = [getattr(args, "filename", None) for args in monitored]
    if len(names) != 1 or not names[0] or "{" in names[0]:
        raise ConfigError(
            "--ckpt_path best needs one ModelCheckpoint with a monitor and a fixed filename in the config's "
            "trainer.callbacks (as lightning_config.yaml's, filename: best); give the checkpoint file instead"
        )
    top_k = getattr(monitored[0], "save_top_k", 1)
    if top_k not in (None, 1):
        raise ConfigError(
            f"--ckpt_path best needs the monitored ModelCheckpoint to keep one file (save_top_k: 1); with save_top_k: "
            f"{top_k} its files are the top {top_k}, newest not best: give the checkpoint file"
        )
    name = f"{names[0]}.ckpt"
    if shared := shared_checkpoint_folder(config, getattr(monitored[0], "dirpath", None)):
        path = newest_version(shared / name)
        if not path.is_file():
            raise ConfigError(f"--ckpt_path best: no {path}; train first, or give the checkpoint file")
        return path, None
    folder, runs = configured_runs(config)
    if not runs:
        raise ConfigError(f"--ckpt_path best: no training run in {folder}; train first, or give the checkpoint file")
    return newest_run_file(runs, name, "best", "written at its first validation"), runs[-1][0]


def last_checkpoint(config: Any, subcommand: str = "fit") -> tuple[Path, int | str | None]:
    """(the newest checkpoint of this config's newest run, that run's version; or of the ``dirpath`` of a
    ModelCheckpoint that saves last, None), or a ConfigError saying there is none (for ``fit``: nothing to resume).
    The newest is its last.ckpt, or its SLURM requeue checkpoint (`hpc_checkpoint`) when that is newer."""
    what = ("nothing to resume", "start the run without --ckpt_path") if subcommand == "fit" else (
        "no checkpoint", "train first, or give the checkpoint file")  # fmt: skip
    dirpaths = [args.dirpath for args in checkpoint_callbacks(config)
                if getattr(args, "save_last", None) and getattr(args, "dirpath", None)]  # fmt: skip
    shared = shared_checkpoint_folder(config, dirpaths[0] if dirpaths else None)
    if shared:
        hpc = hpc_checkpoint(config, shared)
        path = newest_version(shared / "last.ckpt")
        found = [candidate for candidate in (path, hpc) if candidate is not None and candidate.is_file()]
        if not found:
            raise ConfigError(f"--ckpt_path last: {what[0]}, no {path}; {what[1]}")
        return max(found, key=lambda candidate: candidate.stat().st_mtime_ns), None
    folder, versions = configured_runs(config)
    if not versions:
        raise ConfigError(
            f"--ckpt_path last: {what[0]}, no training run in {folder}; {what[1]} (a checkpoint callback with "
            "save_last writes last.ckpt as it trains)"
        )
    version, newest = versions[-1]
    path = newest_version(newest / "checkpoints" / "last.ckpt")
    hpc = hpc_checkpoint(config, newest / "checkpoints")  # its own: never another run's, which may be newer
    if hpc is not None and (not path.is_file() or hpc.stat().st_mtime_ns > path.stat().st_mtime_ns):
        return hpc, version  # written by the newest run when SLURM stopped it
    return newest_run_file(versions, "last.ckpt", "last", "save_last writes it at its callback's interval"), version


def written_into(checkpoint: Path, folder: Path) -> str | None:
    """The ``dirpath`` of a ModelCheckpoint of the run that saved ``checkpoint`` that is ``folder``, as that run
    spelt it (None where none wrote there): a SLURM requeue checkpoint, which lies outside every run folder, tells
    its run this way."""
    try:
        states = load_torch_file(checkpoint, mmap=True).get("callbacks", {})
    except (UserError, OSError):
        return None
    dirpaths = [state.get("dirpath") for state in states.values() if isinstance(state, dict)]
    return next((dirpath for dirpath in dirpaths if dirpath and Path(dirpath).resolve() == folder.resolve()), None)


def check_checkpoint_file(path: Path) -> None:
    """A one-line error unless ``path`` is a complete PyTorch checkpoint file of plain tensors and values: checked
    with its tensors mapped, not read, so that a file of other pickled objects gets predict's one line instead of
    Lightning's traceback (which advises turning the safety off)."""
    if not path.exists():
        raise MissingFileError(
            f"--ckpt_path {path}: no such file (runs keep theirs in runs/<name>/version_N/checkpoints)"
        )
    if path.is_dir():
        inside = sorted(child.name for child in path.glob("*.ckpt"))
        held = f" (it holds {', '.join(inside[:5])})" if inside else ""
        raise ConfigError(f"--ckpt_path {path} is a folder; give a checkpoint file in it{held}")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive whose index sits at the end
        raise ConfigError(f"--ckpt_path {path} is not a complete PyTorch checkpoint (truncated, or another file)")
    load_torch_file(path, mmap=True)


def log_into_run(ckpt: Path, logger: Any, subcommand: str) -> None:
    """Point a TensorBoard or CSV logger's ``save_dir``/``name``/``version`` at the ``subcommand`` folder of the run
    of ``ckpt``, ``<save_dir>/<name>/<version>/checkpoints/<file>`` (a ``version_N`` folder, or the config's own
    ``version``), whatever the config names its runs: its curves (a validation at step 0) stay out of the training's,
    and a CSVLogger's start deletes no training ``metrics.csv``; a fit (resuming the run's ``last.ckpt``) at the run
    itself. Nothing for another logger (whose arguments mean other things) or a checkpoint outside a run folder."""
    if not versioned_logger(logger):
        return
    ckpt = Path(ckpt).absolute()  # checkpoints/best.ckpt given from inside the run folder names it too
    run, init = ckpt.parent.parent, logger.init_args
    configured = init.version is not None and run.name == version_folder(init.version)
    if ckpt.parent.name != "checkpoints" or not (VERSION_FOLDER.match(run.name) or configured):
        return
    folder = str(run)
    if subcommand == "fit" and (dirpath := written_into(ckpt, ckpt.parent)):
        # as the run's ModelCheckpoint spelt its folder (./runs stays ./runs): Lightning restores the callback's state
        # only where the two strings are equal, and would write last-v1.ckpt beside the run's own last.ckpt
        folder = os.path.dirname(dirpath)
    parent, version = os.path.split(folder)
    init.save_dir, init.name = os.path.split(parent)
    if subcommand != "fit":
        init.version = f"{version}/{subcommand}"
    elif not configured:  # version_N as the logger numbers it (the config's own version stays as it is given)
        init.version = int(VERSION_FOLDER.match(run.name).group(1))


def check_start(model: Any) -> None:
    """fit's ``model.pretrained`` (``model``: the config's `model_settings`), checked before Lightning starts: one
    that cannot start the preset, or a missing file, is a one-line error before any run folder is made (the module
    loads it in its setup)."""
    if model is None:
        return
    pretrained = model.get("pretrained")
    network = model.get("network")
    preset = network.get("preset") if network is not None else None  # a Namespace or, from a file, a dict
    if pretrained and preset:
        refuse_mismatched_start(preset, pretrained)
        if not Path(pretrained).is_file():
            read_weights_file(pretrained)  # its one-line error: missing, or a folder, with where to get it


def model_settings(config: Any) -> Any:
    """The config's ``model`` entry (a Namespace, or a dict from a file), None where there is none; a ConfigError for
    a list or a number there, which the parser takes and Lightning then fails on with a traceback."""
    model = config.get("model")
    if model is not None and not hasattr(model, "get"):
        raise ConfigError(
            f"model is {model!r} in the config, not the model's settings (model: network: preset: ..., lr: ...): "
            "check the model entry of the -c files"
        )
    return model


def resolve_checkpoint(subcommand: str, config: Any) -> None:
    """Turn ``--ckpt_path`` into a checked file and point the logger at the run it belongs to (module docstring)."""
    model = model_settings(config)
    ckpt = config.get("ckpt_path")
    if not ckpt:
        if subcommand == "fit":
            check_start(model)
        elif rank_zero_only.rank == 0:
            pretrained = model.get("pretrained") if model is not None else None
            print(f"note: no --ckpt_path: {subcommand} uses the network as the config builds it (model.pretrained: "
                  f"{pretrained}), not a training run's; give --ckpt_path best, last or a .ckpt file for one",
                  file=sys.stderr)  # fmt: skip
        return
    if ckpt in LIGHTNING_CKPT_KEYWORDS:
        return
    if subcommand == "fit" and ckpt == "best":
        raise ConfigError("fit --ckpt_path best: resume with --ckpt_path last, or give the checkpoint file")
    logger = primary_logger(config)
    init = getattr(logger, "init_args", None)
    version = None
    if ckpt in RUN_KEYWORDS:
        path, version = last_checkpoint(config, subcommand) if ckpt == "last" else best_checkpoint(config)
        if rank_zero_only.rank == 0:
            print(f"resuming {path}" if subcommand == "fit" else f"--ckpt_path {ckpt}: {path}", file=sys.stderr)
    else:
        path = Path(ckpt)
    check_checkpoint_file(path)
    config.ckpt_path = str(path)
    if subcommand == "fit":
        if version is not None and init is not None:
            init.version = version  # the newest run's, or its SLURM requeue checkpoint's (outside the run's folder)
        if re.fullmatch(r"last(-v\d+)?", path.stem):  # a run's own last.ckpt, by `last` or its path: the run goes on
            log_into_run(path, logger, subcommand)  # in its folder, spelt as the run spelt it
        # the run's own checkpoint folder is not empty, by design
        warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")
    elif subcommand in ("validate", "test", "predict") and init is not None:
        if version is not None:  # the config's newest run (a SLURM checkpoint lies outside its folder)
            init.version = f"{version_folder(version)}/{subcommand}"
        else:
            log_into_run(path, logger, subcommand)


class ArgumentParser(LightningArgumentParser):
    """Lightning's parser, whose errors end with the closest known option of a misspelt one (on the command line or
    in the config) and are followed by the command that lists the options, in place of jsonargparse's 80-line usage
    and its ``mgd-sam2 predict --help`` (the other predict's help)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # no abbreviations: `--trainer.max_epoch` would pass for --trainer.max_epochs (a misspelt config key does not),
        # and `--model.tt` would be applied under a key that the config does not have
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    given_args: list[str] = []  # the command line parsed, set by MGDSAM2CLI

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        parser = getattr(ex, "subcommand_parser", None) or self
        if (match := UNKNOWN_KEY.search(message)) and (files := config_files_holding(match, self.given_args)):
            message += f" in {' and '.join(files)}"
        if (split_list := SPLIT_LIST_KEY.search(message)) and "Expected a <class 'list'>" in message:
            key = split_list.group(1)  # jsonargparse's page on the Union type, for what is a list in YAML
            given = message.rsplit("Given value:", 1)[-1].strip()
            example = SPLIT_LIST_EXAMPLES[key]
            message = (
                f'--{key} takes a list of splits, not {given!r}: --{key} "[{", ".join(example)}]" (YAML\'s list, '
                f"quoted for the shell), or --{key}+ {example[-1]} to add one to the config's; a split is a folder "
                "under data.root or {images: DIR, masks: DIR, name: NAME}"
            )
        message += closest_options(message, parser)
        if not self.exit_on_error:  # raises ArgumentError, as jsonargparse does
            super().error(message, ex)
        prog = parser.prog.replace(" [options]", "")
        command = f"{prog} -c CONFIG --help" if prog != "mgd-sam2" else "mgd-sam2 SUBCOMMAND -c CONFIG --help"
        print(f"error: {message}\n{command} lists the options", file=sys.stderr)
        self.exit(2)


SPLIT_LIST_KEY = re.compile(r'Parser key "(data\.(?:train|val|test))"')
SPLIT_LIST_EXAMPLES = {
    "data.train": ["HRSOD/HRSOD-TR", "UHRSD/UHRSD-TR"],
    "data.val": ["DIS5K/DIS-VD"],
    "data.test": ["HRSOD/HRSOD-TE", "UHRSD/UHRSD-TE", "DAVIS-S"],
}


def config_files_holding(unknown: re.Match, args: list[str]) -> list[str]:
    """The ``-c``/``--config`` files of ``args`` whose YAML holds the key of an `UNKNOWN_KEY` match, as given."""
    import yaml

    group, key = unknown.groups()
    parts = [*(group.split(".") if group else ()), *key.split(".")]
    files = [value for flag, value in zip(args, args[1:], strict=False) if flag in ("-c", "--config")]
    files += [word.split("=", 1)[1] for word in args if word.startswith(("--config=", "-c="))]
    holding = []
    for file in dict.fromkeys(files):
        try:
            node = yaml.safe_load(Path(file).read_text())
        except (OSError, ValueError, yaml.YAMLError):  # a YAML string given as -c, not a file
            continue
        for part in parts:
            node = node.get(part, KeyError) if isinstance(node, dict) else KeyError
        if node is not KeyError:
            holding.append(file)
    return holding


class QuietLightning(logging.Filter):
    """Drops Lightning's lines that say nothing about this run: no-GPU/no-TPU notices and product tips."""

    NOISE = ("GPU available: False", "TPU available: False", "💡 Tip:")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).lstrip().startswith(self.NOISE)


def quiet_lightning() -> None:
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        target = logging.getLogger(name)
        if not any(isinstance(existing, QuietLightning) for existing in target.filters):
            target.addFilter(QuietLightning())
    # Lightning's pytree shim warns about torch internals on every run
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\)")


def free_number(folder: Path, *names: tuple[str, str]) -> int:
    """The first K = 1, 2, … for which no ``folder/<stem>_K<suffix>`` of the (stem, suffix) ``names`` is taken."""
    count = 1
    while any((folder / f"{stem}_{count}{suffix}").exists() for stem, suffix in names):
        count += 1
    return count


def numbered(folder: Path, stem: str, suffix: str) -> Path:
    """``folder/<stem>_K<suffix>`` for the first K = 1, 2, … not taken."""
    return folder / f"{stem}_{free_number(folder, (stem, suffix))}{suffix}"


def keep_csv_aside(metrics: Path, kept: Path) -> tuple[Path, Path]:
    """Rename a CSVLogger's ``metrics.csv`` to ``kept`` before the logger, starting in its folder, deletes it (and
    silence Lightning's warning that it will); (kept, metrics)."""
    metrics.rename(kept)
    warnings.filterwarnings("ignore", message="Experiment logs directory .* will be deleted")
    return kept, metrics


class SaveRunConfig(SaveConfigCallback):
    """Lightning's config saver; for a resumed fit (one given a ``ckpt_path``), it keeps the run's first
    ``config.yaml`` and writes its own beside it, ``config_resumed_K.yaml`` (a resume may change the settings:
    ``--trainer.max_epochs``). A fresh fit saves as Lightning's does."""

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        resumed = stage == "fit" and bool(self.config.get("ckpt_path"))
        if resumed and not self.already_saved and self.save_to_log_dir:
            folder = Path(trainer.log_dir)  # every rank calls setup: log_dir's broadcast is every rank's
            if (folder / self.config_filename).is_file():
                self.config_filename = numbered(folder, f"{Path(self.config_filename).stem}_resumed", ".yaml").name
        super().setup(trainer, pl_module, stage)


def first_main_process(trainer: Any) -> bool:
    """Whether this is the first node's main process, before Lightning launches the others: ``rank_zero_only``'s
    rank, which Lightning reads from the launcher's environment, is 0 on every node's first process then (NODE_RANK
    alone tells a node where Lightning launches)."""
    environment = getattr(trainer.strategy, "cluster_environment", None)
    return rank_zero_only.rank == 0 and (environment is None or environment.node_rank() == 0)


def keep_earlier_evaluation(trainer: Any, subcommand: str) -> list[tuple[Path, Path]]:
    """A validate, test or predict into a folder where an earlier one of its kind wrote (a run's test/ folder) would
    replace that one's ``config_<subcommand>.yaml`` and, with a CSVLogger, delete its ``metrics.csv``: both are kept,
    numbered alike (``config_test_1.yaml`` and ``metrics_1.csv``, the first test's), and the new run takes the plain
    names. On the first node's main process alone. What it renamed: (kept as, name)."""
    from lightning.pytorch.loggers import CSVLogger

    logger = run_logger(trainer)
    if logger is None or not first_main_process(trainer):
        return []
    folder = Path(logger.log_dir)
    config = folder / f"config_{subcommand}.yaml"
    if not config.is_file():
        return []
    count = free_number(folder, (f"config_{subcommand}", ".yaml"), ("metrics", ".csv"))
    config.rename(kept := folder / f"config_{subcommand}_{count}.yaml")
    set_aside = [(kept, config)]
    metrics = folder / "metrics.csv"
    if isinstance(logger, CSVLogger) and metrics.is_file():
        set_aside.append(keep_csv_aside(metrics, folder / f"metrics_{count}.csv"))
    return set_aside


def keep_csv_metrics(trainer: Any) -> list[tuple[Path, Path]]:
    """A resumed fit's CSVLogger deletes the ``metrics.csv`` of its folder as it starts (Lightning's own warning says
    so), before any callback's setup: the file is kept as ``metrics_before_resume_K.csv`` beside the one the resume
    writes. On the first node's main process alone (``first_main_process``): the nodes may share the folder. What
    it renamed: (kept as, name)."""
    from lightning.pytorch.loggers import CSVLogger

    if not first_main_process(trainer):
        return []
    set_aside = []
    for logger in trainer.loggers:
        metrics = Path(logger.log_dir) / "metrics.csv" if isinstance(logger, CSVLogger) else None
        if metrics is not None and metrics.is_file():
            set_aside.append(keep_csv_aside(metrics, numbered(metrics.parent, "metrics_before_resume", ".csv")))
    return set_aside


def build_cli(args: list[str], run: bool = True) -> MGDSAM2CLI:
    """The CLI for ``args`` (subcommand first when ``run``); the resolved config is saved in every run's log folder
    (``config.yaml`` for fit, ``config_<subcommand>.yaml`` for the others)."""
    quiet_lightning()
    # we always pass args explicitly (the dispatcher strips argv)
    warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
    subcommand = args[0] if run and args else "fit"
    if subcommand != "fit":  # a run's checkpoint evaluated in its own subfolder, by a config with other callbacks:
        # its ModelCheckpoint and callback states are a training's, which validate, test and predict never use
        warnings.filterwarnings("ignore", message="The dirpath has changed from")
        warnings.filterwarnings("ignore", message="Be aware that when using `ckpt_path`, callbacks used to create")
    filename = "config.yaml" if subcommand == "fit" else f"config_{subcommand}.yaml"
    return MGDSAM2CLI(
        MGDSAM2Module,
        SegmentationDataModule,
        args=args,
        run=run,
        save_config_callback=SaveRunConfig,
        save_config_kwargs={"overwrite": True, "config_filename": filename},
        parser_class=ArgumentParser,
        parser_kwargs={
            "prog": "mgd-sam2",
            "description": "MGD-SAM2 with Lightning: fit, validate, test or predict from a YAML config.",
        },
    )


def print_scores(rows: dict[str, dict[str, float]], subcommand: str) -> None:
    """One row per split and a column per metric computed (Lightning's table repeats every split's epoch-end scores
    under each dataloader); the DIS paper's overall row where DIS-TE1-4 are all there."""
    from mgd_sam2.metrics.tables import rich_table, with_dis_overall
    from mgd_sam2.utils.progress import console

    if rows:
        console().print(rich_table(with_dis_overall(rows), "all", f"{subcommand}: scores per split", computed=True))


def fit_outcome(trainer: Any) -> str:
    """What a finished fit left where: its step, run folder (the first logger's, or the root folder without one),
    and each ModelCheckpoint's best file (with its score, where this process knows it) and last file."""
    logger = trainer.loggers[0] if trainer.loggers else None  # not trainer.log_dir: a collective call under DDP
    folder = getattr(logger, "log_dir", None) or getattr(logger, "save_dir", None) or trainer.default_root_dir
    parts = [f"fit ended at step {trainer.global_step}; run folder {folder}"]
    for callback in model_checkpoints(trainer):
        if callback.best_model_path and callback.monitor:
            score = callback.best_model_score  # None where a resumed run restored only the path
            known = f" ({callback.monitor} {float(score):.4f})" if score is not None else ""
            parts.append(f"best {callback.best_model_path}{known}")
        elif callback.monitor and not trainer.fast_dev_run:  # fast_dev_run turns checkpointing off
            parts.append(f"no best checkpoint: no validation logged {callback.monitor} (a trainer.max_steps before "
                         "the first validation, or a monitor that no validation logs?)")  # fmt: skip
        if callback.last_model_path:
            parts.append(f"last {callback.last_model_path}")
    return "; ".join(parts)


def run_lightning_cli(subcommand: str, args: list[str]) -> int:
    """Run a LightningCLI subcommand; exit status 1 when a prediction writer had to skip images (as predict does).
    Lightning's refusals of a flag combination (e.g. ``limit_train_batches`` below one batch) are one-line errors."""
    global _fit_trainer
    _fit_trainer = None
    own_table = subcommand in ("validate", "test") and not any(arg.startswith("--verbose") for arg in args)
    try:
        cli = build_cli([subcommand, *args, *(["--verbose", "false"] if own_table else [])])
    except MisconfigurationException as error:
        raise ConfigError(str(error).strip()) from None
    except (KeyboardInterrupt, SystemExit) as stop:  # Ctrl-C, a SIGTERM: whether there is a last.ckpt to resume
        stop.fit_wrote_last = fit_wrote_last()
        raise
    if subcommand == "fit" and cli.trainer.is_global_zero:
        print(fit_outcome(cli.trainer))
        if cli.checkpoint_step == cli.trainer.global_step:
            cause = ("a callback stopped it (EarlyStopping, say) at the validation it ran again as it resumed"
                     if cli.trainer.should_stop else "the checkpoint resumed had reached this fit's end "
                     "(trainer.max_epochs or max_steps); raise it to train on")  # fmt: skip
            print(f"note: nothing was trained: {cause}")
    if own_table and cli.trainer.is_global_zero:  # callback_metrics: the main process's under ddp_spawn too
        stage = "val" if subcommand == "validate" else "test"
        rows = scores_by_split(cli.trainer.callback_metrics, stage, cli.datamodule.split_names(stage))
        print_scores({split: scores for split, scores in rows.items() if scores}, subcommand)
    skipped = [callback for callback in cli.trainer.callbacks
               if isinstance(callback, MaskWriter) and (callback.failures or callback.skipped_total)]  # fmt: skip
    return 1 if skipped else 0
