"""The exact engine: posterior of the normal-normal hierarchical model and meta-regression by integration over tau.

Roever C (2020), Bayesian random-effects meta-analysis using the bayesmeta R package, J Stat Softw 93(6); Roever C
& Friede T (2022), Using the bayesmeta R package for Bayesian random-effects meta-regression, Comput Methods
Programs Biomed. Formulas: :mod:`bayesmeta.exact.gaussian`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from bayesmeta.effect_data import EffectData, effect_args
from bayesmeta.errors import InputError, ModelError
from bayesmeta.exact.checks import check_data, check_proper
from bayesmeta.exact.gaussian import GaussianModel
from bayesmeta.exact.mixture import MixtureFamily, NormalMixture, mixture_cdf, mixture_moments, mixture_ppf, mixture_sf
from bayesmeta.exact.quadrature import TauRule, build_rules
from bayesmeta.exact.tau import TauBatch, TauMarginal
from bayesmeta.posterior import Marginal, Posterior, _check_level
from bayesmeta.priors import FlatPrior, NormalPrior, Prior, UniformPrior, parse_prior

PriorLike = Prior | str


def _coefficient_prior(prior: Prior) -> tuple[float, float]:
    """(mean, precision) of an effect prior; precision 0 for flat."""
    if isinstance(prior, NormalPrior):
        return prior.mean, 1.0 / prior.sd**2
    if isinstance(prior, FlatPrior):
        return 0.0, 0.0
    raise ModelError(f"prior {prior.text!r} is not an effect prior (valid: normal(mean, sd), flat)")


def default_beta_prior(mu_prior: Prior) -> Prior:
    """flat when mu's prior is flat, else normal(0, sd of mu's prior)."""
    if isinstance(mu_prior, NormalPrior):
        return NormalPrior(0.0, mu_prior.sd)
    return FlatPrior()


class ExactBatch:
    """Exact posteriors of n datasets (or n prior choices) fitted together.

    Vectorised summaries over the members for 'mu', 'predictive' (mixtures of normals over each member's tau
    nodes) and 'tau'; ``posterior(i)`` gives member i's full :class:`Posterior`."""

    def __init__(
        self,
        model: GaussianModel,
        rules: list[TauRule],
        yi: np.ndarray,
        sei: np.ndarray,
        mask: np.ndarray,
        mu_priors: list[Prior],
        tau_priors: list[Prior],
        beta_priors: list[list[Prior]],
        study: tuple[str, ...],
        covariate_names: tuple[str, ...] = (),
        measure: str = "GEN",
        seed: int | None = 0,
        logpost=None,
        tail: np.ndarray | None = None,
        intercept: bool = True,
    ) -> None:
        self.model, self.rules = model, rules
        self.yi, self.sei, self.mask = yi, sei, mask
        self.mu_priors, self.tau_priors, self.beta_priors = mu_priors, tau_priors, beta_priors
        self.study, self.covariate_names = study, covariate_names
        self.measure, self.seed = measure, seed
        # without an intercept every column of the design is a named coefficient, and there is no mu (nor a
        # predictive effect at x = 0); its first column's prior travels in mu_priors
        self.intercept = intercept
        size = max(r.size for r in rules)
        self.weights = np.zeros((self.n, size))
        self.tau = np.empty((self.n, size))
        for i, r in enumerate(rules):
            self.weights[i, : r.size] = r.weights
            self.tau[i, : r.size] = r.tau
            self.tau[i, r.size :] = r.tau[-1]
        cond = model.conditional(self.tau)
        self._cond = cond
        self._mu = (cond.mean[..., 0], np.sqrt(cond.cov[..., 0, 0]))
        self._new = (cond.mean[..., 0], np.sqrt(cond.cov[..., 0, 0] + self.tau**2))
        self.taus = TauBatch(rules, logpost, tail)
        # the predictive effect mu + tau z: its mean needs E(tau) < inf, its variance E(tau^2) < inf; so do the
        # coefficients with flat priors, whose conditional sd grows like tau
        self._new_moments = (self.taus.tail > 2, self.taus.tail > 3)
        self._flat = model.prior_prec == 0
        self._rows = np.arange(self.n)

    @property
    def n(self) -> int:
        return len(self.rules)

    def tau_marginal(self, i: int) -> TauMarginal:
        return self.taus.marginal(i)

    def log_marginal_likelihood(self) -> np.ndarray:
        """log p(y) per member (NaN where a prior is improper and p(y) is not defined)."""
        out = np.array([r.log_evidence for r in self.rules])
        proper = np.array(
            [
                t.proper and m.proper and all(b.proper for b in bs)
                for t, m, bs in zip(self.tau_priors, self.mu_priors, self.beta_priors)
            ]
        )
        return np.where(proper, out, np.nan)

    # -- vectorised summaries ---------------------------------------------------------------------------
    def _mixture(self, param: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if param == "mu":
            return self.weights, *self._mu
        if param == "predictive":
            return self.weights, *self._new
        raise ValueError(f"unknown parameter {param!r} (valid: 'mu', 'predictive', 'tau')")

    def mixture_parameters(self, param: str = "mu") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(weights, means, sds), each (n, nodes), of every member's normal mixture of 'mu' or 'predictive' over
        its tau nodes (a member with fewer nodes is padded with zero weights)."""
        return self._mixture(param)

    def _per_member(self, values: np.ndarray | float) -> np.ndarray:
        return np.broadcast_to(np.asarray(values, dtype=float), (self.n,)).copy()

    def cdf(self, x: np.ndarray | float, param: str = "mu") -> np.ndarray:
        """P(param <= x) for each member; x is a scalar or one value per member."""
        x = self._per_member(x)
        if param == "tau":
            return self.taus.cdf(x[:, None], self._rows)[:, 0]
        return mixture_cdf(x, *self._mixture(param))

    def sf(self, x: np.ndarray | float, param: str = "mu") -> np.ndarray:
        """P(param > x) for each member (accurate in the upper tail)."""
        x = self._per_member(x)
        if param == "tau":
            return 1.0 - self.cdf(x, "tau")
        return mixture_sf(x, *self._mixture(param))

    def ppf(self, q: np.ndarray | float, param: str = "mu") -> np.ndarray:
        q = self._per_member(q)
        if param == "tau":
            return self.taus.ppf(q[:, None], self._rows)[:, 0]
        return mixture_ppf(q, *self._mixture(param))

    def mean(self, param: str = "mu") -> np.ndarray:
        if param == "tau":
            return self.taus.mean.copy()
        mean = mixture_moments(*self._mixture(param))[0]
        exists = self._new_moments[0] if param == "predictive" else self._new_moments[0] | ~self._flat[:, 0]
        return np.where(exists, mean, np.nan)

    def std(self, param: str = "mu") -> np.ndarray:
        if param == "tau":
            return self.taus.std.copy()
        sd = mixture_moments(*self._mixture(param))[1]
        exists = self._new_moments[1] if param == "predictive" else self._new_moments[1] | ~self._flat[:, 0]
        return np.where(exists, sd, np.inf)

    def interval(self, level: float = 0.95, param: str = "mu", kind: str = "central") -> np.ndarray:
        """(n, 2) credible intervals; 'shortest' is computed member by member."""
        _check_level(level)
        if kind == "central":
            probs = np.array([(1 - level) / 2, (1 + level) / 2])
            if param == "tau":
                return self.taus.ppf(np.tile(probs, (self.n, 1)), self._rows)
            return np.stack([self.ppf(p, param) for p in probs], axis=1)
        if kind == "shortest":
            if param == "tau":
                return np.array([self.taus.marginal(i).interval(level, "shortest") for i in range(self.n)])
            w, m, s = self._mixture(param)
            return np.array([NormalMixture(w[i], m[i], s[i]).interval(level, "shortest") for i in range(self.n)])
        raise ValueError(f"unknown interval kind {kind!r} (valid: 'central', 'shortest')")

    # -- full posterior of one member -------------------------------------------------------------------
    def posterior(self, i: int) -> Posterior:
        """The complete posterior of member i (all study effects, sampler, extras)."""
        if not 0 <= i < self.n:
            raise IndexError(f"member {i} out of range (n = {self.n})")
        rule, present = self.rules[i], self.mask[i]
        if self.n == 1:  # one member: its rule fills the nodes, so the batch's conditionals are its own
            sub, cond = self.model, self._cond
        else:
            sub = self.model.subset(np.array([i]))
            cond = sub.conditional(rule.tau[None, :])
        th_mean, th_var = sub.theta_moments(cond)
        w = rule.weights
        mean_b, sd_b = cond.mean[0], np.sqrt(np.diagonal(cond.cov[0], axis1=-2, axis2=-1))
        ids = tuple(sid for sid, p in zip(self.study, present) if p)
        cols = np.flatnonzero(present)
        heavy = (bool(self._new_moments[0][i]), bool(self._new_moments[1][i]))
        coef_moments = [heavy if flat else (True, True) for flat in self._flat[i]]
        thetas = [f"theta[{sid}]" for sid in ids]
        if self.intercept:
            names = ["mu", "predictive", *(f"beta[{c}]" for c in self.covariate_names), *thetas]
            means = np.vstack([mean_b[:, 0], mean_b[:, 0], mean_b[:, 1:].T, th_mean[0][:, cols].T])
            sds = np.vstack(
                [sd_b[:, 0], np.sqrt(cond.cov[0, :, 0, 0] + rule.tau**2), sd_b[:, 1:].T, np.sqrt(th_var[0][:, cols].T)]
            )
            moments = [coef_moments[0], heavy, *coef_moments[1:]]
        else:
            names = [*(f"beta[{c}]" for c in self.covariate_names), *thetas]
            means = np.vstack([mean_b.T, th_mean[0][:, cols].T])
            sds = np.vstack([sd_b.T, np.sqrt(th_var[0][:, cols].T)])
            moments = coef_moments
        family = MixtureFamily(w, means, sds)
        mixtures = {
            name: family.member(r, moments[r] if r < len(moments) else (True, True)) for r, name in enumerate(names)
        }
        tau_marginal = self.tau_marginal(i)
        if self.intercept:
            marginals: dict[str, Marginal] = {"mu": mixtures.pop("mu"), "tau": tau_marginal}
        else:
            marginals = {"tau": tau_marginal}
        marginals.update(mixtures)
        priors = {"mu": self.mu_priors[i].text, "tau": self.tau_priors[i].text} if self.intercept else {
            "tau": self.tau_priors[i].text}
        if self.covariate_names:
            texts = [b.text for b in ([] if self.intercept else [self.mu_priors[i]]) + list(self.beta_priors[i])]
            priors["beta"] = texts[0] if len(set(texts)) == 1 else "; ".join(texts)
        tau_prior = self.tau_priors[i]
        log_prior = tau_prior.logpdf(rule.tau, self.sei[i, present])
        extras: dict[str, object] = {
            "tau_nodes": rule.tau.copy(),
            "tau_weights": w.copy(),
            "tau_log_prior": log_prior,
            "tau_log_likelihood": rule.log_post - log_prior,
        }
        if self.intercept:
            extras["mu_conditional_mean"] = mean_b[:, 0].copy()
            extras["mu_conditional_sd"] = sd_b[:, 0].copy()
        lml = self.log_marginal_likelihood()[i]
        if np.isfinite(lml):
            extras["log_marginal_likelihood"] = float(lml)
        if self.intercept:
            design = self.model.design[cols, 1:] if self.covariate_names else None
        else:
            design = self.model.design[cols]
        combination = _combination(w, mean_b.copy(), cond.cov[0].copy(), self._flat[i].copy(), heavy, rule.tau.copy())
        return Posterior(
            engine="exact",
            measure=self.measure,
            study=ids,
            yi=self.yi[i, present].copy(),
            sei=self.sei[i, present].copy(),
            marginals=marginals,
            priors=priors,
            covariates=self.covariate_names,
            design=design,
            sampler=_joint_sampler(sub, tau_marginal, cols, len(self.covariate_names), self.intercept),
            diagnostics={"n_nodes": rule.size, "step": rule.h, "scale_c": rule.c},
            seed=self.seed,
            extras=extras,
            combination=combination,
            intercept=self.intercept,
        )


def _combination(weights: np.ndarray, mean: np.ndarray, cov: np.ndarray, flat: np.ndarray,
                 heavy: tuple[bool, bool], tau: np.ndarray):
    """The marginal of c'b, b = (mu, beta), for a weight vector c: given tau, c'b | tau, y ~ N(c' m(tau),
    c' V(tau) c) (Roever & Friede 2022), so a normal mixture over the tau nodes; like a coefficient with a flat
    prior, it has the predictive effect's moments when c weighs such a coefficient. With ``new_study`` it is the
    effect of a new study with covariates c, c'b + u, u ~ N(0, tau^2): variance c' V(tau) c + tau^2 (bmr's
    ``X.prediction``), with the predictive effect's moments."""

    def combination(c: np.ndarray, new_study: bool = False) -> NormalMixture:
        c = np.asarray(c, dtype=float)
        if c.shape != (mean.shape[1],):
            raise ValueError(f"{c.size} weights for {mean.shape[1]} coefficients")
        var = np.maximum(np.einsum("i,mij,j->m", c, cov, c), 0.0)
        moments = heavy if np.any(flat & (c != 0)) else (True, True)
        if new_study:
            var, moments = var + tau**2, heavy
        return NormalMixture(weights, mean @ c, np.sqrt(var), moments=moments)

    return combination


def _joint_sampler(sub: GaussianModel, tau_marginal: TauMarginal, cols: np.ndarray, n_cov: int,
                   intercept: bool = True):
    """Exact joint draws: tau by the inverse CDF, then b | tau, y, then theta_i | tau, b, y and the predictive
    effect."""

    def sample(n_draws: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        tau = tau_marginal.draw(rng.uniform(size=n_draws))
        cond = sub.conditional(tau[None, :])
        chol = np.linalg.cholesky(cond.cov[0])
        b = cond.mean[0] + np.einsum("dij,dj->di", chol, rng.standard_normal((n_draws, sub.p)))
        x = sub.design[cols]
        y, s2 = sub.y[0, cols], sub.s2[0, cols]
        t2 = (tau * tau)[:, None]
        shrink = s2 / (s2 + t2)
        mean = (1.0 - shrink) * y + shrink * (b @ x.T)
        theta = mean + np.sqrt(s2 * t2 / (s2 + t2)) * rng.standard_normal(mean.shape)
        if not intercept:
            return {"tau": tau[None, :], "theta": theta[None], "beta": b[None]}
        out = {
            "mu": b[None, :, 0],
            "tau": tau[None, :],
            "theta": theta[None],
            "predictive": (b[:, 0] + tau * rng.standard_normal(n_draws))[None, :],
        }
        if n_cov:
            out["beta"] = b[None, :, 1:]
        return out

    return sample


def _scales(
    y: np.ndarray, sei: np.ndarray, mask: np.ndarray, b0: np.ndarray, prec: np.ndarray, tau_priors: list[Prior]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each dataset: scales bracketing the posterior of tau (lower, upper: standard errors, prior scale,
    spread of y) and the ends of the prior's support."""
    n = y.shape[0]
    lower, upper = np.empty(n), np.empty(n)
    support_lo, support_hi = np.zeros(n), np.full(n, np.inf)
    for i in range(n):
        s, yi = sei[i, mask[i]], y[i, mask[i]]
        prior = tau_priors[i]
        ps = prior.scale()
        spread = float(np.ptp(yi)) if yi.size > 1 else 0.0
        offset = float(np.max(np.abs(yi - b0[i, 0]))) if prec[i, 0] > 0 else 0.0
        lower[i] = min(float(s.min()), ps if ps else np.inf)
        upper[i] = max(float(s.max()), ps or 0.0, spread, offset)
        if isinstance(prior, UniformPrior):
            support_lo[i], support_hi[i] = prior.lower, prior.upper
            if prior.proper:
                width = prior.upper - prior.lower
                lower[i], upper[i] = min(lower[i], width), max(upper[i], width)
    return lower, upper, support_lo, support_hi


def _log_posterior(model: GaussianModel, tau_priors: list[Prior], sei: np.ndarray, mask: np.ndarray):
    """log p(tau) + log p(y | tau) for tau (m, M) of datasets ``rows`` (m,). The prior is evaluated once for all
    rows when they share it and it does not depend on the data (jeffreys does, through sei)."""
    n = len(tau_priors)
    shared = all(p == tau_priors[0] for p in tau_priors) and "jeffreys" not in tau_priors[0].text
    subsets: dict[bytes, GaussianModel] = {}

    def logpost(tau: np.ndarray, rows: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            if shared:
                prior = tau_priors[0].logpdf(tau)
            else:
                prior = np.stack([tau_priors[r].logpdf(tau[j], sei[r, mask[r]]) for j, r in enumerate(rows)])
        if rows.size == n and np.array_equal(rows, np.arange(n)):
            sub = model
        else:
            key = rows.tobytes()
            if key not in subsets:
                if len(subsets) > 64:
                    subsets.clear()
                subsets[key] = model.subset(rows)
            sub = subsets[key]
        return prior + sub.loglik(tau)

    return logpost


def fit_members(
    yi: np.ndarray,
    sei: np.ndarray,
    mask: np.ndarray,
    design: np.ndarray,
    mu_priors: list[Prior],
    tau_priors: list[Prior],
    beta_priors: list[list[Prior]],
    study: tuple[str, ...],
    covariate_names: tuple[str, ...] = (),
    measure: str = "GEN",
    seed: int | None = 0,
    h_scale: float = 1.0,
    intercept: bool = True,
) -> ExactBatch:
    """Fit n members (rows of yi, sei, mask) sharing the design; the common core of every public entry point."""
    check_data(yi, sei, mask)
    n, p = yi.shape[0], design.shape[1]
    b0, prec = np.zeros((n, p)), np.zeros((n, p))
    tail = np.empty(n)
    for i in range(n):
        coefs = [mu_priors[i], *beta_priors[i]]
        if len(coefs) != p:
            raise ModelError(f"{p - 1} covariate(s) but {len(beta_priors[i])} beta prior(s)")
        for j, prior in enumerate(coefs):
            b0[i, j], prec[i, j] = _coefficient_prior(prior)
        flat = prec[i] == 0
        k = int(mask[i].sum())
        check_proper(k, int(flat.sum()), tau_priors[i], mu_priors[i])
        tail[i] = tau_priors[i].tail_exponent() + k - flat.sum()
        if flat.any():
            sub = design[mask[i]][:, flat]
            if np.linalg.matrix_rank(sub) < sub.shape[1]:
                raise ModelError(
                    "the coefficients with flat priors are not identified by the studies' covariates "
                    "(rank-deficient design); give them normal priors or drop covariates"
                )
    model = GaussianModel(yi, sei**2, mask, design, b0, prec)

    logpost = _log_posterior(model, tau_priors, sei, mask)
    lower, upper, support_lo, support_hi = _scales(yi, sei, mask, b0, prec, tau_priors)
    rules = build_rules(logpost, n, lower, upper, support_lo, support_hi, h_scale=h_scale)
    return ExactBatch(
        model,
        rules,
        yi,
        sei,
        mask,
        mu_priors,
        tau_priors,
        beta_priors,
        study,
        covariate_names,
        measure,
        seed,
        logpost,
        tail,
        intercept,
    )


def _as_2d(values: np.ndarray | Sequence[float], name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise InputError(f"{name} must be a non-empty 1-d or 2-d array, got shape {arr.shape}")
    return arr


def fit_exact(
    data: EffectData | np.ndarray | Sequence[float],
    sei: np.ndarray | Sequence[float] | None = None,
    *,
    vi: np.ndarray | Sequence[float] | None = None,
    study: Sequence[str] | None = None,
    measure: str | None = None,
    mu_prior: PriorLike = "flat",
    tau_prior: PriorLike = "halfnormal(0.5)",
    X: np.ndarray | None = None,
    covariate_names: Sequence[str] = (),
    beta_prior: PriorLike | Sequence[PriorLike] | None = None,
    seed: int | None = 0,
    rtol: float = 1e-8,
    intercept: bool = True,
) -> Posterior:
    """Exact posterior of the normal-normal hierarchical model y_i ~ N(theta_i, s_i^2), theta_i = x_i'b + u_i,
    u_i ~ N(0, tau^2), b = (mu, beta) ~ N(b0, B0) or flat, by one-dimensional integration over tau
    (Roever 2020, J Stat Softw 93(6); meta-regression as R bayesmeta's ``bmr``).

    ``data`` is an :class:`~bayesmeta.effect_data.EffectData`, or the effects yi as an array with ``sei`` (or
    ``vi``), ``study`` labels (default 1..k) and ``measure`` (default GEN).

    p(tau | y) is proportional to p(tau) N(y; X b0, S_tau + X B0 X') (the restricted likelihood for flat
    components); b | tau, y and theta_i | tau, b, y are Gaussian, so the marginals of mu, beta, theta_i and
    the predictive effect (a new study at x = 0) are mixtures of normals over p(tau | y), integrated with the
    adaptive rule of :mod:`bayesmeta.exact.quadrature` (geometric convergence; quantiles stable to well below ``rtol``).

    ``X`` holds the covariates without the intercept (see :func:`bayesmeta.design.design_matrix`);
    ``beta_prior`` is one effect prior for all coefficients or one per covariate (default: flat when ``mu_prior``
    is flat, else normal(0, sd of mu's prior)). Improper posteriors are refused with ModelError (see
    :func:`bayesmeta.exact.checks.check_proper`).

    Power-scaling (Kallioinen et al. 2024): the prior raised to alpha is ``Prior.power(alpha)``; the likelihood
    raised to alpha is exactly the model with standard errors sei / sqrt(alpha), because
    N(y; theta, s^2)^alpha is proportional to N(y; theta, s^2/alpha).

    ``extras`` of the result: tau_nodes, tau_weights (the rule), tau_log_prior and tau_log_likelihood at the nodes
    (log p(y | tau), b integrated out), mu_conditional_mean/sd (mu | tau, y at the nodes), and
    log_marginal_likelihood when every prior is proper.

    ``intercept=False``: ``X`` is the whole design (e.g. group indicators, or the -1/0/1 columns of network
    contrasts; :func:`bayesmeta.formula.build_design`), every column a coefficient ``beta[<name>]`` with its
    ``beta_prior`` (default flat); the posterior then has no ``mu`` and no ``predictive``: use
    :meth:`Posterior.contrast` and :meth:`Posterior.prediction` at chosen covariate values."""
    if rtol <= 0:
        raise ValueError("rtol must be positive")
    args = effect_args(data, sei, vi=vi, study=study, measure=measure)
    y2, s2 = _as_2d(args.yi, "yi"), _as_2d(args.errors(), "sei")
    if y2.shape[0] != 1 or s2.shape != y2.shape:
        raise InputError(f"yi and sei must be 1-d arrays of one length, got shapes {np.shape(args.yi)} and "
                         f"{np.shape(args.errors())}")
    k = y2.shape[1]
    ids = _study_labels(args.study, k)
    mu = parse_prior(mu_prior, for_param="mu")
    tau = parse_prior(tau_prior, for_param="tau")
    if X is None:
        x = np.zeros((k, 0))
    else:
        x = np.asarray(X, dtype=float)
        if x.ndim == 1:
            x = x[:, None]
        if x.shape[0] != k or not np.all(np.isfinite(x)):
            raise InputError(f"X must be a finite array with one row per study ({k}), got shape {x.shape}")
    names = tuple(str(c) for c in covariate_names) or tuple(f"x{j + 1}" for j in range(x.shape[1]))
    if len(names) != x.shape[1]:
        raise InputError(f"{x.shape[1]} covariate column(s) but {len(names)} covariate name(s)")
    if not intercept and x.shape[1] == 0:
        raise InputError("a model without intercept needs at least one column in X")
    if beta_prior is None:
        betas = [default_beta_prior(mu) if intercept else FlatPrior()] * x.shape[1]
    elif isinstance(beta_prior, (str, Prior)):
        betas = [parse_prior(beta_prior, for_param="beta")] * x.shape[1]
    else:
        betas = [parse_prior(b, for_param="beta") for b in beta_prior]
    if len(betas) != x.shape[1]:
        raise InputError(f"{x.shape[1]} covariate column(s) but {len(betas)} beta prior(s)")
    design = np.hstack([np.ones((k, 1)), x]) if intercept else x
    if not intercept:
        mu, betas = betas[0], betas[1:]
    # the rule's error decreases geometrically with its step; a tighter rtol than the default refines the step
    h_scale = 1.0 if rtol >= 1e-8 else max(0.25, (-math.log10(1e-8) / -math.log10(rtol)) ** 0.5)
    batch = fit_members(
        y2, s2, np.ones_like(y2, dtype=bool), design, [mu], [tau], [betas], ids, names, args.measure, seed, h_scale,
        intercept,
    )
    return batch.posterior(0)


def _study_labels(study: Sequence[str] | None, k: int) -> tuple[str, ...]:
    if study is None:
        return tuple(str(i + 1) for i in range(k))
    ids = tuple(str(s) for s in study)
    if len(ids) != k:
        raise InputError(f"{len(ids)} study labels for {k} studies", column="study")
    if len(set(ids)) != k:
        dup = next(s for s in ids if ids.count(s) > 1)
        raise InputError(f"study {dup!r} appears more than once", column="study", valid="unique study labels")
    return ids


def fit_exact_batch(
    data: EffectData | np.ndarray | Sequence[float],
    sei: np.ndarray | Sequence[float] | None = None,
    *,
    vi: np.ndarray | Sequence[float] | None = None,
    mask: np.ndarray | None = None,
    study: Sequence[str] | None = None,
    measure: str | None = None,
    mu_prior: PriorLike = "flat",
    tau_prior: PriorLike = "halfnormal(0.5)",
    seed: int | None = 0,
) -> ExactBatch:
    """Fit n datasets at once: rows of yi and sei, (n, k) arrays, or one data set (an EffectData or 1-d arrays)
    repeated for each row of ``mask`` or of a 2-d ``sei`` (rows of one shape broadcast); ``mask`` (n, k) selects
    the studies of each dataset (False = absent; absent entries may hold NaN). Used for leave-one-out,
    cumulative and sequential analyses, and for likelihood power-scaling (sei / sqrt(alpha) per row)."""
    args = effect_args(data, sei, vi=vi, study=study, measure=measure)
    y2, s2 = _as_2d(args.yi, "yi"), _as_2d(args.errors(), "sei")
    m = None if mask is None else np.asarray(mask, dtype=bool)
    m = m[None, :] if m is not None and m.ndim == 1 else m
    shapes = [a.shape for a in (y2, s2, m) if a is not None]
    n = max(shape[0] for shape in shapes)
    if any(shape[1] != y2.shape[1] or shape[0] not in (1, n) for shape in shapes):
        raise InputError("yi, sei and mask must have one shape (or one row to repeat), got "
                         + ", ".join(map(str, shapes)))
    k = y2.shape[1]
    y2, s2 = np.broadcast_to(y2, (n, k)).copy(), np.broadcast_to(s2, (n, k)).copy()
    m = np.ones((n, k), dtype=bool) if m is None else np.broadcast_to(m, (n, k)).copy()
    mu = parse_prior(mu_prior, for_param="mu")
    tau = parse_prior(tau_prior, for_param="tau")
    return fit_members(
        y2,
        s2,
        m,
        np.ones((k, 1)),
        [mu] * n,
        [tau] * n,
        [[] for _ in range(n)],
        _study_labels(args.study, k),
        (),
        args.measure,
        seed,
    )


def fit_exact_priors(
    data: EffectData | np.ndarray | Sequence[float],
    sei: np.ndarray | Sequence[float] | None = None,
    *,
    priors: Sequence[tuple[PriorLike, PriorLike]],
    vi: np.ndarray | Sequence[float] | None = None,
    study: Sequence[str] | None = None,
    measure: str | None = None,
    seed: int | None = 0,
) -> ExactBatch:
    """Fit one dataset (an EffectData, or the arrays yi and sei) under n prior pairs (mu_prior, tau_prior);
    member i uses priors[i]."""
    args = effect_args(data, sei, vi=vi, study=study, measure=measure)
    y2, s2 = _as_2d(args.yi, "yi"), _as_2d(args.errors(), "sei")
    if y2.shape[0] != 1 or s2.shape != y2.shape:
        raise InputError("yi and sei must be 1-d arrays of one length")
    if len(priors) == 0:
        raise ModelError("no prior pairs given")
    n, k = len(priors), y2.shape[1]
    mus = [parse_prior(mu, for_param="mu") for mu, _ in priors]
    taus = [parse_prior(t, for_param="tau") for _, t in priors]
    return fit_members(
        np.repeat(y2, n, 0),
        np.repeat(s2, n, 0),
        np.ones((n, k), dtype=bool),
        np.ones((k, 1)),
        mus,
        taus,
        [[] for _ in range(n)],
        _study_labels(args.study, k),
        (),
        args.measure,
        seed,
    )
