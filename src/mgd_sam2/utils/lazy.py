"""Public names of a package that load on first use, so that importing the package (or the CLI's ``--help``) does
not import torch and sam2."""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` for ``package`` that imports ``exports[name]`` (a module) when ``name`` is asked, and
    its ``__dir__``: the module's own names and the exports (``dir()`` and completion list them before first use)."""

    def getattr_(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    def dir_() -> list[str]:
        return sorted({*vars(importlib.import_module(package)), *exports})

    return getattr_, dir_
