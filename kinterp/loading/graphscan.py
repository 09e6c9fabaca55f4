"""Scan a SavedModel's graph for ops that are not pure tensor maths, before TensorFlow runs it.

A SavedModel is a program: its serving function may read or write files (``ReadFile``,
``WriteFile``), print, or call any other TensorFlow op, and loading it runs its resource
initialisers. Keras' safe mode refuses ``TFSMLayer`` for this reason. kinterp parses
``saved_model.pb`` itself and allows only the ops that the SavedModels Keras exports are made
of, plus common maths, nn and array ops: an allowlist, where TensorFlow's
``saved_model_cli scan`` keeps a denylist of three ops.

Every entry point that loading or calling can reach is scanned: the signatures (the init
op's ``__saved_model_init_op`` among them), the init ops and every other node a collection,
an asset or the object graph names, the saver's restore op and filename tensor, and every
library function a node or the object graph names (gradient functions included), followed
through inputs, control inputs and function calls. All of it must use ``SERVING_OPS``. The
checkpoint machinery every export carries is the one exception, allowed only in its genuine
shape: the restore call may read the checkpoint the loader feeds to the saver's filename
tensor (``RESTORE_OPS``), and the save call, which no loader runs, may write it
(``SAVE_OPS``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

from kinterp.errors import KinterpError
from kinterp.loading.limits import MAX_GRAPH_BYTES, check_declared

VARIABLE_OPS = frozenset(
    {
        "Placeholder",
        "PlaceholderWithDefault",
        "Const",
        "Identity",
        "IdentityN",
        "NoOp",
        "StopGradient",
        "VarHandleOp",
        "ReadVariableOp",
        "AssignVariableOp",
        "VarIsInitializedOp",
    }
)
CALL_OPS = frozenset(
    {
        "PartitionedCall",
        "StatefulPartitionedCall",
        "While",
        "StatelessWhile",
        "If",
        "StatelessIf",
        "Case",
        "StatelessCase",
    }
)
"""Ops whose work is another function of the library (which is scanned in turn)."""
NN_OPS = frozenset(
    {
        "AvgPool",
        "AvgPool3D",
        "BiasAdd",
        "Conv",
        "Conv2D",
        "Conv3D",
        "Conv2DBackpropInput",
        "Conv3DBackpropInputV2",
        "DepthwiseConv2dNative",
        "Elu",
        "FusedBatchNormV3",
        "LRN",
        "LeakyRelu",
        "LogSoftmax",
        "MaxPool",
        "MaxPoolV2",
        "MaxPool3D",
        "Relu",
        "Relu6",
        "Selu",
        "Sigmoid",
        "Softmax",
        "Softplus",
        "Softsign",
        "Tanh",
        "ResizeBilinear",
        "ResizeNearestNeighbor",
        "ResizeBicubic",
        "ResizeArea",
    }
)
MATH_OPS = frozenset(
    {
        "Abs",
        "Add",
        "AddN",
        "AddV2",
        "All",
        "Any",
        "ArgMax",
        "ArgMin",
        "BatchMatMulV2",
        "BatchMatMulV3",
        "Cast",
        "Ceil",
        "ClipByValue",
        "Cos",
        "Cumsum",
        "Einsum",
        "Equal",
        "Erf",
        "Erfc",
        "Exp",
        "Floor",
        "FloorDiv",
        "FloorMod",
        "Greater",
        "GreaterEqual",
        "IsFinite",
        "IsNan",
        "L2Loss",
        "Less",
        "LessEqual",
        "Log",
        "Log1p",
        "LogicalAnd",
        "LogicalNot",
        "LogicalOr",
        "MatMul",
        "Max",
        "Maximum",
        "Mean",
        "Min",
        "Minimum",
        "Mod",
        "Mul",
        "MulNoNan",
        "Neg",
        "NotEqual",
        "Pow",
        "Prod",
        "RealDiv",
        "Reciprocal",
        "Round",
        "Rsqrt",
        "Select",
        "SelectV2",
        "Sign",
        "Sin",
        "Sqrt",
        "Square",
        "SquaredDifference",
        "Sub",
        "Sum",
        "Tan",
        "TruncateDiv",
        "DivNoNan",
    }
)
ARRAY_OPS = frozenset(
    {
        "BroadcastArgs",
        "BroadcastTo",
        "Concat",
        "ConcatV2",
        "ExpandDims",
        "Fill",
        "Gather",
        "GatherNd",
        "GatherV2",
        "MirrorPad",
        "OneHot",
        "OnesLike",
        "Pack",
        "Pad",
        "PadV2",
        "Range",
        "Rank",
        "Reshape",
        "ReverseV2",
        "Shape",
        "ShapeN",
        "Size",
        "Slice",
        "Split",
        "SplitV",
        "Squeeze",
        "StridedSlice",
        "Tile",
        "TopKV2",
        "Transpose",
        "Unpack",
        "Where",
        "ZerosLike",
        "TensorListFromTensor",
        "TensorListGetItem",
        "TensorListReserve",
        "TensorListSetItem",
        "TensorListStack",
        "TensorListElementShape",
        "TensorListLength",
    }
)
SERVING_OPS = VARIABLE_OPS | CALL_OPS | NN_OPS | MATH_OPS | ARRAY_OPS
"""Ops allowed anywhere: pure tensor maths, variables, and calls to scanned functions."""
RESTORE_OPS = frozenset({"RestoreV2"})
"""Ops the restore call may use, each reading only the checkpoint the loader names."""
SAVE_OPS = frozenset(
    {
        "SaveV2",
        "MergeV2Checkpoints",
        "ShardedFilename",
        "StringJoin",
        "StaticRegexFullMatch",
        "DisableCopyOnRead",
    }
)
"""Ops only the checkpoint save call may use: loading never runs it."""
CHECKPOINT_OPS = RESTORE_OPS | SAVE_OPS
"""Ops every Keras export holds in its checkpoint save/restore functions, and only there."""
DIRECT_CALLS = frozenset({"PartitionedCall", "StatefulPartitionedCall"})
"""Call ops whose inputs are the called function's arguments, in order."""


def _node_name(ref: str) -> str:
    """The node a graph input or tensor name refers to (``^a``, ``a:1`` and ``a`` -> ``a``)."""
    return ref.lstrip("^").split(":")[0]


def _function_calls(node: Any, library: dict[str, Any]) -> Iterator[str]:
    """Names of the library functions a node calls (directly, or through a ``func`` attr,
    the functions a ``func`` attr passes on to the called one included)."""
    if node.op in library:
        yield node.op
    yield from _attr_functions(node.attr.values())


def _attr_functions(values: Iterable[Any]) -> Iterator[str]:
    """Every function name in ``AttrValue``s, at any depth of ``NameAttrList`` attrs."""
    for value in values:
        funcs = [value.func] if value.HasField("func") else []
        for func in [*funcs, *value.list.func]:
            yield func.name
            yield from _attr_functions(func.attr.values())


def _substitutable(library: dict[str, Any]) -> set[str]:
    """The functions TensorFlow may run in place of one another, or name from attributes.

    Grappler's implementation selector swaps a call to a function carrying an
    ``api_implements`` attribute for any other function of the library implementing the
    same interface (the one preferred on the device at hand); ``forward_function_name`` and
    ``backward_function_name`` pair such functions. The call's role says nothing about which
    of them runs, so each is judged as serving code, as is any function named in another
    function's attributes.
    """
    swapped = {name for name, f in library.items() if "api_implements" in f.attr}
    attrs = [value for f in library.values() for value in f.attr.values()]
    named = {value.s.decode(errors="replace") for value in attrs} | set(_attr_functions(attrs))
    return swapped | (named & set(library))


def _closure(roots: Iterable[str], edges: dict[str, set[str]]) -> set[str]:
    """Every key of ``edges`` reachable from ``roots`` (themselves included)."""
    seen: set[str] = set()
    stack = [name for name in roots if name in edges]
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(n for n in edges[name] if n in edges)
    return seen


def _filename_args(node: Any, function: Any, filename: str) -> set[str]:
    """The arguments of ``function`` that ``node`` (a direct call) binds to the saver's
    filename tensor; empty for any other kind of call."""
    if node.op not in DIRECT_CALLS and node.op != function.signature.name:
        return set()
    args = function.signature.input_arg
    return {
        arg.name for arg, ref in zip(args, node.input, strict=False) if _tensor(ref) == filename
    }


def _tensor(ref: str) -> str:
    """A tensor name without the default output index (``a:0`` -> ``a``)."""
    return ref.removesuffix(":0")


def _mentioned(meta_graph: Any) -> bytes:
    """The meta graph's bytes outside its nodes, functions and saver: signatures,
    collections, assets, the object graph and the gradient registrations, everywhere a
    loader may look a node or function up by name."""
    rest = type(meta_graph)()
    rest.CopyFrom(meta_graph)
    rest.ClearField("saver_def")
    rest.meta_info_def.ClearField("stripped_op_list")
    rest.graph_def.ClearField("node")
    rest.graph_def.library.ClearField("function")
    return rest.SerializeToString()


def _refused(nodes: Iterable[Any], allowed: AbstractSet[str], prefixes: set[str]) -> set[str]:
    """The op types of ``nodes`` outside ``allowed``; a ``RESTORE_OPS`` op is allowed only
    when its first input (the checkpoint it reads) is one of ``prefixes``."""
    return {
        node.op
        for node in nodes
        if node.op not in allowed
        or (node.op in RESTORE_OPS and not (node.input and _tensor(node.input[0]) in prefixes))
    }


def _meta_graph_refusals(meta_graph: Any) -> set[str]:
    """The op types of one meta graph that are refused where they stand (see unsafe_ops)."""
    graph = meta_graph.graph_def
    library = {f.signature.name: f for f in graph.library.function}
    nodes = {node.name: node for node in graph.node}
    inputs = {name: {_node_name(ref) for ref in node.input} for name, node in nodes.items()}
    saver = meta_graph.saver_def
    filename = _tensor(saver.filename_tensor_name)
    mentioned = _mentioned(meta_graph)
    restore = _closure([_node_name(saver.restore_op_name)], inputs)
    save = _closure([_node_name(saver.save_tensor_name)], inputs) - restore
    named = {name for name in restore | save if name.encode() in mentioned}
    serving = _closure((set(nodes) - restore - save) | named, inputs)
    restore, save = restore - serving, save - serving
    callers: dict[str, list[Any]] = {}
    for name in restore | save:
        for called in _function_calls(nodes[name], library):
            callers.setdefault(called, []).append(nodes[name])
    calls = {
        name: {called for node in f.node_def for called in _function_calls(node, library)}
        for name, f in library.items()
    }
    roots = {f for name in serving for f in _function_calls(nodes[name], library)}
    roots |= {f for f in library if f not in callers or f.encode() in mentioned}
    roots |= {f for called in callers if called in library for f in calls[called]}
    roots |= _substitutable(library)
    serving_functions = _closure(roots, calls)
    with_calls = SERVING_OPS | frozenset(library)
    refused = _refused((nodes[name] for name in serving), with_calls, set())
    refused |= _refused((nodes[n] for n in restore), with_calls | RESTORE_OPS, {filename})
    refused |= _refused((nodes[n] for n in save), with_calls | SAVE_OPS, set())
    for name, function in library.items():
        if name in serving_functions:
            refused |= _refused(function.node_def, with_calls, set())
        elif any(node.name in restore for node in callers[name]):
            bound = [_filename_args(node, function, filename) for node in callers[name]]
            refused |= _refused(
                function.node_def, with_calls | RESTORE_OPS, set.intersection(*bound)
            )
        else:
            refused |= _refused(function.node_def, with_calls | SAVE_OPS, set())
    return refused


def unsafe_ops(meta_graphs: Iterable[Any]) -> list[str]:
    """The op types in parsed meta graphs that the allowlist refuses, sorted (empty: safe).

    Each graph node and library function gets a role from what can run it. The saver's
    restore call (the nodes its restore op reaches and the functions they call) may also
    use ``RESTORE_OPS``, each reading only the file the loader feeds to the saver's filename
    tensor. The saver's save call, which no loader runs, may also use ``SAVE_OPS``.
    Everything else (the signatures, init ops, collections, assets, the object graph's and
    the gradient functions, any node or function that a loader can name, and every function
    those call, the save and restore functions' callees included) may use ``SERVING_OPS``
    only. A node or function both roles reach takes the stricter one.
    """
    return sorted(set().union(*(_meta_graph_refusals(meta_graph) for meta_graph in meta_graphs)))


def read_saved_model(path: Path) -> Any:
    """Parse ``path/saved_model.pb`` without running anything.

    Raises:
        KinterpError: the file is too large or not a SavedModel protocol buffer.
    """
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2

    pb = path / "saved_model.pb"
    fix = "re-export the model with model.export()"
    check_declared(str(pb), "the graph", pb.stat().st_size, MAX_GRAPH_BYTES, fix)
    proto = saved_model_pb2.SavedModel()
    try:
        proto.ParseFromString(pb.read_bytes())
    except (DecodeError, OSError, RuntimeError) as exc:
        raise KinterpError(
            f"{pb} is not a readable SavedModel ({type(exc).__name__}); {fix}"
        ) from None
    return proto


def check_savedmodel(path: Path, unsafe: bool) -> None:
    """Refuse a SavedModel whose graph holds ops outside the allowlist, unless ``unsafe``.

    Raises:
        KinterpError: naming the refused ops and the opt-in.
    """
    refused = unsafe_ops(read_saved_model(path).meta_graphs)
    if refused and not unsafe:
        shown = ", ".join(refused[:8]) + (
            f" and {len(refused) - 8} more" if len(refused) > 8 else ""
        )
        raise KinterpError(
            f"{path} is a SavedModel whose graph runs ops outside kinterp's allowlist of pure "
            f"tensor ops ({shown}); they could read or write files; if you trust it, "
            "pass --unsafe"
        )


def embedded_savedmodels(config: Any) -> Iterator[str]:
    """The SavedModel paths a Keras model config loads (its ``TFSMLayer``s), at any depth."""
    if isinstance(config, dict):
        if "TFSMLayer" in (config.get("class_name"), config.get("registered_name")):
            inner = config.get("config")
            yield str(inner.get("filepath", "?") if isinstance(inner, dict) else "?")
        for value in config.values():
            yield from embedded_savedmodels(value)
    elif isinstance(config, list):
        for value in config:
            yield from embedded_savedmodels(value)


def check_keras_config(config: dict, source: Path, unsafe: bool) -> None:
    """Refuse a ``.keras`` or ``.h5`` model that embeds a SavedModel, unless ``unsafe``.

    TensorFlow would load the SavedModel a ``TFSMLayer`` names while Keras builds the model,
    so it is refused before Keras sees the file (as Keras' safe mode does, later and with a
    vaguer message).

    Raises:
        KinterpError: naming the embedded SavedModel, the way to scan it and the opt-in.
    """
    found = next(embedded_savedmodels(config), None)
    if found is not None and not unsafe:
        raise KinterpError(
            f"{source} embeds the SavedModel {found} (a TFSMLayer), whose graph TensorFlow "
            "would run unscanned; pass that SavedModel directory itself to have it scanned, "
            "or, if you trust both, pass --unsafe"
        )
