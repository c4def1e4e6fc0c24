"""Bayesian meta-regression on one study-level covariate at a time (exact engine), with the pooled effect at each
level of a factor and the frequentist REML counterpart."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bayesmeta.plan import OutcomePlan
from bayesmeta.scales import contrast_name, contrast_text, null_value
from bayesmeta.scales import reported_float as to_reported


def is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)

def _levels_ok(effects: pd.DataFrame, column: str, min_per_level: int) -> tuple[bool, str, dict[str, int]]:
    """Whether a covariate can be analysed: a factor needs two or more levels with at least ``min_per_level``
    studies each; a numeric covariate at least three distinct values."""
    values = effects[column]
    if is_numeric(values):
        distinct = int(values.nunique())
        if distinct < 3:
            return False, f"only {distinct} distinct value{'s' if distinct != 1 else ''} among the studies", {}
        return True, "", {}
    counts = values.astype(str).value_counts().sort_index().to_dict()
    if len(counts) < 2:
        only = next(iter(counts), "none")
        return False, f"all {len(effects)} studies with data share one level ({only})", counts
    small = {lev: n for lev, n in counts.items() if n < min_per_level}
    if small:
        parts = ", ".join(f"{lev}: {n}" for lev, n in small.items())
        return False, f"fewer than {min_per_level} studies in a level ({parts})", counts
    return True, "", counts

def attach_covariates(effects: pd.DataFrame, studies: pd.DataFrame | None, columns: tuple[str, ...]) -> pd.DataFrame:
    """The plan's covariate columns on an outcome's effects (taken from the study table when the effects lack
    them); a column whose every non-blank value reads as a number becomes numeric, so it enters a
    meta-regression as a slope rather than as a factor."""
    missing = [c for c in columns if c not in effects.columns]
    if missing and studies is not None:
        effects = effects.merge(studies[["study_id", *missing]], on="study_id", how="left")
    effects = effects.copy()
    for c in columns:
        if c not in effects.columns:
            continue
        text = effects[c].astype(str).str.strip()
        blank = text.isin(["", "nan", "None", "<NA>"])
        numeric = pd.to_numeric(text.where(~blank), errors="coerce")
        if numeric[~blank].notna().all() and (~blank).any():
            effects[c] = numeric.astype(float)
    return effects

def metaregression(effects: pd.DataFrame, o: OutcomePlan, prior: Any, column: str, level: float,
                   min_per_level: int) -> dict[str, Any]:
    """Exact posterior of the meta-regression on one study-level covariate (treatment coding, reference = the
    most frequent level; :func:`bayesmeta.design.design_matrix`): the coefficient as a ratio of effects between
    levels with P(ratio < 1), the pooled effect per level (:meth:`bayesmeta.posterior.Posterior.contrast`), tau,
    and the frequentist REML mixed-effects counterpart (QM test)."""
    from bayesmeta.design import design_matrix, reference_level
    from bayesmeta.exact import fit_exact
    from bayesmeta.frequentist import rma

    ok, reason, counts = _levels_ok(effects, column, min_per_level)
    numeric = is_numeric(effects[column])
    out: dict[str, Any] = {"covariate": column, "kind": "numeric" if numeric else "factor", "counts": counts,
                           "fitted": ok, "reason": reason}
    if not ok:
        return out
    covs = effects[[column]].reset_index(drop=True)
    if not numeric:
        covs = covs.astype(str)
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
    out.update({
        "reference": ref, "levels": levels, "contrasts": contrasts,
        "tau_median": float(tau.median()), "tau_interval": list(tau.interval(level)),
        "frequentist": {"qm": freq.qm, "qm_df": freq.qm_df, "qm_p": freq.qm_p, "tau2": freq.tau2, "r2": freq.r2,
                        "coefficients": [c.__dict__ for c in freq.coefficients]},
        "posterior": post.to_dict(level),
    })
    return out
