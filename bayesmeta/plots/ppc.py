"""Posterior predictive check figures: observed effects against their predictive intervals, the LOO-PIT ECDF,
and the realised-discrepancy scatter.

Draws from tables computed by :mod:`bayesmeta.ppc`; no statistics are computed here.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bayesmeta.plots.style import (
    BAYES,
    NULL_LINE,
    OBSERVED,
    PREDICTIVE,
    RC,
    THRESHOLD,
    TITLE_Y,
    WIDTH,
    null_value,
    ratio_axis,
    to_reported,
)


def plot_predictive_intervals(table: pd.DataFrame, *, measure: str = "HR", title: str | None = None) -> Figure:
    """One row per study: the observed effect (dot) against its posterior predictive interval (dark bar) and,
    when the table has them, its leave-one-out predictive interval (light bar), on the display scale.

    ``table``: :func:`bayesmeta.ppc.study_predictive_pvalues` (index study; columns yi, pred_lower, pred_upper,
    optionally loo_lower, loo_upper and loo_p_two_sided).
    """
    for col in ("yi", "pred_lower", "pred_upper"):
        if col not in table.columns:
            raise ValueError(f"the table lacks column {col!r} (see bayesmeta.ppc.study_predictive_pvalues)")
    studies = [str(s) for s in table.index]
    k = len(studies)
    has_loo = {"loo_lower", "loo_upper"} <= set(table.columns)
    with mpl.rc_context(RC):
        fig = Figure(figsize=(WIDTH, 1.2 + 0.32 * k), layout="tight")
        ax = fig.subplots()
        rows = np.arange(k)[::-1].astype(float)
        y = to_reported(table["yi"].to_numpy(float), measure)
        lo = to_reported(table["pred_lower"].to_numpy(float), measure)
        hi = to_reported(table["pred_upper"].to_numpy(float), measure)
        ax.hlines(rows + (0.12 if has_loo else 0.0), lo, hi, color=BAYES, lw=2.2, label="posterior predictive")
        limits = [lo.min(), hi.max(), y.min(), y.max(), null_value(measure)]  # the null line always in view
        if has_loo:
            llo = to_reported(table["loo_lower"].to_numpy(float), measure)
            lhi = to_reported(table["loo_upper"].to_numpy(float), measure)
            ax.hlines(rows - 0.12, llo, lhi, color=PREDICTIVE, lw=2.2, label="leave-one-out predictive")
            limits += [llo.min(), lhi.max()]
        ax.plot(y, rows, "o", color=OBSERVED, ms=4.5, zorder=3, label="observed")
        ax.axvline(null_value(measure), color=NULL_LINE, lw=0.8, ls="--")
        ax.set_yticks(rows)
        labels = studies
        if "loo_p_two_sided" in table.columns:
            labels = [f"{s}  (p = {p:.2f})" for s, p in zip(studies, table["loo_p_two_sided"].to_numpy(float))]
        ax.set_yticklabels(labels)
        ax.set_ylim(-0.7, k - 0.3)
        ratio_axis(ax, measure, float(min(limits)), float(max(limits)))
        ax.set_xlabel(f"{measure} (study estimate)" if measure else "effect")
        ax.legend(loc="lower right", frameon=False, ncol=3 if has_loo else 2, bbox_to_anchor=(1.0, 1.0))
        if title:
            ax.set_title(title, loc="left", pad=22, y=TITLE_Y)  # above the legend row, which it overlapped
    return fig


def plot_loo_pit(
    pit: Sequence[float] | np.ndarray,
    *,
    band: pd.DataFrame | None = None,
    title: str | None = None,
) -> Figure:
    """ECDF of the LOO-PIT values against the uniform CDF (the diagonal), with a pointwise band for the ECDF of
    that many uniform values when ``band`` (:func:`bayesmeta.ppc.uniform_ecdf_band`) is given. A well-calibrated
    model keeps the ECDF near the diagonal; an S shape means the predictive intervals are too wide or too narrow.
    """
    values = np.sort(np.asarray(pit, dtype=float))
    if values.size == 0 or np.any(~np.isfinite(values)):
        raise ValueError("pit must be a non-empty array of finite values")
    n = values.size
    with mpl.rc_context(RC):
        fig = Figure(figsize=(WIDTH * 0.5, WIDTH * 0.45), layout="tight")
        ax = fig.subplots()
        if band is not None:
            ax.fill_between(
                band["u"],
                band["ci_lower"],
                band["ci_upper"],
                step="post",
                color=PREDICTIVE,
                alpha=0.3,
                lw=0,
                label="uniform ECDF band",
            )
        ax.plot([0, 1], [0, 1], color=NULL_LINE, lw=0.8, ls="--", label="uniform")
        ax.step(
            np.concatenate([[0.0], values, [1.0]]),
            np.concatenate([[0.0], np.arange(1, n + 1) / n, [1.0]]),
            where="post",
            color=BAYES,
            lw=1.6,
            label="LOO-PIT ECDF",
        )
        ax.plot(values, np.zeros_like(values), "|", color=OBSERVED, ms=8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("LOO-PIT value")
        ax.set_ylabel("ECDF")
        ax.legend(loc="upper left", frameon=False)
        if title:
            ax.set_title(title, loc="left")
    return fig


def plot_q_discrepancy(t_obs: np.ndarray, t_rep: np.ndarray, ppp: float, *, title: str | None = None) -> Figure:
    """Realised discrepancy T(y, mu) against the replicated T(y_rep, mu), one point per posterior draw (Gelman
    et al. 2013, BDA3 fig. 6.4 style); the posterior predictive p-value is the share of points above the line."""
    obs = np.asarray(t_obs, dtype=float)
    rep = np.asarray(t_rep, dtype=float)
    if obs.shape != rep.shape or obs.size == 0:
        raise ValueError("t_obs and t_rep must be non-empty arrays of the same shape")
    with mpl.rc_context(RC):
        fig = Figure(figsize=(WIDTH * 0.5, WIDTH * 0.45), layout="tight")
        ax = fig.subplots()
        ax.plot(obs, rep, ".", color=BAYES, ms=2, alpha=0.35)
        top = float(np.quantile(np.concatenate([obs, rep]), 0.995))
        ax.plot([0, top], [0, top], color=THRESHOLD, lw=1.0)
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel("T(y, mu) observed")
        ax.set_ylabel("T(y_rep, mu) replicated")
        ax.text(0.04, 0.96, f"ppp = {ppp:.3f}", transform=ax.transAxes, va="top")
        if title:
            ax.set_title(title, loc="left")
    return fig
