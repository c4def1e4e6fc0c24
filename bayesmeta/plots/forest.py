"""Bayesian forest plot: each study's observed estimate beside its shrunken (posterior) effect, then the pooled
rows (posterior of mu, the predictive interval for a new study, the recomputed frequentist estimate and the
published one), with the numbers printed on the right.

Takes tables computed by the analysis (:meth:`bayesmeta.posterior.Posterior.shrinkage` and the pooled summaries
that :func:`bayesmeta.reanalysis.run_plan` assembles); computes no statistics.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory, offset_copy

from bayesmeta.plots import style

STUDY_COLUMNS = ("label", "yi", "ci_lower", "ci_upper", "theta", "theta_ci_lower", "theta_ci_upper")
FAVOURS_DROP = 34.0
"""Points from the bottom of the forest's axes to the top of its 'favours' labels: below the axis label."""
POOLED_COLUMNS = ("label", "estimate", "ci_lower", "ci_upper", "kind")
POOLED_KINDS = {
    "bayes": (style.BAYES, "D"),
    "predictive": (style.PREDICTIVE, "_"),
    "frequentist": (style.FREQUENTIST, "D"),
    "published": (style.PUBLISHED, "D"),
}


def _check(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks columns {', '.join(missing)} (needs {', '.join(columns)})")


def _fmt(est: float, lo: float, hi: float, measure: str) -> str:
    e, low, high = style.to_reported([est, lo, hi], measure)
    interval = f"[{low:.2f}, {high:.2f}]" if np.isfinite(low) and np.isfinite(high) else ""
    if not np.isfinite(e):
        return interval
    return f"{e:.2f} {interval}".rstrip()


def plot_forest(
    studies: pd.DataFrame,
    pooled: pd.DataFrame,
    *,
    measure: str = "HR",
    thresholds: Sequence[float] = (),
    level: float = 0.95,
    title: str | None = None,
    favours: tuple[str, str] | None = None,
) -> Figure:
    """Forest plot on the analysis scale shown as ratios (log axis).

    ``studies``: one row per study with label, yi, ci_lower, ci_upper (observed estimate and its interval) and
    theta, theta_ci_lower, theta_ci_upper (posterior of the study's effect); all on the analysis scale.
    ``pooled``: rows with label, estimate, ci_lower, ci_upper and kind ('bayes', 'predictive', 'frequentist',
    'published'); NaN estimate draws only the interval (a predictive interval has no point). ``thresholds``
    (reported scale) are drawn as dotted lines, the axis widened to show them. ``favours``: labels for the two
    sides of the null, e.g. ('favours treatment', 'favours control').
    """
    _check(studies, STUDY_COLUMNS, "studies table")
    _check(pooled, POOLED_COLUMNS, "pooled table")
    n_rows = len(studies) + len(pooled) + 1
    with rc_context(style.RC):
        fig = Figure(figsize=(style.WIDTH, 1.2 + 0.32 * n_rows), layout="constrained")
        grid = fig.add_gridspec(1, 2, width_ratios=(3.0, 1.35), wspace=0.0)
        ax = fig.add_subplot(grid[0, 0])
        ax_text = fig.add_subplot(grid[0, 1], sharey=ax)
        ax_text.axis("off")

        positions, labels = [], []
        y_pos = n_rows
        values = []
        for _, row in studies.iterrows():
            y_pos -= 1
            ax.errorbar(style.to_reported(row["yi"], measure), y_pos + 0.16,
                        xerr=None, fmt="s", color=style.OBSERVED, ms=4)
            ax.plot(style.to_reported([row["ci_lower"], row["ci_upper"]], measure), [y_pos + 0.16] * 2,
                    color=style.OBSERVED, lw=1)
            ax.plot(style.to_reported(row["theta"], measure), y_pos - 0.16, "o", color=style.BAYES, ms=4)
            ax.plot(style.to_reported([row["theta_ci_lower"], row["theta_ci_upper"]], measure), [y_pos - 0.16] * 2,
                    color=style.BAYES, lw=1)
            ax_text.text(0.02, y_pos + 0.16, _fmt(row["yi"], row["ci_lower"], row["ci_upper"], measure),
                         va="center", fontsize=style.FONT_SIZE - 1, color=style.OBSERVED)
            ax_text.text(0.02, y_pos - 0.16, _fmt(row["theta"], row["theta_ci_lower"], row["theta_ci_upper"], measure),
                         va="center", fontsize=style.FONT_SIZE - 1, color=style.BAYES)
            positions.append(y_pos)
            labels.append(str(row["label"]))
            values += [row["ci_lower"], row["ci_upper"], row["theta_ci_lower"], row["theta_ci_upper"]]
        y_pos -= 1
        ax.axhline(y_pos, color="#bbbbbb", lw=0.6)
        for _, row in pooled.iterrows():
            y_pos -= 1
            color, marker = POOLED_KINDS.get(str(row["kind"]), (style.OBSERVED, "D"))
            lo, hi = style.to_reported([row["ci_lower"], row["ci_upper"]], measure)
            if np.isfinite(lo) and np.isfinite(hi):
                lw = 4 if row["kind"] == "predictive" else 1.6
                ax.plot([lo, hi], [y_pos, y_pos], color=color, lw=lw, alpha=0.6 if lw > 2 else 1,
                        solid_capstyle="butt")
                values += [row["ci_lower"], row["ci_upper"]]
            if np.isfinite(row["estimate"]):
                ax.plot(style.to_reported(row["estimate"], measure), y_pos, marker, color=color, ms=7)
            ax_text.text(0.02, y_pos, _fmt(row["estimate"], row["ci_lower"], row["ci_upper"], measure), va="center",
                         fontsize=style.FONT_SIZE - 1, color=color, fontweight="bold")
            positions.append(y_pos)
            labels.append(str(row["label"]))

        finite = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
        lo, hi = (finite.min(), finite.max()) if finite.size else (-1.0, 1.0)
        lo, hi = min(lo, 0.0), max(hi, 0.0)  # the null (0 on the analysis scale) is always in view
        lo_d, hi_d = (float(v) for v in style.to_reported([lo, hi], measure))
        shown = [float(t) for t in thresholds if t != style.null_value(measure)]
        lo_d, hi_d = min([lo_d, *shown]), max([hi_d, *shown])  # and so is every requested threshold
        style.ratio_axis(ax, measure, lo_d, hi_d)
        ax.axvline(style.null_value(measure), color=style.NULL_LINE, lw=0.8)
        for t in shown:
            ax.axvline(t, color=style.THRESHOLD, lw=0.8, ls=":")
        ax.set_yticks(positions)
        ax.set_yticklabels(labels)
        ax.set_ylim(-0.7, n_rows - 0.3)
        ax.tick_params(axis="y", length=0)
        pct = f"{100 * level:g}%"
        ax.set_xlabel(f"{measure} ({pct} intervals; log scale)" if style.is_ratio(measure) else measure)
        ax.plot([], [], "s-", color=style.OBSERVED, ms=4, lw=1, label="observed")
        ax.plot([], [], "o-", color=style.BAYES, ms=4, lw=1, label="shrunken (posterior)")
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, frameon=False, borderaxespad=0.2)
        if favours:
            # a fixed drop below the axes (tick labels and the axis label take about 32 points), not a share of
            # its height, which on a short forest put the labels across the axis label
            trans = offset_copy(blended_transform_factory(ax.transData, ax.transAxes), fig=fig, y=-FAVOURS_DROP,
                                units="points")
            ax.text(style.null_value(measure), 0.0, f"\u2190 {favours[0]}   ", transform=trans, ha="right",
                    va="top", fontsize=style.FONT_SIZE - 1)
            ax.text(style.null_value(measure), 0.0, f"   {favours[1]} \u2192", transform=trans, ha="left",
                    va="top", fontsize=style.FONT_SIZE - 1)
        ax_text.set_title(f"estimate [{pct} interval]", loc="left", fontsize=style.FONT_SIZE, y=style.TITLE_Y)
        if title:
            fig.suptitle(title)
    return fig
