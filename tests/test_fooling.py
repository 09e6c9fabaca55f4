"""fooling: populations of every class evolved as one batch per generation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kinterp
from kinterp import cppn
from kinterp.cli import app
from kinterp.evolve import crossover, mutate, next_generation, parents
from tests.conftest import assert_refused, assert_valid_report, run_dirs


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
    assert rows["columns"][5] == "confidence on mnist-mlp"  # the transfer test
    assert [r[1] for r in rows["rows"]] == ["1/1", "1/1", "1/1"]
    curve = section(report, "Best confidence by generation")["plots"][0]
    assert curve["kind"] == "line"
    assert section(report, "Mean images")["images"][0]["column_labels"][1] == "mean of real images"


def test_the_stats_prior_lowers_the_variogram_distance(runner, tmp_path):
    common = ["--classes", "3", "--count", "3", "--generations", "25"]
    plain, _ = run(runner, tmp_path / "plain", *common)
    prior, _ = run(runner, tmp_path / "prior", *common, "--prior", "stats")
    assert prior["metrics"]["variogram_distance"] < 0.6 * plain["metrics"]["variogram_distance"]


def test_cppn_images_are_patterns_in_range(runner, tmp_path):
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
    assert images.shape == (1, 28, 28, 1) and images.min() > 0 and images.max() < 1
    assert report["metrics"]["images_evaluated"] <= 5 * 20


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--elite", "10", "--population", "10"], "--elite 10 leaves no room"),
        (["--classes", "12"], "--classes 12 is out of range"),
        (["--population", "2"], "--population must be at least 4"),
        (["--also", "no-such-model"], "no-such-model"),
        (["--count", "100000", "--population", "100000"], "GB of memory"),
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
