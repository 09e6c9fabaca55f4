"""kinterp sweep on a real Dask cluster: reports, index, faults, resume, refusals, bad SPECs.

One module-scoped LocalCluster with 2 spawned worker processes serves every test that runs
work (they pass its address as ``--cluster``); a single test starts ``--cluster local`` to
cover the default path. Techniques use tiny presets on the zoo's mnist-mlp and mnist-cnn.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kinterp.cli import app
from kinterp.loading.zoo import zoo_models
from kinterp.sweeps import plan_sweep, run_plan, sweep
from kinterp.sweeps.cluster import start_local_cluster
from tests import sweep_crash_plugin
from tests.conftest import all_entries, assert_valid_report, run_dirs

TINY = {"steps": 4, "classes": [0]}
TWO_BY_TWO = """\
out = "out"
models = ["mnist-mlp", "mnist-cnn"]

[[runs]]
technique = "happymap"
params = { steps = 4, classes = [0] }

[[runs]]
technique = "sadmap"
params = { steps = 4, classes = [0] }
"""


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes for the whole module; closed (and their processes gone) after."""
    from distributed import Client

    local = start_local_cluster(2)
    client = Client(local)
    client.register_plugin(sweep_crash_plugin.RegisterCrash(), name="sweep-crash")
    sweep_crash_plugin.register_here()
    yield local, client
    from kinterp.plugins import unregister_plugin

    unregister_plugin(sweep_crash_plugin.__name__)
    pids = list(client.run(os.getpid).values())
    client.close()
    local.close()
    assert not _alive(pids, wait=15), "worker processes were left behind"


@pytest.fixture(scope="module")
def address(cluster) -> str:
    return cluster[0].scheduler_address


def _alive(pids: list[int], wait: float) -> list[int]:
    deadline = time.monotonic() + wait
    while True:
        alive = [pid for pid in pids if _exists(pid)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not reaped) is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _reports(out: Path) -> list[Path]:
    return sorted(p.parent for p in (out / "runs").glob("*/*/report.json"))


@pytest.fixture(scope="module")
def two_by_two(tmp_path_factory, address):
    """The 2 x 2 sweep, run once through the CLI: (spec path, out dir, CLI result)."""
    from typer.testing import CliRunner

    folder = tmp_path_factory.mktemp("sweep")
    spec = folder / "sweep.toml"
    spec.write_text(TWO_BY_TWO)
    result = CliRunner().invoke(app, ["sweep", str(spec), "--cluster", address, "--json"])
    return spec, folder / "out", result


def test_two_by_two_sweep_writes_four_reports_an_index_and_a_manifest(two_by_two):
    _, out, result = two_by_two
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["summary"]["ok"] == 4 and summary["summary"]["total"] == 4
    reports = _reports(out)
    assert len(reports) == 4
    found = [assert_valid_report(r) for r in reports]
    assert {(r["technique"]["name"], r["model"]["name"]) for r in found} == {
        (t, m) for t in ("happymap", "sadmap") for m in ("mnist-mlp", "mnist-cnn")
    }
    manifest = json.loads((out / "sweep.json").read_text())
    assert {r["status"] for r in manifest["runs"]} == {"ok"}
    for run in manifest["runs"]:
        assert (out / run["report"] / "report.json").is_file()
        assert run["report"].startswith(f"runs/{run['key'][:16]}/")
        assert run["metric"] == "mean_confidence" and run["value"] is not None
    index = (out / "index.html").read_text()
    assert index.count("report.html") >= 4
    comparison = (out / "comparison.html").read_text()
    assert "mnist-cnn" in comparison and "sadmap: mean_confidence" in comparison
    assert "<script>" in comparison and "http" not in comparison


def test_rerunning_a_finished_sweep_runs_nothing(two_by_two, runner, address):
    spec, out, first = two_by_two
    assert first.exit_code == 0
    before = {p: (p / "report.json").stat().st_mtime_ns for p in _reports(out)}
    again = runner.invoke(app, ["sweep", str(spec), "--cluster", address, "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["summary"]["skipped"] == 4
    assert {p: (p / "report.json").stat().st_mtime_ns for p in _reports(out)} == before
    manifest = json.loads((out / "sweep.json").read_text())
    assert {(r["status"], r["report_status"]) for r in manifest["runs"]} == {("skipped", "ok")}
    comparison = (out / "comparison.html").read_text()  # what the runs measured, kept
    for run in manifest["runs"]:
        assert f'data-v="{run["run_seconds"]}"' in comparison, run
    assert comparison.count(">ok (earlier)<") == 4 and "skipped (" not in comparison
    assert 'href="comparison.html"' in (out / "index.html").read_text()


def test_a_crashing_technique_fails_its_run_and_the_others_finish(tmp_path, address):
    spec = {
        "models": ["mnist-mlp"],
        "runs": [
            {"technique": sweep_crash_plugin.NAME},
            {"technique": "backquery", "params": {"labels": [1]}, "seeds": [0, 1]},
        ],
    }
    manifest = sweep(spec, out=tmp_path / "out", cluster=address)
    assert manifest["summary"] == {
        "total": 3, "ok": 2, "failed": 1, "refused": 0, "skipped": 0, "pending": 0
    }  # fmt: skip
    crashed = next(r for r in manifest["runs"] if r["status"] == "failed")
    assert "boom from the test technique" in crashed["error"]
    report = assert_valid_report(tmp_path / "out" / crashed["report"])
    assert report["status"] == "failed" and report["error"]["type"] == "RuntimeError"
    assert len(_reports(tmp_path / "out")) == 3

    again = sweep(spec, out=tmp_path / "out", cluster=address)  # a failed report is done
    assert again["summary"]["skipped"] == 3 and len(_reports(tmp_path / "out")) == 3
    retried = sweep(spec, out=tmp_path / "out", cluster=address, retry_failed=True)
    assert retried["summary"] == {
        "total": 3, "ok": 0, "failed": 1, "refused": 0, "skipped": 2, "pending": 0
    }  # fmt: skip
    assert len(_reports(tmp_path / "out")) == 4  # the crash ran again, beside the first


def test_a_worker_killed_mid_sweep_is_replaced_and_every_report_is_written(
    tmp_path, cluster, address
):
    _, client = cluster
    spec = {
        "models": ["mnist-cnn"],
        "seeds": [0, 1, 2, 3],
        "runs": [{"technique": "happymap", "params": {"steps": 300, "classes": [0, 1]}}],
    }
    done: dict = {}
    thread = threading.Thread(
        target=lambda: done.update(sweep(spec, out=tmp_path / "out", cluster=address))
    )
    thread.start()
    victim = _busy_worker(client, tmp_path / "out", timeout=120)
    pids = client.run(os.getpid)
    os.kill(pids[victim], signal.SIGKILL)
    thread.join(timeout=240)
    assert not thread.is_alive()
    assert done["summary"]["ok"] == 4, done["runs"]
    assert len(_reports(tmp_path / "out")) == 4
    assert not list((tmp_path / "out" / "runs").glob("*/.*")), "a partial run was left"
    client.wait_for_workers(2, timeout=60)
    assert pids[victim] not in client.run(os.getpid).values()


def _busy_worker(client, out: Path, timeout: float) -> str:
    """A worker running a sweep task, once a first run finished (TensorFlow is loaded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = [w for w, keys in client.processing().items() if keys]
        if busy and (out / "runs").is_dir() and _reports(out):
            time.sleep(0.5)
            return busy[0]
        time.sleep(0.1)
    raise AssertionError("no worker started a sweep task")


def test_a_model_file_changed_after_planning_is_refused(tmp_path, address):
    zoo = zoo_models()
    model = tmp_path / "model.keras"
    shutil.copyfile(zoo["mnist-mlp"].path, model)
    spec = {
        "models": [str(model), "mnist-cnn"],
        "runs": [{"technique": "happymap", "params": TINY}],
    }
    plan = plan_sweep(spec, out=tmp_path / "out")
    shutil.copyfile(zoo["mnist-cnn"].path, model)
    manifest = run_plan(plan, cluster=address)
    by_model = {r["model_path"]: r for r in manifest["runs"]}
    refused = by_model[str(model.resolve())]
    assert refused["status"] == "refused" and refused["report"] is None
    assert "has changed since the sweep was planned" in refused["error"]
    assert by_model["mnist-cnn"]["status"] == "ok"
    assert len(_reports(tmp_path / "out")) == 1


BAD_SPECS = {
    "unknown technique": (
        'models = ["mnist-mlp"]\n\n[[runs]]\ntechnique = "happymapp"\n',
        4,
        "unknown technique 'happymapp'",
    ),
    "missing model": (
        'models = [\n  "mnist-mlp",\n  "checkpoints/missing.keras",\n]\n'
        '[[runs]]\ntechnique = "happymap"\n',
        3,
        "checkpoints/missing.keras",
    ),
    "bad param": (
        'models = ["mnist-mlp"]\n[[runs]]\ntechnique = "backquery"\n\n'
        '[[runs]]\ntechnique = "happymap"\n[runs.params]\nclasses = [0]\nsteps = 0\n',
        9,
        "--steps must be at least 1",
    ),
    "bad grid value": (
        'models = ["mnist-mlp"]\n[[runs]]\ntechnique = "happymap"\ngrid = { lr = [0.1, -1] }\n',
        4,
        "--lr must be at least",
    ),
    "TOML syntax": (
        'models = ["mnist-mlp"]\n[[runs]]\ntechnique = "happymap"\nparams = { steps = }\n',
        4,
        "invalid TOML",
    ),
}


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_a_bad_spec_is_refused_naming_its_line_and_nothing_is_written(case, runner, tmp_path):
    text, line, message = BAD_SPECS[case]
    spec = tmp_path / "sweep.toml"
    spec.write_text(text)
    result = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    error = result.stderr.strip()
    assert len(error.splitlines()) == 1, error
    assert f"sweep.toml, line {line}: " in error and message in error, error
    assert all_entries(tmp_path) == [spec]


def test_dry_run_prints_the_runs_and_writes_nothing(runner, tmp_path):
    spec = tmp_path / "sweep.toml"
    spec.write_text(
        'seeds = [0, 1]\nmodels = ["mnist-mlp", "mnist-cnn"]\n[[runs]]\n'
        'technique = "happymap"\nparams = { steps = 4 }\ngrid = { lr = [0.05, 0.1, 0.2] }\n'
    )
    result = runner.invoke(app, ["sweep", str(spec), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)
    assert len(runs) == 12 and len({r["key"] for r in runs}) == 12
    assert {r["state"] for r in runs} == {"to run"}
    assert all(r["out"].startswith(str(tmp_path / "sweep-out" / "runs")) for r in runs)
    assert all_entries(tmp_path) == [spec]


def test_the_default_local_cluster_runs_and_leaves_no_process(runner, tmp_path):
    import psutil

    before = {p.pid for p in psutil.Process().children(recursive=True)}
    spec = tmp_path / "sweep.toml"
    spec.write_text(
        'models = ["mnist-mlp"]\n[[runs]]\ntechnique = "backquery"\nparams = { labels = [1] }\n'
    )
    result = runner.invoke(app, ["sweep", str(spec), "--workers", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "ok 1" in result.stdout
    assert len(run_dirs(next((tmp_path / "sweep-out" / "runs").iterdir()))) == 1
    after = {p.pid for p in psutil.Process().children(recursive=True)}
    assert not _alive(sorted(after - before), wait=15)


def test_bad_cluster_options_are_refused_before_anything(runner, tmp_path):
    spec = tmp_path / "sweep.toml"
    spec.write_text('models = ["mnist-mlp"]\n[[runs]]\ntechnique = "backquery"\n')
    for args, message in (
        (["--cluster", "somewhere"], "--cluster expects local or a scheduler address"),
        (["--cluster", "tcp://127.0.0.1:8786", "--workers", "2"], "--workers sizes the local"),
        (["--workers", "0"], "--workers must be between 1"),
    ):
        result = runner.invoke(app, ["sweep", str(spec), *args])
        assert result.exit_code == 2 and message in result.stderr, result.output
    assert all_entries(tmp_path) == [spec]


def test_importing_kinterp_sweep_imports_neither_dask_nor_tensorflow():
    code = (
        "import sys, kinterp; f = kinterp.sweep; import kinterp.sweeps.spec;"
        "print(callable(f), 'dask' in sys.modules, 'tensorflow' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split() == ["True", "False", "False"], done.stderr


def test_a_models_load_options_reach_its_runs_on_the_workers(tmp_path, address):
    """#25: a SPEC model table's ``input_range`` is how the worker loads that model."""
    spec = {
        "models": ["mnist-mlp", {"model": "mnist-mlp", "input_range": [0, 255]}],
        "runs": [{"technique": "backquery", "params": {"labels": [1]}}],
    }
    manifest = sweep(spec, out=tmp_path / "out", cluster=address)
    assert manifest["summary"]["ok"] == 2, manifest["summary"]
    ranges = sorted(
        tuple(assert_valid_report(tmp_path / "out" / run["report"])["model"]["input_range"])
        for run in manifest["runs"]
    )
    assert ranges == [(0.0, 255.0), (0.01, 1.0)]  # the card's range, and the SPEC's
