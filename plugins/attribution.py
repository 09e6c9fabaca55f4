"""Attribution: which pixels a prediction rests on, by six methods, with two checks of them.

The maps come from tf-keras-vis: vanilla saliency and SmoothGrad (gradients of the logit with
respect to the input), Grad-CAM, Grad-CAM++, Score-CAM (optionally Faster Score-CAM) and
LayerCAM (a conv layer's activations weighted by gradients or by scores). Every method
explains the predicted class on the registry's logits view, given to tf-keras-vis with
``model_modifier=None`` (its ``ReplaceToLinear`` does not work on Keras 3 models).

Two checks tell the maps apart. The sanity check of Adebayo et al. (2018) randomises the
weights layer by layer from the top and measures how far each method's maps move (Spearman
rank correlation with the trained model's maps): a method whose maps barely move explains
the input, not the model. A deep model's cascade samples at most ``--sanity-stages`` (8)
stages evenly spaced through its weighted layers, the top one first and the last stage always
every layer, so its cost does not grow with depth. Score-CAM switches to Faster Score-CAM by
itself on a layer with more than ``--score-cam-fast-above`` (128) channels, and its batch
sizes come from the memory estimate; the report's ``score_cam`` and ``sanity_stages``
metrics record both choices. Saliency and the other CAM methods explain as many images a
call as a backward pass through every layer fits under ``--memory-limit`` (``gradient_batch``);
SmoothGrad takes them all in one call (its noise is drawn per call). The deletion
curve blacks out the most-attributed pixels first and follows the confidence in the
predicted class: the faster it falls, the better the map finds the evidence (lower area under
the curve), next to a random deletion order and an input-intensity order (brightest pixels
first: on black-background digits any map that ranks ink first beats random, so intensity is
the baseline a map must beat to show more than ink).
Insertion curves (the same orders, pixels shown on a black image) sit beside them.

The verdict names the best map only among the methods that pass the sanity check (lowest
deletion AUC, i.e. the largest margin below the intensity order), in green only when it also
beats the intensity and random orders; when no method passes it warns and names the closest.

Keras, TensorFlow and tf-keras-vis are imported inside functions only, so ``kinterp --help``
stays TensorFlow-free.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import kinterp

GRADIENT_METHODS = ("saliency", "smoothgrad")
CAM_METHODS = ("gradcam", "gradcam++", "scorecam", "layercam")
METHODS = GRADIENT_METHODS + CAM_METHODS
LABELS = {
    "saliency": "Saliency",
    "smoothgrad": "SmoothGrad",
    "gradcam": "Grad-CAM",
    "gradcam++": "Grad-CAM++",
    "scorecam": "Score-CAM",
    "layercam": "LayerCAM",
}
TF_KERAS_VIS = {
    "saliency": "tf_keras_vis.saliency:Saliency",
    "smoothgrad": "tf_keras_vis.saliency:Saliency",
    "gradcam": "tf_keras_vis.gradcam:Gradcam",
    "gradcam++": "tf_keras_vis.gradcam_plus_plus:GradcamPlusPlus",
    "scorecam": "tf_keras_vis.scorecam:Scorecam",
    "layercam": "tf_keras_vis.layercam:Layercam",
}
PREDICT_BATCH = 256  # rows per Score-CAM predict call, fewer when the memory estimate says so
SCORE_CAM_FAST_ABOVE = 128  # channels; MobileNetV2's last conv layer has 1,280
SANITY_STAGES = 8  # cascade stages at most: MobileNetV2 has 105 weighted layers
MASK_COPIES = 4  # Score-CAM's masked inputs: tiled images, tiled masks, their product, a tensor
MEMORY_FIX = "pass a larger --memory-limit (0: half of the available memory)"
# Methods whose maps do not depend on which images share a call: split to fit the memory.
SPLIT_METHODS = frozenset({"saliency", "gradcam", "gradcam++", "layercam"})
LOGITS = {"softmax": "the output before its softmax", "sigmoid": "the output before its sigmoid"}


@dataclass(frozen=True)
class AttributionParams:
    methods: list[str] | None = field(
        default=None,
        metadata={
            "help": "Attribution methods (all: every method the model supports; the CAM "
            "methods need a conv layer).",
            "choices": METHODS,
            "max_items": len(METHODS),
        },
    )
    per_class: int = field(
        default=2,
        metadata={"help": "Held-out examples explained per class.", "min": 1, "max": 50},
    )
    layer: str = field(
        default="",
        metadata={"help": "Layer the CAM methods read (default: the last conv layer)."},
    )
    smooth_samples: int = field(
        default=16,
        metadata={"help": "Noisy copies averaged by SmoothGrad.", "min": 1, "max": 256},
    )
    smooth_noise: float = field(
        default=0.2,
        metadata={"help": "SmoothGrad noise (fraction of the input's range).", "min": 0, "max": 1},
    )
    score_cam_fast: bool = field(
        default=False,
        metadata={"help": "Faster Score-CAM on any layer: mask with the most varied channels."},
    )
    score_cam_fast_above: int = field(
        default=SCORE_CAM_FAST_ABOVE,
        metadata={
            "help": "Score-CAM switches to Faster Score-CAM by itself on a layer with more "
            "channels than this.",
            "min": 1,
            "max": 65_536,
        },
    )
    score_cam_channels: int = field(
        default=16,
        metadata={
            "help": "Channels Faster Score-CAM keeps per image (the most varied).",
            "min": 1,
            "max": 4096,
        },
    )
    sanity: bool = field(
        default=True,
        metadata={"help": "Run the cascading weight-randomisation sanity check."},
    )
    sanity_stages: int = field(
        default=SANITY_STAGES,
        metadata={
            "help": "Most stages of the sanity cascade: weighted layers evenly spaced from the "
            "top one to the bottom one (all of them when there are fewer).",
            "min": 2,
            "max": 4096,
        },
    )
    deletion_steps: int = field(
        default=20,
        metadata={"help": "Steps of the deletion curve from 0 to 100%.", "min": 2, "max": 100},
    )
    memory_limit: int = field(
        default=0,
        metadata={
            "help": "Memory (MB) one explanation call may use (the images of a call are "
            "chosen to fit); 0: half of the available memory.",
            "min": 0,
            "max": 10_000_000,
        },
    )


# ----------------------------------------------------------------------------- numpy helpers


def rank_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,) Spearman rank correlation of each pair of maps (ties get average ranks).

    A flat map ranks nothing, so its correlation counts as 0.
    """
    from scipy.stats import rankdata

    ra = rankdata(np.reshape(a, (len(a), -1)), axis=1)
    rb = rankdata(np.reshape(b, (len(b), -1)), axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    norm = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    return np.divide((ra * rb).sum(axis=1), norm, out=np.zeros(len(ra)), where=norm > 0)


def deletion_positions(maps: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N, P) each pixel's place in its map's deletion order, most attributed first.

    Ties are broken at random, so a flat region is not deleted top-left first.
    """
    flat = np.reshape(maps, (len(maps), -1))
    order = np.lexsort((rng.random(flat.shape), -flat), axis=-1)
    return np.argsort(order, axis=-1)


def intensity_positions(images: np.ndarray) -> np.ndarray:
    """(N, P) each pixel's place in the input-intensity deletion order, brightest first.

    Intensity is the mean over channels; ties keep pixel order (a stable sort), so the order
    is reproducible from the images alone.
    """
    flat = np.reshape(images.mean(axis=-1), (len(images), -1))
    order = np.argsort(-flat, axis=-1, kind="stable")
    return np.argsort(order, axis=-1)


def deleted(
    images: np.ndarray, positions: np.ndarray, fractions: np.ndarray, background: float
) -> np.ndarray:
    """(S, N, H, W, C) the images with the first ``fraction`` of their pixels set to background."""
    hidden = first_pixels(images, positions, fractions)
    return np.where(hidden, np.float32(background), images[None]).astype("float32")


def first_pixels(images: np.ndarray, positions: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """(S, N, H, W, 1) True where a pixel is among the first ``fraction`` of its order."""
    count = np.rint(fractions * positions.shape[1]).astype("int64")
    first = positions[None, :, :] < count[:, None, None]  # (S, N, P)
    return first.reshape((len(fractions), *images.shape[:3], 1))


def inserted(
    images: np.ndarray, positions: np.ndarray, fractions: np.ndarray, background: float
) -> np.ndarray:
    """(S, N, H, W, C) background images showing only the first ``fraction`` of their pixels."""
    shown = first_pixels(images, positions, fractions)
    return np.where(shown, images[None], np.float32(background)).astype("float32")


def overlay(images: np.ndarray, maps: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """(N, H, W, 3) each map in the jet colour map over its image in grey."""
    from matplotlib import colormaps

    grey = images.mean(axis=-1, keepdims=True)
    heat = colormaps["jet"](np.clip(maps, 0.0, 1.0))[..., :3]
    return ((1.0 - alpha) * grey + alpha * heat).astype("float32")


def as_rgb(images: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) images in colour (grey images repeated over three channels)."""
    return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images


# ---------------------------------------------------------------------------- tf-keras-vis


def working_copy(model: Any) -> Any:
    """A functional clone of ``model`` with its weights.

    A loaded Sequential has been rebuilt several times, so its layers' ``.output`` belongs to
    another graph than its outputs and tf-keras-vis' CAM gradients come out as None; a clone
    has one graph.
    """
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


@dataclass(frozen=True)
class CamLayer:
    """The layer the CAM methods read, as users name it and as tf-keras-vis finds it.

    Attributes:
        name: the name users give and reports show (``--layer``, the layer table).
        keras_name: the Keras name of the same layer in the flattened Keras model handed to
            tf-keras-vis (``model.logits_model`` and its working copy).
        channels: its output channels.
    """

    name: str
    keras_name: str
    channels: int


def cam_layer(model: kinterp.LoadedModel, name: str) -> CamLayer:
    """The one translation from a layer name users give to the layer tf-keras-vis reads.

    :meth:`kinterp.LoadedModel.layer` resolves the name (a one-line error for an unknown one)
    and returns the Keras layer, whose ``.name`` is what the flattened model calls it.
    """
    layer = model.layer(name)
    return CamLayer(name, layer.name, int(layer.output.shape[-1]))


@dataclass(frozen=True)
class ScoreCamPlan:
    """How Score-CAM runs: every channel or the faster variant, and its batch sizes.

    Attributes:
        keep: Faster Score-CAM's channels per image (tf-keras-vis ``max_N``); None: every
            channel of the layer (Score-CAM itself).
        why: in words, why this variant (for the report).
        switched: what switched the faster variant on: ``auto`` (the layer has more channels
            than ``--score-cam-fast-above``), ``--score-cam-fast``, or "" (full Score-CAM).
        batch_size: rows per predict call over the masked images.
        images_per_call: images explained per tf-keras-vis call (None: all at once). The
            faster variant explains one image per call, so each image is masked with exactly
            its own ``keep`` most varied channels (tf-keras-vis masks every image of a call
            with the union of their channels: 185 of MobileNetV2's 1,280 for 20 images, more
            work and maps that depend on the other images in the call); full Score-CAM as
            many as the memory budget holds.
    """

    keep: int | None
    why: str
    switched: str
    batch_size: int = PREDICT_BATCH
    images_per_call: int | None = None

    @property
    def variant(self) -> str:
        """``faster`` or ``full``."""
        return "full" if self.keep is None else "faster"


def score_cam_variant(cam: CamLayer, params: AttributionParams) -> ScoreCamPlan:
    """Score-CAM over every channel of ``cam``, or Faster Score-CAM when asked for or when the
    layer has more channels than ``--score-cam-fast-above`` (no batch sizes yet)."""
    keep = min(params.score_cam_channels, cam.channels)
    most = f"the {keep:,} most varied of {cam.name}'s {cam.channels:,} channels per image"
    if params.score_cam_fast:
        why = f"Faster Score-CAM (--score-cam-fast): {most}"
        return ScoreCamPlan(keep, why, "--score-cam-fast", images_per_call=1)
    if cam.channels > params.score_cam_fast_above:
        return ScoreCamPlan(
            keep,
            f"Faster Score-CAM, switched on by itself because {cam.name} has more than "
            f"{params.score_cam_fast_above:,} channels (--score-cam-fast-above): {most}",
            "auto",
            images_per_call=1,
        )
    return ScoreCamPlan(None, f"Score-CAM over all {cam.channels:,} channels of {cam.name}", "")


def plan_score_cam(
    model: kinterp.LoadedModel, cam: CamLayer, params: AttributionParams, images: int
) -> ScoreCamPlan:
    """:func:`score_cam_variant` with batch sizes from the memory estimate.

    Half of the budget goes to the predict calls over the masked images (rows from
    :func:`kinterp.toolkit.fitting_batch`), half to the masked images themselves:
    ``MASK_COPIES`` float32 copies of every image under every kept channel. Full Score-CAM
    splits the images over as few calls as fit; the faster variant takes one image per call.

    Raises:
        KinterpError: not even one image's masked copies fit, with the numbers and the fix.
    """
    from kinterp.toolkit import Budget, budget, fitting_batch

    plan = score_cam_variant(cam, params)
    whole = budget(params.memory_limit, "--memory-limit")
    half = Budget(whole.bytes // 2, f"for Score-CAM's masked images (half of {whole.source})")
    batch = fitting_batch(model, PREDICT_BATCH, Budget(whole.bytes - half.bytes, whole.source))
    pixels = int(np.prod(model.require_image()))

    def need(count: int) -> int:
        return MASK_COPIES * 4 * pixels * count * (plan.keep or cam.channels)

    fix = "pass --score-cam-fast, a smaller --score-cam-channels, or an earlier --layer"
    half.require(need(1), f"Score-CAM of one image on {cam.name}", fix)
    if plan.keep is not None:
        return dataclasses.replace(plan, batch_size=batch)
    fits = next(count for count in range(images, 0, -1) if need(count) <= half.bytes)
    return dataclasses.replace(plan, batch_size=batch, images_per_call=fits)


def attribution_maps(
    model: Any,
    method: str,
    inputs: np.ndarray,
    classes: np.ndarray,
    cam: CamLayer | None,
    params: AttributionParams,
    plan: ScoreCamPlan | None = None,
    rows: int | None = None,
) -> np.ndarray:
    """(N, H, W) maps in [0, 1] of ``method`` for each input's class (image geometry of H, W).

    ``model`` is the Keras model tf-keras-vis reads (the flattened logits view or its working
    copy); ``cam`` the CAM methods' layer; ``plan`` how Score-CAM runs (default: the variant
    ``params`` choose: the faster variant one image per call, full Score-CAM all at once);
    ``rows`` the most inputs of one call of the methods in SPLIT_METHODS (default: all of
    them). SmoothGrad always takes every input at once: tf-keras-vis draws its noise for the
    whole call, so splitting the inputs would change the maps.
    """
    if method == "scorecam" and cam is not None:
        plan = plan or score_cam_variant(cam, params)
        step = plan.images_per_call or len(inputs)
    else:
        step = (rows if method in SPLIT_METHODS else None) or len(inputs)
    maps = [
        explain_once(model, method, inputs[i : i + step], classes[i : i + step], cam, params, plan)
        for i in range(0, len(inputs), step)
    ]
    return np.concatenate(maps).astype("float32")


def explain_once(
    model: Any,
    method: str,
    inputs: np.ndarray,
    classes: np.ndarray,
    cam: CamLayer | None,
    params: AttributionParams,
    plan: ScoreCamPlan | None,
) -> np.ndarray:
    """One tf-keras-vis call: the maps of ``method`` for these inputs."""
    from tf_keras_vis.utils.scores import CategoricalScore

    score = CategoricalScore([int(c) for c in classes])
    # Score-CAM's Keras predict prints a progress bar: keep it out of the terminal.
    with contextlib.redirect_stdout(io.StringIO()):
        module, name = TF_KERAS_VIS[method].split(":")
        explainer = getattr(importlib.import_module(module), name)(model, model_modifier=None)
        maps = explainer(score, inputs, **method_options(method, cam, params, plan))
    return np.asarray(maps, dtype="float32")


def method_options(
    method: str, cam: CamLayer | None, params: AttributionParams, plan: ScoreCamPlan | None
) -> dict[str, Any]:
    """The tf-keras-vis keyword arguments of ``method`` besides the score and the inputs."""
    if method in GRADIENT_METHODS:
        samples = params.smooth_samples if method == "smoothgrad" else 0
        return {"smooth_samples": samples, "smooth_noise": params.smooth_noise, "keepdims": True}
    if cam is None:
        raise ValueError(f"{method} needs a CAM layer")
    options: dict[str, Any] = {
        "penultimate_layer": cam.keras_name,
        "seek_penultimate_conv_layer": False,
    }
    if method == "scorecam":
        plan = plan or score_cam_variant(cam, params)
        options["batch_size"] = plan.batch_size
        if plan.keep is not None:
            options["max_N"] = plan.keep
    return options


def to_map_shape(maps: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """(N, H, W): per-input gradients reshaped to the image, channels reduced by their max."""
    height, width, channels = shape
    if maps[0].size == height * width * channels:
        return maps.reshape((len(maps), height, width, channels)).max(axis=-1)
    return maps.reshape((len(maps), height, width))


# ------------------------------------------------------------------------------ the technique


@dataclass
class Explained:
    """The examples, their predictions and the trained model's maps, by method."""

    images: np.ndarray
    labels: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray
    maps: dict[str, np.ndarray]


class Attribution(kinterp.Technique):
    name = "attribution"
    summary = "Which pixels a prediction rests on: saliency and CAM maps, sanity-checked"
    Params = AttributionParams
    key_metric = "best_deletion_auc"
    demo = (kinterp.DemoPreset("mnist-cnn", {}, quick={"per_class": 1, "smooth_samples": 8}),)

    def supports(self, info: kinterp.ModelInfo) -> str | None:
        """None for a Keras model with image input, else the reason it cannot be explained."""
        if not info.has_layers:
            return "a SavedModel loads as one opaque layer; use the .keras or .h5 file"
        if info.image_shape is None:
            return f"model input {info.input_shape} is not image-like; pass --image-shape H,W,C"
        return None

    def run(self, ctx: kinterp.RunContext, params: AttributionParams) -> None:
        """Explain N examples per class with every method, then check the maps two ways."""
        from kinterp.toolkit import budget, gradient_rows

        model = ctx.model
        shape = model.require_image()
        methods = choose_methods(params.methods, model.info)
        room = budget(params.memory_limit, "--memory-limit")
        split = SPLIT_METHODS.intersection(methods)
        rows = gradient_rows(model, room, MEMORY_FIX) if split else None
        layer = choose_layer(model, params.layer, methods)
        inputs, labels = ctx.data().test(per_class=params.per_class)
        if not len(inputs):
            raise kinterp.KinterpError(f"{ctx.data().name} has no held-out images; pass --data")
        classification = model.classify(inputs)
        predicted = classification.top1
        cam = cam_layer(model, layer) if layer else None
        plan = (
            plan_score_cam(model, cam, params, len(inputs))
            if cam and "scorecam" in methods
            else None
        )
        work = working_copy(model.logits_model)
        layers = weighted_layers(work) if params.sanity else []
        stages = cascade_stages(len(layers), params.sanity_stages)
        steps = len(methods) * (1 + len(stages))
        with ctx.progress(steps, f"attribution: {len(methods)} methods") as bar:

            def explain(method: str) -> np.ndarray:
                maps = attribution_maps(work, method, inputs, predicted, cam, params, plan, rows)
                bar.advance()
                return to_map_shape(maps, shape)

            trained = {m: explain(m) for m in methods}
            cascade = sanity_cascade(work, layers, stages, methods, trained, explain, ctx.seed)
        images = model.to_images(inputs)
        found = Explained(images, labels, predicted, classification.confidence, trained)
        write_maps(ctx.report, model.info, found, layer, plan)
        aucs = write_deletion(ctx, found, params.deletion_steps)
        correlations = (
            write_sanity(ctx.report, layers, stages, cascade, params.sanity_stages)
            if params.sanity
            else None
        )
        write_metrics(ctx.report, aucs, correlations)
        write_plan(ctx.report, plan, cam, layers, stages if params.sanity else None)
        ctx.report.metric("gradient_batch", min(rows, len(inputs)) if rows else None)


def choose_methods(requested: list[str] | None, info: kinterp.ModelInfo) -> list[str]:
    """The methods to run; CAM methods only on a model with a conv layer (else KinterpError)."""
    has_conv = any(row.is_conv for row in info.layers)
    if requested is None:
        return list(METHODS if has_conv else GRADIENT_METHODS)
    methods = [m for m in METHODS if m in requested]  # canonical order, no repeats
    cams = [m for m in methods if m in CAM_METHODS]
    if cams and not has_conv:
        raise kinterp.KinterpError(
            f"the CAM methods ({', '.join(cams)}) need a convolutional layer and {info.name} "
            f"has none; methods that work on it: {', '.join(GRADIENT_METHODS)} "
            f"(pass --methods {','.join(GRADIENT_METHODS)})"
        )
    return methods


def choose_layer(model: kinterp.LoadedModel, name: str, methods: list[str]) -> str | None:
    """The layer the CAM methods read: ``--layer``, else the last conv layer (None: no CAMs)."""
    cams = [m for m in methods if m in CAM_METHODS]
    if not cams:
        if name:
            raise kinterp.KinterpError(
                f"--layer picks the layer of the CAM methods ({', '.join(CAM_METHODS)}); add "
                "one of them to --methods or drop --layer"
            )
        return None
    if not name:
        return [row.name for row in model.info.layers if row.is_conv][-1]
    shape = tuple(model.layer(name).output.shape)
    if len(shape) != 4:
        convs = [row.name for row in model.info.layers if row.is_conv]
        raise kinterp.KinterpError(
            f"layer {name!r} outputs {shape}, not a (height, width, channels) map, so the CAM "
            f"methods cannot read it; pick a conv or pooling layer such as {convs[-1]}"
        )
    return name


def weighted_layers(model: Any) -> list[Any]:
    """The layers that have weights, top (output) first: the order of the cascade."""
    return [layer for layer in reversed(model.layers) if layer.weights]


def cascade_stages(count: int, most: int = SANITY_STAGES) -> list[int]:
    """Where each stage of the cascade stops: indices into the weighted layers, top first.

    Every layer when there are at most ``most``; else ``most`` indices evenly spaced from the
    top layer (0) to the bottom one (``count - 1``, so the last stage re-initialises every
    weighted layer). The spacing is over one layer, so rounding never repeats an index.
    """
    if count <= most:
        return list(range(count))
    if most == 1:
        return [count - 1]
    return [int(i) for i in np.rint(np.linspace(0, count - 1, most))]


def sanity_cascade(
    work: Any,
    layers: list[Any],
    stages: list[int],
    methods: list[str],
    trained: dict[str, np.ndarray],
    explain: Callable[[str], np.ndarray],
    seed: int,
) -> dict[str, np.ndarray]:
    """Per method, (stages, N) rank correlations with the trained maps as layers are randomised.

    ``layers`` are the weighted layers, top first; stage ``s`` re-initialises every one of
    them from the top down to and including ``layers[stages[s]]`` (with their own
    initialisers, seeded by the run's seed: the weights of one clone of ``work`` made after
    ``keras.utils.set_random_seed(seed)``) and keeps the trained weights below. Stages are
    cumulative, so the last (``stages[-1] == len(layers) - 1``) is the fully randomised model.
    """
    if not layers:
        return {}
    import keras

    keras.utils.set_random_seed(seed)
    fresh = keras.models.clone_model(work)
    correlations: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    done = 0
    for end in stages:
        for layer in layers[done : end + 1]:
            layer.set_weights(fresh.get_layer(layer.name).get_weights())
        done = end + 1
        for method in methods:
            correlations[method].append(rank_correlation(trained[method], explain(method)))
    return {m: np.stack(values) for m, values in correlations.items()}


# --------------------------------------------------------------------------------- the report

SANITY_PASS = 0.5  # a method passes when its maps of a fully randomised model correlate less


def write_maps(
    report: kinterp.ReportBuilder,
    info: kinterp.ModelInfo,
    found: Explained,
    layer: str | None,
    plan: ScoreCamPlan | None = None,
) -> None:
    """The "Attribution maps" grid (rows: examples; columns: input, then each method)."""
    title, methods = "Attribution maps", list(found.maps)
    cam_text = f" CAM methods read layer {layer}." if layer else ""
    cam_text += f" {plan.why}." if plan else ""
    report.text(
        title,
        "Each row is a held-out example, each column a method's map of the evidence for the "
        "predicted class (red: most, blue: least; every map scaled to [0, 1]) over the input. "
        f"Maps explain the logits ({LOGITS.get(info.output_activation, 'the raw outputs')})."
        + cam_text,
    )
    tiles, captions = [], []
    for i, (label, pred, conf) in enumerate(
        zip(found.labels, found.predicted, found.confidence, strict=True)
    ):
        said = f"{info.class_name(pred)} (p {kinterp.format_number(float(conf), 'prob')})"
        tiles.append(as_rgb(found.images[i : i + 1]))
        captions.append(f"label {info.class_name(label)} → {said}")
        for method in methods:
            tiles.append(overlay(found.images[i : i + 1], found.maps[method][i : i + 1]))
            captions.append(f"{LABELS[method]}: {said}")
    rows = [f"#{i} ({info.class_name(label)})" for i, label in enumerate(found.labels)]
    report.grid(
        title,
        np.concatenate(tiles),
        rows=rows,
        columns=["input"] + [LABELS[m] for m in methods],
        captions=captions,
        name="attribution",
        colourbar=report.colour_bar(
            "jet",
            "0 least",
            "1 most",
            "relevance to the predicted class (each map scaled to [0, 1]), half over the input",
        ),
    )
    report.array("maps", np.stack([found.maps[m] for m in methods], axis=1))


RANDOM, INTENSITY = "random order", "intensity order"


def deletion_curves(
    model: kinterp.LoadedModel,
    images: np.ndarray,
    predicted: np.ndarray,
    orders: dict[str, np.ndarray],
    fractions: np.ndarray,
    insert: bool = False,
) -> dict[str, list[float]]:
    """Per order, the mean confidence in ``predicted`` at each fraction of pixels deleted.

    With ``insert``, at each fraction of pixels shown on a black image instead.
    """
    curves: dict[str, list[float]] = {}
    for name, positions in orders.items():
        batch = (inserted if insert else deleted)(images, positions, fractions, background=0.0)
        flat = batch.reshape((-1, *images.shape[1:]))
        confidence = model.classify_images(flat).of(np.tile(predicted, len(fractions)))
        curves[name] = confidence.reshape(len(fractions), -1).mean(axis=1).tolist()
    return curves


def write_deletion(ctx: kinterp.RunContext, found: Explained, steps: int) -> dict[str, float]:
    """The "Deletion" and "Insertion" sections; returns each deletion AUC, baselines too."""
    fractions = np.linspace(0.0, 1.0, steps + 1)
    orders = {LABELS[m]: deletion_positions(maps, ctx.rng) for m, maps in found.maps.items()}
    orders[RANDOM] = deletion_positions(np.zeros(found.images.shape[:3]), ctx.rng)
    orders[INTENSITY] = intensity_positions(found.images)
    curves = deletion_curves(ctx.model, found.images, found.predicted, orders, fractions)
    aucs = write_curves(
        ctx.report,
        "Deletion",
        "Pixels set to black (the low end of the model's input range), most attributed "
        "first, and the mean confidence in the originally predicted class at each fraction "
        "deleted. A map that finds the evidence makes the curve fall fast: a lower area under "
        "the curve (AUC) is better. Two baselines: a random order, and the intensity order "
        "(brightest pixels first, ties in pixel order). On dark-background images any map "
        "that ranks ink first beats random, so the margin that counts is the one below the "
        "intensity order (negative: the map finds evidence intensity alone does not).",
        curves,
        fractions,
    )
    write_insertion(ctx, found, orders, fractions)
    methods = {m: aucs[LABELS[m]] for m in found.maps}
    return methods | {"random": aucs[RANDOM], "intensity": aucs[INTENSITY]}


def write_curves(
    report: kinterp.ReportBuilder,
    title: str,
    text: str,
    curves: dict[str, list[float]],
    fractions: np.ndarray,
) -> dict[str, float]:
    """A deletion-style section (text, curves, AUC table beside both baselines); its AUCs."""
    aucs = {name: float(np.trapezoid(curve, fractions)) for name, curve in curves.items()}
    verb = title.lower()
    report.text(title, text)
    report.line_plot(
        title,
        curves,
        xlabel=f"fraction of pixels {'deleted' if verb == 'deletion' else 'shown'}",
        ylabel="confidence in the predicted class",
        x=fractions.tolist(),
    )
    report.table(
        title,
        ["method", f"{verb} AUC", "vs intensity order", "vs random order"],
        [[n, auc, auc - aucs[INTENSITY], auc - aucs[RANDOM]] for n, auc in aucs.items()],
        formats=[None, "float", "float", "float"],
    )
    return aucs


def write_insertion(
    ctx: kinterp.RunContext,
    found: Explained,
    orders: dict[str, np.ndarray],
    fractions: np.ndarray,
) -> None:
    """The "Insertion" section and metrics: the deletion orders, pixels shown instead."""
    curves = deletion_curves(ctx.model, found.images, found.predicted, orders, fractions, True)
    aucs = write_curves(
        ctx.report,
        "Insertion",
        "The same orders the other way round: a black image, the most attributed pixels shown "
        "first, and the mean confidence in the originally predicted class at each fraction "
        "shown. A map that finds the evidence makes the curve rise fast: a higher AUC is "
        "better, beside the random and intensity orders. Shown for comparison; the verdict "
        "uses deletion.",
        curves,
        fractions,
    )
    ctx.report.metric("insertion_auc", {m: aucs[LABELS[m]] for m in found.maps})
    ctx.report.metric("insertion_auc_random", aucs[RANDOM])
    ctx.report.metric("insertion_auc_intensity", aucs[INTENSITY])


def stage_names(layers: list[Any], stages: list[int]) -> list[str]:
    """Each stage's column: ``+ name`` when it adds one layer, ``+ 15 layers to name`` else."""
    names, done = [], 0
    for end in stages:
        added, name = end + 1 - done, layers[end].name
        names.append(f"+ {name}" if added == 1 else f"+ {added} layers to {name}")
        done = end + 1
    return names


def write_sanity(
    report: kinterp.ReportBuilder,
    layers: list[Any],
    stages: list[int],
    cascade: dict[str, np.ndarray],
    most: int = SANITY_STAGES,
) -> dict[str, float]:
    """The "Sanity check" table and plot; returns each method's correlation when all are random."""
    title = "Sanity check"
    names = [layers[end].name for end in stages]
    if len(stages) == len(layers):
        order = (
            f"the weights of {', then '.join(names)} are re-initialised one layer more at a time"
        )
    else:
        order = (
            f"the model has {len(layers):,} weighted layers, so the cascade samples "
            f"{len(stages)} stages evenly spaced through them (--sanity-stages {most}): each "
            "re-initialises every weighted layer from the top down to and including "
            + ", then ".join(f"{layers[end].name} ({end + 1:,})" for end in stages)
            + f" (in brackets: layers re-initialised so far; the last stage is all "
            f"{len(layers):,})"
        )
    report.text(
        title,
        f"Cascading randomisation (Adebayo et al. 2018): {order}, top first, and "
        "each method's maps are made again. The numbers are the mean Spearman rank correlation "
        "of the randomised model's maps with the trained model's (1: unchanged). A method "
        "whose maps stay close to 1 shows the input, not what the model learned.",
    )
    means = {m: values.mean(axis=1) for m, values in cascade.items()}
    report.text(
        title,
        f"A method passes when its rank correlation with every layer randomised (the last "
        f"column) is below {SANITY_PASS:g}; only methods that pass can be named the best map.",
    )
    columns = stage_names(layers, stages)
    report.table(
        title,
        ["method", *columns, "sanity check"],
        [
            [LABELS[m], *v.tolist(), "pass" if passes(float(v[-1])) else "fail"]
            for m, v in means.items()
        ],
        formats=[None, *["float"] * len(names), None],
    )
    report.line_plot(
        title,
        {LABELS[m]: [1.0, *v.tolist()] for m, v in means.items()},
        xlabel="weighted layers randomised (top first)",
        ylabel="rank correlation with trained maps",
        caption=f"0: the trained model; then randomised down to {', '.join(names)} in turn.",
        x=[0, *(end + 1 for end in stages)],
    )
    return {m: float(v[-1]) for m, v in means.items()}


def passes(correlation: float) -> bool:
    """Whether a fully randomised rank correlation passes the sanity check."""
    return correlation < SANITY_PASS


@dataclass(frozen=True)
class Choice:
    """The method the verdict names, and why: its tone and its one-line text."""

    method: str
    tone: str
    text: str


def choose_best(aucs: dict[str, float], correlations: dict[str, float] | None) -> Choice:
    """The verdict: the best map among the methods that pass the sanity check.

    ``aucs`` holds each method's deletion AUC plus ``random`` and ``intensity`` (the
    baselines); ``correlations`` each method's fully randomised rank correlation (None: no
    sanity check run). Among the candidates (the passing methods; all when the check was not
    run) the best has the lowest AUC, i.e. the largest margin below the intensity order. The
    tone is good only when it passes and beats both baselines; when no method passes the
    verdict warns and names the method closest to passing (lowest correlation).
    """
    methods = {m: v for m, v in aucs.items() if m not in ("random", "intensity")}
    fmt = kinterp.format_number
    if correlations is None:
        best = min(methods, key=methods.__getitem__)
        checked = "; sanity check not run"
        return Choice(best, tone_of(methods[best], aucs), line(best, methods, aucs) + checked)
    passed = [m for m in methods if passes(correlations[m])]
    rule = f"rank correlation < {SANITY_PASS:g} once every layer is randomised"
    if not passed:
        closest = min(methods, key=correlations.__getitem__)
        return Choice(
            closest,
            "warn",
            f"No method passes the sanity check ({rule}): every map shows the input more than "
            f"the model; closest: {LABELS[closest]} (correlation "
            f"{fmt(correlations[closest], 'float')}), deletion AUC "
            f"{fmt(methods[closest], 'float')}",
        )
    best = min(passed, key=methods.__getitem__)
    counted = f"; {len(passed)}/{len(methods)} methods pass the sanity check ({rule})"
    return Choice(best, tone_of(methods[best], aucs), line(best, methods, aucs) + counted)


def tone_of(auc: float, aucs: dict[str, float]) -> str:
    """good when ``auc`` is below both baselines' (intensity and random order), else warn."""
    return "good" if auc < min(aucs["random"], aucs["intensity"]) else "warn"


def line(best: str, methods: dict[str, float], aucs: dict[str, float]) -> str:
    """The verdict's text for ``best``: its deletion AUC beside both baselines'."""
    fmt = kinterp.format_number
    worse = (
        " (no better than deleting the brightest pixels first)"
        if methods[best] >= aucs["intensity"]
        else ""
    )
    return (
        f"Best map: {LABELS[best]}, deletion AUC {fmt(methods[best], 'float')} vs "
        f"{fmt(aucs['intensity'], 'float')} for the intensity order{worse} and "
        f"{fmt(aucs['random'], 'float')} for a random order"
    )


def write_metrics(
    report: kinterp.ReportBuilder, aucs: dict[str, float], correlations: dict[str, float] | None
) -> None:
    """Deletion AUC per method and baseline, the verdict's method, and the sanity results."""
    methods = {m: v for m, v in aucs.items() if m not in ("random", "intensity")}
    choice = choose_best(aucs, correlations)
    report.metric("deletion_auc", methods)
    report.metric("deletion_auc_random", aucs["random"])
    report.metric("deletion_auc_intensity", aucs["intensity"])
    report.metric("best_deletion_auc", methods[choice.method])
    report.metric("best_method", choice.method)
    report.metric("sanity_rank_correlation", correlations)
    passed = {m: passes(r) for m, r in correlations.items()} if correlations else None
    report.metric("sanity_pass", passed)
    report.verdict(choice.text, tone=choice.tone)
    report.key("Attribution maps")


def write_plan(
    report: kinterp.ReportBuilder,
    plan: ScoreCamPlan | None,
    cam: CamLayer | None,
    layers: list[Any],
    stages: list[int] | None,
) -> None:
    """How the run scaled to the model: Score-CAM's variant and the cascade's stages.

    ``score_cam``: variant (``full`` or ``faster``), what switched the faster variant on
    (``auto``, ``--score-cam-fast`` or ""), channels kept per image (every channel when
    full), the layer and its channels, and the batch sizes; None without Score-CAM.
    ``sanity_stages``: each stage's last layer -> weighted layers re-initialised so far
    (None without the sanity check); ``sanity_weighted_layers``: how many there are.
    """
    report.metric(
        "score_cam",
        None
        if plan is None or cam is None
        else {
            "variant": plan.variant,
            "switched_on_by": plan.switched,
            "channels_kept": cam.channels if plan.keep is None else plan.keep,
            "layer": cam.name,
            "layer_channels": cam.channels,
            "predict_batch": plan.batch_size,
            "images_per_call": plan.images_per_call,
        },
    )
    report.metric(
        "sanity_stages",
        None if stages is None else {layers[end].name: end + 1 for end in stages},
    )
    report.metric("sanity_weighted_layers", None if stages is None else len(layers))


@kinterp.hookimpl
def register_techniques(register: Any) -> None:
    """Register the attribution technique."""
    register(Attribution())
