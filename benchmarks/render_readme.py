"""Render README.md's Performance tables from ``benchmarks/results/*.json``.

Each results file NAME.json (written by ``benchmarks/bench_NAME.py``) becomes the text between
``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` in README.md; a file with no block yet
gets one before ``<!-- bench:end -->``, and a block whose file is gone is removed. Nothing
between the markers is written by hand: ``tests/test_bench_results.py`` checks that README's
blocks equal what this script renders from the committed files.

    .venv/bin/python benchmarks/render_readme.py          # rewrite README.md
    .venv/bin/python benchmarks/render_readme.py --check  # exit 1 when README.md is stale
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
RESULTS = ROOT / "benchmarks" / "results"
END = "<!-- bench:end -->"
BLOCK = re.compile(r"<!-- bench:([a-z0-9_-]+) -->\n.*?<!-- /bench:\1 -->\n", re.DOTALL)
ORDER = ("happymap", "featurevis", "robustness", "attacks", "fooling", "sweep", "serve", "report")
ORDER += ("bigmodel", "mnistc")


def _s(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds:.2f} s"


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def _x(ratio: float) -> str:
    return f"**{ratio:.2f}×**"


def _settings(settings: dict) -> str:
    parts = []
    for key, value in settings.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
            value = f"({value})"
        elif isinstance(value, list):
            value = ",".join(map(str, value))
        parts.append(f"{key.replace('_', ' ')} {value}")
    return "; ".join(parts)


def provenance(name: str, record: dict) -> str:
    """Where the figures come from: file, date, commit, machine, load, versions, settings."""
    m = record.get("machine", {})
    commit = (m.get("git_commit") or "unknown")[:10]
    if m.get("git_uncommitted_changes"):
        commit += " with uncommitted changes to kinterp/plugins"
    load = "load average (1, 5, 15 min) {} before, {} after".format(
        *(
            "/".join(f"{v:.2f}" for v in m.get(key) or [])
            for key in ("load_average_before", "load_average_after")
        )
    )
    lines = [
        f"From [`benchmarks/results/{name}.json`](benchmarks/results/{name}.json): "
        f"{str(m.get('date', 'no date'))[:10]}, commit {commit}, {m.get('cores')} cores "
        f"({m.get('processor')}), {load}; Python {m.get('python')}, TensorFlow "
        f"{m.get('tensorflow')}, Keras {m.get('keras')}."
    ]
    if record.get("settings"):
        lines.append(f"Settings: {_settings(record['settings'])}.")
    if record.get("note"):
        lines.append(f"Note: {record['note']}.")
    return " ".join(lines)


def happymap(f: dict) -> list[str]:
    med, logit = f["median_s"], f["final_mean_logit"]
    names = {
        "kinterp": "kinterp `happymap` engine",
        "bare tf.function": "bare `tf.function` gradient-ascent loop (the practical limit)",
        "tf-keras-vis": "tf-keras-vis `ActivationMaximization` (fully eager)",
    }
    rows = ["| contender | median time | final mean logit |", "| --- | ---: | ---: |"]
    rows += [f"| {names.get(k, k)} | {_s(med[k])} | {logit[k]:.2f} |" for k in med]
    return rows + [
        "",
        f"kinterp / tf-keras-vis: {_x(f['ratio_kinterp_over_tfkv'])} (goal ≤ "
        f"{f['goal_ratio_tfkv']:g}); kinterp / bare loop: {_x(f['ratio_kinterp_over_bare'])} "
        f"(goal ≤ {f['goal_ratio_bare']:g}).",
    ]


def featurevis(f: dict) -> list[str]:
    med, act = f["median_s"], f["mean_activation"]
    rows = ["| contender | median time | mean filter activation |", "| --- | ---: | ---: |"]
    rows += [f"| {k} | {_s(med[k])} | {act[k]:.3f} |" for k in med]
    return rows + [
        "",
        f"kinterp / tf-keras-vis: {_x(f['ratio_kinterp_over_tfkv'])} (goal ≤ {f['goal_ratio']:g}).",
    ]


def _throughput(f: dict) -> list[str]:
    """The table of a classification benchmark: each contender's median time and rate."""
    med, rate = f["median_s"], f["images_per_s"]
    rows = ["| contender | median time | images classified / s |", "| --- | ---: | ---: |"]
    return rows + [f"| {k} | {_s(med[k])} | {_rate(rate[k])} |" for k in med]


def robustness(f: dict) -> list[str]:
    return _throughput(f) + [
        "",
        f"{f['classifications']:,} classifications. Throughput kinterp / bare: "
        f"{_x(f['ratio_kinterp_over_bare'])} (goal ≥ {f['goal_ratio']:g}). The bare script's "
        f"perturbed images differ from kinterp's by at most "
        f"{f['largest_perturbation_difference']:.1g}.",
    ]


def attacks(f: dict) -> list[str]:
    med, rate, accuracy = f["median_s"], f["images_per_s"], f["accuracy"]
    rows = [
        "| contender | median time | attacked images / s | accuracy at each epsilon |",
        "| --- | ---: | ---: | --- |",
    ]
    rows += [
        f"| {k} | {_s(med[k])} | {_rate(rate[k])} | {', '.join(f'{a:.1%}' for a in accuracy[k])} |"
        for k in med
    ]
    return rows + [
        "",
        f"{f['attacked_images']:,} attacked images. Time bare / kinterp: "
        f"{_x(f['ratio_bare_over_kinterp'])} (goal ≥ {f['goal_ratio']:g}). "
        f"Adversarial Robustness Toolbox: {f['art']}.",
    ]


def mnistc(f: dict) -> list[str]:
    slowest = sorted(f["corruption_s"].items(), key=lambda kv: -kv[1])[:4]
    return _throughput(f) + [
        "",
        f"{f['classifications']:,} classifications. Forward only / suite: "
        f"{_x(f['ratio_forward_over_suite'])} (goal ≥ {f['goal_ratio']:g}); both give the same "
        f"accuracies: {'yes' if f['same_accuracies'] else 'no'}. Slowest corruptions to make "
        f"(10,000 images, last round): {', '.join(f'{k} {v:.2f} s' for k, v in slowest)}.",
    ]


def fooling(f: dict) -> list[str]:
    rate = f["images_per_s"]
    slowest = f["slowest_class_generations"]
    rows = ["| measure | value |", "| --- | ---: |"]
    rows += [
        f"| classes reaching 99.99% | {f['reached_fraction']:.0%} |",
        f"| generations to 99.99%, median (slowest class) | {f['median_generations']:g} "
        f"({'not reached' if slowest is None else f'{slowest:g}'}) |",
        f"| whole run, median | {_s(f['whole_run_s'])} |",
    ]
    rows += [f"| images evaluated / s, {k} | {_rate(v)} |" for k, v in rate.items()]
    return rows + [
        "",
        f"kinterp / bare batched: {_x(f['ratio_kinterp_over_bare'])} (goal ≥ "
        f"{f['goal_ratio_bare']:g}); kinterp / per-image loop: "
        f"**{f['ratio_kinterp_over_per_image']:.0f}×** (goal ≥ {f['goal_ratio_per_image']:g}×).",
    ]


def sweep(f: dict) -> list[str]:
    rows = ["| side | seconds |", "| --- | ---: |"]
    rows += [
        f"| shell loop: `kinterp run` {f['runs']} times | {_s(f['shell_loop_s'])} |",
        f"| one process, each model loaded once | {_s(f['one_process_s'])} |",
        f"| `kinterp sweep`, 1 worker (cluster start included) | {_s(f['sweep_1_worker_s'])} |",
        f"| `kinterp sweep`, {f['workers']} workers (cluster start included) | "
        f"{_s(f['sweep_s'])} |",
    ]
    goals = (
        ("the shell loop", "ratio_sweep_over_shell", "goal_over_shell"),
        ("one process", "ratio_sweep_over_one_process", "goal_over_one_process"),
        ("1 worker", "ratio_workers_over_1_worker", "goal_workers_over_1_worker"),
    )
    said = [
        f"{_x(f[key])} {what} (goal ≤ {f[goal]:g}×, {'met' if f[key] <= f[goal] else 'not met'})"
        for what, key, goal in goals
    ]
    return rows + ["", f"The sweep takes {'; '.join(said)}."]


def serve(f: dict) -> list[str]:
    rows = ["| measure | server | CLI processes |", "| --- | ---: | ---: |"]
    rows += [
        f"| latency, happymap 10 classes (median) | {_s(f['warm_server_s'])} | "
        f"{_s(f['cold_cli_s'])} |",
        f"| burst of small runs, runs / min | {f['server_runs_per_min']:.1f} | "
        f"{f['cli_runs_per_min']:.1f} |",
    ]
    return rows + [
        "",
        f"Latency server / CLI: {_x(f['latency_ratio'])} (goal ≤ {f['goal_latency_ratio']:g}); "
        f"throughput server / CLI: {_x(f['throughput_ratio'])}.",
    ]


def report(f: dict) -> list[str]:
    p = f["predict"]
    rows = [
        f"`kinterp predict mnist-cnn` on {p['images']:,} PNG digits: {_s(p['median_s'])}, "
        f"**{_rate(p['images_per_s'])} images/s** (goal ≥ {_rate(p['goal_images_per_s'])}).",
        "",
        "| technique | model | params | run | report writing | share |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    rows += [
        f"| {r['technique']} | {r['model']} | {r.get('params', '')} | {_s(r['run_s'])} | "
        f"{_s(r['report_s'])} | {r['share']:.1%} |"
        for r in f["shares"]
    ]
    return rows + ["", f"Goal: report writing ≤ {f['goal_share']:.0%} of each run."]


def bigmodel(record: dict) -> list[str]:
    limit = record.get("limit_s")
    rows = ["| technique | wall time | run's own time | outcome |", "| --- | ---: | ---: | --- |"]
    for name, row in record.get("techniques", {}).items():
        outcome = row.get("outcome", "")
        if row.get("seconds") is not None and limit and row["seconds"] > limit:
            outcome += f" (over {limit:g} s)"
        rows.append(
            f"| {name} | {_s(row.get('seconds'))} | {_s(row.get('report_duration_s'))} | "
            f"{outcome} |"
        )
    return rows + [
        "",
        f"Goal: each technique's defaults ≤ {limit:g} s (wall time of one `python -m kinterp "
        "run` process, start-up and model load included).",
    ]


def generic(f: dict) -> list[str]:
    rows = ["| figure | value |", "| --- | --- |"]
    rows += [f"| {k} | {json.dumps(v)} |" for k, v in f.items()]
    return rows


RENDERERS: dict[str, Callable[[dict], list[str]]] = {
    "happymap": happymap,
    "featurevis": featurevis,
    "robustness": robustness,
    "attacks": attacks,
    "mnistc": mnistc,
    "fooling": fooling,
    "sweep": sweep,
    "serve": serve,
    "report": report,
}


def render_block(name: str, record: dict) -> str:
    """The whole block for one results file, markers included. A file named
    ``SCRIPT-PART.json`` is a partial run of ``bench_SCRIPT.py`` (``--only``, ``--results``)."""
    base, _, part = name.partition("-")
    title = f"### `bench_{base}.py`" + (f" ({part})" if part else "")
    if base == "bigmodel":
        body = bigmodel(record)
    else:
        body = RENDERERS.get(base, generic)(record.get("figures", {}))
    lines = [
        f"<!-- bench:{name} -->",
        "<!-- generated by benchmarks/render_readme.py from the results file: do not edit -->",
        title,
        "",
        record.get("benchmark", ""),
        "",
        *body,
        "",
        provenance(name, record),
        "",
        f"<!-- /bench:{name} -->",
    ]
    return "\n".join(lines) + "\n"


def records(results: Path = RESULTS) -> dict[str, dict]:
    """Every results file by name, in README order (known names first)."""
    found = {p.stem: json.loads(p.read_text()) for p in sorted(results.glob("*.json"))}
    known = [n for n in ORDER if n in found]
    return {n: found[n] for n in known + sorted(set(found) - set(known))}


def render(readme: str, results: Path = RESULTS) -> str:
    """``readme`` with every block rendered from ``results``; orphan blocks removed."""
    if END not in readme:
        raise SystemExit(f"README.md has no {END} marker in its Performance section")
    blocks = {name: render_block(name, record) for name, record in records(results).items()}
    readme = BLOCK.sub(lambda m: blocks.pop(m.group(1), ""), readme)
    return readme.replace(END, "".join(blocks.values()) + END) if blocks else readme


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is stale")
    args = parser.parse_args()
    old = README.read_text()
    new = render(old)
    if args.check:
        if new != old:
            print("README.md's benchmark blocks are stale: run benchmarks/render_readme.py")
            sys.exit(1)
        return
    README.write_text(new)
    print("README.md" + (" rewritten" if new != old else " already up to date"))


if __name__ == "__main__":
    main()
