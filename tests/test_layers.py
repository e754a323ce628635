"""Imports go one way (pyproject.toml's import-linter contracts, DESIGN.md "Layers").

Checked twice: by ``lint-imports`` itself (as .ci/run does), and by a reading of every import
statement here that does not use import-linter (module level, inside functions, under
TYPE_CHECKING alike), so a gap in either shows.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = SRC / "hookreceiver"


def lint_imports(cwd: Path, *, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``lint-imports`` (from this interpreter's environment) on ``cwd/pyproject.toml``."""
    command = Path(sys.executable).with_name("lint-imports")
    if not command.exists():
        pytest.fail("lint-imports is missing: pip install -e . --group test")
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [str(command), "--no-cache", "--no-logo"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_import_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


# One upward import of each kind lint-imports must catch: the adapters (layer 3) from the core.
UPWARD = {
    "module level": "from ..adapters import asgi as _upward\n",
    "inside a function": "def _upward() -> None:\n    from ..adapters import asgi  # noqa\n",
    "under TYPE_CHECKING": "if TYPE_CHECKING:\n    from ..adapters.asgi import ASGIMiddleware\n",
}


@pytest.mark.parametrize("kind", sorted(UPWARD))
def test_an_upward_import_breaks_the_layers_contract(tmp_path: Path, kind: str) -> None:
    shutil.copytree(PACKAGE, tmp_path / "src" / "hookreceiver", ignore=_no_caches)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    routing = tmp_path / "src" / "hookreceiver" / "core" / "routing.py"
    routing.write_text(routing.read_text() + "\n\n" + UPWARD[kind])
    result = lint_imports(tmp_path, pythonpath=tmp_path / "src")
    assert result.returncode != 0, result.stdout
    assert "hookreceiver.core is not allowed to import hookreceiver.adapters" in result.stdout
    assert "hookreceiver.core.routing -> hookreceiver.adapters.asgi" in result.stdout


def test_the_core_importing_the_engine_breaks_the_layers_contract(tmp_path: Path) -> None:
    # The engine drives the core's types; the core never names the engine (nor its receiver).
    shutil.copytree(PACKAGE, tmp_path / "src" / "hookreceiver", ignore=_no_caches)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    protocols = tmp_path / "src" / "hookreceiver" / "core" / "protocols.py"
    upward = "if TYPE_CHECKING:\n    from ..engine.report import DeliveryReport\n"
    protocols.write_text(protocols.read_text() + "\n\n" + upward)
    result = lint_imports(tmp_path, pythonpath=tmp_path / "src")
    assert result.returncode != 0, result.stdout
    assert "hookreceiver.core is not allowed to import hookreceiver.engine" in result.stdout


def test_one_provider_importing_another_breaks_the_independence_contract(tmp_path: Path) -> None:
    shutil.copytree(PACKAGE, tmp_path / "src" / "hookreceiver", ignore=_no_caches)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    updox = tmp_path / "src" / "hookreceiver" / "providers" / "updox" / "__init__.py"
    updox.write_text(updox.read_text() + "\n\nfrom ..zipwhip import Zipwhip as _Zipwhip\n")
    result = lint_imports(tmp_path, pythonpath=tmp_path / "src")
    assert result.returncode != 0, result.stdout
    assert "hookreceiver.providers.updox -> hookreceiver.providers.zipwhip" in result.stdout


def _no_caches(_directory: str, names: list[str]) -> list[str]:
    return [name for name in names if name == "__pycache__"]


# The independent reading ---------------------------------------------------------------------


def _contract(name: str) -> dict[str, Any]:
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    found: dict[str, Any] = next(
        c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == name
    )
    return found


def _layers() -> list[list[str]]:
    """The top-level contract's layers, top first, each a list of sibling names."""
    layers = _contract("layers")["layers"]
    return [layer.replace("|", ":").replace(" ", "").split(":") for layer in layers]


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _imports(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every hookreceiver module ``module`` imports, anywhere in the file, with its line."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if node.module is None:  # ``from . import x``: x may be a module
                for alias in node.names:
                    yield f"{target}.{alias.name}", node.lineno
            else:
                yield target, node.lineno


def _graph() -> dict[str, set[str]]:
    """Module -> the hookreceiver modules (or packages) it imports."""
    known = dict(_modules())
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        targets = graph.setdefault(module, set())
        for target, _ in _imports(module, path):
            while target and target not in known:  # ``from .x import name``: the module x
                target = target.rpartition(".")[0]
            if target.startswith("hookreceiver") and target != module:
                targets.add(target)
    return graph


def test_no_statement_imports_upwards_or_across_independent_siblings() -> None:
    rank = {name: (index, layer) for index, layer in enumerate(_layers()) for name in layer}
    tops = {module.split(".")[1] for module, _ in _modules() if "." in module}
    assert tops == set(rank), "every top-level module or package belongs to one layer"
    bad = []
    for module, path in _modules():
        if module == "hookreceiver":
            continue  # the package's lazy exports: the facade's public face
        mine = module.split(".")[1]
        for target, line in _imports(module, path):
            if target == "hookreceiver":
                bad.append(f"{path.name}:{line} imports the package root (the facade)")
                continue
            if not target.startswith("hookreceiver."):
                continue
            theirs = target.split(".")[1]
            if theirs == mine:
                continue
            if rank[theirs][0] <= rank[mine][0]:  # above, or an independent sibling
                bad.append(f"{module}:{line} -> {target}")
    assert bad == []


def test_no_import_circle_at_all() -> None:
    # Stricter than "no circle spans two packages": no two modules import each other, however
    # indirectly (the acyclic_siblings contract says the same at every depth), but for the
    # imports that contract lists as ignored, each with its reason.
    graph = _graph()
    for ignored in _contract("acyclic").get("ignore_imports", []):
        importer, _, imported = (part.strip() for part in ignored.partition("->"))
        assert imported in graph[importer], f"{ignored!r} is listed but not made"
        graph[importer].discard(imported)
    assert _strongly_connected(graph) == []


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm: the circles of ``graph`` (components of more than one module)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found
