"""Funnel plot: study estimates against their standard errors (inverted axis), with the pooled estimate and the
pseudo-confidence region estimate +- z * SE (Sterne & Egger 2001, J Clin Epidemiol 54:1046), and the Egger
test result printed in the panel. Optional overlays: the PET and PEESE fitted lines (effect = b0 + b1 SE and
b0 + b1 SE^2; Stanley & Doucouliagos 2014), trim-and-fill's filled studies (Duval & Tweedie 2000) as open
markers, and any curves of expected estimate against standard error (:class:`FunnelCurve`, e.g. the Bayesian
ensemble's posterior mean PET, PEESE and selection-model curves of :mod:`bayesmeta.bias.curves`).

The pooled estimate and Egger's test come from :mod:`bayesmeta.frequentist`; this module only draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure
from scipy import stats

from bayesmeta.plots import style


@dataclass(frozen=True)
class FunnelCurve:
    """A curve to overlay: the expected estimate ``effect`` (analysis scale) at each standard error in ``se``."""

    label: str
    se: Sequence[float]
    effect: Sequence[float]
    color: str = style.BAYES
    linestyle: str = "-"


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
    pet: tuple[float, float] | None = None,
    peese: tuple[float, float] | None = None,
    filled_yi: Sequence[float] = (),
    filled_sei: Sequence[float] = (),
    curves: Sequence[FunnelCurve] = (),
) -> Figure:
    """Funnel plot on the analysis scale shown as ratios; ``pooled`` is the (log) pooled estimate.

    ``pet`` and ``peese`` are (intercept, slope) of the PET and PEESE meta-regressions on the analysis scale
    (:func:`bayesmeta.frequentist.pet_peese`); ``filled_yi``/``filled_sei`` the studies trim-and-fill adds
    (:func:`bayesmeta.frequentist.trimfill`); ``curves`` further lines drawn as given (see :class:`FunnelCurve`).
    """
    y = np.asarray(yi, dtype=float)
    s = np.asarray(sei, dtype=float)
    fy = np.asarray(filled_yi, dtype=float)
    fs = np.asarray(filled_sei, dtype=float)
    if fy.shape != fs.shape:
        raise ValueError(f"{fy.size} filled effects but {fs.size} filled standard errors")
    with rc_context(style.RC):
        if ax is None:
            fig = Figure(figsize=(style.WIDTH / 2, 3.4), layout="constrained")
            ax = fig.add_subplot()
        else:
            fig = ax.figure
        z = stats.norm.ppf(0.5 + level / 2)
        s_max = max(float(np.concatenate([s, fs]).max()) * 1.1, 1e-6)
        se_line = np.linspace(0, s_max, 50)
        ax.plot(style.to_reported(pooled - z * se_line, measure), se_line, color="#999999", lw=0.8, ls="--")
        ax.plot(style.to_reported(pooled + z * se_line, measure), se_line, color="#999999", lw=0.8, ls="--",
                label=f"{100 * level:g}% pseudo-CI")
        ax.axvline(style.to_reported(pooled, measure), color=style.FREQUENTIST, lw=1.2, label="pooled (REML)")
        ax.axvline(style.null_value(measure), color=style.NULL_LINE, lw=0.6)
        ax.plot(style.to_reported(y, measure), s, "o", color=style.BAYES, ms=5, label="studies")
        if fy.size:
            ax.plot(style.to_reported(fy, measure), fs, "o", mfc="none", mec=style.BAYES, ms=5,
                    label=f"filled by trim-and-fill ({fy.size})")
        lines = []
        for name, coef, power, ls in (("PET", pet, 1, "-."), ("PEESE", peese, 2, ":")):
            if coef is not None:
                effect = coef[0] + coef[1] * se_line**power
                lines.append(effect)
                ax.plot(style.to_reported(effect, measure), se_line, color=style.FREQUENTIST, lw=1.0, ls=ls,
                        label=f"{name} line")
        for c in curves:
            effect = np.asarray(c.effect, dtype=float)
            lines.append(effect)
            ax.plot(style.to_reported(effect, measure), np.asarray(c.se, dtype=float), color=c.color, lw=1.3,
                    ls=c.linestyle, label=c.label)
        if labels is not None:
            for xi, si, lab in zip(style.to_reported(y, measure), s, labels):
                ax.annotate(str(lab), (xi, si), xytext=(3, 2), textcoords="offset points",
                            fontsize=style.FONT_SIZE - 2)
        ax.set_ylim(s_max, 0)
        edge = np.concatenate([y, fy, *lines, [pooled - z * s_max, pooled + z * s_max, 0.0]])
        style.ratio_axis(ax, measure, float(style.to_reported(edge.min(), measure)),
                         float(style.to_reported(edge.max(), measure)))
        ax.set_xlabel(f"{measure} (log scale)" if style.is_ratio(measure) else measure)
        ax.set_ylabel("standard error")
        if notes:
            ax.text(0.02, 0.02, "\n".join(notes), transform=ax.transAxes, fontsize=style.FONT_SIZE - 1,
                    va="bottom", bbox=style.NOTE_BOX)
        ax.legend(loc="upper right", frameon=False, fontsize=style.FONT_SIZE - 2)
        if title:
            ax.set_title(title)
    return fig
