"""Robustness: where does the network stop seeing a digit?

Sweeps every registered perturbation family (``kinterp.perturbation_families()``: the built-in
ones of :mod:`kinterp.toolkit.perturb` and any a plugin registers) over a labelled dataset and
measures, per level, accuracy, confidence in the true class, top confidence, predictions
changed from the clean images, and rejections (top confidence under 0.5: "no output fires").
The headline is ``edge``: MNIST digits sit in a 20x20 box centred in the 28x28 frame, so
masking the border should change nothing, and a network that does mind has learned the frame.
A border-sensitivity map shows where a blob of ink changes the network's mind.

Attack families (``fgsm``, ``pgd``: ``Family.attack``) are white-box: each model, the compared
ones included, is attacked through its own gradients, so its curve is its own worst case.
They are not swept unless ``--family`` names them.

``--suite mnist-c`` sweeps a named suite of corruptions instead (``kinterp.toolkit.SUITES``:
the 15 of MNIST-C), and :mod:`kinterp_plugins.robustness_suite` scores it: accuracy per
corruption and model, and with ``--compare`` the mean corruption error against the first
compared model. A suite's families are not in the default ``--family`` list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from kinterp_plugins.robustness_suite import SuiteSection

import kinterp
from kinterp import load_alongside
from kinterp.toolkit import (
    ATTACKS,
    FAMILIES,
    PGD,
    SUITES,
    AttackTarget,
    Digits,
    Family,
    attack_batch,
    border_mask,
    budget,
    fitting_batch,
    stamp,
)

BREAK_FRACTION = 0.9  # a family breaks at its level nearest the identity below 90% of clean
REJECT_BELOW = 0.5
STRIP_EXAMPLES = 2


MAX_LEVELS = 32  # levels per family
MAX_FAMILIES = 64  # names one --family takes


def _own_levels(name: str, help_text: str):
    """A built-in family's own option (``--edge``): its default levels and bounds."""
    family = FAMILIES[name]
    return field(
        default_factory=lambda: list(family.levels),
        metadata={
            "help": help_text,
            "min": family.low,
            "max": family.high,
            "max_items": MAX_LEVELS,
        },
    )


class RegisteredFamilies(Sequence[str]):
    """The names of the registered perturbation families, looked up each time they are read:
    plugins register families after this module is imported."""

    def __len__(self) -> int:
        return len(kinterp.perturbation_families())

    def __getitem__(self, index):  # type: ignore[override]
        return list(kinterp.perturbation_families())[index]


def default_families() -> list[str]:
    """Every registered family but the attacks (``by_default`` False) and those of a suite
    (which ``--suite`` selects)."""
    in_suites = {name for names in SUITES.values() for name in names}
    return [
        name
        for name, family in kinterp.perturbation_families().items()
        if family.by_default and name not in in_suites
    ]


@dataclass
class RobustnessParams:
    family: list[str] = field(
        default_factory=default_families,
        metadata={
            "help": "Perturbation families to sweep (default: all but the attacks fgsm, pgd "
            "and a suite's).",
            "choices": RegisteredFamilies(),
            "max_items": MAX_FAMILIES,
        },
    )
    edge: list[int] = _own_levels("edge", "Border widths masked (px).")
    scale: list[float] = _own_levels("scale", "Resize factors.")
    shift: list[int] = _own_levels("shift", "Shift distances (px).")
    rotate: list[float] = _own_levels("rotate", "Angles (degrees).")
    noise: list[float] = _own_levels("noise", "Gaussian noise sigmas.")
    bgnoise: list[float] = _own_levels("bgnoise", "Background blends towards noise.")
    saltpepper: list[float] = _own_levels("saltpepper", "Salt-and-pepper fractions.")
    occlude: list[int] = _own_levels("occlude", "Occluding square sides (px).")
    blur: list[float] = _own_levels("blur", "Blur sigmas (px).")
    invert: list[float] = _own_levels("invert", "Blends towards the negative.")
    suite: str | None = field(
        default=None,
        metadata={
            "help": "A named suite of corruptions to sweep and score: mnist-c (its 15 "
            "corruptions, per-corruption accuracy, mCE against the first --compare model). "
            "Alone it sweeps only the suite; with --family, the suite and then those families.",
            "choices": tuple(SUITES),
        },
    )
    levels: str = field(
        default="",
        metadata={
            "help": "Levels of any family, as NAME=L1,L2,... for each, e.g. "
            "rotate=-30,0,30,blur=0,1 (a family not named here sweeps its own option's levels, "
            "else its default levels)."
        },
    )
    pgd_steps: int = field(
        default=10, metadata={"help": "PGD attack: gradient steps.", "min": 1, "max": 1000}
    )
    pgd_step: float = field(
        default=2.5,
        metadata={
            "help": "PGD attack: step size as a multiple of epsilon / steps.",
            "min": 0.01,
            "max": 100,
        },
    )
    pgd_random_start: bool = field(
        default=True,
        metadata={"help": "PGD attack: start at a random point of the epsilon ball (seeded)."},
    )
    limit: int = field(
        default=0, metadata={"help": "Use the first N images (0: all).", "min": 0, "max": 10**7}
    )
    compare: list[str] | None = field(
        default=None,
        metadata={
            "help": "More models (zoo names or paths) on the same curves.",
            "max_items": 8,
            "file": "model",
        },
    )
    sensitivity_images: int = field(
        default=200,
        metadata={
            "help": "Images for the border-sensitivity map (0: skip).",
            "min": 0,
            "max": 100_000,
        },
    )
    blob: int | None = field(
        default=None,
        metadata={
            "help": "Ink blob side (px; default: 3 per 28 px of the image's shorter side).",
            "min": 1,
            "max": 512,
        },
    )
    stride: int | None = field(
        default=None,
        metadata={
            "help": "Blob positions every N px (default: two thirds of the blob).",
            "min": 1,
            "max": 512,
        },
    )
    batch_size: int = field(
        default=512, metadata={"help": "Images per model call.", "min": 1, "max": 65536}
    )


@dataclass
class Curve:
    """One model's measurements over one family's levels (arrays over levels)."""

    model: str
    levels: list[float]
    accuracy: np.ndarray
    true_confidence: np.ndarray
    top_confidence: np.ndarray
    changed: np.ndarray
    rejected: np.ndarray
    top1: np.ndarray  # (levels, N)

    def breaking_point(self, clean: float, identity: float) -> float | None:
        """Where this curve breaks: see :func:`breaking_point`."""
        return breaking_point(self.levels, self.accuracy, clean, identity)


def breaking_point(
    levels: Sequence[float], accuracy: np.ndarray, clean: float, identity: float
) -> float | None:
    """The level nearest ``identity`` whose accuracy is below 90% of ``clean``, whatever the
    order the levels were given in (None: no level is). Of two levels at the same distance
    (-20 and 20 degrees), the lower one."""
    below = [
        level
        for level, value in zip(levels, accuracy, strict=True)
        if value < BREAK_FRACTION * clean
    ]
    return min(below, key=lambda level: (abs(level - identity), level), default=None)


def _measure(result: kinterp.Classification, labels: np.ndarray, clean_top1: np.ndarray):
    return (
        result.accuracy(labels),
        float(result.of(labels).mean()),
        float(result.confidence.mean()),
        float(np.mean(result.top1 != clean_top1)),
        float(np.mean(result.confidence < REJECT_BELOW)),
    )


@dataclass(frozen=True)
class Sweep:
    """One family and the levels a run sweeps it at."""

    family: Family
    levels: list[float]


def parse_levels(text: str, registered: dict[str, Family]) -> dict[str, list[float]]:
    """``rotate=-30,0,30,blur=0,1`` -> ``{"rotate": [-30, 0, 30], "blur": [0, 1]}``: each
    ``NAME=`` starts a family, and the numbers up to the next one are its levels.

    Raises:
        KinterpError: text of another shape, an unknown or repeated family, a level that is not
            a number, or more than ``MAX_LEVELS`` levels for one family.
    """
    levels: dict[str, list[float]] = {}
    name = None
    for item in filter(None, (part.strip() for part in text.split(","))):
        if "=" in item:
            name, item = (part.strip() for part in item.split("=", 1))
            if name not in registered:
                raise kinterp.KinterpError(
                    f"--levels: {name!r} is not a perturbation family; "
                    f"known: {', '.join(registered)}"
                )
            if name in levels:
                raise kinterp.KinterpError(f"--levels names {name} twice; give its levels once")
            levels[name] = []
        if name is None:
            raise kinterp.KinterpError(
                f"--levels expects NAME=L1,L2,... such as rotate=-30,0,30; got {text!r}"
            )
        try:
            levels[name].append(float(item))
        except ValueError:
            raise kinterp.KinterpError(f"--levels {name}: expects numbers, got {item!r}") from None
        if len(levels[name]) > MAX_LEVELS:
            raise kinterp.KinterpError(f"--levels {name}: at most {MAX_LEVELS} levels")
    return levels


def sweeps(params: RobustnessParams, shape: tuple[int, int, int]) -> list[Sweep]:
    """The families a run sweeps, in ``--family`` order without repeats, each at ``--levels
    NAME=...``, else at a built-in's own option (``--edge``), else at its default levels; PGD
    with ``--pgd-steps``, ``--pgd-step`` and ``--pgd-random-start``.

    Raises:
        KinterpError: bad ``--levels``, a built-in's levels given both ways, or a level its
            family or the image size cannot take (``--edge 20`` on 28x28 images).
    """
    registered = kinterp.perturbation_families()
    given = parse_levels(params.levels, registered)
    planned = []
    for name in dict.fromkeys(chosen_families(params)):
        family = registered[name]
        own = getattr(params, name) if name in FAMILIES else None
        if name in given:
            if own is not None and own != list(family.levels):
                raise kinterp.KinterpError(
                    f"--{name} and --levels {name}=... both set {name}'s levels; use one"
                )
            levels, option = given[name], f"--levels {name}="
        elif own is not None:
            levels, option = own, f"--{name} "
        else:
            levels, option = list(family.levels), f"{name} level "
        for level in levels:
            problem = family.problem(level, shape)
            if problem:
                raise kinterp.KinterpError(f"{option}{level:g} {problem}")
        if isinstance(family.apply, PGD):
            family = replace(
                family, apply=PGD(params.pgd_steps, params.pgd_step, params.pgd_random_start)
            )
        planned.append(Sweep(family, [int(v) if family.whole else v for v in levels]))
    return planned


def chosen_families(params: RobustnessParams) -> list[str]:
    """``--family``, or with ``--suite`` the suite's families, then any ``--family`` given
    (one that is not the default list)."""
    if params.suite is None:
        return list(params.family)
    extra = [] if params.family == default_families() else list(params.family)
    return [*SUITES[params.suite], *extra]


class Robustness(kinterp.Technique):
    name = "robustness"
    summary = "Accuracy as digits are edge-masked, scaled, shifted, rotated, noised, occluded"
    Params = RobustnessParams
    key_metric = "robust_accuracy"
    demo = (
        kinterp.DemoPreset(
            "mnist-cnn",
            {"compare": ["mnist-mlp"]},
            quick={
                "compare": None,
                "limit": 300,
                "sensitivity_images": 50,
                "blob": 4,
                "stride": 4,
            },
        ),
        kinterp.DemoPreset(
            "mnist-cnn",
            {"suite": "mnist-c", "compare": ["mnist-mlp"], "sensitivity_images": 0},
            quick={"limit": 300},
        ),
        kinterp.DemoPreset(
            "mnist-rgb-cnn",
            {},
            quick={"limit": 300, "sensitivity_images": 50, "blob": 4, "stride": 4},
        ),
    )

    def run(self, ctx: kinterp.RunContext, params: RobustnessParams) -> None:
        shape = ctx.model.require_image()
        blob, stride = blob_geometry(params, shape)
        params = replace(params, blob=blob, stride=stride)
        plan = sweeps(params, shape)
        if params.blob > min(shape[:2]):
            raise kinterp.KinterpError(
                f"--blob {params.blob} is wider than the {min(shape[:2])}px image"
            )
        if params.sensitivity_images and params.stride > params.blob:
            raise kinterp.KinterpError(
                f"--stride {params.stride} leaves pixels between {params.blob} px blobs "
                f"untested; use --stride at most --blob ({params.blob})"
            )
        models = {ctx.model.info.name: ctx.model}
        models.update(load_alongside(ctx.model, params.compare or [], "--compare"))
        room = budget()  # --batch-size is clamped to what every model's calls can take
        batch = min(fitting_batch(m, params.batch_size, room) for m in models.values())
        if any(sweep.family.attack for sweep in plan):  # and to what their gradients take
            batch = min(attack_batch(m, batch, room) for m in models.values())
        params = replace(params, batch_size=batch)
        inputs, labels = ctx.data().test(params.limit or None)
        if labels is None:
            raise kinterp.KinterpError(
                "robustness needs labelled images; pass --data with a labelled dataset "
                "(a folder of class sub-folders, or an npz with y)"
            )
        if len(labels) == 0:
            raise kinterp.KinterpError("the dataset has no test images; pass another --data")
        digits = Digits.of(ctx.model.to_images(inputs), ctx.seed)
        clean = {
            name: m.classify_images(digits.images, params.batch_size) for name, m in models.items()
        }
        curves, repeats = self._sweep(ctx, params, plan, models, digits, labels, clean)
        report = RobustnessReport(ctx, params, plan, digits, labels, clean, curves, repeats, models)
        report.summary()
        if params.suite is not None:
            suite = {name: report.families[name] for name in SUITES[params.suite]}
            picked = {name: curves[name] for name in suite}
            SuiteSection(ctx.report, params.suite, suite, picked, report.main).write()
        with ctx.progress(len(plan), "examples and plots") as bar:
            for sweep in plan:
                report.family(sweep.family.name)
                bar.advance()
        if params.sensitivity_images:
            height, width = digits.images.shape[1:3]
            rows, cols = (blob_starts(n, params.blob, params.stride) for n in (height, width))
            with ctx.progress(len(rows) * len(cols), "border sensitivity") as bar:
                drop = sensitivity_map(ctx.model, digits, labels, params, bar.advance)
            report.sensitivity(drop)
        report.metrics()

    def _sweep(
        self, ctx, params, plan, models, digits, labels, clean
    ) -> tuple[dict[str, list[Curve]], dict[str, list[float | None]]]:
        """Every family at every level, each perturbed batch classified by every model (an
        attack: each model classifies its own attack's batch); and per family and level, the
        previous level whose images it repeats exactly (a scale past every digit's frame cap),
        else None (an attack's images are not compared)."""
        total = sum(len(s.levels) * (len(models) if s.family.attack else 1) for s in plan)
        curves: dict[str, list[Curve]] = {}
        repeats: dict[str, list[float | None]] = {}
        with ctx.progress(total, "perturbing") as bar:
            for sweep in plan:
                family, rows = sweep.family, {name: [] for name in models}
                same, previous = repeats.setdefault(family.name, []), None
                for level in sweep.levels:
                    if family.attack:
                        same.append(None)
                        for name, model in models.items():
                            target = AttackTarget(model, labels, params.batch_size)
                            batch = family.apply(digits, level, target)
                            rows[name].append(self._row(model, batch, labels, clean[name], params))
                            bar.advance()
                        continue
                    batch = family.apply(digits, level)
                    same.append(_repeated(previous, batch))
                    previous = (level, batch)
                    for name, model in models.items():
                        rows[name].append(self._row(model, batch, labels, clean[name], params))
                    bar.advance()
                curves[family.name] = [_curve(name, sweep.levels, rows[name]) for name in models]
        return curves, repeats

    @staticmethod
    def _row(model, batch, labels, clean, params) -> tuple:
        """One level's measurements of ``batch`` by ``model``, and its classification."""
        result = model.classify_images(batch, params.batch_size)
        return (*_measure(result, labels, clean.top1), result)


def _repeated(previous: tuple[float, np.ndarray] | None, batch: np.ndarray) -> float | None:
    """The previous level when ``batch`` repeats its images exactly, else None."""
    if previous is None or not np.array_equal(previous[1], batch):
        return None
    return previous[0]


def _curve(name: str, levels: list[float], rows: list[tuple]) -> Curve:
    columns = list(zip(*rows, strict=True))
    return Curve(
        name,
        levels,
        *(np.asarray(c, dtype="float64") for c in columns[:5]),
        top1=np.stack([r.top1 for r in columns[5]]),
    )


def sensitivity_map(
    model: kinterp.LoadedModel,
    digits: Digits,
    labels: np.ndarray,
    params: RobustnessParams,
    placed: Callable[[], None] = lambda: None,
) -> np.ndarray:
    """(H, W) accuracy lost when a blob of ink is stamped on clean images: each pixel holds the
    mean loss of the blob placements covering it (``--stride`` at most ``--blob`` and
    :func:`blob_starts` cover every pixel, the last row and column included); ``placed`` is
    called after each placement (progress)."""
    count = min(params.sensitivity_images, len(labels))
    subset, truth = digits.take(np.arange(count)), labels[:count]
    height, width = digits.images.shape[1:3]
    clean = model.classify_images(subset.images, params.batch_size).accuracy(truth)
    total = np.zeros((height, width), dtype="float64")
    covers = np.zeros((height, width), dtype="float64")
    size = params.blob
    for row in blob_starts(height, size, params.stride):
        for col in blob_starts(width, size, params.stride):
            stamped = stamp(subset, row, col, size)
            accuracy = model.classify_images(stamped, params.batch_size).accuracy(truth)
            total[row : row + size, col : col + size] += clean - accuracy
            covers[row : row + size, col : col + size] += 1
            placed()
    return total / covers


BLOB_PER_28 = 3  # px of blob per 28 px of image side: the 3 px of MNIST's 28x28 frame


def blob_geometry(params: RobustnessParams, shape: tuple[int, int, int]) -> tuple[int, int]:
    """``--blob`` and ``--stride``, or the defaults that scale with the image: a blob of 3 px
    per 28 px of the shorter side, placed every two thirds of a blob (3 and 2 on MNIST; 10
    and 7 on 96x96, 196 placements instead of 2,304)."""
    blob = params.blob or max(BLOB_PER_28, round(BLOB_PER_28 * min(shape[:2]) / 28))
    return blob, params.stride or max(1, round(2 * blob / 3))


def blob_starts(length: int, blob: int, stride: int) -> list[int]:
    """Where blobs start along an axis of ``length`` px: every ``stride`` px from 0, and the
    last start that fits (``length - blob``) when the stride steps past it."""
    starts = list(range(0, length - blob + 1, stride))
    return starts if starts[-1] == length - blob else [*starts, length - blob]


class RobustnessReport:
    """Writes the run's sections: the summary first, then one per family, then sensitivity."""

    def __init__(self, ctx, params, plan, digits, labels, clean, curves, repeats, models):
        self.ctx, self.params, self.digits, self.labels = ctx, params, digits, labels
        self.models: dict[str, kinterp.LoadedModel] = models
        self.families: dict[str, Family] = {sweep.family.name: sweep.family for sweep in plan}
        self.clean = {name: c.accuracy(labels) for name, c in clean.items()}
        self.main = ctx.model.info.name
        self.curves: dict[str, list[Curve]] = curves
        self.repeats: dict[str, list[float | None]] = repeats
        self.report = ctx.report

    def level_text(self, value: float, family: str) -> str:
        """A level of ``family`` with its unit, e.g. ``2 px`` or ``45 degrees``."""
        return self.families[family].level_text(value)

    def breaking_points(self, name: str) -> dict[str, float | None]:
        """Per family, where model ``name`` breaks."""
        return {
            family: next(c for c in curves if c.model == name).breaking_point(
                self.clean[name], self.families[family].identity
            )
            for family, curves in self.curves.items()
        }

    def summary(self) -> None:
        """Verdict and the table of clean accuracy, worst level and breaking point."""
        title, clean = "Summary", self.clean[self.main]
        breaks = self.breaking_points(self.main)
        broken = [f"{f} at {self.level_text(v, f)}" for f, v in breaks.items() if v is not None]
        fmt = kinterp.format_number
        verdict = f"{self.main}: {fmt(clean, 'pct')} correct on {len(self.labels):,} clean images. "
        verdict += (
            f"Accuracy falls below {fmt(BREAK_FRACTION, 'pct')} of clean for {', '.join(broken)}."
            if broken
            else f"No family brings accuracy below {fmt(BREAK_FRACTION, 'pct')} of clean at the "
            "levels tried."
        )
        verdict += (
            " A family breaks at its level nearest the clean one (its identity level) with "
            "accuracy below that; of two at the same distance, the lower."
        )
        self.report.text(title, verdict)
        self.report.verdict(
            f"{self.main}: {fmt(clean, 'pct')} correct on {len(self.labels):,} clean images; "
            f"{len(broken)}/{len(breaks)} perturbation families bring it below "
            f"{fmt(BREAK_FRACTION, 'pct')} of that at the levels tried",
            tone="warn" if broken else "good",
        )
        self.overview()
        rows = []
        for family, curves in self.curves.items():
            for c in curves:
                worst = int(np.argmin(c.accuracy))
                point = c.breaking_point(self.clean[c.model], self.families[family].identity)
                rows.append(
                    [
                        family,
                        c.model,
                        self.clean[c.model],
                        c.accuracy[worst],
                        self.level_text(c.levels[worst], family),
                        "never" if point is None else self.level_text(point, family),
                    ]
                )
        self.report.table(
            title,
            ["family", "model", "clean accuracy", "worst accuracy", "at", "breaks at"],
            rows,
            formats=[None, None, "pct", "pct", "text", "text"],
        )

    def overview(self) -> None:
        """The key picture: accuracy against level, a small panel per family, every model a
        line of its own colour (the families' sections follow with their examples)."""
        title = "Accuracy by level"
        self.report.key(title)
        panels = {
            family: (
                [float(v) for v in curves[0].levels],
                {c.model: c.accuracy.tolist() for c in curves},
                f"level ({self.families[family].unit})",
            )
            for family, curves in self.curves.items()
        }
        models = " against ".join(c.model for c in next(iter(self.curves.values()), []))
        self.report.panels(
            title,
            panels,
            ylabel="accuracy",
            ylim=(0.0, 1.02),
            caption=f"Accuracy per level of each family ({models}); the clean level is each "
            "family's identity.",
        )

    def family(self, family: str) -> None:
        """A family's curves, its table and the examples that break first."""
        spec, curves = self.families[family], self.curves[family]
        title = f"{family}: {spec.summary}"
        self.report.text(
            title, f"Levels in {spec.unit}; level {spec.identity:g} is the clean image."
        )
        if spec.attack:
            self.report.text(title, self.attack_note(spec))
        series = {}
        for c in curves:
            series[f"{c.model} accuracy"] = c.accuracy.tolist()
            series[f"{c.model} confidence in true class"] = c.true_confidence.tolist()
            series[f"{c.model} rejected (top < {REJECT_BELOW})"] = c.rejected.tolist()
        self.report.line_plot(
            title,
            series,
            xlabel=f"level ({spec.unit})",
            ylabel="fraction",
            x=curves[0].levels,
            caption="Accuracy, mean confidence in the true class and rejection rate per level.",
        )
        self.report.table(
            title,
            [
                "model",
                "level",
                "accuracy",
                "true-class confidence",
                "top confidence",
                "changed from clean",
                "rejected",
                "note",
            ],
            [
                [
                    c.model,
                    level,
                    *(
                        m[i]
                        for m in (
                            c.accuracy,
                            c.true_confidence,
                            c.top_confidence,
                            c.changed,
                            c.rejected,
                        )
                    ),
                    self.repeat_note(family, i),
                ]
                for c in curves
                for i, level in enumerate(c.levels)
            ],
            formats=[None, "float", "pct", "prob", "prob", "pct", "pct", "text"],
        )
        if spec.block:
            self.report.block(
                title,
                spec.block,
                levels=[spec.level_text(level) for level in curves[0].levels],
                values=curves[0].accuracy.tolist(),
            )
        self.strips(title, family, curves[0])

    def attack_note(self, spec: Family) -> str:
        """What an attack family's levels mean, and that every model faces its own attack."""
        note = (
            "White-box attack: each model is attacked through its own gradients, so each curve "
            "is that model's own worst case (as far as the attack finds it)."
        )
        if spec.name not in ATTACKS:  # a plugin's attack: its levels are its own
            return note
        note += (
            " The loss is the cross-entropy of the true class on the model's logits. Epsilon "
            "is the largest change of any pixel, as a fraction of the input range; every image "
            "stays within it and within the valid range."
        )
        if isinstance(spec.apply, PGD):
            p = spec.apply
            start = "a random point of the ball" if p.random_start else "the clean image"
            note += (
                f" PGD: {p.steps} steps of {p.step_ratio:g} x epsilon / {p.steps} from {start}, "
                "keeping each image's worst point; where FGSM fools the model and PGD does not, "
                "the FGSM image."
            )
        for c in self.curves[spec.name]:
            low, high = self.models[c.model].info.input_range
            if (low, high) != (0.0, 1.0):
                levels = ", ".join(f"{v * (high - low):g}" for v in c.levels)
                note += f" In {c.model}'s own input units ({low:g} to {high:g}): {levels}."
        return note

    def repeat_note(self, family: str, index: int) -> str:
        """The table's note for level ``index`` of ``family``: which level's images it repeats
        exactly (a scale past every digit's frame cap), or ""."""
        same = self.repeats.get(family, [])
        previous = same[index] if index < len(same) else None
        if previous is None:
            return ""
        return f"same images as {self.level_text(previous, family)} (no digit can change more)"

    def strips(self, title: str, family: str, curve: Curve) -> None:
        """The examples (correct when clean) that the family breaks at the lowest level."""
        wrong = curve.top1 != self.labels[None, :]
        correct = ~wrong[
            int(np.argmin(np.abs(np.asarray(curve.levels) - self.families[family].identity)))
        ]
        first_break = np.where(wrong.any(axis=0), wrong.argmax(axis=0), len(curve.levels))
        order = np.argsort(np.where(correct, first_break, len(curve.levels) + 1), kind="stable")
        model, spec = self.ctx.model, self.families[family]
        for index in order[:STRIP_EXAMPLES]:
            one = self.digits.take(np.array([index]))
            target = AttackTarget(model, self.labels[[index]], self.params.batch_size)
            extra = (target,) if spec.attack else ()
            batch = np.concatenate([spec.apply(one, v, *extra) for v in curve.levels])
            result = model.classify_images(batch)
            truth = int(self.labels[index])
            self.report.strip(
                title,
                batch,
                levels=[self.level_text(v, family) for v in curve.levels],
                predictions=[
                    f"label {result.name(truth)} → says {result.name(t)} "
                    f"(p {kinterp.format_number(float(p), 'prob')})"
                    for t, p in zip(result.top1, result.confidence, strict=True)
                ],
                wrong=(result.top1 != truth).tolist(),
                name=f"{family}-example-{index}",
            )
        self.report.text(
            title,
            f"Examples: the test images (correct when clean) that {family} breaks at the lowest "
            "level, each at every level with the prediction; wrong ones are framed in red."
            + (f" The images are {family}'s attack on {self.main}." if spec.attack else ""),
        )

    def sensitivity(self, drop: np.ndarray) -> None:
        """The border-sensitivity map and its border-versus-centre summary."""
        title, p = "Border sensitivity", self.params
        self.report.text(
            title,
            f"Accuracy lost on {min(p.sensitivity_images, len(self.labels)):,} clean images "
            f"when a {p.blob}x{p.blob} px blob of ink is added at each position (every "
            f"{p.stride} px). Red: the network reads that place; an MNIST network should mind "
            "ink near the centre more than at the frame's edge.",
        )
        self.report.images(
            title, drop[None], captions=["accuracy lost"], cmap="diverging", name="sensitivity"
        )
        border = border_mask(drop.shape, 4)
        self.report.metric("sensitivity_border", float(drop[border].mean()))
        self.report.metric("sensitivity_centre", float(drop[~border].mean()))

    def metrics(self) -> None:
        """Clean and mean perturbed accuracy, breaking points, per-level accuracy."""
        main = {f: next(c for c in cs if c.model == self.main) for f, cs in self.curves.items()}
        self.report.metric("clean_accuracy", self.clean[self.main])
        everything = np.concatenate([c.accuracy for c in main.values()]) if main else []
        self.report.metric("robust_accuracy", float(np.mean(everything)) if main else None)
        self.report.metric("breaking_point", self.breaking_points(self.main))
        for family, c in main.items():
            self.report.metric(
                f"{family}_accuracy",
                {
                    self.level_text(v, family): float(a)
                    for v, a in zip(c.levels, c.accuracy, strict=True)
                },
            )
        if len(self.clean) > 1:
            self.report.metric("clean_accuracy_by_model", self.clean)


@kinterp.hookimpl
def register_techniques(register):
    register(Robustness())
