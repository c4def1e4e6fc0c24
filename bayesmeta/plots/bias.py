"""Figures of a Bayesian model-averaging ensemble (:func:`bayesmeta.bias.fit_bias`): each model's prior and
posterior probability as paired horizontal bars, with the inclusion Bayes factors written beside them; and the
model-averaged posterior of the effect beside the unadjusted one (the models without bias). This module only
draws."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

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
                    bbox=style.NOTE_BOX)
        if title:
            ax.set_title(title, y=style.TITLE_Y)
    return fig


def plot_bias_posteriors(x: Sequence[float], densities: Mapping[str, Sequence[float] | None], *, measure: str,
                         atom: float = 0.0, atom_label: str = "averaged: P(no effect)",
                         lines: Sequence[float] = (), notes: Sequence[str] = (),
                         title: str | None = None) -> Figure:
    """Posterior densities on the analysis-scale grid ``x`` (label -> density; the first is the model-averaged
    one, drawn bold; None entries are skipped), shown on the reported scale (a log axis for ratios, the density
    per unit of the log effect). ``atom``: the averaged posterior's point mass at no effect (the models with
    mu = 0), drawn as a stem at the null labelled with its probability; ``lines``: reported-scale reference
    lines (e.g. the clinical threshold)."""
    grid = np.asarray(x, dtype=float)
    shown = style.to_reported(grid, measure)
    colours = (style.BAYES, style.FREQUENTIST, style.LEVELS[2], style.LEVELS[3])
    with rc_context(style.RC):
        fig = Figure(figsize=(style.WIDTH, 3.0), layout="constrained")
        ax = fig.add_subplot()
        top = 0.0
        drawn = [(label, np.asarray(d, dtype=float)) for label, d in densities.items() if d is not None]
        for i, (label, dens) in enumerate(drawn):
            ax.plot(shown, dens, color=colours[i % len(colours)], lw=1.8 if i == 0 else 1.2,
                    ls="-" if i == 0 else "--", label=label)
            top = max(top, float(dens.max()))
        null = style.null_value(measure)
        if atom > 0:
            ax.vlines(null, 0, top, color=colours[0], lw=3.0, alpha=0.5,
                      label=f"{atom_label} = {atom:.2f} (point mass)")
        ax.axvline(null, color=style.NULL_LINE, lw=0.7)
        for t in lines:
            if t != null:
                ax.axvline(t, color=style.THRESHOLD, lw=0.9, ls=":")
        lo = min(float(shown.min()), null, *lines)
        hi = max(float(shown.max()), null, *lines)
        style.ratio_axis(ax, measure, lo, hi)
        ax.set_ylim(0, top * 1.08 if top > 0 else 1.0)
        ratio = style.is_ratio(measure)
        ax.set_xlabel(f"{measure} (log scale)" if ratio else measure)
        ax.set_ylabel(f"density (per unit of {'log ' if ratio else ''}{measure})")
        ax.legend(loc="upper left", frameon=False, fontsize=style.FONT_SIZE - 1)
        if notes:
            ax.text(0.98, 0.97, "\n".join(notes), transform=ax.transAxes, ha="right", va="top",
                    fontsize=style.FONT_SIZE - 1,
                    bbox=style.NOTE_BOX)
        if title:
            ax.set_title(title)
    return fig
