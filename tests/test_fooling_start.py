"""fooling --start uniform (the classic plain-noise start) and --bins (the report's histogram)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from kinterp_plugins.fooling import FoolingParams, first_population
from scipy import stats

from kinterp.cli import app
from tests.conftest import assert_refused, assert_valid_report, run_dirs

SHAPE = (28, 28, 1)


def run(runner, out: Path, *extra: str) -> tuple[dict, Path]:
    args = ["run", "fooling", "mnist-mlp", "--out", str(out), "--quiet", *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    (run_dir,) = run_dirs(out)
    return assert_valid_report(run_dir), run_dir


def section(report: dict, title: str) -> dict:
    return next(s for s in report["sections"] if s["title"] == title)


def test_uniform_start_is_plain_uniform_noise_and_density_is_not() -> None:
    """Uniform on [0, 1]: mean 1/2, variance 1/12, a Kolmogorov-Smirnov test does not reject
    it; the density start (uniform times a uniform density) has mean 1/4."""
    targets = np.arange(3)
    uniform = first_population(
        FoolingParams(start="uniform", population=50),
        targets,
        SHAPE,
        None,
        np.random.default_rng(1),
    )
    density = first_population(
        FoolingParams(population=50), targets, SHAPE, None, np.random.default_rng(1)
    )
    assert uniform.shape == density.shape == (3, 50, *SHAPE)
    values = uniform.ravel().astype("float64")
    assert values.min() >= 0.0 and values.max() < 1.0
    assert values.mean() == pytest.approx(0.5, abs=0.005)
    assert values.var() == pytest.approx(1 / 12, abs=0.002)
    sample = np.random.default_rng(2).choice(values, 20_000, replace=False)
    assert stats.kstest(sample, "uniform").pvalue > 0.01
    assert density.mean() == pytest.approx(0.25, abs=0.02)
    assert stats.kstest(density.ravel()[:20_000], "uniform").pvalue < 1e-6


def test_a_run_reports_its_start_and_bins_sets_the_histogram(runner, tmp_path) -> None:
    common = ["--classes", "2,5", "--generations", "3", "--population", "40"]
    uniform, run_dir = run(runner, tmp_path / "u", *common, "--start", "uniform", "--bins", "7")
    density, _ = run(runner, tmp_path / "d", *common)
    assert uniform["metrics"]["start_mean"] == pytest.approx(0.5, abs=0.01)
    assert density["metrics"]["start_mean"] == pytest.approx(0.25, abs=0.05)
    assert "plain uniform noise" in section(uniform, "Fooling images")["text"]
    images = np.load(run_dir / "arrays" / "fooling-images.npy")
    table = section(uniform, "Pixel values")["tables"][0]
    assert table["columns"][:3] == ["from", "to", "fooling images"]
    rows = np.asarray([row[:3] for row in table["rows"]], dtype="float64")
    counts, edges = np.histogram(images.ravel(), bins=7, range=(0.0, 1.0))
    assert len(rows) == 7
    np.testing.assert_allclose(rows[:, 0], edges[:-1])
    np.testing.assert_allclose(rows[:, 1], edges[1:])
    np.testing.assert_allclose(rows[:, 2], counts / images.size, atol=1e-12)
    assert len(section(density, "Pixel values")["tables"][0]["rows"]) == 32  # the default


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--start", "uniform", "--encoding", "cppn"], "--start uniform sets the first pixels"),
        (["--start", "uniform", "--prior", "stats"], "does not apply with --encoding cppn"),
        (["--bins", "1"], "--bins"),
    ],
)
def test_start_and_bins_refuse_what_does_not_apply(runner, tmp_path, extra, message) -> None:
    assert_refused(runner, ["run", "fooling", "mnist-mlp", *extra], message, tmp_path)
