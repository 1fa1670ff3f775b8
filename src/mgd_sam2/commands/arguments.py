"""Argument types shared by the subcommands: bad values are usage errors naming the flag, never tracebacks."""

from __future__ import annotations

import argparse
from typing import Callable, Iterable


def positive_int(text: str) -> int:
    value = int_value(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int_value(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def int_value(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def comma_list(kind: Callable[[str], object], choices: Iterable[str] | None = None) -> Callable[[str], list]:
    """A parser of "a,b,c" into [kind(a), ...], each checked by ``kind`` and, if given, against ``choices``."""
    allowed = tuple(choices) if choices is not None else None

    def parse(text: str) -> list:
        items = [item.strip() for item in text.split(",") if item.strip()]
        if not items:
            raise argparse.ArgumentTypeError("give at least one value")
        if allowed is not None:
            unknown = [item for item in items if item not in allowed]
            if unknown:
                raise argparse.ArgumentTypeError(f"unknown {', '.join(unknown)}; choose from {', '.join(allowed)}")
        return [kind(item) for item in items]

    return parse
