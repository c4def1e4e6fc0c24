"""Shared look of the report figures: colours, sizes and the ratio axis.

Colours are the Okabe-Ito palette (Okabe & Ito 2008), readable with the common colour-vision deficiencies.
"""

from __future__ import annotations

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
_NICE = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0)


def ratio_ticks(lo: float, hi: float) -> list[float]:
    """Readable ratio tick values covering [lo, hi] (ratio scale), always including 1."""
    ticks = [t for t in _NICE if lo * 0.95 <= t <= hi * 1.05]
    if 1.0 not in ticks:
        ticks.append(1.0)
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
