"""Package boundaries: the data flow reads one way (docs/design.md, packages)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "mgd_sam2"


def imported_modules(package: str) -> dict[str, set[str]]:
    """{file: every mgd_sam2 module it imports, at module level or inside functions}."""
    found = {}
    for path in sorted((PACKAGE / package).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        found[str(path.relative_to(PACKAGE))] = {name for name in names if name.startswith("mgd_sam2.")}
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("models", ("mgd_sam2.data", "mgd_sam2.training", "mgd_sam2.inference", "mgd_sam2.metrics")),
        ("inference", ("mgd_sam2.training",)),
        ("data", ("mgd_sam2.training", "mgd_sam2.inference")),
    ],
)
def test_package_does_not_import(package: str, forbidden: tuple[str, ...]) -> None:
    modules = imported_modules(package)
    assert modules, f"no modules found in {package}"
    offending = {file: sorted(n for n in names if n.startswith(forbidden)) for file, names in modules.items()}
    assert not {file: names for file, names in offending.items() if names}
