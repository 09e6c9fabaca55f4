"""What Jupyter shows for a finished run and for a loaded model (``_repr_html_``).

Images are embedded as ``data:`` URIs: the notebook may live far from the run directory.
Model loading sits below reporting and never imports it, so a model's card is not a method
of :class:`LoadedModel`: :func:`kinterp.load_model` returns a :class:`NotebookModel`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kinterp.loading.models import LoadedModel
from kinterp.reporting.embed import image_uri
from kinterp.reporting.html import key_tiles, template

KEY_TILES = 12  # tiles of the key picture shown under a run's verdict


def run_fragment(report: dict[str, Any], directory: Path) -> str:
    """A run in a notebook: the verdict, the key images and the scalar metrics, formatted."""
    metrics = {k: v for k, v in report["metrics"].items() if not isinstance(v, dict)}
    return template("notebook_run.html").render(
        r=report,
        tiles=[
            {**tile, "src": image_uri(directory, tile)["src"]}
            for tile in key_tiles(report, KEY_TILES)
        ],
        metrics=metrics,
        page=str(Path(directory) / "report.html"),
    )


def model_fragment(info: Any) -> str:
    """A loaded model in a notebook: its card (what, trained on what, how well) and layers."""
    return template("notebook_model.html").render(m=info, card=info.card or {})


class NotebookModel(LoadedModel):
    """A :class:`LoadedModel` that Jupyter shows as its card and layer table.

    What :func:`kinterp.load_model` returns; otherwise the same model (its type, its state).
    """

    def _repr_html_(self) -> str:
        """Jupyter: the model card and the layer table."""
        return model_fragment(self.info)
