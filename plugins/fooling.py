"""fooling: evolve images that the network labels with >= 99.99% confidence.

Nguyen, Yosinski & Clune (2015), "Deep Neural Networks are Easily Fooled", and the classic
blog version: a population of noise images per class, the best kept, the rest bred by
uniform crossover and mutated, until the model is sure. ``--encoding cppn`` evolves a
fixed-topology CPPN (:mod:`kinterp.toolkit.cppn`: x, y, r and a bias through two hidden layers
of 8 to one output per channel) whose weights alone evolve; Nguyen et al. evolved the topology
and activation functions too, with NEAT, which is not done here. Every class's population (and every
independent run of ``--count``) is one batch per generation (:mod:`kinterp.toolkit.evolve`). With
``--prior stats`` the search also pays for straying from the class's pixel-neighbour
statistics (:mod:`kinterp.toolkit.pixelstats`) and draws pixels from the class's value histogram.
Direct genomes start as noise of every density, from faint to dense (``--start density``), or as
plain uniform noise over the input range (``--start uniform``, the classic start: the mean of
many fooling images then keeps a grey background where the model does not look).

An image counts as *fooling* only when its target confidence is >= ``--target`` and no other
class's confidence is above ``RIVAL`` (0.5): on sigmoid outputs an image can push its target to
0.9999 and another class past 0.5 at once, and that image is not labelled as the target alone.
The report counts both (target reached; target reached with no rival) and the verdict uses the
strict count. Whether an image looks unlike a real one is not judged: the report gives its RMS
distance to the nearest real image of its class (with a dataset) and other models' confidence
(``--also``), and claims no more.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

import kinterp
from kinterp import load_alongside, zoo_models
from kinterp.toolkit import (
    Budget,
    breeding_bytes,
    budget,
    cppn,
    fitting_batch,
    next_generation,
    pixel_histogram,
    variogram,
)
from kinterp.toolkit.optimize import check_indices

LAGS = 14  # variogram lags 1..14, as in the blog
HISTOGRAM_BINS = 32  # the --bins default
MIN_RATE = 0.05  # adaptive mutation never falls below 5% of --mutation
CPPN_NOISE = 0.5  # a mutated CPPN weight moves by this much (standard deviation)
PIXEL_NOISE = 0.3  # a mutated pixel moves by this much (standard deviation), then is clipped
SHOWN_RUNS = 8
GROUP_BYTES = 256  # a group's target, best confidence, generation and seconds
INPUT_BYTES = 2 * 4  # per pixel while classifying: the float32 model input and a temporary
OUTPUT_BYTES = 2 * 4 + 3 * 8  # per class: float32 outputs and their concatenation, softmax
ROW_BYTES = 4 * 8  # per genome while scoring: confidence, fitness and temporaries (float64)
COST_BYTES = 3 * 8  # per class with --fitness cost: the one-hot difference and its absolute
VARIOGRAM_BYTES = 3 * 8  # per pixel with the prior: float64 images and two lag differences
NOISE_DRAW_BYTES = 16  # per gene: float64 Gaussian noise, as float32, the sum
PRIOR_DRAW_BYTES = 52  # per pixel: ClassPrior.sample's draws, bin tests, values (measured 47)
RIVAL = 0.5  # a fooling image has no other class above this confidence
MARGIN = 2e-6  # a run stops this far past the target, so re-evaluating its image stays past it
ENCODINGS = {
    "direct": "direct (each pixel is a gene)",
    "cppn": f"cppn, a fixed-topology CPPN (x, y, r and a bias -> {cppn.HIDDEN} -> {cppn.HIDDEN} "
    "-> one sigmoid output per channel; its weights evolve, saved in arrays/fooling-genomes.npy), "
    "not Nguyen et al.'s NEAT-evolved topology and activation functions",
}


@dataclass
class FoolingParams:
    classes: list[int] | None = field(
        default=None,
        metadata={
            "help": "Classes to fool (default: all).",
            "min": 0,
            "max": 1_000_000,
            "max_items": 4096,
        },
    )
    count: int = field(
        default=1, metadata={"help": "Independent images per class.", "min": 1, "max": 100_000}
    )
    encoding: Literal["direct", "cppn"] = field(
        default="direct",
        metadata={
            "help": "direct: each pixel a gene; cppn: a fixed-topology CPPN (x, y, r, bias -> "
            "8 -> 8 -> output) whose weights evolve (not NEAT: the topology never changes)."
        },
    )
    fitness: Literal["confidence", "cost"] = field(
        default="confidence",
        metadata={"help": "Target confidence, or minus the blog's sum |output - one-hot|."},
    )
    prior: Literal["none", "stats"] = field(
        default="none",
        metadata={
            "help": "stats: penalise straying from the class's variogram; draw pixels "
            "from its value histogram."
        },
    )
    start: Literal["density", "uniform"] = field(
        default="density",
        metadata={
            "help": "First population of direct genomes: density: uniform noise times a random "
            "density per genome (faint to dense); uniform: plain uniform noise over the input "
            "range (the classic start)."
        },
    )
    bins: int = field(
        default=HISTOGRAM_BINS,
        metadata={
            "help": "Bins of the pixel-value histograms (the report's, and --prior stats').",
            "min": 2,
            "max": 1024,
        },
    )
    prior_weight: float = field(
        default=1.0, metadata={"help": "Weight of the variogram penalty.", "min": 0, "max": 1e6}
    )
    population: int = field(
        default=100, metadata={"help": "Genomes per class and run.", "min": 4, "max": 100_000}
    )
    elite: int = field(
        default=5, metadata={"help": "Best genomes kept unchanged.", "min": 1, "max": 100_000}
    )
    selection: Literal["elite", "truncation", "tournament"] = field(
        default="elite", metadata={"help": "How parents are chosen."}
    )
    mutation: float = field(
        default=0.02, metadata={"help": "Chance that a gene mutates.", "min": 0, "max": 1}
    )
    adaptive: bool = field(
        default=False,
        metadata={"help": "Shrink the mutation rate as the confidence nears the target."},
    )
    generations: int = field(
        default=100, metadata={"help": "Most generations.", "min": 1, "max": 100_000}
    )
    target: float = field(
        default=0.9999, metadata={"help": "Confidence at which a run stops.", "min": 0, "max": 1}
    )
    also: list[str] | None = field(
        default=None,
        metadata={
            "help": "Models for the transfer test (default: the zoo's other models of "
            "the same data).",
            "max_items": 8,
            "file": "model",
        },
    )
    batch_size: int = field(
        default=2048, metadata={"help": "Images per model call.", "min": 1, "max": 65536}
    )


@dataclass
class ClassPrior:
    """What real images of each class look like: variograms and pixel-value histograms."""

    rows: np.ndarray  # (K, LAGS)
    cols: np.ndarray  # (K, LAGS)
    histogram: np.ndarray  # (K, bins)
    edges: np.ndarray  # (bins + 1,)
    means: np.ndarray  # (K, H, W, C) class mean images
    examples: list[np.ndarray]  # per class, real images (for the nearest-example distance)

    def distance(self, images: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """(N,) mean |variogram - the class's variogram| of each image."""
        rows, cols = variogram(images, LAGS, per_image=True)
        return (
            np.abs(rows - self.rows[targets]).mean(1) + np.abs(cols - self.cols[targets]).mean(1)
        ) / 2

    def sample(self, classes: np.ndarray, shape: tuple[int, ...], rng) -> np.ndarray:
        """Pixel values drawn from each group's class histogram; ``classes`` is (G,)."""
        cumulative = np.cumsum(self.histogram[classes], axis=1)  # (G, bins)
        u = rng.random(shape)
        flat = u.reshape(len(classes), -1)
        bins = np.minimum(
            (flat[:, :, None] > cumulative[:, None, :-1]).sum(-1), len(self.edges) - 2
        )
        low, width = self.edges[bins], np.diff(self.edges)[bins]
        return (low + rng.random(bins.shape) * width).reshape(shape).astype("float32")


def class_prior(ctx: kinterp.RunContext, classes: int, bins: int = HISTOGRAM_BINS) -> ClassPrior:
    """The per-class statistics of the run's dataset (training split if it has one)."""
    data = ctx.data()
    x, y = data.train()
    if len(x) == 0:
        x, y = data.test()
    if y is None:
        raise kinterp.KinterpError("--prior stats needs labelled data; pass --data with labels")
    images = ctx.model.to_images(x)
    missing = [c for c in range(classes) if not np.any(y == c)]
    if missing:
        raise kinterp.KinterpError(
            f"the dataset has no images of class {missing[0]}; pass --data with every class"
        )
    per_class = [images[y == c] for c in range(classes)]
    variograms = [variogram(group, LAGS) for group in per_class]
    histograms = [pixel_histogram(group, bins) for group in per_class]
    return ClassPrior(
        np.stack([v[0] for v in variograms]),
        np.stack([v[1] for v in variograms]),
        np.stack([h[0] for h in histograms]),
        histograms[0][1],
        np.stack([g.mean(axis=0) for g in per_class]),
        [g[:1000] for g in per_class],
    )


@dataclass
class Evolution:
    """Where each group (class x run) ended."""

    targets: np.ndarray  # (G,) class of each group
    images: np.ndarray  # (G, H, W, C) best image of each group
    genomes: np.ndarray | None  # (G, genes) the CPPN weights of each best image (cppn only)
    generation: np.ndarray  # (G,) generation that reached the target, -1 if none did
    seconds: np.ndarray  # (G,) time to the target (nan if never)
    curve: np.ndarray  # (G, generations run) best confidence after each generation
    evaluated: int  # images classified
    start_mean: float  # the mean pixel value of the first population, in [0, 1] image units


class Fooling(kinterp.Technique):
    name = "fooling"
    summary = "Evolve noise images the network labels with >= 99.99% confidence"
    Params = FoolingParams
    key_metric = "fooled_fraction"
    demo = (
        kinterp.DemoPreset(
            "mnist-cnn", {"generations": 60}, quick={"classes": [0, 1, 2], "generations": 20}
        ),
    )

    def run(self, ctx: kinterp.RunContext, params: FoolingParams) -> None:
        model, info = ctx.model, ctx.model.info
        shape = model.require_image()
        if params.start != "density" and (params.encoding != "direct" or params.prior != "none"):
            raise kinterp.KinterpError(
                f"--start {params.start} sets the first pixels of direct genomes; it does not "
                "apply with --encoding cppn or --prior stats (drop one of them)"
            )
        if params.elite >= params.population:
            raise kinterp.KinterpError(
                f"--elite {params.elite} leaves no room to breed in a population of "
                f"{params.population}; use a smaller --elite or a larger --population"
            )
        classes = check_indices(
            params.classes, info.num_outputs, f"classes of {info.name}", "--classes"
        )
        room = population_budget(params, len(classes) * params.count, shape, info.num_outputs)
        batch = fitting_batch(model, params.batch_size, room)
        stats, missing = class_statistics(
            ctx, info.num_outputs, params.bins, params.prior == "stats"
        )
        also = transfer_models(model, params.also)
        prior = stats if params.prior == "stats" else None
        evolution = evolve(ctx, params, shape, classes, prior, batch)
        FoolingReport(ctx, params, evolution, stats, also, missing).write()


def class_statistics(ctx, classes: int, bins: int, required: bool) -> tuple[ClassPrior | None, str]:
    """The dataset's class statistics, for the prior and for the report's distances.

    Without ``--prior stats`` a model with no fitting dataset still runs: the report then
    says why it has no distances to real images.
    """
    try:
        return class_prior(ctx, classes, bins), ""
    except kinterp.KinterpError as exc:
        if required:
            raise
        return None, str(exc)


def population_budget(params: FoolingParams, groups: int, shape, classes: int) -> Budget:
    """Refuse populations whose arrays would not fit in memory; else what is left for each
    model call.

    Raises:
        KinterpError: with the estimate, the budget and what to change.
    """
    room = budget()
    need = population_bytes(params, groups, shape, classes)
    what = f"{groups:,} {params.encoding} populations of {params.population:,}"
    fix = "use a smaller --count, --population or --generations, or fewer --classes"
    room.require(need, what, fix)
    return room.less(need, "the populations")


def population_bytes(params: FoolingParams, groups: int, shape, classes: int) -> int:
    """Peak bytes of the numpy arrays of evolving ``groups`` populations (the model calls'
    own memory is sized separately, by the batch).

    Kept throughout: the genomes, each group's best image and confidence curve. In a
    generation: the decoded images (and a copy of the genomes), the confidences, then the
    largest of rendering (CPPN), classifying (the model input), scoring (cost, variogram
    prior) and breeding.
    """
    count, pixels = groups * params.population, int(np.prod(shape))
    genes = cppn.genome_size(shape[-1]) if params.encoding == "cppn" else pixels
    curve = 2 * 8 * params.generations  # float64 per generation, and the stacked copy
    kept = 4 * count * genes + groups * (4 * pixels + curve + GROUP_BYTES)
    if params.encoding == "cppn":
        kept += 4 * groups * genes  # each group's best genome
    decoded = 4 * count * genes  # the active genomes' copy; direct genomes are their images
    render = 0
    if params.encoding == "cppn":
        decoded += 4 * count * pixels
        render = cppn.render_bytes(count, shape) - 4 * count * pixels
    probs = 8 * count * classes
    classify = count * (INPUT_BYTES * pixels + OUTPUT_BYTES * classes)
    score = count * ROW_BYTES
    if params.fitness == "cost":
        score += count * COST_BYTES * classes
    if params.prior == "stats" and params.prior_weight:
        score += count * VARIOGRAM_BYTES * pixels
    prior_draws = params.prior == "stats" and params.encoding == "direct"
    draw = PRIOR_DRAW_BYTES if prior_draws else NOISE_DRAW_BYTES
    breed = 4 * count * genes + breeding_bytes(count, genes, draw)
    return kept + decoded + probs + max(render, classify, score, breed)


def transfer_models(model: kinterp.LoadedModel, specs: list[str] | None) -> dict:
    """The models of the transfer test: ``--also``, else the zoo's others of the same data."""
    if specs is None:
        card = model.info.card or {}
        specs = (
            [
                name
                for name, entry in zoo_models().items()
                if name != model.info.name and entry.card.get("dataset") == card.get("dataset")
            ]
            if card
            else []
        )
    return load_alongside(model, specs, "--also")


def evolve(ctx, params: FoolingParams, shape, classes, prior, batch: int) -> Evolution:
    """Run every class x run as one population batch per generation until each is fooled,
    classifying ``batch`` images per model call."""
    rng = ctx.rng
    targets = np.repeat(np.asarray(classes), params.count)
    groups, size = len(targets), params.population
    genomes = first_population(params, targets, shape, prior, rng)
    start_mean = 0.0  # generation 0's images: the first population decoded
    done = np.zeros(groups, dtype=bool)
    best_images = np.zeros((groups, *shape), dtype="float32")
    cppn_encoded = params.encoding == "cppn"
    best_genomes = np.zeros((groups, genomes.shape[-1]), "float32") if cppn_encoded else None
    best_conf = np.zeros(groups)
    generation = np.full(groups, -1)
    seconds = np.full(groups, np.nan)
    curve, evaluated, clock = [], 0, time.perf_counter()
    with ctx.progress(params.generations, f"fooling: {groups} populations of {size}") as bar:
        for gen in range(params.generations):
            active = np.flatnonzero(~done)
            images = decode(genomes[active], params.encoding, shape)
            if gen == 0:
                start_mean = float(images.mean())
            flat = images.reshape(-1, *shape)
            probs = ctx.model.classify_images(flat, batch).probs
            evaluated += len(flat)
            conf = probs.reshape(len(active), size, -1)[
                np.arange(len(active))[:, None], :, targets[active][:, None]
            ][:, 0]
            fitness = score(
                conf, probs.reshape(len(active), size, -1), targets[active], flat, params, prior
            )
            top = fitness.argmax(axis=1)
            best_images[active] = images[np.arange(len(active)), top]
            if best_genomes is not None:
                best_genomes[active] = genomes[active, top]
            best_conf[active] = conf[np.arange(len(active)), top]
            reached = active[best_conf[active] >= params.target + MARGIN]
            generation[reached], seconds[reached] = gen + 1, time.perf_counter() - clock
            done[reached] = True
            curve.append(best_conf.copy())
            bar.advance()
            if done.all():
                break
            still = ~done[active]
            rate = params.mutation * np.ones(int(still.sum()))
            if params.adaptive:
                rate *= np.clip((1 - best_conf[active][still]) * 10, MIN_RATE, 1.0)
            genomes[active[still]] = next_generation(
                genomes[active[still]],
                fitness[still],
                params.selection,
                params.elite,
                rate,
                rng,
                mutation_draw(params.encoding, targets[active[still]], prior, rng),
            )
    curves = np.stack(curve, axis=1)
    return Evolution(
        targets, best_images, best_genomes, generation, seconds, curves, evaluated, start_mean
    )


def first_population(params: FoolingParams, targets: np.ndarray, shape, prior, rng) -> np.ndarray:
    """(G, P, genes) the starting genomes of every group (``targets`` is (G,)): random CPPN
    weights, pixels drawn from the class histograms (the prior), plain uniform noise
    (``--start uniform``) or uniform noise times a random density per genome, from faint to
    dense, so dark classes have a start (``--start density``)."""
    groups, size = len(targets), params.population
    if params.encoding == "cppn":
        return rng.standard_normal((groups, size, cppn.genome_size(shape[-1]))).astype("f4")
    if prior is not None:
        return prior.sample(targets, (groups, size, *shape), rng)
    noise = rng.random((groups, size, *shape), dtype="float32")
    if params.start == "uniform":
        return noise
    return noise * rng.random((groups, size, *([1] * len(shape))), dtype="float32")


def fooling_counts(
    probs: np.ndarray, targets: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Which images reach the target, and which also have no rival class above ``RIVAL``.

    Args:
        probs: (G, K) class confidences of the images.
        targets: (G,) each image's target class.
        threshold: the target confidence an image must reach (``--target``).

    Returns:
        (reached, fooled): (G,) booleans; ``fooled`` is ``reached`` with every other class's
        confidence <= ``RIVAL``.
    """
    probs = np.asarray(probs, dtype="float64")
    rows = np.arange(len(targets))
    reached = probs[rows, targets] >= threshold
    others = probs.copy()
    others[rows, targets] = -np.inf
    rival = others.max(axis=1) > RIVAL if probs.shape[1] > 1 else np.zeros(len(rows), bool)
    return reached, reached & ~rival


def decode(genomes: np.ndarray, encoding: str, shape) -> np.ndarray:
    """(G, P, H, W, C) images of genomes."""
    return cppn.render(genomes, shape) if encoding == "cppn" else genomes


def score(conf, probs, targets, flat, params: FoolingParams, prior) -> np.ndarray:
    """(G, P) fitness: the target confidence, or minus the blog's cost; less the prior."""
    if params.fitness == "cost":
        onehot = np.eye(probs.shape[-1])[targets][:, None, :]
        fitness = -np.abs(probs - onehot).sum(axis=-1)
    else:
        fitness = conf.astype("float64")
    if prior is not None and params.prior_weight:
        per_image = np.repeat(targets, probs.shape[1])
        fitness = fitness - params.prior_weight * prior.distance(flat, per_image).reshape(
            conf.shape
        )
    return fitness


def mutation_draw(encoding: str, targets: np.ndarray, prior, rng):
    """What a mutated gene becomes: the old pixel or CPPN weight plus Gaussian noise, or under
    the prior a fresh pixel from the class's value histogram."""
    if encoding == "cppn":
        return lambda genomes: genomes + rng.normal(0, CPPN_NOISE, genomes.shape).astype("f4")
    if prior is not None:
        return lambda genomes: prior.sample(targets, genomes.shape, rng)
    return lambda genomes: np.clip(
        genomes + rng.normal(0, PIXEL_NOISE, genomes.shape).astype("f4"), 0.0, 1.0
    )


class FoolingReport:
    """Verdict and images first, then per-class figures, curves, mean images and transfer."""

    def __init__(self, ctx, params, evolution: Evolution, stats, also, missing: str):
        self.ctx, self.params, self.e, self.stats, self.also = ctx, params, evolution, stats, also
        self.missing = missing
        self.report = ctx.report
        # The confidences reported are the model's on the images as saved (float32).
        probs = ctx.model.classify_images(evolution.images).probs
        self.conf = probs[np.arange(len(evolution.targets)), evolution.targets]
        self.reached, self.fooled = fooling_counts(probs, evolution.targets, params.target)
        self.names = [ctx.model.info.class_name(c) for c in evolution.targets]

    def write(self) -> None:
        self.summary()
        self.per_class()
        self.curves()
        self.means()
        self.pixel_values()
        self.metrics()
        self.verdict()

    def verdict(self) -> None:
        """The first line: how many images fool the model (target reached, no rival), how fast."""
        done = self.e.generation[self.e.generation > 0]
        speed = f", median {int(np.median(done))} generations" if len(done) else ""
        target = kinterp.format_number(self.params.target, "prob")
        self.report.verdict(
            f"{int(self.fooled.sum())}/{len(self.fooled)} evolved images labelled with "
            f"confidence >= {target} and no other class above {RIVAL:g} "
            f"({int(self.reached.sum())} reach {target}){speed}",
            tone="warn" if self.fooled.any() else "good",
        )
        self.report.key("Fooling images")

    def summary(self) -> None:
        e, p, title = self.e, self.params, "Fooling images"
        reached = self.reached
        done = e.generation[e.generation > 0]
        median = f"median {int(np.median(done))} generations" if len(done) else "none reached it"
        self.report.text(
            title,
            f"{int(reached.sum())}/{len(reached)} images reached {p.target:.2%} confidence "
            f"({median}; {e.evaluated:,} images evaluated); {int(self.fooled.sum())} of them "
            f"with no other class above {RIVAL:g}. An image counts as fooling only when its "
            f"target confidence is >= {p.target:.2%} and no other class's is above {RIVAL:g}. "
            "How unlike real images they are is not judged here: see the per-class table's "
            "distance to the nearest real image and other models' confidence. "
            f"Encoding: {ENCODINGS[p.encoding]}; {self.start_text()}. Fitness "
            f"{p.fitness}, prior {p.prior}, population {p.population}, elite {p.elite}, "
            f"{p.selection} selection. Captions give the model's confidence in the target class "
            "for the image as saved.",
        )
        runs = min(p.count, SHOWN_RUNS)
        keep = np.concatenate(
            [np.flatnonzero(e.targets == c)[:runs] for c in dict.fromkeys(e.targets.tolist())]
        )
        self.report.grid(
            title,
            e.images[keep],
            rows=[f"class {n}" for n in dict.fromkeys(self.names)],
            columns=[f"run {i + 1}" for i in range(runs)],
            captions=[f"p {self.conf[i]:.6f}" for i in keep],
            name="fooling",
        )
        self.report.array("fooling-images", e.images)
        self.report.array("fooling-targets", e.targets)
        if e.genomes is not None:
            self.report.array("fooling-genomes", e.genomes)

    def per_class(self) -> None:
        e, title = self.e, "Per class"
        extra = {name: m.classify_images(e.images).of(e.targets) for name, m in self.also.items()}
        nearest = self.nearest_real() if self.stats is not None else None
        vario = self.stats.distance(e.images, e.targets) if self.stats is not None else None
        columns = [
            "class",
            "reached",
            f"no rival > {RIVAL:g}",
            "median generations",
            "median seconds",
            "mean confidence",
        ]
        columns += [f"confidence on {name}" for name in extra]
        if self.stats is not None:
            columns += ["nearest real (RMS)", "variogram distance"]
        rows = []
        for c in dict.fromkeys(e.targets.tolist()):
            mine = e.targets == c
            hit = e.generation[mine] > 0
            row = [
                self.ctx.model.info.class_name(c),
                f"{int(self.reached[mine].sum())}/{int(mine.sum())}",
                f"{int(self.fooled[mine].sum())}/{int(mine.sum())}",
                float(np.median(e.generation[mine][hit])) if hit.any() else None,
                float(np.median(e.seconds[mine][hit])) if hit.any() else None,
                float(self.conf[mine].mean()),
                *(float(v[mine].mean()) for v in extra.values()),
            ]
            if self.stats is not None:
                row += [float(nearest[mine].mean()), float(vario[mine].mean())]
            rows.append(row)
        formats = [None, None, None, "float", "float", "prob", *(["prob"] * len(extra))]
        self.report.table(
            title, columns, rows, formats + ["float", "float"][: len(columns) - len(formats)]
        )
        if not extra:
            self.report.text(
                title,
                "No second model of the same data for the transfer test; name one with --also.",
            )
        for name, values in extra.items():
            self.report.metric(f"transfer_{name}", float(values.mean()))
        if vario is not None:
            self.report.metric("variogram_distance", float(vario.mean()))

    def nearest_real(self) -> np.ndarray:
        """(G,) RMS distance of each image to the closest real example of its class."""
        out = np.zeros(len(self.e.targets))
        for i, (image, c) in enumerate(zip(self.e.images, self.e.targets, strict=True)):
            real = self.stats.examples[c].reshape(len(self.stats.examples[c]), -1)
            out[i] = np.sqrt(((real - image.reshape(1, -1)) ** 2).mean(axis=1)).min()
        return out

    def curves(self) -> None:
        e, title = self.e, "Best confidence by generation"
        first = [np.flatnonzero(e.targets == c)[0] for c in dict.fromkeys(e.targets.tolist())]
        self.report.line_plot(
            title,
            {f"class {self.names[i]}": e.curve[i].tolist() for i in first},
            xlabel="generation",
            ylabel="best confidence",
            x=list(range(1, e.curve.shape[1] + 1)),
            caption="The best target confidence in each class's population (first run).",
        )

    def means(self) -> None:
        e, title = self.e, "Mean images"
        order = list(dict.fromkeys(e.targets.tolist()))
        fooled = np.stack([e.images[e.targets == c].mean(axis=0) for c in order])
        columns, cells = ["mean of fooling images"], [fooled]
        if self.stats is not None:
            columns.append("mean of real images")
            cells.append(self.stats.means[order])
        self.report.text(
            title,
            f"Per class, the mean of its {self.params.count} fooling "
            "image(s): what the search converges to.",
        )
        self.report.grid(
            title,
            np.stack(cells, axis=1).reshape(-1, *e.images.shape[1:]),
            rows=[f"class {self.ctx.model.info.class_name(c)}" for c in order],
            columns=columns,
            name="means",
        )

    def start_text(self) -> str:
        """The first population, in words."""
        p = self.params
        if p.encoding == "cppn":
            return "first population: random CPPN weights"
        if p.prior == "stats":
            return "first population: pixels drawn from each class's value histogram"
        if p.start == "uniform":
            return "first population: plain uniform noise over the input range"
        return "first population: uniform noise times a random density per image"

    def pixel_values(self) -> None:
        """The "Pixel values" section: the histogram of the fooling images' pixels (with
        ``--bins`` equal bins over the input range), beside the real images' of their
        classes when the dataset is known."""
        e, title, bins = self.e, "Pixel values", self.params.bins
        fooled, edges = pixel_histogram(e.images, bins)
        columns, values = ["from", "to", "fooling images"], [fooled]
        if self.stats is not None:
            columns.append("real images of their classes")
            values.append(self.stats.histogram[list(dict.fromkeys(e.targets.tolist()))].mean(0))
        real = (
            ", and the mean of the class histograms of the real images" if len(values) > 1 else ""
        )
        self.report.text(
            title,
            f"The fraction of pixel values in each of {bins} equal bins over the input range "
            "(in [0, 1] image units, 0 its bottom) of the fooling images saved in "
            f"arrays/fooling-images.npy{real}. The first population's mean pixel value was "
            f"{e.start_mean:.3f}.",
        )
        self.report.table(
            title,
            columns,
            [
                [float(edges[i]), float(edges[i + 1]), *(float(v[i]) for v in values)]
                for i in range(bins)
            ],
            formats=["float", "float", *["prob"] * len(values)],
        )

    def metrics(self) -> None:
        e = self.e
        self.report.metric("reached_fraction", float(np.mean(self.reached)))
        self.report.metric("fooled_fraction", float(np.mean(self.fooled)))
        self.report.metric("mean_confidence", float(self.conf.mean()))
        done = e.generation[e.generation > 0]
        self.report.metric("median_generations", float(np.median(done)) if len(done) else None)
        self.report.metric("images_evaluated", e.evaluated)
        self.report.metric("start_mean", e.start_mean)


@kinterp.hookimpl
def register_techniques(register):
    register(Fooling())
