"""Example third-party kinterp plugin: occlusion sensitivity.

Slide a grey patch over each test image and record how much the true class's confidence
drops; the map shows which pixels the network relies on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import kinterp


@dataclass
class OcclusionParams:
    patch: int = field(default=4, metadata={"help": "Side of the hidden square, in pixels."})
    stride: int = field(default=2, metadata={"help": "Step between patch positions, in pixels."})
    count: int = field(default=8, metadata={"help": "How many held-out images to analyse."})


class Occlusion(kinterp.Technique):
    name = "occlusion"
    summary = "How much confidence drops when a patch is hidden"
    Params = OcclusionParams
    key_metric = "mean_drop"

    def run(self, ctx, params):
        if params.patch < 1 or params.stride < 1 or params.count < 1:
            raise kinterp.KinterpError("--patch, --stride and --count must be at least 1")
        x, y = ctx.data().test(limit=params.count)
        if y is None:
            raise kinterp.KinterpError("occlusion needs labelled data; pass --data with labels")
        images = ctx.model.to_images(x)
        height, width, _ = images.shape[1:]
        base = ctx.model.predict(x)[np.arange(len(x)), y]
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
                probs = ctx.model.predict(ctx.model.to_input(hidden))[np.arange(len(x)), y]
                drop = (base - probs)[:, None, None]
                maps[:, top : top + params.patch, left : left + params.patch] += drop
                bar.advance()
        captions = [f"class {label}, p={p:.3f}" for label, p in zip(y, base, strict=True)]
        ctx.report.images("Inputs", images, captions=captions)
        ctx.report.images("Occlusion maps", maps, captions=captions, cmap="diverging")
        ctx.report.metric("mean_drop", float(maps.mean()))


@kinterp.hookimpl
def register_techniques(register):
    register(Occlusion())
