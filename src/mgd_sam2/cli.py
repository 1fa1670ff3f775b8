"""The ``mgd-sam2`` command: one entry point, one subcommand per job.

``fit``, ``validate`` and ``test`` (and ``predict -c CONFIG``) are handed to Lightning's
``LightningCLI`` unchanged; every other subcommand is a small argparse tool whose module
exposes ``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only when
their subcommand runs, so ``mgd-sam2 --help`` stays fast (importing Lightning takes seconds).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

# name -> (one-line help, module). Order is the order shown by --help.
COMMANDS: dict[str, tuple[str, str]] = {
    "check-data": ("validate a dataset: pairing, unreadable/truncated files, sizes, mask values, EXIF, bit depth", "mgd_sam2.commands.check_data"),
    "evaluate": ("score a folder of saved predictions against GT masks (S, E, F, wF, MAE, HCE, mBA)", "mgd_sam2.commands.evaluate"),
    "synth": ("generate the synthetic high-resolution dataset (thin wires, lattices, hair, holes; DIS5K layout)", "mgd_sam2.commands.synth"),
    "model": ("inspect a model preset: parameter counts per module and LR group", "mgd_sam2.commands.model"),
}

# Subcommands owned by LightningCLI: argv after the name goes to it untouched.
LIGHTNING_COMMANDS: tuple[str, ...] = ()


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except the uninformative None/False ones."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False):
            return action.help
        return super()._get_help_string(action)


def _top_level_parser() -> argparse.ArgumentParser:
    lines = [f"  {name:<11} {text}" for name, (text, _) in COMMANDS.items()]
    parser = argparse.ArgumentParser(
        prog="mgd-sam2",
        description="MGD-SAM2: prompt-free high-resolution segmentation with SAM2 "
        "(train, evaluate, predict, benchmark).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="subcommands:\n" + "\n".join(lines) + "\n\nRun `mgd-sam2 SUBCOMMAND --help` for the options of one.",
    )
    parser.add_argument("command", nargs="?", choices=list(COMMANDS), metavar="SUBCOMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mgd-sam2`` console script; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        parser = _top_level_parser()
        parsed = parser.parse_args(argv[:1])  # prints help/usage errors and exits as argparse does
        if parsed.command is None:
            parser.print_help()
            return 2
    name, rest = argv[0], argv[1:]
    help_text, module_name = COMMANDS[name]
    module = importlib.import_module(module_name)
    if name in LIGHTNING_COMMANDS:
        return module.run_lightning_cli(name, rest)
    sub = argparse.ArgumentParser(
        prog=f"mgd-sam2 {name}", description=help_text, formatter_class=HelpFormatter
    )
    module.add_arguments(sub)
    return int(module.run(sub.parse_args(rest)) or 0)


if __name__ == "__main__":
    sys.exit(main())
