"""The marginal posterior of tau: exact density, CDF by Gauss-Legendre panels between the rule's nodes."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from bayesmeta.exact.mixture import shortest_by_probability
from bayesmeta.exact.quadrature import TauRule, t_to_tau, tau_to_t
from bayesmeta.posterior import _check_level

_GL_X, _GL_W = np.polynomial.legendre.leggauss(10)


class TauMarginal:
    """p(tau | y) proportional to p(tau) p(y | tau); implements the Marginal protocol.

    pdf is the exact density (normalised); cdf adds 10-point Gauss-Legendre integrals (in the rule's variable t)
    between consecutive nodes, so it is accurate to about 1e-12 at any point, not only at the nodes; ppf solves
    cdf(tau) = q by Newton's method in t, bracketed by the nodes."""

    def __init__(self, rule: TauRule, logpost: Callable[[np.ndarray], np.ndarray]) -> None:
        self.rule = rule
        self._logpost = logpost
        self._cum: np.ndarray | None = None
        self._log_norm = rule.log_evidence
        self._mean = float(np.sum(rule.weights * rule.tau))
        self._std = math.sqrt(max(float(np.sum(rule.weights * (rule.tau - self._mean) ** 2)), 0.0))

    # -- integration in t -------------------------------------------------------------------------------
    def _log_g(self, t: np.ndarray) -> np.ndarray:
        """log of p(tau(t) | y) dtau/dt (unnormalised)."""
        tau, log_jac = t_to_tau(t, self.rule.c, self.rule.lower, self.rule.upper)
        flat = tau.ravel()
        with np.errstate(invalid="ignore"):
            lp = self._logpost(flat).reshape(tau.shape) + log_jac
        return np.where(np.isnan(lp), -np.inf, lp)

    def _integral(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Integral of the unnormalised density from t = a to t = b (elementwise), times exp(-log_norm)."""
        half = (b - a) / 2.0
        pts = (a + half)[..., None] + half[..., None] * _GL_X
        return np.sum(np.exp(self._log_g(pts) - self._log_norm) * _GL_W, axis=-1) * half

    @property
    def cum(self) -> np.ndarray:
        """The CDF at the nodes (0 at the first node, whose lower mass is below 1e-20)."""
        if self._cum is None:
            t = self.rule.t
            panels = self._integral(t[:-1], t[1:])
            cum = np.concatenate([[0.0], np.cumsum(panels)])
            self._log_norm += math.log(cum[-1])
            self._cum = cum / cum[-1]
        return self._cum

    def _cdf_t(self, t: np.ndarray) -> np.ndarray:
        cum = self.cum
        nodes = self.rule.t
        j = np.clip(np.floor((t - nodes[0]) / self.rule.h).astype(int), 0, nodes.size - 1)
        inside = (t > nodes[0]) & (t < nodes[-1])
        part = np.where(inside, self._integral(nodes[j], np.where(inside, t, nodes[j])), 0.0)
        out = np.where(t >= nodes[-1], 1.0, cum[j] + part)
        return np.clip(out, 0.0, 1.0)

    # -- Marginal protocol ------------------------------------------------------------------------------
    def pdf(self, x: np.ndarray | float) -> np.ndarray:
        _ = self.cum
        x = np.asarray(x, dtype=float)
        out = np.zeros(x.shape)
        ok = (x >= self.rule.lower) & (x < self.rule.upper)
        if np.any(ok):
            with np.errstate(invalid="ignore"):
                out[ok] = np.exp(self._logpost(x[ok]) - self._log_norm)
        return np.nan_to_num(out, nan=0.0)

    def cdf(self, x: np.ndarray | float) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        out = np.where(x >= self.rule.upper, 1.0, 0.0)
        ok = (x > self.rule.lower) & (x < self.rule.upper)
        if np.any(ok):
            out[ok] = self._cdf_t(tau_to_t(x[ok], self.rule.c, self.rule.lower, self.rule.upper))
        return out

    def _start(self, q: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Starting values for the quantile iteration: linear interpolation between nodes j and j + 1 of
        log F (below the median) or log(1 - F) (above), which the tails make nearly linear in t."""
        cum, nodes = self.cum, self.rule.t
        upper = q > 0.5
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(upper, np.log1p(-cum[j]), np.log(cum[j]))
            b = np.where(upper, np.log1p(-cum[j + 1]), np.log(cum[j + 1]))
            v = np.where(upper, np.log1p(-q), np.log(q))
            s = (v - a) / (b - a)
        s = np.where(np.isfinite(s), np.clip(s, 0.0, 1.0), 0.5)
        return nodes[j] + s * (nodes[j + 1] - nodes[j])

    def ppf(self, q: np.ndarray | float) -> np.ndarray:
        q = np.asarray(q, dtype=float)
        if np.any(~((q >= 0) & (q <= 1))):
            raise ValueError("quantile probabilities must lie in [0, 1]")
        cum, nodes = self.cum, self.rule.t
        flat = q.ravel()
        j = np.clip(np.searchsorted(cum, flat, side="right") - 1, 0, nodes.size - 2)
        lo, hi = nodes[j].copy(), nodes[j + 1].copy()
        t = self._start(flat, j)
        active = (flat > 0) & (flat < 1)
        for _ in range(60):
            if not active.any():
                break
            ta, ja, la, ha = t[active], j[active], lo[active], hi[active]
            g = cum[ja] + self._integral(nodes[ja], ta) - flat[active]
            la = np.where(g < 0, ta, la)
            ha = np.where(g > 0, ta, ha)
            dens = np.exp(self._log_g(ta) - self._log_norm)
            with np.errstate(divide="ignore", invalid="ignore"):
                step = g / dens
            tn = ta - step
            done = (np.abs(step) <= 1e-14 * (1.0 + np.abs(ta))) | (g == 0)
            bad = ~done & (~np.isfinite(tn) | (tn <= la) | (tn >= ha))
            t[active] = np.where(bad, 0.5 * (la + ha), tn)
            lo[active], hi[active] = la, ha
            done |= ha - la <= 1e-14 * (1.0 + np.abs(ta))
            active[np.flatnonzero(active)[done]] = False
        tau = t_to_tau(t, self.rule.c, self.rule.lower, self.rule.upper)[0]
        tau = np.where(flat <= 0, self.rule.lower, np.where(flat >= 1, self.rule.upper, tau))
        return tau.reshape(q.shape)

    def mean(self) -> float:
        return self._mean

    def std(self) -> float:
        return self._std

    def median(self) -> float:
        return float(self.ppf(0.5))

    def interval(self, level: float = 0.95, kind: str = "central") -> tuple[float, float]:
        _check_level(level)
        if kind == "central":
            lo, hi = self.ppf(np.array([(1 - level) / 2, (1 + level) / 2]))
            return float(lo), float(hi)
        if kind == "shortest":
            return shortest_by_probability(self.ppf, self.pdf, level, lower_support=self.rule.lower)
        raise ValueError(f"unknown interval kind {kind!r} (valid: 'central', 'shortest')")

    def rvs(self, size: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """Exact draws by the inverse CDF."""
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        return self.ppf(gen.uniform(size=size))
