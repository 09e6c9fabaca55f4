"""Benchmark ``kinterp serve``: a warm server against cold ``kinterp run`` processes.

1. Latency: happymap on mnist-cnn (10 classes, 128 steps) from ``POST /runs`` to its report
   complete on a warm server (median of 5, after one warm-up run), against the same run as
   a fresh ``kinterp run`` process (median of 3). Goal: <= 0.3x.
2. Throughput: 20 small runs (happymap, 2 classes, 32 steps, seeds 0..19) submitted at once
   to a 2-worker server, against 20 ``kinterp run`` processes one after another, in runs
   per minute.

Writes ``benchmarks/results/serve.json`` (see ``results_file.py``).

    .venv/bin/python benchmarks/bench_serve.py [--workers 2] [--runs 20] [--note TEXT]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import Recorder, arguments

from kinterp.serve.client import Client

WHAT = (
    "kinterp serve: happymap latency on a warm server vs a cold `kinterp run` process, and "
    "throughput of a burst of small runs on warm workers vs CLI processes one after another"
)

LATENCY = {"classes": list(range(10)), "steps": 128}
SMALL = {"classes": [0, 1], "steps": 32}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cli(params: dict, seed: int, out: Path) -> None:
    classes = ",".join(map(str, params["classes"]))
    command = [sys.executable, "-m", "kinterp", "run", "happymap", "mnist-cnn", "--quiet"]
    command += ["--classes", classes, "--steps", str(params["steps"]), "--seed", str(seed)]
    subprocess.run(command + ["--out", str(out)], check=True, capture_output=True)


def _timed(action) -> float:
    clock = time.perf_counter()
    action()
    return time.perf_counter() - clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20)
    arguments(parser)
    args = parser.parse_args()
    settings = {"workers": args.workers, "runs": args.runs, "latency": LATENCY, "small": SMALL}
    recorder = Recorder("serve", WHAT, settings, args.note, args.results)
    with recorder:
        recorder.figures = measure(args)


def measure(args) -> dict:
    """Start a server, time both parts, print and return the figures."""
    folder = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "kinterp", "serve", "--out", str(folder / "serve")]
        + ["--port", str(port), "--workers", str(args.workers), "--max-queue", "1000"],
        stderr=subprocess.DEVNULL,
    )
    try:
        client = Client(f"http://127.0.0.1:{port}")
        while True:
            try:
                client.techniques()
                break
            except Exception:
                time.sleep(0.2)
        spec = {"technique": "happymap", "model": "mnist-cnn", "params": LATENCY}
        for _ in range(args.workers):  # warm every worker (TensorFlow, tracing)
            client.wait(client.submit(spec))

        def served() -> None:
            state = client.wait(client.submit(spec), poll=0.02)
            assert state["status"] == "ok", state

        starts = []
        warm = []
        for _ in range(5):
            warm.append(_timed(served))
            starts.append(client.runs()[0]["queued_s"])
        cold = [_timed(lambda: _cli(LATENCY, 0, folder / "cli")) for _ in range(3)]
        ratio = statistics.median(warm) / statistics.median(cold)
        print(
            f"latency: warm server {statistics.median(warm):.2f}s (started computing after "
            f"{statistics.median(starts) * 1000:.0f} ms) vs cold CLI "
            f"{statistics.median(cold):.2f}s: {ratio:.2f}x (goal <= 0.3)"
        )

        def burst() -> None:
            ids = [
                client.submit({**spec, "params": SMALL, "seed": seed}) for seed in range(args.runs)
            ]
            assert all(client.wait(i)["status"] == "ok" for i in ids)

        served_s = _timed(burst)

        def serial() -> None:
            for seed in range(args.runs):
                _cli(SMALL, seed, folder / "cli-serial")

        serial_s = _timed(serial)
        print(
            f"throughput: {args.runs} runs on {args.workers} warm workers "
            f"{60 * args.runs / served_s:.1f} runs/min ({served_s:.1f}s) vs "
            f"{60 * args.runs / serial_s:.1f} runs/min ({serial_s:.1f}s) as CLI processes: "
            f"{serial_s / served_s:.1f}x"
        )
        return {
            "warm_server_s": statistics.median(warm),
            "started_computing_after_s": statistics.median(starts),
            "cold_cli_s": statistics.median(cold),
            "latency_ratio": ratio,
            "goal_latency_ratio": 0.3,
            "burst_server_s": served_s,
            "burst_cli_s": serial_s,
            "server_runs_per_min": 60 * args.runs / served_s,
            "cli_runs_per_min": 60 * args.runs / serial_s,
            "throughput_ratio": serial_s / served_s,
        }
    finally:
        server.terminate()
        server.wait(60)


if __name__ == "__main__":
    main()
