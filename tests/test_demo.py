"""kinterp demo: every installed technique's preset on the zoo, then the index."""

from __future__ import annotations

from kinterp.cli import app
from kinterp.plugins import registry
from tests.conftest import assert_valid_report, run_dirs


def test_quick_demo_runs_every_preset_and_writes_the_index(runner, tmp_path):
    result = runner.invoke(app, ["demo", "--quick", "--quiet", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    presets = [
        (name, preset.model)
        for name, (technique, _) in registry().techniques.items()
        for preset in technique.demo
    ]
    assert {name for name, _ in presets} >= {"happymap", "sadmap", "backquery"}
    runs = run_dirs(tmp_path)
    assert len(runs) == len(presets)
    for run_dir in runs:
        assert assert_valid_report(run_dir)["status"] == "ok"
    index = (tmp_path / "index.html").read_text()
    assert index.count("<tr data-technique=") == len(presets)  # one row per preset
    assert all(index.count(f'href="{r.name}/report.html"') == 3 for r in runs)
    assert f"index: {(tmp_path / 'index.html').resolve()}" in result.stdout
