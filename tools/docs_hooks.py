"""MkDocs hook: pages written at build time from their one source, so they cannot drift.

Measured tables: ``<!-- measured: NAME -->`` becomes the table of ``docs/measurements/NAME.json`` (the JSON the
command wrote, with the date, command and machine that produced it); the README's copy of a table is checked
against the same rendering by tests/test_docs.py.

The choices of ``model export --fastest``: docs/benchmarks.md holds the table ``fastest_table`` renders from
``mgd_sam2.inference.fastest.FASTEST`` (a copy, so that the page reads the same on GitHub; tests/test_docs.py checks
it).

The CLI reference:
``docs/cli.md`` holds the marker ``<!-- cli-reference -->``; this hook replaces it with ``mgd-sam2 --help`` and
each subcommand's ``format_help()`` (nested actions such as ``benchmark speed`` and ``model export`` too), built by
``mgd_sam2.cli.subcommand_parser``, the function ``mgd-sam2`` itself parses with. ``fit``, ``validate`` and ``test``
are LightningCLI's: their help lists every option of the model, data and trainer, so the page gives the command
that prints it. The build needs the package importable (``make docs`` runs in the project's environment).
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

MARKER = "<!-- cli-reference -->"
MEASURED = re.compile(r"<!-- measured: ([a-z_]+) -->")
MEASUREMENTS = Path(__file__).resolve().parents[1] / "docs" / "measurements"

DEMO_SPLITS = {"SYN-TE": "SYN-TE", "SYN-HO": "SYN-HO (held-out families)"}
DEMO_KINDS = {"before": "untrained", "constant": "constant (mean training mask)", "after": "trained (best checkpoint)"}


def demo_table(measurement: dict) -> str:
    """The demo's untrained / constant / trained table from its report (``runs/demo/report.json``'s layout)."""
    report = measurement["report"]
    lines = ["| split | | Sα↑ | maxFβ↑ | MAE↓ |", "|---|---|---|---|---|"]
    for split, split_label in DEMO_SPLITS.items():
        for kind, kind_label in DEMO_KINDS.items():
            values = [f"{report[kind][split][key]:.3f}" for key in ("Smeasure", "maxFm", "MAE")]
            if kind == "after":
                values = [f"**{value}**" for value in values]
            lines.append(f"| {split_label} | {kind_label} | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"


TABLES = {"demo": demo_table}


def measured_table(name: str) -> str:
    """The table of docs/measurements/NAME.json, then a line saying where and how it was measured."""
    measurement = json.loads((MEASUREMENTS / f"{name}.json").read_text())
    source = (
        f"*Measured by `{measurement['command']}` on {measurement['date']}, {measurement['machine']}; "
        f"the numbers: [measurements/{name}.json](measurements/{name}.json).*\n"
    )
    return TABLES[name](measurement) + "\n" + source


def fastest_table() -> str:
    """``model export --fastest``'s choice for each CPU kind, and why (from the code's table)."""
    from mgd_sam2.inference.cpu_kind import KIND_FLAGS
    from mgd_sam2.inference.fastest import FASTEST, PRECISION_NAMES, RUNTIMES

    lines = ["| CPU kind | path | precision recorded | why |", "|---|---|---|---|"]
    for kind, path in FASTEST.items():
        flag = f"`{KIND_FLAGS[kind]}`" if kind in KIND_FLAGS else "none of these flags"
        lines.append(
            f"| {kind} ({flag}) | {RUNTIMES[path.backend]} | {PRECISION_NAMES[path.precision]} | {path.basis} |"
        )
    return "\n".join(lines) + "\n"


def _nested(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    """(name, parser) of every sub-action of ``parser``, depth first."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((name, sub))
                found.extend(_nested(sub))
    return found


def _block(title: str, text: str) -> str:
    return f"### `{title}`\n\n```text\n{text.rstrip()}\n```\n"


def _lightning_help(name: str) -> str:
    """LightningCLI's ``--help`` of one subcommand, as ``mgd-sam2 NAME --help`` prints it."""
    import contextlib
    import io

    from mgd_sam2.training.cli import build_cli

    out = io.StringIO()
    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(out):
        build_cli([name, "--help"])
    return out.getvalue()


def cli_reference(lightning_help: bool = True) -> str:
    """The Markdown of the CLI reference: one fenced help text per (sub)command (``fit``'s, which imports
    Lightning and takes seconds, unless ``lightning_help`` is false)."""
    os.environ["COLUMNS"] = "110"  # argparse wraps at the terminal width: fix it so the page is the same everywhere
    from mgd_sam2.cli import COMMANDS, LIGHTNING_COMMANDS, subcommand_parser, top_level_help

    parts = ["## `mgd-sam2`\n", "```text\n" + top_level_help().rstrip() + "\n```\n"]
    for name, (text, _) in COMMANDS.items():
        parts.append(f"## `mgd-sam2 {name}`\n")
        if name in LIGHTNING_COMMANDS:
            parts.append(
                f"{text}. This is Lightning's `LightningCLI`: `mgd-sam2 {name} --help` prints every option of the "
                f"model, data and trainer, and `mgd-sam2 {name} -c lightning_config.yaml --print_config` the "
                "resolved configuration.\n"
            )
            if name == "fit" and lightning_help:
                help_text = "\n".join("    " + line for line in _lightning_help(name).rstrip().splitlines())
                parts.append(f'??? note "`mgd-sam2 fit --help`"\n\n    ```text\n{help_text}\n    ```\n')
            continue
        parser = subcommand_parser(name)
        parts.append("```text\n" + parser.format_help().rstrip() + "\n```\n")
        for sub_name, sub in _nested(parser):
            parts.append(_block(f"{parser.prog} {sub_name}", sub.format_help()))
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ANN001 (MkDocs' hook signature)
    markdown = MEASURED.sub(lambda match: measured_table(match.group(1)), markdown)
    if MARKER in markdown:
        return markdown.replace(MARKER, cli_reference())
    return markdown
