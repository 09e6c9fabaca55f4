"""docs/plugins.md shows a complete plugin that uses only the names kinterp exports."""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path

import kinterp
from kinterp.cli import app
from kinterp.plugins import register_plugin, unregister_plugin
from tests.conftest import EXAMPLE_PLUGIN, assert_valid_report, run_dirs

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def _documented_module() -> str:
    section = DOC.read_text().split("## 2. The module, complete", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def _kinterp_names(source: str) -> set[str]:
    return {
        node.attr
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "kinterp"
    }


def test_the_documented_plugin_is_the_example_package():
    example = (EXAMPLE_PLUGIN / "kinterp_occlusion" / "__init__.py").read_text()
    body = example.split('"""', 2)[2].lstrip()  # without the module docstring
    assert body == _documented_module()


def test_the_documented_plugin_uses_only_exported_names_and_runs(runner, tmp_path, monkeypatch):
    source = _documented_module()
    assert _kinterp_names(source) <= set(kinterp.__all__), _kinterp_names(source)
    path = tmp_path / "doc_plugin.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("doc_plugin", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "doc_plugin", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    register_plugin(module, name="doc-plugin")
    try:
        result = runner.invoke(
            app, ["run", "occlusion", "mnist-cnn", "--count", "2", "--out", str(tmp_path / "o")]
        )
    finally:
        unregister_plugin("doc-plugin")
    assert result.exit_code == 0, result.output
    (run_dir,) = run_dirs(tmp_path / "o")
    report = assert_valid_report(run_dir)
    assert report["metrics"]["mean_drop"] is not None
