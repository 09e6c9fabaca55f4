"""kinterp serve against hostile HTTP callers (#20), over real HTTP on ``[::1]``.

One 1-worker server bound to ``::1`` (its own printed URL must work) with small bounds
(``--max-queue 6``, two uploads per store, 1 MB uploads) serves every test here; each test
builds its hostile input itself and shows the refusal: a 4xx with a one-line message, nothing
queued or stored, and the same answer whether or not a named server path exists.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import threading
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from kinterp.registry import installed_techniques
from kinterp.serve.admission import LOCAL_ONLY
from kinterp.serve.filestore import FileStore, StoreFull
from kinterp.serve.origins import host_name
from kinterp.settings.params import param_specs
from tests.test_serve import KINTERP, LONG, Server, finished, free_port, raw_get

OTHER_ORIGIN = "http://ok.example:8000"
SLOW = 300  # seconds an upload may take: its check imports TensorFlow in a new process


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    out = tmp_path_factory.mktemp("serve-security") / "out"
    srv = Server(
        out,
        "--workers",
        "1",
        "--max-queue",
        "6",
        "--max-uploads",
        "2",
        "--max-upload-mb",
        "1",
        "--allowed-origin",
        OTHER_ORIGIN,
        host="::1",
    )
    yield srv
    srv.stop()


def png_bytes(width: int = 28, height: int = 28, seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(b"\0" * (width + 1) * 4)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def post(srv: Server, path: str, **kwargs) -> httpx.Response:
    return httpx.post(srv.url + path, timeout=SLOW, **kwargs)


def upload(srv: Server, route: str, name: str, content: bytes, **kwargs) -> httpx.Response:
    return post(srv, route, files={"file": (name, content)}, **kwargs)


def stored(srv: Server) -> dict[str, list[str]]:
    """What the out folder holds: uploads (hidden staging folders too) and run folders."""
    return {
        kind: sorted(p.name for p in (srv.out / kind).iterdir())
        if (srv.out / kind).is_dir()
        else []
        for kind in ("models", "images", "runs")
    }


def one_line(answer: httpx.Response, status: int) -> str:
    assert answer.status_code == status, answer.text
    detail = answer.json()["detail"]
    assert "\n" not in detail and "Traceback" not in detail
    return detail


def test_file_params_never_name_server_paths(server, tmp_path, tiny_conv):
    canary_model = tmp_path / "canary.keras"
    canary_model.write_bytes(tiny_conv.read_bytes())
    canary_image = tmp_path / "canary.png"
    canary_image.write_bytes(png_bytes())
    canary_dir = tmp_path / "canary-data"
    canary_dir.mkdir()
    missing = tmp_path / "missing"
    cases = [  # (a spec naming a server path, the path, the message)
        (lambda p: {"params": {"also": [p]}, "technique": "fooling"}, canary_model, "--also takes"),
        (
            lambda p: {"params": {"compare": p}, "technique": "robustness"},
            canary_model,
            "--compare",
        ),
        (
            lambda p: {"params": {"init": [f" image:{p}"]}, "technique": "happymap"},
            canary_image,
            "",
        ),
        (
            lambda p: {"params": {"init": [f"image:{p}"]}, "technique": "featurevis"},
            canary_image,
            "",
        ),
        (  # the prefix in another letter case is still a file (the technique reads it so)
            lambda p: {"params": {"init": [f"Image:{p}"]}, "technique": "happymap"},
            canary_image,
            "",
        ),
        (lambda p: {"technique": "robustness", "data": p}, canary_dir, "dataset names only"),
        (lambda p: {"technique": "happymap", "model": p}, canary_model, "does not open paths"),
    ]
    before = stored(server)
    runs = httpx.get(f"{server.url}/runs").json()["runs"]
    for build, existing, message in cases:
        answers = []
        for path in (existing, missing / existing.name):
            spec = {"model": "mnist-cnn", **build(str(path))}
            answers.append(one_line(post(server, "/runs", json=spec), 400))
        assert answers[0] == answers[1].replace(str(missing / existing.name), str(existing))
        assert message in answers[0]
        if "params" in build(""):  # a file param's refusal never even echoes the value
            assert answers[0] == answers[1] and "does not open paths" in answers[0]
            assert str(tmp_path) not in answers[0]
    assert stored(server) == before
    assert httpx.get(f"{server.url}/runs").json()["runs"] == runs

    model = upload(server, "/models", "tiny_conv.keras", tiny_conv.read_bytes()).json()["model"]
    image = upload(server, "/images", "digit.png", png_bytes()).json()["image"]
    client = server.client()
    quick = {"classes": [1], "steps": 4, "init": [f"image:{image}", "half"]}
    ids = [
        client.submit({"technique": "happymap", "model": "mnist-cnn", "params": quick}),
        client.submit(
            {
                "technique": "robustness",
                "model": "mnist-cnn",
                "params": {"compare": [model], "limit": 50, "sensitivity_images": 0},
            }
        ),
    ]
    for run_id in ids:
        state = finished(client, run_id)
        assert state["status"] == "ok", state
        assert str(server.out) not in json.dumps(state)  # the run names uploads, not paths
    assert client.status(ids[1])["spec"]["params"]["compare"] == [model]
    unknown = {"technique": "fooling", "model": "mnist-cnn", "params": {"also": ["0" * 64]}}
    assert "does not open paths" in one_line(post(server, "/runs", json=unknown), 400)


def test_the_schema_says_which_params_name_files(server):
    techniques = server.client().techniques()
    files = {
        (name, param): (schema.get("x-file"), schema.get("x-file-prefix"))
        for name, technique in techniques.items()
        for param, schema in technique["params"]["properties"].items()
        if "x-file" in schema
    }
    assert files == {
        ("fooling", "also"): ("model", None),
        ("robustness", "compare"): ("model", None),
        ("happymap", "init"): ("image", "image:"),
        ("sadmap", "init"): ("image", "image:"),
        ("featurevis", "init"): ("image", "image:"),
    }
    also = techniques["fooling"]["params"]["properties"]["also"]["description"]
    assert "POST /models, never a path" in also and "mnist-cnn" in also
    init = techniques["happymap"]["params"]["properties"]["init"]["description"]
    assert "image:SHA256 of an image uploaded with POST /images" in init


def test_every_param_that_names_a_file_is_declared():
    for technique in installed_techniques():
        if technique.name in LOCAL_ONLY:  # never runs on a server (predict)
            continue
        for spec in param_specs(technique.Params):
            if any(word in spec.help for word in ("PATH", "path", "file")):
                assert spec.file is not None, f"{technique.name} {spec.option}: {spec.help}"


def test_uploads_answer_without_server_paths(server, tiny_conv):
    answers = [
        upload(server, "/models", "tiny_conv.keras", tiny_conv.read_bytes()),
        upload(server, "/images", "digit.png", png_bytes()),
        httpx.get(f"{server.url}/models"),
        httpx.get(f"{server.url}/images"),
    ]
    for answer in answers:
        assert answer.status_code in (200, 201), answer.text
        text = answer.text
        assert str(server.out) not in text and ".incoming" not in text and '"path"' not in text
    record = answers[0].json()
    assert {"sha256", "name", "bytes"} <= set(record) and record["name"] == "tiny_conv.keras"
    bad = upload(server, "/models", "x.keras", b"PK\x03\x04 not really a zip")
    assert str(server.out) not in one_line(bad, 400)


def test_hostile_images_are_refused(server):
    before = stored(server)
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(buffer, format="TIFF")
    cases = [
        (b"just text, no pixels", "not an image this server takes"),
        (png_claiming(20_000, 20_000), "this server takes images of 1 to 16,777,216 pixels"),
        (png_claiming(5_000, 5_000), "5000 x 5000 pixels"),  # refused before it is decoded
        (png_bytes()[:60], "truncated or broken"),
        (buffer.getvalue(), "not an image this server takes"),  # TIFF: not a format it decodes
    ]
    for content, message in cases:
        assert message in one_line(upload(server, "/images", "x.png", content), 400)
    assert stored(server) == before


def test_a_hostile_model_is_never_built_in_the_server(server, tmp_path, tiny_dense):
    with zipfile.ZipFile(tiny_dense) as small:
        members = {name: small.read(name) for name in small.namelist()}
    text = members["config.json"].decode()
    text = text.replace("784", "60000").replace('"units": 16', '"units": 60000')
    members["config.json"] = text.encode()  # a 60,000 x 60,000 kernel: 14 GB, in a few kB
    hostile = tmp_path / "huge.keras"
    with zipfile.ZipFile(hostile, "w") as bomb:
        for name, data in members.items():
            bomb.writestr(name, data)
    status = Path(f"/proc/{server.process.pid}/status")
    peak = lambda: int(status.read_text().split("VmHWM:")[1].split()[0]) * 1024  # noqa: E731
    before, held = peak(), stored(server)
    one_line(upload(server, "/models", "huge.keras", hostile.read_bytes()), 400)
    assert peak() - before < 2**30  # the server process never allocated the model
    maps = Path(f"/proc/{server.process.pid}/maps").read_text()
    assert "libtensorflow" not in maps  # nor even imported TensorFlow
    assert stored(server) == held


def test_cross_site_requests_are_refused(server, tiny_conv):
    spec = {"technique": "happymap", "model": "mnist-cnn", "params": {"steps": 0}}
    before = stored(server)
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Referer": "http://evil.example/page.html"},
        {"Referer": f"http://evil.example\\@127.0.0.1:{server.port}/"},  # a browser reads \ as /
        {"Origin": f"http://127.0.0.1:{server.port}"},  # not the Host this request names
    ):
        assert "cross-site request refused" in one_line(
            post(server, "/runs", json=spec, headers=headers), 403
        )
        refused = upload(server, "/models", "m.keras", tiny_conv.read_bytes(), headers=headers)
        assert "cross-site" in one_line(refused, 403)
        assert "cross-site" in one_line(
            upload(server, "/images", "a.png", png_bytes(), headers=headers), 403
        )
        deleted = httpx.delete(f"{server.url}/runs/nope", headers=headers)
        assert "cross-site" in one_line(deleted, 403)
    assert stored(server) == before
    for headers in (
        {},  # curl, kinterp.Client
        {"Origin": server.url},
        {"Referer": f"{server.url}/"},
        {"Origin": OTHER_ORIGIN},
    ):
        assert "--steps must be at least 1" in one_line(
            post(server, "/runs", json=spec, headers=headers), 400
        )
    assert (
        httpx.get(f"{server.url}/runs", headers={"Origin": "http://evil.example"}).status_code
        == 200
    )


def test_upload_stores_are_bounded(server, keras, tmp_path, tiny_conv, tiny_h5):
    before = stored(server)
    big = b"PK" + bytes(2**20)
    assert "over this server's" in one_line(upload(server, "/models", "big.keras", big), 413)
    assert "over this server's" in one_line(upload(server, "/images", "big.png", big), 413)
    assert stored(server) == before
    spare = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(3)]
    )
    spare.save(tmp_path / "spare.keras")
    for route, kind, files in (
        ("/models", "model", [tiny_conv, tiny_h5, tmp_path / "spare.keras"]),
        ("/images", "image", []),
    ):
        contents = [(f.name, f.read_bytes()) for f in files] or [
            (f"{seed}.png", png_bytes(seed=seed)) for seed in range(3)
        ]
        for name, content in contents:  # at most two are kept: the third is refused at last
            before = stored(server)
            answer = upload(server, route, name, content)
            if answer.status_code != 201:
                break
        assert f"the {kind} store is full" in one_line(answer, 507)
        assert stored(server) == before
        assert len(httpx.get(server.url + route).json()["uploaded"]) == 2
        assert upload(server, route, *contents[0]).status_code == 201  # stored ones still answer


def test_file_store_counts_bytes_too(tmp_path):
    store = FileStore(tmp_path / "files", "image", max_count=10, max_bytes=100)
    keep = lambda path: (path, {})  # noqa: E731
    store.save(io.BytesIO(b"x" * 60), "a.bin", keep)
    with pytest.raises(StoreFull, match="image store is full"):
        store.save(io.BytesIO(b"y" * 60), "b.bin", keep)
    assert [r["name"] for r in store.records()] == ["a.bin"]
    assert [p.name for p in (tmp_path / "files").iterdir()] == [store.records()[0]["sha256"]]


def test_queue_admission_is_atomic(server):
    spec = {"technique": "happymap", "model": "mnist-cnn", "params": LONG}
    client = server.client()
    assert not client.runs(status="queued") and not client.runs(status="running")
    barrier = threading.Barrier(32)

    def submit(_: int) -> int:
        with httpx.Client(timeout=SLOW) as http:
            if _ < 32:
                barrier.wait()
            return http.post(f"{server.url}/runs", json=spec).status_code

    with ThreadPoolExecutor(32) as pool:
        codes = list(pool.map(submit, range(300)))
    assert codes.count(202) == 6 and codes.count(429) == 294
    accepted = [r["id"] for r in client.runs() if r["status"] in ("queued", "running")]
    assert len(accepted) == 6
    for run_id in accepted:
        client.cancel(run_id)
    for run_id in accepted:
        assert finished(client, run_id, timeout=120)["status"] == "cancelled"


def test_one_server_per_out_folder(server):
    second = subprocess.run(
        [*KINTERP, "serve", "--out", str(server.out), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 2
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and str(server.out) in lines[0]
    assert f"pid {server.process.pid}" in lines[0]
    assert httpx.get(f"{server.url}/runs").status_code == 200


def test_the_ipv6_url_it_prints_works_and_other_hosts_do_not(server):
    port = server.port
    assert httpx.get(f"http://[::1]:{port}/runs").status_code == 200
    for host, status in (
        (f"[::1]:{port}", 200),
        (f"localhost:{port}", 200),
        ("[::1]", 200),
        (f"evil.example:{port}", 400),
        (f"[::2]:{port}", 400),
        (f"[::1]x:{port}", 400),
        (f"::1:{port}", 400),
    ):
        answer = httpx.get(f"{server.url}/runs", headers={"Host": host})
        assert answer.status_code == status, host
    assert [host_name(h) for h in ("[0:0::1]:80", "LocalHost", "127.0.0.1:1")] == [
        "::1",
        "localhost",
        "127.0.0.1",
    ]


def test_reports_hide_dot_files_and_runs_being_written(server):
    runs = server.out / "runs"
    (runs / ".secret").write_text("not for clients")
    partial = runs / "20990101-000000-abcdef" / ".20990101-000000-happymap-mnist-cnn.x1y2"
    partial.mkdir(parents=True)
    (partial / "report.html").write_text("<html>half written</html>")
    (partial / "index.html").write_text("<html>half written</html>")
    for path in (
        "/reports/.secret",
        "/reports/%2esecret",
        "/reports/20990101-000000-abcdef/.20990101-000000-happymap-mnist-cnn.x1y2/report.html",
        "/reports/20990101-000000-abcdef/.20990101-000000-happymap-mnist-cnn.x1y2/",
        "/reports/20990101-000000-abcdef/%2e20990101-000000-happymap-mnist-cnn.x1y2/report.html",
    ):
        assert raw_get(server.url, path) == 404, path
    assert raw_get(server.url, "/reports/index.html") == 200
