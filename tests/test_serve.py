"""kinterp serve over real HTTP: runs, reports, uploads, cancel, restart, tokens, the web UI.

Each server is a ``kinterp serve`` subprocess on a free loopback port in its own process
group (so its Dask workers can be checked gone, and killed if not). One 2-worker server
serves most tests; the restart and token tests start their own 1-worker servers.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import jsonschema
import pytest

from kinterp.errors import KinterpError
from kinterp.serve.client import Client
from tests.conftest import assert_valid_report

KINTERP = [sys.executable, "-m", "kinterp"]
CHROMIUM = "/usr/lib/chromium/chromium"
QUICK = {"classes": [0, 1], "steps": 16}
LONG = {"classes": list(range(10)), "steps": 100_000}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def group_members(pgid: int) -> list[int]:
    """Live processes in a process group (zombies excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z" and int(fields[2]) == pgid:
                found.append(int(entry.name))
    return found


class Server:
    """A ``kinterp serve`` subprocess in its own session."""

    def __init__(self, out: Path, *args: str, host: str = "127.0.0.1", token: str | None = None):
        self.port = free_port("::1" if host == "::1" else "127.0.0.1")
        self.url = f"http://{'[::1]' if host == '::1' else '127.0.0.1'}:{self.port}"
        self.out = out
        self.token = token
        command = [*KINTERP, "serve", "--out", str(out), "--host", host, "--port", str(self.port)]
        self.log = (out.parent / f"{out.name}-{self.port}.log").open("w")
        self.process = subprocess.Popen(
            command + list(args), stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.pgid = self.process.pid
        self.wait_ready()

    def wait_ready(self, timeout: float = 90) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, Path(self.log.name).read_text()
            try:
                if httpx.get(f"{self.url}/runs", headers=headers).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"server not up: {Path(self.log.name).read_text()}")

    def client(self) -> Client:
        return Client(self.url, token=self.token)

    def kill(self) -> None:
        """SIGKILL the server process only; its workers must then end on their own."""
        self.process.kill()
        self.process.wait()
        deadline = time.monotonic() + 30
        while group_members(self.pgid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert group_members(self.pgid) == [], "workers outlived a SIGKILLed server"

    def stop(self) -> None:
        """SIGTERM (a clean shutdown), then make sure nothing of the group is left."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        deadline = time.monotonic() + 20
        while group_members(self.pgid) and time.monotonic() < deadline:
            time.sleep(0.3)
        left = group_members(self.pgid)
        if left:
            os.killpg(self.pgid, signal.SIGKILL)
        self.log.close()
        assert left == [], "server processes were left behind"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("serve") / "out", "--workers", "2")
    yield srv
    srv.stop()


def report_dir(srv_out: Path, state: dict) -> Path:
    return srv_out / "runs" / state["report"].removeprefix("/reports/").removesuffix("/report.html")


def finished(client: Client, run_id: str, timeout: float = 240) -> dict:
    return client.wait(run_id, timeout=timeout)


def wait_for(client: Client, run_id: str, check, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.status(run_id)
        if check(state):
            return state
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} never got there: {state}")


def raw_get(url: str, path: str) -> int:
    """GET a path exactly as written (httpx would normalise ``../``)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", path)
    status = conn.getresponse().status
    conn.close()
    return status


def test_runs_complete_with_valid_reports(server):
    client = server.client()
    out = Path(server.log.name).parent / "out"
    ids = [
        client.submit({"technique": "happymap", "model": "mnist-cnn", "params": QUICK}),
        client.submit({"technique": "backquery", "model": "mnist-mlp", "seed": 3}),
    ]
    for run_id in ids:
        state = finished(client, run_id)
        assert state["status"] == "ok", state
        assert state["queued_s"] is not None and state["run_s"] > 0
        report = assert_valid_report(report_dir(out, state))
        assert report["spec"]["model_sha256"] == state["spec"]["model_sha256"]
        page = httpx.get(server.url + state["report"])
        assert page.status_code == 200 and "<html" in page.text.lower()
    assert [r["id"] for r in client.runs(technique="backquery")] == ids[1:]
    refused = finished(client, client.submit({"technique": "backquery", "model": "mnist-cnn"}))
    assert refused["status"] == "refused" and refused["report"] is None
    assert refused["error"].startswith("backquery cannot run on mnist-cnn")
    assert {r["status"] for r in client.runs(model="mnist-cnn")} == {"ok", "refused"}
    index = httpx.get(f"{server.url}/reports/index.html")
    assert index.status_code == 200 and "backquery" in index.text


def test_bad_input_is_a_4xx_with_the_cli_message(server):
    post = lambda spec: httpx.post(f"{server.url}/runs", json=spec)  # noqa: E731
    cases = [
        (
            {"technique": "happymap", "model": "mnist-cnn", "params": {"steps": 0}},
            400,
            "--steps must be at least 1, got 0",
        ),
        ({"technique": "hapymap", "model": "mnist-cnn"}, 400, "unknown technique 'hapymap'"),
        ({"technique": "happymap", "model": "/etc/passwd"}, 400, "does not open paths"),
        ({"technique": "happymap", "model": "mnist-cnn", "out": "/tmp"}, 400, "drop it"),
        ({"technique": "happymap", "model": "mnist-cnn", "data": "/tmp"}, 400, "dataset names"),
        ({"technique": "happymap", "model": "mnist-cnn", "bogus": 1}, 400, "unknown key"),
        (
            {"technique": "happymap", "model": "mnist-cnn", "load": {"unsafe": True}},
            403,
            "--allow-unsafe",
        ),
        ({"technique": "predict", "model": "mnist-cnn"}, 403, "kinterp predict locally"),
    ]
    for spec, status, message in cases:
        answer = post(spec)
        assert answer.status_code == status, (spec, answer.text)
        detail = answer.json()["detail"]
        assert message in detail and "\n" not in detail and "Traceback" not in detail
    assert httpx.post(f"{server.url}/runs", content=b"[1]").status_code == 422
    assert httpx.get(f"{server.url}/runs/nope").status_code == 404
    assert httpx.get(f"{server.url}/runs", params={"status": "weird"}).status_code == 400
    big = httpx.post(f"{server.url}/runs", content=b"x" * (2**20 + 1))
    assert big.status_code == 413
    with pytest.raises(KinterpError, match="--steps must be at least 1"):
        server.client().submit(
            {"technique": "happymap", "model": "mnist-cnn", "params": {"steps": 0}}
        )


def test_techniques_give_json_schema_with_bounds(server):
    techniques = server.client().techniques()
    assert "predict" not in techniques
    schema = techniques["happymap"]["params"]
    steps = schema["properties"]["steps"]
    assert steps["type"] == "integer" and steps["minimum"] == 1 and steps["maximum"] == 100_000
    classes = schema["properties"]["classes"]
    assert classes["type"] == ["array", "null"] and classes["items"]["minimum"] == 0
    for technique in techniques.values():
        params = technique["params"]
        jsonschema.Draft202012Validator.check_schema(params)
        defaults = {k: p["default"] for k, p in params["properties"].items()}
        jsonschema.validate(defaults, params)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"steps": 0}, schema)


def test_uploads_are_checked_like_the_cli(server, lambda_model, tiny_conv):
    client = server.client()
    with pytest.raises(KinterpError, match="--allow-unsafe"):
        client.upload(lambda_model)
    answer = httpx.post(f"{server.url}/models", files={"file": ("x.keras", b"not a model")})
    assert answer.status_code == 400 and "not a Keras model" in answer.json()["detail"]
    assert str(Path(server.log.name).parent) not in answer.json()["detail"]
    record = client.upload(tiny_conv)
    assert record["name"] == "tiny_conv.keras" and len(record["model"]) == 64
    assert client.upload(tiny_conv)["model"] == record["model"]  # stored once, by sha256
    assert [m["model"] for m in client.models()["uploaded"]] == [record["model"]]
    assert {m["model"] for m in client.models()["zoo"]} >= {"mnist-cnn", "mnist-mlp"}
    run_id = client.submit({"technique": "happymap", "model": record["model"], "params": QUICK})
    state = finished(client, run_id)
    assert state["status"] == "ok" and state["model"] == "tiny_conv.keras"


def test_cancel_a_running_and_a_queued_run(server):
    client = server.client()
    spec = {"technique": "happymap", "model": "mnist-cnn", "params": LONG}
    running = [client.submit(spec), client.submit(spec)]
    queued = client.submit(spec)
    for run_id in running:
        wait_for(client, run_id, lambda s: s["status"] == "running" and (s["done"] or 0) > 0)
    assert client.status(queued)["status"] == "queued"
    assert client.cancel(queued)["status"] in ("cancelling", "cancelled")
    for run_id in running:
        client.cancel(run_id)
    for run_id in [queued, *running]:
        state = finished(client, run_id, timeout=90)
        assert state["status"] == "cancelled" and state["report"] is None
    time.sleep(1)  # a cancelled run must not leave a report, even a late one
    out = Path(server.log.name).parent / "out" / "runs"
    for run_id in [queued, *running]:
        assert not (out / run_id).exists() or not list((out / run_id).iterdir())
    answer = httpx.delete(f"{server.url}/runs/{running[0]}")
    assert answer.status_code == 409


def test_report_paths_cannot_escape(server):
    for path in (
        "/reports/../jobs.sqlite",
        "/reports/%2e%2e/jobs.sqlite",
        "/reports/..%2fjobs.sqlite",
        "/reports/../../../../etc/passwd",
        "/reports/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    ):
        assert raw_get(server.url, path) == 404, path
    assert httpx.get(f"{server.url}/runs", headers={"Host": "evil.example"}).status_code == 400


def test_cli_runs_on_the_server(server):
    ok = subprocess.run(
        [
            *KINTERP,
            "run",
            "happymap",
            "mnist-cnn",
            "--classes",
            "4",
            "--steps",
            "8",
            "--server",
            server.url,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ok.returncode == 0, ok.stderr
    assert f"report: {server.url}/reports/" in ok.stdout and "running" in ok.stderr
    bad = subprocess.run(
        [*KINTERP, "run", "happymap", "mnist-cnn", "--steps", "0", "--server", server.url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and bad.stderr.strip() == "Error: --steps must be at least 1, got 0"
    down = Client(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(KinterpError, match="cannot reach the kinterp server"):
        down.techniques()


def test_web_ui_launches_a_run_and_opens_its_report(server):
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Chromium: apt-get install chromium (the Debian package)")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            offline = []
            page.on("request", lambda r: r.url.startswith(server.url) or offline.append(r.url))
            page.goto(server.url + "/")
            page.select_option("#technique", "happymap")
            page.select_option("#model", "mnist-cnn")
            page.fill("#param-classes", "2,7")
            page.fill("#param-steps", "3000")
            before = {r["id"] for r in server.client().runs()}
            page.click("#submit")
            row = page.locator("#runs tbody tr", has=page.locator("td", has_text="happymap"))
            expect(page.locator("#runs tbody tr progress").first).to_be_visible(timeout=60_000)
            link = page.locator("#runs tbody tr a.report").first
            expect(link).to_be_visible(timeout=120_000)
            new = [r for r in server.client().runs() if r["id"] not in before]
            assert len(new) == 1 and new[0]["spec"]["params"]["classes"] == [2, 7]
            assert row.count() >= 1
            link.click()
            page.wait_for_url("**/report.html")
            assert "happymap" in page.content()
            page.goto(server.url + "/")
            page.select_option("#technique", "happymap")
            page.fill("#param-classes", "-1")
            page.click("#submit")
            expect(page.locator("#form-error")).to_have_text("--classes must be at least 0, got -1")
            assert offline == []
        finally:
            browser.close()


def test_killed_server_resumes_its_runs_and_full_queue_is_429(tmp_path):
    out = tmp_path / "out"
    srv = Server(out, "--workers", "1", "--max-queue", "2")
    try:
        client = srv.client()
        slow = {"technique": "happymap", "model": "mnist-cnn", "params": {"steps": 1500}}
        first = client.submit(slow)
        second = client.submit({**slow, "params": QUICK})
        answer = httpx.post(f"{srv.url}/runs", json=slow)
        assert answer.status_code == 429 and "queue is full" in answer.json()["detail"]
        wait_for(client, first, lambda s: (s["done"] or 0) > 0, timeout=90)
        srv.kill()
    finally:
        srv.stop()
    srv = Server(out, "--workers", "1")
    try:
        client = srv.client()
        for run_id in (first, second):
            state = finished(client, run_id, timeout=150)
            assert state["status"] == "ok", state
            assert_valid_report(report_dir(out, state))
        assert len([p for p in (out / "runs" / first).iterdir()]) == 1  # no leftovers
    finally:
        srv.stop()


def test_a_non_loopback_bind_needs_the_token(tmp_path):
    token = "t0ken-" + "x" * 20
    (tmp_path / "token").write_text(token + "\n")
    srv = Server(
        tmp_path / "out",
        "--workers",
        "1",
        "--token-file",
        str(tmp_path / "token"),
        host="0.0.0.0",
        token=token,
    )
    try:
        for path in ("/runs", "/techniques", "/reports/index.html", "/", "/docs"):
            answer = httpx.get(srv.url + path)
            assert answer.status_code == 401, path
        assert "Bearer" in answer.headers["www-authenticate"]
        wrong = httpx.get(f"{srv.url}/runs", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert "happymap" in srv.client().techniques()
        with pytest.raises(KinterpError, match="missing or wrong token"):
            Client(srv.url).models()
        login = httpx.get(f"{srv.url}/?token={token}", follow_redirects=False)
        assert login.status_code == 303
        cookies = {"kinterp_token": login.cookies["kinterp_token"]}
        assert httpx.get(f"{srv.url}/runs", cookies=cookies).status_code == 200
    finally:
        srv.stop()


def test_serve_refuses_bad_options(tmp_path):
    cases = [
        (["--port", "70000"], "--port must be between 0 and 65535"),
        (["--cluster", "nowhere"], "--cluster expects local or a scheduler address"),
        (["--token-file", str(tmp_path / "missing")], "cannot read --token-file"),
        (["--max-queue", "0"], "--max-queue must be between"),
        (["--max-uploads", "0"], "--max-uploads must be between"),
        (["--allowed-origin", "evil.example"], "--allowed-origin expects scheme://host"),
    ]
    for args, message in cases:
        done = subprocess.run(
            [*KINTERP, "serve", "--out", str(tmp_path / "o"), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2 and message in done.stderr, done.stderr


def test_web_ui_fits_a_phone_defaults_to_a_run_that_needs_no_data_and_checks_data(server):
    """#24/#25: at 390 px the UI has no sideways scroll; it opens on happymap x mnist-cnn
    (no dataset needed); a technique that reads data is refused before queuing when the
    model's dataset cannot be loaded here (``data_problem``, checked against the loaders)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Chromium: apt-get install chromium (the Debian package)")
    from playwright.sync_api import expect, sync_playwright

    from kinterp.loading.zoo import zoo_models
    from kinterp.plugins import registry

    models = {m["model"]: m for m in server.client().models()["zoo"]}
    for name, zoo in zoo_models().items():
        try:
            registry().datasets[zoo.card["dataset"]][0].load()
            expected = None
        except KinterpError as exc:
            expected = str(exc)
        assert models[name]["data_problem"] == expected, name

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.goto(server.url + "/")
            expect(page.locator("#params .param").first).to_be_visible(timeout=30_000)
            assert page.input_value("#technique") == "happymap"
            assert page.input_value("#model") == "mnist-cnn"
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"the page scrolls sideways: {width} px"
            assert page.locator("#submit").is_enabled()
            # A server without the model's dataset: the API says so, the UI refuses.
            page.evaluate('state.models["mnist-cnn"].data_problem = "mnist-5k is missing"')
            page.select_option("#technique", "robustness")
            expect(page.locator("#data-note")).to_contain_text("mnist-5k is missing")
            assert page.locator("#submit").is_disabled()
            page.select_option("#technique", "happymap")  # reads no data: allowed again
            expect(page.locator("#data-note")).to_have_text("")
            assert page.locator("#submit").is_enabled()
        finally:
            browser.close()


def test_dataset_problem_says_why_a_dataset_cannot_load(monkeypatch, tmp_path):
    from kinterp.serve.admission import dataset_problem

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # no Keras cache: full MNIST is missing
    assert "full MNIST is not in Keras' cache" in dataset_problem("mnist")
    assert str(tmp_path) in dataset_problem("mnist")
    assert dataset_problem("mnist-5k") is None
    assert dataset_problem("no-such-set") == "unknown dataset 'no-such-set'"
