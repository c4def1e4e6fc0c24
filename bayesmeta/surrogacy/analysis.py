"""Bayesian trial-level surrogacy: the correlation and regression of the true effects on the final outcome (y,
e.g. log HR of death) on the true effects on the surrogate (x, e.g. log RR of response) across trials, and the
final-outcome effect predicted for a new trial from its surrogate effect (Daniels & Hughes 1997, Stat Med
16:1965; Bujkiewicz et al. 2016, Stat Med 35:1063; model in :mod:`bayesmeta.surrogacy.model`), by the exact engine
(the default: deterministic integration, :mod:`bayesmeta.surrogacy.exact`) or by NUTS (the cross-check).

Derived quantities (per node of the exact engine's grid, or per posterior draw): the slope beta = rho tau_y / tau_x
and intercept alpha = mu_y - beta mu_x of the regression of eta on xi, and the conditional SD tau_y sqrt(1 - rho^2)
(the spread of true final effects at a given true surrogate effect: 0 for a perfect surrogate). For a new trial
with observed surrogate effect x* and standard error s* (0: taken as exact), eta* | x*, parameters ~ N(mu_y + c (x*
- mu_x) / v, tau_y^2 - c^2 / v), c = rho tau_x tau_y, v = tau_x^2 + s*^2: a mixture of normals over the exact
engine's nodes, or sampled once per NUTS draw. The parameters' posterior is the one given the k trials (x* does not
update it).

Beside it, the rank correlation of the observed effects (Spearman, as the paper computed it), recomputed, with the
published value when given, and the posterior of rho set against its prior: with a handful of trials the
posterior interval is nearly as wide as the prior's (:class:`PriorVsPosterior`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from bayesmeta.benefit import Benefit
from bayesmeta.errors import ModelError
from bayesmeta.frequentist.correlation import spearman_correlation
from bayesmeta.posterior import _check_level
from bayesmeta.scales import to_analysis
from bayesmeta.summaries import Summary
from bayesmeta.surrogacy import exact
from bayesmeta.surrogacy.data import EffectPairs
from bayesmeta.surrogacy.model import PARAMETERS, Priors, sample_surrogacy


@dataclass(frozen=True)
class Prediction:
    """The final-outcome effect of a new trial whose surrogate effect is ``x_reported`` (reported scale, with
    standard error ``x_se`` on the analysis scale; 0 = exact): ``summary`` on the analysis scale, ``reported``
    its median and interval (an HR), ``prob_benefit`` P(effect beyond the null on the benefit side)."""

    x_reported: float
    x_se: float
    summary: Summary
    reported: dict[str, float]
    prob_benefit: float


@dataclass(frozen=True)
class PriorVsPosterior:
    """How much k studies say about rho: the prior's and the posterior's central intervals and the ratio of their
    widths (1: the data taught nothing; 0: rho is pinned down)."""

    k: int
    prior_interval: tuple[float, float]
    posterior_interval: tuple[float, float]
    width_ratio: float
    statement: str


@dataclass(frozen=True)
class RankCorrelation:
    """Spearman's rho of the observed effect pairs, recomputed here, and the published value with its p-value when
    given (the paper's analysis; it ignores the studies' standard errors and the within-study sampling error)."""

    k: int
    recomputed: float
    recomputed_p: float
    published: float | None = None
    published_p: float | None = None


@dataclass(frozen=True)
class SurrogacyResult:
    """The trial-level surrogacy analysis of one pair of outcomes (module docstring); ``engine`` "exact" or "nuts";
    ``diagnostics`` for the exact engine the nodes, box, log marginal likelihood and quadrature error (the
    difference to a coarser rule), for NUTS R-hat, ESS, divergences and sampler settings; ``warnings`` every failed
    convergence check (a strict fit raises instead); ``r_within`` the posterior of the within-study correlation
    when it was given a prior (None when fixed); ``grid`` the exact engine's
    :class:`~bayesmeta.surrogacy.exact.SurrogacyGrid`, ``draws`` the NUTS draws."""

    x_outcome: str
    y_outcome: str
    x_measure: str
    y_measure: str
    study: tuple[str, ...]
    unpaired: tuple[str, ...]
    level: float
    priors: dict[str, str]
    rho: Summary
    slope: Summary
    intercept: Summary
    conditional_sd: Summary
    mu_x: Summary
    mu_y: Summary
    tau_x: Summary
    tau_y: Summary
    prob_rho_negative: float
    prior_vs_posterior: PriorVsPosterior
    rank_correlation: RankCorrelation
    prediction: Prediction | None
    diagnostics: dict[str, Any]
    r_within: Summary | None = None
    warnings: tuple[str, ...] = ()
    engine: str = "exact"
    draws: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)
    grid: Any = field(default=None, repr=False, compare=False)

    @property
    def k(self) -> int:
        return len(self.study)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("draws", "grid")}
        out["k"] = self.k
        out["diagnostics"] = {k: v for k, v in self.diagnostics.items() if k != "table"}
        return out


def rho_prior_interval(eta: float, level: float) -> tuple[float, float]:
    """Central interval of rho under LKJ(eta): (rho + 1) / 2 ~ Beta(eta, eta)."""
    lo, hi = stats.beta.ppf([(1 - level) / 2, (1 + level) / 2], eta, eta)
    return float(2 * lo - 1), float(2 * hi - 1)


def _statement(k: int, prior: tuple[float, float], post: Summary, ratio: float) -> str:
    return (f"With k = {k} trials the {post.ci_lower:.2f} to {post.ci_upper:.2f} interval of rho is {ratio:.0%} "
            f"as wide as its prior interval ({prior[0]:.2f} to {prior[1]:.2f}).")


def predict(draws: dict[str, np.ndarray], x_new: float, se_new: float, seed: int) -> np.ndarray:
    """Draws of the true final-outcome effect of a new trial with surrogate effect ``x_new`` (analysis scale)."""
    mu_x, mu_y, tau_x, tau_y, rho = (np.asarray(draws[n], dtype=float).ravel() for n in PARAMETERS)
    c = rho * tau_x * tau_y
    v = tau_x**2 + se_new**2
    mean = mu_y + c * (x_new - mu_x) / v
    var = np.maximum(tau_y**2 - c * c / v, 0.0)
    rng = np.random.default_rng([int(seed), 3])
    return mean + np.sqrt(var) * rng.standard_normal(mean.shape)


ENGINES = ("exact", "nuts")


def fit_surrogacy(pairs: EffectPairs, *, priors: Priors = Priors(), level: float = 0.95,
                  new_x: float | None = None, new_x_se: float = 0.0, benefit: Benefit | str = Benefit.BELOW,
                  published: tuple[float, float | None] | None = None, engine: str = "exact", draws: int = 1000,
                  tune: int = 1000, chains: int = 4, seed: int = 0, strict: bool = False,
                  target_accept: float = 0.95, cores: int | None = None,
                  pad_to: int | None = None) -> SurrogacyResult:
    """Fit the bivariate model to ``pairs`` and summarise (module docstring).

    ``engine``: "exact" (deterministic integration over tau_x, tau_y, rho and r_w with mu in closed form;
    :mod:`bayesmeta.surrogacy.exact`) or "nuts" (nutpie; :mod:`bayesmeta.surrogacy.model`). ``new_x``: a new
    trial's surrogate effect on the reported scale (an RR for ORR) and ``new_x_se`` its standard error on the
    analysis scale; ``benefit``: the final outcome's benefit side (below for an HR of death); ``published``: the
    paper's (Spearman r, p). NUTS only: ``draws``, ``tune``, ``chains``, ``seed``, ``target_accept``, ``cores``;
    convergence checks (R-hat < 1.01, bulk and tail ESS >= 400, no divergences; :mod:`bayesmeta.mcmc.diagnostics`)
    that fail become ``warnings``, or ModelError when ``strict``; ``pad_to``: compile for that many study slots
    (default: 32, or k rounded up to a multiple of 8), so fits of different k share one compiled model.
    """
    _check_level(level)
    benefit = Benefit.parse(benefit)
    if engine not in ENGINES:
        raise ModelError(f"unknown engine {engine!r} (valid: {', '.join(ENGINES)})")
    if not (np.isfinite(new_x_se) and new_x_se >= 0):
        raise ModelError(f"the new trial's standard error must be >= 0, got {new_x_se}")
    x_star = None if new_x is None else to_analysis(new_x, pairs.x_measure)
    if engine == "exact":
        fitted = _fit_exact(pairs, priors, level, x_star, new_x_se)
    else:
        fitted = _fit_nuts(pairs, priors, level, x_star, new_x_se, draws=draws, tune=tune, chains=chains, seed=seed,
                           strict=strict, target_accept=target_accept, cores=cores, pad_to=pad_to)
    rho = fitted["rho"]
    prior = rho_prior_interval(priors.eta, level)
    ratio = rho.width / (prior[1] - prior[0])
    prediction = None
    if new_x is not None:
        summary, below = fitted.pop("prediction")
        prediction = Prediction(x_reported=float(new_x), x_se=float(new_x_se), summary=summary,
                                reported=summary.reported(pairs.y_measure),
                                prob_benefit=below if benefit.below else 1.0 - below)
    r, p = spearman_correlation(pairs.x, pairs.y)
    within = (f"uniform({priors.within[0]:g}, {priors.within[1]:g})" if isinstance(priors.within, tuple)
              else f"{priors.within:g} (fixed)")
    return SurrogacyResult(
        x_outcome=pairs.x_outcome, y_outcome=pairs.y_outcome, x_measure=pairs.x_measure,
        y_measure=pairs.y_measure, study=pairs.study, unpaired=pairs.unpaired, level=level,
        priors={"mu": f"normal(0, {priors.mu_sd:g})", "tau_x": f"halfnormal({priors.tau_x_scale:g})",
                "tau_y": f"halfnormal({priors.tau_y_scale:g})", "rho": f"lkj({priors.eta:g})",
                "within_correlation": within},
        **{n: fitted[n] for n in ("rho", "slope", "intercept", "conditional_sd", "mu_x", "mu_y", "tau_x", "tau_y",
                                  "prob_rho_negative", "diagnostics", "r_within", "warnings", "draws", "grid")},
        prior_vs_posterior=PriorVsPosterior(k=pairs.k, prior_interval=prior,
                                            posterior_interval=(rho.ci_lower, rho.ci_upper), width_ratio=ratio,
                                            statement=_statement(pairs.k, prior, rho, ratio)),
        rank_correlation=RankCorrelation(k=pairs.k, recomputed=r, recomputed_p=p,
                                         published=None if published is None else published[0],
                                         published_p=None if published is None else published[1]),
        prediction=prediction, engine=engine,
    )


def _fit_exact(pairs: EffectPairs, priors: Priors, level: float, x_star: float | None,
               se_new: float) -> dict[str, Any]:
    """The summaries from the grid (:mod:`bayesmeta.surrogacy.exact`), with the quadrature error: the largest
    difference of the log marginal likelihood and of rho's summaries to the coarser rule on the same box."""
    start = time.perf_counter()
    data = exact.Data(pairs.x, pairs.sx, pairs.y, pairs.sy)
    grid = exact.fit_grid(pairs.x, pairs.sx, pairs.y, pairs.sy, priors)
    coarse = exact.integrate(data, priors, grid.box, exact.COARSE, exact.COARSE_WITHIN)
    rho_error = _rho_difference(grid, coarse, level)
    if rho_error > exact.TARGET_ERROR:  # a concentrated posterior in a wide box: refine once
        grid, coarse = exact.integrate(data, priors, grid.box, exact.FINE, exact.FINE_WITHIN), grid
        rho_error = _rho_difference(grid, coarse, level)
    out: dict[str, Any] = {n: exact.axis_summary(grid, n, level) for n in ("rho", "tau_x", "tau_y")}
    mu_x, mu_y = exact.mu_marginals(grid)
    out.update(mu_x=Summary.of(mu_x, level), mu_y=Summary.of(mu_y, level),
               slope=exact.slope_summary(grid, level), intercept=Summary.of(exact.intercept_marginal(grid), level),
               conditional_sd=exact.conditional_sd_summary(grid, level),
               prob_rho_negative=float(grid.cdf("rho", 0.0)),
               r_within=exact.axis_summary(grid, "r_within", level) if "r_within" in grid.axes else None,
               warnings=(), draws={}, grid=grid)
    if x_star is not None:
        pred = exact.prediction_marginal(grid, x_star, se_new)
        out["prediction"] = (Summary.of(pred, level), float(pred.cdf(0.0)))
    seconds = time.perf_counter() - start
    out["diagnostics"] = {
        "engine": "exact", "nodes": {n: r.size for n, r in grid.axes.items()},
        "box": {n: [r.lo, r.hi] for n, r in grid.axes.items()}, "log_marginal_likelihood": grid.log_evidence,
        "quadrature_error": {"log_marginal_likelihood": abs(grid.log_evidence - coarse.log_evidence),
                             "rho": rho_error},
        "check_nodes": {n: r.size for n, r in coarse.axes.items()}, "seconds": seconds,
    }
    return out


def _rho_difference(grid, coarse, level: float) -> float:
    """The largest difference of rho's median, mean, sd and interval between two rules."""
    a, b = (exact.axis_summary(g, "rho", level) for g in (grid, coarse))
    return max(abs(getattr(a, f) - getattr(b, f)) for f in ("median", "mean", "sd", "ci_lower", "ci_upper"))


def _fit_nuts(pairs: EffectPairs, priors: Priors, level: float, x_star: float | None, se_new: float, *,
              draws: int, tune: int, chains: int, seed: int, strict: bool, target_accept: float,
              cores: int | None, pad_to: int | None) -> dict[str, Any]:
    """The summaries from NUTS draws, gated by the convergence checks (:func:`nuts_gate`)."""
    raw, record = sample_surrogacy(pairs.x, pairs.sx, pairs.y, pairs.sy, priors, draws=draws, tune=tune,
                                   chains=chains, seed=seed, target_accept=target_accept, cores=cores,
                                   pad_to=pad_to)
    names = [*PARAMETERS, *(("r_within",) if isinstance(priors.within, tuple) else ())]
    diagnostics, failed = nuts_gate(raw, names, strict)
    diagnostics["settings"] = record
    diagnostics["engine"] = "nuts"
    post = {n: np.asarray(raw.posterior[n].values, dtype=float) for n in names}
    slope = post["rho"] * post["tau_y"] / post["tau_x"]
    derived = {"slope": slope, "intercept": post["mu_y"] - slope * post["mu_x"],
               "conditional_sd": post["tau_y"] * np.sqrt(np.maximum(1 - post["rho"] ** 2, 0.0))}
    out: dict[str, Any] = {n: Summary.of_draws(v, level) for n, v in {**post, **derived}.items()}
    out.update(prob_rho_negative=float(np.mean(post["rho"] < 0)), diagnostics=diagnostics, warnings=tuple(failed),
               draws={**post, **derived}, grid=None, r_within=out.get("r_within"))
    if x_star is not None:
        eta = predict(post, x_star, se_new, seed)
        out["prediction"] = (Summary.of_draws(eta, level), float(np.mean(eta < 0.0)))
    return out


def nuts_gate(raw: Any, names: list[str], strict: bool) -> tuple[dict[str, Any], list[str]]:
    """The convergence checks of :func:`bayesmeta.mcmc.diagnostics.diagnose` on NUTS draws: (diagnostics, failed
    checks); ModelError when ``strict`` and any failed."""
    from bayesmeta.mcmc.diagnostics import diagnose

    diagnostics, failed = diagnose(raw, var_names=names)
    if strict and failed:
        raise ModelError("the MCMC fit failed its convergence checks: " + " ".join(failed))
    return diagnostics, failed


def published_rank_correlation(published: Any, x: str, y: str) -> tuple[float, float | None] | None:
    """(r, p) of the paper's Spearman correlation of ``x`` and ``y`` over all studies from a published-results
    table (:func:`bayesmeta.data.load_published`: outcome 'x~y', analysis 'correlation', variable 'all'), or None."""
    rows = published[(published["analysis"] == "correlation") & (published["variable"] == "all")
                     & published["outcome"].isin([f"{x}~{y}", f"{y}~{x}"])]
    if rows.empty:
        return None
    row = rows.iloc[0]
    p = row["p_value"]
    return float(row["estimate"]), None if np.isnan(p) else float(p)

