"""Every entry point a SavedModel loader runs is scanned: the saver's restore op, init ops,
the init signature, assets and gradient functions. Each hostile model here really writes a
file when loaded with --unsafe, and is refused (exit 2, one line, no file) without it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kinterp.cli import app
from kinterp.loading.graphscan import read_saved_model, unsafe_ops
from kinterp.loading.modelfile import sha256_of
from tests.test_graphscan import _module_savedmodel

Hostile = Callable[[Path], dict[str, str]]
"""Adds hostile ops to the graph being built (writing under the folder it gets) and returns
names of nodes for :func:`_point` to wire in."""


def _tf1_savedmodel(
    path: Path, hostile: Hostile | None = None, variables: bool = True
) -> tuple[Path, dict[str, str]]:
    """A TF1 SavedModel (``tf.compat.v1.saved_model.Builder``) of a softmax regression whose
    graph also holds ``hostile``'s ops. Without ``variables`` its weights are a constant and
    the Builder adds no saver. Returns (path, the names ``hostile`` returned)."""
    import tensorflow as tf

    with tf.Graph().as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 28, 28, 1], name="x")
        w = tf.Variable(tf.zeros([784, 10]), name="w") if variables else tf.zeros([784, 10])
        y = tf.nn.softmax(tf.reshape(x, [-1, 784]) @ w, name="y")
        names = hostile(path.parent) if hostile else {}
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            builder = tf.compat.v1.saved_model.Builder(str(path))
            signature = tf.compat.v1.saved_model.predict_signature_def({"x": x}, {"y": y})
            builder.add_meta_graph_and_variables(
                session, ["serve"], signature_def_map={"serving_default": signature}
            )
            builder.save()
    return path, names


def _rewrite(path: Path, edit: Callable[[object], None]) -> None:
    """Apply ``edit`` to the SavedModel's meta graph and write saved_model.pb back."""
    proto = read_saved_model(path)
    edit(proto.meta_graphs[0])
    (path / "saved_model.pb").write_bytes(proto.SerializeToString())


def _save_op(folder: Path):
    """A SaveV2 op writing a checkpoint named ``folder/canary``."""
    import tensorflow as tf

    return tf.raw_ops.SaveV2(
        prefix=str(folder / "canary"),
        tensor_names=["c"],
        shape_and_slices=[""],
        tensors=[tf.constant(1.0)],
        name="evil",
    )


def _save_to(folder: Path) -> dict[str, str]:
    """A SaveV2 node writing a checkpoint named ``folder/canary``."""
    return {"evil": _save_op(folder).name}


def _write_to(folder: Path) -> dict[str, str]:
    """A WriteFile node writing ``folder/canary``."""
    import tensorflow as tf

    return {"evil": tf.io.write_file(str(folder / "canary"), "x", name="evil").name}


def _call_saving_function(folder: Path) -> dict[str, str]:
    """A call node whose function saves a checkpoint named ``folder/canary``."""
    import tensorflow as tf

    @tf.function
    def evil():
        with tf.control_dependencies([_save_op(folder)]):
            return tf.constant(0.0)

    return {"evil": tf.identity(evil(), name="evil").op.name}


def _write_asset(folder: Path) -> dict[str, str]:
    """An asset placeholder and a WriteFile that writes to the path the loader feeds it."""
    import tensorflow as tf

    asset = tf.compat.v1.placeholder_with_default("unused", [], name="asset_path")
    return {"asset": asset.op.name, "evil": tf.io.write_file(asset, "x", name="evil").name}


def _restore_op(names):
    return lambda meta: setattr(meta.saver_def, "restore_op_name", names["evil"])


def _saver_of_one_op(names):
    """A saver where the model had none: its filename (and save tensor) a string
    placeholder, its restore op the hostile one."""

    def edit(meta):
        meta.graph_def.node.add(name="filename", op="Placeholder").attr["dtype"].type = 7
        meta.saver_def.filename_tensor_name = "filename:0"
        meta.saver_def.save_tensor_name = "filename:0"
        meta.saver_def.restore_op_name = names["evil"]

    return edit


def _restore_control_input(names):
    def edit(meta):
        restore = next(n for n in meta.graph_def.node if n.name == meta.saver_def.restore_op_name)
        restore.input.append("^" + names["evil"])

    return edit


def _main_op(key: str):
    def wire(names):
        return lambda meta: meta.collection_def[key].node_list.value.append(names["evil"])

    return wire


def _init_signature_runs_save(names):
    """The init signature fetches the genuine save tensor (its default filename: ./model)."""

    def edit(meta):
        save = meta.saver_def.save_tensor_name.split(":")[0]
        meta.graph_def.node.add(name="run_save", op="NoOp", input=["^" + save])
        output = meta.signature_def["__saved_model_init_op"].outputs["__saved_model_init_op"]
        output.name = "run_save"

    return edit


def _asset(names):
    def edit(meta):
        meta.collection_def["saved_model_main_op"].node_list.value.append(names["evil"])
        asset = meta.asset_file_def.add(filename="../../canary")
        asset.tensor_info.name = names["asset"] + ":0"

    return edit


def _canary_path(folder: Path) -> dict[str, str]:
    """No hostile node: just where :func:`_swapped_for_a_save` saves (``folder/canary``)."""
    return {"canary": str(folder / "canary")}


def _interface_functions(canary: str) -> list[object]:
    """Two library functions implementing one interface (``api_implements``): ``PureFn``,
    preferred on GPU, and ``SaveFn``, preferred on CPU, which saves a checkpoint named
    ``canary`` first. Grappler's implementation selector runs SaveFn where PureFn is called."""
    import tensorflow as tf
    from tensorflow.core.framework import function_pb2

    def implementation(device: str, saves: bool):
        interface = _unique("kinterp_canary", canary)
        attributes = {"api_implements": interface, "api_preferred_device": device}

        @tf.function(experimental_attributes=attributes)
        def body(x):
            args = {"prefix": canary, "tensor_names": ["c"], "shape_and_slices": [""]}
            deps = [tf.raw_ops.SaveV2(**args, tensors=[x])] if saves else []
            with tf.control_dependencies(deps):
                return x + 1.0

        return body.get_concrete_function(tf.TensorSpec([], tf.float32)).function_def

    functions = []
    for name, device, saves in (("PureFn", "GPU", False), ("SaveFn", "CPU", True)):
        function = function_pb2.FunctionDef()
        function.CopyFrom(implementation(device, saves))
        function.signature.name = _unique(name, canary)
        functions.append(function)
    return functions


def _unique(name: str, canary: str) -> str:
    """A function or interface name of this model only: TensorFlow keeps a process-wide
    function library, where another model's ``SaveFn`` could be selected (and save there)."""
    import hashlib

    return f"{name}_{hashlib.sha256(canary.encode()).hexdigest()[:12]}"


def _swapped_for_a_save(where: str):
    """The save tensor calls SaveFn (save role: allowed to save), and ``where`` (the restore
    op or an init op) calls PureFn, for which Grappler substitutes SaveFn."""

    def wire(names):
        def edit(meta):
            graph = meta.graph_def
            graph.library.function.extend(_interface_functions(names["canary"]))
            const = graph.node.add(name="two", op="Const")
            const.attr["dtype"].type = 1
            const.attr["value"].tensor.dtype = 1
            const.attr["value"].tensor.float_val.append(2.0)
            const.attr["value"].tensor.tensor_shape.SetInParent()
            for node_name, function in (("save/extra", "SaveFn"), ("pure_call", "PureFn")):
                call = graph.node.add(name=node_name, op="StatefulPartitionedCall", input=["two"])
                call.attr["f"].func.name = _unique(function, names["canary"])
                call.device = "/device:CPU:0"  # where the selector prefers SaveFn
                call.attr["Tin"].list.type.append(1)
                call.attr["Tout"].list.type.append(1)
                for key in ("config", "config_proto", "executor_type"):
                    call.attr[key].s = b""
            save = meta.saver_def.save_tensor_name.split(":")[0]
            next(n for n in graph.node if n.name == save).input.append("^save/extra")
            if where == "restore":
                restore = meta.saver_def.restore_op_name
                next(n for n in graph.node if n.name == restore).input.append("^pure_call")
            else:
                meta.collection_def["saved_model_main_op"].node_list.value.append("pure_call")

        return edit

    return wire


CASES = {
    "saver_restores_with_a_save": (_save_to, _saver_of_one_op),
    "saver_restores_with_a_saving_function": (_call_saving_function, _saver_of_one_op),
    "restore_op_is_a_save": (_save_to, _restore_op),
    "restore_op_is_a_write": (_write_to, _restore_op),
    "restore_op_calls_a_saving_function": (_call_saving_function, _restore_op),
    "restore_op_waits_for_a_save": (_save_to, _restore_control_input),
    "main_op_writes": (_write_to, _main_op("saved_model_main_op")),
    "legacy_init_op_saves": (_save_to, _main_op("legacy_init_op")),
    "legacy_init_op_calls_a_saving_function": (
        _call_saving_function,
        _main_op("legacy_init_op"),
    ),
    "init_signature_runs_the_save": (lambda folder: {}, _init_signature_runs_save),
    "init_op_writes_an_asset_path": (_write_asset, _asset),
    "restore_op_calls_a_function_grappler_swaps_for_a_save": (
        _canary_path,
        _swapped_for_a_save("restore"),
    ),
    "init_op_calls_a_function_grappler_swaps_for_a_save": (
        _canary_path,
        _swapped_for_a_save("init"),
    ),
}


def _hostile(tmp_path: Path, case: str) -> Path:
    hostile, wire = CASES[case]
    variables = wire is not _saver_of_one_op
    path, names = _tf1_savedmodel(tmp_path / "model" / "saved", hostile, variables)
    _rewrite(path, wire(names))
    return path


def _written(root: Path, model: Path, digest: str) -> list[Path]:
    """Files under ``root`` other than the model's own, and the model's if it changed."""
    changed = [model] if sha256_of(model) != digest else []
    return changed + sorted(p for p in root.rglob("*") if p.is_file() and model not in p.parents)


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_tf1_savedmodel_is_refused_and_writes_nothing(
    runner, keras, tmp_path, monkeypatch, case
):
    monkeypatch.chdir(tmp_path)
    model = _hostile(tmp_path, case)
    digest = sha256_of(model)
    result = runner.invoke(app, ["inspect", str(model)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "outside kinterp's allowlist" in lines[0], result.stderr
    assert _written(tmp_path, model, digest) == []
    runner.invoke(app, ["inspect", str(model), "--unsafe"])
    assert _written(tmp_path, model, digest) != [], "the model is not hostile after all"


def test_a_genuine_tf1_savedmodel_passes_and_loads(runner, keras, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model, _ = _tf1_savedmodel(tmp_path / "model" / "saved")
    digest = sha256_of(model)
    assert unsafe_ops(read_saved_model(model).meta_graphs) == []
    result = runner.invoke(app, ["inspect", str(model), "--json"])
    assert result.exit_code == 0, result.output
    assert '"param_count": 7840' in result.stdout
    assert _written(tmp_path, model, digest) == []


@pytest.fixture
def saves_in_its_gradient(keras, tmp_path) -> Path:
    """A TF2 SavedModel whose serving function has a custom gradient that saves a checkpoint
    named ``tmp_path/canary`` (run by any technique that differentiates the model)."""
    import tensorflow as tf

    @tf.custom_gradient
    def passthrough(x):
        def grad(dy):
            with tf.control_dependencies([_save_op(tmp_path)]):
                return tf.identity(dy)

        return tf.identity(x), grad

    options = tf.saved_model.SaveOptions(experimental_custom_gradients=True)
    return _module_savedmodel(tmp_path / "model", lambda x: None, passthrough, options)


def test_a_gradient_function_that_saves_is_refused(runner, saves_in_its_gradient, tmp_path):
    model = saves_in_its_gradient
    digest = sha256_of(model)
    args = ["run", "happymap", str(model), "--objective", "probability", "--classes", "0"]
    args += ["--steps", "2", "--out", str(tmp_path / "o")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "SaveV2" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert _written(tmp_path, model, digest) == []
    result = runner.invoke(app, [*args, "--unsafe"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "canary.index").exists(), "the gradient function did not run"


def _export_rewritten(source: Path, target: Path, edit: Callable[[object], None]) -> list[str]:
    """The refused ops of a copy of ``source`` that ``edit`` changed."""
    import shutil

    shutil.copytree(source, target)
    _rewrite(target, edit)
    return unsafe_ops(read_saved_model(target).meta_graphs)


def test_a_keras_export_whose_restore_op_is_its_save_is_refused(tiny_savedmodel, tmp_path):
    def swap(meta):
        meta.saver_def.restore_op_name = meta.saver_def.save_tensor_name.split(":")[0]

    assert unsafe_ops(read_saved_model(tiny_savedmodel).meta_graphs) == []
    assert "SaveV2" in _export_rewritten(tiny_savedmodel, tmp_path / "m", swap)


def test_a_restore_that_reads_another_checkpoint_is_refused(tiny_savedmodel, tmp_path):
    """RestoreV2 may read only what the loader feeds to the saver's filename tensor."""

    def elsewhere(meta):
        restore = next(n for n in meta.graph_def.node if n.name == meta.saver_def.restore_op_name)
        restore.input[0] = "other_file"
        meta.graph_def.node.add(name="other_file", op="Const").attr["dtype"].type = 7

    assert _export_rewritten(tiny_savedmodel, tmp_path / "m", elsewhere) == ["RestoreV2"]


def test_a_keras_file_embedding_a_hostile_savedmodel_is_refused(
    runner, keras, tiny_savedmodel, tmp_path, monkeypatch
):
    """A .keras whose TFSMLayer names a SavedModel that writes a file when loaded."""
    import json
    import zipfile

    monkeypatch.chdir(tmp_path)
    hostile = _hostile(tmp_path, "saver_restores_with_a_save")
    digest = sha256_of(hostile)
    inputs = keras.Input((28, 28, 1))
    layer = keras.layers.TFSMLayer(str(tiny_savedmodel), call_endpoint="serve")
    keras.Model(inputs, layer(inputs)).save(tmp_path / "genuine.keras")
    with zipfile.ZipFile(tmp_path / "genuine.keras") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    (tmp_path / "genuine.keras").unlink()
    members["config.json"] = members["config.json"].replace(
        json.dumps(str(tiny_savedmodel)).encode(), json.dumps(str(hostile)).encode()
    )
    model = tmp_path / "model" / "embeds.keras"
    with zipfile.ZipFile(model, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    result = runner.invoke(app, ["inspect", str(model)])
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert f"embeds the SavedModel {hostile}" in result.stderr
    assert _written(tmp_path, hostile, digest) == [model]
    runner.invoke(app, ["inspect", str(model), "--unsafe"])
    assert (tmp_path / "model" / "canary.index").exists(), "the SavedModel did not run"
