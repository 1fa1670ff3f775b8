"""The ``mgd-sam2`` command: one entry point, one subcommand per job.

``fit``, ``validate`` and ``test`` (and ``predict -c CONFIG``) are handed to Lightning's
``LightningCLI`` unchanged; every other subcommand is a small argparse tool whose module
exposes ``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only when
their subcommand runs, so ``mgd-sam2 --help`` stays fast (importing Lightning takes seconds).
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import signal
import sys
from typing import Sequence

from mgd_sam2 import __version__
from mgd_sam2.commands.parser import CommandParser
from mgd_sam2.errors import UserError

# name -> (one-line help, module). Order is the order shown by --help.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "the main job on the embedded synthetic dataset, on CPU: synth, test untrained, train, test, baseline, report",
        "mgd_sam2.commands.demo",
    ),
    "fit": ("train (LightningCLI): mgd-sam2 fit -c lightning_config.yaml", "mgd_sam2.training.cli"),
    "validate": ("validate a checkpoint (LightningCLI): ... -c CONFIG --ckpt_path CKPT", "mgd_sam2.training.cli"),
    "test": (
        "test on the configured test splits (LightningCLI): ... -c CONFIG --ckpt_path CKPT",
        "mgd_sam2.training.cli",
    ),
    "predict": (
        "write masks for images of any size (--ckpt --input --output); with -c CONFIG: LightningCLI predict",
        "mgd_sam2.commands.predict",
    ),
    "app": (
        "a web page on this machine that cuts objects out of uploaded images (--ckpt; needs the [app] extra)",
        "mgd_sam2.commands.app",
    ),
    "check-data": (
        "validate a dataset: pairing, unreadable/truncated files, sizes, mask values, EXIF, bit depth",
        "mgd_sam2.commands.check_data",
    ),
    "evaluate": (
        "score a folder of saved predictions against GT masks (S, E, F, wF, MAE, HCE, mBA)",
        "mgd_sam2.commands.evaluate",
    ),
    "synth": (
        "generate the synthetic high-resolution dataset (thin wires, lattices, hair, holes; DIS5K layout)",
        "mgd_sam2.commands.synth",
    ),
    "benchmark": (
        "accuracy tables, model speed/memory, ablations, data and metric speed",
        "mgd_sam2.commands.benchmark",
    ),
    "model": (
        "info: parameter counts of a preset; load: a SAM2/released weights file key by key; "
        "export: a run's trained weights, its ONNX and OpenVINO models, or --fastest for this CPU",
        "mgd_sam2.commands.model",
    ),
}

# Subcommands owned by LightningCLI: argv after the name goes to it untouched.
LIGHTNING_COMMANDS: tuple[str, ...] = ("fit", "validate", "test")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except the uninformative None/False ones and where the help says its own default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False) or "(default:" in (action.help or ""):
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
    parser.add_argument("--version", action="version", version=f"mgd-sam2 {__version__}")
    return parser


def subcommand_parser(name: str) -> argparse.ArgumentParser:
    """The argparse parser of one subcommand that is not LightningCLI's (``fit``, ``validate``, ``test``).

    ``main`` parses with it, the documentation's CLI reference prints its ``format_help()`` and a test parses
    every command line shown in the README and the docs with it.
    """
    if name in LIGHTNING_COMMANDS:
        raise ValueError(f"{name} is LightningCLI's subcommand, not an argparse one")
    help_text, module_name = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = CommandParser(prog=f"mgd-sam2 {name}", description=help_text, formatter_class=HelpFormatter)
    module.add_arguments(parser)
    return parser


def top_level_help() -> str:
    """``mgd-sam2 --help``."""
    return _top_level_parser().format_help()


def uses_config(args: list[str]) -> bool:
    """True when LightningCLI should take the arguments (a config file or its own config flags)."""
    return any(
        a in ("-c", "--config", "--print_config") or a.startswith(("--config=", "--print_config=")) for a in args
    )


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
    global _interrupted
    _interrupted = False
    previous_handler = signal.signal(signal.SIGINT, _interrupt)
    try:
        if name in LIGHTNING_COMMANDS or (name == "predict" and uses_config(rest)):
            from mgd_sam2.training.cli import run_lightning_cli

            return run_lightning_cli(name, rest)
        module = importlib.import_module(COMMANDS[name][1])
        args = subcommand_parser(name).parse_args(rest)
        args.command_line = shlex.join(["mgd-sam2", *argv])  # what a measurement records as its command
        return int(module.run(args) or 0)
    except UserError as error:  # bad input, explained by its message: no traceback
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as stop:
        print(interrupted_message(name, rest, stop), file=sys.stderr)
        return INTERRUPTED_STATUS
    except SystemExit as exit_:  # Lightning turns Ctrl-C during fit into SystemExit(1) after its shutdown
        if _interrupted:
            print(interrupted_message(name, rest, exit_), file=sys.stderr)
            return INTERRUPTED_STATUS
        if stopped_by_sigterm(exit_):
            print(interrupted_message(name, rest, exit_, "terminated (SIGTERM)"), file=sys.stderr)
            return TERMINATED_STATUS
        raise exit_
    finally:
        signal.signal(signal.SIGINT, previous_handler)


def stopped_by_sigterm(exit_: SystemExit) -> bool:
    """Whether Lightning's loops stopped at a SIGTERM (a job scheduler's cancel or time limit, ``kill``): its
    SIGTERMException is a SystemExit without a code, which would end the command with status 0."""
    exceptions = sys.modules.get("lightning.pytorch.utilities.exceptions")  # loaded where Lightning raised it
    return exceptions is not None and isinstance(exit_, exceptions.SIGTERMException)


def interrupted_message(name: str, rest: list[str], stop: BaseException, what: str = "interrupted") -> str:
    """What Ctrl-C (or a SIGTERM, ``what``) leaves a user with; for fit, the command that resumes the run (neither
    writes a checkpoint), or that there is nothing to resume where the fit wrote no ``last.ckpt`` (the ``stop``'s
    ``fit_wrote_last``, which the training CLI sets: None where no fit began)."""
    if name != "fit":
        return what
    written = getattr(stop, "fit_wrote_last", None)
    if written is False:
        return f"{what} before the fit wrote its first last.ckpt: nothing to resume; start it again without --ckpt_path"
    kept = [arg for index, arg in enumerate(rest) if not (arg.startswith("--ckpt_path") or
            (index and rest[index - 1] == "--ckpt_path"))]  # fmt: skip
    resume = shlex.join(["mgd-sam2", "fit", *kept, "--ckpt_path", "last"])
    after = "the steps after it are trained again"
    written = "" if written else ", if one was written"  # None: interrupted before the fit began
    return f"{what}: {resume} resumes the run from its last.ckpt{written} ({after})"


INTERRUPTED_STATUS = 130  # the shell's status for a process stopped by Ctrl-C (128 + SIGINT)
TERMINATED_STATUS = 143  # and by SIGTERM (128 + SIGTERM)
_interrupted = False


def _interrupt(signum: int, frame: object) -> None:
    """SIGINT: remember it (Lightning catches the KeyboardInterrupt and exits 1 after cleaning up), then raise."""
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
