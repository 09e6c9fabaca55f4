"""HappyMap and SadMap: the input a network is surest (least sure) is a given class or unit.

Gradient ascent (descent) on the input pixels with the weights held fixed, projected onto the
model's input range after every step. Every target x init x restart is one row of a single
batch optimised by the compiled engine in :mod:`kinterp.optimize`. Class targets use the
pre-softmax logit by default: with a softmax, pushing the other classes down also raises the
probability (the complement effect), so the logit is the honest objective.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

import kinterp
from kinterp.optimize import inits, regularizers, transforms
from kinterp.optimize.engine import Result, Settings, optimize
from kinterp.optimize.objectives import Objective, channel
from kinterp.optimize.transforms import Transform

MAX_DEFAULT_UNITS = 64  # a layer (or output) with more units needs explicit --units/--classes
GIF_FRAMES = 24  # about this many animation frames (one per compiled chunk)
MAX_PLOT_SERIES = 12

Dims = tuple[int, int, int]  # (targets, inits, restarts): the batch is their product
GridRow = tuple[int, str, str, int]  # (row, target label, init name, restart)
Scores = dict[str, np.ndarray]  # Evaluation.measure: one array per score, one value per row


@dataclass
class ActivationMapParams:
    classes: list[int] | None = field(
        default=None, metadata={"help": "Output classes to optimise (default: all)."}
    )
    layer: str = field(
        default="", metadata={"help": "Optimise units of this layer instead of output classes."}
    )
    units: list[int] | None = field(
        default=None,
        metadata={"help": "Dense units or conv filters of --layer (default: all, up to 64)."},
    )
    objective: Literal["logit", "probability"] = field(
        default="logit",
        metadata={"help": "For classes: the pre-softmax logit, or the softmax probability."},
    )
    init: list[str] = field(
        default_factory=lambda: ["uniform"],
        metadata={
            "help": "Starting images: zeros, ones, half, uniform, normal, image:PATH (converted "
            "to the model's channels; for grey models inverted when its background is light)."
        },
    )
    restarts: int = field(default=1, metadata={"help": "Random restarts per target and init."})
    steps: int = field(default=128, metadata={"help": "Gradient steps."})
    lr: float = field(
        default=0.05, metadata={"help": "Learning rate, as a fraction of the input range."}
    )
    optimizer: Literal["adam", "sgd"] = field(default="adam", metadata={"help": "Optimiser."})
    tv: float = field(default=0.0, metadata={"help": "Total-variation penalty weight."})
    l2: float = field(default=0.0, metadata={"help": "L2 penalty weight."})
    lp: str = field(default="", metadata={"help": "Lp penalty as P:W, e.g. 1:0.5 (off if empty)."})
    blur: float = field(
        default=0.0, metadata={"help": "Gaussian blur sigma (px) of what the network sees."}
    )
    jitter: int = field(default=0, metadata={"help": "Random shift (px) of what the network sees."})


@dataclass(frozen=True)
class Targets:
    """What the rows optimise: class indices or units of one layer."""

    indices: list[int]
    labels: list[str]
    layer: str | None  # None: output classes


@dataclass(frozen=True)
class Plan:
    """The checked run: targets, starting images, penalty and the batch layout."""

    targets: Targets
    init_names: list[str]
    init_images: dict[str, np.ndarray | None]
    penalty: Objective | None
    penalty_text: str


class ActivationMap(kinterp.Technique):
    """Shared implementation; :class:`HappyMap` maximises, :class:`SadMap` minimises."""

    Params = ActivationMapParams
    key_metric = "mean_confidence"
    maximize = True
    verb = "maximise"

    def run(self, ctx: Any, params: ActivationMapParams) -> None:
        """Check the parameters, optimise every map and write the report."""
        self.optimise_and_report(ctx, params, self.plan(ctx, params))

    def optimise_and_report(self, ctx: Any, params: ActivationMapParams, plan: Plan) -> None:
        """Optimise the whole target x init x restart batch at once, then report it."""
        model = ctx.model
        shape = model.require_image()
        dims = (len(plan.targets.indices), len(plan.init_names), params.restarts)
        init = self.initial_batch(plan, params.restarts, shape, ctx.rng)
        row_target = np.repeat(plan.targets.indices, dims[1] * dims[2])
        objective = self.objective(model, plan.targets, params, row_target)
        settings = Settings(
            steps=params.steps,
            lr=params.lr,
            optimizer=params.optimizer,
            maximize=self.maximize,
            chunk=max(1, math.ceil(params.steps / GIF_FRAMES)),
            transforms=self.graph_transforms(params, shape, ctx.seed),
        )
        with ctx.progress(params.steps, f"{self.name}: {len(init)} maps") as bar:
            result = optimize(objective, init, settings, plan.penalty, on_chunk=bar.advance)
        evaluation = Evaluation(model, plan.targets, row_target, objective)
        self.write_report(ctx, params, plan, result, evaluation, dims)

    # -- checking the input -------------------------------------------------------------

    def plan(self, ctx: Any, params: ActivationMapParams) -> Plan:
        """Check every parameter and load what they name; raises KinterpError before any work."""
        for name in ("steps", "restarts"):
            if getattr(params, name) < 1:
                raise kinterp.KinterpError(f"--{name} must be at least 1")
        if not math.isfinite(params.lr) or params.lr <= 0:
            raise kinterp.KinterpError("--lr must be a positive number")
        for name in ("tv", "l2", "blur", "jitter"):
            value = getattr(params, name)
            if not math.isfinite(value) or value < 0:
                raise kinterp.KinterpError(f"--{name} must be zero or a positive number")
        shape = ctx.model.require_image()
        if params.blur and math.ceil(2 * params.blur) >= min(shape[:2]):
            raise kinterp.KinterpError(
                f"--blur {params.blur:g} is too wide for {shape[0]}x{shape[1]} images; "
                f"use less than {min(shape[:2]) / 2:g}"
            )
        targets = self.targets(ctx.model, params)
        names, images = self.start_images(ctx.model, params.init, shape)
        penalty, text = self.penalty(params)
        return Plan(targets, names, images, penalty, text)

    def targets(self, model: Any, params: ActivationMapParams) -> Targets:
        """The classes (or ``--layer`` units) to optimise, checked against the model."""
        info = model.info
        if params.layer:
            if params.classes is not None:
                raise kinterp.KinterpError(
                    "--classes picks output classes and --layer picks a layer; use one of them"
                )
            if params.objective != "logit":
                raise kinterp.KinterpError("--objective probability applies to classes only")
            layer = model.layer(params.layer)
            units = int(layer.output.shape[-1])
            kind = "filter" if len(layer.output.shape) > 2 else "unit"
            chosen = self.check_indices(params.units, units, f"{kind}s of layer {layer.name}")
            if params.units is None and units > MAX_DEFAULT_UNITS:
                raise kinterp.KinterpError(
                    f"layer {layer.name} has {units} {kind}s; pick some with --units 0,5,7"
                )
            return Targets(chosen, [f"{layer.name} {kind} {u}" for u in chosen], layer.name)
        if params.units is not None:
            raise kinterp.KinterpError("--units needs --layer NAME (use --classes for classes)")
        if params.objective == "logit" and not model.has_logits:
            raise kinterp.KinterpError(
                f"{info.name} has no logits to optimise (its final activation is unknown); "
                "use --objective probability"
            )
        if params.classes is None and info.num_outputs > MAX_DEFAULT_UNITS:
            raise kinterp.KinterpError(
                f"{info.name} has {info.num_outputs} classes; pick some with --classes 0,5,7"
            )
        chosen = self.check_indices(params.classes, info.num_outputs, f"classes of {info.name}")
        return Targets(chosen, [f"class {info.class_names[c]}" for c in chosen], None)

    @staticmethod
    def check_indices(values: list[int] | None, count: int, what: str) -> list[int]:
        """``values`` without duplicates (all of 0..count-1 if None); raises if out of range."""
        if values is None:
            return list(range(count))
        for value in values:
            if not 0 <= value < count:
                raise kinterp.KinterpError(
                    f"{value} is out of range: there are {count} {what} (0-{count - 1})"
                )
        return list(dict.fromkeys(values))

    @staticmethod
    def start_images(
        model: Any, specs: list[str], shape: tuple[int, int, int]
    ) -> tuple[list[str], dict[str, np.ndarray | None]]:
        """The ``--init`` names, each with its loaded image (None for generated inits)."""
        names, images = [], {}
        for spec in dict.fromkeys(s.strip() for s in specs):
            try:
                kind, path = inits.parse_init(spec)
            except ValueError as exc:
                raise kinterp.KinterpError(f"--init: {exc}") from None
            image = None
            if path is not None:
                image = ActivationMap.load_start_image(model, spec, path, shape)
            names.append(spec if kind == "image" else kind)
            images[names[-1]] = image
        return names, images

    @staticmethod
    def load_start_image(
        model: Any, spec: str, path: str, shape: tuple[int, int, int]
    ) -> np.ndarray:
        """The pixels of an ``image:PATH`` init, which must already have the model's size."""
        from kinterp.preprocess import BadImage, open_image, prepare_image

        height, width, channels = shape
        try:
            with open_image(path) as opened:
                size = opened.size
            if size != (width, height):
                raise kinterp.KinterpError(
                    f"--init {spec}: the image is {size[0]}x{size[1]} but "
                    f"{model.info.name} takes {width}x{height}; resize it first"
                )
            if channels not in (1, 3):
                raise kinterp.KinterpError(
                    f"--init image: needs a model with 1 or 3 channels, not {channels}"
                )
            return prepare_image(path, height, width, channels, mnistify=False).pixels
        except BadImage as exc:
            raise kinterp.KinterpError(f"--init {spec}: {exc}") from None

    @staticmethod
    def penalty(params: ActivationMapParams) -> tuple[Objective | None, str]:
        """The sum of the ``--tv``, ``--l2`` and ``--lp`` penalties (None if off) and its name."""
        terms = []
        if params.tv:
            terms.append(params.tv * regularizers.tv())
        if params.l2:
            terms.append(params.l2 * regularizers.l2())
        if params.lp.strip():
            p, sep, w = params.lp.partition(":")
            try:
                power, weight = float(p), float(w)
            except ValueError:
                power = weight = -1.0
            if not sep or power <= 0 or weight < 0:
                raise kinterp.KinterpError(f"--lp expects P:W such as 1:0.5, got {params.lp!r}")
            terms.append(weight * regularizers.lp(power))
        if not terms:
            return None, "none"
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return total, total.name

    # -- the optimisation -----------------------------------------------------------------

    @staticmethod
    def initial_batch(
        plan: Plan, restarts: int, shape: tuple[int, int, int], rng: np.random.Generator
    ) -> np.ndarray:
        """The starting images of every row: targets x inits x restarts, flattened."""
        starts = np.stack(
            [
                inits.init_batch(
                    "image" if image is not None else name, restarts, shape, rng, image
                )
                for name, image in plan.init_images.items()
            ]
        )  # (inits, restarts, H, W, C): the same starts for every target
        count_t = len(plan.targets.indices)
        return np.broadcast_to(starts, (count_t, *starts.shape)).reshape(-1, *shape)

    @staticmethod
    def feature_model(model: Any, targets: Targets) -> Any:
        """The Keras model whose output holds the ``--layer`` targets; None for classes."""
        import keras

        if targets.layer is None:
            return None
        layer = model.keras_model.get_layer(targets.layer)
        return keras.Model(model.keras_model.inputs[0], layer.output)

    def objective(
        self, model: Any, targets: Targets, params: ActivationMapParams, row_target: np.ndarray
    ) -> Objective:
        """Each row's target channel of the logits, the probabilities or the layer output."""
        if targets.layer is not None:
            source = self.feature_model(model, targets)
        elif params.objective == "probability":
            source = model.probability_model()
        else:
            source = model.logits_model
        return channel(source, row_target, model.to_input_tensor)

    @staticmethod
    def graph_transforms(
        params: ActivationMapParams, shape: tuple[int, int, int], seed: int
    ) -> tuple[Transform, ...]:
        """The ``--jitter`` and ``--blur`` transforms applied to what the network sees."""
        chosen = []
        if params.jitter:
            chosen.append(transforms.jitter(params.jitter, seed))
        if params.blur:
            chosen.append(transforms.blur(params.blur, shape[-1]))
        return tuple(chosen)

    # -- the report -------------------------------------------------------------------------

    def write_report(
        self,
        ctx: Any,
        params: ActivationMapParams,
        plan: Plan,
        result: Result,
        ev: Evaluation,
        dims: Dims,
    ) -> None:
        """Score the maps and write every report section and metric."""
        maps = result.images
        per_row = ev.measure(maps)
        border = {w: ev.measure(zero_border(maps, w)) for w in (1, 2)}
        labels = plan.targets.labels
        is_class = plan.targets.layer is None
        rows = self.grid_rows(plan, dims)
        report = ctx.report
        self.report_maps(report, ctx.model, params, plan, result, per_row, border, rows, dims)
        self.report_inits(report, plan, per_row, rows, dims[1], is_class)
        self.report_curves(report, result, rows, params)
        consistency = self.report_consistency(report, maps, labels, dims)
        self.report_border(report, per_row, border, labels, dims)
        self.report_animation(report, result, plan, params)
        self.report_metrics(
            report, per_row, border, consistency, labels, dims, result, params, is_class
        )

    @staticmethod
    def grid_rows(plan: Plan, dims: Dims) -> list[GridRow]:
        """(row, target label, init name, restart) of every row of the batch."""
        _, count_i, restarts = dims
        rows = []
        for row in range(dims[0] * count_i * restarts):
            t, rest = divmod(row, count_i * restarts)
            i, r = divmod(rest, restarts)
            rows.append((row, plan.targets.labels[t], plan.init_names[i], r))
        return rows

    def report_maps(
        self,
        report: Any,
        model: Any,
        params: ActivationMapParams,
        plan: Plan,
        result: Result,
        per_row: Scores,
        border: dict[int, Scores],
        rows: list[GridRow],
        dims: Dims,
    ) -> None:
        """The "Maps" section: what was optimised, the grid, its table, and the history array."""
        _, count_i, restarts = dims
        is_class = plan.targets.layer is None
        repeated = f"; each repeated for {restarts} restarts" if restarts > 1 else ""
        report.text(
            "Maps",
            f"{self.summary}. Targets are rows, starting images ({', '.join(plan.init_names)}) "
            f"are columns{repeated}. "
            f"Objective: {self.objective_name(model, params, is_class)}, {self.verb}d by "
            f"{params.optimizer} for {params.steps} steps (lr {params.lr}), clipped to the input "
            f"range every step; penalty: {plan.penalty_text}.",
        )
        captions = [
            self.caption(per_row, row, label, init, r, restarts, is_class)
            for row, label, init, r in rows
        ]
        report.images(
            "Maps", result.images, captions=captions, columns=count_i * restarts, name="maps"
        )
        report.array("history", result.history)
        columns = [
            "target",
            "init",
            "restart",
            "objective",
            "confidence",
            "top-1",
            "top-1 p",
            "border 1px",
            "border 2px",
        ]
        table = [
            [
                label,
                init,
                r,
                per_row["value"][row],
                per_row["confidence"][row],
                per_row["top1_name"][row],
                per_row["top1_p"][row],
                border[1]["score"][row],
                border[2]["score"][row],
            ]
            for row, label, init, r in rows
        ]
        report.table("Maps", columns, table)

    def objective_name(self, model: Any, params: ActivationMapParams, is_class: bool) -> str:
        """What was optimised, in words, as the report says it."""
        if not is_class:
            return f"mean activation of each unit/filter of {params.layer}"
        activation = model.info.output_activation
        if params.objective == "logit":
            return "logit (linear output)" if activation == "linear" else f"pre-{activation} logit"
        return "sigmoid output" if activation == "sigmoid" else "softmax probability"

    @staticmethod
    def caption(
        per_row: Scores,
        row: int,
        label: str,
        init: str,
        restart: int,
        restarts: int,
        is_class: bool,
    ) -> str:
        """One map's caption: target, init, restart and its scores."""
        head = f"{label} · {init}" + (f" #{restart}" if restarts > 1 else "")
        if is_class:
            return (
                f"{head}: logit {per_row['logit'][row]:.2f}, p {per_row['confidence'][row]:.4f}, "
                f"top-1 {per_row['top1_name'][row]}"
            )
        return (
            f"{head}: act {per_row['value'][row]:.3g}, top-1 {per_row['top1_name'][row]} "
            f"(p {per_row['top1_p'][row]:.3f})"
        )

    @staticmethod
    def report_inits(
        report: Any, plan: Plan, per_row: Scores, rows: list[GridRow], count_i: int, is_class: bool
    ) -> None:
        """The "Starting images" section comparing the inits (only with two or more)."""
        if count_i < 2:
            return
        title = "Starting images"
        report.text(title, "The same targets from each starting image, side by side.")
        columns = ["init", "mean objective"]
        if is_class:
            columns += ["mean confidence", "classified as target"]
        table = []
        for name in plan.init_names:
            picked = [row for row, _, init, _ in rows if init == name]
            line = [name, float(np.mean(per_row["value"][picked]))]
            if is_class:
                hits = sum(per_row["top1"][r] == per_row["target"][r] for r in picked)
                line += [float(np.mean(per_row["confidence"][picked])), f"{hits}/{len(picked)}"]
            table.append(line)
        report.table(title, columns, table)

    @staticmethod
    def report_curves(
        report: Any, result: Result, rows: list[GridRow], params: ActivationMapParams
    ) -> None:
        """The "Objective by step" plot of each target's first restart."""
        series = {}
        for row, label, init, r in rows:
            if r == 0 and len(series) < MAX_PLOT_SERIES:
                series[f"{label} ({init})"] = [float(v) for v in result.history[:, row]]
        report.line_plot(
            "Objective by step",
            series,
            xlabel="step",
            ylabel="objective",
            caption="The objective of each target (first restart) before every step.",
        )

    @staticmethod
    def report_consistency(
        report: Any, maps: np.ndarray, labels: list[str], dims: Dims
    ) -> dict[str, float] | None:
        """The "Consistency across restarts" section; its values per target (None: 1 restart)."""
        count_t, count_i, restarts = dims
        if restarts < 2:
            return None
        grouped = maps.reshape(count_t, count_i, restarts, -1)
        values = {}
        for t, label in enumerate(labels):
            values[label] = float(np.mean([mean_pairwise_correlation(g) for g in grouped[t]]))
        report.text(
            "Consistency across restarts",
            "Mean pairwise Pearson correlation of the restart maps of each target (averaged over "
            "starting images). Near 1: the optimisation finds the same map every time; near 0: "
            "each restart finds a different one, and any single map is a fluke.",
        )
        report.table(
            "Consistency across restarts",
            ["target", "consistency"],
            [[label, value] for label, value in values.items()],
        )
        return values

    @staticmethod
    def report_border(
        report: Any, per_row: Scores, border: dict[int, Scores], labels: list[str], dims: Dims
    ) -> None:
        """The "Border test" section: each target's score with the outer 1 and 2 px zeroed."""
        _, count_i, restarts = dims
        report.text(
            "Border test",
            "The outer 1 and 2 pixel rings of every map set to 0 (background), then classified "
            "again. A map that keeps its score has not put its evidence in the border.",
        )
        per_target = count_i * restarts
        report.table(
            "Border test",
            ["target", "score", "outer 1 px zeroed", "outer 2 px zeroed"],
            [
                [
                    label,
                    *(
                        float(np.mean(m["score"][t * per_target : (t + 1) * per_target]))
                        for m in (per_row, border[1], border[2])
                    ),
                ]
                for t, label in enumerate(labels)
            ],
        )

    @staticmethod
    def report_animation(
        report: Any, result: Result, plan: Plan, params: ActivationMapParams
    ) -> None:
        """The "Optimisation" animation of the first map (when there is more than one frame)."""
        if len(result.frames) > 1:
            report.gif(
                "Optimisation",
                result.frames,
                caption=f"{plan.targets.labels[0]} from {plan.init_names[0]}: one frame per "
                f"{math.ceil(params.steps / GIF_FRAMES)} steps",
            )

    def report_metrics(
        self,
        report: Any,
        per_row: Scores,
        border: dict[int, Scores],
        consistency: dict[str, float] | None,
        labels: list[str],
        dims: Dims,
        result: Result,
        params: ActivationMapParams,
        is_class: bool,
    ) -> None:
        """Every metric: confidence (classes) or activation (units) overall and per target."""
        count_t, count_i, restarts = dims
        per_target = count_i * restarts

        def by_target(values) -> dict[str, float]:
            grouped = np.asarray(values, dtype="float64").reshape(count_t, per_target)
            return {label: float(v) for label, v in zip(labels, grouped.mean(axis=1), strict=True)}

        if is_class:
            report.metric("mean_confidence", float(np.mean(per_row["confidence"])))
            hits = per_row["top1"] == per_row["target"]
            report.metric("classified_as_target", float(np.mean(hits)))
            report.metric("confidence", by_target(per_row["confidence"]))
            report.metric("logit", by_target(per_row["logit"]))
            for w in (1, 2):
                report.metric(f"border{w}_confidence", by_target(border[w]["confidence"]))
        else:
            report.metric("mean_activation", float(np.mean(per_row["value"])))
            report.metric("activation", by_target(per_row["value"]))
            for w in (1, 2):
                report.metric(f"border{w}_activation", by_target(border[w]["value"]))
        report.metric("consistency", consistency)
        report.metric("steps", params.steps)
        report.metric("seconds", round(result.seconds, 3))


class HappyMap(ActivationMap):
    name = "happymap"
    summary = "Inputs that maximise a class, unit or filter (HappyMap: activation maximisation)"
    maximize = True
    verb = "maximise"
    demo = (
        kinterp.DemoPreset(
            "mnist-cnn",
            {"init": "uniform,zeros,half", "steps": 128},
            quick={"classes": "0,1,2", "steps": 64, "init": "uniform"},
        ),
        kinterp.DemoPreset("mnist-mlp", {"steps": 128}, quick={"classes": "0,1,2", "steps": 64}),
    )


class SadMap(ActivationMap):
    name = "sadmap"
    summary = "Inputs that minimise a class, unit or filter (SadMap: activation minimisation)"
    maximize = False
    verb = "minimise"
    demo = (
        kinterp.DemoPreset(
            "mnist-cnn",
            {"init": "uniform,half", "steps": 128},
            quick={"classes": "0,1,2", "steps": 64, "init": "uniform"},
        ),
    )


class Evaluation:
    """Scores maps after optimisation: objective, target confidence and top-1 class."""

    def __init__(
        self, model: Any, targets: Targets, row_target: np.ndarray, objective: Objective
    ) -> None:
        self.model = model
        self.targets = targets
        self.row_target = np.asarray(row_target)
        self.objective = objective

    def measure(self, maps: np.ndarray) -> dict[str, np.ndarray]:
        """Per row: value (objective), logit, confidence, top1, top1_p, score (table column)."""
        import tensorflow as tf

        model = self.model
        x = tf.convert_to_tensor(maps, tf.float32)
        value = np.asarray(self.objective(x, x), dtype="float64")
        probs = model.confidences(model.predict(model.to_input(maps)))
        rows = np.arange(len(maps))
        top1 = probs.argmax(axis=1)
        names = model.info.class_names
        out = {
            "value": value,
            "top1": top1,
            "top1_name": np.array([names[c] if c < len(names) else str(c) for c in top1]),
            "top1_p": probs[rows, top1].astype("float64"),
        }
        if self.targets.layer is None:
            logits = np.asarray(model.logits_model(model.to_input(maps), training=False))
            out["target"] = self.row_target
            out["logit"] = logits[rows, self.row_target].astype("float64")
            out["confidence"] = probs[rows, self.row_target].astype("float64")
            out["score"] = out["confidence"]
        else:
            out["confidence"] = np.full(len(maps), np.nan)
            out["score"] = value
        return out


def zero_border(images: np.ndarray, width: int) -> np.ndarray:
    """A copy with the outer ``width`` pixel rings set to 0 (the background)."""
    out = np.array(images, copy=True)
    out[:, :width] = 0
    out[:, -width:] = 0
    out[:, :, :width] = 0
    out[:, :, -width:] = 0
    return out


def mean_pairwise_correlation(maps: np.ndarray) -> float:
    """Mean Pearson correlation over every pair of rows (flattened maps); 1.0 for constants."""
    flat = np.asarray(maps, dtype="float64").reshape(len(maps), -1)
    centred = flat - flat.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1)
    pairs = []
    for a in range(len(flat)):
        for b in range(a + 1, len(flat)):
            if norms[a] == 0 or norms[b] == 0:
                pairs.append(1.0 if norms[a] == norms[b] else 0.0)
            else:
                pairs.append(float(centred[a] @ centred[b] / (norms[a] * norms[b])))
    return float(np.mean(pairs)) if pairs else float("nan")


@kinterp.hookimpl
def register_techniques(register: Any) -> None:
    """Register happymap and sadmap."""
    register(HappyMap())
    register(SadMap())
