"""fooling: populations of every class evolved as one batch per generation."""

from __future__ import annotations

import tracemalloc
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kinterp_plugins.fooling import FoolingParams, class_prior, evolve, population_bytes

import kinterp
from kinterp.cli import app
from kinterp.toolkit import cppn
from kinterp.toolkit.evolve import breeding_bytes, crossover, mutate, next_generation, parents
from tests.conftest import all_entries, assert_refused, assert_valid_report, run_dirs
from tests.measured import run_measured


def run(runner, out: Path, *extra: str) -> tuple[dict, Path]:
    result = runner.invoke(app, ["run", "fooling", "mnist-cnn", "--out", str(out), "--quiet",
                                 *extra])  # fmt: skip
    assert result.exit_code == 0, result.output
    (run_dir,) = run_dirs(out)
    return assert_valid_report(run_dir), run_dir


def section(report: dict, title: str) -> dict:
    return next(s for s in report["sections"] if s["title"] == title)


def test_three_classes_are_fooled_and_the_saved_images_say_so(runner, tmp_path):
    report, run_dir = run(runner, tmp_path, "--classes", "1,4,7")
    assert report["metrics"]["reached_fraction"] == 1.0
    images = np.load(run_dir / "arrays" / "fooling-images.npy")
    targets = np.load(run_dir / "arrays" / "fooling-targets.npy")
    again = kinterp.load_model("mnist-cnn").classify_images(images).of(targets)
    assert np.all(again >= 0.9999)
    grid = section(report, "Fooling images")["images"][0]
    assert [t["caption"] for t in grid["tiles"]] == [f"p {p:.6f}" for p in again]
    rows = section(report, "Per class")["tables"][0]
    assert "confidence on mnist-mlp" in rows["columns"][6:]  # the transfer test
    assert [r[1] for r in rows["rows"]] == ["1/1", "1/1", "1/1"]
    curve = section(report, "Best confidence by generation")["plots"][0]
    assert curve["kind"] == "line"
    assert section(report, "Mean images")["images"][0]["column_labels"][1] == "mean of real images"


def test_the_stats_prior_lowers_the_variogram_distance(runner, tmp_path):
    common = ["--classes", "3", "--count", "3", "--generations", "25"]
    plain, _ = run(runner, tmp_path / "plain", *common)
    prior, _ = run(runner, tmp_path / "prior", *common, "--prior", "stats")
    assert prior["metrics"]["variogram_distance"] < 0.6 * plain["metrics"]["variogram_distance"]


def cppn_by_hand(genome: np.ndarray, height: int, width: int) -> np.ndarray:
    """The documented fixed topology, written out: (x, y, r, 1) per pixel -> 8 hidden units
    (sin, Gaussian, tanh, |.|, cycling) -> 8 such units -> one sigmoid output (grey)."""
    y, x = np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width), indexing="ij")
    inputs = np.stack([x, y, np.hypot(x, y), np.ones_like(x)], axis=-1)  # (H, W, 4)
    w1 = genome[:32].reshape(4, 8)
    w2 = genome[32:96].reshape(8, 8)
    w3 = genome[96:].reshape(8, 1)
    kinds = [np.sin, lambda v: np.exp(-v * v), np.tanh, np.abs]

    def hidden(v):
        return np.stack([kinds[k % 4](v[..., k]) for k in range(8)], axis=-1)

    out = hidden(hidden(inputs @ w1) @ w2) @ w3
    return 1.0 / (1.0 + np.exp(-out[..., 0]))


def neighbour_step(image: np.ndarray) -> float:
    """Mean absolute difference between horizontally and vertically adjacent pixels."""
    return float(np.abs(np.diff(image, axis=0)).mean() + np.abs(np.diff(image, axis=1)).mean())


def test_cppn_images_are_fixed_topology_patterns(runner, tmp_path):
    """The saved images are what the report says made them: a fixed 4-8-8 CPPN's rendering of
    the saved weights (recomputed here by hand), and patterns: adjacent pixels differ far less
    than the same pixel values shuffled into noise do (#23 items 10 and 12)."""
    report, run_dir = run(
        runner,
        tmp_path,
        "--classes",
        "0",
        "--encoding",
        "cppn",
        "--generations",
        "5",
        "--population",
        "20",
        "--selection",
        "tournament",
        "--fitness",
        "cost",
    )
    images = np.load(run_dir / "arrays" / "fooling-images.npy")
    genomes = np.load(run_dir / "arrays" / "fooling-genomes.npy")
    assert images.shape == (1, 28, 28, 1) and genomes.shape == (1, 4 * 8 + 8 * 8 + 8 * 1)
    image = images[0, ..., 0]
    assert np.abs(image - cppn_by_hand(genomes[0].astype("float64"), 28, 28)).max() < 1e-5
    rng = np.random.default_rng(0)
    shuffled = np.mean([neighbour_step(rng.permutation(image.ravel()).reshape(28, 28))
                        for _ in range(20)])  # fmt: skip
    assert neighbour_step(image) < 0.4 * shuffled
    assert report["metrics"]["images_evaluated"] <= 5 * 20
    text = section(report, "Fooling images")["text"]
    assert "a fixed-topology CPPN" in text
    assert "not Nguyen et al.'s NEAT-evolved topology and activation functions" in text


def test_the_cppn_option_and_module_say_fixed_topology():
    from kinterp_plugins import fooling

    (encoding,) = [f for f in fields(FoolingParams) if f.name == "encoding"]
    assert "fixed-topology CPPN" in encoding.metadata["help"]
    assert "not NEAT" in encoding.metadata["help"]
    for doc in (fooling.__doc__, cppn.__doc__):
        assert "fixed-topology" in doc.lower() and "NEAT" in doc


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--elite", "10", "--population", "10"], "--elite 10 leaves no room"),
        (["--classes", "12"], "--classes 12 is out of range"),
        (["--population", "2"], "--population must be at least 4"),
        (["--also", "no-such-model"], "no-such-model"),
        (
            ["--count", "100000", "--population", "100000"],
            "1,000,000 direct populations of 100,000 would need about",
        ),
    ],
)
def test_bad_input_is_one_line(runner, tmp_path, extra, message):
    assert_refused(runner, ["run", "fooling", "mnist-cnn", *extra], message, tmp_path / "o")


@settings(max_examples=30, deadline=None)
@given(
    groups=st.integers(1, 4),
    size=st.integers(4, 12),
    elite=st.integers(1, 3),
    selection=st.sampled_from(["elite", "truncation", "tournament"]),
    seed=st.integers(0, 2**16),
)
def test_a_generation_keeps_its_elite_and_breeds_from_parents(groups, size, elite, selection,
                                                              seed):  # fmt: skip
    rng = np.random.default_rng(seed)
    genomes = rng.random((groups, size, 5))
    fitness = rng.random((groups, size))
    new = next_generation(genomes, fitness, selection, elite, np.zeros(groups), rng,
                          lambda g: g)  # fmt: skip
    assert new.shape == genomes.shape
    best = np.argsort(-fitness, axis=1)[:, :elite]
    assert np.array_equal(new[:, :elite], genomes[np.arange(groups)[:, None], best])
    pairs = parents(fitness, selection, elite, rng, 7)
    assert pairs.shape == (groups, 7, 2) and pairs.min() >= 0 and pairs.max() < size
    if selection == "elite":
        for g in range(groups):
            assert set(pairs[g].ravel()) <= set(best[g])
    children = crossover(genomes, pairs, rng)
    mother = genomes[np.arange(groups)[:, None], pairs[..., 0]]
    father = genomes[np.arange(groups)[:, None], pairs[..., 1]]
    assert np.all((children == mother) | (children == father))


def test_mutation_rate_is_per_group():
    rng = np.random.default_rng(0)
    genomes = np.zeros((2, 50, 10))
    out = mutate(genomes, np.array([0.0, 1.0]), rng, lambda g: g + 1)
    assert np.all(out[0] == 0) and np.all(out[1] == 1)


def test_cppn_renders_many_genomes_at_once():
    rng = np.random.default_rng(0)
    genomes = rng.standard_normal((3, 4, cppn.genome_size(3)))
    images = cppn.render(genomes, (16, 20, 3))
    assert images.shape == (3, 4, 16, 20, 3)
    one = cppn.render(genomes[1, 2][None], (16, 20, 3))[0]
    assert np.allclose(images[1, 2], one, atol=1e-6)


def _traced_peak(work) -> int:
    """Peak bytes numpy allocates while ``work()`` runs (numpy reports to tracemalloc)."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        work()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("shape", [(28, 28, 1), (16, 20, 3)])
@pytest.mark.parametrize("count", [3, 200, 2000])
def test_render_bytes_cover_what_rendering_allocates(shape, count):
    genomes = np.random.default_rng(0).standard_normal((count, cppn.genome_size(shape[-1])))
    measured = _traced_peak(lambda: cppn.render(genomes.astype("float32"), shape))
    assert measured <= cppn.render_bytes(count, shape) <= 1.3 * measured


@pytest.mark.parametrize("draw_bytes", [0, 16])
def test_breeding_bytes_cover_what_a_generation_allocates(draw_bytes):
    rng = np.random.default_rng(0)
    genomes = rng.random((3, 400, 28, 28, 1), dtype="float32")
    fitness = rng.random((3, 400))

    def draw(g):
        noise = rng.normal(0, 0.3, g.shape).astype("f4") if draw_bytes else 0
        return np.clip(g + noise, 0, 1)

    measured = _traced_peak(
        lambda: next_generation(genomes, fitness, "tournament", 5, np.full(3, 0.1), rng, draw)
    )
    estimate = breeding_bytes(1200, 784, draw_bytes)
    assert measured <= estimate <= 1.5 * measured


@pytest.fixture(scope="module")
def mlp_context():
    """A run context for mnist-mlp reading mnist-5k, and the class prior of its data."""
    from kinterp.data.modeldata import ModelData
    from kinterp.registry import load_dataset
    from kinterp.technique.context import RunContext

    model = kinterp.load_model("mnist-mlp")
    data = ModelData("mnist-5k", load_dataset("mnist-5k"), model)
    ctx = RunContext(model=model, report=None, open_data=lambda: data)
    return ctx, class_prior(ctx, 10)


@pytest.mark.parametrize(
    ("encoding", "fitness", "prior"),
    [
        ("direct", "confidence", "none"),
        ("direct", "cost", "stats"),
        ("cppn", "confidence", "none"),
        ("cppn", "cost", "stats"),
    ],
)
def test_the_population_estimate_covers_what_evolving_allocates(
    mlp_context, encoding, fitness, prior
):
    """Every encoding, fitness and prior: the estimate against numpy's traced peak over two
    real generations of 4 populations of 500 (the model's own memory is the batch's)."""
    ctx, stats = mlp_context
    params = FoolingParams(classes=[0, 1], count=2, population=500, generations=2,
                           encoding=encoding, fitness=fitness, prior=prior, target=1.0)  # fmt: skip
    used = stats if prior == "stats" else None
    measured = _traced_peak(lambda: evolve(ctx, params, (28, 28, 1), [0, 1], used, 256))
    estimate = population_bytes(params, 4, (28, 28, 1), 10)
    assert measured <= estimate <= 1.5 * measured


def test_the_cppn_population_of_issue_20_is_refused_before_it_allocates(tmp_path):
    """#20: --encoding cppn --population 100000 --batch-size 65536 grew to 12.7 GB and wrote
    a failed report. Under a 3 GiB data segment it is refused for what it would need, costing
    no more than loading the model."""
    out = tmp_path / "out"
    args = ["run", "fooling", "mnist-cnn", "--encoding", "cppn", "--population", "100000",
            "--batch-size", "65536", "--out", str(out)]  # fmt: skip
    run = run_measured(args, tmp_path, data_limit_mb=3072)
    assert run.code == 2, run.stderr
    assert "10 cppn populations of 100,000 would need about 9.9 GiB of memory" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert run.peak_mb < 1200, f"peak resident memory {run.peak_mb:.0f} MB"
    assert all_entries(out) == []


def test_fooling_counts_on_hand_made_probabilities():
    """Target reached and no other class above 0.5; 0.5 itself is not a rival."""
    from kinterp_plugins.fooling import fooling_counts

    probs = np.array(
        [
            [0.99995, 0.1, 0.2],  # reached, no rival
            [0.99995, 0.6, 0.0],  # reached, rival 0.6
            [0.99995, 0.5, 0.5],  # reached, others at exactly 0.5
            [0.9, 0.05, 0.05],  # not reached
            [0.2, 0.99999, 0.95],  # target 1 reached, rival class 2
        ]
    )
    reached, fooled = fooling_counts(probs, np.array([0, 0, 0, 0, 1]), 0.9999)
    assert reached.tolist() == [True, True, True, False, True]
    assert fooled.tolist() == [True, False, True, False, False]


def test_mlp_verdict_counts_only_images_with_no_rival(runner, tmp_path):
    """Recount from the saved images with the model: target >= 0.9999 and no other > 0.5."""
    result = runner.invoke(app, ["run", "fooling", "mnist-mlp", "--out", str(tmp_path), "--quiet",
                                 "--count", "2", "--generations", "40"])  # fmt: skip
    assert result.exit_code == 0, result.output
    (run_dir,) = run_dirs(tmp_path)
    report = assert_valid_report(run_dir)
    images = np.load(run_dir / "arrays" / "fooling-images.npy")
    targets = np.load(run_dir / "arrays" / "fooling-targets.npy")
    model = kinterp.load_model("mnist-mlp")
    probs = model.keras_model(model.to_input(images), training=False).numpy().astype("float64")
    rows = np.arange(len(targets))
    reached = probs[rows, targets] >= 0.9999
    others = probs.copy()
    others[rows, targets] = 0.0
    fooled = reached & (others.max(axis=1) <= 0.5)
    assert fooled.sum() < reached.sum()  # this run has rivals, so the two counts differ
    verdict = report["summary"]["verdict"]
    assert verdict.startswith(f"{int(fooled.sum())}/{len(targets)} evolved images"), verdict
    assert f"({int(reached.sum())} reach" in verdict and "unrecognisable" not in verdict
    assert report["metrics"]["fooled_fraction"] == pytest.approx(fooled.mean())
    assert report["metrics"]["reached_fraction"] == pytest.approx(reached.mean())
    table = section(report, "Per class")["tables"][0]
    assert table["columns"][2] == "no rival > 0.5"
    strict = [int(r[2].split("/")[0]) for r in table["rows"]]
    assert strict == [int(fooled[targets == c].sum()) for c in dict.fromkeys(targets.tolist())]
