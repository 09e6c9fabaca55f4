"""The core's modules import one another in one direction only: no import circles, and no
arrow up from the lower groups into the run core.

Every ``import``/``from ... import`` counts, at module level, inside functions and under
``TYPE_CHECKING``, so a circle or an upward arrow cannot hide behind a deferred import.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"kinterp": ROOT / "kinterp", "kinterp_plugins": ROOT / "plugins"}

# The groups below the run core: what loads a model, reads data, writes reports, optimises or
# perturbs inputs, and describes a run as a value. None of them imports the run core.
LOWER = (
    "kinterp.loading",
    "kinterp.data",
    "kinterp.reporting",
    "kinterp.toolkit",
    "kinterp.settings",
)
# Top-level modules any group may import: leaves that import nothing of kinterp's
# (``hookspecs`` for the ``hookimpl`` marker of a core plugin such as kinterp.data.datasets).
LEAVES = {"kinterp.errors", "kinterp._version", "kinterp.hookspecs"}
TOP_LEVEL_MODULES = 12


def _module_name(package: str, base: Path, path: Path) -> str:
    parts = [package, *path.relative_to(base).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(package, base, path): path
        for package, base in PACKAGES.items()
        for path in base.rglob("*.py")
    }


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The known modules ``path`` imports anywhere in its body."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_one_that_imports_it_back():
    modules = _modules()
    known = set(modules)
    # A package's __init__ re-exporting its submodules is not a circle of logic: leave the
    # package -> submodule edges of kinterp/__init__.py and kinterp/toolkit/optimize/__init__.py
    # out.
    graph = {
        name: {t for t in _imports(name, path, known) if not t.startswith(f"{name}.")}
        for name, path in modules.items()
    }
    assert _cycles(graph) == []


def test_the_checker_sees_a_circle_through_a_function_level_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def _group(module: str) -> str:
    """``kinterp.loading.models`` -> ``kinterp.loading``; a top-level module is its own group."""
    return ".".join(module.split(".")[:2])


def _upward(graph: dict[str, set[str]]) -> list[str]:
    """Arrows from a lower group into the run core: the ``kinterp`` package itself, every
    top-level module but the leaves, and the technique, serve and sweeps packages."""
    return sorted(
        f"{name} -> {target}"
        for name, targets in graph.items()
        if _group(name) in LOWER
        for target in targets
        if target.startswith("kinterp") and target not in LEAVES and _group(target) not in LOWER
    )


def test_no_lower_group_imports_the_run_core():
    modules = _modules()
    graph = {name: _imports(name, path, set(modules)) for name, path in modules.items()}
    assert _upward(graph) == []


def test_loading_never_imports_reporting():
    """A model's notebook card is added by kinterp.load_model, not by the loader."""
    modules = _modules()
    found = [
        f"{name} -> {target}"
        for name, path in modules.items()
        if _group(name) == "kinterp.loading"
        for target in _imports(name, path, set(modules))
        if _group(target) == "kinterp.reporting"
    ]
    assert found == []


def test_the_checker_sees_an_upward_arrow():
    graph = {
        "kinterp.toolkit.perturb": {"kinterp.errors", "kinterp.loading.models"},
        "kinterp.loading.models": {"kinterp.runner"},
        "kinterp.data.datasets": {"kinterp.hookspecs", "kinterp"},
        "kinterp.settings.params": {"kinterp.technique"},
        "kinterp.runner": {"kinterp.loading.models"},
    }
    assert _upward(graph) == [
        "kinterp.data.datasets -> kinterp",
        "kinterp.loading.models -> kinterp.runner",
        "kinterp.settings.params -> kinterp.technique",
    ]


def test_the_top_level_holds_the_run_core_only():
    modules = sorted(p.name for p in (ROOT / "kinterp").glob("*.py"))
    assert len(modules) <= TOP_LEVEL_MODULES, modules
