"""Model-probability figure of a Bayesian model-averaging ensemble: each model's prior and posterior probability
as paired horizontal bars (the model table of :func:`bayesmeta.bias.fit_bias`), with the inclusion Bayes factors
written beside them. This module only draws."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure

from bayesmeta.plots import style


def plot_model_probabilities(models: Sequence[dict[str, Any]], *, notes: Sequence[str] = (),
                             title: str | None = None) -> Figure:
    """Bars of ``prior_prob`` and ``post_prob`` for each model (dicts with ``model``, ``prior_prob``,
    ``post_prob``), in the ensemble's order from the top."""
    names = [str(m["model"]) for m in models]
    prior = np.array([float(m["prior_prob"]) for m in models])
    post = np.array([float(m["post_prob"]) for m in models])
    n = len(names)
    with rc_context(style.RC):
        fig = Figure(figsize=(style.WIDTH, 1.2 + 0.22 * n), layout="constrained")
        ax = fig.add_subplot()
        pos = np.arange(n)[::-1]
        ax.barh(pos + 0.2, prior, height=0.38, color="#BBBBBB", label="prior probability")
        ax.barh(pos - 0.2, post, height=0.38, color=style.BAYES, label="posterior probability")
        ax.set_yticks(pos, names, fontsize=style.FONT_SIZE - 1)
        ax.set_xlim(0, max(1e-3, float(max(prior.max(), post.max()))) * 1.15)
        ax.set_xlabel("model probability")
        ax.legend(loc="lower right", frameon=False, fontsize=style.FONT_SIZE - 1)
        if notes:
            ax.text(0.98, 0.98, "\n".join(notes), transform=ax.transAxes, ha="right", va="top",
                    fontsize=style.FONT_SIZE - 1,
                    bbox={"boxstyle": "round", "fc": "white", "ec": "#cccccc", "alpha": 0.9})
        if title:
            ax.set_title(title)
    return fig
