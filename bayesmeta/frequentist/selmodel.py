"""Step-function selection model (Vevea JL & Hedges LV 1995, Psychometrika 60:419-435; Hedges LV 1992, Stat Sci
7:246-255), as R metafor ``selmodel(res, type = "stepfun", steps = ...)``.

The density of an observed effect is the normal-normal density N(y; mu, v + tau^2) times the weight w(p) of its
one-sided p-value, renormalised: f(y_i) = w(p_i) phi(y_i; mu, v_i + tau^2) / A_i, A_i = sum_j delta_j P_ij,
with w = delta_j on the j-th interval (s_{j-1}, s_j] of the cut-offs (delta_1 = 1) and P_ij the probability that
study i's p-value falls there. Maximum likelihood; standard errors from the inverted Hessian of -log L in
(mu, tau^2, delta_2..delta_J).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special, stats

from bayesmeta.effect_data import EffectData
from bayesmeta.errors import InputError, ModelError
from bayesmeta.frequentist.inputs import check_level, effects_input
from bayesmeta.frequentist.result import plain
from bayesmeta.frequentist.rma import rma

ALTERNATIVES = ("greater", "less")
DELTA_MAX = 100.0  # metafor's delta.max for the step function
_TAU2_ZERO = 10 * np.finfo(float).eps  # metafor sets tau^2 below this to 0
_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


@dataclass(frozen=True)
class SelectionModelResult:
    """ML fit of the step-function selection model.

    ``steps`` are the cut-offs with 1 appended; ``delta`` the weights of the intervals (s_{j-1}, s_j] (the first
    fixed at 1, its se None), ``k_per_interval`` the number of observed p-values in each. ``lrt`` compares with
    the model without selection (all delta = 1) on ``lrt_df`` = J - 1 degrees of freedom; ``loglik0`` is that
    model's maximised log-likelihood. ``gradient_norm`` is the largest absolute component of the projected
    gradient of log L at the reported optimum (0 at an exact interior optimum).
    """

    k: int
    alternative: str
    steps: tuple[float, ...]
    k_per_interval: tuple[int, ...]
    estimate: float
    se: float | None
    zval: float | None
    pval: float | None
    ci_lower: float | None
    ci_upper: float | None
    tau2: float
    tau2_se: float | None
    delta: tuple[float, ...]
    delta_se: tuple[float | None, ...]
    delta_ci_lower: tuple[float | None, ...]
    delta_ci_upper: tuple[float | None, ...]
    loglik: float
    loglik0: float
    lrt: float
    lrt_df: int
    lrt_pval: float
    level: float
    common_effect: bool
    gradient_norm: float

    def as_dict(self) -> dict[str, Any]:
        return plain(self)


@dataclass(frozen=True)
class _Problem:
    """The data in the orientation of alternative='greater' (effects negated for 'less')."""

    y: NDArray[np.float64]
    v: NDArray[np.float64]
    sign: float
    bounds: NDArray[np.float64]  # k x (J + 1) thresholds on y: +inf, se z_{1-s_1}, ..., -inf
    group: NDArray[np.intp]  # interval index (0-based) of each study's p-value
    n_steps: int

    def loglik(self, mu: float, tau2: float, delta: NDArray[np.float64]) -> float:
        """log L exactly as metafor's ``.selmodel.ll.stepfun`` evaluates it (tau^2 < 10 eps taken as 0)."""
        tau2 = 0.0 if tau2 < _TAU2_ZERO else tau2
        m = self.sign * mu
        s = np.sqrt(self.v + tau2)
        probs = self._interval_probs(m, s)
        a = probs @ delta
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.sum(np.log(delta[self.group]) - _LOG_SQRT_2PI - np.log(s) - 0.5 * ((self.y - m) / s) ** 2
                         - np.log(a))
        return float(out) if np.isfinite(out) else -np.inf

    def _interval_probs(self, m: float, s: NDArray[np.float64]) -> NDArray[np.float64]:
        """P_ij: upper-tail differences for the inner intervals, the lower tail for the last (as metafor)."""
        z = (self.bounds - m) / s[:, None]
        upper = special.ndtr(-z)  # P(y > b)
        probs = upper[:, 1:] - upper[:, :-1]
        probs[:, -1] = special.ndtr(z[:, -2])
        return probs

    def gradient(self, mu: float, tau2: float, delta: NDArray[np.float64]) -> NDArray[np.float64]:
        """d log L / d(mu, tau^2, delta_2..delta_J), analytic."""
        m = self.sign * mu
        s2 = self.v + tau2
        s = np.sqrt(s2)
        z = (self.bounds - m) / s[:, None]
        finite = np.isfinite(z)
        zf = np.where(finite, z, 0.0)
        pdf = np.where(finite, np.exp(-0.5 * zf**2 - _LOG_SQRT_2PI), 0.0)  # phi(+-inf) = 0, z phi(z) -> 0 too
        zpdf = zf * pdf
        probs = self._interval_probs(m, s)
        a = probs @ delta
        # P_ij = Phi(z_{j-1}) - Phi(z_j): dP/dm = (-pdf_{j-1} + pdf_j) / s; dP/ds = (-z pdf_{j-1} + z pdf_j) / s
        dp_dm = (pdf[:, 1:] - pdf[:, :-1]) / s[:, None]
        dp_ds = (zpdf[:, 1:] - zpdf[:, :-1]) / s[:, None]
        r = self.y - m
        g_m = np.sum(r / s2) - np.sum((dp_dm @ delta) / a)
        g_s = -1.0 / s + r**2 / s**3 - (dp_ds @ delta) / a
        g_tau2 = float(np.sum(g_s / (2 * s)))
        counts = np.bincount(self.group, minlength=self.n_steps)
        with np.errstate(divide="ignore"):  # delta_j = 0 with studies in interval j: log L = -inf there
            g_delta = counts[1:] / delta[1:] - np.sum(probs[:, 1:] / a[:, None], axis=0)
        return np.concatenate([[self.sign * g_m, g_tau2], g_delta])


def one_sided_pvalues(y: NDArray[np.float64], v: NDArray[np.float64], alternative: str) -> NDArray[np.float64]:
    """metafor's p-values of the selection model: 1 - Phi(y / se) ('greater') or Phi(y / se) ('less')."""
    z = y / np.sqrt(v)
    return stats.norm.sf(z) if alternative == "greater" else stats.norm.cdf(z)


def check_steps(steps: Sequence[float]) -> tuple[float, ...]:
    """Sorted unique cut-offs in (0, 1] with 1 appended if absent (as metafor; a cut-off at 0 would leave an empty
    first interval, so it is refused)."""
    try:
        values = [float(s) for s in steps]
    except (TypeError, ValueError) as exc:
        raise InputError(f"the selection model's steps must be numbers ({exc})", column="steps") from exc
    if not values:
        raise InputError("the selection model needs at least one step", column="steps", valid="e.g. 0.025,0.05,0.5")
    bad = [s for s in values if not (np.isfinite(s) and 0.0 < s <= 1.0)]
    if bad:
        raise InputError(f"selection-model step {bad[0]:g} lies outside (0, 1]", column="steps",
                         valid="one-sided p-value cut-offs such as 0.025,0.05,0.5")
    out = sorted(set(values))
    if out[-1] != 1.0:
        out.append(1.0)
    if len(out) < 2:
        raise InputError("the selection model needs a step below 1", column="steps", valid="e.g. 0.025,0.5")
    return tuple(out)


def selection_model(data: EffectData | ArrayLike, vi: ArrayLike | None = None, *, sei: ArrayLike | None = None,
                    steps: Sequence[float] = (0.025, 0.05, 0.5), alternative: str = "greater",
                    common_effect: bool = False, level: float = 0.95) -> SelectionModelResult:
    """Maximum-likelihood step-function selection model (Vevea & Hedges 1995), metafor's parametrisation.

    As metafor ``selmodel(rma(yi, vi, method = "ML"), type = "stepfun", steps = steps, alternative = ...)``:
    p-values are one-sided, p = 1 - Phi(y/se) for alternative 'greater' (selection favours large positive
    effects) and Phi(y/se) for 'less'; intervals (0, s_1], (s_1, s_2], ..., (s_{J-1}, 1] with weights
    delta_1 = 1 <= ... free in [0, 100]; every interval must hold an observed p-value (metafor refuses otherwise).
    ``common_effect`` fixes tau^2 = 0 (metafor's selmodel of an FE fit).

    metafor maximises with ``optim(method = "BFGS")`` on (mu, log tau^2, logit(delta/100)) with numerical
    gradients and relative tolerance sqrt(machine eps) ~ 1.5e-8 on log L, so its estimates carry an optimiser
    error of order 1e-6 to 1e-4. Here log L is maximised with its analytic gradient (BFGS on (mu, tau,
    logit(delta / 100)) from metafor's start and three others, the boundary tau^2 = 0 tried when approached, then
    Newton steps on the original scale within tau^2 >= 0, 0 <= delta <= 100), and ``gradient_norm`` reports the
    projected gradient at the result. Standard errors come from the Hessian by Richardson extrapolation of
    central differences, the scheme of numDeriv::hessian that metafor uses (d = 0.1, r = 6), so they agree with
    metafor's also where tau^2 sits at 0. The likelihood-ratio
    test of selection is 2 (log L - log L_0), L_0 the ML normal-normal model, on J - 1 df.
    """
    if alternative not in ALTERNATIVES:
        raise InputError(f"unknown alternative '{alternative}'", valid="greater or less (one-sided p-values)")
    level = check_level(level)
    steps_t = check_steps(steps)
    n_steps = len(steps_t)
    y, v, _ = effects_input(data, vi, sei=sei, min_k=2)
    k = y.size
    n_free = 1 + (0 if common_effect else 1) + n_steps - 1
    if k < n_free:
        raise ModelError(f"k = {k} studies are too few to fit a selection model with {n_free} parameters")

    pvals = one_sided_pvalues(y, v, alternative)
    group = np.array([int(np.flatnonzero(p <= np.asarray(steps_t))[0]) for p in pvals], dtype=np.intp)
    counts = np.bincount(group, minlength=n_steps)
    if np.any(counts == 0):
        empty = [f"({([0.0] + list(steps_t))[j]:g}, {steps_t[j]:g}]" for j in np.flatnonzero(counts == 0)]
        raise ModelError(f"no observed one-sided p-value ({alternative}) lies in the interval(s) {', '.join(empty)}; "
                         "choose other steps")
    sign = 1.0 if alternative == "greater" else -1.0
    se = np.sqrt(v)
    cut = np.concatenate([[np.inf], stats.norm.isf(np.asarray(steps_t))])
    bounds = se[:, None] * cut[None, :]
    bounds[:, 0] = np.inf
    bounds[:, -1] = -np.inf
    prob = _Problem(y=sign * y, v=v, sign=sign, bounds=bounds, group=group, n_steps=n_steps)

    base = rma(y, v, method="FE" if common_effect else "ML", level=level)
    theta, ll = _maximise(prob, base.estimate, base.tau2, common_effect)
    mu, tau2, delta = _unpack(theta, common_effect)
    grad = prob.gradient(mu, tau2, delta)
    if common_effect:
        grad = np.delete(grad, 1)
    lower, upper = _bounds(n_steps, common_effect)
    free = ~(((theta <= lower) & (grad < 0)) | ((theta >= upper) & (grad > 0)))
    gradient_norm = float(np.max(np.abs(grad[free]))) if free.any() else 0.0

    hess = _hessian(lambda t: -prob.loglik(*_unpack(t, common_effect)), theta)
    cov = None
    try:
        chol = np.linalg.cholesky(hess)
        inv = np.linalg.inv(chol)
        cov = inv.T @ inv
    except np.linalg.LinAlgError:
        cov = None
    crit = float(stats.norm.ppf(0.5 + level / 2))
    ses = np.sqrt(np.diag(cov)) if cov is not None else np.full(theta.size, np.nan)
    mu_se = float(ses[0]) if cov is not None else None
    tau2_se = None if (common_effect or cov is None) else float(ses[1])
    d_ses = ses[(1 if common_effect else 2):]
    delta_se = (None,) + tuple(float(s) if cov is not None else None for s in d_ses)
    delta_lo = (None,) + tuple(None if cov is None else float(max(0.0, d - crit * s)) for d, s in zip(delta[1:], d_ses))
    delta_hi = (None,) + tuple(None if cov is None else float(d + crit * s) for d, s in zip(delta[1:], d_ses))

    ll0 = _normal_loglik(y, v, base.estimate, base.tau2)
    lrt = max(0.0, -2 * (ll0 - ll))
    df = n_steps - 1
    z = None if mu_se is None else mu / mu_se
    return SelectionModelResult(
        k=int(k), alternative=alternative, steps=steps_t, k_per_interval=tuple(int(c) for c in counts),
        estimate=float(mu), se=mu_se, zval=z, pval=None if z is None else float(2 * stats.norm.sf(abs(z))),
        ci_lower=None if mu_se is None else float(mu - crit * mu_se),
        ci_upper=None if mu_se is None else float(mu + crit * mu_se),
        tau2=float(tau2), tau2_se=tau2_se, delta=tuple(float(d) for d in delta), delta_se=delta_se,
        delta_ci_lower=delta_lo, delta_ci_upper=delta_hi, loglik=float(ll), loglik0=float(ll0), lrt=float(lrt),
        lrt_df=df, lrt_pval=float(stats.chi2.sf(lrt, df)), level=level, common_effect=common_effect,
        gradient_norm=gradient_norm,
    )


def _unpack(theta: NDArray[np.float64], common_effect: bool) -> tuple[float, float, NDArray[np.float64]]:
    if common_effect:
        return float(theta[0]), 0.0, np.concatenate([[1.0], theta[1:]])
    return float(theta[0]), float(theta[1]), np.concatenate([[1.0], theta[2:]])


def _bounds(n_steps: int, common_effect: bool) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    lower = [-np.inf] + ([] if common_effect else [0.0]) + [0.0] * (n_steps - 1)
    upper = [np.inf] + ([] if common_effect else [np.inf]) + [DELTA_MAX] * (n_steps - 1)
    return np.array(lower), np.array(upper)


def _maximise(prob: _Problem, mu0: float, tau2_0: float, common_effect: bool) -> tuple[NDArray[np.float64], float]:
    """Best of BFGS runs with the analytic gradient on (mu, tau, logit(delta / 100)) (tau^2 = tau * tau reaches the
    boundary 0 smoothly, where metafor's log tau^2 cannot) from metafor's start (ML mu, tau^2 + 0.001, delta = 1)
    and three others; then tau^2 = 0 is tried when the best run heads there, and the optimum is polished by
    Newton steps on the free parameters of the original scale."""
    n_d = prob.n_steps - 1
    lower, upper = _bounds(prob.n_steps, common_effect)

    def to_theta(z: NDArray[np.float64], fixed_tau2: float | None) -> NDArray[np.float64]:
        d = DELTA_MAX * special.expit(z[-n_d:])
        if common_effect:
            return np.concatenate([[z[0]], d])
        tau2 = z[1] ** 2 if fixed_tau2 is None else fixed_tau2
        return np.concatenate([[z[0], tau2], d])

    def full_grad(theta: NDArray[np.float64]) -> NDArray[np.float64]:
        grad = prob.gradient(*_unpack(theta, common_effect))
        return np.delete(grad, 1) if common_effect else grad

    def neg(theta: NDArray[np.float64]) -> float:
        ll = prob.loglik(*_unpack(theta, common_effect))
        return np.inf if not np.isfinite(ll) else -ll

    def run(z0: NDArray[np.float64], fixed_tau2: float | None) -> NDArray[np.float64]:
        keep = np.ones(z0.size, bool)
        if fixed_tau2 is not None:
            keep[1] = False

        def f(zf):
            z = z0.copy()
            z[keep] = zf
            return neg(to_theta(z, fixed_tau2))

        def g(zf):
            z = z0.copy()
            z[keep] = zf
            theta = to_theta(z, fixed_tau2)
            grad = -full_grad(theta)
            d = theta[-n_d:]
            chain = np.ones(theta.size)
            if not common_effect:
                chain[1] = 2 * z[1]
            chain[-n_d:] = d * (1 - d / DELTA_MAX)
            return (grad * chain)[keep]

        with np.errstate(all="ignore"):
            res = optimize.minimize(f, z0[keep], jac=g, method="BFGS", options={"gtol": 1e-10, "maxiter": 2000})
        z = z0.copy()
        z[keep] = res.x
        return to_theta(z, fixed_tau2)

    spread = float(np.std(prob.y)) + float(np.sqrt(np.mean(prob.v)))
    candidates = []
    for dmu, t2, d in ((0.0, tau2_0 + 0.001, 1.0), (0.0, 0.01 * spread**2, 1.0),
                       (-0.5 * spread, 2 * tau2_0 + 0.01, 0.5), (0.5 * spread, 0.5 * tau2_0 + 0.001, 2.0)):
        z0 = np.array([mu0 + dmu] + ([] if common_effect else [np.sqrt(t2)])
                      + [np.log(d / (DELTA_MAX - d))] * n_d, dtype=float)
        candidates.append(run(z0, None))
    values = [neg(t) for t in candidates]
    if not np.isfinite(min(values)):
        raise ModelError("the selection model's likelihood could not be maximised from any start")
    theta = candidates[int(np.argmin(values))]
    if not common_effect and theta[1] < 1e-6 * spread**2:
        z_end = np.concatenate([[theta[0], 0.0], np.log(theta[2:] / (DELTA_MAX - theta[2:]))])
        on_boundary = run(z_end, 0.0)
        if neg(on_boundary) <= neg(theta):
            theta = on_boundary
        at_zero = theta.copy()
        at_zero[1] = 0.0
        if full_grad(at_zero)[1] <= 0 and neg(at_zero) <= neg(theta):  # log L falls as tau^2 leaves 0
            theta = at_zero
    theta = _newton_polish(neg, full_grad, theta, lower, upper)
    return theta, -neg(theta)


def _newton_polish(neg, grad, theta: NDArray[np.float64], lower: NDArray[np.float64],
                   upper: NDArray[np.float64], steps: int = 20) -> NDArray[np.float64]:
    """Newton steps on the coordinates not held at a bound, Hessian by central differences of the analytic
    gradient; a step is kept only if it stays within the bounds, shrinks the gradient and does not lower log L
    beyond rounding."""
    best = theta.copy()
    best_val = neg(best)
    for _ in range(steps):
        g = grad(best)
        free = ~(((best <= lower) & (g < 0)) | ((best >= upper) & (g > 0)))
        if not free.any() or np.max(np.abs(g[free])) < 1e-13:
            break
        idx = np.flatnonzero(free)
        h = np.empty((idx.size, idx.size))
        for a, i in enumerate(idx):
            step = 1e-6 * max(1.0, abs(best[i]))
            e = np.zeros(best.size)
            e[i] = step
            lo_pt, hi_pt = best - e, best + e
            if lo_pt[i] < lower[i]:  # one-sided at a bound
                h[:, a] = (grad(hi_pt)[idx] - g[idx]) / step
            else:
                h[:, a] = (grad(hi_pt)[idx] - grad(lo_pt)[idx]) / (2 * step)
        h = (h + h.T) / 2
        try:
            delta = np.linalg.solve(h, -g[idx])
        except np.linalg.LinAlgError:
            break
        cand = best.copy()
        cand[idx] += delta
        if np.any(cand < lower) or np.any(cand > upper):
            break
        val = neg(cand)
        # near the optimum log L is flat to rounding: accept a step that does not lower it beyond that and
        # shrinks the gradient
        g_new = grad(cand)
        if not (val <= best_val + 1e-13 * max(1.0, abs(best_val))
                and np.max(np.abs(g_new[free])) < np.max(np.abs(g[free]))):
            break
        best, best_val = cand, min(val, best_val)
    return best


def _hessian(func, x: NDArray[np.float64], d: float = 0.1, eps: float = 1e-4, r: int = 6) -> NDArray[np.float64]:
    """Hessian by Richardson extrapolation of central differences, as R numDeriv::hessian (genD, v = 2): steps
    h0 = |d x| (+ eps where |x| < sqrt(machine eps / 7e-7)), halved r times."""
    n = x.size
    zero_tol = np.sqrt(np.finfo(float).eps / 7e-7)
    h0 = np.abs(d * x) + eps * (np.abs(x) < zero_tol)
    f0 = func(x)

    def richardson(a: NDArray[np.float64]) -> float:
        a = a.copy()
        for m in range(1, r):
            for kk in range(r - m):
                a[kk] = (a[kk + 1] * 4**m - a[kk]) / (4**m - 1)
        return float(a[0])

    hdiag = np.empty(n)
    for i in range(n):
        h = h0.copy()
        approx = np.empty(r)
        for kk in range(r):
            e = np.zeros(n)
            e[i] = h[i]
            approx[kk] = (func(x + e) - 2 * f0 + func(x - e)) / h[i] ** 2
            h = h / 2
        hdiag[i] = richardson(approx)
    hess = np.diag(hdiag)
    for i in range(n):
        for j in range(i):
            h = h0.copy()
            approx = np.empty(r)
            for kk in range(r):
                e = np.zeros(n)
                e[i] += h[i]
                e[j] += h[j]
                approx[kk] = (func(x + e) - 2 * f0 + func(x - e) - hdiag[i] * h[i] ** 2
                              - hdiag[j] * h[j] ** 2) / (2 * h[i] * h[j])
                h = h / 2
            hess[i, j] = hess[j, i] = richardson(approx)
    return hess


def _normal_loglik(y: NDArray[np.float64], v: NDArray[np.float64], mu: float, tau2: float) -> float:
    """Full ML log-likelihood of the normal-normal model (metafor ``logLik(res, REML = FALSE)``)."""
    return float(np.sum(stats.norm.logpdf(y, mu, np.sqrt(v + tau2))))
