"""The layout: three top-level packages, data below models, no import circles (read from the source, not run)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES: tuple[str, ...] = ("datamodules", "lightning_modules", "facedep")


def module_name(path: Path) -> str:
    """``facedep/experiment/cli.py`` -> ``facedep.experiment.cli`` (a package's ``__init__`` -> the package)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def imported_modules(path: Path, name: str, known: set[str]) -> set[str]:
    """Project modules that ``path`` imports anywhere (top level or inside functions); ``from pkg import mod``
    counts as importing ``pkg.mod`` when that is a module, else ``pkg``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # ``a.b.C`` (a class) -> ``a.b``
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    known = set(modules)
    return {name: imported_modules(path, name, known) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (a list of modules, first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def _edges_ignoring_packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's ``__init__`` that re-exports its modules is not a circle with them: drop module -> own package."""
    return {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in graph.items()}


def test_find_cycle_sees_a_circle_through_a_function_level_import(tmp_path: Path) -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from facedep.inference import predict\n")
    assert imported_modules(source, "x", {"facedep", "facedep.inference", "facedep.inference.predict"}) == {
        "facedep.inference.predict"}


def test_no_import_circles() -> None:
    cycle = find_cycle(_edges_ignoring_packages(import_graph()))
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_data_side_stands_without_the_model_side() -> None:
    graph = import_graph()
    offending = {name: sorted(t for t in targets if not t.startswith("datamodules"))
                 for name, targets in graph.items() if name.startswith("datamodules")}
    assert {k: v for k, v in offending.items() if v} == {}


@pytest.mark.parametrize("generic", ["analysis", "baselines"])
def test_no_generic_top_level_packages(generic: str) -> None:
    assert not (ROOT / generic).exists()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'"{generic}*"' not in pyproject
