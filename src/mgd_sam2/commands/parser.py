"""The subcommands' argument parsers: options spelt in full, and errors that name the closest option of a misspelt one
(the training CLI's parser gives the same suggestions)."""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Iterable
from typing import Any, NoReturn

UNKNOWN_FLAG = re.compile(r"unrecognized arguments: (.*)")
UNKNOWN_KEY = re.compile(r"(?:Group '([^']+)' )?does not accept option '([^']+)'")


class CommandParser(argparse.ArgumentParser):
    """argparse without abbreviations (``--cut`` would pass for ``--cutout``, where fit's options are spelt in full),
    whose errors are two lines: the error, with the closest option of a misspelt one, and the command that lists the
    options (in place of the whole usage). Its nested actions (``benchmark speed``) are parsers of this class too;
    argparse reports their unknown options from this one, which then names the action's options and help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self.chosen: argparse.ArgumentParser = self  # the nested action's parser of the last parse, if any

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
        self.chosen = self
        parsed, extras = super().parse_known_args(args, namespace)
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction) and getattr(parsed, action.dest, None) in action.choices:
                self.chosen = action.choices[getattr(parsed, action.dest)]
        return parsed, extras

    def error(self, message: str) -> NoReturn:
        parser = self.chosen
        print(f"error: {message}{closest_options(message, parser)}\n{parser.prog} --help lists the options",
              file=sys.stderr)  # fmt: skip
        self.exit(2)


def closest_options(message: str, parser: argparse.ArgumentParser) -> str:
    """``" (did you mean --a.b?)"`` for an error about unknown options, naming the closest ones ``parser`` (or its
    subcommands, or nested actions) knows, as flags or as config keys the way the error named them; ``""`` for other
    errors or none close enough."""
    nested = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    parsers = [parser, *(each for action in nested for each in action.choices.values())]  # and jsonargparse's
    flags = list(dict.fromkeys(option for each in parsers for option in each._option_string_actions
                               if option.startswith("--")))  # fmt: skip
    if match := UNKNOWN_FLAG.search(message):
        unknown = [word.split("=")[0] for word in match.group(1).split() if word.startswith("--")]
        known = flags
    elif match := UNKNOWN_KEY.search(message):  # a key of the config, or of a group of it (--print_config's)
        group, key = match.groups()
        prefix = f"{group}." if group else ""
        unknown, known = [key], [flag[2 + len(prefix) :] for flag in flags if flag.startswith(f"--{prefix}")]
    else:
        return ""
    close = [near for word in unknown for near in a_few(option for option in known if option.startswith(word))
             # a shortened option (max_ep: max_epochs, which difflib would rank below max_steps): each that fits
             or difflib.get_close_matches(word, known, n=1, cutoff=0.8)
             or [option for option in known if option.endswith("." + word.lstrip("-"))][:1]
             # a key of a nested group given one level up (model.preset: model.network.preset)
             or a_few(option for option in known if "." in word and option.startswith(word.split(".")[0] + ".")
                      and option.endswith("." + word.split(".")[-1]))]  # fmt: skip
    return f" (did you mean {' or '.join(dict.fromkeys(close))}?)" if close else ""


def a_few(options: Iterable[str], most: int = 4) -> list[str]:
    """``options`` where there are ``most`` or fewer, else none (a word that starts too many says nothing)."""
    options = list(options)
    return options if len(options) <= most else []
