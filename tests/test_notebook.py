"""kinterp in Jupyter: a real notebook executed by nbclient on the venv's ``python3`` kernel."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed")
nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed")

CELLS = [
    "import kinterp\nmodel = kinterp.load_model('mnist-cnn')\nmodel",
    "result = kinterp.run('happymap', model, out=OUT, classes=[0, 1], steps=16)\nresult",
]


def _html_outputs(cell) -> list[str]:
    return [o["data"]["text/html"] for o in cell.outputs if "text/html" in o.get("data", {})]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook after running, or a skip naming why no kernel could start."""
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    out = tmp_path_factory.mktemp("notebook-runs")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(f"OUT = {str(out)!r}")]
    notebook.cells += [nbformat.v4.new_code_cell(source) for source in CELLS]
    manager = KernelSpecManager()  # the venv's own kernel first
    manager.kernel_dirs.insert(0, str(Path(sys.prefix) / "share" / "jupyter" / "kernels"))
    try:
        manager.get_kernel_spec("python3")
    except NoSuchKernel:
        pytest.skip("no python3 Jupyter kernel: python -m ipykernel install --user")
    kernel = KernelManager(kernel_name="python3", kernel_spec_manager=manager)
    client = nbclient.NotebookClient(notebook, km=kernel, timeout=300)
    try:
        client.execute(cwd=str(out))
    except (RuntimeError, OSError) as exc:  # the kernel could not start here
        pytest.skip(f"the python3 kernel did not start: {exc}")
    return notebook


def test_loaded_model_shows_its_card_and_layers(executed):
    (page,) = _html_outputs(executed.cells[1])
    assert "mnist-cnn" in page and "98.8% held out" in page
    assert "<th>layer</th>" in page and "conv2" in page.lower()


def test_run_result_shows_verdict_images_and_formatted_metrics(executed):
    (page,) = _html_outputs(executed.cells[2])
    assert re.search(r"\d/2 maps classified as their target", page)
    assert page.count('src="data:image/png;base64,') == 2
    assert "mean_confidence" in page and "{" not in page.split("<table", 1)[1]


def test_the_public_loader_gives_a_model_with_its_card():
    """kinterp.load_model's model is a LoadedModel that renders its card (no kernel needed);
    the loader below it has no HTML view: loading never imports reporting."""
    import kinterp
    from kinterp.loading.models import load_model

    model = kinterp.load_model("mnist-mlp")
    assert isinstance(model, kinterp.LoadedModel)
    assert "mnist-mlp" in model._repr_html_() and "<th>layer</th>" in model._repr_html_()
    assert not hasattr(load_model("mnist-mlp"), "_repr_html_")
