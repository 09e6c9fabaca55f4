"""Back query: run a trained Dense network backwards, label in, image out.

The algorithm of Tariq Rashid's "Make Your Own Neural Network": put a target vector on the
output nodes, undo the activation (logit for a sigmoid), multiply by the transposed weights,
squash that layer's signal back into the activation's range, and repeat down to the input.
``--method pinv`` replaces the transpose by the least-squares inverse of each layer.

The pure numpy algorithm is :func:`backquery` (and :func:`backquery_trace`); the technique
only extracts the Dense chain from the Keras model, calls it and reports the results.
Keras is imported inside functions only, so ``kinterp --help`` stays TensorFlow-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

import kinterp
from kinterp import activation_name
from kinterp.toolkit.optimize import check_indices

BOOK_RANGE = (0.01, 0.99)
MAX_OUTPUTS = 100_000  # the most output nodes a back query takes (labels, --target values)
TANH_RANGE = (-0.99, 0.99)
SKIPPED = frozenset({"InputLayer", "Flatten", "Reshape", "Dropout"})
INVERTIBLE = ("sigmoid", "tanh", "linear", "softmax")
# The range a layer's back-queried signal is squashed into before its activation is undone;
# None: no squashing needed (a linear activation takes any value).
SIGNAL_RANGE: dict[str, tuple[float, float] | None] = {
    "sigmoid": BOOK_RANGE,
    "softmax": BOOK_RANGE,
    "tanh": TANH_RANGE,
    "linear": None,
}
# The open range of each output activation, for --target / --target-high / --target-low.
OUTPUT_RANGE = {
    "sigmoid": (0.0, 1.0),
    "softmax": (0.0, 1.0),
    "tanh": (-1.0, 1.0),
    "linear": (-np.inf, np.inf),
}
HAPPYMAP = "try happymap instead (kinterp run happymap MODEL), which needs no inverse"
WHY_ACTIVATION = {
    "relu": "relu maps every negative input to 0, so its input cannot be recovered",
    "relu6": "relu6 clips below 0 and above 6, so its input cannot be recovered",
    "elu": "elu saturates for negative inputs and is not inverted here",
    "selu": "selu saturates for negative inputs and is not inverted here",
    "gelu": "gelu is not one-to-one, so its input cannot be recovered",
    "silu": "silu (swish) is not one-to-one, so its input cannot be recovered",
    "swish": "swish is not one-to-one, so its input cannot be recovered",
    "hard_sigmoid": "hard_sigmoid is flat outside a window, so its input cannot be recovered",
}
WHY_LAYER = {
    "Conv": "a convolution is not a Dense layer (backquery inverts chains of Dense layers)",
    "Pool": "pooling throws away all but one value per window, so it cannot be inverted",
    "BatchNormalization": "backquery inverts plain chains of Dense layers, not normalisation",
    "ReLU": "relu maps every negative input to 0, so its input cannot be recovered",
    "LeakyReLU": "backquery inverts sigmoid, tanh, linear and softmax activations only",
}


# --------------------------------------------------------------------------- the algorithm


def inverse_activation(name: str, y: np.ndarray) -> np.ndarray:
    """Undo an activation: logit for sigmoid, atanh for tanh, log for softmax (up to a constant)."""
    y = np.asarray(y, dtype="float64")
    if name == "sigmoid":
        return np.log(y) - np.log1p(-y)
    if name == "tanh":
        return np.arctanh(y)
    if name == "softmax":
        return np.log(y)
    if name == "linear":
        return y
    raise ValueError(f"activation {name!r} cannot be inverted")


def rescale(v: np.ndarray, low: float, high: float) -> np.ndarray:
    """Squash each row of ``v`` linearly onto [low, high] (the book: 0.98 * (v - min) / max + 0.01).

    A constant row (nothing to rescale) becomes the midpoint.
    """
    v = np.asarray(v, dtype="float64")
    shifted = v - v.min(axis=-1, keepdims=True)
    top = shifted.max(axis=-1, keepdims=True)
    unit = np.divide(shifted, top, out=np.full_like(shifted, 0.5), where=top > 0)
    return (high - low) * unit + low


@dataclass
class Trace:
    """One back query: the rescaled input signal and the raw one before the last rescale."""

    inputs: np.ndarray
    raw: np.ndarray
    signals: list[np.ndarray] = field(default_factory=list)  # per layer, input side first


Layer = tuple[np.ndarray, "np.ndarray | None", str]


def backquery_trace(
    layers: Sequence[Layer],
    targets: np.ndarray,
    method: Literal["transpose", "pinv"] = "transpose",
    input_range: tuple[float, float] = BOOK_RANGE,
) -> Trace:
    """Run a Dense chain backwards from ``targets`` (one vector or a batch of rows).

    Args:
        layers: ``(kernel, bias, activation)`` in forward order; ``kernel`` is Keras' (in, out),
            ``bias`` is None for ``use_bias=False``, ``activation`` one of :data:`INVERTIBLE`.
        targets: output-node values (..., out), inside the open range of the last activation.
        method: ``transpose`` (the book: ``W.T @ v``, i.e. ``kernel @ v``) or ``pinv``
            (least-squares solve of ``kernel.T @ x = v``, the pseudo-inverse).
        input_range: where the input-layer signal is squashed at the end.
    """
    if method not in ("transpose", "pinv"):
        raise ValueError(f"unknown method {method!r}")
    signal = np.asarray(targets, dtype="float64")
    signals = [signal]
    raw = signal
    for i in range(len(layers) - 1, -1, -1):
        kernel, bias, activation = layers[i]
        kernel = np.asarray(kernel, dtype="float64")
        z = inverse_activation(activation, signal)
        if bias is not None:
            z = z - np.asarray(bias, dtype="float64")
        # Row form: z @ kernel.T is the book's W.T @ z; z @ pinv(kernel) is pinv(kernel.T) @ z.
        raw = z @ kernel.T if method == "transpose" else z @ np.linalg.pinv(kernel)
        squash = SIGNAL_RANGE[layers[i - 1][2]] if i > 0 else input_range
        signal = rescale(raw, *squash) if squash is not None else raw
        signals.append(signal)
    return Trace(inputs=signal, raw=raw, signals=signals[::-1])


def backquery(
    layers: Sequence[Layer],
    targets: np.ndarray,
    method: Literal["transpose", "pinv"] = "transpose",
    input_range: tuple[float, float] = BOOK_RANGE,
) -> np.ndarray:
    """The back-queried input signal, squashed into ``input_range``.

    See :func:`backquery_trace`.
    """
    return backquery_trace(layers, targets, method, input_range).inputs


# ------------------------------------------------------------------- which models it inverts


def plan_chain(rows: Sequence[tuple[str, str, str]]) -> list[tuple[str, str]]:
    """(name, type, activation) layer rows -> the Dense chain as (dense name, activation).

    An ``Activation``/``Softmax`` layer right after a linear Dense is folded into it.

    Raises:
        KinterpError: a layer that cannot be inverted, naming it, why, and happymap.
    """
    steps: list[list[str]] = []
    for name, kind, activation in rows:
        if kind in SKIPPED:
            continue
        if kind == "Dense":
            if activation not in INVERTIBLE:
                raise kinterp.KinterpError(_not_invertible(name, kind, activation))
            steps.append([name, activation])
        elif kind in ("Activation", "Softmax"):
            if activation not in INVERTIBLE:
                raise kinterp.KinterpError(_not_invertible(name, kind, activation))
            if not steps or steps[-1][1] != "linear":
                raise kinterp.KinterpError(
                    f"layer {name!r} ({kind}) cannot be inverted: it does not follow a linear "
                    f"Dense layer, so there is no single activation to undo; {HAPPYMAP}"
                )
            steps[-1][1] = activation
        else:
            why = next((w for key, w in WHY_LAYER.items() if key in kind), None)
            why = why or "backquery inverts chains of Dense layers only"
            raise kinterp.KinterpError(
                f"layer {name!r} ({kind}) cannot be inverted: {why}; {HAPPYMAP}"
            )
    if not steps:
        raise kinterp.KinterpError(f"the model has no Dense layer to run backwards; {HAPPYMAP}")
    return [(name, activation) for name, activation in steps]


def _not_invertible(name: str, kind: str, activation: str) -> str:
    """Why a layer's activation cannot be inverted, with the happymap hint."""
    why = WHY_ACTIVATION.get(
        activation, f"{activation or 'its activation'} is not one of {', '.join(INVERTIBLE)}"
    )
    return f"layer {name!r} ({kind}, {activation}) cannot be inverted: {why}; {HAPPYMAP}"


def dense_chain(keras_model: Any) -> list[Layer]:
    """The ``(kernel, bias, activation)`` chain of a Keras model of Dense layers.

    Raises:
        KinterpError: a layer that cannot be inverted (see :func:`plan_chain`).
    """
    rows = [(lay.name, type(lay).__name__, activation_name(lay)) for lay in keras_model.layers]
    chain: list[Layer] = []
    for name, activation in plan_chain(rows):
        layer = keras_model.get_layer(name)
        rank = len(layer.input.shape)
        if rank != 2:
            raise kinterp.KinterpError(
                f"layer {name!r} (Dense) gets a rank-{rank} input and mixes only its last axis, "
                f"so it cannot be inverted as one matrix; add a Flatten before it or {HAPPYMAP}"
            )
        kernel = np.asarray(layer.kernel, dtype="float64")
        bias = np.asarray(layer.bias, dtype="float64") if layer.use_bias else None
        chain.append((kernel, bias, activation))
    for (k1, _, _), (k2, _, _) in zip(chain, chain[1:], strict=False):
        if k1.shape[1] != k2.shape[0]:
            raise kinterp.KinterpError(
                f"the Dense layers do not form one chain ({k1.shape} then {k2.shape}); {HAPPYMAP}"
            )
    return chain


# ------------------------------------------------------------------------------ the technique


@dataclass
class BackqueryParams:
    method: Literal["transpose", "pinv", "both"] = field(
        default="transpose",
        metadata={
            "help": "transpose: the book's W.T; pinv: least-squares inverse of each layer; "
            "both: side by side."
        },
    )
    labels: list[int] | None = field(
        default=None,
        metadata={
            "help": "Class indices to back-query (default: all).",
            "min": 0,
            "max": MAX_OUTPUTS - 1,
            "max_items": MAX_OUTPUTS,
        },
    )
    target_high: float = field(
        default=0.99,
        metadata={"help": "Output value put on the label's node.", "min": -1e6, "max": 1e6},
    )
    target_low: float = field(
        default=0.01,
        metadata={"help": "Output value put on every other node.", "min": -1e6, "max": 1e6},
    )
    target: list[float] | None = field(
        default=None,
        metadata={
            "help": "A custom output vector v0,v1,... (one value per class) instead of --labels, "
            "e.g. 0.99 on both 3 and 8.",
            "min": -1e6,
            "max": 1e6,
            "max_items": MAX_OUTPUTS,
        },
    )


class Backquery(kinterp.Technique):
    name = "backquery"
    summary = "Run a Dense sigmoid network backwards: label in, image out"
    Params = BackqueryParams
    demo = (kinterp.DemoPreset(model="mnist-mlp", params={}),)
    key_metric = "forward_match"
    reads_data = False

    def supports(self, info: kinterp.ModelInfo) -> str | None:
        """None when the model is a chain of invertible Dense layers, else the reason it is not."""
        if not info.has_layers:
            return (
                "a SavedModel loads as one opaque layer, so its weights cannot be run backwards; "
                "use the .keras or .h5 file"
            )
        try:
            plan_chain([(row.name, row.type, row.activation) for row in info.layers])
        except kinterp.KinterpError as exc:
            return str(exc)
        return None

    def run(self, ctx: kinterp.RunContext, params: BackqueryParams) -> None:
        """Back-query every target, feed the images forward again and report both."""
        info = ctx.model.info
        chain = dense_chain(ctx.model.keras_model)
        _check_input_size(info, chain)
        out_activation, n_out = chain[-1][2], chain[-1][0].shape[1]
        targets, names, expected = self._targets(params, info, out_activation, n_out)
        methods = ["transpose", "pinv"] if params.method == "both" else [params.method]
        input_range = _input_signal_range(info.input_range)

        queries = _query(ctx.model, chain, targets, methods, input_range)
        check = _forward_check(ctx.model, queries, names, expected, methods)

        _report_method(ctx.report, chain, params.method, input_range)
        _report_images(ctx.report, queries, check, methods)
        ctx.report.array("backquery-inputs", queries.x_in)
        ctx.report.array("backquery-raw", queries.raw)
        ctx.report.array("targets", targets)
        _report_forward_check(ctx.report, check)
        _report_metrics(ctx.report, check, queries.order, methods)

    @staticmethod
    def _targets(
        params: BackqueryParams, info: kinterp.ModelInfo, activation: str, n_out: int
    ) -> tuple[np.ndarray, list[str], list[list[int]]]:
        """The target vectors, their names, and the classes each one asks for."""
        low, high = OUTPUT_RANGE[activation]
        where = f"the {activation} output's open range ({low:g}, {high:g})"
        if params.target is not None:
            if params.labels is not None:
                raise kinterp.KinterpError("pass either --labels or --target, not both")
            vector = np.asarray(params.target, dtype="float64")
            if len(vector) != n_out:
                raise kinterp.KinterpError(
                    f"--target has {len(vector)} values but the model has {n_out} outputs; "
                    f"pass {n_out} comma-separated values"
                )
            if not np.all((vector > low) & (vector < high)):
                raise kinterp.KinterpError(f"--target values must lie inside {where}")
            top = np.flatnonzero(vector == vector.max()).tolist()
            return vector[None, :], ["custom"], [top]
        for option, value in (
            ("--target-high", params.target_high),
            ("--target-low", params.target_low),
        ):
            if not low < value < high:
                raise kinterp.KinterpError(f"{option} {value:g} must lie inside {where}")
        if params.target_high <= params.target_low:
            raise kinterp.KinterpError("--target-high must be larger than --target-low")
        labels = check_indices(params.labels, n_out, f"classes of {info.name}", "--labels")
        targets = np.full((len(labels), n_out), params.target_low, dtype="float64")
        targets[np.arange(len(labels)), labels] = params.target_high
        names = [info.class_name(c) for c in labels]
        return targets, names, [[c] for c in labels]


def _inverse_name(activation: str) -> str:
    """The inverse of ``activation``, in words, as the report says it."""
    return {
        "sigmoid": "logit",
        "tanh": "atanh",
        "softmax": "log, i.e. logits up to a constant",
        "linear": "identity",
    }[activation]


def _input_signal_range(input_range: tuple[float, float]) -> tuple[float, float]:
    """Where the input signal is squashed: the book's (0.01, 0.99) when the model takes
    values in about [0, 1], else the same fractions of the model's input range."""
    lo, hi = input_range
    if lo <= BOOK_RANGE[0] and hi >= BOOK_RANGE[1] and hi - lo <= 1.0 + 1e-9:
        return BOOK_RANGE
    return (lo + BOOK_RANGE[0] * (hi - lo), lo + BOOK_RANGE[1] * (hi - lo))


# ------------------------------------------------------------------------ the technique's steps


@dataclass
class _Queries:
    """The back-queried inputs of every (target, method) row, label-major, method-minor."""

    order: list[tuple[int, str]]  # (target index, method) of each row
    x_in: np.ndarray  # the rescaled input signals, shaped like the model input (float32)
    raw: np.ndarray  # the input signals before their final rescale, flat
    images: np.ndarray  # x_in as displayable images
    signed: np.ndarray  # raw divided by its largest magnitude, shaped like images (float32)


@dataclass
class _ForwardCheck:
    """The back-queried images fed forward: table rows, captions, matches and metrics."""

    rows: list[list[Any]] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    match: list[bool] = field(default_factory=list)
    raw_match: list[bool] = field(default_factory=list)
    conf_target: dict[str, float] = field(default_factory=dict)
    forward_class: dict[str, str] = field(default_factory=dict)


def _check_input_size(info: kinterp.ModelInfo, chain: Sequence[Layer]) -> None:
    """Raise KinterpError when the first Dense layer does not take the whole model input."""
    n_in = chain[0][0].shape[0]
    if n_in != int(np.prod([d for d in info.input_shape])):
        raise kinterp.KinterpError(
            f"the first Dense layer takes {n_in} values but the model input "
            f"{info.input_shape} has {int(np.prod(info.input_shape))}; {HAPPYMAP}"
        )


def _query(
    model: kinterp.LoadedModel,
    chain: Sequence[Layer],
    targets: np.ndarray,
    methods: list[str],
    input_range: tuple[float, float],
) -> _Queries:
    """Back-query every target with every method; the input signals and their images."""
    info = model.info
    traces = {m: backquery_trace(chain, targets, m, input_range) for m in methods}
    # Label-major, method-minor: with --method both the grid shows them side by side.
    order = [(i, m) for i in range(len(targets)) for m in methods]
    x_in = np.stack([traces[m].inputs[i] for i, m in order]).astype("float32")
    raw = np.stack([traces[m].raw[i] for i, m in order])
    x_in = x_in.reshape((len(x_in), *info.input_shape))
    images = model.to_images(x_in)
    limit = np.max(np.abs(raw), axis=-1, keepdims=True)
    signed = np.divide(raw, limit, out=np.zeros_like(raw), where=limit > 0)
    signed = signed.reshape(images.shape).astype("float32")
    return _Queries(order, x_in, raw, images, signed)


def _forward_check(
    model: kinterp.LoadedModel,
    queries: _Queries,
    names: list[str],
    expected: list[list[int]],
    methods: list[str],
) -> _ForwardCheck:
    """Feed each back-queried input (and its signal before the rescale) forward and score it."""
    info = model.info
    probs = model.classify(queries.x_in).probs
    # The same check on the input signal before its final rescale (which only makes it
    # displayable). For a single layer pinv is exact there; hidden layers' rescales move it.
    raw_in = queries.raw.reshape(queries.x_in.shape).astype("float32")
    raw_top = model.classify(raw_in).top1
    check = _ForwardCheck()
    for row, (i, method) in enumerate(queries.order):
        top = int(np.argmax(probs[row]))
        top_conf = float(probs[row, top])
        want = [int(c) for c in expected[i]]
        target_conf = float(max(probs[row, c] for c in want))
        ok = top in want
        check.match.append(ok)
        check.raw_match.append(int(raw_top[row]) in want)
        key = names[i] if len(methods) == 1 else f"{names[i]}/{method}"
        check.conf_target[key] = round(target_conf, 6)
        check.forward_class[key] = info.class_name(top)
        cls = check.forward_class[key]
        shown = names[i] if len(methods) == 1 else f"{names[i]} ({method})"
        verdict = "→" if ok else "comes back as"
        check.captions.append(
            f"label {shown}\n{verdict} {cls} (p {kinterp.format_number(top_conf, 'prob')})"
        )
        raw_cls = info.class_name(int(raw_top[row]))
        check.rows.append(
            [names[i], method, cls, round(top_conf, 4), round(target_conf, 4), ok, raw_cls]
        )
    return check


def _report_method(
    report: Any, chain: Sequence[Layer], method: str, input_range: tuple[float, float]
) -> None:
    """The "Back query" section: the network and how it was run backwards."""
    n_in = chain[0][0].shape[0]
    out_activation = chain[-1][2]
    layers_text = " -> ".join([f"input {n_in}"] + [f"Dense {k.shape[1]} {a}" for k, _, a in chain])
    biased = any(b is not None for _, b, _ in chain)
    method_text = {
        "transpose": "multiplied by the transposed weights (the book's method)",
        "pinv": "solved through the pseudo-inverse of each layer (least squares)",
        "both": "run both ways: transposed weights (left) and pseudo-inverse (right)",
    }[method]
    report.text(
        "Back query",
        f"Network {layers_text}. Each target vector was put on the output nodes, its "
        f"{out_activation} undone ({_inverse_name(out_activation)}), "
        + f"and {method_text}; every hidden layer's signal was rescaled into its "
        "activation's range ((0.01, 0.99) for sigmoid, (-0.99, 0.99) for tanh, none for "
        "linear) before its activation was undone, down to the input, which was rescaled "
        f"into ({input_range[0]:g}, {input_range[1]:g}) model-input values."
        + (
            " Each layer's bias was subtracted before its weights were inverted."
            if biased
            else " The layers have no biases."
        ),
    )


def _report_images(
    report: Any, queries: _Queries, check: _ForwardCheck, methods: list[str]
) -> None:
    """The verdict, the "Back-queried images" (labels that come back as another class
    marked) and "Ink support" grids with their explanations."""
    columns = len(methods) if len(methods) > 1 else None
    captions, wrong = check.captions, [not ok for ok in check.match]
    missed = [
        row[0] if len(methods) == 1 else f"{row[0]} ({row[1]})"
        for row, ok in zip(check.rows, check.match, strict=True)
        if not ok
    ]
    report.verdict(
        f"{len(wrong) - len(missed)}/{len(wrong)} back-queried images come back as their label"
        + (f"; {', '.join(missed)} come back as another class" if missed else ""),
        tone="good" if not missed else "warn",
    )
    report.images(
        "Back-queried images",
        queries.images,
        captions=captions,
        columns=columns,
        name="backquery",
        wrong=wrong,
    )
    report.key("Back-queried images")
    report.text(
        "Back-queried images",
        "Each image is fed forward again: the caption gives the class it comes back as and that "
        "class's output (p); a red border marks a label that comes back as another class. "
        "Shown like the data: bright = ink. Bright areas are where ink supports the label, "
        "dark areas must stay clear, mid grey is indifferent. (The book plots the same "
        "values with an inverted grey map, so there ink is dark.)",
    )
    report.images(
        "Ink support",
        queries.signed,
        captions=captions,
        cmap="diverging",
        columns=columns,
        name="backquery-signed",
    )
    report.text(
        "Ink support",
        "The input signal before its final rescale, divided by its largest magnitude: red "
        "(positive) pixels push towards the target when inked, blue (negative) ones push "
        "away from it and must stay clear, white ones do not matter.",
    )


def _report_forward_check(report: Any, check: _ForwardCheck) -> None:
    """The "Forward check" section: the table of forward classes and its explanation."""
    report.table(
        "Forward check",
        [
            "label",
            "method",
            "forward class",
            "confidence",
            "target confidence",
            "match",
            "class before rescale",
        ],
        check.rows,
    )
    report.text(
        "Forward check",
        "Each back-queried image fed forward through the network: the class it gets, that "
        "class's output, and the output of the label that was asked for. The last column "
        "feeds the input signal before its final rescale into the network (its values may "
        "lie outside the model's input range). For a single layer the pseudo-inverse "
        "reproduces the target there exactly; with hidden layers it reproduces each "
        "layer's rescaled signal, so this column shows how much the rescaling, rather "
        "than the inversion, changes the answer.",
    )


def _report_metrics(
    report: Any, check: _ForwardCheck, order: list[tuple[int, str]], methods: list[str]
) -> None:
    """The forward-match metrics: overall, per method (with both), before rescale, per target."""
    report.metric("forward_match", float(np.mean(check.match)))
    if len(methods) > 1:
        for method in methods:
            hits = [ok for (_, m), ok in zip(order, check.match, strict=True) if m == method]
            report.metric(f"forward_match_{method}", float(np.mean(hits)))
    report.metric("forward_match_before_rescale", float(np.mean(check.raw_match)))
    report.metric("forward_confidence", check.conf_target)
    report.metric("forward_class", check.forward_class)


@kinterp.hookimpl
def register_techniques(register: Any) -> None:
    """Register the backquery technique."""
    register(Backquery())
