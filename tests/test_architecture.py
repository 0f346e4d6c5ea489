"""The house rules of docs/ARCHITECTURE.md, checked against the code.

Imports are read from the source (every ``import`` statement, also those inside
functions and ``TYPE_CHECKING`` blocks), so a lazy import counts as an arrow too:

- the command line is the top floor: nothing outside ``anomvae/cli`` (and
  ``__main__``) imports ``anomvae.cli``;
- there is no import cycle among the package's modules;
- every module sits on the floor docs/ARCHITECTURE.md gives it, and imports only
  modules on lower floors.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "anomvae"
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@functools.cache
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _target(name: str, modules: dict[str, Path]) -> str | None:
    """The package module an imported dotted name lives in, if any."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


@functools.cache
def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (anywhere in its source)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found = [_target(alias.name, modules) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                found = [
                    _target(f"{base}.{alias.name}", modules) or _target(base, modules)
                    for alias in node.names
                ]
            else:
                continue
            edges.update(t for t in found if t is not None and t != name)
        graph[name] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


@functools.cache
def documented_floors() -> dict[str, int]:
    """The ``floor N: module module ...`` lines of the map in ARCHITECTURE.md;
    a name ending in ``/`` stands for every module of that package."""
    block = re.search(r"```text\n(floor .*?)```", ARCHITECTURE.read_text(), re.S)
    assert block, "docs/ARCHITECTURE.md lost its ```text floor map"
    modules = _modules()
    floors: dict[str, int] = {}
    for line in block.group(1).splitlines():
        head, _, names = line.partition(":")
        number = int(head.split()[1])
        for short in names.split():
            full = "anomvae" if short == "anomvae" else f"anomvae.{short.rstrip('/')}"
            members = (
                [m for m in modules if m == full or m.startswith(full + ".")]
                if short.endswith("/")
                else [full]
            )
            assert members, f"ARCHITECTURE.md names {short!r}, which is not a module"
            for member in members:
                floors.setdefault(member, number)
    return floors


def test_nothing_below_the_command_line_imports_it() -> None:
    graph = import_graph()
    offenders = {
        module: sorted(t for t in targets if t.startswith("anomvae.cli"))
        for module, targets in graph.items()
        if not module.startswith("anomvae.cli") and module != "anomvae.__main__"
    }
    assert not {m: t for m, t in offenders.items() if t}


def test_no_import_cycles() -> None:
    assert _cycles(import_graph()) == []


def test_the_cycle_finder_finds_cycles() -> None:
    """The check above can fail: a made-up graph with a cycle is caught."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_every_module_is_on_the_documented_map() -> None:
    floors = documented_floors()
    assert sorted(set(_modules()) - set(floors)) == []


def _room(module: str) -> str:
    """The room a module belongs to on the map: its subpackage (``anomvae.io``
    for ``anomvae.io.reading``), or the module itself."""
    parts = module.split(".")
    if len(parts) > 2 or ((PACKAGE / parts[-1]).is_dir() and len(parts) == 2):
        return ".".join(parts[:2])
    return module


@pytest.mark.parametrize("module", sorted(_modules()))
def test_imports_point_down_the_documented_floors(module: str) -> None:
    """Modules of one subpackage may import each other (the cycle test still
    watches them); the package root ``anomvae`` re-exports from below."""
    floors = documented_floors()
    upward = [
        f"{target} (floor {floors[target]})"
        for target in sorted(import_graph()[module])
        if floors[target] >= floors[module] and _room(target) != _room(module)
    ]
    assert not upward, f"{module} (floor {floors[module]}) imports {upward}"
