"""The marginal posterior of tau: exact density, CDF by Gauss-Legendre panels between the rule's nodes.

:class:`TauBatch` holds the posteriors of tau of many datasets (one rule each) and computes their CDFs and
quantiles together; :class:`TauMarginal` is the view of one of them with the Marginal protocol.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bayesmeta.exact.marginal import QuantileMarginal
from bayesmeta.exact.mixture import shortest_by_probability
from bayesmeta.exact.quadrature import TauRule, t_to_tau, tau_to_t

_GL_X, _GL_W = np.polynomial.legendre.leggauss(10)
_DT = 1e-6  # step in t of the central differences of log p(tau | y)

LogPost = Callable[[np.ndarray, np.ndarray], np.ndarray]


class TauBatch:
    """Posteriors p(tau | y) of n datasets: ``logpost(tau (m, K), rows (m,))`` is the log unnormalised density;
    ``tail`` (n,) the exponents with which the densities decay (tau^-tail), which decide whether moments exist.

    The CDF adds 10-point Gauss-Legendre integrals (in the rule's variable t) to the CDF at the nodes, so it is
    accurate to about 1e-12 at any point; quantiles solve cdf = q by Newton's method in t, bracketed by the
    nodes. Every operation works on rows (datasets) and points at once."""

    def __init__(self, rules: list[TauRule], logpost: LogPost, tail: np.ndarray | None = None) -> None:
        self.rules = rules
        self._logpost = logpost
        n, size = len(rules), max(r.size for r in rules)
        self.size = np.array([r.size for r in rules])
        self.h = np.array([r.h for r in rules])
        self.c = np.array([r.c for r in rules])
        self.lower = np.array([r.lower for r in rules])
        self.upper = np.array([r.upper for r in rules])
        self.t = np.array([r.t[0] for r in rules])[:, None] + self.h[:, None] * np.arange(size)
        self.log_norm = np.array([r.log_evidence for r in rules])
        self.mean = np.array([np.sum(r.weights * r.tau) for r in rules])
        self.std = np.sqrt([max(float(np.sum(r.weights * (r.tau - m) ** 2)), 0.0) for r, m in zip(rules, self.mean)])
        # p(tau | y) decays like tau^-tail: E(tau^m) is finite only for tail > m + 1
        tail = np.full(n, np.inf) if tail is None else np.asarray(tail, dtype=float)
        self.mean = np.where(tail > 2, self.mean, np.inf)
        self.std = np.where(tail > 3, self.std, np.inf)
        self.tail = tail
        self._cum: np.ndarray | None = None
        self.n = n

    def _log_parts(self, t: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """log p(tau(t) | y) (unnormalised) and log dtau/dt for t of shape (m, K)."""
        tau, log_jac = t_to_tau(t, self.c[rows, None], self.lower[rows, None], self.upper[rows, None])
        with np.errstate(invalid="ignore"):
            lp = self._logpost(tau, rows)
        return np.where(np.isnan(lp), -np.inf, lp), log_jac

    @property
    def cum(self) -> np.ndarray:
        """CDF at the nodes (n, N); 0 at each first node (lower mass below 1e-20), 1 from each last node on."""
        if self._cum is None:
            rows = np.arange(self.n)
            half = self.h[:, None] / 2.0
            pts = (self.t[:, :-1] + half)[..., None] + half[..., None] * _GL_X
            shape = pts.shape
            lp, lj = self._log_parts(pts.reshape(self.n, -1), rows)
            dens = np.exp(lp + lj - self.log_norm[:, None]).reshape(shape)
            panels = np.sum(dens * _GL_W, axis=-1) * half
            panels[np.arange(shape[1])[None, :] >= self.size[:, None] - 1] = 0.0
            cum = np.concatenate([np.zeros((self.n, 1)), np.cumsum(panels, axis=1)], axis=1)
            total = cum[np.arange(self.n), self.size - 1]
            self.log_norm = self.log_norm + np.log(total)
            self._cum = np.minimum(cum / total[:, None], 1.0)
        return self._cum

    def _index(self, t: np.ndarray, rows: np.ndarray) -> np.ndarray:
        j = np.floor((t - self.t[rows, :1]) / self.h[rows, None]).astype(int)
        return np.clip(j, 0, self.size[rows, None] - 2)

    def cdf_and_parts(self, t: np.ndarray, rows: np.ndarray, extra: np.ndarray | None = None):
        """F at t (m, K) inside the rules, and the log density parts at t and at ``extra`` (m, E) points."""
        cum = self.cum
        j = self._index(t, rows)
        a = np.take_along_axis(self.t[rows], j, axis=1)
        half = (t - a) / 2.0
        pts = (a + half)[..., None] + half[..., None] * _GL_X
        m, k = t.shape
        more = t if extra is None else np.concatenate([t, extra], axis=1)
        lp, lj = self._log_parts(np.concatenate([pts.reshape(m, -1), more], axis=1), rows)
        n_pts = k * _GL_X.size
        dens = np.exp(lp[:, :n_pts] + lj[:, :n_pts] - self.log_norm[rows, None]).reshape(pts.shape)
        cdf = np.take_along_axis(cum[rows], j, axis=1) + np.sum(dens * _GL_W, axis=-1) * half
        return cdf, lp[:, n_pts:], lj[:, n_pts:]

    def pdf(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        _ = self.cum
        out = np.zeros(x.shape)
        ok = (x >= self.lower[rows, None]) & (x < self.upper[rows, None])
        if ok.any():
            safe = np.where(ok, x, self.lower[rows, None])
            with np.errstate(invalid="ignore"):
                val = np.exp(self._logpost(safe, rows) - self.log_norm[rows, None])
            out = np.where(ok, np.nan_to_num(val, nan=0.0), 0.0)
        return out

    def cdf(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        lower, upper = self.lower[rows, None], self.upper[rows, None]
        out = np.where(x >= upper, 1.0, 0.0)
        ok = (x > lower) & (x < upper)
        if ok.any():
            safe = np.where(ok, x, lower + np.where(np.isfinite(upper), (upper - lower) / 2, 1.0))
            t = tau_to_t(safe, self.c[rows, None], lower, upper)
            first = self.t[rows, :1]
            last = np.take_along_axis(self.t[rows], self.size[rows, None] - 1, axis=1)
            inside = ok & (t > first) & (t < last)
            val = np.where(t >= last, 1.0, 0.0)
            if inside.any():
                val = np.where(
                    inside, self.cdf_and_parts(np.where(inside, t, first + 1e-3 * self.h[rows, None]), rows)[0], val
                )
            out = np.where(ok, np.clip(val, 0.0, 1.0), out)
        return out

    def ppf(self, q: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Quantiles for q of shape (m, K), member rows (m,)."""
        if np.any(~((q >= 0) & (q <= 1))):
            raise ValueError("quantile probabilities must lie in [0, 1]")
        cum, nodes = self.cum[rows], self.t[rows]
        last = self.size[rows, None] - 2
        j = np.minimum(np.maximum(np.sum(cum[:, None, :] <= q[..., None], axis=-1) - 1, 0), last)
        c0, c1 = np.take_along_axis(cum, j, 1), np.take_along_axis(cum, j + 1, 1)
        lo, hi = np.take_along_axis(nodes, j, 1), np.take_along_axis(nodes, j + 1, 1)
        t = _log_interpolation(q, c0, c1, lo, hi)
        active = (q > 0) & (q < 1)
        for _ in range(60):
            if not active.any():
                break
            keep = active.any(axis=1)
            sub = rows[keep]
            cdf, lp, lj = self.cdf_and_parts(t[keep], sub)
            g = np.where(active[keep], cdf - q[keep], 0.0)
            la = np.where(g < 0, t[keep], lo[keep])
            ha = np.where(g > 0, t[keep], hi[keep])
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                step = g / np.exp(lp + lj - self.log_norm[sub, None])
            tn = t[keep] - step
            tol = 1e-14 * (1.0 + np.abs(t[keep]))
            done = (np.abs(step) <= tol) | (g == 0)
            bad = ~done & (~np.isfinite(tn) | (tn <= la) | (tn >= ha))
            t[keep] = np.where(active[keep], np.where(bad, 0.5 * (la + ha), tn), t[keep])
            lo[keep], hi[keep] = la, ha
            active[keep] &= ~(done | (ha - la <= tol))
        tau = t_to_tau(t, self.c[rows, None], self.lower[rows, None], self.upper[rows, None])[0]
        return np.where(q <= 0, self.lower[rows, None], np.where(q >= 1, self.upper[rows, None], tau))

    def marginal(self, row: int) -> TauMarginal:
        return TauMarginal(self, row)


def _log_interpolation(q, c0, c1, t0, t1):
    """Starting values: linear interpolation in t of log F (below the median) or log(1 - F) (above), which the
    tails make nearly linear between nodes."""
    upper = q > 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(upper, np.log1p(-c0), np.log(c0))
        b = np.where(upper, np.log1p(-c1), np.log(c1))
        v = np.where(upper, np.log1p(-q), np.log(q))
        s = (v - a) / (b - a)
    s = np.where(np.isfinite(s), np.clip(s, 0.0, 1.0), 0.5)
    return t0 + s * (t1 - t0)


class TauMarginal(QuantileMarginal):
    """p(tau | y) of one dataset, proportional to p(tau) p(y | tau); implements the Marginal protocol. The
    shortest interval solves F(b) - F(a) = level, f(a) = f(b) by Newton's method in t."""

    def __init__(self, batch: TauBatch, row: int) -> None:
        self.batch, self.row = batch, row
        self._rows = np.array([row])
        self.rule = batch.rules[row]
        self._quantiles: dict[float, float] = {}

    def _logpost(self, tau: np.ndarray) -> np.ndarray:
        return self.batch._logpost(np.asarray(tau, dtype=float).reshape(1, -1), self._rows)[0]

    def pdf(self, x: np.ndarray | float) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return self.batch.pdf(x.reshape(1, -1), self._rows).reshape(x.shape)

    def cdf(self, x: np.ndarray | float) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return self.batch.cdf(x.reshape(1, -1), self._rows).reshape(x.shape)

    def ppf(self, q: np.ndarray | float) -> np.ndarray:
        q = np.asarray(q, dtype=float)
        if q.size > 16:
            return self.batch.ppf(q.reshape(1, -1), self._rows).reshape(q.shape)
        if np.any(~((q >= 0) & (q <= 1))):
            raise ValueError("quantile probabilities must lie in [0, 1]")
        return self._remembered(q, lambda p: self.batch.ppf(p[None, :], self._rows)[0])

    def mean(self) -> float:
        return float(self.batch.mean[self.row])

    def std(self) -> float:
        return float(self.batch.std[self.row])

    def _shortest(self, level: float) -> tuple[float, float]:
        """[lower end, Q(level)] when the density at the lower end of the support is at least that at Q(level)
        (a unimodal density decreasing from there); else Newton's method in (t_a, t_b) on
        F(b) - F(a) = level and log f(a) = log f(b), from the central interval."""
        rule = self.rule
        top = float(self.ppf(level))
        if float(self.pdf(rule.lower)) >= float(self.pdf(top)):
            return rule.lower, top
        t = tau_to_t(np.array(self.interval(level, "central")), rule.c, rule.lower, rule.upper)
        nodes = rule.t
        for _ in range(40):
            if not (nodes[0] < t[0] < t[1] < nodes[-1]):
                break
            extra = np.concatenate([t + _DT, t - _DT])[None, :]
            cdf, lp, lj = self.batch.cdf_and_parts(t[None, :], self._rows, extra)
            cdf, lp, lj = cdf[0], lp[0], lj[0]
            dens_t = np.exp(lp[:2] + lj[:2] - self.batch.log_norm[self.row])  # dF/dt
            slope = (lp[2:4] - lp[4:6]) / (2 * _DT)  # d log f(tau(t)) / dt
            e1, e2 = (cdf[1] - cdf[0]) - level, lp[0] - lp[1]
            jac = np.array([[-dens_t[0], dens_t[1]], [slope[0], -slope[1]]])
            try:
                step = np.linalg.solve(jac, [-e1, -e2])
            except np.linalg.LinAlgError:
                break
            if not np.all(np.isfinite(step)):
                break
            t = t + step
            if np.max(np.abs(step)) <= 1e-13 * (1.0 + np.max(np.abs(t))):
                a, b = t_to_tau(t, rule.c, rule.lower, rule.upper)[0]
                if abs(float(np.diff(self.cdf(np.array([a, b])))[0]) - level) < 1e-10:
                    return float(a), float(b)
                break
        return shortest_by_probability(self.ppf, self.pdf, level, lower_support=rule.lower)

    def rvs(self, size: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """Exact draws by the inverse CDF."""
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        return self.ppf(gen.uniform(size=size))
