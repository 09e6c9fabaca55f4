"""Data statistics: what the dataset looks like before any model, and how far PCA alone gets.

Per class: the mean image, the per-pixel standard deviation (and a ranking of the classes by
it), the pixel-value histogram and the neighbour differences (variograms, from
:mod:`kinterp.toolkit.pixelstats`). Over the training split: a PCA by numpy SVD (of the
smaller of the D x D scatter matrix and the N x D centred data, its memory estimated first
and refused with the numbers when it cannot fit the budget), its first
components as images (eigen-digits on MNIST), the explained-variance curve, and two baselines
on the first k components (nearest class centroid, and multinomial logistic regression by plain
gradient descent), scored on the held-out split beside the model's own accuracy there.

Numpy only: the model is used for its accuracy row, so nothing here imports TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

import kinterp
from kinterp.toolkit import Budget, budget, pixel_histogram, variogram

LOGISTIC_LR = 1.0  # step size on whitened components (their covariance is the identity)
LOGISTIC_L2 = 1e-4
BRIGHT = 0.5  # pixel values at or above this count as bright in the pixel-value table
VARIANCE_LEVELS = (0.5, 0.9, 0.95, 0.99)
FLOAT = 8  # bytes of a float64
CHUNK = 8192  # rows accumulated or projected at a time
# The centred data, LAPACK's copy of it, its V^T and numpy's copy of that: 4.1 N x D copies
# measured at N = 2,000, D = 12,288 (peak resident growth); 5 leaves room.
SVD_COPIES = 5
SQUARE_COPIES = 6  # square matrices of the decomposition: input, factors, workspace
MEMORY_FIX = "use fewer or smaller images, or raise --memory-limit"


@dataclass(frozen=True)
class DatastatsParams:
    components: list[int] = field(
        default_factory=lambda: [5, 10, 20, 50],
        metadata={
            "help": "Numbers k of principal components the baselines use.",
            "min": 1,
            "max": 4096,
            "max_items": 8,
        },
    )
    eigen_images: int = field(
        default=16,
        metadata={"help": "Principal components shown as images.", "min": 1, "max": 64},
    )
    logistic_steps: int = field(
        default=300,
        metadata={"help": "Gradient steps of the logistic regression.", "min": 1, "max": 5000},
    )
    max_lag: int = field(
        default=14,
        metadata={"help": "Largest pixel distance of the variograms.", "min": 1, "max": 512},
    )
    bins: int = field(
        default=32,
        metadata={"help": "Bins of the pixel-value histograms.", "min": 2, "max": 256},
    )
    memory_limit: int = field(
        default=0,
        metadata={
            "help": "Memory (MB) the PCA may use; 0: half of the available memory.",
            "min": 0,
            "max": 10_000_000,
        },
    )


# ---------------------------------------------------------------------------------- the maths


@dataclass(frozen=True)
class Pca:
    """A PCA of flat samples: their mean, the components (rows) and each one's variance."""

    mean: np.ndarray  # (D,)
    components: np.ndarray  # (R, D), unit rows, largest variance first
    variance: np.ndarray  # (R,)
    rank: int  # how many components carry variance: min(D, N - 1)

    @property
    def explained(self) -> np.ndarray:
        """(R,) the fraction of the total variance each component explains."""
        total = self.variance.sum()
        return self.variance / total if total > 0 else np.zeros_like(self.variance)

    def project(self, x: np.ndarray, k: int, chunk: int = CHUNK) -> np.ndarray:
        """(N, k) the coordinates of flat samples on the first ``k`` components.

        Taken ``chunk`` rows at a time, so the float64 copy is never the size of all of ``x``.
        """
        x, basis = np.asarray(x), self.components[:k].T
        parts = [
            (np.asarray(x[start : start + chunk], dtype="float64") - self.mean) @ basis
            for start in range(0, len(x), chunk)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, basis.shape[1]))


def pca_bytes(samples: int, pixels: int, keep: int) -> int:
    """Estimated peak bytes of :func:`fit_pca` on ``samples`` x ``pixels`` data.

    The scatter route (pixels <= samples) holds the D x D scatter matrix and the copies its
    decomposition makes; the data route (samples < pixels) holds the centred N x D data, the
    copies LAPACK's thin SVD makes of it and its factors, and N x N workspace. Both keep
    ``keep`` components of D floats.
    """
    kept = keep * pixels * FLOAT
    if pixels <= samples:
        return SQUARE_COPIES * pixels**2 * FLOAT + 2 * min(samples, CHUNK) * pixels * FLOAT + kept
    return (SVD_COPIES * samples * pixels + SQUARE_COPIES * samples**2) * FLOAT + kept


def check_pca_memory(samples: int, pixels: int, keep: int, room: Budget) -> None:
    """Refuse a PCA whose estimated memory does not fit ``room``, with the numbers.

    Raises:
        KinterpError: one line with the estimate, the budget and what to change.
    """
    what = f"the PCA of {samples:,} images of {pixels:,} values"
    room.require(pca_bytes(samples, pixels, keep), what, MEMORY_FIX)


def fit_pca(x: np.ndarray, keep: int | None = None, chunk: int = CHUNK) -> Pca:
    """The PCA of flat samples ``x`` (N, D) by numpy SVD, keeping the first ``keep`` components
    (None: all of them; every variance is kept either way).

    With D <= N it decomposes the D x D scatter matrix, accumulated in float64 ``chunk`` rows at
    a time: the centred data's SVD is ``U S V^T`` and the scatter ``V S^2 V^T``, so this gives
    the same components and variances without decomposing an N x D matrix. With N < D (large
    images, few of them) the scatter matrix would be larger than the data and rank-deficient,
    so it takes the thin SVD of the N x D centred data instead and never forms a D x D matrix.
    """
    x = np.asarray(x)
    samples, pixels = x.shape
    mean = x.mean(axis=0, dtype="float64")
    if pixels <= samples:
        squared, vt = scatter_svd(x, mean, chunk)
    else:
        singular, vt = data_svd(x, mean)
        squared = singular**2
    keep = len(vt) if keep is None else min(keep, len(vt))
    components = np.ascontiguousarray(vt[:keep])
    del vt
    return Pca(mean, components, squared / max(samples - 1, 1), min(pixels, samples - 1))


def scatter_svd(x: np.ndarray, mean: np.ndarray, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """(D,) squared singular values and (D, D) V^T of the centred ``x`` from its scatter matrix."""
    scatter = np.zeros((x.shape[1], x.shape[1]))
    for start in range(0, len(x), chunk):
        part = x[start : start + chunk] - mean
        scatter += part.T @ part
    _, squared, vt = np.linalg.svd(scatter, hermitian=True)
    return squared, vt


def data_svd(x: np.ndarray, mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N,) singular values and (N, D) V^T of the centred ``x`` (N < D) by its thin SVD."""
    centred = x.astype("float64")
    centred -= mean
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    return singular, vt


def nearest_centroid(
    z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, classes: int
) -> np.ndarray:
    """(M,) the class whose training centroid is nearest each test point (Euclidean).

    One centroid at a time: (M, k) at once, never an (M, classes, k) array.
    """
    present = np.unique(y_train)
    centroids = np.stack([z_train[y_train == c].mean(axis=0) for c in present])
    distances = np.stack([((z_test - c) ** 2).sum(axis=-1) for c in centroids], axis=1)
    return present[np.argmin(distances, axis=1)]


def logistic_regression(
    z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, classes: int, steps: int
) -> np.ndarray:
    """(M,) multinomial logistic regression's class for each test point.

    The features are standardised with the training statistics; the weights start at zero and
    take ``steps`` full-batch gradient steps (float32) on the mean cross-entropy plus a small
    L2 penalty.
    """
    scale = z_train.std(axis=0)
    scale[scale == 0] = 1.0
    a, b = (z_train / scale).astype("float32"), (z_test / scale).astype("float32")
    target = np.eye(classes, dtype="float32")[y_train]
    weights, bias = np.zeros((a.shape[1], classes), "float32"), np.zeros(classes, "float32")
    for _ in range(steps):
        logits = a @ weights + bias
        odds = np.exp(logits - logits.max(axis=1, keepdims=True))
        error = odds / odds.sum(axis=1, keepdims=True) - target
        weights -= LOGISTIC_LR * (a.T @ error / len(a) + LOGISTIC_L2 * weights)
        bias -= LOGISTIC_LR * error.mean(axis=0)
    return np.argmax(b @ weights + bias, axis=1)


def as_images(rows: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """(N, H, W, C) flat rows each rescaled to [0, 1] (a constant row becomes 0.5)."""
    low = rows.min(axis=1, keepdims=True)
    span = rows.max(axis=1, keepdims=True) - low
    unit = np.divide(rows - low, span, out=np.full_like(rows, 0.5), where=span > 0)
    return unit.reshape((len(rows), *shape)).astype("float32")


def components_for(explained: np.ndarray, level: float) -> int:
    """The fewest leading components whose explained variance reaches ``level``."""
    return int(min(np.searchsorted(np.cumsum(explained), level - 1e-12) + 1, len(explained)))


# ------------------------------------------------------------------------------ the technique


@dataclass
class Split:
    """Images (N, H, W, C) in [0, 1] and their labels."""

    images: np.ndarray
    labels: np.ndarray

    @property
    def flat(self) -> np.ndarray:
        """(N, H*W*C) the images as rows."""
        return self.images.reshape(len(self.images), -1)


class Datastats(kinterp.Technique):
    name = "datastats"
    summary = "The dataset itself: class means, variability, PCA baselines, pixel statistics"
    Params = DatastatsParams
    key_metric = "margin_over_pca"
    demo = (kinterp.DemoPreset("mnist-cnn", {}, quick={"components": "5,20"}),)

    def run(self, ctx: kinterp.RunContext, params: DatastatsParams) -> None:
        """Describe the classes, fit the PCA and its baselines, and compare with the model."""
        model = ctx.model
        shape = model.require_image()
        fit, test, fitted_on = load_splits(ctx)
        check_params(params, shape, images=len(fit.images))
        keep = max(params.eigen_images, *params.components)
        check_pca_memory(len(fit.images), int(np.prod(shape)), keep, room(params))
        classes = int(max(fit.labels.max(), test.labels.max())) + 1
        names = [model.info.class_name(c) for c in range(classes)]
        report = ctx.report
        write_class_images(report, fit, names)
        pca = fit_pca(fit.flat, keep)
        write_pca(report, pca, shape, params.eigen_images, fitted_on)
        model_accuracy = model.classify(model.to_input(test.images)).accuracy(test.labels)
        write_baselines(report, pca, fit, test, classes, params, model_accuracy, model.info.name)
        write_pixel_values(report, fit, names, params.bins)
        write_variograms(report, fit, names, params.max_lag)


def room(params: DatastatsParams) -> Budget:
    """The memory the PCA may use: ``--memory-limit``, never more than half of what is free."""
    return budget(params.memory_limit, "--memory-limit")


def load_splits(ctx: kinterp.RunContext) -> tuple[Split, Split, str]:
    """The split the statistics are fitted on (train, else test), the test split, and its name."""
    model, data = ctx.model, ctx.data()
    x_test, y_test = data.test()
    x_train, y_train = data.train()
    if y_test is None or len(x_test) == 0:
        raise kinterp.KinterpError(
            f"datastats needs labelled held-out data and {data.name} has none; pass --data with "
            "labels"
        )
    test = Split(model.to_images(x_test), y_test)
    if len(x_train) and y_train is not None:
        fit, fitted_on = Split(model.to_images(x_train), y_train), "train"
        ctx.note_data(data.name, f"train + {data.dataset.split}", len(x_train) + len(x_test))
    else:
        fit, fitted_on = test, "held-out (the dataset has no labelled training part)"
        ctx.note_data(data.name, data.dataset.split, len(x_test))
    return fit, test, fitted_on


def check_params(params: DatastatsParams, shape: tuple[int, int, int], images: int) -> None:
    """Raise KinterpError for a k beyond the PCA's rank or a lag beyond the image."""
    pixels = int(np.prod(shape))
    rank = min(pixels, images - 1)  # the centred data loses one dimension
    too_big = [k for k in params.components if k > rank]
    if too_big:
        raise kinterp.KinterpError(
            f"--components {too_big[0]} is more than the {rank} components the PCA has "
            f"({pixels} pixels, {images:,} images); pick k from 1 to {rank}"
        )
    side = min(shape[:2])
    if params.max_lag >= side:
        raise kinterp.KinterpError(
            f"--max-lag {params.max_lag} does not fit {shape[0]}x{shape[1]} images; pick at "
            f"most {side - 1}"
        )


def write_class_images(report: kinterp.ReportBuilder, fit: Split, names: list[str]) -> None:
    """The "Class means" and "Variability" sections, and the per-class variability metrics."""
    present = [c for c in range(len(names)) if np.any(fit.labels == c)]
    groups = [fit.images[fit.labels == c] for c in present]
    counts = [len(g) for g in groups]
    labels = [names[c] for c in present]
    means = np.stack([g.mean(axis=0) for g in groups])
    stds = np.stack([g.std(axis=0).mean(axis=-1) for g in groups])
    report.text("Class means", "The mean image of each class: where its bright pixels usually are.")
    captions = [f"{n} ({count:,} images)" for n, count in zip(labels, counts, strict=True)]
    report.images("Class means", means, captions=captions, name="class-means")
    spread = stds.mean(axis=(1, 2))
    top = float(stds.max()) or 1.0
    report.text(
        "Variability",
        "The per-pixel standard deviation within each class (bright: the pixel varies most "
        f"between images of the class; one shared scale, white = "
        f"{kinterp.format_number(float(top), 'float')}), and the classes "
        "ranked by its mean: the most variable classes come in the most different shapes.",
    )
    report.images(
        "Variability",
        stds,
        captions=[
            f"{n}: mean std {kinterp.format_number(float(s), 'float')}"
            for n, s in zip(labels, spread, strict=True)
        ],
        vrange=(0.0, top),
        name="class-stds",
    )
    order = np.argsort(-spread, kind="stable")
    report.table(
        "Variability",
        ["rank", "class", "mean std", "images"],
        [[r + 1, labels[i], float(spread[i]), counts[i]] for r, i in enumerate(order)],
        formats=["int", None, "float", "int"],
    )
    report.metric("class_mean_std", dict(zip(labels, spread.tolist(), strict=True)))
    report.metric("most_variable_class", labels[order[0]])
    report.metric("least_variable_class", labels[order[-1]])


def write_pca(
    report: kinterp.ReportBuilder, pca: Pca, shape: tuple[int, int, int], count: int, on: str
) -> None:
    """The "Eigen-images" and "Explained variance" sections."""
    count = min(count, pca.rank)
    explained = pca.explained[: pca.rank]
    report.text(
        "Eigen-images",
        f"The first {count} principal components of the {on} images (numpy SVD of the pixels' "
        "scatter matrix, or of the centred images when they are fewer than their pixels; "
        "eigen-digits on MNIST), each rescaled to [0, 1] (its smallest value "
        "black, its largest white): bright and dark pixels pull in opposite directions, and "
        "the sign of a component is arbitrary.",
    )
    report.images(
        "Eigen-images",
        as_images(pca.components[:count], shape),
        captions=[
            f"PC{i + 1} ({kinterp.format_number(float(explained[i]), 'pct')})" for i in range(count)
        ],
        name="eigen-images",
    )
    report.array("pca-components", pca.components[:count])
    report.array("pca-explained", explained)
    cumulative = np.cumsum(explained)
    needed = {level: components_for(explained, level) for level in VARIANCE_LEVELS}
    report.line_plot(
        "Explained variance",
        {"cumulative": cumulative.tolist(), "each component": explained.tolist()},
        xlabel="components",
        ylabel="fraction of the variance",
        caption=", ".join(f"{lvl:.0%}: {k} components" for lvl, k in needed.items()),
        x=list(range(1, len(explained) + 1)),
        logx=True,
    )
    report.metric("components_for_90pct", needed[0.9])


def write_baselines(
    report: kinterp.ReportBuilder,
    pca: Pca,
    fit: Split,
    test: Split,
    classes: int,
    params: DatastatsParams,
    model_accuracy: float,
    model_name: str,
) -> None:
    """The "PCA baselines" table and plot, beside the model's accuracy, and their metrics."""
    ks = sorted(set(params.components))
    centroid, logistic = {}, {}
    z_fits, z_tests = pca.project(fit.flat, ks[-1]), pca.project(test.flat, ks[-1])
    for k in ks:
        z_fit, z_test = z_fits[:, :k], z_tests[:, :k]
        guess = nearest_centroid(z_fit, fit.labels, z_test, classes)
        centroid[k] = float(np.mean(guess == test.labels))
        guess = logistic_regression(z_fit, fit.labels, z_test, classes, params.logistic_steps)
        logistic[k] = float(np.mean(guess == test.labels))
    cumulative = np.cumsum(pca.explained)
    title = "PCA baselines"
    report.text(
        title,
        "How far the first k principal components get without the model: the nearest class "
        "centroid in component space, and multinomial logistic regression on the standardised "
        f"components ({params.logistic_steps} gradient steps), both fitted on the training split "
        f"and scored on the held-out split ({len(test.labels):,} images), beside the model.",
    )
    rows = [[k, float(cumulative[k - 1]), centroid[k], logistic[k], model_accuracy] for k in ks]
    report.table(
        title,
        ["k", "variance explained", "nearest centroid", "logistic regression", model_name],
        rows,
        formats=["int", "pct", "pct", "pct", "pct"],
    )
    report.line_plot(
        title,
        {
            "nearest centroid": [centroid[k] for k in ks],
            "logistic regression": [logistic[k] for k in ks],
            model_name: [model_accuracy] * len(ks),
        },
        xlabel="principal components k",
        ylabel="held-out accuracy",
        x=[float(k) for k in ks],
    )
    best = max(max(centroid.values()), max(logistic.values()))
    report.metric("model_accuracy", model_accuracy)
    report.metric("pca_centroid_accuracy", {str(k): v for k, v in centroid.items()})
    report.metric("pca_logistic_accuracy", {str(k): v for k, v in logistic.items()})
    report.metric("explained_variance", {str(k): float(cumulative[k - 1]) for k in ks})
    report.metric("best_pca_accuracy", best)
    report.metric("margin_over_pca", model_accuracy - best)
    pct = kinterp.format_number
    report.verdict(
        f"{model_name} gets {pct(model_accuracy, 'pct')} held out; the best PCA baseline "
        f"(k <= {ks[-1]}) gets {pct(best, 'pct')}: a margin of "
        f"{pct(model_accuracy - best, 'pct')}",
        tone="good" if model_accuracy > best else "warn",
    )
    report.key("Class means")


def write_pixel_values(
    report: kinterp.ReportBuilder, fit: Split, names: list[str], bins: int
) -> None:
    """The "Pixel values" histograms and table of each class."""
    title = "Pixel values"
    groups = {n: fit.images[fit.labels == c] for c, n in enumerate(names)}
    groups = {n: g for n, g in groups.items() if len(g)}
    report.histogram(
        title,
        {n: g.ravel() for n, g in groups.items()},
        xlabel="pixel value",
        caption="Every pixel of every training image, by class (log scale).",
        bins=bins,
        logy=True,
    )
    rows = []
    for n, g in groups.items():
        darkest = pixel_histogram(g, bins)[0][0]
        bright = pixel_histogram(g, [0.0, BRIGHT, 1.0])[0][1]
        rows.append([n, float(g.mean()), float(darkest), float(bright)])
    report.table(
        title,
        ["class", "mean value", f"in the darkest bin (< {1 / bins:.3g})", f"bright (≥ {BRIGHT:g})"],
        rows,
        formats=[None, "float", "pct", "pct"],
    )


def write_variograms(report: kinterp.ReportBuilder, fit: Split, names: list[str], lag: int) -> None:
    """The "Neighbour differences" plots: each class's variograms along rows and columns."""
    title, lags = "Neighbour differences", list(range(1, lag + 1))
    curves = {
        n: variogram(fit.images[fit.labels == c], lags)
        for c, n in enumerate(names)
        if np.any(fit.labels == c)
    }
    report.text(
        title,
        "Variograms: the mean |difference| between two pixels k apart in the same row "
        "(horizontal neighbours) or the same column (vertical neighbours), for each class. Low "
        "at small k: smooth strokes; the distance where a curve peaks is about the width of "
        "the class's shapes.",
    )
    for axis, label in enumerate(("rows (horizontal", "columns (vertical")):
        report.line_plot(
            title,
            {n: curve[axis].tolist() for n, curve in curves.items()},
            xlabel="distance k (pixels)",
            ylabel="mean |difference|",
            caption=f"Along {label} neighbours), by class.",
            x=[float(k) for k in lags],
        )
    report.metric(
        "variogram_lag1", {n: float(rows[0] + cols[0]) / 2 for n, (rows, cols) in curves.items()}
    )


@kinterp.hookimpl
def register_techniques(register: Any) -> None:
    """Register the datastats technique."""
    register(Datastats())
