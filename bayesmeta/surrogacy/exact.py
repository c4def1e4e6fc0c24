"""The exact engine of the surrogacy model: the posterior by deterministic integration.

The model (:mod:`bayesmeta.surrogacy.model`; Daniels & Hughes 1997, Stat Med 16:1965; Bujkiewicz et al. 2016, Stat
Med 35:1063) with the true effects integrated out is d_i = (x_i, y_i) ~ BVN(mu, S_i + T), mu = (mu_x, mu_y) ~ N(0,
mu_sd^2 I). Given T (tau_x, tau_y, rho) and r_w, mu is conjugate: with Sigma_i = S_i + T, precision P = I / mu_sd^2
+ sum_i Sigma_i^-1 and b = sum_i Sigma_i^-1 d_i,

    mu | T, d ~ N(P^-1 b, P^-1),
    log p(d | T) = -k log(2 pi) - 1/2 sum_i (log|Sigma_i| + d_i' Sigma_i^-1 d_i) + 1/2 b' P^-1 b
                   - 1/2 log|P| - log(mu_sd^2)

(all 2 x 2, in closed form, vectorised over the nodes). What is left is the 3-D integral over (tau_x, tau_y, rho),
4-D when r_w has a uniform prior. It is done on a tensor product of Gauss rules (:mod:`bayesmeta.surrogacy.rules`)
in the box outside which every slice of each axis holds below e^-25 of the largest slice's mass, found by scanning:
an equally spaced pilot grid is evaluated, each axis cut to the pilot nodes whose slice mass reaches within e^-25 of
the largest plus one pilot step either side (grown when the mass reaches an open end), and repeated on the new box
until it stops shrinking. In that box tau_x and tau_y
get Gauss-Legendre rules (the integrand is even in each tau, so a box starting at tau = 0 loses no accuracy), rho a
Gauss-Jacobi rule carrying the LKJ prior's factor (1 -+ rho)^(eta - 1) at an end of the box that is +-1, and r_w a
Gauss-Legendre rule. The accuracy is stated as the difference to a coarser rule on the same box (24 against 32
nodes per axis; 32 against 48 when that difference in rho's summaries exceeds 1e-4, as for a concentrated
posterior), as the exact normal-normal engine does (:mod:`bayesmeta.exact`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import betaln

from bayesmeta.errors import ModelError
from bayesmeta.exact.mixture import NormalMixture
from bayesmeta.summaries import Summary
from bayesmeta.surrogacy.model import Priors
from bayesmeta.surrogacy.rules import AxisRule, log_normaliser, weighted_quantile_root

THRESHOLD = 25.0
PILOT_POINTS = 13
NODES = 32
"""Nodes per axis of tau_x, tau_y and rho (the coarser check rule: COARSE)."""
COARSE = 24
NODES_WITHIN = 8
COARSE_WITHIN = 6
FINE = 48
FINE_WITHIN = 10
TARGET_ERROR = 1e-4
"""When rho's summaries differ by more than this between COARSE and NODES, the fit is redone with FINE nodes (the
check rule then being NODES)."""
CHUNK = 1 << 14
"""Node x study elements evaluated at once (bounds the memory of a 4-D grid)."""


@dataclass(frozen=True)
class Data:
    x: np.ndarray
    sx: np.ndarray
    y: np.ndarray
    sy: np.ndarray


def log_joint(tx: np.ndarray, ty: np.ndarray, rho: np.ndarray, rw: np.ndarray | float, data: Data,
              priors: Priors) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log p(d, T, r_w) with mu integrated out (module docstring) at the points (tx, ty, rho, rw) (1-d arrays of
    one length, rw also a scalar), with the posterior mean (n, 2) and covariance (n, 3: V_xx, V_xy, V_yy) of mu
    given each point."""
    tx, ty, rho = (np.asarray(v, dtype=float) for v in (tx, ty, rho))
    rw = np.broadcast_to(np.asarray(rw, dtype=float), tx.shape)
    n, k = tx.size, data.x.size
    out = np.empty(n)
    mean = np.empty((n, 2))
    cov = np.empty((n, 3))
    p0 = 1.0 / priors.mu_sd**2
    step = max(1, CHUNK // max(k, 1))
    sx2, sy2, sxy = data.sx**2, data.sy**2, data.sx * data.sy
    xs = np.stack([data.x, data.y, data.x**2, 2.0 * data.x * data.y, data.y**2, np.ones(k)], axis=1)
    for s in range(0, n, step):
        sl = slice(s, s + step)
        a = sx2 + tx[sl, None] ** 2
        d = sy2 + ty[sl, None] ** 2
        c = rw[sl, None] * sxy + (rho[sl] * tx[sl] * ty[sl])[:, None]
        det = a * d - c * c
        inv = 1.0 / det
        # sums over studies as matrix products: [x, y, x^2, 2xy, y^2, 1] weighted by the entries of Sigma_i^-1
        fx, fxy, fy = (d * inv) @ xs, (-c * inv) @ xs, (a * inv) @ xs
        bx, by = fx[:, 0] + fxy[:, 1], fxy[:, 0] + fy[:, 1]
        quad = fx[:, 2] + fxy[:, 3] + fy[:, 4]
        qxx, qxy, qyy = p0 + fx[:, 5], fxy[:, 5], p0 + fy[:, 5]
        det_p = qxx * qyy - qxy * qxy
        mx, my = (qyy * bx - qxy * by) / det_p, (qxx * by - qxy * bx) / det_p
        out[sl] = (-k * math.log(2.0 * math.pi) - 0.5 * np.log(det).sum(axis=1) - 0.5 * quad
                   + 0.5 * (bx * mx + by * my) - 0.5 * np.log(det_p) + math.log(p0))
        mean[sl, 0], mean[sl, 1] = mx, my
        cov[sl, 0], cov[sl, 1], cov[sl, 2] = qyy / det_p, -qxy / det_p, qxx / det_p
    return out + log_prior(tx, ty, rho, priors), mean, cov


def log_prior(tx: np.ndarray, ty: np.ndarray, rho: np.ndarray, priors: Priors) -> np.ndarray:
    """Half-normal densities of tau_x and tau_y, the LKJ(eta) density of rho ((rho + 1) / 2 ~ Beta(eta, eta)) and
    the uniform density of r_w when it has a prior."""
    out = np.zeros(np.broadcast(tx, ty, rho).shape)
    for t, s in ((tx, priors.tau_x_scale), (ty, priors.tau_y_scale)):
        out = out + 0.5 * math.log(2.0 / math.pi) - math.log(s) - 0.5 * (t / s) ** 2
    eta = priors.eta
    if eta != 1.0:
        with np.errstate(divide="ignore"):
            out = out + (eta - 1.0) * (np.log1p(rho) + np.log1p(-rho))
    out = out - math.log(2.0) - betaln(eta, eta) - 2.0 * (eta - 1.0) * math.log(2.0)
    if isinstance(priors.within, tuple):
        out = out - math.log(priors.within[1] - priors.within[0])
    return out


AXES = ("tau_x", "tau_y", "rho", "r_within")


def _supports(priors: Priors, data: Data) -> list[tuple[float, float]]:
    out = [(0.0, math.inf), (0.0, math.inf), (-1.0, 1.0)]
    if isinstance(priors.within, tuple):
        out.append(tuple(float(v) for v in priors.within))
    return out


def _evaluate(points: list[np.ndarray], data: Data, priors: Priors):
    """log joint on the tensor product of the axes' points: array of shape (n_1, ..., n_d), and mu's moments."""
    mesh = np.meshgrid(*points, indexing="ij")
    flat = [m.ravel() for m in mesh]
    rw = flat[3] if len(flat) == 4 else priors.within
    lp, mean, cov = log_joint(flat[0], flat[1], flat[2], rw, data, priors)
    shape = mesh[0].shape
    return lp.reshape(shape), mean.reshape(*shape, 2), cov.reshape(*shape, 3)


def find_box(data: Data, priors: Priors) -> list[tuple[float, float]]:
    """The box outside which every slice of each axis holds below e^-THRESHOLD of the largest slice's mass (module
    docstring)."""
    supports = _supports(priors, data)
    spread = float(np.ptp(data.x)), float(np.ptp(data.y))
    box = [(0.0, 5 * priors.tau_x_scale + 2 * spread[0]), (0.0, 5 * priors.tau_y_scale + 2 * spread[1]),
           *supports[2:]]
    for _ in range(12):
        points = []
        for (lo, hi), (s_lo, s_hi) in zip(box, supports):
            p = np.linspace(lo, hi, PILOT_POINTS)
            if lo == s_lo == -1.0:
                p[0] = -1.0 + 1e-9
            if hi == s_hi == 1.0:
                p[-1] = 1.0 - 1e-9
            points.append(p)
        with np.errstate(divide="ignore", invalid="ignore"):
            lp = _evaluate(points, data, priors)[0]
        lp = np.where(np.isfinite(lp), lp, -np.inf)
        top = float(lp.max())
        if not math.isfinite(top):
            raise ModelError("the surrogacy posterior could not be evaluated (non-finite density everywhere)")
        new, settled = [], True
        for axis, ((lo, hi), (s_lo, s_hi), p) in enumerate(zip(box, supports, points)):
            others = tuple(i for i in range(lp.ndim) if i != axis)
            with np.errstate(divide="ignore"):
                slice_mass = np.log(np.sum(np.exp(lp - top), axis=others))
            kept = np.flatnonzero(slice_mass >= slice_mass.max() - THRESHOLD)
            i0, i1 = int(kept[0]), int(kept[-1])
            width = hi - lo
            n_lo = float(p[i0 - 1]) if i0 > 0 else (s_lo if lo == s_lo else max(s_lo, lo - width))
            n_hi = float(p[i1 + 1]) if i1 < p.size - 1 else (s_hi if hi == s_hi else min(s_hi, hi + width))
            n_lo = s_lo if i0 == 0 and lo == s_lo else n_lo
            n_hi = s_hi if i1 == p.size - 1 and hi == s_hi else n_hi
            grew = n_lo < lo or n_hi > hi
            if grew or (n_hi - n_lo) < 0.7 * width:
                settled = False
            new.append((n_lo, n_hi))
        box = new
        if settled:
            return box
    return box


@dataclass
class SurrogacyGrid:
    """The posterior on the tensor grid: the axes' rules (``tau_x``, ``tau_y``, ``rho``[, ``r_within``]), the
    normalised node masses (one axis per parameter), mu's conditional mean (..., 2) and covariance (..., 3: V_xx,
    V_xy, V_yy) at the nodes, and log p(d) (the marginal likelihood, every prior normalised)."""

    axes: dict[str, AxisRule]
    mass: np.ndarray
    mu_mean: np.ndarray
    mu_cov: np.ndarray
    log_evidence: float
    box: list[tuple[float, float]]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.axes)

    def coord(self, name: str) -> np.ndarray:
        """The nodes of axis ``name`` shaped to broadcast against ``mass``."""
        i = self.names.index(name)
        shape = [1] * self.mass.ndim
        shape[i] = -1
        return self.axes[name].nodes.reshape(shape)

    def marginal_mass(self, name: str) -> np.ndarray:
        i = self.names.index(name)
        return self.mass.sum(axis=tuple(j for j in range(self.mass.ndim) if j != i))

    def cdf(self, name: str, value: float | np.ndarray) -> np.ndarray:
        """Marginal CDF of an axis parameter (interpolated between the nodes; :meth:`AxisRule.conditional_cdf`)."""
        v = np.asarray(value, dtype=float)
        m = self.marginal_mass(name)
        return self.axes[name].conditional_cdf(np.broadcast_to(m, (v.size, m.size)))(v.ravel()).reshape(v.shape)

    def quantiles(self, name: str, probs: list[float]) -> list[float]:
        rule = self.axes[name]
        cdf = rule.conditional_cdf(self.marginal_mass(name)[None, :])
        return weighted_quantile_root(lambda v: cdf(np.array([v]))[0], probs, rule.lo, rule.hi)

    def moments(self, values: np.ndarray) -> tuple[float, float]:
        """Posterior mean and sd of a function given by its values at the nodes (broadcast against ``mass``)."""
        v = np.broadcast_to(values, self.mass.shape)
        mean = float(np.sum(self.mass * v))
        return mean, float(math.sqrt(max(float(np.sum(self.mass * (v - mean) ** 2)), 0.0)))

    def rho_given_tau_cdf(self, mass: np.ndarray) -> Callable[[np.ndarray], float]:
        """For node masses ``mass`` (n_x, n_y, n_rho) (summed over r_w), the function targets (n_x, n_y) -> sum over
        the (tau_x, tau_y) node pairs of P(rho <= target_pair, pair); pairs below 1e-16 of the mass are skipped."""
        m = mass.reshape(-1, mass.shape[-1])
        keep = m.sum(axis=1) > 1e-16
        cdf = self.axes["rho"].conditional_cdf(m[keep])
        return lambda targets: float(np.sum(cdf(targets.ravel()[keep])))

    def pair_mass(self) -> np.ndarray:
        return self.mass.sum(axis=3) if self.mass.ndim == 4 else self.mass


def _rules(box: list[tuple[float, float]], priors: Priors, n: int, n_within: int) -> dict[str, AxisRule]:
    rules = {}
    for name, (lo, hi) in zip(AXES, box):
        if name == "rho":
            e = priors.eta - 1.0
            rules[name] = AxisRule.make(lo, hi, n, alpha=e if hi == 1.0 else 0.0, beta=e if lo == -1.0 else 0.0)
        else:
            rules[name] = AxisRule.make(lo, hi, n_within if name == "r_within" else n)
    return rules


def integrate(data: Data, priors: Priors, box: list[tuple[float, float]], n: int = NODES,
              n_within: int = NODES_WITHIN) -> SurrogacyGrid:
    """The posterior on the tensor product of n-point rules in ``box`` (module docstring)."""
    rules = _rules(box, priors, n, n_within)
    lp, mean, cov = _evaluate([r.nodes for r in rules.values()], data, priors)
    log_w = sum(np.expand_dims(r.log_w, [j for j in range(lp.ndim) if j != i]) for i, r in enumerate(rules.values()))
    log_mass = lp + log_w
    if not np.isfinite(log_mass).all():
        raise ModelError("the surrogacy posterior is not finite on the integration grid")
    z = log_normaliser(log_mass)
    return SurrogacyGrid(rules, np.exp(log_mass - z), mean, cov, z, box)


def fit_grid(x: np.ndarray, sx: np.ndarray, y: np.ndarray, sy: np.ndarray, priors: Priors, *,
             n: int = NODES, n_within: int = NODES_WITHIN) -> SurrogacyGrid:
    """The posterior of the surrogacy model for the k studies on the grid (box found by :func:`find_box`)."""
    priors.check()
    data = Data(*(np.asarray(v, dtype=float) for v in (x, sx, y, sy)))
    box = find_box(data, priors)
    return integrate(data, priors, box, n, n_within)


def axis_summary(grid: SurrogacyGrid, name: str, level: float) -> Summary:
    """Median, mean, sd and central interval of an axis parameter (tau_x, tau_y, rho, r_within): moments by the
    rule, quantiles by inverting the interpolated CDF."""
    lo, med, hi = grid.quantiles(name, [(1 - level) / 2, 0.5, (1 + level) / 2])
    mean, sd = grid.moments(grid.coord(name))
    return Summary(med, mean, sd, lo, hi)


def slope_summary(grid: SurrogacyGrid, level: float) -> Summary:
    """The slope rho tau_y / tau_x. Given (tau_x, tau_y) it is increasing in rho, so P(slope <= s) is the
    conditional CDF of rho at s tau_x / tau_y summed over the (tau_x, tau_y) nodes; quantiles by inverting it. It
    has no mean (E|slope| is infinite: as tau_x -> 0 the slope grows like 1 / tau_x while rho given tau_x tends to
    its prior, and the posterior density of tau_x at 0 is positive), so mean NaN and sd inf."""
    tx, ty = grid.axes["tau_x"].nodes, grid.axes["tau_y"].nodes
    ratio = tx[:, None] / ty[None, :]
    cdf = grid.rho_given_tau_cdf(grid.pair_mass())
    rho = grid.axes["rho"]
    ends = np.array([rho.lo, rho.hi])[:, None, None] / ratio[None]
    qs = weighted_quantile_root(lambda v: cdf(v * ratio), [(1 - level) / 2, 0.5, (1 + level) / 2],
                                float(ends.min()), float(ends.max()))
    return Summary(qs[1], math.nan, math.inf, qs[0], qs[2])


def conditional_sd_summary(grid: SurrogacyGrid, level: float) -> Summary:
    """tau_y sqrt(1 - rho^2) <= c iff |rho| >= sqrt(1 - c^2 / tau_y^2): the conditional CDF of rho at both
    roots, summed over the nodes."""
    pairs = grid.pair_mass()
    ty = grid.axes["tau_y"].nodes
    by_ty = pairs.sum(axis=0)  # (n_y, n_rho)

    rho_cdf = grid.axes["rho"].conditional_cdf(by_ty)
    total = by_ty.sum(axis=1)

    def cdf(c: float) -> float:
        r0 = np.sqrt(np.maximum(1.0 - (c / ty) ** 2, 0.0))
        return float(np.sum(rho_cdf(-r0) + total - rho_cdf(r0)))

    qs = weighted_quantile_root(cdf, [(1 - level) / 2, 0.5, (1 + level) / 2], 0.0, float(ty.max()))
    values = grid.coord("tau_y") * np.sqrt(1.0 - grid.coord("rho") ** 2)
    mean, sd = grid.moments(values)
    return Summary(qs[1], mean, sd, qs[0], qs[2])


def mixture(grid: SurrogacyGrid, means: np.ndarray, variances: np.ndarray,
            moments: tuple[bool, bool] = (True, True)) -> NormalMixture:
    """The normal mixture over the nodes (weights the node masses; nodes below 1e-16 of the total dropped)."""
    w = grid.mass.ravel()
    keep = w > 1e-16
    return NormalMixture(w[keep], np.broadcast_to(means, grid.mass.shape).ravel()[keep],
                         np.sqrt(np.broadcast_to(variances, grid.mass.shape).ravel()[keep]), moments=moments)


def mu_marginals(grid: SurrogacyGrid) -> tuple[NormalMixture, NormalMixture]:
    """mu_x and mu_y: mixtures of their conditional normals given the nodes."""
    m, v = grid.mu_mean, grid.mu_cov
    return mixture(grid, m[..., 0], v[..., 0]), mixture(grid, m[..., 1], v[..., 2])


def intercept_marginal(grid: SurrogacyGrid) -> NormalMixture:
    """alpha = mu_y - beta mu_x, beta = rho tau_y / tau_x: normal given a node, with mean m_y - beta m_x and
    variance V_yy - 2 beta V_xy + beta^2 V_xx. Like the slope, it has no mean (E|beta mu_x| is infinite)."""
    beta = grid.coord("rho") * grid.coord("tau_y") / grid.coord("tau_x")
    m, v = grid.mu_mean, grid.mu_cov
    return mixture(grid, m[..., 1] - beta * m[..., 0], v[..., 2] - 2 * beta * v[..., 1] + beta**2 * v[..., 0],
                   moments=(False, False))


def prediction_marginal(grid: SurrogacyGrid, x_new: float, se_new: float) -> NormalMixture:
    """The true final-outcome effect eta* of a new trial with observed surrogate effect x* (standard error s*):
    given a node, eta* | x* ~ N(m_y + g (x* - m_x), tau_y^2 - g c + V_yy - 2 g V_xy + g^2 V_xx), c = rho tau_x
    tau_y, g = c / (tau_x^2 + s*^2) (the conditional bivariate normal, with mu's posterior given the node added).
    With s* = 0, g = rho tau_y / tau_x is unbounded as tau_x -> 0 and the mixture has no mean."""
    tx, ty, rho = grid.coord("tau_x"), grid.coord("tau_y"), grid.coord("rho")
    c = rho * tx * ty
    g = c / (tx**2 + se_new**2)
    m, v = grid.mu_mean, grid.mu_cov
    mean = m[..., 1] + g * (x_new - m[..., 0])
    var = np.maximum(ty**2 - g * c, 0.0) + v[..., 2] - 2 * g * v[..., 1] + g**2 * v[..., 0]
    exists = se_new > 0
    return mixture(grid, mean, var, moments=(exists, exists))
