"""Marginal likelihoods of step-function selection models whose integral has more dimensions than the tensor rule of
:mod:`bayesmeta.bias.selection` takes (mu, log tau and one weight coordinate per cut-off; more than
:data:`~bayesmeta.bias.selection.MAX_DIMENSIONS`), by adaptive tempered sequential Monte Carlo (Del Moral, Doucet &
Jasra 2006, JRSS-B 68:411; the TMCMC scheme of Ching & Chen 2007, J Eng Mech 133:816, which PyMC's ``sample_smc``
implements):

- particles drawn exactly from the prior: mu and tau from the model's priors, the weights from the cumulative
  Dirichlet prior of :class:`~bayesmeta.bias.models.WeightFunction` (eta ~ Dirichlet(alpha) by normalised gamma
  draws, omega_J = eta_1, omega_{J-1} = eta_1 + eta_2, ...), moved in the unconstrained coordinates
  (mu, log tau, logit x_j) with x_j = omega_{j+1} / omega_j, the coordinates of the tensor rule up to the logit;
- the tempered targets p(theta) p(y | theta)^beta, each next beta chosen by bisection so that the effective sample
  size of the incremental weights p(y | theta)^(beta' - beta) is ESS_FRACTION of the particles (Jasra et al. 2011,
  Scand J Stat 38:1), then systematic resampling (Douc & Cappe 2005) and independent Metropolis-Hastings moves with
  a normal proposal of the weighted particles' mean and covariance (PyMC's default ``IMH`` kernel), repeated until
  fewer than UNMOVED_THRESHOLD of the particles have not moved since the stage began, or MAX_MOVES moves were made.
  An accepted independent proposal is independent of the particle's past, so the expected correlation between the
  particles before and after the moves is the share never moved: PyMC estimates that correlation by Pearson's
  (its ``correlation_threshold`` 0.01), whose sampling noise of ~1/sqrt(particles) lies above 0.01 at a thousand
  particles, so that its rule runs to the cap; the count has no such noise. The moves leave each tempered target
  invariant whatever the threshold, which only trades variance for time: on a 4-dimensional model at k = 20 the
  spread (sd) of log p(y) over runs of 1000 particles was 0.046 at 0.01 (95 moves per run, 8 runs), 0.048 at 0.02
  (50 moves, 16 runs) and 0.066 at 0.05 (24 moves, 16 runs): variance x moves 0.20, 0.12 and 0.10, so 0.05;
- log p(y) = sum over stages of log mean of the incremental weights (unbiased for p(y) itself: Del Moral 2004,
  Feynman-Kac Formulae, ch. 7).

The Monte Carlo error comes from REPLICATES independent runs (seeded from the user's seed and the model's name):
their estimates of p(y) are averaged (an average of unbiased estimates) and the standard error of log p(y) is
sd(log p_r(y)) / sqrt(R) (the delta method; the practice of PyMC's per-chain SMC marginal likelihoods and of
bridge sampling's error in RoBMA, Gronau et al. 2017). The gate: a standard error above SE_GATE (posterior model
odds uncertain by more than ~10%) or a final stage in which fewer than DISTINCT_GATE of each run's particles are
distinct after the moves (the particles stopped mixing: the final stage's importance ESS is at least ESS_FRACTION
of the particles by construction, so the gate looks at what can fail, the effective number of distinct particles
the moves leave) gives a warning: ``BiasResult.warnings``, ``warnings`` of ``bias --json``, "warning:" lines of the
printed output and the report's list of warnings.

PyMC's ``sample_smc`` would need one PyTensor compile per model (10-30 s each); this NumPy implementation of the same
algorithm evaluates the selection likelihood for all particles at once and needs none.

What SMC cannot do either, and is refused: an improper tau prior (the particles start as draws from the prior, and
a marginal likelihood under an improper prior has no scale for model averaging anyway; the mu priors here are proper
t priors), and a likelihood that vanishes at every particle.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit, gammaln, log_expit, ndtr

from bayesmeta.bias.models import ModelSpec, WeightFunction
from bayesmeta.bias.priors import BiasPriors, TPrior
from bayesmeta.bias.quadrature import logsumexp
from bayesmeta.bias.selection import effect_thresholds, observed_intervals
from bayesmeta.errors import ModelError

PARTICLES = 500
REPLICATES = 8
"""Particles per run and independent runs: eight runs give the standard error of log p(y) from 7 degrees of freedom
(four would leave it uncertain by a factor of 0.3 to 1.6 at 90%), at the cost of four runs of 1000 particles."""
ESS_FRACTION = 0.5
UNMOVED_THRESHOLD = 0.05
MAX_MOVES = 25
SE_GATE = 0.1
"""Largest standard error of a log marginal likelihood accepted without a warning: the model's posterior odds are
then known to within a factor exp(0.1) = 1.105 at one standard error."""
DISTINCT_GATE = 0.5
"""Smallest fraction of distinct particles after a run's final moves accepted without a warning."""
_LOG_2PI = math.log(2.0 * math.pi)


def draw_tprior(prior: TPrior, n: int, rng: np.random.Generator) -> np.ndarray:
    """n draws of a (truncated) location-scale t or normal prior by inversion of its CDF on [F(lower), F(upper)]."""
    dist = prior._dist()
    if not prior.truncated:
        return np.asarray(dist.rvs(size=n, random_state=rng), dtype=float)
    lo, hi = dist.cdf(prior.lower), dist.cdf(prior.upper)
    return np.clip(dist.ppf(rng.uniform(lo, hi, n)), prior.lower, prior.upper)


class SelectionTarget:
    """The prior and the weighted likelihood of a selection model in the coordinates theta = (mu, log tau,
    logit x_1, ..., logit x_{J-1}) (those the model has), for n particles at once ((n, d) arrays)."""

    def __init__(self, model: ModelSpec, priors: BiasPriors, yi: np.ndarray, sei: np.ndarray,
                 thresholds: np.ndarray | None = None) -> None:
        wf = model.weights
        assert wf is not None
        self.model, self.priors, self.wf = model, priors, wf
        self.yi, self.sei = np.asarray(yi, dtype=float), np.asarray(sei, dtype=float)
        self.crit = effect_thresholds(wf, self.sei) if thresholds is None else np.asarray(thresholds, dtype=float)
        self.counts = np.bincount(observed_intervals(wf, self.yi, self.sei, thresholds), minlength=wf.intervals)
        self.axes = (("mu",) if model.effect else ()) + (("log_tau",) if model.heterogeneity else ()) + tuple(
            f"x{j}" for j in range(1, wf.intervals))
        if model.heterogeneity and not getattr(priors.tau, "proper", True):
            raise ModelError(f"the selection model {model.name} has more dimensions than the tensor rule takes and "
                             f"is estimated by sequential Monte Carlo, which starts from draws of the prior: "
                             f"give it a proper tau prior, not {priors.tau.text}")

    @property
    def dimensions(self) -> int:
        return len(self.axes)

    def split(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mu, tau, logit x) of the particles (n,), (n,), (n, J - 1)."""
        n = theta.shape[0]
        i = 0
        mu = np.zeros(n)
        if self.model.effect:
            mu, i = theta[:, 0], 1
        tau = np.zeros(n)
        if self.model.heterogeneity:
            tau, i = np.exp(theta[:, i]), i + 1
        return mu, tau, theta[:, i:]

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n exact draws of the prior in theta (module docstring)."""
        cols = []
        if self.model.effect:
            cols.append(draw_tprior(self.priors.mu, n, rng))
        if self.model.heterogeneity:
            try:
                tau = self.priors.tau.rvs(n, rng)
            except ModelError as exc:
                raise ModelError(f"{exc}: the selection model {self.model.name} is estimated by sequential Monte "
                                 "Carlo, which starts from draws of the prior") from None
            cols.append(np.log(np.asarray(tau, dtype=float)))
        # eta ~ Dirichlet(alpha) as normalised gammas, in logs: omega_{i+1} / omega_i = x_i, 1 - x_i = eta / omega_i
        J = self.wf.intervals
        with np.errstate(divide="ignore"):
            log_g = np.log(rng.standard_gamma(np.asarray(self.wf.alpha), size=(n, J)))
        log_om = np.logaddexp.accumulate(log_g, axis=1)[:, ::-1]  # log_om[:, i] = log(sum_{m <= J - i} g_m)
        for i in range(J - 1):
            # logit x_i = log omega_{i+1} - log eta_{J-i} (the common normaliser cancels)
            cols.append(np.clip(log_om[:, i + 1] - log_g[:, J - 1 - i], -700.0, 700.0))
        return np.column_stack(cols)

    def log_prior(self, theta: np.ndarray) -> np.ndarray:
        """log p(theta): mu's and tau's densities (with the Jacobian tau of log tau) and the cumulative Dirichlet
        density of the weights in x with its Jacobian (as :func:`~bayesmeta.bias.selection.log_weight_prior`),
        times x (1 - x) of the logits; the etas in logs, log eta = log omega_i + log(1 - x_i), without
        cancellation near x = 1."""
        mu, tau, v = self.split(theta)
        out = np.zeros(theta.shape[0])
        if self.model.effect:
            out = out + self.priors.mu.logpdf(mu)
        if self.model.heterogeneity:
            with np.errstate(divide="ignore"):
                out = out + self.priors.tau.logpdf(tau) + np.log(tau)
        log_x, log_1mx = log_expit(v), log_expit(-v)
        log_om = np.concatenate([np.zeros((v.shape[0], 1)), np.cumsum(log_x, axis=1)], axis=1)
        J = self.wf.intervals
        a = np.asarray(self.wf.alpha)
        log_eta = [log_om[:, J - 1]] + [log_om[:, J - m] + log_1mx[:, J - m] for m in range(2, J + 1)]
        out = out + gammaln(a.sum()) - gammaln(a).sum()
        for am, le in zip(a, log_eta):
            if am != 1.0:
                out = out + (am - 1.0) * le
        for m in range(1, J - 1):
            out = out + (J - 1 - m) * log_x[:, m - 1]
        return out + (log_x + log_1mx).sum(1)

    def log_likelihood(self, theta: np.ndarray) -> np.ndarray:
        """sum_i log f(y_i | mu, tau, omega) of :func:`~bayesmeta.bias.selection.weighted_loglik`, with the
        denominator summed by parts: sum_j omega_j P_ij = omega_J + sum_{c} E_ic (omega_c - omega_{c+1}), E_ic the
        probability of a p-value below cut-off c (every term >= 0, no differences of probabilities)."""
        mu, tau, v = self.split(theta)
        var = self.sei**2 + tau[:, None] ** 2
        sd = np.sqrt(var)
        normal = -0.5 * (self.yi.size * _LOG_2PI + np.log(var).sum(1) + ((self.yi - mu[:, None]) ** 2 / var).sum(1))
        z = (mu[:, None, None] - self.crit[None, :, :]) / sd[:, :, None]
        exceed = ndtr(z)
        if self.wf.sided == "two":
            exceed += ndtr((-self.crit[None, :, :] - mu[:, None, None]) / sd[:, :, None])
        om = np.concatenate([np.ones((v.shape[0], 1)), np.cumprod(expit(v), axis=1)], axis=1)
        denom = np.einsum("nkc,nc->nk", exceed, om[:, :-1] - om[:, 1:]) + om[:, -1:]
        with np.errstate(divide="ignore"):
            log_num = np.log(om[:, 1:]) @ self.counts[1:].astype(float)
            return normal - np.log(denom).sum(1) + log_num


@dataclass
class SmcRun:
    """One SMC run: its log marginal likelihood, final particles (theta), tempering exponents, the acceptance rate
    of its last moves and the fraction of distinct particles after them."""

    log_ml: float
    theta: np.ndarray = field(repr=False)
    betas: tuple[float, ...]
    acceptance: float
    distinct: float


def _next_beta(ll: np.ndarray, beta: float, target: float) -> float:
    """The beta' in (beta, 1] at which the incremental weights exp((beta' - beta) ll) have effective sample size
    ``target`` (1 when they keep more), by bisection."""

    def ess(b: float) -> float:
        lw = (b - beta) * ll
        w = np.exp(lw - np.max(lw))
        return float(w.sum() ** 2 / (w * w).sum())

    if ess(1.0) >= target:
        return 1.0
    lo, hi = beta, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if ess(mid) >= target else (lo, mid)
    return max(lo, beta + 1e-12)


def _systematic(w: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Systematic resampling indices of normalised weights w (Douc & Cappe 2005)."""
    n = w.size
    u = (rng.uniform() + np.arange(n)) / n
    return np.minimum(np.searchsorted(np.cumsum(w), u), n - 1)


def run_smc(target: SelectionTarget, n: int, rng: np.random.Generator) -> SmcRun:
    """One adaptive tempered SMC run of ``n`` particles (module docstring)."""
    theta = target.draw(n, rng)
    d = theta.shape[1]
    with np.errstate(all="ignore"):
        lp = target.log_prior(theta)
        ll = target.log_likelihood(theta)
    ll = np.where(np.isnan(ll), -np.inf, ll)
    beta, log_ml, betas, acc, last = 0.0, 0.0, [], 1.0, theta
    while beta < 1.0:
        if not np.any(np.isfinite(ll)):
            raise ModelError(f"the likelihood of the selection model {target.model.name} vanishes at every "
                             "particle of the sequential Monte Carlo sampler")
        new = _next_beta(np.where(np.isfinite(ll), ll, -np.inf), beta, ESS_FRACTION * n)
        with np.errstate(invalid="ignore"):
            lw = np.where(np.isfinite(ll), (new - beta) * ll, -np.inf)
        top = logsumexp(lw)
        log_ml += top - math.log(n)
        w = np.exp(lw - top)
        mean = w @ theta
        dev = theta - mean
        cov = (dev * w[:, None]).T @ dev + 1e-10 * np.eye(d)
        chol = np.linalg.cholesky(cov)
        idx = _systematic(w, rng)
        theta, lp, ll = theta[idx], lp[idx], ll[idx]
        beta = new
        betas.append(beta)
        theta, lp, ll, acc = _move(target, theta, lp, ll, beta, mean, chol, rng)
    distinct = np.unique(theta, axis=0).shape[0] / n
    return SmcRun(float(log_ml), theta, tuple(betas), float(acc), float(distinct))


def _move(target: SelectionTarget, theta: np.ndarray, lp: np.ndarray, ll: np.ndarray, beta: float,
          mean: np.ndarray, chol: np.ndarray, rng: np.random.Generator):
    """Independent Metropolis-Hastings moves with the proposal N(mean, chol chol') until fewer than
    UNMOVED_THRESHOLD of the particles have never moved (at most MAX_MOVES moves)."""
    n, d = theta.shape
    log_det = float(np.log(np.diag(chol)).sum())

    def log_q(t: np.ndarray) -> np.ndarray:
        z = np.linalg.solve(chol, (t - mean).T)
        return -0.5 * (z * z).sum(0) - log_det

    unmoved = np.ones(n, dtype=bool)
    lq = log_q(theta)
    accepted = 0.0
    for step in range(1, MAX_MOVES + 1):
        prop = mean + rng.standard_normal((n, d)) @ chol.T
        with np.errstate(all="ignore"):
            lp_p = target.log_prior(prop)
            ll_p = target.log_likelihood(prop)
        ll_p = np.where(np.isnan(ll_p), -np.inf, ll_p)
        lq_p = log_q(prop)
        with np.errstate(invalid="ignore"):
            log_a = (lp_p + beta * ll_p - lq_p) - (lp + beta * ll - lq)
        ok = np.log(rng.uniform(size=n)) < np.where(np.isnan(log_a), -np.inf, log_a)
        theta = np.where(ok[:, None], prop, theta)
        lp, ll, lq = np.where(ok, lp_p, lp), np.where(ok, ll_p, ll), np.where(ok, lq_p, lq)
        accepted = float(ok.mean())
        unmoved &= ~ok
        if unmoved.mean() < UNMOVED_THRESHOLD:
            break
    return theta, lp, ll, accepted


def model_seed(seed: int, model: ModelSpec) -> int:
    """The seed of one model's runs: the user's seed and the model's name (crc32) through numpy's SeedSequence, so
    that each model of an ensemble has its own stream and the same inputs give the same numbers."""
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(model.name.encode())])
    return int(ss.generate_state(1)[0])


@dataclass
class SmcFit:
    """A selection model fitted by SMC: log marginal likelihood and its Monte Carlo standard error, each replicate's
    estimate, the pooled final particles as natural parameters (mu, tau, x) and the gate's warnings."""

    log_value: float
    log_error: float
    replicates: tuple[float, ...]
    axes: tuple[str, ...]
    mu: np.ndarray = field(repr=False)
    tau: np.ndarray = field(repr=False)
    x: list[np.ndarray] = field(repr=False)
    seed: int = 0
    particles: int = PARTICLES
    stages: tuple[int, ...] = ()
    distinct: float = 1.0
    acceptance: float = 1.0
    warnings: list[str] = field(default_factory=list)
    mu_bounds: tuple[float, float] = (-math.inf, math.inf)
    """The support of mu's prior (a kernel density of the particles is reflected at its finite ends)."""

    def as_dict(self) -> dict[str, object]:
        return {"seed": self.seed, "replicates": list(self.replicates), "particles": self.particles,
                "stages": list(self.stages), "min_distinct_fraction": self.distinct,
                "min_final_acceptance": self.acceptance, "warnings": list(self.warnings)}


def fit_selection_smc(model: ModelSpec, priors: BiasPriors, yi: np.ndarray, sei: np.ndarray,
                      thresholds: np.ndarray | None = None, seed: int = 0, particles: int | None = None,
                      replicates: int | None = None) -> SmcFit:
    """log p(y | selection model) by ``replicates`` (default REPLICATES) independent SMC runs of ``particles``
    (default PARTICLES) each (module docstring), seeded by :func:`model_seed`; ``thresholds``: the studies' cut-offs
    on the effect scale."""
    particles = particles or PARTICLES
    replicates = replicates or REPLICATES
    target = SelectionTarget(model, priors, np.asarray(yi, float), np.asarray(sei, float), thresholds)
    s = model_seed(seed, model)
    runs = [run_smc(target, particles, np.random.default_rng(child))
            for child in np.random.SeedSequence(s).spawn(replicates)]
    logs = np.array([r.log_ml for r in runs])
    value = float(logsumexp(logs) - math.log(replicates))
    se = float(np.std(logs, ddof=1) / math.sqrt(replicates)) if replicates > 1 else math.inf
    theta = np.concatenate([r.theta for r in runs])
    mu, tau, v = target.split(theta)
    distinct = min(r.distinct for r in runs)
    warnings = []
    if not se <= SE_GATE:
        warnings.append(f"model {model.name}: the Monte Carlo standard error of its log marginal likelihood by "
                        f"sequential Monte Carlo, {se:.2g}, exceeds {SE_GATE:g} (its posterior probability is "
                        f"uncertain by a factor of about {math.exp(se):.3g})")
    if distinct < DISTINCT_GATE:
        warnings.append(f"model {model.name}: only {100 * distinct:.0f}% of the sequential Monte Carlo particles are "
                        f"distinct after the final moves (below {100 * DISTINCT_GATE:g}%): the sampler did not mix")
    return SmcFit(value, se, tuple(float(v_) for v_ in logs), target.axes, mu, tau, [expit(v[:, j]) for j in
                  range(v.shape[1])], s, particles, tuple(len(r.betas) for r in runs), distinct,
                  min(r.acceptance for r in runs), warnings, mu_bounds=(priors.mu.lower, priors.mu.upper))
