"""Forest plot of a within-trial interaction: each trial's own difference between two levels of a characteristic
(d_i = y_i(level) - y_i(reference), with its interval) and their poolings, common effect, random effects (REML) and
Bayesian (Fisher, Carpenter, Morris, Freeman & Tierney 2017, BMJ 356:j573, Fig 2 draws the same rows).

Every number comes from the analysis (:class:`bayesmeta.interaction.WithinTrialInteraction`); this module only
draws them, on the reported scale (a ratio of ratios on a log axis for ratio measures).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure

from bayesmeta.plots import style

MAX_SQUARE = 9.0  # marker size (points) of the heaviest trial
MIN_SQUARE = 3.0


@dataclass
class InteractionPanel:
    """One interaction: ``trials`` with their ``d`` and ``v`` (analysis scale); ``pooled``: (label, estimate,
    ci_lower, ci_upper) rows on the analysis scale, drawn as diamonds below the trials in the order given;
    ``title``: the level against the reference; ``notes``: text lines for the panel's corner."""

    title: str
    trials: Sequence[str]
    d: Sequence[float]
    v: Sequence[float]
    pooled: Sequence[tuple[str, float, float, float]]
    notes: Sequence[str] = ()


def square_sizes(v: np.ndarray) -> np.ndarray:
    """Marker sizes whose areas are proportional to the weights 1 / v_i, the heaviest at :data:`MAX_SQUARE`."""
    weight = 1.0 / np.asarray(v, dtype=float)
    return np.maximum(MAX_SQUARE * np.sqrt(weight / weight.max()), MIN_SQUARE)


def plot_interactions(panels: Sequence[InteractionPanel], *, measure: str = "HR", level: float = 0.95,
                      title: str | None = None) -> Figure:
    """One panel per interaction: the trials' interactions (grey squares, area by weight, with their ``level``
    intervals d_i +- z sqrt(v_i)) and the pooled rows (diamonds with intervals), a line at no difference."""
    from scipy import stats

    if not panels:
        raise ValueError("no within-trial interaction to draw")
    z = float(stats.norm.ppf(0.5 + level / 2))
    with rc_context(style.RC):
        heights = [0.9 + 0.32 * (len(p.trials) + len(p.pooled) + 1) for p in panels]
        fig = Figure(figsize=(style.WIDTH, sum(heights) + 0.6), layout="constrained")
        axes = fig.subplots(len(panels), 1, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
        values = [0.0]
        for p in panels:
            d, sd = np.asarray(p.d, float), np.sqrt(np.asarray(p.v, float))
            values += list(d - z * sd) + list(d + z * sd) + [x for row in p.pooled for x in row[2:]]
        finite = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
        lo, hi = (float(x) for x in style.to_reported([finite.min(), finite.max()], measure))
        for ax, p in zip(axes, panels):
            d, sd = np.asarray(p.d, float), np.sqrt(np.asarray(p.v, float))
            sizes = square_sizes(np.asarray(p.v, float))
            ticks, labels, y_pos = [], [], 0.0
            for name, di, si, size in zip(p.trials, d, sd, sizes):
                y_pos -= 1
                ax.plot(style.to_reported([di - z * si, di + z * si], measure), [y_pos] * 2, color="#999999", lw=0.9)
                ax.plot(style.to_reported(di, measure), y_pos, "s", color="#777777", ms=float(size))
                ticks.append(y_pos)
                labels.append(str(name))
            y_pos -= 0.5
            for i, (label, estimate, ci_lower, ci_upper) in enumerate(p.pooled):
                y_pos -= 1
                colour = style.LEVELS[i % len(style.LEVELS)]
                ax.plot(style.to_reported([ci_lower, ci_upper], measure), [y_pos] * 2, color=colour, lw=2)
                ax.plot(style.to_reported(estimate, measure), y_pos, "D", color=colour, ms=7)
                ticks.append(y_pos)
                labels.append(label)
            ax.set_yticks(ticks)
            ax.set_yticklabels(labels)
            for tick in ax.get_yticklabels()[len(p.trials):]:
                tick.set_fontweight("bold")
            ax.set_ylim(y_pos - 0.7, 0.3)
            ax.tick_params(axis="y", length=0)
            style.ratio_axis(ax, measure, lo, hi)
            ax.axvline(style.null_value(measure), color=style.NULL_LINE, lw=0.8)
            ax.set_title(p.title, loc="left", y=style.TITLE_Y)
            if p.notes:
                ax.text(1.0, 1.02, "\n".join(p.notes), transform=ax.transAxes, ha="right", va="bottom",
                        fontsize=style.FONT_SIZE - 1)
        what = f"ratio of {measure}s, level / reference" if style.is_ratio(measure) else \
            f"difference in {measure}, level - reference"
        axes[-1].set_xlabel(f"{what} ({100 * level:g}% intervals" + ("; log scale)" if style.is_ratio(measure) else ")"))
        if title:
            fig.suptitle(title)
    return fig
