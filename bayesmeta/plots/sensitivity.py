"""Sensitivity figures: the prior grid as a forest, the power-scaling sensitivities, and leave-one-study-out
influence.

Draws from tables computed by :mod:`bayesmeta.sensitivity` and :mod:`bayesmeta.influence`; no statistics are
computed here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bayesmeta.plots.style import (
    BAYES,
    LEVELS,
    NULL_LINE,
    PREDICTIVE,
    RC,
    THRESHOLD,
    TITLE_Y,
    WIDTH,
    null_value,
    ratio_axis,
)


def _require(table: pd.DataFrame, columns: Sequence[str], source: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"the table lacks column(s) {', '.join(missing)} (see {source})")


def _margin_note(ax: Axes, text: str, row: float, va: str = "center") -> None:
    """Write ``text`` in the right margin of ``ax``, level with ``row`` (data coordinates)."""
    ax.annotate(
        text,
        (1.0, row),
        xycoords=("axes fraction", "data"),
        xytext=(6, 0),
        textcoords="offset points",
        va=va,
        fontsize=RC["font.size"] - 1,
    )


def plot_prior_grid(
    table: pd.DataFrame,
    *,
    measure: str = "HR",
    lines: Sequence[float] = (0.7, 1.0),
    probability_column: str | None = None,
    title: str | None = None,
) -> Figure:
    """Forest of the pooled effect under each prior: median and credible interval (dark), predictive interval
    (light), vertical lines at ``lines`` (e.g. 0.7 and 1), one colour per prior set. The right margin shows
    ``probability_column`` (default: the last ``prob_*`` column, the most demanding threshold of the default
    order) for each row.

    ``table``: :func:`bayesmeta.sensitivity.prior_grid`.
    """
    _require(table, ("prior_set", "tau_prior", "median", "ci_lower", "ci_upper"), "bayesmeta.sensitivity.prior_grid")
    prob_cols = [c for c in table.columns if str(c).startswith("prob_")]
    pcol = probability_column or (prob_cols[-1] if prob_cols else None)
    n = len(table)
    sets = list(dict.fromkeys(table["prior_set"]))
    palette = [c for c in LEVELS if c not in (THRESHOLD, PREDICTIVE)]
    colour = {s: palette[i % len(palette)] for i, s in enumerate(sets)}
    with mpl.rc_context(RC):
        fig = Figure(figsize=(WIDTH, 1.0 + 0.26 * n), layout="tight")
        ax = fig.subplots()
        rows = np.arange(n)[::-1].astype(float)
        med = table["median"].to_numpy(float)
        lo = table["ci_lower"].to_numpy(float)
        hi = table["ci_upper"].to_numpy(float)
        limits = [lo.min(), hi.max(), *lines]
        if {"pred_lower", "pred_upper"} <= set(table.columns):
            plo = table["pred_lower"].to_numpy(float)
            phi = table["pred_upper"].to_numpy(float)
            ax.hlines(rows, plo, phi, color=PREDICTIVE, lw=1.0, label="predictive interval")
            limits += [plo.min(), phi.max()]
        for s in sets:
            sel = (table["prior_set"] == s).to_numpy()
            ax.hlines(rows[sel], lo[sel], hi[sel], color=colour[s], lw=2.4)
            ax.plot(med[sel], rows[sel], "o", color=colour[s], ms=4)
        for v in lines:
            ax.axvline(v, color=NULL_LINE if v == null_value(measure) else THRESHOLD, lw=0.9, ls="--")
        labels = [f"{s}: tau ~ {t}" for s, t in zip(table["prior_set"], table["tau_prior"])]
        ax.set_yticks(rows)
        ax.set_yticklabels(labels)
        ax.set_ylim(-0.7, n - 0.3)
        ratio_axis(ax, measure, float(min(limits)), float(max(limits)))
        ax.set_xlabel(f"pooled {measure}: median and credible interval" if measure else "pooled effect")
        if pcol is not None:
            values = table[pcol].to_numpy(float)
            for r, v in zip(rows, values):
                _margin_note(ax, f"{v:.3f}", r)
            _margin_note(ax, pcol.replace("prob_", "P ").replace("_", " "), n - 0.4, va="bottom")
        if {"pred_lower", "pred_upper"} <= set(table.columns):
            ax.legend(loc="lower left", frameon=False, bbox_to_anchor=(0.0, 1.0))
        if title:
            ax.set_title(title, loc="right", pad=22, y=TITLE_Y)  # above the legend row, so a long title clears it
    return fig


def plot_power_scaling(table: pd.DataFrame, *, threshold: float = 0.05, title: str | None = None) -> Figure:
    """Prior and likelihood power-scaling sensitivity per parameter (points), with the threshold line; the
    diagnosis is written beside each parameter. ``table``: :func:`bayesmeta.sensitivity.power_scaling`."""
    _require(table, ("parameter", "prior", "likelihood", "diagnosis"), "bayesmeta.sensitivity.power_scaling")
    n = len(table)
    with mpl.rc_context(RC):
        fig = Figure(figsize=(WIDTH * 0.75, 0.9 + 0.45 * n), layout="tight")
        ax = fig.subplots()
        rows = np.arange(n)[::-1].astype(float)
        ax.plot(table["prior"].to_numpy(float), rows + 0.1, "o", color=BAYES, label="prior")
        ax.plot(table["likelihood"].to_numpy(float), rows - 0.1, "s", color=LEVELS[1], label="likelihood")
        ax.axvline(threshold, color=THRESHOLD, lw=0.9, ls="--")
        ax.set_yticks(rows)
        ax.set_yticklabels([str(p) for p in table["parameter"]])
        top = max(float(np.nanmax(table[["prior", "likelihood"]].to_numpy(float))), threshold) * 1.15
        ax.set_xlim(0, top)
        ax.set_ylim(-0.6, n - 0.4)
        for r, d in zip(rows, table["diagnosis"]):
            if d != "-":
                _margin_note(ax, str(d), r)
        ax.set_xlabel("power-scaling sensitivity (CJS distance per log2 alpha)")
        ax.legend(loc="lower right", frameon=False, ncol=2, bbox_to_anchor=(1.0, 1.0))
        if title:
            ax.set_title(title, loc="left", y=TITLE_Y)
    return fig


def plot_influence(
    table: pd.DataFrame,
    full: Mapping[str, float],
    *,
    measure: str = "HR",
    lines: Sequence[float] = (0.7, 1.0),
    title: str | None = None,
) -> Figure:
    """Pooled effect with each study left out (median and interval per omitted study) against the full
    posterior (shaded band and dotted median); the study whose omission moves the posterior most (largest
    ``kl`` if present) is drawn in the accent colour. Vertical lines at ``lines`` (reported scale): the null
    dashed, the other thresholds dotted in the threshold colour.

    ``table``: :func:`bayesmeta.influence.leave_one_out` (index omitted study); ``full``: its ``attrs['full']``
    (keys median, ci_lower, ci_upper).
    """
    _require(table, ("median", "ci_lower", "ci_upper"), "bayesmeta.influence.leave_one_out")
    n = len(table)
    top = int(np.nanargmax(table["kl"].to_numpy(float))) if "kl" in table.columns else -1
    with mpl.rc_context(RC):
        fig = Figure(figsize=(WIDTH, 1.2 + 0.3 * n), layout="tight")
        ax = fig.subplots()
        rows = np.arange(n)[::-1].astype(float)
        ax.axvspan(full["ci_lower"], full["ci_upper"], color=PREDICTIVE, alpha=0.25, lw=0, label="all studies")
        ax.axvline(full["median"], color=BAYES, lw=0.9, ls=":")
        lo = table["ci_lower"].to_numpy(float)
        hi = table["ci_upper"].to_numpy(float)
        med = table["median"].to_numpy(float)
        colours = [THRESHOLD if i == top else BAYES for i in range(n)]
        for i in range(n):
            ax.hlines(rows[i], lo[i], hi[i], color=colours[i], lw=2.2)
            ax.plot(med[i], rows[i], "o", color=colours[i], ms=4)
        for v in lines:
            is_null = v == null_value(measure)
            ax.axvline(v, color=NULL_LINE if is_null else THRESHOLD, lw=0.8, ls="--" if is_null else ":")
        ax.set_yticks(rows)
        ax.set_yticklabels([f"without {s}" for s in table.index])
        ax.set_ylim(-0.7, n - 0.3)
        ratio_axis(
            ax, measure, float(min(lo.min(), full["ci_lower"], *lines)), float(max(hi.max(), full["ci_upper"], *lines))
        )
        ax.set_xlabel(f"pooled {measure} (median and credible interval)" if measure else "pooled effect")
        ax.legend(loc="lower right", frameon=False, bbox_to_anchor=(1.0, 1.0))
        if title:
            ax.set_title(title, loc="left", y=TITLE_Y)
    return fig
