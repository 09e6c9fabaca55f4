"""Train the zoo's demo models and write each one's ``.keras`` file and model card.

Usage: ``python -m kinterp_zoo.train {mnist-cnn,mnist-mlp,mnist-mlp-rot,mnist-3v8,fashion-cnn,
mnist-rgb-cnn,all,split} [--out DIR]``
(or ``python models/train.py NAME`` from a checkout). Models and cards go into the zoo itself
unless ``--out`` names another folder. ``split`` regenerates the fixed mnist-5k
train/held-out split stored in ``kinterp/data/mnist_5k_split.npz``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kinterp.data import datasets
from kinterp.data.colourdigits import colourise, load_mnist_rgb
from kinterp.data.datasets import Dataset, load_fashion_mnist, load_mnist_3v8, load_mnist_5k

if TYPE_CHECKING:
    import keras

ZOO = Path(__file__).resolve().parent
SEED = 1234
SPLIT_SEED = 20240601
HELD_OUT_PER_CLASS = 100
MNIST_CNN_EPOCHS = 35
MNIST_MLP_EPOCHS = 40
MNIST_MLP_ROT_DEGREES = (10.0, -10.0)  # one rotated copy of every training digit per angle
MNIST_3V8_EPOCHS = 60
FASHION_CNN_EPOCHS = 12
MNIST_RGB_CNN_EPOCHS = 20
MNIST_RGB_CNN_BATCH = 64
MNIST_RGB_CNN_BLOCKS = (16, 32, 64, 64)


@dataclass(frozen=True)
class Recipe:
    """How to train one zoo model and the held-out accuracy it must reach."""

    name: str
    summary: str
    dataset: Callable[[], Dataset]
    input_range: tuple[float, float]
    threshold: float
    description: str
    train: Callable[[Dataset], keras.Model]
    input_range_note: str | None = None
    """Set for a model that states its input range in its own layers: the card then carries
    this note instead of ``input_range``, so kinterp infers the range from the model."""


def make_split(labels: np.ndarray, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``per_class`` held-out indices of every class at random; the rest train. Both sorted."""
    rng = np.random.default_rng(seed)
    held_out = [
        rng.choice(np.flatnonzero(labels == label), size=per_class, replace=False)
        for label in np.unique(labels)
    ]
    test_idx = np.sort(np.concatenate(held_out))
    train_idx = np.setdiff1d(np.arange(len(labels)), test_idx)
    return train_idx, test_idx


def write_split() -> Path:
    """Write the fixed mnist-5k split (package data of ``kinterp.data``) and return its path."""
    data = Path(datasets.__file__).resolve().parent
    with np.load(data / "mnist_5k.npz") as archive:
        labels = archive["y"]
    train_idx, test_idx = make_split(labels, HELD_OUT_PER_CLASS, SPLIT_SEED)
    path = data / "mnist_5k_split.npz"
    np.savez_compressed(path, train_idx=train_idx, test_idx=test_idx)
    return path


def scale(x: np.ndarray, input_range: tuple[float, float]) -> np.ndarray:
    """Map [0, 1] pixels linearly onto the model's input range."""
    low, high = input_range
    return (x * (high - low) + low).astype(np.float32)


def train_mnist_cnn(data: Dataset) -> keras.Model:
    """Two convolutions and a dense head, trained with rotation and translation augmentation."""
    import keras
    import tensorflow as tf

    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1), name="image"),
            layers.Conv2D(32, 3, activation="relu", name="conv1"),
            layers.Conv2D(64, 3, activation="relu", name="conv2"),
            layers.MaxPooling2D(2, name="pool"),
            layers.Dropout(0.25, name="dropout1"),
            layers.Flatten(name="flatten"),
            layers.Dense(128, activation="relu", name="dense1"),
            layers.Dropout(0.5, name="dropout2"),
            layers.Dense(10, activation="softmax", name="predictions"),
        ],
        name="mnist_cnn",
    )
    augment = keras.Sequential(
        [
            layers.RandomRotation(10 / 360, fill_mode="constant", seed=SEED),
            layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=SEED + 1),
        ],
        name="augment",
    )
    x, y = data.train()
    batches = (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(len(x), seed=SEED, reshuffle_each_iteration=True)
        .batch(64)
        .map(lambda images, labels: (augment(images, training=True), labels))
        .prefetch(2)
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(batches, epochs=MNIST_CNN_EPOCHS, shuffle=False, verbose=2)  # shuffled above
    return model


def rotated_copies(x: np.ndarray, degrees: tuple[float, ...]) -> np.ndarray:
    """``x`` (N, H, W, 1) in [0, 1] followed by one copy rotated by each angle about the
    centre (``scipy.ndimage.rotate``, bilinear, same size, black fill), as the book does."""
    from scipy import ndimage

    copies = [
        np.clip(ndimage.rotate(x, angle, axes=(1, 2), reshape=False, order=1, cval=0.0), 0, 1)
        for angle in degrees
    ]
    return np.concatenate([x, *copies]).astype(np.float32)


def train_mnist_mlp(data: Dataset, degrees: tuple[float, ...] = ()) -> keras.Model:
    """The 784-200-10 sigmoid net of "Make Your Own Neural Network", trained on MSE (with
    ``degrees``: on the training digits and a rotated copy of each per angle)."""
    import keras

    model = keras.Sequential(
        [
            keras.Input((784,), name="pixels"),
            keras.layers.Dense(200, activation="sigmoid", name="hidden"),
            keras.layers.Dense(10, activation="sigmoid", name="predictions"),
        ],
        name="mnist_mlp",
    )
    x, y = data.train()
    x = rotated_copies(x, degrees)
    y = np.tile(y, len(degrees) + 1)
    inputs = scale(x.reshape(len(x), 784), (0.01, 1.0))
    targets = np.full((len(y), 10), 0.01, dtype=np.float32)
    targets[np.arange(len(y)), y] = 0.99
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", metrics=["accuracy"])
    model.fit(inputs, targets, batch_size=32, epochs=MNIST_MLP_EPOCHS, shuffle=True, verbose=2)
    return model


def train_mnist_3v8(data: Dataset) -> keras.Model:
    """Logistic regression on the 784 pixels: one sigmoid unit, p(the digit is an 8)."""
    import keras

    model = keras.Sequential(
        [
            keras.Input((28, 28, 1), name="image"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(1, activation="sigmoid", name="predictions"),
        ],
        name="mnist_3v8",
    )
    x, y = data.train()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy", metrics=["accuracy"]
    )
    model.fit(x, y, batch_size=32, epochs=MNIST_3V8_EPOCHS, shuffle=True, verbose=2)
    return model


def train_fashion_cnn(data: Dataset) -> keras.Model:
    """A small two-block CNN on all 60,000 Fashion-MNIST training images."""
    import keras

    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1), name="image"),
            layers.Conv2D(32, 3, activation="relu", name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Conv2D(64, 3, activation="relu", name="conv2"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.Flatten(name="flatten"),
            layers.Dropout(0.3, name="dropout1"),
            layers.Dense(128, activation="relu", name="dense1"),
            layers.Dropout(0.3, name="dropout2"),
            layers.Dense(10, activation="softmax", name="predictions"),
        ],
        name="fashion_cnn",
    )
    x, y = data.train()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x, y, batch_size=128, epochs=FASHION_CNN_EPOCHS, shuffle=True, verbose=2)
    return model


def digit_base(blocks: tuple[int, ...] = MNIST_RGB_CNN_BLOCKS) -> keras.Model:
    """A small conv base as its own Functional model, like a transfer-learning backbone.

    Block ``i`` is ``block{i}_conv`` (3x3, no bias), ``block{i}_bn``, ``block{i}_relu`` and,
    except in the last block, ``block{i}_pool`` (max 2x2); 32x32x3 in, 4x4 feature maps out.
    """
    import keras

    layers = keras.layers
    inputs = keras.Input((32, 32, 3), name="base_input")
    x = inputs
    for index, filters in enumerate(blocks, start=1):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"block{index}_conv")(x)
        x = layers.BatchNormalization(name=f"block{index}_bn")(x)
        x = layers.ReLU(name=f"block{index}_relu")(x)
        if index < len(blocks):
            x = layers.MaxPooling2D(2, name=f"block{index}_pool")(x)
    return keras.Model(inputs, x, name="digit_base")


def train_mnist_rgb_cnn(data: Dataset) -> keras.Model:
    """Rescaling(1/255), the nested digit base, global average pooling and a softmax head.

    Trained on 0-255 pixels. The first epoch sees the mnist-rgb training images; every later
    epoch the same digits in fresh colours (seeded by the epoch), so the net cannot learn the
    colours of its 4,000 images. The learning rate decays to zero (cosine), which lets the
    batch-norm moving statistics settle on the final weights.
    """
    import keras

    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3), name="image"),
            layers.Rescaling(1 / 255, name="rescaling"),
            digit_base(),
            layers.GlobalAveragePooling2D(name="gap"),
            layers.Dense(10, activation="softmax", name="predictions"),
        ],
        name="mnist_rgb_cnn",
    )
    x, y = data.train()
    grey = load_mnist_5k().x_train  # the digits mnist-rgb's training part is painted from
    steps = MNIST_RGB_CNN_EPOCHS * math.ceil(len(x) / MNIST_RGB_CNN_BATCH)
    model.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, steps)),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    for epoch in range(MNIST_RGB_CNN_EPOCHS):
        images = x if epoch == 0 else colourise(grey, [SEED, epoch]).images
        model.fit(
            scale(images, (0.0, 255.0)),
            y,
            batch_size=MNIST_RGB_CNN_BATCH,
            epochs=epoch + 1,
            initial_epoch=epoch,
            shuffle=True,
            verbose=2,
        )
    return model


MNIST_MLP_RECIPE = (
    "Input 784 (flattened, scaled x*0.99+0.01) -> Dense 200 sigmoid -> Dense 10 sigmoid;"
    " targets one-hot 0.01/0.99, mean squared error, Adam 1e-3,"
    f" {MNIST_MLP_EPOCHS} epochs, batch 32"
)

RECIPES = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            name="mnist-cnn",
            summary="Small CNN for handwritten digits (the classic Keras MNIST convnet).",
            dataset=load_mnist_5k,
            input_range=(0.0, 1.0),
            threshold=0.975,
            description=(
                "Conv2D 3x3x32 relu -> Conv2D 3x3x64 relu -> MaxPool 2 -> Dropout 0.25 -> Flatten"
                " -> Dense 128 relu -> Dropout 0.5 -> Dense 10 softmax; Adam 1e-3,"
                f" sparse categorical cross-entropy, {MNIST_CNN_EPOCHS} epochs, batch 64;"
                " augmentation outside the model: RandomRotation +-10 degrees and"
                " RandomTranslation +-10% (constant black fill) in the tf.data pipeline"
            ),
            train=train_mnist_cnn,
        ),
        Recipe(
            name="mnist-mlp",
            summary='784-200-10 sigmoid network from "Make Your Own Neural Network".',
            dataset=load_mnist_5k,
            input_range=(0.01, 1.0),
            threshold=0.92,
            description=f"{MNIST_MLP_RECIPE}, no augmentation",
            train=train_mnist_mlp,
        ),
        Recipe(
            name="mnist-mlp-rot",
            summary="mnist-mlp trained on its digits and copies rotated by +10 and -10 degrees.",
            dataset=load_mnist_5k,
            input_range=(0.01, 1.0),
            threshold=0.92,
            description=(
                f"The mnist-mlp recipe ({MNIST_MLP_RECIPE}) on 12,000 training images: the 4,000"
                " training digits plus one copy of each rotated by +10 and one by -10 degrees"
                " about the centre (scipy.ndimage.rotate, reshape=False, bilinear, black fill,"
                " before scaling), as in Make Your Own Neural Network; no other augmentation"
            ),
            train=partial(train_mnist_mlp, degrees=MNIST_MLP_ROT_DEGREES),
        ),
        Recipe(
            name="mnist-3v8",
            summary="Logistic regression telling 3 from 8: one sigmoid unit, p(8).",
            dataset=load_mnist_3v8,
            input_range=(0.0, 1.0),
            threshold=0.90,
            description=(
                "Input 28x28x1 in [0, 1] -> Flatten -> Dense 1 sigmoid (p that the digit is an"
                " 8; kinterp reads it as two classes, 3 and 8, with logits -z/2 and z/2);"
                " binary cross-entropy, Adam 1e-2,"
                f" {MNIST_3V8_EPOCHS} epochs, batch 32, on the 800 training 3s and 8s of"
                " mnist-5k, no augmentation"
            ),
            train=train_mnist_3v8,
        ),
        Recipe(
            name="fashion-cnn",
            summary="Small CNN for Fashion-MNIST clothing images.",
            dataset=load_fashion_mnist,
            input_range=(0.0, 1.0),
            threshold=0.90,
            description=(
                "Conv2D 3x3x32 relu -> MaxPool 2 -> Conv2D 3x3x64 relu -> MaxPool 2 -> Flatten"
                " -> Dropout 0.3 -> Dense 128 relu -> Dropout 0.3 -> Dense 10 softmax; Adam 1e-3,"
                f" sparse categorical cross-entropy, {FASHION_CNN_EPOCHS} epochs, batch 128,"
                " no augmentation"
            ),
            train=train_fashion_cnn,
        ),
        Recipe(
            name="mnist-rgb-cnn",
            summary="Transfer-shaped RGB CNN: Rescaling(1/255), a nested conv base, a new head.",
            dataset=load_mnist_rgb,
            input_range=(0.0, 255.0),
            threshold=0.95,
            description=(
                "Input 32x32x3 (0-255) -> Rescaling(1/255) -> digit_base, a nested Functional"
                " model of 4 blocks (Conv2D 3x3 no bias -> BatchNormalization -> ReLU, with"
                f" {', '.join(map(str, MNIST_RGB_CNN_BLOCKS))} filters, MaxPool 2 after all but"
                " the last) -> GlobalAveragePooling2D -> Dense 10 softmax; Adam with cosine decay"
                " from 1e-3 to 0, sparse categorical cross-entropy,"
                f" {MNIST_RGB_CNN_EPOCHS} epochs, batch {MNIST_RGB_CNN_BATCH}, on pixels times"
                " 255; epoch 1 on the mnist-rgb training images, each later epoch on the same"
                " digits in fresh colours (colourise(digits, [seed, epoch])), no other"
                " augmentation"
            ),
            train=train_mnist_rgb_cnn,
            input_range_note="0-255, inferred from the Rescaling(1/255) layer",
        ),
    )
}


def evaluate(path: Path, data: Dataset, input_range: tuple[float, float]) -> float:
    """Held-out accuracy of the saved model, loaded afresh from disk."""
    import keras

    model = keras.saving.load_model(path, safe_mode=True)
    x, y = data.test()
    x = scale(x, input_range).reshape((len(x), *model.input_shape[1:]))
    return float(np.mean(predicted_classes(model.predict(x, batch_size=500, verbose=0)) == y))


def predicted_classes(predictions: np.ndarray) -> np.ndarray:
    """The class of each row: the arg-max, or for one sigmoid unit 1 when it is above 0.5."""
    if predictions.shape[-1] == 1:
        return (predictions[:, 0] > 0.5).astype(np.int64)
    return np.argmax(predictions, axis=-1)


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(recipe: Recipe, out: Path = ZOO) -> dict:
    """Train one model, save it into ``out`` (the zoo), evaluate it afresh and write its card."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(SEED)
    data = recipe.dataset()
    started = time.perf_counter()
    model = recipe.train(data)
    seconds = time.perf_counter() - started
    path = out / f"{recipe.name}.keras"
    inference = type(model).from_config(model.get_config())  # uncompiled: no optimizer state
    inference.set_weights(model.get_weights())
    inference.save(path)
    accuracy = evaluate(path, data, recipe.input_range)
    card = {
        "name": recipe.name,
        "summary": recipe.summary,
        "dataset": data.name,
        "split": data.split,
        "heldout_accuracy": round(accuracy, 4),
        "heldout_count": len(data.x_test),
        **(
            {"input_range_note": recipe.input_range_note}
            if recipe.input_range_note
            else {"input_range": list(recipe.input_range)}
        ),
        "class_names": list(data.class_names),
        "recipe": recipe.description,
        "seed": SEED,
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
        "sha256": sha256(path),
        "file": path.name,
    }
    (out / f"{recipe.name}.json").write_text(json.dumps(card, indent=2) + "\n")
    verdict = "ok" if accuracy >= recipe.threshold else f"BELOW {recipe.threshold:.3f}"
    print(f"{recipe.name}: held-out accuracy {accuracy:.4f} ({verdict}), trained in {seconds:.0f}s")
    return card


def main(argv: list[str] | None = None) -> None:
    """Command line: train the named model(s), or regenerate the mnist-5k split."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=[*RECIPES, "all", "split"])
    parser.add_argument("--out", type=Path, default=ZOO, help="folder for models and cards")
    args = parser.parse_args(argv)
    if args.target == "split":
        print(f"wrote {write_split()}")
        return
    args.out.mkdir(parents=True, exist_ok=True)
    for name in RECIPES if args.target == "all" else [args.target]:
        build(RECIPES[name], args.out)


if __name__ == "__main__":
    main()
