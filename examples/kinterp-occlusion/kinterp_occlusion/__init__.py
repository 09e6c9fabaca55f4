"""Example third-party kinterp plugin: occlusion sensitivity.

Slide a grey patch over each test image and record how much the true class's confidence
(a probability, whatever the model's output activation) drops; the map shows which pixels
the network relies on. Uses only names kinterp exports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import kinterp


@dataclass
class OcclusionParams:
    patch: int = field(
        default=4, metadata={"help": "Side of the hidden square, in pixels.", "min": 1, "max": 64}
    )
    stride: int = field(
        default=2,
        metadata={"help": "Step between patch positions, in pixels.", "min": 1, "max": 64},
    )
    count: int = field(
        default=8, metadata={"help": "How many held-out images to analyse.", "min": 1, "max": 1000}
    )


class Occlusion(kinterp.Technique):
    name = "occlusion"
    summary = "How much confidence drops when a patch is hidden"
    Params = OcclusionParams
    key_metric = "mean_drop"

    def run(self, ctx: kinterp.RunContext, params: OcclusionParams) -> None:
        model = ctx.model
        x, y = ctx.data().test(limit=params.count)  # model-ready inputs, int labels
        if y is None:
            raise kinterp.KinterpError("occlusion needs labelled data; pass --data with labels")
        images = model.to_images(x)  # (N, H, W, C) in [0, 1]
        height, width, _ = images.shape[1:]
        if params.patch > min(height, width):
            raise kinterp.KinterpError(f"--patch must fit the {height}x{width} images")
        base = model.classify(x).of(y)  # probabilities, also for models that output logits
        maps = np.zeros((len(x), height, width), "float32")
        positions = [
            (top, left)
            for top in range(0, height - params.patch + 1, params.stride)
            for left in range(0, width - params.patch + 1, params.stride)
        ]
        with ctx.progress(len(positions), "occluding") as bar:
            for top, left in positions:
                hidden = images.copy()
                hidden[:, top : top + params.patch, left : left + params.patch] = 0.5
                drop = base - model.classify_images(hidden).of(y)
                maps[:, top : top + params.patch, left : left + params.patch] += drop[:, None, None]
                bar.advance()
        captions = [
            f"{model.info.class_name(label)}, p={p:.3f}" for label, p in zip(y, base, strict=True)
        ]
        ctx.report.images("Inputs", images, captions=captions)
        ctx.report.images("Occlusion maps", maps, captions=captions, cmap="diverging")
        ctx.report.metric("mean_drop", float(maps.mean()))


@kinterp.hookimpl
def register_techniques(register) -> None:
    register(Occlusion())
