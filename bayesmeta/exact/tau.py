"""The marginal posterior of tau: exact density, CDF by Gauss-Legendre panels between the rule's nodes.

:class:`TauBatch` holds the posteriors of tau of many datasets (one rule each) and computes their CDFs and
quantiles together; :class:`TauMarginal` is the view of one of them with the Marginal protocol.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable

import numpy as np

from bayesmeta.exact.marginal import QuantileMarginal, solve_2x2
from bayesmeta.exact.mixture import shortest_by_probability
from bayesmeta.exact.quadrature import TauRule, t_to_tau, tau_to_t

_GL_X, _GL_W = np.polynomial.legendre.leggauss(10)
_DT = 1e-6  # step in t of the central differences of log p(tau | y)


# Density values at the 10 Gauss-Legendre points of a panel -> Legendre coefficients of the interpolating
# polynomial (c_k = (2k + 1)/2 sum_i w_i f(x_i) P_k(x_i), exact for degree <= 9), and -> coefficients of its
# integral from -1 (int P_0 = P_1 + P_0, int P_k = (P_{k+1} - P_{k-1}) / (2k + 1)).
_TO_COEF = _GL_W[:, None] * np.polynomial.legendre.legvander(_GL_X, 9) * (np.arange(10) + 0.5)
_INTEGRAL = np.zeros((10, 11))
_INTEGRAL[0, :2] = 1.0
for _k in range(1, 10):
    _INTEGRAL[_k, _k + 1], _INTEGRAL[_k, _k - 1] = 1.0 / (2 * _k + 1), -1.0 / (2 * _k + 1)
# Both in the power basis (Legendre -> powers: the coefficients stay below 500 for degree 10, so on [-1, 1]
# the evaluation loses at most about 3 digits of the small high-order terms), evaluated with one power per point.
_LEG_TO_POWERS = np.array([np.pad(np.polynomial.legendre.leg2poly(np.eye(11)[k]), (0, 10 - k)) for k in range(11)])
_TO_DENSITY = _TO_COEF @ _LEG_TO_POWERS[:10, :10]
_TO_CDF = _TO_COEF @ _INTEGRAL @ _LEG_TO_POWERS
_POWERS = np.arange(11)
_SCALAR_POINTS = 8  # at most this many points: evaluate the interpolation in Python floats

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
        self._row_lists: dict[int, Callable[[float], tuple[float, float]]] = {}
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
            outside = np.arange(shape[1])[None, :] >= self.size[:, None] - 1
            dens[outside] = 0.0
            panels = np.sum(dens * _GL_W, axis=-1) * half
            cum = np.concatenate([np.zeros((self.n, 1)), np.cumsum(panels, axis=1)], axis=1)
            total = cum[np.arange(self.n), self.size - 1]
            self.log_norm = self.log_norm + np.log(total)
            self._cum = np.minimum(cum / total[:, None], 1.0)
            dens /= total[:, None, None]
            self._density_poly = dens @ _TO_DENSITY
            self._cdf_poly = dens @ _TO_CDF
        return self._cum

    def _interpolated(self, t: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """F and dF/dt at t (m, K) from the degree-9 polynomial through the density at each panel's Gauss-Legendre
        points: no evaluation of the posterior, accurate to about 1e-14 (starting values of the quantiles)."""
        cum = self.cum
        if t.size <= _SCALAR_POINTS:
            return self._interpolated_scalar(t, rows)
        j = self._index(t, rows)
        h = self.h[rows, None]
        at = rows[:, None], j
        x = np.minimum(np.maximum(2.0 * (t - self.t[rows, :1] - j * h) / h - 1.0, -1.0), 1.0)
        powers = x[..., None] ** _POWERS
        cdf = cum[at] + 0.5 * h * (self._cdf_poly[at] * powers).sum(axis=-1)
        return cdf, (self._density_poly[at] * powers[..., :10]).sum(axis=-1)

    def _interpolated_scalar(self, t: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_interpolated` point by point in Python floats (Horner's scheme): for the few points of one
        summary's quantiles the overhead of some thirty numpy calls exceeds the arithmetic."""
        cdf, dens = np.empty(t.shape), np.empty(t.shape)
        for r, row in enumerate(rows.tolist()):
            point = self._point_function(row)
            for c, value in enumerate(t[r].tolist()):
                cdf[r, c], dens[r, c] = point(value)
        return cdf, dens

    def _point_function(self, row: int):
        """F and dF/dt of member ``row`` at one t, in Python floats (the interpolation of :meth:`_interpolated`)."""
        if row not in self._row_lists:
            _ = self.cum
            cum_row, cdf_poly = self._cum[row].tolist(), self._cdf_poly[row, :, ::-1].tolist()
            dens_poly = self._density_poly[row, :, ::-1].tolist()
            start, h, top = float(self.t[row, 0]), float(self.h[row]), int(self.size[row]) - 2

            def point(value: float) -> tuple[float, float]:
                j = min(max(math.floor((value - start) / h), 0), top)
                x = min(max(2.0 * (value - start - j * h) / h - 1.0, -1.0), 1.0)
                f = 0.0
                for a in cdf_poly[j]:
                    f = f * x + a
                d = 0.0
                for a in dens_poly[j]:
                    d = d * x + a
                return cum_row[j] + 0.5 * h * f, d

            point.cum_row = cum_row  # type: ignore[attr-defined]
            self._row_lists[row] = point
        return self._row_lists[row]

    def _start_scalar(self, q: np.ndarray, row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Starting values and brackets of the quantiles q (K,) of one member, as in :meth:`ppf` (the nodes around
        each q, :func:`_log_interpolation` between them), in Python floats."""
        cum_row = self._point_function(row).cum_row
        start, h, last = float(self.t[row, 0]), float(self.h[row]), int(self.size[row]) - 2
        t, lo, hi = [], [], []
        for qv in q.tolist():
            j = min(max(bisect.bisect_right(cum_row, qv) - 1, 0), last)
            c0, c1 = cum_row[j], cum_row[j + 1]
            t0, t1 = start + j * h, start + (j + 1) * h
            if qv > 0.5:
                a, b, v = _log1m(c0), _log1m(c1), _log1m(qv)
            else:
                a, b, v = _log(c0), _log(c1), _log(qv)
            sv = (v - a) / (b - a) if b != a else math.nan
            sv = min(max(sv, 0.0), 1.0) if math.isfinite(sv) else 0.5
            t.append(t0 + sv * (t1 - t0))
            lo.append(t0)
            hi.append(t1)
        return np.array(t), np.array(lo), np.array(hi)

    def _newton_scalar(self, q: np.ndarray, row: int, t: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                       accept: float) -> np.ndarray:
        """:func:`_newton` on the interpolated CDF of one member, point by point in Python floats (the same
        iteration: bracketed Newton steps, bisection when a step would leave the bracket)."""
        point = self._point_function(row)
        out = []
        for qv, tv, a, b in zip(q.tolist(), t.tolist(), lo.tolist(), hi.tolist()):
            if 0.0 < qv < 1.0:
                for _ in range(60):
                    cdf, dens = point(tv)
                    g = cdf - qv
                    if g < 0:
                        a = tv
                    elif g > 0:
                        b = tv
                    step = g / dens if dens != 0 else (math.copysign(math.inf, g) if g else 0.0)
                    tn = tv - step
                    tol = accept * (1.0 + abs(tv))
                    done = abs(step) <= tol or g == 0
                    if not done and (not math.isfinite(tn) or tn <= a or tn >= b):
                        tn = 0.5 * (a + b)
                    tv = tn
                    if done or b - a <= tol:
                        break
            out.append(tv)
        return np.array(out)

    def _exact(self, t: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """F and dF/dt at t (m, K) by Gauss-Legendre integration of the posterior from the panel's node."""
        cdf, lp, lj = self.cdf_and_parts(t, rows)
        with np.errstate(over="ignore"):
            return cdf, np.exp(lp + lj - self.log_norm[rows, None])

    def _index(self, t: np.ndarray, rows: np.ndarray) -> np.ndarray:
        j = np.floor((t - self.t[rows, :1]) / self.h[rows, None]).astype(int)
        return np.minimum(np.maximum(j, 0), self.size[rows, None] - 2)

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

    def ppf(self, q: np.ndarray, rows: np.ndarray, exact: bool = True) -> np.ndarray:
        """Quantiles for q of shape (m, K), member rows (m,): Newton's method in t on the interpolated CDF, then on
        the exact CDF from there (a step or two; skipped when ``exact`` is False), each kept inside a shrinking
        bracket by bisection."""
        if np.any(~((q >= 0) & (q <= 1))):
            raise ValueError("quantile probabilities must lie in [0, 1]")
        active = (q > 0) & (q < 1)
        # Newton's error after a step of size d is about (F''/2F') d^2: after a step below 1e-6 on the
        # interpolation (accurate to about 1e-14) one exact step, below 1e-10, leaves an error far below 1e-16
        if rows.size == 1 and q.size <= _SCALAR_POINTS:
            t, lo, hi = self._start_scalar(q[0], int(rows[0]))
            t = self._newton_scalar(q[0], int(rows[0]), t, lo, hi, 1e-6)[None, :]
            lo, hi = lo[None, :], hi[None, :]
        else:
            cum, nodes = self.cum[rows], self.t[rows]
            last = self.size[rows, None] - 2
            j = np.minimum(np.maximum(np.sum(cum[:, None, :] <= q[..., None], axis=-1) - 1, 0), last)
            c0, c1 = np.take_along_axis(cum, j, 1), np.take_along_axis(cum, j + 1, 1)
            lo, hi = np.take_along_axis(nodes, j, 1), np.take_along_axis(nodes, j + 1, 1)
            t = _log_interpolation(q, c0, c1, lo, hi)
            t = _newton(self._interpolated, q, rows, t, lo.copy(), hi.copy(), active, 1e-6)
        if exact:
            t = _newton(self._exact, q, rows, t, lo, hi, active, 1e-10)
        tau = t_to_tau(t, self.c[rows, None], self.lower[rows, None], self.upper[rows, None])[0]
        return np.where(q <= 0, self.lower[rows, None], np.where(q >= 1, self.upper[rows, None], tau))

    def marginal(self, row: int) -> TauMarginal:
        return TauMarginal(self, row)


def _newton(parts, q, rows, t, lo, hi, active, accept: float, iterations: int = 60) -> np.ndarray:
    """Solve F(t) = q for t (m, K) inside brackets [lo, hi] by Newton's method, ``parts(t, rows)`` giving F and
    dF/dt; a point is done when its step is below ``accept`` (1 + |t|) or its bracket is that narrow, and the
    step that met the test is applied."""
    t, active = t.copy(), active.copy()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(iterations):
            if not active.any():
                break
            keep = active.any(axis=1)
            every = keep.all()
            sub, tk, ak = (rows, t, active) if every else (rows[keep], t[keep], active[keep])
            cdf, dens = parts(tk, sub)
            g = np.where(ak, cdf - (q if every else q[keep]), 0.0)
            la = np.where(g < 0, tk, lo if every else lo[keep])
            ha = np.where(g > 0, tk, hi if every else hi[keep])
            step = g / dens
            tn = tk - step
            tol = accept * (1.0 + np.abs(tk))
            done = (np.abs(step) <= tol) | (g == 0)
            bad = ~done & (~np.isfinite(tn) | (tn <= la) | (tn >= ha))
            t_new = np.where(ak, np.where(bad, 0.5 * (la + ha), tn), tk)
            a_new = ak & ~(done | (ha - la <= tol))
            if every:
                t, lo, hi, active = t_new, la, ha, a_new
            else:
                t[keep], lo[keep], hi[keep], active[keep] = t_new, la, ha, a_new
    return t


def _log(x: float) -> float:
    """np.log of a float: -inf at 0, NaN below."""
    return math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan)


def _log1m(x: float) -> float:
    """np.log1p(-x) of a float: -inf at 1, NaN above."""
    return math.log1p(-x) if x < 1 else (-math.inf if x == 1 else math.nan)


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

    def draw(self, u: np.ndarray) -> np.ndarray:
        """tau at uniform numbers ``u`` by the inverse of the interpolated CDF (:meth:`TauBatch.ppf` with
        ``exact=False``): within about 2e-10 (relative) of the exact quantile, far inside Monte Carlo error,
        without the exact CDF's integrals, which at k = 2000 studies took most of a sample's time."""
        u = np.asarray(u, dtype=float)
        return self.batch.ppf(u.reshape(1, -1), self._rows, exact=False).reshape(u.shape)

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
        F(b) - F(a) = level and log f(a) = log f(b), from the central interval: on the interpolated CDF and
        density first, then on the exact ones (a step or two)."""
        rule = self.rule
        # which case: the interpolated Q(level) (within about 1e-14 of the exact one) serves to compare densities
        top = float(self.batch.ppf(np.array([[level]]), self._rows, exact=False)[0, 0])
        at_lower, at_top = self.pdf(np.array([rule.lower, top]))
        if at_lower >= at_top:
            return rule.lower, float(self.ppf(level))
        t = tau_to_t(np.array(self.interval(level, "central")), rule.c, rule.lower, rule.upper)
        found = self._shortest_newton(t, level, self._interpolated_parts, 1e-6)
        if found is not None:
            found = self._shortest_newton(found[0], level, self._exact_parts, 1e-10)
        if found is not None and abs(found[1]) < 1e-10:
            a, b = t_to_tau(found[0], rule.c, rule.lower, rule.upper)[0]
            return float(a), float(b)
        return shortest_by_probability(self.ppf, self.pdf, level, lower_support=rule.lower)

    def _exact_parts(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """F at points[:2], dF/dt there, and log f(tau(t)) (unnormalised) at every point."""
        cdf, lp, lj = self.batch.cdf_and_parts(points[None, :2], self._rows, points[None, 2:])
        with np.errstate(over="ignore"):
            return cdf[0], np.exp(lp[0, :2] + lj[0, :2] - self.batch.log_norm[self.row]), lp[0]

    def _interpolated_parts(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """As :meth:`_exact_parts`, from the interpolated CDF and density (log f(tau) up to a constant), in Python
        floats (a handful of points)."""
        point = self.batch._point_function(self.row)
        rule = self.rule
        log_c, width = math.log(rule.c), rule.upper - rule.lower
        cdf, dens, lp = [], [], []
        for value in points.tolist():
            f, d = point(value)
            e = math.exp(-value)
            log_z = log_c + value - e
            log_jac = log_z + math.log1p(e)
            if math.isfinite(width):  # tau = lower + w z / (w + z)
                log_w = math.log(width)
                log_jac += 2.0 * log_w - 2.0 * (max(log_w, log_z) + math.log1p(math.exp(-abs(log_w - log_z))))
            cdf.append(f)
            dens.append(d)
            lp.append((math.log(d) if d > 0 else (-math.inf if d == 0 else math.nan)) - log_jac)
        return np.array(cdf[:2]), np.array(dens[:2]), np.array(lp)

    def _shortest_newton(self, t: np.ndarray, level: float, parts, accept: float):
        """Newton's method on (t_a, t_b) with ``parts``; (t, e1) once a step is below ``accept`` (1 + |t|), e1 the
        coverage error before that step, else None."""
        nodes = self.rule.t
        for _ in range(40):
            if not (nodes[0] < t[0] < t[1] < nodes[-1]):
                return None
            cdf, dens_t, lp = parts(np.concatenate([t, t + _DT, t - _DT]))
            slope = (lp[2:4] - lp[4:6]) / (2 * _DT)  # d log f(tau(t)) / dt
            e1, e2 = (cdf[1] - cdf[0]) - level, lp[0] - lp[1]
            step = solve_2x2((-dens_t[0], dens_t[1], slope[0], -slope[1]), (-e1, -e2))
            if step is None:
                return None
            t = t + step
            if np.max(np.abs(step)) <= accept * (1.0 + np.max(np.abs(t))):
                return t, e1
        return None

    def rvs(self, size: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """Exact draws by the inverse CDF."""
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        return self.ppf(gen.uniform(size=size))
