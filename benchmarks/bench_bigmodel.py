"""Every technique's defaults on a MobileNetV2 (alpha 0.35, 96x96x3, 10 classes), through the CLI.

Issues #22 and #27: each technique's defaults must finish on this model in at most 3 minutes
on 2 cores. In a temporary folder (nothing is downloaded) the script builds

- the model: ``keras.applications.MobileNetV2(alpha=0.35, input_shape=(96, 96, 3),
  weights=None, classes=10)``, seeded, fitted for 2 epochs (batch 20) on 1,000 images from
  the generator below (another seed) with its BatchNormalization momentum lowered to 0.5, so
  that in inference mode it classifies (about 75% of the folder) instead of giving every
  image the same output; saved as ``.keras``;
- a folder of 60 RGB 96x96 PNGs in class sub-folders 0..9 (6 per class): a class colour,
  stripes at a class angle and noise, from a fixed seed;

then runs ``kinterp run TECHNIQUE MODEL [--data FOLDER] --out DIR --quiet`` once per
technique in a fresh process (``--data`` only for techniques that read data; happymap and
backquery refuse it) and times it from the outside: wall-clock seconds including the
process's start, TensorFlow's import and the model load, next to the run's own
``duration_s`` from its report.json. backquery runs Dense networks only, so on this model it
must refuse with one line (exit 2): the table records the refusal and its message.

Prints a table and writes ``benchmarks/results/bigmodel.json`` (seconds per technique, exit
codes, machine: cores, load average before and after, Python / TensorFlow / Keras versions,
the date and the git commit).

    .venv/bin/python benchmarks/bench_bigmodel.py [--only attribution,featurevis]
        [--keep DIR] [--timeout SECONDS] [--note TEXT] [--results PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from results_file import SHARED_NOTE, arguments, machine, write

TECHNIQUES = ("happymap", "featurevis", "robustness", "fooling", "datastats", "attribution")
REFUSES = ("backquery",)  # Dense networks only: must refuse this conv model with one line
RECORDED = {  # how each technique scaled itself to the model, from its report's metrics
    "attribution": ("score_cam", "sanity_stages", "sanity_weighted_layers", "best_method"),
    "featurevis": ("units_sampled", "structured_fraction"),
}
LIMIT_S = 180.0  # the goal of #22 / #27 per technique on 2 cores
SIDE, CLASSES, PER_CLASS = 96, 10, 6
TRAIN_PER_CLASS = 100


def class_images(rng: np.random.Generator, label: int, count: int = PER_CLASS) -> np.ndarray:
    """(count, SIDE, SIDE, 3) uint8: the class's colour, stripes at its angle, noise."""
    hue = np.array([label / CLASSES, 1.0 - label / CLASSES, (label % 3) / 2.0])
    colour = 0.25 + 0.75 * hue
    angle = np.pi * label / CLASSES
    y, x = np.mgrid[0:SIDE, 0:SIDE] / SIDE
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * 6 * (x * np.cos(angle) + y * np.sin(angle)))
    noise = rng.random((count, SIDE, SIDE, 3))
    images = 0.6 * colour * stripes[None, ..., None] + 0.4 * noise
    return np.clip(np.round(255 * images), 0, 255).astype(np.uint8)


def write_folder(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """60 PNGs in root/0..9/; returns the images (in [0, 1]) and their labels."""
    from PIL import Image

    rng = np.random.default_rng(2227)
    images, labels = [], []
    for label in range(CLASSES):
        (root / str(label)).mkdir(parents=True)
        batch = class_images(rng, label)
        for index, image in enumerate(batch):
            Image.fromarray(image, "RGB").save(root / str(label) / f"{index:02d}.png")
        images.append(batch)
        labels += [label] * len(batch)
    return np.concatenate(images).astype("float32") / 255.0, np.array(labels)


def build_model(path: Path, images: np.ndarray, labels: np.ndarray) -> dict:
    """The seeded MobileNetV2, fitted 2 epochs on 1,000 generated images, saved to ``path``;
    its accuracy on the folder's ``images`` in inference mode."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    rng = np.random.default_rng(1)
    train = np.concatenate([class_images(rng, c, TRAIN_PER_CLASS) for c in range(CLASSES)])
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(
        alpha=0.35, input_shape=(SIDE, SIDE, 3), weights=None, classes=CLASSES
    )
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.5  # moving statistics that follow 100 steps of training
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    clock = time.perf_counter()
    history = model.fit(
        train.astype("float32") / 255.0,
        np.repeat(np.arange(CLASSES), TRAIN_PER_CLASS),
        epochs=2,
        batch_size=20,
        verbose=0,
    )
    predicted = model.predict(images, verbose=0).argmax(axis=1)
    model.save(path)
    return {
        "name": model.name,
        "parameters": int(model.count_params()),
        "layers": len(model.layers),
        "weighted_layers": sum(1 for layer in model.layers if layer.weights),
        "last_conv_channels": int(model.get_layer("Conv_1").output.shape[-1]),
        "fit": f"2 epochs on {CLASSES * TRAIN_PER_CLASS:,} generated images, batch 20, Adam, "
        "seed 0, BatchNormalization momentum 0.5",
        "fit_accuracy": float(history.history["accuracy"][-1]),
        "folder_accuracy": float((predicted == labels).mean()),
        "fit_seconds": round(time.perf_counter() - clock, 1),
        "file_bytes": path.stat().st_size,
    }


def run_one(technique: str, model: Path, data: Path, out: Path, timeout: float) -> dict:
    """One CLI run, timed from outside: seconds, exit code, report duration, or its refusal."""
    from kinterp.registry import find_technique

    reads_data = find_technique(technique)[0].reads_data
    command = [sys.executable, "-m", "kinterp", "run", technique, str(model)]
    command += ["--data", str(data)] if reads_data else []
    command += ["--out", str(out / technique), "--quiet"]
    clock = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"seconds": None, "exit_code": None, "outcome": f"not finished in {timeout:g} s"}
    seconds = round(time.perf_counter() - clock, 1)
    row: dict = {"seconds": seconds, "exit_code": done.returncode, "data": reads_data}
    reports = sorted((out / technique).glob("*/report.json"))
    if reports:
        report = json.loads(reports[-1].read_text())
        row["report_duration_s"] = report.get("duration_s")
        row["status"] = report.get("status")
        row["verdict"] = (report.get("summary") or {}).get("verdict")
        metrics = report.get("metrics") or {}
        row["metrics"] = {k: metrics[k] for k in RECORDED.get(technique, ()) if k in metrics}
    if done.returncode == 0:
        row["outcome"] = "ok" if row.get("status") == "ok" else f"report {row.get('status')}"
    elif done.returncode == 2:
        row["outcome"] = "refused"
        row["message"] = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    else:
        row["outcome"] = f"exit {done.returncode}"
        row["stderr_tail"] = done.stderr.strip()[-2000:]
    return row


def table(rows: dict[str, dict]) -> str:
    """The printed table: technique, seconds, the run's own seconds, outcome."""
    lines = [f"{'technique':12s} {'wall s':>8s} {'run s':>8s}  outcome"]
    for name, row in rows.items():
        wall = "-" if row.get("seconds") is None else f"{row['seconds']:.1f}"
        inner = row.get("report_duration_s")
        inner_text = "-" if inner is None else f"{inner:.1f}"
        over = row.get("seconds") is not None and row["seconds"] > LIMIT_S
        outcome = row["outcome"] + (f" (over {LIMIT_S:g} s)" if over else "")
        if row.get("message"):
            outcome += f": {row['message']}"
        lines.append(f"{name:12s} {wall:>8s} {inner_text:>8s}  {outcome}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated techniques (default: all)")
    parser.add_argument("--keep", default="", help="build and run in this folder, keep it")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per technique")
    arguments(parser)  # --note, --results
    args = parser.parse_args()
    started = machine()  # the date and commit the runs start from
    chosen = [t for t in args.only.split(",") if t] or [*TECHNIQUES, *REFUSES]
    with tempfile.TemporaryDirectory(prefix="bench-bigmodel-") as scratch:
        work = Path(args.keep or scratch)
        work.mkdir(parents=True, exist_ok=True)
        model, data = work / "mobilenetv2_035_96.keras", work / "rgb96"
        if not model.exists():
            shutil.rmtree(data, ignore_errors=True)  # half-built by an interrupted run
            images, labels = write_folder(data)
            built = build_model(model, images, labels)
        else:
            built = {"reused": str(model)}
        print(f"model: {model} ({built})", flush=True)
        before = os.getloadavg()
        rows: dict[str, dict] = {}
        for technique in chosen:
            rows[technique] = run_one(technique, model, data, work / "runs", args.timeout)
            print(f"{technique}: {rows[technique]}", flush=True)
        after = os.getloadavg()
    print(table(rows))
    results = {
        "benchmark": "MobileNetV2 (alpha 0.35, 96x96x3, 10 classes) and 60 RGB images: each "
        "technique's defaults through the CLI, one process each",
        "model": "keras.applications.MobileNetV2(alpha=0.35, input_shape=(96, 96, 3), "
        "weights=None, classes=10)",
        "model_built": built,
        "data": f"{CLASSES * PER_CLASS} RGB {SIDE}x{SIDE} PNGs, {PER_CLASS} per class, "
        "sub-folders 0..9",
        "timing": "wall-clock seconds of one `python -m kinterp run` process each (start-up, "
        "TensorFlow import and model load included); report_duration_s is the run's own time",
        "limit_s": LIMIT_S,
        "settings": {"timeout_s": args.timeout, "techniques": chosen},
        "machine": started | {"load_average_before": before, "load_average_after": after},
        "note": shared_note(args.note, before, after),
        "techniques": rows,
    }
    print(f"wrote {write('bigmodel', results, args.results or None)}")


def shared_note(note: str, before, after) -> str:
    """``note``, with :data:`SHARED_NOTE` first when the load average was at least 1."""
    if max(before[0], after[0]) >= 1.0 and SHARED_NOTE not in note:
        return f"{SHARED_NOTE}; {note}" if note else SHARED_NOTE
    return note


if __name__ == "__main__":
    main()
