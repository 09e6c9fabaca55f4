"""Plugin host: third-party discovery through entry points, isolation of broken plugins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

import kinterp
from kinterp.cli import app
from kinterp.plugins import register_plugin, registry, unregister_plugin
from tests.conftest import EXAMPLE_PLUGIN, assert_valid_report, run_dirs

BROKEN_IMPORT = "raise ImportError('needs a library that is not installed')\n"
BROKEN_HOOK = textwrap.dedent(
    """
    import kinterp

    @kinterp.hookimpl
    def register_techniques(register):
        raise RuntimeError('boom while registering')
    """
)


def _dist(site: Path, name: str, entry_points: dict[str, str]) -> None:
    info = site / f"{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    lines = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[kinterp]\n{lines}\n")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A site directory with three installed plugin distributions: one good, two broken."""
    site = tmp_path_factory.mktemp("site")
    (site / "kinterp_broken_import.py").write_text(BROKEN_IMPORT)
    (site / "kinterp_broken_hook.py").write_text(BROKEN_HOOK)
    _dist(site, "kinterp-occlusion", {"occlusion": "kinterp_occlusion"})
    _dist(site, "kinterp-broken-import", {"broken_import": "kinterp_broken_import"})
    _dist(site, "kinterp-broken-hook", {"broken_hook": "kinterp_broken_hook"})
    return site


def _kinterp(site: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = dict(os.environ, PYTHONPATH=f"{site}{os.pathsep}{EXAMPLE_PLUGIN}", **env)
    return subprocess.run(
        [sys.executable, "-m", "kinterp", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=300,
    )


def test_plugins_lists_broken_ones_and_keeps_the_rest(site):
    done = _kinterp(site, "plugins", "--json")
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    plugins = {p["name"]: p for p in listing["plugins"]}
    assert plugins["occlusion"]["status"] == "ok"
    assert plugins["occlusion"]["distribution"] == "kinterp-occlusion"
    assert plugins["broken_import"]["status"] == "broken"
    assert plugins["broken_import"]["distribution"] == "kinterp-broken-import"
    assert "needs a library that is not installed" in plugins["broken_import"]["reason"]
    assert plugins["broken_hook"]["status"] == "broken"
    assert "boom while registering" in plugins["broken_hook"]["reason"]
    assert "occlusion" in listing["techniques"]
    assert {"happymap", "sadmap", "backquery"} <= set(listing["techniques"])


def test_plugins_table_shows_broken_with_reason(site):
    done = _kinterp(site, "plugins")
    assert done.returncode == 0, done.stderr
    assert "broken" in done.stdout and "broken_import" in done.stdout


def test_third_party_plugin_runs_through_the_cli(site, tiny_conv, tmp_path):
    out = tmp_path / "out"
    done = _kinterp(site, "run", "occlusion", str(tiny_conv), "--count", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    (run_dir,) = run_dirs(out)
    report = assert_valid_report(run_dir)
    assert report["technique"]["distribution"] == "kinterp-occlusion"
    split = report["data"]["split"]
    assert report["data"] == {"name": "mnist-5k", "split": split, "count": 2, "conversion": None}


def test_strict_mode_reraises_for_plugin_authors(site):
    done = _kinterp(site, "plugins", KINTERP_STRICT_PLUGINS="1")
    assert done.returncode != 0
    assert "Traceback" in done.stderr
    assert "needs a library that is not installed" in done.stderr


@dataclass
class NoParams:
    pass


class Exploding(kinterp.Technique):
    name = "exploding"
    summary = "Raises halfway through its run"

    def run(self, ctx, params):
        ctx.report.metric("before", 1.0)
        raise RuntimeError("something inside the technique broke")


class Duplicate(kinterp.Technique):
    name = "exploding"
    summary = "Same name as another technique"

    def run(self, ctx, params):
        pass


class ExplodingPlugin:
    @kinterp.hookimpl
    def register_techniques(self, register):
        register(Exploding())


class DuplicatePlugin:
    @kinterp.hookimpl
    def register_techniques(self, register):
        register(Duplicate())


@pytest.fixture
def exploding():
    register_plugin(ExplodingPlugin(), name="exploding-plugin")
    yield
    unregister_plugin("exploding-plugin")


def test_failing_run_writes_a_failed_report_and_exits_1(runner, exploding, tiny_conv, tmp_path):
    result = runner.invoke(app, ["run", "exploding", str(tiny_conv), "--out", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "something inside the technique broke" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    (run_dir,) = run_dirs(tmp_path)
    report = assert_valid_report(run_dir)
    assert report["status"] == "failed"
    assert report["error"]["type"] == "RuntimeError"


def test_other_techniques_work_after_a_failing_run(
    runner, exploding, occlusion_plugin, tiny_conv, tmp_path
):
    runner.invoke(app, ["run", "exploding", str(tiny_conv), "--out", str(tmp_path)])
    result = runner.invoke(
        app, ["run", "occlusion", str(tiny_conv), "--count", "1", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output


def test_duplicate_technique_name_marks_the_second_plugin_broken(exploding):
    register_plugin(DuplicatePlugin(), name="duplicate-plugin")
    try:
        reg = registry()
        records = {p.name: p for p in reg.plugins}
        assert records["duplicate-plugin"].status == "broken"
        assert "already registered" in records["duplicate-plugin"].reason
        assert reg.techniques["exploding"][0].summary == "Raises halfway through its run"
    finally:
        unregister_plugin("duplicate-plugin")
