"""Posterior densities of the pooled effect (and the predictive distribution of a new study's effect), one panel
per outcome, with vertical lines at the decision thresholds (e.g. HR 0.7 and 1) and the posterior probabilities
printed in the panel.

The densities are evaluated by the analysis (``Posterior.marginal(...).pdf`` on a grid of the log scale); this
module only draws them. On a log-ratio axis the density of the log effect is the one whose area is probability.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure

from bayesmeta.benefit import Benefit
from bayesmeta.plots import style


@dataclass
class DensityPanel:
    """One panel: ``grid`` on the analysis scale; ``curves`` label -> density values on that grid (the first is
    the pooled effect, shaded beyond ``shade_beyond``); ``thresholds`` on the display (ratio) scale, always in
    view; ``notes`` lines of text such as 'P(HR < 0.7) = 0.83'."""

    title: str
    measure: str
    grid: np.ndarray
    curves: dict[str, np.ndarray]
    thresholds: Sequence[float] = ()
    notes: Sequence[str] = ()
    shade_beyond: float | None = None
    benefit: Benefit = Benefit.BELOW
    kinds: dict[str, str] = field(default_factory=dict)


_COLOURS = {"mu": style.BAYES, "predictive": style.PREDICTIVE, "prior": "#999999"}


def plot_densities(panels: Sequence[DensityPanel], *, ncols: int = 2, title: str | None = None) -> Figure:
    """A grid of posterior-density panels (see :class:`DensityPanel`)."""
    if not panels:
        raise ValueError("no density panels to draw")
    ncols = max(1, min(ncols, len(panels)))
    nrows = int(np.ceil(len(panels) / ncols))
    with rc_context(style.RC):
        fig = Figure(figsize=(style.WIDTH, 2.9 * nrows + 0.4), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for ax in axes.ravel()[len(panels):]:
            ax.set_visible(False)
        for ax, panel in zip(axes.ravel(), panels):
            x = style.to_reported(panel.grid, panel.measure)
            for i, (label, dens) in enumerate(panel.curves.items()):
                kind = panel.kinds.get(label, "mu" if i == 0 else "predictive")
                colour = _COLOURS.get(kind, style.LEVELS[i % len(style.LEVELS)])
                ls = "--" if kind == "prior" else "-"
                ax.plot(x, dens, color=colour, lw=1.6 if i == 0 else 1.1, ls=ls, label=label)
                if i == 0 and panel.shade_beyond is not None:
                    beyond = x < panel.shade_beyond if panel.benefit.below else x > panel.shade_beyond
                    ax.fill_between(x, 0, dens, where=beyond, color=colour, alpha=0.25, lw=0)
            for t in panel.thresholds:
                is_null = t == style.null_value(panel.measure)
                ax.axvline(t, color=style.NULL_LINE if is_null else style.THRESHOLD, lw=0.9,
                           ls="-" if is_null else ":")
            ratio = style.is_ratio(panel.measure)
            lo, hi = min(float(x.min()), *panel.thresholds), max(float(x.max()), *panel.thresholds)
            style.ratio_axis(ax, panel.measure, lo, hi)
            ax.set_ylim(bottom=0)
            ax.set_xlabel(f"{panel.measure} (log scale)" if ratio else panel.measure)
            ax.set_ylabel(f"density (per unit of {'log ' if ratio else ''}{panel.measure})")
            ax.set_title(panel.title)
            if panel.notes:
                ax.text(0.02 if not panel.benefit.below else 0.98, 0.97, "\n".join(panel.notes),
                        transform=ax.transAxes, ha="left" if not panel.benefit.below else "right", va="top",
                        fontsize=style.FONT_SIZE - 1,
                        bbox=style.NOTE_BOX)
            ax.legend(loc="upper left" if panel.benefit.below else "upper right", frameon=False)
        if title:
            fig.suptitle(title)
    return fig
