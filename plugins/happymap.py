"""HappyMap and SadMap: the input a network is surest (least sure) is a given class or unit.

Gradient ascent (descent) on the input pixels with the weights held fixed, projected onto the
model's input range after every step (``--range clip``), or left free of it with an L2 penalty
keeping the pixels bounded (``--range free``: the classic unclipped maps of Simonyan et al.,
where a class's strokes can rise above the background and the rest fall below it). Every
target x init x restart is one row of a single batch optimised by the compiled engine in
:mod:`kinterp.toolkit.optimize`, which also selects the targets, loads the starting images and
builds the penalties; this module orchestrates and reports. Class targets use the pre-softmax
logit by default: with a softmax, pushing the other classes down also raises the probability
(the complement effect), so the logit is the honest objective.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

import kinterp
from kinterp.toolkit.optimize import (
    ANIMATION_FRAMES,
    FREE_L2,
    BatchGrid,
    OptimisationParams,
    Result,
    Scores,
    Targets,
    check_memory,
    class_targets,
    layer_targets,
    load_starts,
    objective,
    optimize,
    penalty_of,
    restart_pixel_correlation,
    score_maps,
    settings,
    zero_border,
)

BORDER_WIDTHS = (1, 2)
BORDER_KEEP = 0.5  # a unit's map passes the border test if it keeps half its activation
MAX_INDEX = 1_000_000  # the largest class or unit index an option takes
MAX_TARGETS = 4096  # the most classes or units one run optimises


@dataclass
class ActivationMapParams(OptimisationParams):
    classes: list[int] | None = field(
        default=None,
        metadata={
            "help": "Output classes to optimise.",
            "min": 0,
            "max": MAX_INDEX,
            "max_items": MAX_TARGETS,
        },
    )
    layer: str = field(
        default="", metadata={"help": "Optimise units of this layer instead of output classes."}
    )
    units: list[int] | None = field(
        default=None,
        metadata={
            "help": "Dense units or conv filters of --layer (all: up to 64).",
            "min": 0,
            "max": MAX_INDEX,
            "max_items": MAX_TARGETS,
        },
    )
    objective: Literal["logit", "probability"] = field(
        default="logit",
        metadata={"help": "For classes: the pre-softmax logit, or the softmax probability."},
    )
    range: Literal["clip", "free"] = field(
        default="clip",
        metadata={
            "help": "clip: keep pixels in the input range every step; free: never clip, "
            f"bounded by the L2 penalty (--l2, {FREE_L2:g} when neither --l2 nor --lp is given)."
        },
    )


class ActivationMap(kinterp.Technique):
    """Shared implementation; :class:`HappyMap` maximises, :class:`SadMap` minimises."""

    Params = ActivationMapParams
    key_metric = "mean_confidence"
    reads_data = False
    maximize = True
    verb = "maximise"

    def run(self, ctx: kinterp.RunContext, params: ActivationMapParams) -> None:
        """Check the parameters, optimise every map in one batch and write the report."""
        model = ctx.model
        shape = model.require_image()
        targets = self.targets(model, params)
        starts = load_starts(model, params.init)
        free = params.range == "free"
        penalty, penalty_text = penalty_of(params, bounded=free)
        how = settings(params, self.maximize, shape, ctx.seed, clip=not free)
        grid = BatchGrid.of(
            target=targets.indices, init=starts.names, restart=range(params.restarts)
        )
        check_memory(model, targets.layer, len(grid), params.memory_limit)
        first = starts.batch(params.restarts, shape, ctx.rng)  # the same for every target
        batch = first[grid.index("init"), grid.index("restart")]
        goal = objective(model, targets, grid.values("target"), params.objective)
        with ctx.progress(params.steps, f"{self.name}: {len(grid)} maps") as bar:
            result = optimize(goal, batch, how, penalty, on_chunk=bar.advance)
        scores = score_maps(model, targets, grid.values("target"), goal, result.images)
        borders = {
            w: score_maps(
                model, targets, grid.values("target"), goal, zero_border(result.images, w)
            )
            for w in BORDER_WIDTHS
        }
        activation = model.info.output_activation
        MapsReport(
            self,
            ctx.report,
            params,
            targets,
            grid,
            result,
            scores,
            borders,
            activation,
            ctx.model.info.input_range,
        ).write(f"penalty: {penalty_text}")

    @staticmethod
    def targets(model: kinterp.LoadedModel, params: ActivationMapParams) -> Targets:
        """The classes, or the ``--layer`` units, to optimise, checked against the model."""
        if not params.layer:
            if params.units is not None:
                raise kinterp.KinterpError("--units needs --layer NAME (use --classes for classes)")
            return class_targets(model, params.classes, params.objective)
        if params.classes is not None:
            raise kinterp.KinterpError(
                "--classes picks output classes and --layer picks a layer; use one of them"
            )
        if params.objective != "logit":
            raise kinterp.KinterpError("--objective probability applies to classes only")
        return layer_targets(model, params.layer, params.units)


@dataclass
class MapsReport:
    """Writes one run's sections and metrics from its scored batch."""

    technique: ActivationMap
    report: kinterp.ReportBuilder
    params: ActivationMapParams
    targets: Targets
    grid: BatchGrid
    result: Result
    scores: Scores
    borders: dict[int, Scores]
    activation: str  # the model's output activation
    input_range: tuple[float, float]  # the model's (low, high) input values

    def label(self, target: int) -> str:
        """The report label of a target index."""
        return self.targets.labels[self.targets.indices.index(target)]

    def write(self, penalty_text: str) -> None:
        """Every section and metric, in reading order."""
        self.maps(penalty_text)
        self.inits()
        self.curves()
        correlation = self.pixel_correlation()
        self.border_test()
        self.animation()
        self.metrics(correlation)
        self.verdict()

    def columns(self) -> list[str]:
        """The grid's column labels: each init, with a restart number when there are several."""
        restarts = self.params.restarts
        return [
            f"{init} #{r}" if restarts > 1 else init
            for init in self.grid.axis("init")
            for r in range(restarts)
        ]

    def caption(self, row: int, cells: dict) -> str:
        """One map's caption: target, init, restart and its scores."""
        s = self.scores
        head = f"{self.label(cells['target'])} · {cells['init']}"
        head += f" #{cells['restart']}" if self.params.restarts > 1 else ""
        fmt = kinterp.format_number
        if self.targets.is_class:
            return (
                f"{head}: logit {fmt(float(s['logit'][row]), 'float')}, "
                f"p {fmt(float(s['confidence'][row]), 'prob')}, top-1 {s['top1_name'][row]}"
            )
        top = f"top-1 {s['top1_name'][row]} (p {fmt(float(s['top1_p'][row]), 'prob')})"
        return f"{head}: act {fmt(float(s['value'][row]), 'float')}, {top}"

    def maps(self, penalty_text: str) -> None:
        """The "Maps" section: what was optimised, the grid, its table and the history array."""
        params, technique = self.params, self.technique
        low, high = self.input_range
        repeated = f"; each repeated for {params.restarts} restarts" if params.restarts > 1 else ""
        inputs = self.model_units(self.result.images)
        reached = f"{float(inputs.min()):.4g} to {float(inputs.max()):.4g}"
        if params.range == "clip":
            bounds = "clipped to the input range every step"
        else:
            bounds = "never clipped (--range free: the penalty alone bounds the pixels)"
        cmap, vrange, drawn = self.display()
        self.report.text(
            "Maps",
            f"{technique.summary}. Targets are rows, starting images "
            f"({', '.join(self.grid.axis('init'))}) are columns{repeated}. Objective: "
            f"{self.objective_name()}, {technique.verb}d by {params.optimizer} for {params.steps} "
            f"steps (lr {params.lr}), {bounds}; {penalty_text}. Values reached: {reached} in "
            f"the model's input units (its input range is {low:g} to {high:g}). {drawn}"
            "The maps as the model reads them are saved as arrays/maps-input.npy.",
        )
        cells = list(self.grid.rows())
        captions = [self.caption(row, c) for row, c in enumerate(cells)]
        self.report.grid(
            "Maps",
            self.result.images,
            rows=self.targets.labels,
            columns=self.columns(),
            captions=captions,
            cmap=cmap,
            vrange=vrange,
            name="maps",
        )
        self.report.array("history", self.result.history)
        self.report.array("maps-input", inputs)
        self.report.metric("value_min", float(inputs.min()))
        self.report.metric("value_max", float(inputs.max()))
        s, b = self.scores, self.borders
        self.report.table(
            "Maps",
            [
                "target",
                "init",
                "restart",
                "objective",
                "confidence",
                "top-1",
                "top-1 p",
                "border 1px",
                "border 2px",
            ],
            [
                [
                    self.label(c["target"]),
                    c["init"],
                    c["restart"],
                    s["value"][row],
                    s["confidence"][row],
                    s["top1_name"][row],
                    s["top1_p"][row],
                    b[1]["score"][row],
                    b[2]["score"][row],
                ]
                for row, c in enumerate(cells)
            ],
            formats=[None, None, "int", "float", "prob", None, "prob", "float", "float"],
        )

    def model_units(self, images: np.ndarray) -> np.ndarray:
        """Images in [0, 1] image units (or beyond them, unclipped) in the model's input units."""
        low, high = self.input_range
        return low + (high - low) * np.asarray(images, dtype="float32")

    def display(self) -> tuple[str, tuple[float, float], str]:
        """How the maps are drawn: (colour map, value range, the sentence saying so).

        Clipped maps are drawn as they are. Unclipped grey maps get a diverging colour map
        centred on the bottom of the input range (0 in image units: the background of dark
        digits); unclipped colour maps are stretched from the batch's lowest to highest value.
        """
        images = self.result.images
        if self.params.range == "clip":
            return "gray", (0.0, 1.0), ""
        if images.shape[-1] != 3:
            return (
                "diverging",
                (0.0, 1.0),
                "Drawn with a diverging colour map centred on the bottom of the input range "
                f"({self.input_range[0]:g}, the background): white there, red above it, blue "
                "below it, each map scaled to its own largest distance from it. ",
            )
        lo, hi = float(images.min()), float(images.max())
        stretch = self.model_units(np.asarray([lo, hi]))
        return (
            "gray",
            (lo, hi),
            f"Drawn stretched: {stretch[0]:.4g} (the lowest value of any map) is black and "
            f"{stretch[1]:.4g} (the highest) is white, in every channel. ",
        )

    def objective_name(self) -> str:
        """What was optimised, in words, as the report says it."""
        if not self.targets.is_class:
            return f"mean activation of each unit/filter of {self.params.layer}"
        activation = self.activation
        if self.params.objective == "logit":
            return "logit (linear output)" if activation == "linear" else f"pre-{activation} logit"
        return "sigmoid output" if activation == "sigmoid" else "softmax probability"

    def per_target(self, values: np.ndarray) -> dict[str, float]:
        """The mean of per-row ``values`` for each target label."""
        means = self.grid.group(np.asarray(values, dtype="float64"), by="target").mean(axis=1)
        return {label: float(v) for label, v in zip(self.targets.labels, means, strict=True)}

    def inits(self) -> None:
        """The "Starting images" section comparing the inits (only with two or more)."""
        names = self.grid.axis("init")
        if len(names) < 2:
            return
        title, s = "Starting images", self.scores
        self.report.text(title, "The same targets from each starting image, side by side.")
        grouped = {k: self.grid.group(s[k], by="init") for k in ("value", "confidence")}
        columns = ["init", "mean objective"]
        if self.targets.is_class:
            columns += ["mean confidence", "classified as target"]
        hits = self.grid.group(s["top1"] == s.get("target", -1), by="init")
        table = []
        for i, name in enumerate(names):
            line = [name, float(grouped["value"][i].mean())]
            if self.targets.is_class:
                line += [float(grouped["confidence"][i].mean()), f"{hits[i].sum()}/{hits[i].size}"]
            table.append(line)
        self.report.table(title, columns, table)

    def curves(self) -> None:
        """The "Objective by step" plot: one line per target, the mean over its starting
        images and restarts (their spread is in the table), so ten classes make ten lines."""
        rows: dict[str, list[int]] = {}
        for row, c in enumerate(self.grid.rows()):
            rows.setdefault(self.label(c["target"]), []).append(row)
        series = {
            name: self.result.history[:, picked].mean(axis=1).tolist()
            for name, picked in rows.items()
        }
        starts = len(next(iter(rows.values())))
        self.report.line_plot(
            "Objective by step",
            series,
            xlabel="step",
            ylabel="objective",
            caption="The objective of each target before every step"
            + (
                f", the mean of its {starts} maps (starting images x restarts)."
                if starts > 1
                else "."
            ),
        )

    def pixel_correlation(self) -> dict[str, float] | None:
        """The "Pixel correlation across restarts" section; its values per target (None: one
        restart)."""
        restarts = self.params.restarts
        if restarts < 2:
            return None
        values = dict(
            zip(
                self.targets.labels,
                restart_pixel_correlation(self.grid, self.result.images),
                strict=True,
            )
        )
        title = "Pixel correlation across restarts"
        self.report.text(
            title,
            "Mean pairwise Pearson correlation of the pixels of the restart maps of each target "
            "(averaged over starting images). Near 1: the optimisation finds the same map, in "
            "the same place, every time; near 0: each restart finds a different one, and any "
            "single map is a fluke.",
        )
        self.report.table(
            title,
            ["target", "pixel correlation"],
            [list(v) for v in values.items()],
            formats=[None, "float"],
        )
        return values

    def border_rule(self) -> str:
        """When one map passes the border test, in words."""
        if self.targets.is_class:
            still = "still" if self.technique.maximize else "still not"
            return f"is {still} classified as its target"
        if self.technique.maximize:
            return f"keeps its activation at least {1 - BORDER_KEEP:.0%} of what it was"
        return f"lets its activation rise by at most {BORDER_KEEP:.0%} of its size"

    def border_passed(self, width: int) -> np.ndarray:
        """(rows,) whether each map passes the border test at ``width`` (see
        :meth:`border_rule`)."""
        zeroed = self.borders[width]
        if self.targets.is_class:
            hit = zeroed["top1"] == zeroed["target"]
            return hit if self.technique.maximize else ~hit
        value, after = self.scores["value"], zeroed["value"]
        if self.technique.maximize:
            return after >= value - BORDER_KEEP * np.abs(value)
        return after <= value + BORDER_KEEP * np.abs(value)

    def map_label(self, cells: dict) -> str:
        """One map's name: target, init and (with several) restart."""
        name = f"{self.label(cells['target'])} · {cells['init']}"
        return name + (f" #{cells['restart']}" if self.params.restarts > 1 else "")

    def border_test(self) -> None:
        """The "Border test" section: per map, its score with the outer 1 and 2 px zeroed and
        whether it passes; per target, how many of its maps pass."""
        title = "Border test"
        self.report.text(
            title,
            "The outer 1 and 2 pixel rings of every map set to 0 (background), then classified "
            "again, map by map (never averaged over starting images or restarts: one failed "
            f"map among good ones stays visible). A map passes when, so zeroed, it "
            f"{self.border_rule()}: it has not put its evidence in the border.",
        )
        passed = {w: self.border_passed(w) for w in self.borders}
        grouped = {w: self.grid.group(p, by="target") for w, p in passed.items()}
        passed_maps = next(iter(grouped.values()))
        self.report.table(
            title,
            ["target", "maps", *(f"pass with {w} px zeroed" for w in self.borders)],
            [
                [label, len(passed_maps[i]), *(int(g[i].sum()) for g in grouped.values())]
                for i, label in enumerate(self.targets.labels)
            ],
            formats=[None, "int", *["int"] * len(self.borders)],
        )
        s, b = self.scores, self.borders
        self.report.table(
            title,
            [
                "map",
                "score",
                *(f"{w} px zeroed" for w in b),
                *(f"passes {w} px" for w in b),
            ],
            [
                [
                    self.map_label(c),
                    s["score"][row],
                    *(b[w]["score"][row] for w in b),
                    *("yes" if passed[w][row] else "no" for w in b),
                ]
                for row, c in enumerate(self.grid.rows())
            ],
            formats=[None, "float", *["float"] * len(b), *[None] * len(b)],
        )

    def animation(self) -> None:
        """The "Optimisation" animation of the first map (when there is more than one frame)."""
        frames = self.result.frames
        if len(frames) > 1:
            per_frame = math.ceil(self.params.steps / ANIMATION_FRAMES)
            vrange, shown = (0.0, 1.0), ""
            if self.params.range == "free":
                vrange = (float(np.min(frames)), float(np.max(frames)))
                ends = self.model_units(np.asarray(vrange))
                shown = f"; grey from {ends[0]:.4g} (black) to {ends[1]:.4g} (white)"
            self.report.gif(
                "Optimisation",
                frames,
                caption=f"{self.targets.labels[0]} from {self.grid.axis('init')[0]}: one frame "
                f"per {per_frame} steps{shown}",
                vrange=vrange,
            )

    def verdict(self) -> None:
        """The first line: how many maps the model classifies as their target (classes), or
        the activations reached (units); the maps grid is the key picture."""
        s, fmt, count = self.scores, kinterp.format_number, len(self.grid)
        self.report.key("Maps")
        widest = max(self.borders)
        border = (
            f"; {int(self.border_passed(widest).sum())}/{count} pass the border test "
            f"({widest} px zeroed)"
        )
        if not self.targets.is_class:
            self.report.verdict(
                f"{count} maps of {len(self.targets.labels)} unit(s) of {self.params.layer}: "
                f"mean activation {fmt(float(np.mean(s['value'])), 'float')}{border}"
            )
            return
        hits = int(np.sum(s["top1"] == s["target"]))
        if self.technique.maximize:
            text = f"{hits}/{count} maps classified as their target"
            worst = f"min p {fmt(float(np.min(s['confidence'])), 'prob')}"
            tone = "good" if hits == count else "warn"
        else:
            text = f"{count - hits}/{count} maps classified as another class than their target"
            worst = f"max p of the target {fmt(float(np.max(s['confidence'])), 'prob')}"
            tone = "good" if hits == 0 else "warn"
        self.report.verdict(f"{text} ({worst}){border}", tone)

    def metrics(self, correlation: dict[str, float] | None) -> None:
        """Confidence (classes) or activation (units), overall and per target; the border
        test per map and counted per target."""
        s, report = self.scores, self.report
        if self.targets.is_class:
            report.metric("mean_confidence", float(np.mean(s["confidence"])))
            report.metric("classified_as_target", float(np.mean(s["top1"] == s["target"])))
            report.metric("confidence", self.per_target(s["confidence"]))
            report.metric("logit", self.per_target(s["logit"]))
        else:
            report.metric("mean_activation", float(np.mean(s["value"])))
            report.metric("activation", self.per_target(s["value"]))
        report.metric("border_maps", len(self.grid) // len(self.targets.labels))
        for w in self.borders:
            passed = self.border_passed(w)
            counts = self.grid.group(passed, by="target").sum(axis=1)
            report.metric(
                f"border{w}_passed",
                {label: int(n) for label, n in zip(self.targets.labels, counts, strict=True)},
            )
            report.metric(f"border{w}_pass_rate", float(np.mean(passed)))
        report.metric("pixel_correlation", correlation)
        report.metric("steps", self.params.steps)
        report.metric("seconds", round(self.result.seconds, 3))


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
        kinterp.DemoPreset(
            "mnist-rgb-cnn", {"steps": 128}, quick={"classes": "0,1,2", "steps": 64}
        ),
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


@kinterp.hookimpl
def register_techniques(register) -> None:
    """Register happymap and sadmap."""
    register(HappyMap())
    register(SadMap())
