"""Prior sensitivity: a grid of reasonable priors, and power-scaling sensitivity diagnostics.

Two complementary checks of how much a conclusion owes to the prior:

- :func:`prior_grid` refits the model under each named prior set and a range of half-normal heterogeneity
  priors (one vectorised call of the exact engine) and tabulates the pooled ratio, tau, the predictive interval
  and P(ratio < t); :func:`conclusion_changes` marks the priors under which a probability statement crosses a
  decision cut (e.g. P(HR < 0.7) passing 0.5 or 0.9).
- :func:`power_scaling` is the power-scaling diagnostic of Kallioinen, Paananen, Buerkner & Vehtari (2024),
  Detecting and diagnosing prior and likelihood sensitivity with power-scaling, Stat Comput 34:57: the posterior
  is perturbed by raising the prior (or the likelihood) to a power alpha near 1, and the sensitivity of a
  parameter is the derivative, with respect to log2(alpha) at alpha = 1, of the cumulative Jensen-Shannon
  distance between its base and perturbed marginals (finite differences at alpha = 0.99 and 1.01; a value
  above 0.05 flags sensitivity).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from bayesmeta.benefit import Benefit
from bayesmeta.effect_data import EffectData, effect_args
from bayesmeta.errors import InputError, ModelError
from bayesmeta.posterior import Posterior
from bayesmeta.priors import Prior, PriorSet, load_prior_sets, parse_prior
from bayesmeta.scales import prob_column, to_analysis, to_reported

SENSITIVITY_THRESHOLD = 0.05
POWER_ALPHAS = (0.99, 1.01)
# The distances are integrated over the span of this many posterior draws, the number for which priorsense and
# ArviZ report (and for which the 0.05 threshold was calibrated); see :func:`cjs_distance`.
SUPPORT_DRAWS = 4000
POWER_PARAMETERS = ("mu", "tau", "predictive")
DIAGNOSES = ("prior-data conflict", "strong prior / weak likelihood", "-")


# -- the cumulative Jensen-Shannon distance -----------------------------------------------------------------
TAU_NEAR_ZERO_I2 = 0.01
"""I^2 below which tau's posterior median counts as piled up at 0 (see :func:`tau_near_zero`)."""


def tau_near_zero(tau_median: float, sei: Any, i2: float = TAU_NEAR_ZERO_I2) -> bool:
    """True when tau's posterior piles up at 0: its median is below the tau at which I^2 = tau^2 / (tau^2 + s^2)
    reaches ``i2`` (1%), tau < s sqrt(i2 / (1 - i2)) = 0.1005 s, with s^2 the typical within-study variance of
    Higgins & Thompson (2002, Stat Med 21:1539, eq. 9); e.g. tau < 0.01 for log ratios with standard errors of
    0.1. Scale-free, so it reads the same for a log ratio and for a mean difference in days. Near tau = 0 the
    likelihood of tau is flat (it depends on tau^2, with zero slope at 0, and is highest there for homogeneous
    studies), so there the prior shapes the posterior whatever the data."""
    from bayesmeta.printing import typical_variance

    s2 = typical_variance(np.asarray(sei, dtype=float))
    if not (np.isfinite(tau_median) and np.isfinite(s2)):
        return False
    return bool(tau_median < np.sqrt(s2 * i2 / (1.0 - i2)))


def cjs_distance(cdf_base: np.ndarray, cdf_other: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Normalised cumulative Jensen-Shannon distance between two distributions given their CDFs on a grid.

    With P and Q the CDFs and M = (P + Q)/2 (Nguyen & Vreeken 2015; Kallioinen et al. 2024, eq. 8),
    CJS(P||Q) + CJS(Q||P) = int [P log2(P/M) + Q log2(Q/M)] dx, normalised by its bound int (P + Q) dx and
    square-rooted, the distance ArviZ (``psens``) and priorsense (``cjs_dist``) compute from weighted draws.
    As there, the distance is also computed for the reflected variable -X (CDFs 1 - P and 1 - Q) and the
    larger of the two is returned. ``x`` is an increasing grid (last axis of the CDF arrays); each integrand
    term is written as scipy's ``kl_div`` (a log(a/b) - a + b, the linear terms cancel in the sum), which
    keeps the second-order-small distance free of cancellation error.
    """
    p = np.clip(np.asarray(cdf_base, dtype=float), 0.0, 1.0)
    q = np.clip(np.asarray(cdf_other, dtype=float), 0.0, 1.0)
    grid = np.asarray(x, dtype=float)
    if grid.ndim != 1 or grid.size < 2 or np.any(np.diff(grid) <= 0):
        raise ValueError("x must be a strictly increasing 1-d grid of at least two points")

    def one_side(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        m = 0.5 * (a + b)
        numer = np.trapezoid((special.kl_div(a, m) + special.kl_div(b, m)) / np.log(2.0), grid, axis=-1)
        bound = np.trapezoid(a + b, grid, axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sqrt(np.where(bound > 0, np.maximum(numer, 0.0) / bound, 0.0))

    return np.maximum(one_side(p, q), one_side(1.0 - p, 1.0 - q))


def diagnose(prior: float, likelihood: float, threshold: float = SENSITIVITY_THRESHOLD) -> str:
    """priorsense's reading of the two sensitivities: both at or above the threshold -> 'prior-data conflict';
    prior above and likelihood below -> 'strong prior / weak likelihood'; otherwise '-'."""
    if prior >= threshold and likelihood >= threshold:
        return DIAGNOSES[0]
    if prior > threshold and likelihood < threshold:
        return DIAGNOSES[1]
    return DIAGNOSES[2]


def _gradient(d_lower: np.ndarray, d_upper: np.ndarray, alphas: tuple[float, float]) -> np.ndarray:
    """Central finite difference of the distance with respect to log2(alpha) across [alpha_lo, alpha_hi]."""
    lo, hi = alphas
    return (np.asarray(d_lower) + np.asarray(d_upper)) / (np.log2(hi) - np.log2(lo))


def _check_alphas(alphas: Sequence[float]) -> tuple[float, float]:
    if len(alphas) != 2:
        raise ValueError(f"alphas must be (lower, upper), got {alphas!r}")
    lo, hi = float(alphas[0]), float(alphas[1])
    if not (0 < lo < 1 < hi):
        raise ValueError(f"power-scaling alphas must satisfy 0 < lower < 1 < upper, got {alphas!r}")
    return lo, hi


# -- helpers shared with the exact engine's batches ----------------------------------------------------------
def _cdf_grid(members: Sequence[Posterior], x: np.ndarray, param: str) -> np.ndarray:
    """CDF of ``param`` of each member posterior on the grid x: shape (len(members), len(x))."""
    return np.vstack([np.asarray(m.marginal(param).cdf(x), dtype=float) for m in members])


def _check_data(yi: Any, sei: Any) -> tuple[np.ndarray, np.ndarray]:
    y_arr = np.asarray(yi, dtype=float).ravel()
    s_arr = np.asarray(sei, dtype=float).ravel()
    if y_arr.shape != s_arr.shape or y_arr.size == 0:
        raise InputError(f"yi and sei must be non-empty and of equal length (got {y_arr.size} and {s_arr.size})")
    if not (np.all(np.isfinite(y_arr)) and np.all(np.isfinite(s_arr)) and np.all(s_arr > 0)):
        raise InputError("effects must be finite with positive standard errors", column="sei")
    return y_arr, s_arr


def _prior_pair(entry: Any) -> tuple[Prior, Prior]:
    """(mu prior, tau prior) of a PriorSet, a (mu, tau) pair of texts/Priors, or a mapping with mu and tau."""
    if isinstance(entry, PriorSet):
        return entry.mu, entry.tau
    if isinstance(entry, Mapping):
        return parse_prior(entry["mu"], "mu"), parse_prior(entry["tau"], "tau")
    mu, tau = entry
    return parse_prior(mu, "mu"), parse_prior(tau, "tau")


# -- the prior grid ------------------------------------------------------------------------------------------
def prior_grid(
    data: EffectData | Any,
    sei: Any = None,
    prior_sets: Mapping[str, Any] | None = None,
    tau_scales: Sequence[float] = (0.25, 0.5, 1.0, 2.0),
    thresholds: Sequence[float] = (1.0, 0.8, 0.7),
    measure: str | None = None,
    *,
    vi: Any = None,
    level: float = 0.95,
    benefit: Benefit | str | None = None,
    include_set_tau: bool = True,
) -> pd.DataFrame:
    """Posterior summaries under each named prior set crossed with half-normal tau priors.

    For every prior set (its mu prior) and every tau prior -- the set's own (``include_set_tau``) and
    halfnormal(scale) for each of ``tau_scales`` -- one row: the pooled effect's median and ``level`` central
    interval (``median``, ``ci_lower``, ``ci_upper``; exp(mu) for ratio measures), tau's median and interval, the
    predictive interval for a new study (``pred_lower``, ``pred_upper``) and P(ratio < t) for each threshold
    (``prob_below_<t>``; P(ratio > t), ``prob_above_<t>``, when benefit lies above). All rows come from one
    vectorised exact-engine call (:func:`bayesmeta.exact.fit_exact_priors`). ``data``: an EffectData, or the
    effects yi with ``sei`` (or ``vi``), ``measure`` (default GEN) and ``benefit`` (default below).
    ``prior_sets`` maps names to :class:`bayesmeta.priors.PriorSet` (or (mu, tau) pairs); None loads the
    packaged prior sets.
    """
    from bayesmeta.exact import fit_exact_priors

    args = effect_args(data, sei, vi=vi, measure=measure, benefit=benefit)
    measure, benefit = args.measure, args.benefit
    y_arr, s_arr = _check_data(args.yi, args.errors())
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    sets = load_prior_sets() if prior_sets is None else prior_sets
    if not sets:
        raise InputError("no prior sets given")
    rows: list[dict[str, Any]] = []
    pairs: list[tuple[Prior, Prior]] = []
    for name, entry in sets.items():
        if isinstance(entry, PriorSet):  # mirrored where it is written for the other direction of benefit
            entry = entry.for_benefit(benefit)
        mu, set_tau = _prior_pair(entry)
        candidates: list[tuple[Prior, float]] = [(set_tau, np.nan)] if include_set_tau else []
        for scale in tau_scales:
            if not scale > 0:
                raise InputError(f"a half-normal tau scale must be positive, got {scale}", valid="a number > 0")
            candidates.append((parse_prior(f"halfnormal({float(scale)!r})", "tau"), float(scale)))
        seen: set[str] = set()
        for tau, scale in candidates:
            if tau.text in seen:
                continue
            seen.add(tau.text)
            pairs.append((mu, tau))
            rows.append(
                {
                    "prior_set": str(name),
                    "mu_prior": mu.text,
                    "tau_prior": tau.text,
                    "tau_scale": scale if np.isfinite(scale) else _halfnormal_scale(tau),
                }
            )
    batch = fit_exact_priors(y_arr, s_arr, priors=pairs)
    table = pd.DataFrame(rows)
    ci = np.asarray(batch.interval(level, "mu"), dtype=float)
    pred = np.asarray(batch.interval(level, "predictive"), dtype=float)
    tau_ci = np.asarray(batch.interval(level, "tau"), dtype=float)
    table["median"] = to_reported(np.asarray(batch.ppf(0.5, "mu"), dtype=float), measure)
    table["ci_lower"] = to_reported(ci[:, 0], measure)
    table["ci_upper"] = to_reported(ci[:, 1], measure)
    table["pred_lower"] = to_reported(pred[:, 0], measure)
    table["pred_upper"] = to_reported(pred[:, 1], measure)
    table["tau_median"] = np.asarray(batch.ppf(0.5, "tau"), dtype=float)
    table["tau_lower"] = tau_ci[:, 0]
    table["tau_upper"] = tau_ci[:, 1]
    for t in thresholds:
        p = np.clip(np.asarray(batch.cdf(to_analysis(float(t), measure), "mu"), dtype=float), 0.0, 1.0)
        table[prob_column(float(t), benefit)] = p if benefit.below else 1.0 - p
    table.attrs.update({"measure": measure, "level": level, "benefit": benefit.value, "k": int(y_arr.size)})
    return table


def _halfnormal_scale(tau: Prior) -> float:
    return float(tau.scale()) if tau.family == "halfnormal" and tau.scale() is not None else np.nan


def conclusion_changes(
    table: pd.DataFrame,
    threshold: float = 0.7,
    cuts: Sequence[float] = (0.5, 0.9),
    *,
    reference: int = 0,
) -> pd.DataFrame:
    """Where a probability statement changes category across priors.

    The probability P(ratio < ``threshold``) (or P(ratio > threshold) for a table built with benefit above)
    of each row of a :func:`prior_grid` table is placed in a band delimited by ``cuts``
    (default: below 0.5, 0.5 to 0.9, 0.9 or more); ``changes`` is True for rows whose band differs from the band of
    the ``reference`` row (default the first: the first set with its own tau prior). Returns prior_set, tau_prior,
    the probability, ``band`` and ``changes``; ``attrs['robust']`` is True when no row changes band.
    """
    candidates = [f"prob_below_{threshold:g}", f"prob_above_{threshold:g}"]
    column = next((c for c in candidates if c in table.columns), None)
    if column is None:
        have = ", ".join(c for c in table.columns if str(c).startswith("prob_")) or "none"
        raise InputError(f"the table has no probability for threshold {threshold:g}", valid=f"columns {have}")
    edges = np.asarray(sorted(float(c) for c in cuts))
    if edges.size == 0 or np.any((edges <= 0) | (edges >= 1)):
        raise InputError(f"cuts must be probabilities in (0, 1), got {tuple(cuts)}")
    if not 0 <= reference < len(table):
        raise InputError(f"reference row {reference} is outside the table (0..{len(table) - 1})")
    labels = [f"< {edges[0]:g}"]
    labels += [f"{a:g} to {b:g}" for a, b in itertools.pairwise(edges)]
    labels += [f">= {edges[-1]:g}"]
    p = table[column].to_numpy(float)
    band = np.searchsorted(edges, p, side="right")
    out = table[["prior_set", "tau_prior"]].copy()
    out[column] = p
    out["band"] = [labels[b] for b in band]
    out["changes"] = band != band[reference]
    out.attrs.update(
        {
            "column": column,
            "cuts": tuple(float(e) for e in edges),
            "reference": reference,
            "robust": not bool(out["changes"].any()),
        }
    )
    return out


# -- power-scaling sensitivity -------------------------------------------------------------------------------
def power_scaling(
    source: Posterior | EffectData | tuple[Any, Any],
    *,
    mu_prior: str | Prior | None = None,
    tau_prior: str | Prior | None = None,
    params: Sequence[str] = POWER_PARAMETERS,
    alphas: Sequence[float] = POWER_ALPHAS,
    threshold: float = SENSITIVITY_THRESHOLD,
    support_draws: int = SUPPORT_DRAWS,
    grid_points: int = 1001,
) -> pd.DataFrame:
    """Power-scaling prior and likelihood sensitivity per parameter (Kallioinen et al. 2024).

    ``source`` is a :class:`Posterior`, or data (an EffectData or a pair (yi, sei)) with ``mu_prior`` and
    ``tau_prior``. Columns:
    parameter, prior, likelihood (the derivative of the cumulative Jensen-Shannon distance with respect to
    log2(alpha), by central differences at ``alphas``), diagnosis (:func:`diagnose` at ``threshold``).

    Exact engine (a pair, or a posterior without stored draws): every power-scaled posterior is refitted exactly
    -- the prior by ``Prior.power(alpha)`` for mu and tau together, the likelihood p(y | theta)^alpha, which for
    normal likelihoods is the model with standard errors s_i / sqrt(alpha) -- and the distances are integrals of
    the exact marginal CDFs over the span of ``support_draws`` posterior draws (the 1/(S+1) to S/(S+1)
    quantiles of the base posterior), so they carry no importance-sampling or Monte Carlo error and equal the
    large-sample limit of what priorsense/ArviZ compute from S draws. A data-dependent tau prior (jeffreys) is
    recomputed from the scaled standard errors.

    NUTS (a posterior with draws): ArviZ ``az.psens`` on ``extras['idata']`` (or the posterior's own
    InferenceData), which reweights the draws by Pareto-smoothed importance sampling; it power-scales the joint
    log prior of mu and tau (the ``log_prior`` group, added from the priors when absent) and the summed
    pointwise log likelihood of the ``log_likelihood`` group (alphas 1/1.01 and 1.01). A binomial-normal posterior
    is power-scaled there with its own binomial log-likelihood of the arm counts; without draws (the exact path,
    which refits normal-normal models) it is refused with ModelError.
    """
    lo, hi = _check_alphas(alphas)
    if isinstance(source, Posterior):
        if source.covariates:
            raise ModelError("power-scaling is implemented for the model without covariates")
        if source.draws is not None:
            table = _power_scaling_psis(source, params, (lo, hi))
            table["diagnosis"] = [diagnose(p, q, threshold) for p, q in zip(table["prior"], table["likelihood"])]
            table.attrs.update({"method": "psis (ArviZ psens)", "threshold": threshold,
                                "likelihood": source.likelihood})
            return table
        source.require_normal("exact power-scaling (refits of the normal-normal model)")
        y, sei = source.yi, source.sei
        mu_prior = mu_prior if mu_prior is not None else source.priors["mu"]
        tau_prior = tau_prior if tau_prior is not None else source.priors["tau"]
    else:
        args = effect_args(source) if isinstance(source, EffectData) else effect_args(*source)
        y, sei = args.yi, args.errors()
        if mu_prior is None or tau_prior is None:
            raise InputError("power_scaling on data needs mu_prior and tau_prior")
    y_arr, s_arr = _check_data(y, sei)
    mu, tau = parse_prior(mu_prior, "mu"), parse_prior(tau_prior, "tau")
    prior_d, lik_d = power_scaling_distances(
        y_arr,
        s_arr,
        mu_prior=mu,
        tau_prior=tau,
        params=params,
        alphas=(lo, hi),
        support_draws=support_draws,
        grid_points=grid_points,
    )
    rows = []
    for j, name in enumerate(params):
        p = float(_gradient(prior_d[0, j], prior_d[1, j], (lo, hi)))
        q = float(_gradient(lik_d[0, j], lik_d[1, j], (lo, hi)))
        rows.append({"parameter": name, "prior": p, "likelihood": q, "diagnosis": diagnose(p, q, threshold)})
    table = pd.DataFrame(rows)
    table.attrs.update(
        {"method": "exact", "alphas": (lo, hi), "threshold": threshold, "priors": {"mu": mu.text, "tau": tau.text}}
    )
    return table


def power_scaling_distances(
    data: EffectData | Any,
    sei: Any = None,
    *,
    vi: Any = None,
    mu_prior: str | Prior,
    tau_prior: str | Prior,
    params: Sequence[str] = POWER_PARAMETERS,
    alphas: Sequence[float] = POWER_ALPHAS,
    support_draws: int = SUPPORT_DRAWS,
    grid_points: int = 1001,
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative Jensen-Shannon distances between the base posterior and the posteriors with the prior
    (first array) or the likelihood (second array) raised to each power in ``alphas``: shape
    (len(alphas), len(params)). Exact engine; see :func:`power_scaling`. Any alpha > 0 is allowed (alpha = 1
    reproduces the base posterior, distance 0)."""
    from bayesmeta.exact import fit_exact_batch, fit_exact_priors

    args = effect_args(data, sei, vi=vi)
    y_arr, s_arr = _check_data(args.yi, args.errors())
    mu, tau = parse_prior(mu_prior, "mu"), parse_prior(tau_prior, "tau")
    powers = [float(a) for a in alphas]
    if any(not (np.isfinite(a) and a > 0) for a in powers):
        raise ValueError(f"power-scaling alphas must be positive, got {alphas!r}")
    if support_draws < 10 or grid_points < 11:
        raise ValueError("support_draws must be >= 10 and grid_points >= 11")
    prior_batch = fit_exact_priors(y_arr, s_arr, priors=[(mu, tau)] + [(mu.power(a), tau.power(a)) for a in powers])
    n = 1 + len(powers)
    sei_rows = np.vstack([s_arr] + [s_arr / np.sqrt(a) for a in powers])
    lik_batch = fit_exact_batch(y_arr, sei_rows, mu_prior=mu, tau_prior=tau)
    prior_posts = [prior_batch.posterior(i) for i in range(n)]
    lik_posts = [lik_batch.posterior(i) for i in range(n)]
    tail = 1.0 / (support_draws + 1)
    prior_d = np.empty((len(powers), len(params)))
    lik_d = np.empty_like(prior_d)
    for j, name in enumerate(params):
        lo, hi = (float(v) for v in np.asarray(prior_posts[0].marginal(name).ppf(np.array([tail, 1 - tail]))))
        x = np.linspace(lo, hi, grid_points)
        cdf_prior = _cdf_grid(prior_posts, x, name)
        cdf_lik = _cdf_grid(lik_posts, x, name)
        prior_d[:, j] = cjs_distance(cdf_prior[:1], cdf_prior[1:], x)
        lik_d[:, j] = cjs_distance(cdf_lik[:1], cdf_lik[1:], x)
    return prior_d, lik_d


def _power_scaling_psis(post: Posterior, params: Sequence[str], alphas: tuple[float, float]) -> pd.DataFrame:
    import arviz as az

    idata = post.extras.get("idata")
    idata = idata.copy() if idata is not None else post.to_inference_data()
    if "log_likelihood" not in idata.groups():
        raise ModelError("power-scaling of a NUTS posterior needs its log_likelihood group")
    if "log_prior" not in idata.groups():
        log_prior = {}
        for name in ("mu", "tau"):
            prior = parse_prior(post.priors[name], name)
            log_prior[name] = prior.logpdf(idata.posterior[name].values, post.sei)
        idata.add_groups({"log_prior": log_prior}, coords=None, dims=None)
    present = [p for p in params if p in idata.posterior.data_vars]
    if not present:
        raise ModelError(f"none of {', '.join(params)} is in the posterior draws")
    delta = alphas[1] - 1.0
    prior = az.psens(idata, component="prior", var_names=present, delta=delta)
    lik = az.psens(idata, component="likelihood", var_names=present, delta=delta)
    rows = [{"parameter": p, "prior": float(prior[p].values), "likelihood": float(lik[p].values)} for p in present]
    return pd.DataFrame(rows)


# -- which way the data pull tau -----------------------------------------------------------------------------
def prior_median(prior: Prior) -> float:
    """The median of a proper tau prior on [0, inf): the root of int_0^m p(t) dt = 1/2 (adaptive quadrature)."""
    import warnings

    from scipy import integrate, optimize

    def mass(m: float) -> float:
        return float(integrate.quad(lambda t: float(prior.pdf(t)), 0.0, m, limit=200)[0]) - 0.5

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        total = float(integrate.quad(lambda t: float(prior.pdf(t)), 0.0, math.inf, limit=200)[0])
    if not abs(total - 1.0) < 1e-6:
        raise ValueError(f"{prior.text} is not a proper prior on [0, inf): it has no median")
    hi = prior.scale() or 1.0
    for _ in range(60):
        if mass(hi) >= 0:
            break
        hi *= 4.0
    return float(optimize.brentq(mass, 0.0, hi, xtol=1e-12 * hi))


def tau_pull(post: Posterior, tau_prior: Prior) -> str:
    """'more' when tau's posterior median lies above its prior's (:func:`prior_median`): the data favour more
    heterogeneity than the tau prior expects; else 'less'. An improper tau prior (no median) gives 'more'
    only when it has a characteristic scale below the posterior median, else 'less'."""
    median = float(post.marginal("tau").ppf(0.5))
    try:
        reference = prior_median(tau_prior)
    except (ModelError, ValueError, ZeroDivisionError):
        reference = tau_prior.scale() or math.inf
    return "more" if median > reference else "less"
