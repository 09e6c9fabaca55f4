"""How fast reports are made: predict throughput, and each demo preset's report-writing share.

1. ``kinterp predict mnist-cnn`` on 1,000 PNG digits (the bundled mnist-5k held-out set, saved
   as dark-on-light PNGs in sub-folders named by class), end to end after start-up: the model is
   loaded and one small warm-up run has traced the forward pass; then every file is decoded,
   preprocessed, classified in batches, and the report (contact sheet, confusion matrix, table,
   report.json, a self-contained report.html) is written. Goal: >= 1,000 images/s.
2. For each technique's demo preset (``--quick`` ones unless ``--full``), the share of the
   run's time spent writing its report: the time inside every ``ReportBuilder`` block method
   plus ``write_report`` (report.json and report.html), measured by wrapping them here, over
   the whole ``execute``; the median of ROUNDS runs after a warm-up. Goal: <= 15% (#24).

Writes ``benchmarks/results/report.json`` (see ``results_file.py``).

Run: .venv/bin/python benchmarks/bench_report.py [--full] [ROUNDS] [--note TEXT] [--results PATH]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from results_file import Recorder, arguments

WHAT = (
    "report making: kinterp predict mnist-cnn on 1,000 PNG digits end to end after start-up, "
    "and the share of each technique's demo preset spent writing its report"
)

IMAGES = 1000
BLOCKS = ("text", "array", "images", "grid", "strip", "table", "line_plot", "histogram")
BLOCKS += ("scatter", "gif", "json", "panels", "bar_plot", "block")
GOAL_SHARE = 0.15


def write_digits(folder: Path, count: int) -> Path:
    """``count`` held-out digits as PNG files under ``folder/<label>/``."""
    import numpy as np
    from PIL import Image

    from kinterp.data.datasets import load_mnist_5k

    data = load_mnist_5k()
    x = np.concatenate([data.x_test, data.x_train])[:count]
    y = np.concatenate([data.y_test, data.y_train])[:count]
    for i, (image, label) in enumerate(zip(x, y, strict=True)):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        ink = (image[..., 0] * 255).astype(np.uint8)
        Image.fromarray(255 - ink).save(folder / str(label) / f"{i:04d}.png")
    return folder


def bench_predict(rounds: int) -> dict:
    from kinterp.loading.models import load_model
    from kinterp.runner import execute
    from kinterp.settings.runspec import RunSpec

    with tempfile.TemporaryDirectory() as tmp:
        digits = write_digits(Path(tmp) / "digits", IMAGES)
        warm = write_digits(Path(tmp) / "warm", 20)
        model = load_model("mnist-cnn")
        spec = RunSpec("predict", "mnist-cnn", {"inputs": [str(warm)]}, out=f"{tmp}/out")
        execute(spec, model=model)  # start-up: trace the forward pass
        times = []
        for _ in range(rounds):
            spec = RunSpec("predict", "mnist-cnn", {"inputs": [str(digits)]}, out=f"{tmp}/out")
            clock = time.perf_counter()
            result = execute(spec, model=model)
            times.append(time.perf_counter() - clock)
        seconds = statistics.median(times)
        html = (result.path / "report.html").stat().st_size / 1e6
        print(
            f"predict mnist-cnn, {IMAGES:,} PNG digits: {seconds:.2f} s, "
            f"{IMAGES / seconds:,.0f} images/s (goal >= 1,000); accuracy "
            f"{result.metrics['accuracy']:.1%}; report.html {html:.1f} MB"
        )
        return {
            "images": IMAGES,
            "median_s": seconds,
            "seconds": times,
            "images_per_s": IMAGES / seconds,
            "goal_images_per_s": 1000,
            "accuracy": result.metrics["accuracy"],
            "report_html_mb": html,
        }


class ReportClock:
    """Adds up the time spent in report writing while installed."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._depth = 0  # a block method calling another (images -> array) counts once
        self._saved: list[tuple[object, str, object]] = []

    def _timed(self, function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            clock = time.perf_counter()
            self._depth += 1
            try:
                return function(*args, **kwargs)
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self.seconds += time.perf_counter() - clock

        return wrapper

    def install(self) -> None:
        import kinterp.runner
        from kinterp.reporting.report import ReportBuilder

        targets = [(ReportBuilder, name) for name in BLOCKS]
        targets.append((kinterp.runner, "write_report"))
        for owner, name in targets:
            original = getattr(owner, name)
            self._saved.append((owner, name, original))
            setattr(owner, name, self._timed(original))

    def remove(self) -> None:
        for owner, name, original in self._saved:
            setattr(owner, name, original)


def _timed_run(spec) -> tuple[float, float]:
    """(run seconds, report-writing seconds) of one ``execute``."""
    from kinterp.runner import execute

    clock = ReportClock()
    clock.install()
    try:
        start = time.perf_counter()
        execute(spec)
        return time.perf_counter() - start, clock.seconds
    finally:
        clock.remove()


def bench_shares(full: bool, rounds: int) -> list[dict]:
    from kinterp.registry import installed_techniques
    from kinterp.runner import execute
    from kinterp.settings.runspec import RunSpec

    print(f"\nreport-writing share of each demo preset ({'full' if full else 'quick'}):")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for technique in installed_techniques():
            for preset in technique.demo:
                params = {**preset.params, **({} if full else preset.quick)}
                spec = RunSpec(technique.name, preset.model, params, out=tmp)
                execute(spec)  # warm-up: imports, tracing
                runs = sorted((_timed_run(spec) for _ in range(rounds)), key=lambda r: r[1] / r[0])
                total, report = runs[len(runs) // 2]
                share = report / total
                mark = "" if share <= GOAL_SHARE else f"  (over the {GOAL_SHARE:.0%} goal)"
                shown = ", ".join(f"{k} {v}" for k, v in params.items())
                print(
                    f"  {technique.name:<11} {preset.model:<13} run {total:6.2f} s, report "
                    f"{report:5.2f} s = {share:5.1%}{mark}  ({shown})"
                )
                rows.append(
                    {
                        "technique": technique.name,
                        "model": preset.model,
                        "params": shown,
                        "run_s": total,
                        "report_s": report,
                        "share": share,
                    }
                )
    return rows


def main() -> None:
    warnings.filterwarnings("ignore")
    from kinterp.loading.models import quiet_tensorflow

    quiet_tensorflow()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rounds", type=int, nargs="?", default=3)
    parser.add_argument("--full", action="store_true", help="full demo presets, not --quick")
    arguments(parser)
    args = parser.parse_args()
    settings = {"rounds": args.rounds, "presets": "full" if args.full else "quick"}
    recorder = Recorder("report", WHAT, settings, args.note, args.results)
    with recorder:
        predict = bench_predict(args.rounds)
        shares = bench_shares(args.full, args.rounds)
        recorder.figures = {"predict": predict, "shares": shares, "goal_share": GOAL_SHARE}


if __name__ == "__main__":
    main()
