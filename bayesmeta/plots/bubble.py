"""Bubble plot of a meta-regression on a numeric covariate: each study's effect against its covariate value, the
marker's area proportional to its weight 1 / se^2, under the posterior of the pooled effect along the covariate
(median line and credible band), as metafor's ``regplot`` draws the frequentist fit (Viechtbauer 2010).

The line and band come from the analysis (:func:`bayesmeta.reanalysis.metaregression.slope_line`); this module
only draws them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.figure import Figure

from bayesmeta.plots import style

MAX_AREA = 160.0  # points^2 of the heaviest study's marker
MIN_AREA = 8.0


@dataclass
class SlopePanel:
    """One numeric covariate. ``studies``: label, x, yi, sei (analysis scale). ``line``: x, median, ci_lower,
    ci_upper (analysis scale, the posterior of the pooled effect at x). ``notes``: text lines such as the slope
    with its interval and probability."""

    covariate: str
    studies: pd.DataFrame
    line: pd.DataFrame
    notes: Sequence[str] = ()


def marker_areas(sei: np.ndarray) -> np.ndarray:
    """Marker areas proportional to the weights 1 / se^2, the heaviest study at :data:`MAX_AREA` (none below
    :data:`MIN_AREA`, so the lightest stays visible)."""
    weight = 1.0 / np.asarray(sei, dtype=float) ** 2
    return np.maximum(MAX_AREA * weight / weight.max(), MIN_AREA)


def plot_bubble(panels: Sequence[SlopePanel], *, measure: str = "HR", level: float = 0.95,
                title: str | None = None) -> Figure:
    """One panel per numeric covariate: the studies as circles (area by weight), the posterior median of the pooled
    effect along the covariate (line) and its ``level`` credible band, on the measure's reported scale (log for
    ratios) with a line at no effect."""
    if not panels:
        raise ValueError("no numeric covariate to draw")
    with rc_context(style.RC):
        fig = Figure(figsize=(style.WIDTH, 0.6 + 3.6 * len(panels)), layout="constrained")
        axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
        for ax, panel in zip(axes, panels):
            s, line = panel.studies, panel.line
            ax.fill_between(line["x"], style.to_reported(line["ci_lower"].to_numpy(float), measure),
                            style.to_reported(line["ci_upper"].to_numpy(float), measure), color=style.BAYES,
                            alpha=0.18, lw=0, label=f"{100 * level:g}% credible band")
            ax.plot(line["x"], style.to_reported(line["median"].to_numpy(float), measure), color=style.BAYES,
                    lw=1.8, label="pooled effect (posterior median)")
            ax.scatter(s["x"], style.to_reported(s["yi"].to_numpy(float), measure),
                       s=marker_areas(s["sei"].to_numpy(float)), facecolor="none", edgecolor=style.OBSERVED,
                       lw=0.9, label="study (area: weight 1/se²)")
            # keep no effect (0 on the analysis scale: log 1, or a difference of 0) in view
            values = np.r_[s["yi"], line["ci_lower"], line["ci_upper"], 0.0]
            lo, hi = (float(v) for v in style.to_reported([np.min(values), np.max(values)], measure))
            style.ratio_axis(ax, measure, lo, hi, axis="y")
            ax.axhline(style.null_value(measure), color=style.NULL_LINE, lw=0.8)
            ax.set_xlabel(panel.covariate)
            ax.set_ylabel(f"{measure} (log scale)" if style.is_ratio(measure) else measure)
            ax.set_title(f"by {panel.covariate}", loc="left", y=style.TITLE_Y)
            ax.legend(loc="best", fontsize=style.FONT_SIZE - 1, frameon=False)
            if panel.notes:
                ax.text(1.0, 1.02, "\n".join(panel.notes), transform=ax.transAxes, ha="right", va="bottom",
                        fontsize=style.FONT_SIZE - 1)
        if title:
            fig.suptitle(title)
    return fig
