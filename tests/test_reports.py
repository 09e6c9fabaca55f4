"""Run directories, report.json against its schema, report.html, the run index, the API."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import threading

import numpy as np
import pytest

import kinterp
from kinterp.cli import app
from kinterp.reporting.rundir import PID_FILE, RunDirectory
from tests.conftest import assert_valid_report, run_dirs


def test_run_writes_a_complete_valid_report(occlusion_plugin, tiny_conv, tmp_path):
    result = kinterp.run("occlusion", str(tiny_conv), out=str(tmp_path), count=3, seed=7)
    report = assert_valid_report(result.path)
    assert report["status"] == "ok" and report["seed"] == 7
    assert report["model"]["sha256"] and report["model"]["kind"] == "conv"
    assert report["params"] == {"patch": 4, "stride": 2, "count": 3}
    assert report["data"]["count"] == 3
    assert {"python", "tensorflow", "keras", "numpy", "platform"} <= set(report["environment"])
    assert {a["kind"] for a in report["artifacts"]} == {"image", "array"}
    assert result.arrays["Occlusion-maps"].shape == (3, 28, 28)
    html = (result.path / "report.html").read_text()
    assert "Occlusion maps" in html and "mean_drop" in html
    assert "http://" not in html and "https://" not in html
    assert "<img" in result._repr_html_()


def test_same_second_runs_get_distinct_directories(tmp_path):
    finals = []

    def make():
        run_dir = RunDirectory(tmp_path, "same", "model")
        (run_dir.path / "marker.txt").write_text("complete")
        finals.append(run_dir.commit())

    threads = [threading.Thread(target=make) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(finals)) == 4
    assert all((f / "marker.txt").is_file() for f in finals)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_temporary_directory_is_hidden_until_commit(tmp_path):
    run_dir = RunDirectory(tmp_path, "t", "m")
    assert run_dir.path.name.startswith(".")
    assert run_dirs(tmp_path) == []
    run_dir.discard()
    assert list(tmp_path.iterdir()) == []


def test_bad_input_inside_a_technique_writes_nothing(runner, occlusion_plugin, tiny_conv, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["run", "occlusion", str(tiny_conv), "--patch", "0", "--out", str(out)]
    )
    assert result.exit_code == 2
    assert "must be at least 1" in result.stderr
    assert not out.exists()


def test_json_output_is_machine_readable(runner, occlusion_plugin, tiny_conv, tmp_path):
    result = runner.invoke(
        app, ["run", "occlusion", str(tiny_conv), "--count", "1", "--out", str(tmp_path), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "ok" and "mean_drop" in data["metrics"]


def test_report_index_links_every_run(runner, occlusion_plugin, tiny_conv, tmp_path):
    for _ in range(2):
        kinterp.run("occlusion", str(tiny_conv), out=str(tmp_path), count=1)
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 0, result.output
    index = (tmp_path / "index.html").read_text()
    assert index.count("<tr data-technique=") == 1  # the same settings twice: one row
    assert index.count("report.html") == 4  # the latest from 3 cells, the earlier run once
    assert "mean_drop" in index and "data:image/png" in index


def test_report_on_missing_directory(runner, tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path / "none")])
    assert result.exit_code == 2 and "no such directory" in result.stderr


def test_signed_images_and_plots(tmp_path):
    from kinterp.reporting.report import ReportBuilder

    builder = ReportBuilder(tmp_path)
    builder.images("maps", np.random.default_rng(0).normal(size=(2, 8, 8)), cmap="diverging")
    builder.line_plot("curve", {"a": [1.0, 2.0, 3.0]}, "step", "value")
    builder.gif("anim", [np.zeros((8, 8)), np.ones((8, 8))])
    builder.table("t", ["x", "y"], [[1, np.float32(2.5)]])
    kinds = [a["kind"] for a in builder.artifacts]
    assert kinds.count("image") == 1 and "plot" in kinds and "animation" in kinds  # one sheet
    assert json.dumps(builder.as_dict())


def test_an_animation_plays_scaled_up_with_sharp_pixels(tmp_path):
    """#24: a 28x28 optimisation plays at 196x196, each pixel a 7x7 block (nearest neighbour)."""
    from PIL import Image, ImageSequence

    from kinterp.reporting.imaging import save_gif

    rng = np.random.default_rng(1)
    frames = [rng.random((28, 28)) for _ in range(3)]
    save_gif(frames, tmp_path / "a.gif")
    with Image.open(tmp_path / "a.gif") as gif:
        shown = [np.asarray(f.convert("L")) for f in ImageSequence.Iterator(gif)]
    assert len(shown) == 3 and shown[0].shape == (196, 196)
    for frame, picture in zip(frames, shown, strict=True):
        expected = np.kron(np.round(frame * 255), np.ones((7, 7)))
        assert np.abs(picture.astype(float) - expected).max() <= 1


def test_a_colour_animation_keeps_its_colours_through_one_shared_palette(tmp_path):
    """RGB frames share one palette: a film of at most 256 colours plays back exactly, each
    pixel a block of the scale factor (96x48 frames play at 5x: 480x240)."""
    from PIL import Image, ImageSequence

    from kinterp.reporting.imaging import GIF_SIDE, save_gif

    rng = np.random.default_rng(2)
    colours = rng.integers(0, 256, size=(200, 3)).astype("uint8")  # 200 distinct colours
    frames = [colours[rng.integers(0, 200, size=(48, 96))] for _ in range(4)]
    save_gif(frames, tmp_path / "rgb.gif", vrange=(0, 255))
    scale = -(-GIF_SIDE // 48)
    with Image.open(tmp_path / "rgb.gif") as gif:
        shown = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(gif)]
    assert len(shown) == 4 and shown[0].shape == (48 * scale, 96 * scale, 3)
    for frame, picture in zip(frames, shown, strict=True):
        np.testing.assert_array_equal(picture, np.repeat(np.repeat(frame, scale, 0), scale, 1))


def test_discarded_run_removes_every_directory_it_created(tmp_path):
    run_dir = RunDirectory(tmp_path / "a" / "b" / "c", "t", "m")
    run_dir.discard()
    assert list(tmp_path.iterdir()) == []


def _temp_dir(root, name: str, owner: str | None):
    path = root / f".20200101-000000-happymap-mnist-mlp.{name}"
    path.mkdir(parents=True)
    (path / "map.png").write_bytes(b"partial")
    if owner is not None:
        (path / PID_FILE).write_text(owner)
    return path


def test_a_killed_runs_directory_is_removed_by_the_next_run(tmp_path):
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    host = socket.gethostname()
    dead = _temp_dir(tmp_path, "dead", f"{finished.stdout.strip()} {host}")
    live = _temp_dir(tmp_path, "live", f"{os.getpid()} {host}")
    elsewhere = _temp_dir(tmp_path, "other-host", f"{finished.stdout.strip()} not-{host}")
    foreign = _temp_dir(tmp_path, "no-pid", None)
    run_dir = RunDirectory(tmp_path, "t", "m")
    assert not dead.exists()
    assert live.exists() and elsewhere.exists() and foreign.exists()
    run_dir.discard()


def test_run_directories_follow_the_umask_and_drop_their_pid_file(tmp_path):
    previous = os.umask(0o027)
    try:
        run_dir = RunDirectory(tmp_path, "t", "m")
        assert (run_dir.path / PID_FILE).read_text().split()[0] == str(os.getpid())
        final = run_dir.commit()
    finally:
        os.umask(previous)
    assert stat.S_IMODE(final.stat().st_mode) == 0o750
    assert list(final.iterdir()) == []


def test_signed_images_get_a_colour_bar_with_their_scale(tmp_path):
    """#24: every diverging block carries a colour bar: RdBu_r from -m to +m, m the maps'
    largest |value| (one number when they share it), drawn under the tiles."""
    from matplotlib import colormaps

    from kinterp.reporting.report import ReportBuilder

    builder = ReportBuilder(tmp_path)
    one = np.array([[[-0.5, 0.25], [0.0, 0.125]]])
    builder.images("one", one, cmap="diverging")
    builder.images("two", np.stack([one[0], 4 * one[0]]), cmap="diverging")
    builder.images("grey", np.zeros((1, 2, 2)))  # grey images have no bar
    sections = {s["title"]: s for s in builder.as_dict()["sections"]}
    bar = sections["one"]["images"][0]["colourbar"]
    assert (bar["low"], bar["high"]) == ("−0.5", "+0.5")
    ends = [colormaps["RdBu_r"](v)[:3] for v in (0.0, 1.0)]
    expected = ["#" + "".join(f"{round(255 * c):02x}" for c in rgb) for rgb in ends]
    assert [bar["colours"][0], bar["colours"][-1]] == expected
    assert "own largest |value|" in sections["two"]["images"][0]["colourbar"]["label"]
    assert "colourbar" not in sections["grey"]["images"][0]


def test_a_runs_heat_maps_show_their_colour_bar(runner, tmp_path):
    """The sensitivity map (signed) of a real run: its bar is in report.json (valid against
    the schema) and drawn in report.html with the map's own scale."""
    args = ["run", "robustness", "mnist-cnn", "--family", "edge", "--edge", "0,1", "--limit"]
    args += ["40", "--sensitivity-images", "20", "--blob", "4", "--stride", "4"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (run_dir,) = run_dirs(tmp_path)
    report = assert_valid_report(run_dir)
    (block,) = [b for s in report["sections"] for b in s["images"] if b["cmap"] == "diverging"]
    drop = np.load(run_dir / block["array"])
    m = kinterp.format_number(float(np.abs(drop).max()) or 1.0, "float")
    assert (block["colourbar"]["low"], block["colourbar"]["high"]) == (f"−{m}", f"+{m}")
    page = (run_dir / "report.html").read_text()
    assert 'class="colourbar"' in page and f"+{m}" in page


def test_small_multiples_lay_out_a_panel_per_family(tmp_path):
    """``panels``: four panels a row of 260 x 200 px (5 -> two rows), each titled, with a line
    per shared series, and two a row for phones; a series of the wrong length is refused."""
    from xml.etree import ElementTree

    from kinterp.reporting.report import ReportBuilder

    builder = ReportBuilder(tmp_path)
    panels = {
        f"f{i}": ([0.0, 1.0, 2.0], {"a": [1, 0.5, 0.2], "b": [1, 0.9, 0.8]}, "px") for i in range(5)
    }
    builder.panels("Accuracy by level", panels, ylabel="accuracy")
    (plot,) = builder.as_dict()["sections"][0]["plots"]
    svg = ElementTree.parse(tmp_path / plot["path"]).getroot()
    tag = "{http://www.w3.org/2000/svg}"
    assert svg.get("width") == "1040" and 400 < int(svg.get("height")) < 450
    titles = [t for t in svg.iter(f"{tag}text") if t.get("font-weight") == "bold"]
    assert [t.text for t in titles] == [f"f{i}" for i in range(5)]
    assert len({t.get("y") for t in titles}) == 2  # two rows
    assert len(list(svg.iter(f"{tag}polyline"))) == 10
    narrow = ElementTree.parse(tmp_path / plot["narrow"]).getroot()  # a phone's layout
    assert narrow.get("width") == "520"
    rows = {t.get("y") for t in narrow.iter(f"{tag}text") if t.get("font-weight") == "bold"}
    assert len(rows) == 3 and len(list(narrow.iter(f"{tag}polyline"))) == 10
    with pytest.raises(ValueError, match="panel 'bad': every series needs 3 values"):
        builder.panels("x", {"bad": ([0, 1, 2], {"a": [1, 2]}, "px")}, ylabel="y")


def test_an_animation_takes_frames_of_mixed_shapes_and_types(tmp_path):
    """Review of #24: each frame is converted on its own (a uint8 frame stays 0..255, a float
    one is scaled by vrange), (H, W, 1) is grey, and a frame of another size is resized."""
    from PIL import Image, ImageSequence

    from kinterp.reporting.imaging import save_gif

    frames = [
        np.full((28, 28), 0.5),
        np.full((28, 28, 1), 1.0),
        np.full((28, 28), 128, dtype=np.uint8),
        np.full((14, 14), 0.25),
    ]
    save_gif(frames, tmp_path / "mixed.gif")
    with Image.open(tmp_path / "mixed.gif") as gif:
        shown = [np.asarray(f.convert("L")) for f in ImageSequence.Iterator(gif)]
    assert [s.shape for s in shown] == [(196, 196)] * 4
    assert [int(np.median(s)) for s in shown] == [128, 255, 128, 64]
