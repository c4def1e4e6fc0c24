"""Reinterpretation figure: every published ratio with its CI beside its posterior under each reference prior.

Draws the table of :func:`bayesmeta.reinterpret.reinterpret_published` (Zampieri et al. 2021); no statistics are
computed here. One panel per group of published rows (the pooled estimates of all outcomes, then each outcome's
regimen, subgroup and prognostic-factor rows); within a panel one band per published row: the published estimate
and CI (black square), then the posterior median and credible interval under each prior, on a log ratio axis with
lines at 1 and at the MCID. The right margin gives P(ratio < 1) (P(ratio > 1) for rows where benefit is above 1)
under the skeptical prior.
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bayesmeta.benefit import Benefit
from bayesmeta.plots.style import (FONT_SIZE, LEVELS, NULL_LINE, OBSERVED, RC, THRESHOLD, TITLE_Y, WIDTH,
                                    ratio_axis)

REQUIRED = ("prior", "outcome", "analysis", "variable", "level", "measure", "row", "benefit", "mcid", "estimate",
            "ci_lower", "ci_upper", "median", "post_ci_lower", "post_ci_upper", "p_benefit", "status")
PRIOR_COLOURS = {"skeptical": LEVELS[0], "enthusiastic": LEVELS[2], "pessimistic": LEVELS[4], "vague": LEVELS[1],
                 "flat": LEVELS[3]}
ACROSS_OUTCOMES = ("pooled", "regimen")
ANALYSIS_TITLES = {"pooled": "Pooled estimates", "regimen": "By regimen", "subgroup": "subgroups",
                   "prognostic_factor": "prognostic factors"}
ROW_HEIGHT = 0.30  # inches per published row
PANEL_EXTRA = 0.55  # inches per panel for its title and x axis


def reinterpretation_panels(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The published rows (one line per row, the first prior's) grouped into panels: the pooled rows of all
    outcomes, the regimen rows of all outcomes, then one panel per outcome and other analysis, in table order."""
    first = table.drop_duplicates("row").copy()
    across = first["analysis"].isin(ACROSS_OUTCOMES).to_numpy()
    key = np.where(across, first["analysis"].astype(str),
                   first["outcome"].astype(str) + "|" + first["analysis"].astype(str))
    panels = []
    for k in dict.fromkeys(key):
        if k in ACROSS_OUTCOMES:
            title = ANALYSIS_TITLES[k]
        else:
            outcome, analysis = k.split("|", 1)
            title = f"{outcome}: {ANALYSIS_TITLES.get(analysis, analysis.replace('_', ' '))}"
        panels.append((title, first[key == k]))
    return panels


def row_label(r: pd.Series) -> str:
    """The y-axis label of one published row (prefixed with the outcome in panels across outcomes)."""
    variable, level = str(r["variable"]), str(r["level"])
    if r["analysis"] == "pooled":
        return f"{r['outcome']} ({r['measure']})"
    if r["analysis"] == "regimen" or variable in ("", "all", "nan"):
        label = level
    elif level in ("", "nan", "all"):
        label = variable
    else:
        label = f"{variable}: {level}"
    return f"{r['outcome']}: {label}" if r["analysis"] in ACROSS_OUTCOMES else label


def _sign(benefit: str) -> str:
    return Benefit.parse(benefit).sign


def plot_reinterpretation(table: pd.DataFrame, *, probability_prior: str = "skeptical",
                          title: str | None = None) -> Figure:
    """The reinterpretation figure (see the module docstring).

    ``table``: :func:`bayesmeta.reinterpret.reinterpret_published` (long: one line per row and prior). Each
    interval is one Line2D whose x data are (post_ci_lower, median, post_ci_upper) and whose gid is
    ``'<row>:<prior>'`` (the published CI: ``'<row>:published'`` with (ci_lower, estimate, ci_upper)); rows the
    table skipped are listed with their reason. ``probability_prior``: the prior whose P(benefit) is printed (the first prior of the
    table if it is absent).
    """
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise ValueError(f"the table lacks column(s) {', '.join(missing)} "
                         f"(see bayesmeta.reinterpret.reinterpret_published)")
    if table.empty:
        raise ValueError("the reinterpretation table is empty")
    priors = list(dict.fromkeys(table["prior"]))
    shown = probability_prior if probability_prior in priors else priors[0]
    by_key = table.set_index(["row", "prior"]).to_dict("index")  # a dict: one look-up per interval drawn
    panels = reinterpretation_panels(table)
    ok = table[table["status"] == "ok"]
    columns = ("post_ci_lower", "post_ci_upper", "ci_lower", "ci_upper")
    values = np.concatenate([ok[c].to_numpy(float) for c in columns] +
                            [ok["mcid"].to_numpy(float), [1.0]])
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    series = ["published", *priors]
    offsets = np.linspace(0.34, -0.34, len(series)) if len(series) > 1 else np.zeros(1)
    colours = {"published": OBSERVED, **{p: PRIOR_COLOURS.get(p, LEVELS[(i + 3) % len(LEVELS)])
                                        for i, p in enumerate(priors)}}
    small = FONT_SIZE - 2
    heights = [ROW_HEIGHT * len(rows) + PANEL_EXTRA for _, rows in panels]
    with mpl.rc_context({**RC, "ytick.labelsize": small, "xtick.labelsize": small, "axes.titlesize": FONT_SIZE}):
        fig = Figure(figsize=(WIDTH, sum(heights) + 0.8), layout="constrained")
        axes = fig.subplots(len(panels), 1, squeeze=False, gridspec_kw={"height_ratios": heights}).ravel()
        for ax, (panel_title, rows) in zip(axes, panels):
            n = len(rows)
            centres = np.arange(n)[::-1].astype(float)
            for centre, (_, r) in zip(centres, rows.iterrows()):
                row = r["row"]
                if r["status"] != "ok":
                    ax.annotate(f"not reinterpreted: {r['reason']}", (lo, centre), fontsize=small, va="center",
                                color=NULL_LINE, annotation_clip=False)
                    continue
                for offset, name in zip(offsets, series):
                    if name == "published":
                        x = [r["ci_lower"], r["estimate"], r["ci_upper"]]
                        marker, size = "s", 3.2
                    else:
                        s = by_key[(row, name)]
                        x = [s["post_ci_lower"], s["median"], s["post_ci_upper"]]
                        marker, size = "o", 2.8
                    ax.add_line(Line2D(np.asarray(x, float), np.full(3, centre + offset), color=colours[name],
                                       lw=1.2, marker=marker, ms=size, markevery=[1], gid=f"{row}:{name}",
                                       solid_capstyle="butt"))
                p = by_key[(row, shown)]
                ax.annotate(f"P({r['measure']} {_sign(r['benefit'])} 1) = {p['p_benefit']:.3f}",
                            (1.0, centre), xycoords=("axes fraction", "data"), xytext=(6, 0),
                            textcoords="offset points", va="center", fontsize=small, gid=f"{row}:p_benefit")
            ax.axvline(1.0, color=NULL_LINE, lw=0.8, ls="--")
            for m in sorted(set(rows.loc[rows["status"] == "ok", "mcid"].astype(float))):
                ax.axvline(m, color=THRESHOLD, lw=0.8, ls=":")
            for centre in centres[:-1]:
                ax.axhline(centre - 0.5, color="#e4e4e4", lw=0.5)
            ax.set_yticks(centres)
            ax.set_yticklabels([row_label(r) for _, r in rows.iterrows()])
            ax.tick_params(axis="y", length=0)
            ax.set_ylim(-0.55, n - 0.45)
            ratio_axis(ax, str(r["measure"]), lo, hi)
            ax.set_title(panel_title, loc="left", fontweight="bold", y=TITLE_Y)
        axes[-1].set_xlabel("ratio (log scale): published estimate and CI; posterior median and credible interval")
        handles = [Line2D([], [], color=colours[s], lw=1.2, marker="s" if s == "published" else "o", ms=3.5,
                          label="published CI" if s == "published" else f"{s} prior") for s in series]
        handles += [Line2D([], [], color=THRESHOLD, lw=0.8, ls=":", label="MCID")]
        axes[0].legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.12), ncol=len(handles),
                       frameon=False, fontsize=small, handlelength=1.6, columnspacing=1.0)
        axes[0].annotate(f"{shown} prior:", (1.0, 1.0), xycoords="axes fraction", xytext=(6, 2),
                         textcoords="offset points", va="bottom", fontsize=small, fontweight="bold")
        if title:
            fig.suptitle(title, x=0.01, ha="left")
    return fig


def reinterpretation_lines(fig: Figure) -> dict[str, np.ndarray]:
    """The x data of every interval the figure draws, keyed by its gid ('<row>:<prior>' or '<row>:published')."""
    return {line.get_gid(): np.asarray(line.get_xdata(), float) for ax in fig.axes for line in ax.get_lines()
            if line.get_gid()}
