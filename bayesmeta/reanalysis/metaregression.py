"""Bayesian meta-regression on one study-level covariate at a time (exact engine), with the pooled effect at each
level of a factor and the frequentist REML counterpart."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bayesmeta.plan import OutcomePlan
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

def level_marginal(post: Any, prior: Any, j: int | None) -> Any:
    """Exact posterior marginal of the pooled effect at one covariate level, mu + beta_j (j None: the reference
    level, mu itself), for a single-factor meta-regression fitted by :func:`bayesmeta.exact.fit_exact`.

    Given tau, b = (mu, beta) | tau, y is Gaussian (Roever 2020, J Stat Softw 93(6); R bayesmeta ``bmr``), so
    c'b | tau, y ~ N(c' m(tau), c' V(tau) c) with c = e_0 + e_j, and its marginal is the normal mixture over the
    engine's tau quadrature nodes and weights (``post.extras``), like every other exact marginal."""
    from bayesmeta.exact.gaussian import GaussianModel
    from bayesmeta.exact.mixture import NormalMixture
    from bayesmeta.priors import NormalPrior

    k, p = post.k, 1 + len(post.covariates)
    design = np.column_stack([np.ones(k), np.asarray(post.design, dtype=float).reshape(k, -1)])
    effect_priors = [prior.mu] + [prior.beta] * (p - 1)
    mean0 = np.array([q.mean if isinstance(q, NormalPrior) else 0.0 for q in effect_priors])
    prec0 = np.array([1.0 / q.sd**2 if isinstance(q, NormalPrior) else 0.0 for q in effect_priors])
    model = GaussianModel(post.yi[None, :], (post.sei**2)[None, :], np.ones((1, k), dtype=bool), design,
                          mean0[None, :], prec0[None, :])
    nodes = np.asarray(post.extras["tau_nodes"], dtype=float)
    cond = model.conditional(nodes[None, :])
    c = np.zeros(p)
    c[0] = 1.0
    if j is not None:
        c[1 + j] = 1.0
    means = cond.mean[0] @ c
    sds = np.sqrt(np.einsum("i,mij,j->m", c, cond.cov[0], c))
    return NormalMixture(np.asarray(post.extras["tau_weights"], dtype=float), means, sds)

def metaregression(effects: pd.DataFrame, o: OutcomePlan, prior: Any, column: str, level: float,
                   min_per_level: int) -> dict[str, Any]:
    """Exact posterior of the meta-regression on one study-level covariate (treatment coding, reference = the
    most frequent level; :func:`bayesmeta.design.design_matrix`): the coefficient as a ratio of effects between
    levels with P(ratio < 1), the pooled effect per level (:func:`level_marginal`), tau, and the frequentist REML
    mixed-effects counterpart (QM test)."""
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
    level_of = {} if numeric else {ref: level_marginal(post, prior, None)}
    for j, name in enumerate(names):
        if not numeric:
            level_of[name[len(column) + 1:-1]] = level_marginal(post, prior, j)
    levels = []
    for lev, marg in level_of.items():
        lo, hi = marg.interval(level)
        levels.append({"level": lev, "reference": lev == ref, "k": counts[lev], "median": float(marg.median()),
                       "ci_lower": float(lo), "ci_upper": float(hi), "mean": float(marg.mean()),
                       "reported_median": to_reported(marg.median(), o.measure),
                       "reported_ci_lower": to_reported(lo, o.measure),
                       "reported_ci_upper": to_reported(hi, o.measure)})
    contrasts = []
    for j, name in enumerate(names):
        lev = f"+1 {column}" if numeric else name[len(column) + 1:-1]
        m = post.marginal(f"beta[{name}]")
        b_lo, b_hi = m.interval(level)
        contrasts.append({
            "coefficient": name, "level": lev, "reference": ref,
            "reported_median": to_reported(m.median(), o.measure), "reported_ci_lower": to_reported(b_lo, o.measure),
            "reported_ci_upper": to_reported(b_hi, o.measure),
            "p_ratio_below_1": post.prob_below(1.0, f"beta[{name}]"),
            "statement": (f"P({o.measure} ratio per unit of {column} < 1)" if numeric
                          else f"P({o.measure} ratio {lev} / {ref} < 1)"),
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
