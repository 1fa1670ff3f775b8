"""MkDocs hook: the CLI reference page is written from the parsers at build time, so it cannot drift.

``docs/cli.md`` holds the marker ``<!-- cli-reference -->``; this hook replaces it with ``mgd-sam2 --help`` and
each subcommand's ``format_help()`` (nested actions such as ``benchmark speed`` and ``model export`` too), built by
``mgd_sam2.cli.subcommand_parser``, the function ``mgd-sam2`` itself parses with. ``fit``, ``validate`` and ``test``
are LightningCLI's: their help lists every option of the model, data and trainer, so the page gives the command
that prints it. The build needs the package importable (``make docs`` runs in the project's environment).
"""

from __future__ import annotations

import argparse
import os

MARKER = "<!-- cli-reference -->"


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


def cli_reference() -> str:
    """The Markdown of the CLI reference: one fenced help text per (sub)command."""
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
            continue
        parser = subcommand_parser(name)
        parts.append(_block(f"mgd-sam2 {name}", parser.format_help()))
        for sub_name, sub in _nested(parser):
            parts.append(_block(f"{parser.prog} {sub_name}", sub.format_help()))
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ANN001 (MkDocs' hook signature)
    if MARKER in markdown:
        return markdown.replace(MARKER, cli_reference())
    return markdown
