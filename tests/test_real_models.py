"""Models of the shapes people bring (#22): a transfer-learning layout (Rescaling in front of a
nested conv base), two inputs and two outputs, a rectangular input and a one-unit sigmoid
head. Each is built here, saved to a real file and loaded as a user would; every number is
checked against the original Keras model called directly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers

from kinterp.errors import KinterpError
from kinterp.loading.inputrange import infer_input_range
from kinterp.loading.models import LoadOptions, load_model

RNG = np.random.default_rng(0)


def _transfer() -> keras.Model:
    base_in = keras.Input((32, 32, 3))
    x = layers.Conv2D(6, 3, activation="relu", name="block1_conv")(base_in)
    x = layers.Conv2D(8, 3, activation="relu", name="block2_conv")(x)
    base = keras.Model(base_in, x, name="digit_base")
    return keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            layers.Rescaling(1 / 255, name="scale"),
            base,
            layers.GlobalAveragePooling2D(name="pool"),
            layers.Dense(10, activation="softmax", name="classes"),
        ],
        name="transfer",
    )


def _two_in_two_out() -> keras.Model:
    image = keras.Input((16, 16, 1), name="image")
    meta = keras.Input((4,), name="meta")
    x = layers.Conv2D(4, 3, activation="relu", name="conv")(image)
    x = layers.Concatenate(name="joined")([layers.Flatten(name="flat")(x), meta])
    classes = layers.Dense(3, activation="softmax", name="classes")(x)
    flag = layers.Dense(1, activation="sigmoid", name="flag")(x)
    return keras.Model([image, meta], [classes, flag], name="twoio")


def _rectangular() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((32, 48, 1)),
            layers.Conv2D(4, 3, activation="relu", name="conv"),
            layers.GlobalAveragePooling2D(name="pool"),
            layers.Dense(5, activation="softmax", name="classes"),
        ],
        name="rect",
    )


def _binary() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Flatten(name="flat"),
            layers.Dense(8, activation="relu", name="hidden"),
            layers.Dense(1, activation="sigmoid", name="p"),
        ],
        name="binary",
    )


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> dict[str, Path]:
    """The four models, saved as .keras files, and data files in their geometry."""
    keras.utils.set_random_seed(3)
    root = tmp_path_factory.mktemp("shapes")
    paths = {}
    for name, build in [
        ("transfer", _transfer),
        ("twoio", _two_in_two_out),
        ("rect", _rectangular),
        ("binary", _binary),
    ]:
        paths[name] = root / f"{name}.keras"
        build().save(paths[name])
    np.savez(
        root / "twoio.npz",
        x=RNG.integers(0, 256, (30, 16, 16), dtype=np.uint8),
        y=np.arange(30) % 3,
        meta=RNG.normal(2.0, 1.0, (30, 4)).astype("float32"),
    )
    np.savez(
        root / "rect.npz", x=RNG.integers(0, 256, (20, 32, 48), dtype=np.uint8), y=np.arange(20) % 5
    )
    np.savez(
        root / "binary.npz",
        x=RNG.integers(0, 256, (40, 28, 28), dtype=np.uint8),
        y=np.arange(40) % 2,
    )
    np.savez(
        root / "transfer.npz",
        x=RNG.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8),
        y=np.arange(20) % 10,
    )
    paths["root"] = root
    return paths


def kinterp(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kinterp", *args], capture_output=True, text=True, timeout=600
    )


# ----------------------------------------------------------------------- transfer learning


def test_transfer_layout_is_described_truthfully(shapes):
    done = kinterp("inspect", str(shapes["transfer"]), "--json")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["kind"] == "conv"
    assert info["input_range"] == [0.0, 255.0]
    assert info["input_range_source"] == "inferred from Rescaling 'scale'"
    names = [row["name"] for row in info["layers"]]
    assert names == [
        "scale",
        "digit_base/block1_conv",
        "digit_base/block2_conv",
        "pool",
        "classes",
    ]
    base = next(node for node in info["tree"] if node["path"] == "digit_base")
    assert [child["path"] for child in base["children"]] == [
        "digit_base/block1_conv",
        "digit_base/block2_conv",
    ]
    text = kinterp("inspect", str(shapes["transfer"]))
    assert text.returncode == 0 and "digit_base/block2_conv" in text.stdout


def test_nested_layers_are_reached_by_path_and_by_bare_name(shapes):
    original = keras.saving.load_model(shapes["transfer"])
    loaded = load_model(str(shapes["transfer"]))
    x = RNG.uniform(0, 255, (5, 32, 32, 3)).astype("float32")
    base = original.get_layer("digit_base")
    inner = keras.Model(base.inputs, base.get_layer("block1_conv").output)
    expected = np.asarray(inner(x / 255.0))  # the base reads the rescaled image
    for name in ("digit_base/block1_conv", "block1_conv"):
        np.testing.assert_allclose(loaded.features(name, x), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(loaded.predict(x), np.asarray(original(x)), rtol=1e-5, atol=1e-6)
    with pytest.raises(KinterpError, match="unknown layer 'block9_conv'; did you mean"):
        loaded.layer("block9_conv")


def test_happymap_on_a_rescaling_model_optimises_in_its_0_255_range(shapes):
    out = shapes["root"] / "reports"
    done = kinterp(
        "run", "happymap", str(shapes["transfer"]), "--classes", "3", "--steps", "60",
        "--out", str(out), "--json", "-q",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run = Path(json.loads(done.stdout)["report"]).parent
    report = json.loads((run / "report.json").read_text())
    assert report["model"]["tree"][1]["children"][0]["path"] == "digit_base/block1_conv"
    html = (run / "report.html").read_text()
    assert "Layer tree (nested models)" in html and "Rescaling &#39;scale&#39;" in html
    maps = np.load(run / "arrays" / "maps-input.npy")
    images = np.load(run / "arrays" / "maps.npy")
    np.testing.assert_allclose(maps, 255.0 * images, rtol=1e-5, atol=1e-3)
    assert maps.max() > 128, "the map never left the dark end of 0-255"
    original = keras.saving.load_model(shapes["transfer"])
    start = np.asarray(original(np.full((1, 32, 32, 3), 127.5, "float32")))[0, 3]
    reached = np.asarray(original(maps.astype("float32")))[:, 3]
    assert (reached > start).all(), "gradient ascent in 0-255 did not raise class 3"


@pytest.mark.parametrize(
    ("preprocessing", "expected"),
    [
        ([layers.Rescaling(1 / 255)], (0.0, 255.0)),
        ([layers.Rescaling(1 / 127.5, offset=-1.0)], (0.0, 255.0)),
        ([layers.Rescaling(2.0, offset=-1.0)], (0.0, 1.0)),
        ([layers.Rescaling(1 / 255, offset=-0.5)], (0.0, 255.0)),
        ([layers.Rescaling(1.0, offset=-103.9)], (0.0, 255.0)),
        ([layers.Rescaling(1 / 65535)], (0.0, 65535.0)),
        ([layers.Normalization(mean=33.3, variance=78.6**2)], (0.0, 255.0)),
        ([layers.Normalization(mean=0.13, variance=0.3**2)], (0.0, 1.0)),
        ([layers.Rescaling(1 / 255), layers.Normalization(mean=0.13, variance=0.09)], (0.0, 255.0)),
        ([], None),
    ],
)
def test_input_range_is_read_from_leading_preprocessing(preprocessing, expected):
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), *preprocessing, layers.Flatten(), layers.Dense(2)]
    )
    inferred = infer_input_range(model)
    if expected is None:
        assert inferred is None
        return
    assert (inferred.low, inferred.high) == pytest.approx(expected, rel=1e-5)
    # independently: the preprocessing maps the range's ends where the network expects them
    ends = np.array(expected, "float32").reshape(2, 1, 1, 1) * np.ones((2, 8, 8, 1), "float32")
    after = np.asarray(keras.Sequential(preprocessing)(ends)) if preprocessing else ends
    last = preprocessing[-1]
    if isinstance(last, layers.Rescaling) and abs(last.offset) <= 2:
        span = float(after.max() - after.min())
        assert 0.9 <= span <= 2.1, span  # what follows sees a span of one ([0, 1]) or two


def test_option_and_card_come_before_the_layers(shapes):
    loaded = load_model(str(shapes["transfer"]), LoadOptions(input_range=(0.0, 1.0)))
    assert loaded.info.input_range == (0.0, 1.0)
    assert loaded.info.input_range_source == "--input-range"


# ------------------------------------------------------------------ two inputs, two outputs


def test_two_input_model_lists_its_ports_and_asks_for_a_head(shapes):
    done = kinterp("inspect", str(shapes["twoio"]), "--json")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["inputs"] == [
        {"name": "image", "shape": [16, 16, 1]},
        {"name": "meta", "shape": [4]},
    ]
    assert [(o["name"], o["shape"], o["activation"]) for o in info["outputs"]] == [
        ("classes", [3], "softmax"),
        ("flag", [1], "sigmoid"),
    ]
    assert "pass --output NAME" in info["choice_error"]
    refused = kinterp(
        "run", "robustness", str(shapes["twoio"]), "--data", str(shapes["root"] / "twoio.npz")
    )
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert (
        len(lines) == 1 and "pass --output NAME" in lines[0] and "Traceback" not in refused.stderr
    )


def test_other_inputs_are_held_at_zeros_or_their_data_mean(shapes):
    original = keras.saving.load_model(shapes["twoio"])
    x = RNG.uniform(0, 1, (6, 16, 16, 1)).astype("float32")
    zeros = load_model(str(shapes["twoio"]), LoadOptions(output="classes"))
    expected = np.asarray(original([x, np.zeros((6, 4), "float32")])[0])
    np.testing.assert_allclose(zeros.predict(x), expected, rtol=1e-5, atol=1e-6)
    assert zeros.info.held == (("meta", "zeros"),)
    with np.load(shapes["root"] / "twoio.npz") as data:
        meta = data["meta"]
    mean = load_model(
        str(shapes["twoio"]), LoadOptions(output="classes", hold="mean"), {"meta": meta}
    )
    held = np.repeat(meta.mean(axis=0, keepdims=True), 6, axis=0)
    expected = np.asarray(original([x, held])[0])
    np.testing.assert_allclose(mean.predict(x), expected, rtol=1e-5, atol=1e-6)
    assert mean.info.held == (("meta", "mean of 30 rows"),)


def test_run_on_a_chosen_head_records_the_choice(shapes):
    out = shapes["root"] / "reports"
    done = kinterp(
        "run", "robustness", str(shapes["twoio"]), "--output", "classes", "--hold", "mean",
        "--data", str(shapes["root"] / "twoio.npz"), "--family", "noise", "--out", str(out),
        "--json", "-q",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(Path(json.loads(done.stdout)["report"]).read_text())
    assert report["model"]["output"] == "classes"
    assert report["model"]["image_input"] == "image"
    assert report["model"]["held"] == {"meta": "mean of 30 rows"}
    assert report["spec"]["load"]["output"] == "classes"
    html = (Path(json.loads(done.stdout)["report"]).parent / "report.html").read_text()
    assert "meta (4): held at mean of 30 rows" in html and "classes (3): analysed" in html


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--output", "nope"], "--output nope: twoio.keras has no such output"),
        (["--input", "nope", "--output", "flag"], "--input nope: twoio.keras has no such input"),
        (["--output", "flag", "--hold", "mean"], "--hold mean holds each other input"),
        (["--output", "flag", "--hold", "median"], "--hold median: expected one of zeros, mean"),
    ],
)
def test_bad_port_choices_get_one_line(shapes, args, message):
    done = kinterp("run", "happymap", str(shapes["twoio"]), *args, "--out", str(shapes["root"]))
    assert done.returncode == 2, done.stdout
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------------ one sigmoid unit


def test_sigmoid_unit_is_two_classes_everywhere(shapes):
    original = keras.saving.load_model(shapes["binary"])
    loaded = load_model(str(shapes["binary"]))
    assert loaded.info.binary_head and loaded.info.num_outputs == 2
    x = RNG.uniform(0, 1, (8, 28, 28, 1)).astype("float32")
    p = np.asarray(original(x))[:, 0]
    np.testing.assert_allclose(loaded.classify(x).probs, np.stack([1 - p, p], 1), atol=1e-6)
    logits = loaded.logits(x)
    z = np.log(p / (1 - p))  # the pre-sigmoid value, independently
    np.testing.assert_allclose(logits[:, 1] - logits[:, 0], z, rtol=1e-4, atol=1e-4)


def test_binary_accuracy_is_taken_at_one_half(shapes):
    out = shapes["root"] / "reports"
    data = shapes["root"] / "binary.npz"
    done = kinterp(
        "run", "robustness", str(shapes["binary"]), "--data", str(data), "--family", "noise",
        "--out", str(out), "--json", "-q",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(Path(json.loads(done.stdout)["report"]).read_text())
    original = keras.saving.load_model(shapes["binary"])
    with np.load(data) as arrays:
        x, y = arrays["x"].astype("float32")[..., None] / 255.0, arrays["y"]
    clean = float(np.mean((np.asarray(original(x))[:, 0] > 0.5) == y))
    assert report["metrics"]["clean_accuracy"] == pytest.approx(clean)


# ------------------------------------------------------------------------ rectangular input


def test_rectangular_input_runs_at_its_own_geometry(shapes):
    out = shapes["root"] / "reports"
    done = kinterp(
        "run", "happymap", str(shapes["rect"]), "--classes", "0,1", "--steps", "20",
        "--out", str(out), "--json", "-q",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    maps = np.load(Path(json.loads(done.stdout)["report"]).parent / "arrays" / "maps.npy")
    assert maps.shape[1:] == (32, 48, 1)


def test_featurevis_runs_without_data_of_the_model_shape_and_says_so(shapes):
    out = shapes["root"] / "reports"
    common = ["--layer", "block2_conv", "--units", "0,1", "--steps", "8", "--tv", "0.1"]
    done = kinterp(
        "run", "featurevis", str(shapes["transfer"]), *common, "--out", str(out), "--json", "-q"
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(Path(json.loads(done.stdout)["report"]).read_text())
    note = next(s for s in report["sections"] if s["title"] == "Data")
    assert "No real images were scored" in json.dumps(note)
    assert "mnist-5k has 28x28x1 images but the model wants 32x32x3" in json.dumps(note)
    given = kinterp(
        "run", "featurevis", str(shapes["transfer"]), *common, "--data",
        str(shapes["root"] / "binary.npz"), "--out", str(out),
    )  # fmt: skip
    assert given.returncode == 2 and "the model wants 32x32x3" in given.stderr


# -------------------------------------------------- every technique on every shape, briefly

QUICK = {
    "happymap": {"classes": [0, 1], "steps": 6},
    "sadmap": {"classes": [0, 1], "steps": 6},
    "featurevis": {"units": [0], "steps": 6, "tv": [0.1], "examples": 8},
    "robustness": {"family": ["noise", "edge"], "limit": 20},
    "fooling": {"classes": [0], "count": 2, "generations": 2, "population": 20},
    "attribution": {"per_class": 1, "smooth_samples": 2, "deletion_steps": 4},
    "datastats": {"components": [2]},
    "backquery": {},
}
CHOICES = {"twoio": {"output": "classes"}, "transfer": {}, "rect": {}, "binary": {}}
DATA = {shape: f"{shape}.npz" for shape in CHOICES}


@pytest.mark.parametrize("shape", list(CHOICES))
@pytest.mark.parametrize("technique", list(QUICK))
def test_every_technique_runs_or_refuses_in_one_line(shapes, shape, technique, tmp_path):
    from kinterp.registry import find_technique
    from kinterp.runner import execute
    from kinterp.settings.runspec import RunSpec

    reads = find_technique(technique)[0].reads_data
    data = str(shapes["root"] / DATA[shape])
    spec = RunSpec(
        technique,
        str(shapes[shape]),
        QUICK[technique],
        data=data if reads else None,
        out=str(tmp_path),
        load=LoadOptions(**CHOICES[shape]),
    )
    try:
        result = execute(spec)
    except KinterpError as exc:
        message = str(exc)
        says_what_to_do = any(word in message for word in ("pass", "use", "try"))
        assert "\n" not in message and says_what_to_do, message
        return
    assert result.status == "ok", result.data


def test_hold_mean_on_an_integer_input_holds_each_positions_most_frequent_value():
    from kinterp.loading.models import typical_value

    tokens = np.array([[3, 7, 1], [3, 2, 1], [5, 2, 9], [3, 2, 0]], dtype=np.int64)
    expected = [max(set(col), key=list(col).count) for col in tokens.T.tolist()]
    np.testing.assert_array_equal(typical_value(tokens), expected)  # [3, 2, 1], not the means
    floats = tokens.astype("float32")
    np.testing.assert_allclose(typical_value(floats), floats.mean(axis=0))


def test_a_bare_logit_unit_is_two_classes_too(shapes, tmp_path):
    """Review of #26: Dense(1) with no sigmoid (trained with from_logits=True) was read as a
    one-class model (accuracy 1.0, IndexError on labels 1). Its unit is the logit z, so
    p = sigmoid(z), computed here with numpy from the Keras model's own output."""
    binary = keras.saving.load_model(shapes["binary"])
    logit = keras.Sequential([keras.Input((28, 28, 1)), *binary.layers])
    logit.layers[-1].activation = keras.activations.linear
    path = tmp_path / "logit.keras"
    logit.save(path)
    loaded = load_model(str(path))
    assert loaded.info.binary_head and loaded.info.num_outputs == 2
    x = RNG.uniform(0, 1, (8, 28, 28, 1)).astype("float32")
    z = np.asarray(logit(x))[:, 0]
    p = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(loaded.classify(x).probs, np.stack([1 - p, p], 1), atol=1e-6)
    data = shapes["root"] / "binary.npz"
    done = kinterp(
        "run", "robustness", str(path), "--data", str(data), "--family", "noise",
        "--out", str(tmp_path / "out"), "--json", "-q",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(Path(json.loads(done.stdout)["report"]).read_text())
    with np.load(data) as arrays:
        images, y = arrays["x"].astype("float32")[..., None] / 255.0, arrays["y"]
    clean = float(np.mean((np.asarray(logit(images))[:, 0] > 0) == y))
    assert report["metrics"]["clean_accuracy"] == pytest.approx(clean)
