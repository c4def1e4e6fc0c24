"""Shared look of the report figures: colours, sizes and the ratio axis.

Colours are the Okabe-Ito palette (Okabe & Ito 2008), readable with the common colour-vision deficiencies.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from bayesmeta.scales import is_ratio, null_value, to_reported

OBSERVED = "#000000"
BAYES = "#0072B2"
PREDICTIVE = "#56B4E9"
FREQUENTIST = "#E69F00"
PUBLISHED = "#D55E00"
THRESHOLD = "#CC79A7"
NULL_LINE = "#555555"
NOTE_BOX = {"boxstyle": "round", "fc": "white", "ec": "#cccccc", "alpha": 0.9}
"""The box behind a figure's notes (test results, caveats)."""
LEVELS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9")

TITLE_Y = 1.0
"""Height of an axes title over an axis of categories (study labels): given, so matplotlib does not measure every
tick label again at each layout pass and draw to look for the y-axis offset text (such an axis has none); the
title sits where matplotlib's automatic placement puts it then."""

FONT_SIZE = 9
WIDTH = 8.0  # inches; every report figure shares the width so they line up on the page

RC = {
    "font.size": FONT_SIZE,
    "axes.titlesize": FONT_SIZE + 1,
    "axes.labelsize": FONT_SIZE,
    "legend.fontsize": FONT_SIZE - 1,
    "xtick.labelsize": FONT_SIZE - 1,
    "ytick.labelsize": FONT_SIZE - 1,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "none",
}

PAD = 0.04  # share of an axis span left free beyond the data on each side
_DECADES = tuple(10.0 ** e for e in range(-4, 5))
_TICK_RANKS = ((1.0,), (2.0, 5.0), (3.0,), (1.5, 7.0))
"""Tick mantissas in order of preference: powers of 10, then 2 and 5, then 3, then 1.5 and 7 (0.7, 1.5 and 3
are the values a clinical reader looks for near the null)."""
MAX_RATIO_TICKS = 9
"""Ticks a ratio axis holds at most: consecutive ticks are at least 1/9 of the axis's log span apart, so their
labels do not run into each other on a narrow forest."""


def ratio_ticks(lo: float, hi: float) -> list[float]:
    """Readable ratio tick values covering [lo, hi] (ratio scale), always including 1: powers of 10 first, then
    2 and 5, 3, 1.5 and 7 of each decade, each kept only when it lies at least 1/:data:`MAX_RATIO_TICKS` of the
    axis's log span from every tick already chosen."""
    lo, hi = min(lo, 1.0), max(hi, 1.0)
    span = math.log(hi) - math.log(lo)
    gap = span / MAX_RATIO_TICKS
    ticks = [1.0]
    for rank in _TICK_RANKS:
        for m in rank:
            for d in _DECADES:
                t = float(f"{m * d:.6g}")
                if lo * 0.95 <= t <= hi * 1.05 and all(abs(math.log(t) - math.log(u)) >= gap * 0.999 for u in ticks):
                    ticks.append(t)
    if len(ticks) < 3:
        ticks = sorted(set(ticks) | {round(lo, 2), round(hi, 2)})
    return sorted(ticks)


def ratio_axis(ax: Axes, measure: str, lo: float, hi: float, axis: str = "x") -> None:
    """Put a log-scaled ratio axis on ``ax`` between ``lo`` and ``hi`` (ratio scale) with plain tick labels; a
    linear axis for a difference measure. Either way the limits leave a margin of ``PAD`` of the span on each
    side, so no marker sits on the frame."""
    set_scale = ax.set_xscale if axis == "x" else ax.set_yscale
    set_lim = ax.set_xlim if axis == "x" else ax.set_ylim
    target = ax.xaxis if axis == "x" else ax.yaxis
    if not is_ratio(measure):
        pad = (hi - lo) * PAD
        set_lim(lo - pad, hi + pad)
        return
    set_scale("log")
    pad = (np.log(hi) - np.log(lo)) * PAD
    set_lim(float(np.exp(np.log(lo) - pad)), float(np.exp(np.log(hi) + pad)))
    target.set_major_locator(FixedLocator(ratio_ticks(lo, hi)))
    target.set_minor_locator(NullLocator())
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


__all__ = ["is_ratio", "null_value", "to_reported"]  # the scale logic lives in bayesmeta.scales
