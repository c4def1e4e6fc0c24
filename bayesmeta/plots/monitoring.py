"""Sequential monitoring figure: the Bayesian posterior trajectory beside the TSA cumulative Z-curve.

Draws from tables computed elsewhere (:func:`bayesmeta.sequential.monitor` and the trial sequential analysis);
no statistics are computed here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure

from bayesmeta.scales import RATIO_MEASURES

_RATIO_TICKS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0)
_TSA_ALIASES = {
    "information_fraction": ("information_fraction", "fraction"),
    "z": ("z",),
    "upper": ("upper", "efficacy"),
    "lower": ("lower",),
    "futility": ("futility", "futility_upper"),
}


def _has_segment(values: np.ndarray) -> bool:
    """True when a line through ``values`` (NaN: a gap) draws at least one segment: two neighbours finite."""
    finite = np.isfinite(np.asarray(values, dtype=float))
    return bool(np.any(finite[:-1] & finite[1:]))


def _tsa_columns(tsa: pd.DataFrame | Mapping[str, Sequence[float]]) -> dict[str, np.ndarray]:
    """Pick the Z-curve columns out of a TSA table or a mapping of plain arrays (aliases allowed)."""
    frame = tsa if isinstance(tsa, pd.DataFrame) else pd.DataFrame({k: np.asarray(v) for k, v in tsa.items()})
    out: dict[str, np.ndarray] = {}
    for name, aliases in _TSA_ALIASES.items():
        for alias in aliases:
            if alias in frame.columns:
                out[name] = frame[alias].to_numpy(dtype=float)
                break
    missing = [c for c in ("information_fraction", "z", "upper") if c not in out]
    if missing:
        raise ValueError(
            f"TSA table lacks {', '.join(missing)}; it needs information_fraction (or fraction), z and upper "
            "(or efficacy) columns "
            f"(got {', '.join(map(str, frame.columns))})"
        )
    return out


def plot_monitoring(
    table: pd.DataFrame,
    *,
    measure: str = "HR",
    benefit_prob: float = 0.975,
    futility_prob: float | None = 0.1,
    tsa: pd.DataFrame | Mapping[str, Sequence[float]] | None = None,
    ris_label: str | None = None,
    boundary: pd.DataFrame | None = None,
    conventional_z: float = 1.959964,
    level: float = 0.95,
    title: str | None = None,
) -> Figure:
    """Posterior trajectory per look (median and interval of the pooled effect; the ``prob_*`` columns with the
    decision thresholds) and, when ``tsa`` is given, the TSA cumulative Z-curve against the information fraction
    with its monitoring boundaries, the conventional +-1.96 lines and the RIS at information fraction 1.

    ``table``: :attr:`bayesmeta.sequential.MonitoringResult.table` (columns look, study, median, ci_lower,
    ci_upper, prob_below_<t> / prob_above_<t>, decision). ``tsa``: the ``curve`` of a
    :class:`bayesmeta.tsa.TSAResult` (columns fraction, z, efficacy, futility), or any table or mapping of plain
    arrays with information_fraction (or fraction), z and upper (or efficacy) and optionally lower and futility
    (or futility_upper).
    Boundaries are drawn as in TSA: symmetric +-upper when no lower boundary is given, and the futility wedge
    +-futility (NaN where there is none). ``boundary`` (e.g. :meth:`bayesmeta.tsa.Boundaries.to_frame`: columns
    fraction, efficacy and optionally futility, up to the RIS) draws the boundaries over the whole information
    axis instead of only at the looks. ``level``: the level of the table's intervals
    (:attr:`bayesmeta.sequential.MonitoringResult.level`), for the legend.
    """
    fig = Figure(figsize=(12 if tsa is not None else 7, 7), layout="constrained")
    grid = fig.add_gridspec(2, 2 if tsa is not None else 1, height_ratios=(3, 2))
    ax_effect = fig.add_subplot(grid[0, 0])
    ax_prob = fig.add_subplot(grid[1, 0], sharex=ax_effect)

    looks = table["look"].to_numpy()
    ratio = measure in RATIO_MEASURES
    median = table["median"].to_numpy(dtype=float)
    lower = table["ci_lower"].to_numpy(dtype=float)
    upper = table["ci_upper"].to_numpy(dtype=float)
    ax_effect.fill_between(looks, lower, upper, color="tab:blue", alpha=0.2, step=None,
                           label=f"{100 * level:g}% credible interval")
    ax_effect.plot(looks, median, "o-", color="tab:blue", label="posterior median")
    if {"pred_lower", "pred_upper"} <= set(table.columns):
        ax_effect.plot(looks, table["pred_lower"], ":", color="tab:gray", label="predictive interval")
        ax_effect.plot(looks, table["pred_upper"], ":", color="tab:gray")
    ax_effect.axhline(1.0 if ratio else 0.0, color="black", lw=0.8)
    if ratio:
        ax_effect.set_yscale("log")
        low = np.nanmin(np.r_[lower, table.get("pred_lower", lower)])
        high = np.nanmax(np.r_[upper, table.get("pred_upper", upper)])
        ticks = [v for v in _RATIO_TICKS if low / 1.2 <= v <= high * 1.2] or [1.0]
        ax_effect.yaxis.set_major_locator(ticker.FixedLocator(ticks))
        ax_effect.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax_effect.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax_effect.tick_params(labelbottom=False)
    ax_effect.set_ylabel(f"pooled {measure}" if ratio else f"pooled effect ({measure})")
    stops = table.index[table["decision"] != "continue"] if "decision" in table.columns else []
    if len(stops):
        first = table.loc[stops[0]]
        ax_effect.axvline(first["look"], color="tab:red", ls="--", lw=1, label=f"first stop ({first['decision']})")
    ax_effect.legend(loc="best", fontsize="small")
    ax_effect.set_title("Sequential posterior monitoring")

    prob_cols = [c for c in table.columns if c.startswith(("prob_below_", "prob_above_"))]
    for col in prob_cols:
        side, value = col.split("_")[1], col.split("_", 2)[2]
        sign = "<" if side == "below" else ">"
        label = f"P({measure} {sign} {value})" if ratio else f"P(effect {sign} {value})"
        ax_prob.plot(looks, table[col], "o-", ms=4, label=label)
    ax_prob.axhline(benefit_prob, color="tab:green", ls="--", lw=1, label=f"benefit threshold {benefit_prob:g}")
    if futility_prob is not None:
        ax_prob.axhline(futility_prob, color="tab:red", ls="--", lw=1, label=f"futility threshold {futility_prob:g}")
    ax_prob.set_ylim(-0.02, 1.02)
    ax_prob.set_ylabel("posterior probability")
    ax_prob.set_xticks(looks)
    ax_prob.set_xticklabels(
        [f"{lk}: {s}" for lk, s in zip(looks, table["study"])] if "study" in table.columns else looks,
        rotation=60,
        ha="right",
        fontsize="small",
    )
    ax_prob.set_xlabel("look (study added)")
    ax_prob.legend(loc="best", fontsize="small")

    if tsa is not None:
        cols = _tsa_columns(tsa)
        ax_tsa = fig.add_subplot(grid[:, 1])
        frac = cols["information_fraction"]
        with_ris = bool(np.all(np.isfinite(frac)))
        x = frac if with_ris else np.arange(1, frac.size + 1)
        z = cols["z"]
        upper = np.where(np.isfinite(cols["upper"]), cols["upper"], np.nan)  # inf: no boundary at that look
        lower = np.where(np.isfinite(cols["lower"]), cols["lower"], np.nan) if "lower" in cols else -upper
        ax_tsa.plot(x, z, "o-", color="tab:blue", label="cumulative Z")
        futility = cols.get("futility")
        if boundary is not None and with_ris:
            x_b = boundary["fraction"].to_numpy(float)
            upper = np.where(np.isfinite(boundary["efficacy"]), boundary["efficacy"], np.nan)
            lower = -upper
            if "futility" in boundary.columns:  # TSA's inner wedge exists only where the boundary is positive
                raw = boundary["futility"].to_numpy(float)
                futility = np.where(raw > 0, raw, np.nan)
            else:
                futility = None
        else:
            x_b = x
        ax_tsa.plot(x_b, upper, ".-", color="tab:red", label="monitoring boundary")
        ax_tsa.plot(x_b, lower, ".-", color="tab:red")
        if futility is not None and _has_segment(futility):  # a lone finite value would draw no line
            ax_tsa.plot(x_b, futility, "-", color="tab:orange", label="futility wedge")
            ax_tsa.plot(x_b, -futility, "-", color="tab:orange")
        ax_tsa.axhline(
            conventional_z, color="tab:gray", ls="--", lw=1, label=f"conventional |Z| = {conventional_z:.2f}"
        )
        ax_tsa.axhline(-conventional_z, color="tab:gray", ls="--", lw=1)
        ax_tsa.axhline(0, color="black", lw=0.8)
        if with_ris:
            ax_tsa.axvline(1.0, color="tab:purple", ls="-.", lw=1, label=ris_label or "required information size")
            ax_tsa.set_xlabel("information fraction (accrued / RIS)")
            ax_tsa.set_xlim(0, max(1.05, float(np.nanmax(x)) * 1.05))
        else:
            ax_tsa.set_xlabel("look")
        reach = max(5.0, 1.25 * float(np.nanmax(np.abs(z))), 1.5 * conventional_z)
        ax_tsa.set_ylim(-reach, reach)
        ax_tsa.set_ylabel("cumulative Z")
        ax_tsa.set_title("Trial sequential analysis")
        ax_tsa.legend(loc="best", fontsize="small")
    if title:
        fig.suptitle(title)
    return fig
