"""A sweep on a real Dask deployment that shares nothing with the client but the scheduler (#25).

``dask scheduler`` and ``dask worker`` are started with Dask's own CLI as separate processes
on free loopback ports. The worker has its own working directory, TMPDIR and
``--local-directory``; where the kernel allows unprivileged namespaces (``unshare``), it also
runs in its own mount namespace with the client's folder hidden under an empty tmpfs, as it
would be on another machine. The sweep runs a model file only the client has, plus a zoo
model; every report must arrive, valid, under the client's out folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from kinterp.cli import app
from kinterp.loading.modelfile import sha256_of
from tests.conftest import assert_valid_report

DASK = Path(sys.executable).with_name("dask")
SPEC = """\
seeds = [0, 1]
models = ["my_model.keras", "mnist-mlp"]

[[runs]]
technique = "happymap"
params = { steps = 4, classes = [0] }
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _can_hide(folder: Path) -> bool:
    """True if an unprivileged mount namespace can put a tmpfs over ``folder`` here."""
    probe = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c"]
    try:
        done = subprocess.run(
            [*probe, f'mount -t tmpfs none "{folder}" && test ! -e "{folder}/probe"'],
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _start(command: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    """A process in its own session (so teardown ends it and its children), own TMPDIR."""
    (cwd / "tmp").mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "TMPDIR": str(cwd / "tmp"),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }
    env.pop("PYTHONPATH", None)  # the worker imports kinterp as installed, not from the client
    with log.open("wb") as out:
        return subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(process: subprocess.Popen) -> None:
    """End the process group we started: SIGTERM, then SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """(scheduler address, client folder, worker folder, whether the client's folder is hidden
    from the worker); the scheduler and worker processes are ended afterwards."""
    from distributed import Client

    base = tmp_path_factory.mktemp("deployment")
    client_dir, worker_dir, scheduler_dir = (base / n for n in ("client", "worker", "scheduler"))
    for folder in (client_dir, worker_dir, scheduler_dir):
        folder.mkdir()
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = _start(
        [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        scheduler_dir,
        scheduler_dir / "log.txt",
    )
    processes = [scheduler]
    try:
        worker = [str(DASK), *worker_argv(address, worker_dir)]
        hidden = _can_hide(client_dir)
        if hidden:  # the client's folder is an empty tmpfs in the worker's mount namespace
            mask = 'mount -t tmpfs none "$0" && exec "$@"'
            namespace = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", mask]
            worker = [*namespace, str(client_dir), *worker]
        processes.append(_start(worker, worker_dir, worker_dir / "log.txt"))
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(1, timeout=120)
        yield address, client_dir, worker_dir, hidden
    finally:
        for process in reversed(processes):
            _stop(process)
        for process in processes:
            assert process.poll() is not None, "a Dask process was left running"


def worker_argv(address: str, worker_dir: Path) -> list[str]:
    """``dask worker`` arguments (after the program name)."""
    return [
        "worker",
        address,
        "--nworkers",
        "1",
        "--nthreads",
        "1",
        "--no-dashboard",
        "--local-directory",
        str(worker_dir / "dask"),
    ]


@pytest.fixture
def client_model(keras, deployment) -> Path:
    """A tiny Keras model saved only under the client's folder."""
    _, client_dir, _, _ = deployment
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(2, 3, activation="relu", name="conv"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(10, name="logits"),
        ]
    )
    path = client_dir / "my_model.keras"
    model.save(path)
    return path


def _sweep(runner, spec: Path, text: str, address: str, out: Path) -> dict:
    """Write the SPEC, run it on the cluster, return its summary (the sweep must succeed)."""
    spec.write_text(text)
    result = runner.invoke(
        app, ["sweep", str(spec), "--cluster", address, "--out", str(out), "--json", "-q"]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["summary"]


def test_a_sweep_of_a_client_only_model_comes_back_whole(deployment, client_model, runner):
    from distributed import Client

    address, client_dir, worker_dir, hidden = deployment
    with Client(address, timeout="60s") as probe:
        (cwd,) = probe.run(os.getcwd).values()
        (tmp,) = probe.run(tempfile.gettempdir).values()
        (sees_model,) = probe.run(os.path.exists, str(client_model)).values()
    assert Path(cwd) == worker_dir and Path(tmp) == worker_dir / "tmp"
    assert Path(cwd) != Path.cwd() and Path(tmp) != Path(tempfile.gettempdir())
    assert not Path(tmp).is_relative_to(client_dir) and not client_model.is_relative_to(tmp)
    if hidden:
        assert not sees_model, "the worker can see the client's folder"

    out = client_dir / "out"
    summary = _sweep(runner, client_dir / "sweep.toml", SPEC, address, out)
    assert summary["ok"] == 4 and summary["total"] == 4, summary

    reports = sorted(p.parent for p in (out / "runs").glob("*/*/report.json"))
    assert len(reports) == 4
    found = [assert_valid_report(r) for r in reports]
    by_model: dict[str, list[dict]] = {}
    for report in found:
        by_model.setdefault(report["spec"]["model"], []).append(report)
    assert sorted(by_model) == sorted([str(client_model.resolve()), "mnist-mlp"])
    for report in by_model[str(client_model.resolve())]:
        assert report["model"]["sha256"] == sha256_of(client_model)
        assert report["model"]["path"] == str(client_model.resolve())
    for report in found:  # the report names the client's folder, not the worker's
        assert Path(report["spec"]["out"]).is_relative_to(out)
        assert str(worker_dir) not in json.dumps(report["spec"])
    assert {r["seed"] for r in found} == {0, 1}

    manifest = json.loads((out / "sweep.json").read_text())
    assert {r["status"] for r in manifest["runs"]} == {"ok"}
    for run in manifest["runs"]:
        assert (out / run["report"] / "report.html").is_file()

    # The model travelled to the worker's own folder; the worker kept no report.
    cached = list(worker_dir.rglob(f"{sha256_of(client_model)}/my_model.keras"))
    assert cached, "the model file did not arrive in the worker's folder"
    assert not list(worker_dir.rglob("report.json"))
    assert not list(worker_dir.rglob("*.part"))

    again = runner.invoke(
        app, ["sweep", str(client_dir / "sweep.toml"), "--cluster", address, "--out", str(out)]
    )
    assert again.exit_code == 0, again.output
    assert json.loads((out / "sweep.json").read_text())["summary"]["skipped"] == 4


FILE_PARAMS_SPEC = """\
seeds = [0]

[[runs]]
technique = "happymap"
models = ["mnist-cnn"]
params = { steps = 2, classes = [3], init = ["image:starts/start.png"] }

[[runs]]
technique = "robustness"
models = ["mnist-cnn"]
data = "mnist-5k"

[runs.params]
limit = 20
family = ["edge"]
edge = [0, 2]
sensitivity_images = 0
compare = ["my_model.keras"]
"""


def test_the_files_a_sweeps_params_name_travel_too(deployment, client_model, runner):
    """#25: ``--init image:PATH`` and ``--compare PATH`` in a SPEC name client-only files
    (relative to the SPEC); they reach the worker by content and the reports name the
    client's paths."""
    from PIL import Image

    address, client_dir, worker_dir, _ = deployment
    start = client_dir / "starts" / "start.png"
    start.parent.mkdir(exist_ok=True)
    pixels = (np.arange(28 * 28).reshape(28, 28) % 251).astype("uint8")
    Image.fromarray(pixels, "L").save(start)
    out = client_dir / "files-out"
    summary = _sweep(runner, client_dir / "files.toml", FILE_PARAMS_SPEC, address, out)
    assert summary["ok"] == 2, summary
    reports = {
        r["technique"]["name"]: r
        for r in (assert_valid_report(p.parent) for p in (out / "runs").glob("*/*/report.json"))
    }
    assert reports["happymap"]["spec"]["params"]["init"] == [f"image:{start.resolve()}"]
    assert reports["robustness"]["spec"]["params"]["compare"] == [str(client_model.resolve())]
    summary = json.dumps(reports["robustness"]["sections"][0])
    assert "my_model" in summary, summary  # the compared model was loaded on the worker
    assert list(worker_dir.rglob(f"{sha256_of(start)}/start.png")), "the image did not travel"
    assert str(worker_dir) not in json.dumps([r["spec"] for r in reports.values()])


def test_kinterp_serve_on_a_cluster_that_shares_no_disk(deployment, client_model, tmp_path):
    """#25: ``kinterp serve --cluster tcp://...``: an uploaded model reaches the remote worker
    by content and the report comes back under the server's out folder, whole."""
    from tests.test_serve import Server, report_dir

    address, _, worker_dir, _ = deployment
    server = Server(tmp_path / "out", "--cluster", address)
    try:
        client = server.client()
        uploaded = client.upload(client_model)["model"]
        ids = [
            client.submit(
                {"technique": "happymap", "model": model, "params": {"steps": 4, "classes": [1]}}
            )
            for model in (uploaded, "mnist-mlp")
        ]
        for run_id in ids:
            state = client.wait(run_id, timeout=240)
            assert state["status"] == "ok", state
            run_dir = report_dir(tmp_path / "out", state)
            report = assert_valid_report(run_dir)
            for artifact in report["artifacts"]:
                if "sha256" in artifact:
                    data = (run_dir / artifact["path"]).read_bytes()
                    assert hashlib.sha256(data).hexdigest() == artifact["sha256"]
            assert str(worker_dir) not in json.dumps(report["spec"])
        assert not list(worker_dir.rglob("report.json")), "the worker kept a report"
    finally:
        server.stop()
