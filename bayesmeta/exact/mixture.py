"""Mixtures of normal distributions over the tau quadrature nodes.

In the normal-normal model every effect parameter (mu, beta_j, theta_i, theta_new) is normal given tau, so its
marginal posterior is the mixture sum_j w_j N(m_j, s_j^2) over the nodes tau_j of the integration rule, with
w_j the posterior weights of the nodes (Roever 2020, J Stat Softw 93(6), sec. 2.3). Quantiles are found by
safeguarded Newton iterations on the mixture CDF, vectorised over many quantiles (and over many mixtures).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr, ndtri

from bayesmeta.exact.marginal import QuantileMarginal, solve_2x2
from bayesmeta.posterior import _check_level

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def mixture_cdf(x: np.ndarray, w: np.ndarray, m: np.ndarray, s: np.ndarray) -> np.ndarray:
    """sum_j w_j Phi((x - m_j) / s_j); x has the leading shape of w, m, s (..., N)."""
    return np.sum(w * ndtr((x[..., None] - m) / s), axis=-1)


def mixture_sf(x: np.ndarray, w: np.ndarray, m: np.ndarray, s: np.ndarray) -> np.ndarray:
    """1 - CDF, computed directly (accurate in the upper tail)."""
    return np.sum(w * ndtr((m - x[..., None]) / s), axis=-1)


def mixture_pdf(x: np.ndarray, w: np.ndarray, m: np.ndarray, s: np.ndarray) -> np.ndarray:
    z = (x[..., None] - m) / s
    return np.sum(w * np.exp(-0.5 * z * z) / s, axis=-1) * _INV_SQRT_2PI


def mixture_moments(w: np.ndarray, m: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (law of total variance)."""
    mean = np.sum(w * m, axis=-1)
    var = np.sum(w * (s * s + (m - mean[..., None]) ** 2), axis=-1)
    return mean, np.sqrt(var)


def mixture_ppf(q: np.ndarray, w: np.ndarray, m: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Quantiles of mixtures: q has the leading shape of w, m, s (..., N).

    Halley steps (Newton with the density's derivative) on F(x) - q, computed from the survival function above
    the median for accuracy in the upper tail, started from the normal approximation and kept inside a shrinking
    bracket, initially [min(m - 40 s), max(m + 40 s)], by bisection when a step would leave it."""
    q = np.asarray(q, dtype=float)
    if np.any(~((q >= 0) & (q <= 1))):
        raise ValueError("quantile probabilities must lie in [0, 1]")
    mean, sd = mixture_moments(w, m, s)
    shape = q.shape
    lo = np.broadcast_to(np.min(m - 40.0 * s, axis=-1), shape).copy()
    hi = np.broadcast_to(np.max(m + 40.0 * s, axis=-1), shape).copy()
    sign = np.where(q > 0.5, -1.0, 1.0)
    target = np.where(q > 0.5, 1.0 - q, q)
    x = np.clip(mean + sd * ndtri(np.clip(q, 1e-300, 1 - 1e-16)), lo, hi)
    tol = np.broadcast_to(1e-14 * np.maximum(sd, np.abs(mean)) + 1e-300, shape)
    done = (q <= 0) | (q >= 1)
    sg = sign[..., None]
    inv_s = 1.0 / s
    w_phi = w * _INV_SQRT_2PI * inv_s
    # sums over the nodes as products with the weights when these are shared (one pass, no temporary)
    weigh = (lambda a: a @ w) if np.ndim(w) == 1 else (lambda a: np.sum(w * a, axis=-1))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(100):
            z = (x[..., None] - m) * inv_s
            phi = w_phi * np.exp(-0.5 * z * z)
            g = sign * (weigh(ndtr(sg * z)) - target)  # increasing in x
            f = phi.sum(axis=-1)
            fp = -np.sum(phi * z * inv_s, axis=-1)
            lo = np.where(g < 0, x, lo)
            hi = np.where(g > 0, x, hi)
            newton = g / f
            denom = 1.0 - 0.5 * newton * fp / f
            halley = (denom > 0.5) & (denom < 2.0)
            step = np.where(halley, newton / denom, newton)
            xn = x - step
            # the error after a Halley step is of order the cube of the relative residual before it (Newton's:
            # the square), so a Halley step from a residual below 1e-6 of the tail probability (Newton's: 1e-10)
            # is the last
            last = np.abs(g) <= np.where(halley, 1e-6, 1e-10) * target
            small = (np.abs(step) <= tol) | (g == 0) | (last & (xn > lo) & (xn < hi))
            bad = ~small & (~np.isfinite(xn) | (xn <= lo) | (xn >= hi))
            xn = np.where(bad, 0.5 * (lo + hi), xn)
            x = np.where(done, x, xn)
            done = done | small | (hi - lo <= tol)
            if done.all():
                break
    return np.where(q <= 0, -np.inf, np.where(q >= 1, np.inf, x))


def shortest_by_probability(ppf, pdf, level: float, lower_support: float | None = None) -> tuple[float, float]:
    """Shortest interval [Q(p), Q(p + level)] of a unimodal distribution: the p where the density is equal at
    both ends, or p = 0 when the density at the lower end of the support is at least that at Q(level)."""
    from scipy import optimize

    room = 1.0 - level

    def gap(p: float) -> float:
        a, b = ppf(np.array([p, p + level]))
        return float(pdf(np.array([a]))[0] - pdf(np.array([b]))[0])

    if lower_support is not None and gap(0.0) >= 0:
        return float(lower_support), float(ppf(np.array([level]))[0])
    eps = 1e-12 * room
    g_lo, g_hi = gap(eps), gap(room - eps)
    if g_lo < 0 < g_hi:
        p = optimize.brentq(gap, eps, room - eps, xtol=1e-13, rtol=1e-12)
    else:
        width = lambda p: float(np.diff(ppf(np.array([p, p + level])))[0])
        p = optimize.minimize_scalar(width, bounds=(0.0, room), method="bounded", options={"xatol": 1e-12}).x
    a, b = ppf(np.array([p, p + level]))
    return float(a), float(b)


class MixtureFamily:
    """Mixtures sharing the node weights (the marginals of one posterior): quantiles are found for every member
    at once and cached, because summaries ask the same probabilities of every parameter."""

    def __init__(self, weights: np.ndarray, means: np.ndarray, sds: np.ndarray) -> None:
        w = np.asarray(weights, dtype=float)
        self.weights = w / w.sum()
        self.means = np.atleast_2d(np.asarray(means, dtype=float))
        self.sds = np.atleast_2d(np.asarray(sds, dtype=float))
        self.mean, self.std = mixture_moments(self.weights, self.means, self.sds)
        self._cache: dict[float, np.ndarray] = {}

    def member(self, row: int, moments: tuple[bool, bool] = (True, True)) -> NormalMixture:
        return NormalMixture(self.weights, self.means[row], self.sds[row], family=(self, row), moments=moments)

    def quantiles(self, row: int, probs: list[float]) -> list[float]:
        missing = [v for v in dict.fromkeys(probs) if v not in self._cache]
        if missing:
            rows = self.means.shape[0]
            q = np.repeat(np.array(missing), rows)
            found = mixture_ppf(
                q, self.weights, np.tile(self.means, (len(missing), 1)), np.tile(self.sds, (len(missing), 1))
            )
            for i, v in enumerate(missing):
                self._cache[v] = found[i * rows : (i + 1) * rows]
        return [float(self._cache[v][row]) for v in probs]


class NormalMixture(QuantileMarginal):
    """The marginal posterior sum_j w_j N(m_j, s_j^2); implements the :class:`bayesmeta.posterior.Marginal`
    protocol. ``shortest`` intervals assume a unimodal density (as R bayesmeta does). ``moments`` says whether
    the mean and the variance of the continuous mixture exist (the rule's finite sums always do)."""

    def __init__(
        self,
        weights: np.ndarray,
        means: np.ndarray,
        sds: np.ndarray,
        family: tuple[MixtureFamily, int] | None = None,
        moments: tuple[bool, bool] = (True, True),
    ) -> None:
        if family is not None:  # normalised and summarised by the family, for all its members at once
            fam, row = family
            self.weights, self.means, self.sds = fam.weights, fam.means[row], fam.sds[row]
            self._mean, self._std = float(fam.mean[row]), float(fam.std[row])
        else:
            w = np.asarray(weights, dtype=float)
            self.weights = w / w.sum()
            self.means = np.asarray(means, dtype=float)
            self.sds = np.asarray(sds, dtype=float)
            if not (self.weights.shape == self.means.shape == self.sds.shape and self.weights.ndim == 1):
                raise ValueError("weights, means and sds must be 1-d arrays of one length")
            self._mean, self._std = (float(v) for v in mixture_moments(self.weights, self.means, self.sds))
        self._quantiles: dict[float, float] = {}
        self._family = family
        self._moments = moments

    def pdf(self, x: np.ndarray | float) -> np.ndarray:
        return mixture_pdf(np.asarray(x, dtype=float), self.weights, self.means, self.sds)

    def cdf(self, x: np.ndarray | float) -> np.ndarray:
        return mixture_cdf(np.asarray(x, dtype=float), self.weights, self.means, self.sds)

    def sf(self, x: np.ndarray | float) -> np.ndarray:
        return mixture_sf(np.asarray(x, dtype=float), self.weights, self.means, self.sds)

    def ppf(self, q: np.ndarray | float) -> np.ndarray:
        q = np.asarray(q, dtype=float)
        if self._family is not None:
            family, row = self._family
            return np.array(family.quantiles(row, q.ravel().tolist())).reshape(q.shape)
        return self._remembered(q, lambda p: mixture_ppf(p, self.weights, self.means, self.sds))

    def _quantile_list(self, probs: list[float]) -> list[float]:
        if self._family is not None:
            family, row = self._family
            return family.quantiles(row, probs)
        return self.ppf(np.array(probs)).tolist()

    def median(self) -> float:
        return self._quantile_list([0.5])[0]

    def interval(self, level: float = 0.95, kind: str = "central") -> tuple[float, float]:
        if kind != "central":
            return super().interval(level, kind)
        _check_level(level)
        lo, _, hi = self._quantile_list([(1 - level) / 2, 0.5, (1 + level) / 2])
        return lo, hi

    def mean(self) -> float:
        """The mean (NaN when it does not exist, e.g. a predictive under a very heavy-tailed tau posterior)."""
        return self._mean if self._moments[0] else math.nan

    def std(self) -> float:
        """The standard deviation (inf when the second moment is infinite)."""
        return self._std if self._moments[1] else math.inf

    def _shortest(self, level: float) -> tuple[float, float]:
        """Solve F(b) - F(a) = level, f(a) = f(b) by Newton's method from the central interval; a step below
        1e-9 of the interval's width leaves an error of order its square, and is the last."""
        a, b = self.interval(level, "central")
        w, m, s = self.weights, self.means, self.sds
        for _ in range(50):
            z = (np.array([a, b])[:, None] - m) / s
            phi = w * np.exp(-0.5 * z * z) / s
            F = (w * ndtr(z)).sum(axis=1)
            f = phi.sum(axis=1) * _INV_SQRT_2PI
            df = -(phi * z / s).sum(axis=1) * _INV_SQRT_2PI
            if not np.all(f > 0):
                break
            e1 = (F[1] - F[0]) - level
            e2 = math.log(f[0]) - math.log(f[1])
            step = solve_2x2((-f[0], f[1], df[0] / f[0], -df[1] / f[1]), (-e1, -e2))
            if step is None:
                break
            a, b = a + step[0], b + step[1]
            if abs(step[0]) + abs(step[1]) <= 1e-9 * (b - a):
                if abs(e1) < 1e-9 and a < b:
                    return float(a), float(b)
                break
        return shortest_by_probability(self.ppf, self.pdf, level)

    def rvs(self, size: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """Exact draws from the mixture: a node by its weight, then the normal of that node."""
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        j = gen.choice(self.weights.size, size=size, p=self.weights)
        return gen.normal(self.means[j], self.sds[j])
