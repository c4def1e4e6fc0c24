"""Bayesian meta-regression on one study-level covariate at a time (exact engine), with the pooled effect at each
level of a factor and the frequentist REML counterpart.

Each covariate's regression uses the studies with a value of that covariate (metafor's default ``na.action``: the
others are left out and named). A numeric column with two distinct values (a 0/1 moderator) is a two-level factor
labelled by its values; a numeric column with three or more is a slope, centred at its mean over the studies used
so that the intercept is the effect at that mean (the effect the mu prior is written for); the slope is unchanged
by centring, and its REML estimate is metafor's ``rma(yi, vi, mods = ~ x)``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bayesmeta.data import blank_cells
from bayesmeta.errors import InputError

from bayesmeta.plan import OutcomePlan
from bayesmeta.scales import contrast_name, contrast_text, null_value
from bayesmeta.scales import reported_float as to_reported


def is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _number_label(value: float) -> str:
    """1.0 -> '1', 0.5 -> '0.5': a numeric level as it is written."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def factor_labels(values: pd.Series) -> pd.Series:
    """The level of each study as text (a number as written: 0/1, not 0.0/1.0); missing values stay missing."""
    present = values.notna()
    out = pd.Series([None] * len(values), index=values.index, dtype=object)
    if is_numeric(values):
        out[present] = [_number_label(v) for v in values[present]]
    else:
        out[present] = values[present].astype(str)
    return out


def is_slope(values: pd.Series) -> bool:
    """A numeric covariate with three or more distinct values enters as a slope; fewer: as a factor."""
    return is_numeric(values) and int(values.nunique()) >= 3


def _levels_ok(effects: pd.DataFrame, column: str, min_per_level: int) -> tuple[bool, str, dict[str, int]]:
    """Whether a covariate can be analysed: a factor needs two or more levels with at least ``min_per_level``
    studies each (a numeric covariate with two distinct values is such a factor); a numeric covariate with three
    or more distinct values is a slope."""
    values = effects[column]
    if is_slope(values):
        return True, "", {}
    counts = factor_labels(values).value_counts().sort_index().to_dict()
    if len(counts) < 2:
        only = next(iter(counts), "none")
        return False, f"all {len(effects)} studies with data share one level ({only})", counts
    small = {lev: n for lev, n in counts.items() if n < min_per_level}
    if small:
        parts = ", ".join(f"{lev}: {n}" for lev, n in small.items())
        return False, f"fewer than {min_per_level} studies in a level ({parts})", counts
    return True, "", counts

def attach_covariates(effects: pd.DataFrame, studies: pd.DataFrame | None, columns: tuple[str, ...],
                      file: str | None = None) -> pd.DataFrame:
    """The plan's covariate columns on an outcome's effects (taken from the study table when the effects lack
    them); a column whose every non-blank value reads as a number becomes numeric, so it enters a
    meta-regression as a slope (or, with two distinct values, as a two-level factor). A value that reads as an
    infinite number is an InputError naming ``file`` (the study table's) and the row of that file."""
    missing = [c for c in columns if c not in effects.columns]
    if missing and studies is not None:
        effects = effects.merge(studies[["study_id", *missing]], on="study_id", how="left")
    effects = effects.copy()
    for c in columns:
        if c not in effects.columns:
            continue
        text = effects[c].astype(str).str.strip()
        blank = blank_cells(effects[c])
        numeric = pd.to_numeric(text.where(~blank), errors="coerce")
        if numeric[~blank].notna().all() and (~blank).any():
            infinite = np.flatnonzero(~np.isfinite(numeric.to_numpy(float)) & ~blank.to_numpy())
            if infinite.size:
                study = str(effects["study_id"].iloc[infinite[0]])
                rows = [] if studies is None else np.flatnonzero(studies["study_id"].astype(str).to_numpy() == study)
                raise InputError(f"covariate value of {study} is not finite", file=file,
                                 row=int(rows[0]) + 2 if len(rows) else None, column=c, valid="a finite number")
            effects[c] = numeric.astype(float)
    return effects

LINE_POINTS = 41


def slope_line(post: Any, coefficient: str, values: np.ndarray, center: float, level: float) -> dict[str, list[float]]:
    """The pooled effect along a numeric covariate: at :data:`LINE_POINTS` values x from its smallest to its largest
    observed value, the posterior median and ``level`` interval of mu + beta (x - center) on the analysis scale
    (:meth:`bayesmeta.posterior.Posterior.contrast`; metafor's ``regplot`` draws the frequentist counterpart)."""
    grid = np.linspace(float(np.min(values)), float(np.max(values)), LINE_POINTS)
    line: dict[str, list[float]] = {"x": grid.tolist(), "median": [], "ci_lower": [], "ci_upper": []}
    for x in grid:
        marginal = post.contrast({"mu": 1.0, f"beta[{coefficient}]": float(x - center)})
        lo, hi = marginal.interval(level)
        line["median"].append(float(marginal.median()))
        line["ci_lower"].append(float(lo))
        line["ci_upper"].append(float(hi))
    return line


def metaregression(effects: pd.DataFrame, o: OutcomePlan, prior: Any, column: str, level: float,
                   min_per_level: int) -> dict[str, Any]:
    """Exact posterior of the meta-regression on one study-level covariate (treatment coding, reference = the
    most frequent level; :func:`bayesmeta.design.design_matrix`): the coefficient as a ratio of effects between
    levels with P(ratio < 1), the pooled effect per level (:meth:`bayesmeta.posterior.Posterior.contrast`), tau,
    and the frequentist REML mixed-effects counterpart (QM test). Studies without a value of ``column`` are left
    out (``k``, ``omitted``); a slope is centred at ``center``, the mean of the covariate over the studies used."""
    from bayesmeta.design import design_matrix, reference_level
    from bayesmeta.exact import fit_exact
    from bayesmeta.frequentist import rma

    present = ~blank_cells(effects[column]).to_numpy()
    omitted = sorted(effects.loc[~present, "study_id"].astype(str))
    effects = effects[present].reset_index(drop=True)
    numeric = is_slope(effects[column])
    ok, reason, counts = _levels_ok(effects, column, min_per_level)
    if not len(effects):
        ok, reason = False, "no study has a value"
    center = float(effects[column].mean()) if numeric else None
    out: dict[str, Any] = {"covariate": column, "kind": "numeric" if numeric else "factor", "counts": counts,
                           "fitted": ok, "reason": reason, "k": int(len(effects)), "omitted": omitted,
                           "center": center}
    if not ok:
        return out
    if numeric:
        covs = effects[[column]].astype(float) - center
    else:
        covs = pd.DataFrame({column: factor_labels(effects[column]).astype(str)})
    X, names = design_matrix(covs, [column])
    ref = "" if numeric else reference_level(covs[column])
    y, s = effects["yi"].to_numpy(float), effects["sei"].to_numpy(float)
    post = fit_exact(y, s, mu_prior=prior.mu, tau_prior=prior.tau, beta_prior=prior.beta, X=X,
                     covariate_names=names, study=effects["study_id"].astype(str).tolist(),
                     measure=o.measure, seed=None)
    # the pooled effect at each level: mu at the reference, mu + beta at the others (the engine's contrasts)
    level_of = {} if numeric else {ref: post.contrast({"mu": 1.0})}
    for name in names:
        if not numeric:
            level_of[name[len(column) + 1:-1]] = post.contrast({"mu": 1.0, f"beta[{name}]": 1.0})
    levels = []
    for lev, marg in level_of.items():
        lo, hi = marg.interval(level)
        levels.append({"level": lev, "reference": lev == ref, "k": counts[lev], "median": float(marg.median()),
                       "ci_lower": float(lo), "ci_upper": float(hi), "mean": float(marg.mean()),
                       "reported_median": to_reported(marg.median(), o.measure),
                       "reported_ci_lower": to_reported(lo, o.measure),
                       "reported_ci_upper": to_reported(hi, o.measure)})
    contrasts = []
    null = null_value(o.measure)  # no difference between levels: a ratio of 1, a difference of 0
    for j, name in enumerate(names):
        lev = f"+1 {column}" if numeric else name[len(column) + 1:-1]
        m = post.marginal(f"beta[{name}]")
        b_lo, b_hi = m.interval(level)
        contrasts.append({
            "coefficient": name, "level": lev, "reference": ref,
            "reported_median": to_reported(m.median(), o.measure), "reported_ci_lower": to_reported(b_lo, o.measure),
            "reported_ci_upper": to_reported(b_hi, o.measure),
            "p_ratio_below_1": post.prob_below(null, f"beta[{name}]"),
            "statement": (f"P({o.measure} {contrast_name(o.measure)} per unit of {column} < {null:g})" if numeric
                          else f"P({contrast_text(o.measure, lev, ref)} < {null:g})"),
        })
    tau = post.marginal("tau")
    freq = rma(y, effects["vi"].to_numpy(float), method="REML", mods=X, mod_names=names, level=level)
    if numeric:
        out["line"] = slope_line(post, names[0], effects[column].to_numpy(float), center, level)
    out.update({
        "reference": ref, "levels": levels, "contrasts": contrasts,
        "tau_median": float(tau.median()), "tau_interval": list(tau.interval(level)),
        "frequentist": {"qm": freq.qm, "qm_df": freq.qm_df, "qm_p": freq.qm_p, "tau2": freq.tau2, "r2": freq.r2,
                        "coefficients": [c.__dict__ for c in freq.coefficients]},
        "posterior": post.to_dict(level),
    })
    return out
