"""featurevis: what does a whole layer respond to? Every unit, across TV weights and restarts.

The classic keras-vis study of MNIST networks: visualise every filter of each conv layer and
every dense neuron, sweep the total-variation weight, see that maps change from run to run,
and sort the units into structured ones, noise, flat "always on" ones and dead ones
(:mod:`kinterp.toolkit.optimize.census`). Each layer's units x TV weights x restarts are one batch
optimised in one compiled call, split into chunks that fit ``--batch-limit`` megabytes.
Without ``--units``, a wide layer (more than 64 units, such as MobileNetV2's 1,280-filter
``Conv_1``) is sampled: 8 units evenly spaced from the first to the last, as its section,
the census and the ``units_sampled`` metric say.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

import kinterp
from kinterp.toolkit import Budget, budget
from kinterp.toolkit.optimize import (
    CENSUS_RULES,
    BatchGrid,
    Engine,
    Settings,
    UnitStats,
    census,
    layer_targets,
    layer_units,
    load_starts,
    parameterisation,
    parse_lp,
    penalty,
    pixel_std,
    rotate_scale,
    rows_per_call,
    spectral_flatness,
    spectrum_correlation,
    unit_objective,
    view_transforms,
)

USABLE = 0.75  # a TV weight counts if the layer keeps this share of its best activation
CORRELATED = 0.7  # a layer's restarts agree from the TV weight whose mean spectrum correlation
# reaches this
SHOWN_UNITS = 16  # units shown in the sweep and real-example grids (all are in the tables)
WIDE_LAYER = 64  # a layer with more units is wide: without --units, only some are visualised
SAMPLED_UNITS = 8  # units visualised by default on a wide layer, evenly spaced
ALL_LAYERS = 3  # --layer all on a deeper model visualises this many: first, middle, last
MAP_BYTES = 3 * 4  # a kept map's float32 pixels: start image, chunk result, concatenated maps
UNIT_BYTES = 2 * 4  # a map's activation of every unit of its layer (measured, concatenated)
GRID_BYTES = 64  # a row's grid indices and values


@dataclass
class FeatureVisParams:
    layer: list[str] = field(
        default_factory=lambda: ["all"],
        metadata={"help": "Layers to visualise; all: every conv and dense layer.", "max_items": 64},
    )
    units: list[int] | None = field(
        default=None,
        metadata={
            "help": f"Units or filters of each layer (none given: every one of a layer of at "
            f"most {WIDE_LAYER}, {SAMPLED_UNITS} evenly spaced on a wider one).",
            "min": 0,
            "max": 1_000_000,
            "max_items": 4096,
        },
    )
    tv: list[float] = field(
        default_factory=lambda: [0.001, 0.01, 0.1, 1.0, 10.0],
        metadata={
            "help": "Total-variation weights to sweep.",
            "min": 0,
            "max": 1e6,
            "max_items": 16,
        },
    )
    show_tv: float | None = field(
        default=None,
        metadata={
            "help": "TV weight of the unit grid (default: where restart spectra agree).",
            "min": 0,
            "max": 1e6,
        },
    )
    lp: str = field(default="", metadata={"help": "Lp penalty as P:W, e.g. 1:0.5 (off if empty)."})
    restarts: int = field(
        default=2, metadata={"help": "Random restarts per unit and TV weight.", "min": 1, "max": 64}
    )
    steps: int = field(default=128, metadata={"help": "Gradient steps.", "min": 1, "max": 100_000})
    lr: float = field(default=0.05, metadata={"help": "Learning rate.", "min": 1e-6, "max": 10})
    init: list[str] = field(
        default_factory=lambda: ["uniform"],
        metadata={
            "help": "Starting images (pixels only): zeros, half, uniform, normal, image:PATH.",
            "max_items": 4,
            "file": "image",
            "file_prefix": "image:",
        },
    )
    parameterisation: Literal["pixels", "fourier"] = field(
        default="pixels",
        metadata={"help": "Optimise pixels, or a colour-decorrelated Fourier spectrum."},
    )
    neuron: Literal["mean", "centre"] = field(
        default="mean", metadata={"help": "Conv filters: mean over space, or the centre neuron."}
    )
    jitter: int = field(default=1, metadata={"help": "Random shift (px).", "min": 0, "max": 256})
    rotate: float = field(
        default=0.0, metadata={"help": "Random rotation (degrees, +-).", "min": 0, "max": 180}
    )
    scale: float = field(
        default=0.0, metadata={"help": "Random scaling (1 +- this).", "min": 0, "max": 0.5}
    )
    batch_limit: int = field(
        default=2048,
        metadata={
            "help": "Memory budget (MB) of one compiled call; bigger batches are chunked.",
            "min": 16,
            "max": 1_000_000,
        },
    )
    examples: int = field(
        default=512,
        metadata={
            "help": "Real images scored for activations and top examples (0: none).",
            "min": 0,
            "max": 100_000,
        },
    )
    top: int = field(
        default=5, metadata={"help": "Top real examples per unit.", "min": 0, "max": 32}
    )


def chosen_layers(model: kinterp.LoadedModel, names: list[str]) -> list[str]:
    """The named layers, checked against the model; ``all``: every conv and dense layer, or
    on a model with more than ``ALL_LAYERS`` of them that many, evenly spaced from the first
    to the last (see :func:`layers_note`)."""
    if "all" in names:
        everything = all_layers(model)
        if not everything:
            raise kinterp.KinterpError(
                f"{model.info.name} has no conv or dense layers; name one with --layer"
            )
        if len(everything) <= ALL_LAYERS:
            return everything
        picked = np.rint(np.linspace(0, len(everything) - 1, ALL_LAYERS)).astype(int)
        return [everything[i] for i in picked]
    for name in names:
        model.layer(name)  # a one-line error with close matches for an unknown name
    return list(dict.fromkeys(names))


def all_layers(model: kinterp.LoadedModel) -> list[str]:
    """Every conv and dense layer of the model, input first."""
    return [row.name for row in model.info.layers if row.is_conv or row.is_dense]


def layers_note(model: kinterp.LoadedModel, names: list[str], layers: list[str]) -> str | None:
    """What the report says when ``--layer all`` sampled the layers (None when it did not)."""
    total = len(all_layers(model))
    if "all" not in names or len(layers) == total:
        return None
    return (
        f"--layer all: {model.info.name} has {total} conv and dense layers; {len(layers)} of "
        f"them, evenly spaced from the first to the last, are shown ({', '.join(layers)}). "
        "Name layers with --layer to choose."
    )


def default_units(count: int) -> list[int] | None:
    """The units of a layer of ``count`` visualised when no ``--units`` are given: every one
    (None) on a layer of at most ``WIDE_LAYER``, else ``SAMPLED_UNITS`` evenly spaced from the
    first to the last (spacing over one unit, so rounding repeats none)."""
    if count <= WIDE_LAYER:
        return None
    return [int(i) for i in np.rint(np.linspace(0, count - 1, SAMPLED_UNITS))]


def chosen_units(
    model: kinterp.LoadedModel, layers: list[str], units: list[int] | None
) -> tuple[dict[str, list[int]], dict[str, int]]:
    """(each layer's units, checked; the wide layers sampled by default -> their unit count).

    ``units`` (``--units``) applies to every layer; without it each layer gets
    :func:`default_units`.
    """
    chosen, sampled = {}, {}
    for layer in layers:
        count = layer_units(model, layer)[0]
        picked = units if units is not None else default_units(count)
        if units is None and picked is not None:
            sampled[layer] = count
        chosen[layer] = layer_targets(model, layer, picked, most=None).indices
    return chosen, sampled


def activations(
    model: kinterp.LoadedModel, layer: str, images: np.ndarray, neuron: str = "mean"
) -> np.ndarray:
    """(N, units) each image's activation of every unit of ``layer``: a conv filter's mean
    over space, or with ``neuron="centre"`` its centre position (the neuron the maps
    optimised, as :func:`~kinterp.toolkit.optimize.unit_objective` picks it)."""
    out = model.features(layer, model.to_input(images))
    if out.ndim == 4 and neuron == "centre":
        return out[:, out.shape[1] // 2, out.shape[2] // 2]
    return out.mean(axis=tuple(range(1, out.ndim - 1)))  # over space; a dense output as it is


@dataclass
class LayerResult:
    """One layer's optimised maps and what was measured on them."""

    layer: str
    kind: str
    units: list[int]
    grid: BatchGrid
    maps: np.ndarray  # rows of grid
    reached: np.ndarray  # (units, tv, inits x restarts) each map's activation of its unit
    spectrum_correlation: np.ndarray  # (units, tv) restarts' amplitude-spectrum correlation
    stats: list[UnitStats]  # per unit, at the shown TV weight
    shown_tv: float
    correlated_tv: float | None  # the first TV weight whose restart spectra agree
    top_examples: np.ndarray  # (units, top) dataset indices


class FeatureVis(kinterp.Technique):
    name = "featurevis"
    summary = (
        "Every unit of a layer: maps across TV weights, restart spectrum correlation, a census"
    )
    Params = FeatureVisParams
    key_metric = "structured_fraction"
    demo = (
        kinterp.DemoPreset(
            "mnist-cnn",
            {"layer": ["conv1"], "steps": 96},
            quick={"steps": 24, "tv": [0.01, 1.0], "units": [0, 1, 2, 3], "examples": 64},
        ),
    )

    def run(self, ctx: kinterp.RunContext, params: FeatureVisParams) -> None:
        model = ctx.model
        shape = model.require_image()
        layers = chosen_layers(model, params.layer)
        note = layers_note(model, params.layer, layers)
        if note:
            ctx.report.text("Layers", note)
        shape_of = parameterisation(params.parameterisation, shape)
        transforms = view_transforms(params.jitter, 0, shape, ctx.seed)
        if params.rotate or params.scale:
            transforms += (rotate_scale(params.rotate, params.scale, shape, ctx.seed),)
        starts = load_starts(model, params.init, shape_of)
        units, sampled = chosen_units(model, layers, params.units)
        grids = {
            layer: BatchGrid.of(
                unit=units[layer],
                tv=sorted(set(params.tv)),
                init=starts.names,
                restart=range(params.restarts),
            )
            for layer in layers
        }
        room = maps_budget(model, grids, params.batch_limit)
        data = ctx.optional_data() if params.examples else None
        inputs = data.test(params.examples)[0] if data is not None else None
        if params.examples and data is None:
            ctx.report.text(
                "Data",
                f"No real images were scored (no activations on data, no top examples): "
                f"{ctx.data_missing}.",
            )
        real = model.to_images(inputs) if inputs is not None else np.zeros((0, *shape))
        results = []
        for layer, grid in grids.items():
            first = starts.batch(params.restarts, shape, ctx.rng)
            batch = first[grid.index("init"), grid.index("restart")]
            settings = Settings(
                steps=params.steps,
                lr=params.lr,
                chunk=max(1, params.steps // 8),
                transforms=transforms,
                parameterisation=shape_of,
            )
            maps = self.optimise(ctx, model, layer, grid, batch, settings, params, room)
            kind = layer_units(model, layer)[1]
            results.append(measure(model, layer, kind, grid, maps, real, params, batch))
        FeatureVisReport(ctx.report, params, results, real, sampled).write()

    @staticmethod
    def optimise(ctx, model, layer, grid, batch, settings, params, room: Budget) -> np.ndarray:
        """Every row of ``grid``, in as few compiled calls as the memory budget ``room`` allows
        (refused when not even one row fits)."""
        floats = int(np.prod(settings.parameterisation.start(batch[:1], ctx.rng).shape))
        fix = "raise --batch-limit (MB), free memory or pick an earlier --layer"
        per_call = rows_per_call(model, layer, floats, room, fix)
        lp_term = parse_lp(params.lp)
        unit, tv = np.asarray(grid.values("unit")), np.asarray(grid.values("tv"), "float32")
        maps = []
        calls = -(-len(grid) // per_call)
        with ctx.progress(params.steps * calls, f"featurevis {layer}: {len(grid)} maps") as bar:
            for start in range(0, len(grid), per_call):
                part = slice(start, start + per_call)
                goal = unit_objective(model, layer, unit[part], params.neuron)
                weights, _ = penalty(tv_weight=tv[part], lp_term=lp_term)
                engine = Engine(goal, settings, weights)
                result = engine.run(batch[part], on_chunk=bar.advance, frame_row=None, rng=ctx.rng)
                maps.append(result.images)
        return np.concatenate(maps)


def maps_budget(model: kinterp.LoadedModel, grids: dict[str, BatchGrid], limit_mb: int) -> Budget:
    """What one compiled call may use: ``--batch-limit`` megabytes, but never more than is left
    of half the available memory once every layer's maps are kept for the report.

    Raises:
        KinterpError: the kept maps alone would not fit, with the numbers.
    """
    image = int(np.prod(model.require_image()))
    kept = sum(
        len(grid) * (MAP_BYTES * image + UNIT_BYTES * layer_units(model, layer)[0] + GRID_BYTES)
        for layer, grid in grids.items()
    )
    whole = budget()
    what = f"{sum(map(len, grids.values())):,} maps (units x TV weights x inits x restarts)"
    whole.require(kept, what, "use fewer --units, --tv, --init or --restarts, or fewer layers")
    left, call = whole.less(kept, "the maps"), budget(limit_mb, "--batch-limit")
    return call if call.bytes <= left.bytes else left


def sweep_measures(maps: np.ndarray, restarts: int) -> dict[str, np.ndarray]:
    """Each (units, tv), of maps shaped (units, tv, inits, restarts, H, W, C):
    ``spectrum_correlation`` (mean over inits of the restarts' amplitude-spectrum
    correlation; nan with one restart), and the mean over inits and restarts of each map's
    ``pixel_std`` and ``flatness`` (spectral flatness)."""
    units, weights = maps.shape[:2]
    flat = maps.reshape(-1, *maps.shape[4:])
    per_map = maps.shape[2] * maps.shape[3]
    out = {
        "pixel_std": pixel_std(flat).reshape(units, weights, per_map).mean(axis=2),
        "flatness": spectral_flatness(flat).reshape(units, weights, per_map).mean(axis=2),
    }
    if restarts < 2:
        out["spectrum_correlation"] = np.full((units, weights), np.nan)
    else:
        out["spectrum_correlation"] = np.array(
            [[np.mean([spectrum_correlation(r) for r in cell]) for cell in unit] for unit in maps]
        )
    return out


def pick_tv(weights: list[float], reached: np.ndarray, correlation: np.ndarray, wanted):
    """(the TV weight to show, the first weight at which the layer's restart spectra agree).

    ``reached`` and ``correlation`` hold the responding units only. Only weights that keep
    at least 75% of the best mean activation count: a TV weight so strong that it flattens
    every map makes the restarts agree, but on nothing.
    """
    if wanted is not None:
        return min(weights, key=lambda w: abs(w - wanted)), None
    if not len(reached):
        return weights[len(weights) // 2], None
    by_weight = reached.mean(axis=(0, 2))
    best_mean = by_weight.max()  # within 25% of it (of its size: activations may be negative)
    usable = [i for i, r in enumerate(by_weight) if r >= best_mean - (1 - USABLE) * abs(best_mean)]
    if np.isnan(correlation).all():
        return weights[usable[len(usable) // 2]], None
    mean = np.nanmean(correlation, axis=0)
    correlated = next((weights[i] for i in usable if mean[i] >= CORRELATED), None)
    best = max(usable, key=lambda i: mean[i])
    return correlated if correlated is not None else weights[best], correlated


def measure(model, layer, kind, grid, maps, real, params, starts) -> LayerResult:
    """Activations reached, the map measures per unit and TV weight, the census, top
    examples. The census reads only the maps and the starting images ``starts`` (one per
    row of ``grid``), never the real images ``real``, which feed the "on data" columns and
    the top examples only."""
    units, weights = list(grid.axis("unit")), list(grid.axis("tv"))
    row_unit = np.asarray(grid.values("unit"))
    rows = np.arange(len(maps))
    reached = activations(model, layer, maps, params.neuron)[rows, row_unit]
    reached = reached.reshape(len(units), len(weights), -1)
    start = activations(model, layer, starts, params.neuron)[rows, row_unit]
    start = start.reshape(len(units), -1).max(axis=1)
    shaped = maps.reshape(len(units), len(weights), -1, params.restarts, *maps.shape[1:])
    measured = sweep_measures(shaped, params.restarts)
    on_data = activations(model, layer, real, params.neuron)[:, units] if len(real) else None

    def stats_at(t: int) -> list[UnitStats]:
        return [
            UnitStats(
                reached=float(reached[i, t].mean()),
                reached_min=float(reached[i].min()),
                reached_max=float(reached[i].max()),
                start=float(start[i]),
                pixel_std=float(measured["pixel_std"][i, t]),
                flatness=float(measured["flatness"][i, t]),
                spectrum_correlation=float(measured["spectrum_correlation"][i, t]),
                data_mean=float(on_data[:, i].mean()) if on_data is not None else np.nan,
                data_max=float(on_data[:, i].max()) if on_data is not None else np.nan,
            )
            for i in range(len(units))
        ]

    correlation = measured["spectrum_correlation"]
    alive = np.array([s.responds for s in stats_at(0)])
    shown, correlated = pick_tv(weights, reached[alive], correlation[alive], params.show_tv)
    top = (
        np.argsort(-on_data, axis=0, kind="stable")[: params.top].T
        if on_data is not None
        else np.zeros((len(units), 0), dtype=int)
    )
    return LayerResult(
        layer,
        kind,
        units,
        grid,
        maps,
        reached,
        correlation,
        stats_at(weights.index(shown)),
        shown,
        correlated,
        top,
    )


class FeatureVisReport:
    """The census first, then per layer: the unit grid, the sweep grid, the table, examples."""

    def __init__(self, report: kinterp.ReportBuilder, params, results, real, sampled=None):
        self.report, self.params, self.results, self.real = report, params, results, real
        self.sampled: dict[str, int] = sampled or {}  # wide layers sampled -> their unit count

    def title(self, r: LayerResult) -> str:
        """A layer's section: ``Layer conv2 (64 filters)``, ``Layer Conv_1 (16 of 1,280
        filters)``."""
        of = f" of {self.sampled[r.layer]:,}" if r.layer in self.sampled else ""
        return f"Layer {r.layer} ({len(r.units)}{of} {r.kind}s)"

    def sampled_text(self, r: LayerResult) -> str:
        """What a sampled layer's section says about it (nothing for a layer shown whole)."""
        if r.layer not in self.sampled:
            return ""
        return (
            f" Showing {len(r.units)} of {self.sampled[r.layer]:,} {r.kind}s, evenly spaced (a "
            f"layer of more than {WIDE_LAYER} is sampled by default); pass --units to choose."
        )

    def census_note(self) -> str:
        """The census' note on the layers sampled by default (nothing when none was)."""
        if not self.sampled:
            return ""
        layers = ", ".join(
            f"{r.layer} {len(r.units)} of {self.sampled[r.layer]:,} {r.kind}s"
            for r in self.results
            if r.layer in self.sampled
        )
        return (
            f" Layers of more than {WIDE_LAYER} units are sampled by default, evenly spaced: "
            f"{layers}; pass --units to choose."
        )

    def write(self) -> None:
        self.summary()
        for result in self.results:
            self.layer(result)
        self.metrics()
        self.verdict()

    def verdict(self) -> None:
        """The first line: the census over every layer; the first layer's grid is the key."""
        every = [s for r in self.results for s in r.stats]
        counts = ", ".join(f"{n} {label}" for label, n in census(every).items() if n)
        layers = ", ".join(r.layer for r in self.results)
        structured = census(every)["structured"]
        self.report.verdict(
            f"{structured}/{len(every)} units structured ({counts}) in {layers}",
            tone="good" if structured * 2 >= len(every) else "warn",
        )
        self.report.key(self.title(self.results[0]))

    def summary(self) -> None:
        title = "Census"
        neuron = "centre neuron" if self.params.neuron == "centre" else "mean over space"
        rules = " ".join(f"{label}: {rule}." for label, rule in CENSUS_RULES.items())
        self.report.text(
            title,
            "Each unit gets the first label whose rule holds, read from its maps at the shown "
            "TV weight (every init and restart), the activations of every map of the sweep and "
            "of its starting images; real images never enter the census. "
            f"{rules} Activations are the unit's output after its activation (conv filters: "
            f"{neuron}, as optimised). Restart spectrum correlation (the mean pairwise "
            "Pearson correlation of the restart maps' amplitude spectra, blind to where a "
            "pattern sits) is shown beside the census, not part of it; a layer's restarts "
            "agree from the first usable TV weight whose mean spectrum correlation reaches "
            f"{CORRELATED}." + self.census_note(),
        )
        rows = []
        for r in self.results:
            counts = census(r.stats)
            rows.append(
                [
                    r.layer,
                    len(r.units),
                    *counts.values(),
                    "n/a" if self.params.restarts < 2 else r.correlated_tv or "never",
                    r.shown_tv,
                ]
            )
        self.report.table(
            title,
            [
                "layer",
                "units",
                "structured",
                "noise",
                "flat",
                "dead",
                "spectra agree from TV",
                "shown TV",
            ],
            rows,
            formats=[None, "int", "int", "int", "int", "int", None, "float"],
        )
        if self.params.restarts > 1:
            self.report.line_plot(
                "Spectrum correlation by TV weight",
                {
                    r.layer: np.nanmean(r.spectrum_correlation, axis=0).tolist()
                    for r in self.results
                },
                xlabel="TV weight",
                ylabel="mean restart spectrum correlation",
                x=list(self.results[0].grid.axis("tv")),
                logx=min(self.params.tv) > 0,
                caption="Mean pairwise Pearson correlation of the restart maps' amplitude "
                "spectra, per layer.",
            )

    def layer(self, r: LayerResult) -> None:
        grid, t = r.grid, list(r.grid.axis("tv")).index(r.shown_tv)
        title = self.title(r)
        counts = ", ".join(f"{n} {label}" for label, n in census(r.stats).items() if n)
        self.report.text(
            title,
            f"Census: {counts}. Maps at TV weight {r.shown_tv:g}, restart 0."
            + self.sampled_text(r),
        )
        per_unit = r.maps.reshape(len(r.units), len(grid.axis("tv")), -1, *r.maps.shape[1:])
        self.report.images(
            title,
            per_unit[:, t, 0],
            captions=[
                f"{r.kind} {u} · {s.label}\nact {kinterp.format_number(float(s.reached), 'float')}"
                for u, s in zip(r.units, r.stats, strict=True)
            ],
            columns=8,
            name=f"{r.layer}-units",
        )
        shown = min(SHOWN_UNITS, len(r.units))
        detail = f"{title}: every TV weight and the measures"
        self.report.collapse(detail)
        self.report.grid(
            detail,
            per_unit[:shown, :, 0].reshape(-1, *r.maps.shape[1:]),
            rows=[f"{r.kind} {u}" for u in r.units[:shown]],
            columns=[f"TV {w:g}" for w in grid.axis("tv")],
            name=f"{r.layer}-sweep",
        )
        self.report.table(
            detail,
            [
                r.kind,
                "census",
                "activation reached",
                "best in sweep",
                "start activation",
                "pixel std",
                "spectral flatness",
                "spectrum correlation",
                "on data (mean)",
                "on data (max)",
            ],
            [
                [
                    u,
                    s.label,
                    s.reached,
                    s.reached_max,
                    s.start,
                    s.pixel_std,
                    s.flatness,
                    None if np.isnan(s.spectrum_correlation) else s.spectrum_correlation,
                    None if np.isnan(s.data_mean) else s.data_mean,
                    None if np.isnan(s.data_max) else s.data_max,
                ]
                for u, s in zip(r.units, r.stats, strict=True)
            ],
            formats=["int", None, *["float"] * 8],
        )
        if r.top_examples.shape[1] and len(self.real):
            k = r.top_examples.shape[1]
            cells = [
                np.concatenate([per_unit[i, t, :1], self.real[r.top_examples[i]]])
                for i in range(shown)
            ]
            self.report.collapse(f"{title}: top real examples")
            self.report.grid(
                f"{title}: top real examples",
                np.concatenate(cells),
                rows=[f"{r.kind} {u}" for u in r.units[:shown]],
                columns=["map"] + [f"top {j + 1}" for j in range(k)],
                name=f"{r.layer}-examples",
            )
        self.report.array(f"{r.layer}-maps", r.maps)

    def metrics(self) -> None:
        every = [s for r in self.results for s in r.stats]
        totals = census(every)
        self.report.metric("structured_fraction", totals["structured"] / max(len(every), 1))
        self.report.metric("census", totals)
        for r in self.results:
            self.report.metric(f"{r.layer}_census", census(r.stats))
        self.report.metric(
            "spectrum_correlated_tv", {r.layer: r.correlated_tv for r in self.results}
        )
        self.report.metric("units_sampled", dict(self.sampled) or None)


@kinterp.hookimpl
def register_techniques(register):
    register(FeatureVis())
