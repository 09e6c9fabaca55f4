"""Scan a SavedModel's graph for ops that are not pure tensor maths, before TensorFlow runs it.

A SavedModel is a program: its serving function may read or write files (``ReadFile``,
``WriteFile``), print, or call any other TensorFlow op, and loading it runs its resource
initialisers. Keras' safe mode refuses ``TFSMLayer`` for this reason. kinterp parses
``saved_model.pb`` itself and allows only the ops that the SavedModels Keras exports are made
of, plus common maths, nn and array ops: an allowlist, where TensorFlow's
``saved_model_cli scan`` keeps a denylist of three ops.

The functions the loader and the signatures can call (the saved object graph and the
signatures' graph nodes, followed through every function call) must use ``SERVING_OPS``
only. The rest of the graph is the checkpoint machinery every export carries (its save and
restore functions), which may also use ``CHECKPOINT_OPS``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from kinterp.errors import KinterpError
from kinterp.limits import MAX_GRAPH_BYTES, check_declared

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
CHECKPOINT_OPS = frozenset(
    {
        "SaveV2",
        "RestoreV2",
        "MergeV2Checkpoints",
        "ShardedFilename",
        "StringJoin",
        "StaticRegexFullMatch",
        "DisableCopyOnRead",
    }
)
"""Ops every Keras export holds in its checkpoint save/restore functions, and only there."""


def _function_calls(node: Any, library: dict[str, Any]) -> Iterator[str]:
    """Names of the library functions a node calls (directly, or through a ``func`` attr)."""
    if node.op in library:
        yield node.op
    for value in node.attr.values():
        if value.HasField("func"):
            yield value.func.name
        for func in value.list.func:
            yield func.name


def _reachable(roots: Iterable[str], library: dict[str, Any]) -> set[str]:
    """Every library function reachable from ``roots`` through function calls."""
    seen: set[str] = set()
    stack = [name for name in roots if name in library]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        for node in library[name].node_def:
            stack.extend(f for f in _function_calls(node, library) if f in library)
    return seen


def _signature_nodes(meta_graph: Any) -> set[str]:
    """Names of the graph nodes the signatures' inputs and outputs name."""
    names = set()
    for signature in meta_graph.signature_def.values():
        for tensor in [*signature.inputs.values(), *signature.outputs.values()]:
            names.add(tensor.name.split(":")[0].lstrip("^"))
    return names


def _saver_nodes(meta_graph: Any) -> set[str]:
    """Names of the graph nodes the checkpoint saver names (its save and restore calls)."""
    saver = meta_graph.saver_def
    tensors = (saver.filename_tensor_name, saver.save_tensor_name, saver.restore_op_name)
    return {t.split(":")[0].lstrip("^") for t in tensors if t}


def unsafe_ops(meta_graphs: Iterable[Any]) -> list[str]:
    """The op types in parsed meta graphs that the allowlist refuses, sorted (empty: safe).

    Serving functions (the object graph's, the signatures' and every function they call,
    and any graph node outside the saver) may use ``SERVING_OPS``; the remaining functions
    and the saver's graph nodes may also use ``CHECKPOINT_OPS``.
    """
    refused: set[str] = set()
    for meta_graph in meta_graphs:
        graph = meta_graph.graph_def
        library = {f.signature.name: f for f in graph.library.function}
        saver = _saver_nodes(meta_graph)
        roots = set(meta_graph.object_graph_def.concrete_functions)
        for node in graph.node:
            allowed = SERVING_OPS | CHECKPOINT_OPS if node.name in saver else SERVING_OPS
            if node.op not in library and node.op not in allowed:
                refused.add(node.op)
            if node.name not in saver:
                roots.update(_function_calls(node, library))
        serving = _reachable(roots, library)
        for name, function in library.items():
            allowed = SERVING_OPS if name in serving else SERVING_OPS | CHECKPOINT_OPS
            refused.update(
                node.op
                for node in function.node_def
                if node.op not in library and node.op not in allowed
            )
    return sorted(refused)


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
