"""What travels between a sweep's client and its workers (#25): files by content, each
written once under its sha256 and checked on arrival; reports packed and checked on their way
back; caps refused in one line naming the SPEC line."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from kinterp.errors import KinterpError
from kinterp.loading.modelfile import sha256_of
from kinterp.registry import find_technique
from kinterp.settings.runspec import RunSpec
from kinterp.sweeps import plan_sweep, sweep, transport
from kinterp.sweeps.transport import Shipment, materialize, pack, pack_report, receive_report
from tests.conftest import all_entries, assert_valid_report

DATA = Path(__file__).resolve().parents[1] / "kinterp" / "data" / "mnist_5k.npz"


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".")]


@pytest.mark.parametrize("fixture", ["tiny_conv", "tiny_savedmodel"])
def test_a_model_file_or_savedmodel_folder_arrives_whole_and_is_written_once(
    fixture, request, tmp_path
):
    source = request.getfixturevalue(fixture)
    shipment, data = pack(source, transport.MODEL_CAP, "model")
    assert shipment.sha256 == sha256_of(source) and shipment.folder == source.is_dir()
    arrived = materialize(shipment, data, tmp_path / "worker")
    assert arrived == tmp_path / "worker" / shipment.sha256 / source.name
    assert sha256_of(arrived) == shipment.sha256
    again = materialize(shipment, data, tmp_path / "worker")
    assert again == arrived and not _leftovers(tmp_path / "worker")


def test_bytes_that_do_not_match_their_sha256_are_refused_and_leave_nothing(tiny_conv, tmp_path):
    shipment, data = pack(tiny_conv, transport.MODEL_CAP, "model")
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0xFF
    with pytest.raises(KinterpError, match="arrived damaged"):
        materialize(shipment, bytes(damaged), tmp_path)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_an_archive_member_that_leaves_its_folder_is_refused(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    shipment = Shipment("0" * 64, "model", True, len(buffer.getvalue()))
    with pytest.raises(KinterpError, match="unsafe archive member '../escaped.txt'"):
        materialize(shipment, buffer.getvalue(), tmp_path / "w")
    assert not (tmp_path / "escaped.txt").exists() and not _leftovers(tmp_path)


def _report_dir(tmp_path: Path) -> Path:
    run = tmp_path / "worker" / "20260101-000000-happymap-m"
    (run / "arrays").mkdir(parents=True)
    (run / "notes.json").write_text('{"status": "ok"}')
    (run / "arrays" / "maps.npy").write_bytes(bytes(range(256)) * 8)
    return run


def test_a_report_comes_back_with_every_file_checked(tmp_path):
    run = _report_dir(tmp_path)
    archive, sums = pack_report(run)
    assert set(sums) == {"notes.json", "arrays/maps.npy"}
    first = receive_report(archive, sums, tmp_path / "out", run.name)
    second = receive_report(archive, sums, tmp_path / "out", run.name)
    assert first.name == run.name and second.name == f"{run.name}-2"
    for relative in sums:
        assert (first / relative).read_bytes() == (run / relative).read_bytes()
    assert not _leftovers(tmp_path / "out")


@pytest.mark.parametrize("damage", ["content", "missing", "extra"])
def test_a_damaged_or_incomplete_report_is_refused_and_nothing_is_kept(damage, tmp_path):
    run = _report_dir(tmp_path)
    archive, sums = pack_report(run)
    if damage == "content":
        sums = {**sums, "notes.json": "0" * 64}
    elif damage == "missing":
        sums = {**sums, "arrays/other.npy": "0" * 64}
    else:
        sums = {k: v for k, v in sums.items() if k != "arrays/maps.npy"}
    with pytest.raises(KinterpError, match="arrived damaged or incomplete"):
        receive_report(archive, sums, tmp_path / "out", run.name)
    assert list((tmp_path / "out").iterdir()) == []


def test_a_worker_cannot_name_a_report_outside_the_folder(tmp_path):
    archive, sums = pack_report(_report_dir(tmp_path))
    for name in ("../up", ".hidden", ""):
        with pytest.raises(KinterpError, match="refused"):
            receive_report(archive, sums, tmp_path / "out", name)


def test_data_over_the_cap_is_refused_naming_its_line(monkeypatch, runner, tmp_path):
    from kinterp.cli import app

    monkeypatch.setattr(transport, "DATA_CAP", 1000)
    shutil.copyfile(DATA, tmp_path / "digits.npz")
    spec = tmp_path / "sweep.toml"
    spec.write_text(
        'models = ["mnist-mlp"]\n[[runs]]\ntechnique = "robustness"\ndata = "digits.npz"\n'
    )
    result = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    error = result.stderr.strip()
    assert len(error.splitlines()) == 1, error
    assert "sweep.toml, line 4: dataset " in error and "over the 1,000 bytes" in error, error
    assert "a sweep sends to each worker" in error and "register it as a named dataset" in error
    assert sorted(all_entries(tmp_path)) == sorted([spec, tmp_path / "digits.npz"])


def test_a_model_over_the_cap_is_refused_but_a_zoo_model_travels_by_name(
    monkeypatch, tiny_conv, tmp_path
):
    monkeypatch.setattr(transport, "MODEL_CAP", 100)
    spec = {"models": ["mnist-mlp"], "runs": [{"technique": "happymap"}]}
    assert len(plan_sweep(spec, out=tmp_path / "out").runs) == 1
    with pytest.raises(KinterpError, match="over the 100 bytes a sweep sends to each worker"):
        plan_sweep({**spec, "models": [str(tiny_conv)]}, out=tmp_path / "out")


def test_a_dataset_named_by_path_travels_by_content(tmp_path):
    """A local cluster uses the same transport: the run reads the sent copy, and its report
    names the client's path."""
    data = tmp_path / "client" / "digits.npz"
    data.parent.mkdir()
    shutil.copyfile(DATA, data)
    params = {"family": ["edge"], "edge": [0, 1], "limit": 50, "sensitivity_images": 10}
    spec = {
        "models": ["mnist-mlp"],
        "runs": [{"technique": "robustness", "data": str(data), "params": params}],
    }
    manifest = sweep(spec, out=tmp_path / "out", workers=1)
    assert manifest["summary"]["ok"] == 1, manifest["runs"]
    run = manifest["runs"][0]
    report = assert_valid_report(tmp_path / "out" / run["report"])
    assert report["spec"]["data"] == str(data) == run["data"]
    assert report["spec"]["out"] == str(tmp_path / "out" / "runs" / run["key"][:16])
    assert json.loads((tmp_path / "out" / "sweep.json").read_text())["summary"]["ok"] == 1


class _FakeFuture:
    def __init__(self):
        self.released = False

    def release(self):
        self.released = True


class _FakeClient:
    def __init__(self):
        self.scattered: list[_FakeFuture] = []

    def scatter(self, data, hash=True):
        self.scattered.append(_FakeFuture())
        return self.scattered[-1]


def test_each_file_is_sent_once_held_within_the_budget_and_released_after_its_last_run(
    monkeypatch, tiny_conv, tiny_dense, tmp_path
):
    largest = max(tiny_conv.stat().st_size, tiny_dense.stat().st_size)
    monkeypatch.setattr(transport, "SEND_BUDGET", largest + 10)  # one file at a time
    copy = tmp_path / "same.keras"
    shutil.copyfile(tiny_conv, copy)
    client = _FakeClient()
    shipper = transport.Shipper(client)
    conv = sha256_of(tiny_conv)
    params = find_technique("happymap")[0].Params

    def spec(model, sha256=None, data=None):
        return RunSpec("happymap", model, data=data, model_sha256=sha256)

    first = shipper.inputs(spec(str(tiny_conv), conv), params)
    second = shipper.inputs(spec(str(copy), conv, "mnist-5k"), params)  # same bytes: once
    zoo = shipper.inputs(spec("mnist-mlp", None, "mnist-5k"), params)  # names travel as names
    assert len(client.scattered) == 1 and zoo == {}
    assert shipper.fits(spec(str(copy)), params) and not shipper.fits(spec(str(tiny_dense)), params)
    shipper.done(first)
    assert not client.scattered[0].released
    shipper.done(second)
    assert client.scattered[0].released and shipper.fits(spec(str(tiny_dense)), params)
    with pytest.raises(KinterpError, match="has changed since the sweep was planned"):
        shipper.inputs(spec(str(tiny_dense), conv), params)


def test_the_files_a_runs_params_name_travel_and_the_run_points_at_the_workers_copies(tmp_path):
    other, start = tmp_path / "other.keras", tmp_path / "start.png"
    robustness = find_technique("robustness")[0].Params
    happymap = find_technique("happymap")[0].Params
    compare = RunSpec(
        "robustness", "mnist-cnn", {"compare": [str(other), "mnist-mlp"]}, data=str(DATA)
    )
    init = RunSpec("happymap", str(tmp_path / "m.keras"), {"init": f"uniform,IMAGE:{start}"})

    sent = [(path, what) for path, _, what in transport.sent_files(compare, robustness)]
    assert sent == [(str(DATA), "dataset"), (str(other), "--compare model")]
    sent = [(path, what) for path, _, what in transport.sent_files(init, happymap)]
    assert sent == [(init.model, "model"), (str(start), "--init image")]

    paths = {str(other): "/w/a/other.keras", str(DATA): "/w/b/d.npz", str(start): "/w/c/s.png"}
    local = transport.local_spec(compare, robustness, paths)
    assert local.params == {"compare": ["/w/a/other.keras", "mnist-mlp"]}
    assert local.data == "/w/b/d.npz" and local.model == "mnist-cnn"
    local = transport.local_spec(init, happymap, paths)
    assert local.params == {"init": ["uniform", "image:/w/c/s.png"]}
    assert local.model == init.model  # not in the mapping: unchanged
