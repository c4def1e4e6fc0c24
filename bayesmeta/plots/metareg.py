"""Meta-regression figure: the pooled effect at each level of a study-level covariate (a factor the plan
declares, e.g. dose or design), with the studies of each level behind it and the ratio between levels in the panel.

The level effects (posterior median and interval of mu + beta) and the ratio come from the analysis; this module
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


@dataclass
class MetaregPanel:
    """One covariate. ``levels`` table: level, median, ci_lower, ci_upper (analysis scale, the posterior of the
    pooled effect at that level). ``studies`` table: level, label, yi, ci_lower, ci_upper (observed, analysis
    scale).
    ``notes``: text lines such as 'HR ratio high / low dose 1.6 [1.1, 2.4]; P(ratio < 1) = 0.01'."""

    covariate: str
    levels: pd.DataFrame
    studies: pd.DataFrame
    notes: Sequence[str] = ()


def plot_metaregression(panels: Sequence[MetaregPanel], *, measure: str = "HR", level: float = 0.95,
                        title: str | None = None) -> Figure:
    """One row of panels per covariate: for each level, the observed studies (grey) and the posterior of the
    pooled effect at that level (blue diamond and interval), on a ratio axis."""
    if not panels:
        raise ValueError("no meta-regression panels to draw")
    with rc_context(style.RC):
        heights = [max(1.6, 0.5 + 0.35 * (len(p.levels) + len(p.studies))) for p in panels]
        fig = Figure(figsize=(style.WIDTH, sum(heights) + 0.6), layout="constrained")
        axes = fig.subplots(len(panels), 1, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
        values = []
        for p in panels:
            values += list(p.levels["ci_lower"]) + list(p.levels["ci_upper"])
            values += list(p.studies["ci_lower"]) + list(p.studies["ci_upper"])
        finite = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
        lo, hi = (min(finite.min(), 0.0), max(finite.max(), 0.0)) if finite.size else (-1.0, 1.0)
        lo_d, hi_d = (float(v) for v in style.to_reported([lo, hi], measure))
        for ax, panel in zip(axes, panels):
            ticks, labels, y_pos = [], [], 0.0
            for i, lev in enumerate(panel.levels.itertuples(index=False)):
                colour = style.LEVELS[i % len(style.LEVELS)]
                rows = panel.studies[panel.studies["level"] == lev.level]
                for s in rows.itertuples(index=False):
                    y_pos -= 1
                    ax.plot(style.to_reported([s.ci_lower, s.ci_upper], measure), [y_pos] * 2, color="#999999", lw=0.9)
                    ax.plot(style.to_reported(s.yi, measure), y_pos, "s", color="#777777", ms=3.5)
                    ticks.append(y_pos)
                    labels.append(str(s.label))
                y_pos -= 1
                ax.plot(style.to_reported([lev.ci_lower, lev.ci_upper], measure), [y_pos] * 2, color=colour, lw=2)
                ax.plot(style.to_reported(lev.median, measure), y_pos, "D", color=colour, ms=7)
                ticks.append(y_pos)
                labels.append(f"{lev.level} (pooled)")
                y_pos -= 0.5
            ax.set_yticks(ticks)
            ax.set_yticklabels(labels)
            for tick, text in zip(ax.get_yticklabels(), labels):
                if text.endswith("(pooled)"):
                    tick.set_fontweight("bold")
            ax.set_ylim(y_pos, 0)
            ax.tick_params(axis="y", length=0)
            style.ratio_axis(ax, measure, lo_d, hi_d)
            ax.axvline(style.null_value(measure), color=style.NULL_LINE, lw=0.8)
            ax.set_title(f"by {panel.covariate}", loc="left", y=style.TITLE_Y)
            if panel.notes:
                ax.text(1.0, 1.02, "\n".join(panel.notes), transform=ax.transAxes, ha="right", va="bottom",
                        fontsize=style.FONT_SIZE - 1)
        axes[-1].set_xlabel(f"{measure} ({100 * level:g}% intervals; log scale)" if style.is_ratio(measure)
                            else measure)
        if title:
            fig.suptitle(title)
    return fig
