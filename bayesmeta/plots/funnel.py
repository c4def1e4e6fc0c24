"""Funnel plot: study estimates against their standard errors (inverted axis), with the pooled estimate and the
pseudo-confidence region estimate +- z * SE (Sterne & Egger 2001, J Clin Epidemiol 54:1046), and the Egger
test result printed in the panel.

The pooled estimate and Egger's test come from :mod:`bayesmeta.frequentist`; this module only draws.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure
from scipy import stats

from bayesmeta.plots import style


def plot_funnel(
    yi: Sequence[float],
    sei: Sequence[float],
    *,
    pooled: float,
    labels: Sequence[str] | None = None,
    measure: str = "HR",
    level: float = 0.95,
    notes: Sequence[str] = (),
    title: str | None = None,
    ax=None,
) -> Figure:
    """Funnel plot on the analysis scale shown as ratios; ``pooled`` is the (log) pooled estimate."""
    y = np.asarray(yi, dtype=float)
    s = np.asarray(sei, dtype=float)
    with rc_context(style.RC):
        if ax is None:
            fig = Figure(figsize=(style.WIDTH / 2, 3.4), layout="constrained")
            ax = fig.add_subplot()
        else:
            fig = ax.figure
        z = stats.norm.ppf(0.5 + level / 2)
        s_max = max(float(s.max()) * 1.1, 1e-6)
        se_line = np.linspace(0, s_max, 50)
        ax.plot(style.to_reported(pooled - z * se_line, measure), se_line, color="#999999", lw=0.8, ls="--")
        ax.plot(style.to_reported(pooled + z * se_line, measure), se_line, color="#999999", lw=0.8, ls="--",
                label=f"{100 * level:g}% pseudo-CI")
        ax.axvline(style.to_reported(pooled, measure), color=style.FREQUENTIST, lw=1.2, label="pooled (REML)")
        ax.axvline(style.null_value(measure), color=style.NULL_LINE, lw=0.6)
        ax.plot(style.to_reported(y, measure), s, "o", color=style.BAYES, ms=5, label="studies")
        if labels is not None:
            for xi, si, lab in zip(style.to_reported(y, measure), s, labels):
                ax.annotate(str(lab), (xi, si), xytext=(3, 2), textcoords="offset points",
                            fontsize=style.FONT_SIZE - 2)
        ax.set_ylim(s_max, 0)
        edge = np.concatenate([y, [pooled - z * s_max, pooled + z * s_max, 0.0]])
        style.ratio_axis(ax, measure, float(style.to_reported(edge.min(), measure)),
                         float(style.to_reported(edge.max(), measure)))
        ax.set_xlabel(f"{measure} (log scale)" if style.is_ratio(measure) else measure)
        ax.set_ylabel("standard error")
        if notes:
            ax.text(0.02, 0.02, "\n".join(notes), transform=ax.transAxes, fontsize=style.FONT_SIZE - 1,
                    va="bottom", bbox={"boxstyle": "round", "fc": "white", "ec": "#cccccc", "alpha": 0.9})
        ax.legend(loc="upper right", frameon=False, fontsize=style.FONT_SIZE - 2)
        if title:
            ax.set_title(title)
    return fig
