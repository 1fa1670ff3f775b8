"""Package boundaries: the data flow reads one way (docs/design.md, packages)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "mgd_sam2"


def imported_modules(package: str) -> dict[str, set[str]]:
    """{file: every mgd_sam2 module it imports, at module level or inside functions, absolute or relative;
    ``from mgd_sam2 import x`` counts as importing ``mgd_sam2.x``}."""
    found = {}
    for path in sorted((PACKAGE / package).rglob("*.py")):
        here = ["mgd_sam2", *path.relative_to(PACKAGE).with_suffix("").parts]
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = here[: len(here) - node.level] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                names.add(module)
                names.update(f"{module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        found[str(path.relative_to(PACKAGE))] = {name for name in names if name.startswith("mgd_sam2.")}
    return found


def test_the_import_scan_sees_relative_and_package_imports(tmp_path, monkeypatch) -> None:
    package = tmp_path / "mgd_sam2" / "models"
    package.mkdir(parents=True)
    (package / "a.py").write_text("from ..training import x\nfrom mgd_sam2 import data\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", tmp_path / "mgd_sam2")
    assert imported_modules("models") == {"models/a.py": {"mgd_sam2.training", "mgd_sam2.training.x", "mgd_sam2.data"}}


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


def test_choice_types_list_every_choice() -> None:
    """Config types spell the choices out (so --help and config validation list them); they must stay in step."""
    from typing import get_args

    from mgd_sam2.metrics.sod import METRIC_CLASSES, MetricName
    from mgd_sam2.models.presets import PRESETS, PresetName

    assert set(get_args(PresetName)) == set(PRESETS)
    assert set(get_args(MetricName)) == set(METRIC_CLASSES)


def import_cycles() -> list[list[str]]:
    """Groups of mgd_sam2 modules that import each other, directly or around a loop, counting imports deferred into
    functions (a deferred import hides a cycle from Python, not from a reader)."""
    modules = {}
    for file, names in imported_modules("").items():
        modules[("mgd_sam2/" + file[: -len(".py")]).replace("/", ".").removesuffix(".__init__")] = names

    def module_of(name: str) -> str:  # "mgd_sam2.a.b.function" -> "mgd_sam2.a.b"
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph = {
        module: {module_of(name) for name in names} - {module, "mgd_sam2", ""} for module, names in modules.items()
    }
    cycles, order, low, stack = [], {}, {}, []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        order[module] = low[module] = len(order)
        stack.append(module)
        for other in graph[module]:
            if other not in order:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], order[other])
        if low[module] == order[module]:
            group = stack[stack.index(module) :]
            del stack[stack.index(module) :]
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in graph:
        if module not in order:
            visit(module)
    return cycles


def test_no_module_imports_itself_around_a_loop(tmp_path, monkeypatch) -> None:
    assert import_cycles() == []
    package = tmp_path / "mgd_sam2" / "inference"
    package.mkdir(parents=True)
    (package / "a.py").write_text("def f():\n    from mgd_sam2.inference.b import g\n")
    (package / "b.py").write_text("from mgd_sam2.inference import a\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", tmp_path / "mgd_sam2")
    assert import_cycles() == [["mgd_sam2.inference.a", "mgd_sam2.inference.b"]]


@pytest.mark.parametrize("package", ["mgd_sam2", "mgd_sam2.models"])
def test_every_public_name_imports(package: str) -> None:
    import importlib

    module = importlib.import_module(package)
    assert set(module.__all__) <= set(dir(module))  # listed before first use (completion, dir())
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        module.nothing  # noqa: B018


def test_importing_the_package_loads_no_torch() -> None:
    """The public names load on first use (utils/lazy.py), so `import mgd_sam2` and the CLI's --help stay light."""
    import subprocess
    import sys

    code = "import sys, mgd_sam2, mgd_sam2.models; print('torch' in sys.modules, 'sam2' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split() == [
        "False",
        "False",
    ]
