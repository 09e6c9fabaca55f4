"""README's Performance figures come from benchmarks/results/*.json and cannot drift (#23).

Fast: no benchmark runs. benchmarks/render_readme.py renders each results file into the block
between its markers in README.md; these tests check that the committed README equals that
rendering and that every results file says where and how it was measured.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def _renderer():
    spec = importlib.util.spec_from_file_location(
        "render_readme", ROOT / "benchmarks" / "render_readme.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_blocks_equal_the_rendered_results_files():
    readme = (ROOT / "README.md").read_text()
    assert _renderer().render(readme) == readme, (
        "README.md's benchmark blocks differ from benchmarks/results/*.json: "
        "run .venv/bin/python benchmarks/render_readme.py"
    )


def test_every_block_has_its_results_file_and_every_file_its_block():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"<!-- bench:([a-z0-9_-]+) -->", readme)
    blocks.remove("end")
    files = sorted(p.stem for p in RESULTS.glob("*.json"))
    assert sorted(blocks) == files
    assert blocks.count("happymap") == 1


@pytest.mark.parametrize("path", sorted(RESULTS.glob("*.json")), ids=lambda p: p.stem)
def test_results_file_records_machine_and_provenance(path):
    record = json.loads(path.read_text())
    machine = record["machine"]
    for key in ("date", "git_commit", "cores", "python", "tensorflow", "keras"):
        assert machine.get(key), key
    for key in ("load_average_before", "load_average_after"):
        assert len(machine[key]) == 3, key


def test_render_replaces_blocks_adds_new_and_drops_orphans(tmp_path):
    render = _renderer()
    record = {
        "benchmark": "what",
        "settings": {"rounds": 1},
        "machine": {"date": "2026-01-01T00:00:00+00:00", "git_commit": "abc", "cores": 2},
        "note": "",
        "figures": {"speed": 1.5},
    }
    (tmp_path / "new.json").write_text(json.dumps(record))
    readme = f"top\n<!-- bench:gone -->\nold\n<!-- /bench:gone -->\n{render.END}\nbottom\n"
    out = render.render(readme, tmp_path)
    assert "bench:gone" not in out and "old" not in out
    assert "<!-- bench:new -->" in out and "| speed | 1.5 |" in out
    assert out.startswith("top\n") and out.endswith(f"{render.END}\nbottom\n")
    assert render.render(out, tmp_path) == out  # stable: a second rendering changes nothing
