"""The walkthrough notebook runs from top to bottom and states what the library computes."""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "haic_reanalysis.ipynb"


def _stream_text(nb) -> str:
    return "".join(
        out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
    )


def test_notebook_is_current_with_its_builder():
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_notebook", NOTEBOOK.with_name("build_notebook.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = [c.source for c in module.build().cells]
    stored = [c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells]
    assert built == stored, "run python notebooks/build_notebook.py"


def test_notebook_executes_and_reports_the_library_numbers():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    text = _stream_text(nb)

    from bayesmeta.exact import fit_exact
    from conftest import haic_effects_for

    os_ = haic_effects_for("OS")
    post = fit_exact(os_.yi.to_numpy(), os_.sei.to_numpy(), mu_prior="normal(0, 4)", tau_prior="halfnormal(0.5)",
                     measure="HR")
    assert f"P(HR < 0.7) = {post.prob_below(0.7):.3f}" in text
    lo, hi = np.exp(post.predictive_interval())
    assert f"95% predictive interval {lo:.2f} to {hi:.2f}" in text
    assert "published RIS 2633" in text and "RIS with that D2: 2633.0" in text
