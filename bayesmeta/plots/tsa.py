"""Trial sequential analysis chart: the cumulative Z-curve against the information accrued, with the monitoring
boundaries, the futility wedge, the conventional +-z_{1-alpha/sides} lines and the required information size (as
the TSA program draws it; Wetterslev et al. 2008). This module only draws a :class:`bayesmeta.tsa.TSAResult`."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure
from scipy import stats

from bayesmeta.plots import style


def plot_tsa(result: Any, title: str | None = None) -> Figure:
    """The Z-curve of ``result`` (a TSAResult) over the accrued information (participants or events), its
    efficacy boundaries over the whole design (up to the RIS), the futility boundary where there is one (two-sided:
    the inner futility region between -f_k and f_k, shaded, labelled with its rule and whether it binds), the
    conventional boundaries and the RIS as a vertical line."""
    b = result.boundaries
    ris = float(result.ris_rounded)
    curve = result.curve
    conventional = float(stats.norm.isf(result.alpha / result.sides))
    with rc_context(style.RC):
        fig = Figure(figsize=(style.WIDTH, 4.2), layout="constrained")
        ax = fig.add_subplot()
        x = np.concatenate([[0.0], curve["n_cumulative"].to_numpy(float)])
        z = np.concatenate([[0.0], curve["z"].to_numpy(float)])
        ax.plot(x, z, color=style.OBSERVED, marker="o", ms=3, lw=1.2, label="cumulative Z")
        info = b.fractions * ris
        finite = np.isfinite(b.efficacy)
        ax.plot(info[finite], b.efficacy[finite], color=style.PUBLISHED, lw=1.2, label="monitoring boundary")
        if result.sides == 2:
            ax.plot(info[finite], -b.efficacy[finite], color=style.PUBLISHED, lw=1.2)
        wedge = None if b.futility is None else (
            np.isfinite(b.futility) & (b.futility > 0) if result.sides == 2 else np.isfinite(b.futility))
        if wedge is not None and wedge.sum() >= 2:  # one point draws no line: no legend entry for it
            kind = getattr(result, "futility", "non-binding")
            if result.sides == 2:
                # the inner region -f_k < Z < f_k where the trial stops for futility, shaded between its bounds
                rule = getattr(b, "futility_rule", None) or "rtsa"
                ax.plot(info[wedge], b.futility[wedge], color=style.BAYES, lw=1.0, ls="--",
                        label=f"futility region ({rule}, {kind})")
                ax.plot(info[wedge], -b.futility[wedge], color=style.BAYES, lw=1.0, ls="--", label="_futility lower")
                ax.fill_between(info[wedge], -b.futility[wedge], b.futility[wedge], color=style.BAYES, alpha=0.12,
                                lw=0, label="_futility region")
            else:
                ax.plot(info[wedge], b.futility[wedge], color=style.BAYES, lw=1.0, ls="--",
                        label=f"futility ({kind})")
        for sign in ((1, -1) if result.sides == 2 else (1,)):
            ax.axhline(sign * conventional, color=style.NULL_LINE, lw=0.7, ls=":")
        ax.axhline(0.0, color=style.NULL_LINE, lw=0.5)
        ax.axvline(ris, color=style.THRESHOLD, lw=0.9, ls="-.", label=f"RIS {result.ris_rounded:,} {result.unit}")
        top = np.nanmax(np.abs(np.concatenate([z, b.efficacy[finite][-3:], [conventional]]))) * 1.15
        ax.set_ylim(-top if result.sides == 2 else min(-1.0, np.nanmin(z) * 1.15), top)
        ax.set_xlim(0.0, max(ris, float(x[-1])) * 1.05)
        ax.set_xlabel(f"cumulative {result.unit}")
        ax.set_ylabel("cumulative Z")
        ax.legend(loc="best", frameon=False)
        ax.set_title(title or f"Trial sequential analysis ({result.measure} {result.effect:g})")
    return fig
