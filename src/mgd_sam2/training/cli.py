"""``mgd-sam2 fit|validate|test|predict -c CONFIG``: Lightning's CLI over MGDSAM2Module and SegmentationDataModule."""

from __future__ import annotations

import warnings

from lightning.pytorch.cli import LightningCLI

from mgd_sam2.data.datamodule import SegmentationDataModule
from mgd_sam2.training.module import MGDSAM2Module


class MGDSAM2CLI(LightningCLI):
    """LightningCLI with the network's input size (g * V) and grid fed to the DataModule, which cuts the views,
    so the two always agree."""

    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments("model.input_size", "data.input_size", apply_on="instantiate")
        parser.link_arguments("model.grid", "data.grid", apply_on="instantiate")


def build_cli(args: list[str], run: bool = True) -> MGDSAM2CLI:
    """The CLI for ``args`` (subcommand first when ``run``); the resolved config is saved in every run's log folder."""
    # we always pass args explicitly (the dispatcher strips argv); Lightning's pytree shim warns about torch internals
    warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\)")
    return MGDSAM2CLI(
        MGDSAM2Module,
        SegmentationDataModule,
        args=args,
        run=run,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"description": "MGD-SAM2 with Lightning: fit, validate, test or predict from a YAML config."},
    )


def run_lightning_cli(subcommand: str, args: list[str]) -> int:
    build_cli([subcommand, *args])
    return 0
