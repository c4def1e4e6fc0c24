"""The multiple meta-regression of the outcome's plan formula (``outcomes.<name>.formula``, else ``[covariates] formula``): every coefficient's exact
posterior beside its frequentist REML counterpart.

Studies with a blank cell in any column of the formula are left out and named (metafor's default ``na.action``;
:func:`bayesmeta.data.blank_cells`). The formula is coded as ``bayesmeta fit --formula`` codes it
(:func:`bayesmeta.formula.build_design`: factors by treatment coding against their most frequent level, or the one
chosen with ``factor(x, ref = "level")``), with every numeric column centred at its mean over the studies used
(slopes unchanged; the intercept, on which the mu prior acts, is the effect at those means and the reference
levels). Model: y_i ~ N(x_i'b + u_i, s_i^2), u_i ~ N(0, tau^2), by the exact engine under the main prior set (mu,
beta and tau priors); the frequentist counterpart is metafor's ``rma(yi, vi, mods = ~ formula, method = "REML")``
with z tests and, beside it, with the Knapp-Hartung adjustment (Knapp & Hartung 2003; ``test = "knha"``), with the
omnibus test QM of every coefficient but the intercept. Under each sensitivity prior set of the plan the
exact posterior is refitted for P(beta on the benefit side) of every coefficient (the range a coefficient claim
reports)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from bayesmeta.data import blank_cells
from bayesmeta.errors import InputError, ModelError
from bayesmeta.formula import Formula, build_design
from bayesmeta.plan import OutcomePlan
from bayesmeta.scales import reported_float as to_reported
from bayesmeta.summaries import Summary


@dataclass(frozen=True)
class CoefficientPosterior:
    """One coefficient's posterior (analysis scale: a log ratio of ratios for HR/RR/OR, a difference otherwise),
    its median and interval on the reported scale (a ratio of ratios for HR/RR/OR), P(beta < 0), P(beta > 0) and
    P(beta on the outcome's benefit side of 0), the event that the term goes with more benefit."""

    name: str
    median: float
    mean: float
    sd: float
    ci_lower: float
    ci_upper: float
    reported_median: float
    reported_ci_lower: float
    reported_ci_upper: float
    prob_below_0: float
    prob_above_0: float
    benefit_statement: str
    prob_benefit: float


@dataclass(frozen=True)
class FrequentistRegression:
    """metafor ``rma(..., mods = ~ formula, method = "REML", test = test)``: the coefficients (the intercept named
    ``mu``), tau^2, the omnibus test QM of every coefficient but the intercept (chi^2 on ``qm_df`` df with z
    tests; F(qm_df, k - p) with Knapp-Hartung, as metafor reports it) and the residual heterogeneity test QE."""

    method: str
    test: str
    coefficients: tuple[Any, ...]
    tau2: float
    qm: float
    qm_df: int
    qm_p: float
    qe: float
    qe_df: int
    qe_p: float
    r2: float | None


@dataclass(frozen=True)
class FormulaRegression:
    """The plan formula's meta-regression of one outcome: the studies used (``k``) and left out for a blank cell
    (``omitted``), the centring of numeric columns (``centers``), each factor's reference level, the intercept's
    and every coefficient's posterior, the residual tau, and the frequentist fits (z and Knapp-Hartung; the
    latter None without residual degrees of freedom)."""

    formula: str
    measure: str
    benefit: str
    level: float
    k: int
    omitted: tuple[str, ...]
    centers: dict[str, float]
    references: dict[str, str]
    intercept: dict[str, float]
    coefficients: tuple[CoefficientPosterior, ...]
    tau: dict[str, float]
    frequentist: FrequentistRegression
    frequentist_knha: FrequentistRegression | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    sensitivity: dict[str, dict[str, float]] = field(default_factory=dict)
    """Prior set -> coefficient -> P(beta on the benefit side) under that set (the main set and each sensitivity
    set that gives a proper posterior)."""

    def coefficient(self, name: str) -> CoefficientPosterior | None:
        return next((c for c in self.coefficients if c.name == name), None)

    def frequentist_coefficient(self, name: str, knha: bool = False) -> Any:
        fit = self.frequentist_knha if knha else self.frequentist
        return None if fit is None else next((c for c in fit.coefficients if c.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _summary(m: Any, level: float) -> dict[str, float]:
    return asdict(Summary.of(m, level))


def _frequentist(y: Any, vi: Any, X: Any, names: tuple[str, ...], level: float, test: str) -> FrequentistRegression:
    from bayesmeta.frequentist import rma

    fit = rma(y, vi, method="REML", test=test, mods=X, mod_names=names, level=level)
    coefs = tuple(replace(c, name="mu") if j == 0 else c for j, c in enumerate(fit.coefficients))
    return FrequentistRegression("REML", test, coefs, fit.tau2, fit.qm, fit.qm_df, fit.qm_p, fit.q, fit.q_df,
                                 fit.q_p, fit.r2)


def _below_zero(post: Any, name: str) -> float:
    """P(beta < 0) on the analysis scale (a ratio of ratios below 1 for HR/RR/OR)."""
    return float(np.clip(post.marginal(f"beta[{name}]").cdf(0.0), 0.0, 1.0))


def _benefit_probabilities(post: Any, names: tuple[str, ...], o: OutcomePlan) -> dict[str, float]:
    """P(beta on the benefit side of 0) of every coefficient."""
    below = {n: _below_zero(post, n) for n in names}
    return {n: p if o.benefit.below else 1.0 - p for n, p in below.items()}


def formula_regression(effects: pd.DataFrame, o: OutcomePlan, prior: Any, formula: Formula, level: float,
                       sensitivity: dict[str, Any] | None = None, main_name: str = "main") -> FormulaRegression:
    """The exact posterior and the REML fits of ``formula`` on an outcome's effects (one row per study with
    ``study_id``, ``yi``, ``sei``, ``vi`` and the formula's columns as
    :func:`bayesmeta.reanalysis.metaregression.attach_covariates` leaves them); see the module docstring. A design
    the studies cannot support (a factor left with one level, more coefficients than studies, collinear columns)
    is a ModelError, so the reanalysis records it as skipped. ``sensitivity``: prior set name -> prior set, refitted
    for the coefficients' P(beta on the benefit side) (a set whose posterior is improper is left out)."""
    from bayesmeta.exact import fit_exact

    columns = list(formula.columns)
    blank = pd.concat([blank_cells(effects[c]) for c in columns], axis=1).any(axis=1).to_numpy()
    omitted = tuple(sorted(effects.loc[blank, "study_id"].astype(str)))
    used = effects[~blank].reset_index(drop=True)
    if len(used) == 0:
        raise ModelError(f"no study has a value of every column of {formula.text!r}")
    try:
        design = build_design(formula, used[columns], center=True)
    except InputError as error:
        raise ModelError(f"{error.reason} (k = {len(used)} studies with a value of {', '.join(columns)})") from None
    X, names = design.covariate_matrix, design.covariate_names
    y, s, vi = (used[c].to_numpy(float) for c in ("yi", "sei", "vi"))
    post = fit_exact(y, s, mu_prior=prior.mu, tau_prior=prior.tau, beta_prior=prior.beta, X=X,
                     covariate_names=names, study=used["study_id"].astype(str).tolist(), measure=o.measure, seed=None)
    coefficients = []
    for name in names:
        param = f"beta[{name}]"
        m = _summary(post.marginal(param), level)
        below = _below_zero(post, name)
        coefficients.append(CoefficientPosterior(
            name=name, **m, reported_median=to_reported(m["median"], o.measure),
            reported_ci_lower=to_reported(m["ci_lower"], o.measure),
            reported_ci_upper=to_reported(m["ci_upper"], o.measure), prob_below_0=below, prob_above_0=1.0 - below,
            benefit_statement=f"P({param} {o.benefit.sign} 0)", prob_benefit=below if o.benefit.below else 1.0 - below))
    by_prior = {main_name: _benefit_probabilities(post, names, o)}
    for name, other in (sensitivity or {}).items():
        try:
            refit = fit_exact(y, s, mu_prior=other.mu, tau_prior=other.tau, beta_prior=other.beta, X=X,
                              covariate_names=names, measure=o.measure, seed=None)
        except ModelError:
            continue
        by_prior[name] = _benefit_probabilities(refit, names, o)
    try:
        knha = _frequentist(y, vi, X, names, level, "knha")
    except ModelError:
        knha = None
    return FormulaRegression(
        formula=formula.text, measure=o.measure, benefit=o.benefit.value, level=level, k=len(used), omitted=omitted,
        centers=dict(design.centers),
        references={c: v.reference for c, v in design.variables.items() if v.factor and v.reference is not None},
        intercept=_summary(post.marginal("mu"), level), coefficients=tuple(coefficients),
        tau=_summary(post.marginal("tau"), level), frequentist=_frequentist(y, vi, X, names, level, "z"),
        frequentist_knha=knha, warnings=tuple(post.warnings), sensitivity=by_prior)
