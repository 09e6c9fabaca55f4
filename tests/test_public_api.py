"""The built-in plugins and the example plugin use only the documented public API (#21).

The public modules are listed in ``PUBLIC``; their ``__all__`` is the public API. Every
``import kinterp...`` / ``from kinterp... import X`` in plugins/*.py and examples/ must name a
public module and, for ``from``, a name in its ``__all__`` (or a public module below it), and
every ``kinterp.X.Y`` attribute chain must resolve through public names. Every exported name
is typed, has a docstring, and is mentioned in docs/plugins.md.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "plugins.md"
PUBLIC = ("kinterp", "kinterp.toolkit", "kinterp.toolkit.optimize", "kinterp.toolkit.cppn")
SOURCES = sorted((ROOT / "plugins").glob("*.py")) + sorted((ROOT / "examples").rglob("*.py"))


def _exports(module: str) -> set[str]:
    return set(importlib.import_module(module).__all__)


def _attribute_chain(node: ast.Attribute) -> list[str] | None:
    """``a.b.c`` -> ["a", "b", "c"]; None when the chain does not start at a plain name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.insert(0, node.attr)
        node = node.value
    return [node.id, *parts] if isinstance(node, ast.Name) else None


def _check_chain(module: str, names: list[str]) -> str | None:
    """Why ``module.names[0].names[1]...`` is not public, or None when it is."""
    for name in names:
        if f"{module}.{name}" in PUBLIC:
            module = f"{module}.{name}"
            continue
        return None if name in _exports(module) else f"{module}.{name}"
    return None


def _private_uses(path: Path) -> list[str]:
    """The non-public kinterp names ``path`` imports or reaches by attribute."""
    tree = ast.parse(path.read_text(), str(path))
    bad: list[str] = []
    modules: dict[str, str] = {}  # local name -> the public module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "kinterp":
                    continue
                if alias.name not in PUBLIC:
                    bad.append(f"import {alias.name}")
                elif alias.asname:
                    modules[alias.asname] = alias.name
                else:
                    modules["kinterp"] = "kinterp"
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "kinterp":
            if node.module not in PUBLIC:
                bad.append(f"from {node.module} import ...")
                continue
            for alias in node.names:
                if f"{node.module}.{alias.name}" in PUBLIC:
                    modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                elif alias.name not in _exports(node.module):
                    bad.append(f"from {node.module} import {alias.name}")
    for node in ast.walk(tree):
        chain = _attribute_chain(node) if isinstance(node, ast.Attribute) else None
        if chain and chain[0] in modules:
            problem = _check_chain(modules[chain[0]], chain[1:])
            if problem:
                bad.append(problem)
    return sorted(set(bad))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_plugins_import_only_the_public_api(path: Path) -> None:
    assert _private_uses(path) == []


def test_the_checker_catches_private_names(tmp_path: Path) -> None:
    source = tmp_path / "plugin.py"
    source.write_text(
        "import kinterp\n"
        "import kinterp.loading.models\n"
        "from kinterp.toolkit import Budget, perturb\n"
        "from kinterp.toolkit.perturb import Digits\n"
        "from kinterp.toolkit import cppn\n"
        "kinterp.Technique, kinterp.runner, kinterp.toolkit.optimize.BatchGrid\n"
        "kinterp.toolkit.optimize.engine.Engine, cppn.render, cppn.CHUNK_BYTES\n"
    )
    assert _private_uses(source) == [
        "from kinterp.toolkit import perturb",
        "from kinterp.toolkit.perturb import ...",
        "import kinterp.loading.models",
        "kinterp.runner",
        "kinterp.toolkit.cppn.CHUNK_BYTES",
        "kinterp.toolkit.optimize.engine",
    ]


def _public_names() -> list[tuple[str, str]]:
    return [(module, name) for module in PUBLIC for name in sorted(_exports(module))]


@pytest.mark.parametrize(("module", "name"), _public_names(), ids=lambda v: v)
def test_every_public_name_is_documented_typed_and_resolves(module: str, name: str) -> None:
    value = getattr(importlib.import_module(module), name)
    doc = DOC.read_text()
    # inside a code span, alone or qualified: `name`, `name(...)`, `kinterp.name`, `x.name`
    assert re.search(rf"`(?:[\w.]+\.)?{re.escape(name)}\b", doc), f"{name} not in plugins.md"
    if inspect.isclass(value) or inspect.isfunction(value):
        assert inspect.getdoc(value), f"{module}.{name} has no docstring"
    if inspect.isfunction(value):
        hints = value.__annotations__  # strings: the modules postpone annotations
        params = [p for p in inspect.signature(value).parameters if p not in ("self", "cls")]
        missing = [p for p in [*params, "return"] if p not in hints]
        assert not missing, f"{module}.{name} lacks annotations for {missing}"


def test_public_modules_are_documented_and_stay_light() -> None:
    doc = DOC.read_text()
    for module in PUBLIC[1:]:
        assert f"`{module}`" in doc
    for module in PUBLIC:
        assert importlib.import_module(module).__doc__
