"""Each model's posterior of mu and of the effect in a new study (theta_new ~ N(mu, tau^2), without the bias
terms) as :class:`~bayesmeta.bias.marginals.GridMarginal` on a common grid.

Models without selection: given the nodes (tau, g), (mu, b) is Gaussian, and a truncated prior on coefficient c
makes the density of a Gaussian target x (mu, or theta_new with Var = V_mu + tau^2 and Cov(theta_new, c) =
Cov(mu, c)) equal to N(x; m_x, v_x) P(c in [l, u] | x) / P(c in [l, u]) (Azzalini 1985's skew-normal form).
Selection models: the log density of mu at the rule's mu nodes, interpolated by a polynomial through the
Gauss-Legendre nodes, and, for the new study, convolved with N(0, tau_j^2) at each tau node (by FFT). Under a
truncated prior on mu the density jumps to 0 at the bound: the polynomial then goes through the nodes inside the
support only, reaches the bound from the nearest of them (less than one node spacing away) and is 0 beyond it (a
polynomial through the zeros oscillates across the whole axis). Selection
models fitted by sequential Monte Carlo: a Gaussian kernel density of the particles' mu with Silverman's bandwidth h
(Silverman 1986, eq. 3.31; reflected at a finite end of mu's prior support, his section 2.10), and for the new study
the mixture of N(mu_i, tau_i^2 + h^2) over the particles."""

from __future__ import annotations

import numpy as np
from scipy.fft import next_fast_len
from scipy.special import ndtr
from bayesmeta.bias.quadrature import logsumexp

from bayesmeta.bias.gaussian import GaussianFit, log_interval_prob
from bayesmeta.bias.marginals import GridMarginal
from bayesmeta.bias.selection import SelectionFit
from bayesmeta.bias.smc import SmcFit

_TINY = 1e-300


def _normal(x: np.ndarray, m: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * (x - m) ** 2 / v) / np.sqrt(2 * np.pi * v)


def _interval_prob(mean: np.ndarray, sd: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """P(lower <= X <= upper) for X ~ N(mean, sd^2) (underflow to 0 is harmless: the normaliser
    1 / P(c in [l, u]) sits in the node weights, in logs)."""
    if np.isinf(upper):
        return ndtr((mean - lower) / sd)
    if np.isinf(lower):
        return ndtr((upper - mean) / sd)
    return np.clip(ndtr((upper - mean) / sd) - ndtr((lower - mean) / sd), 0.0, None)


def _span(x: np.ndarray, m: np.ndarray, v: np.ndarray) -> slice:
    """The grid points within 10 sd of some component's mean (outside, every component is below e^-50)."""
    sd = np.sqrt(v)
    lo, hi = np.searchsorted(x, [float(np.min(m - 10 * sd)), float(np.max(m + 10 * sd))])
    return slice(int(max(lo - 1, 0)), int(min(hi + 1, x.size)))


def _mixture(x: np.ndarray, lw: np.ndarray, m: np.ndarray, v: np.ndarray, skew: tuple | None = None) -> np.ndarray:
    """sum_nodes exp(lw) N(x; m, v) [P(c in [l, u] | x)] evaluated only where the components live (the weight and the
    normal's constant folded into the exponent, in place: this sum is most of a Gaussian model's cost)."""
    out = np.zeros_like(x)
    sl = _span(x, m, v)
    d = x[sl][None, :] - m
    const = lw - 0.5 * np.log(2 * np.pi * v)
    terms = d * d
    terms *= -0.5 / v
    terms += const
    np.exp(terms, out=terms)
    if skew is not None:
        mc, vc, cxc, lower, upper = skew
        slope = cxc / v
        sd_c = np.sqrt(np.clip(vc - cxc * slope, 1e-24, None))
        d *= slope
        d += mc
        terms *= _interval_prob(d, sd_c, lower, upper)
    out[sl] = terms.sum(0)
    return out


def gaussian_posteriors(fit: GaussianFit, x: np.ndarray) -> tuple[GridMarginal, GridMarginal]:
    mass = fit.log_mass.ravel()
    w = np.exp(mass - logsumexp(mass))
    # the nodes holding all but 1e-10 of the mass (the rest cannot move a quantile)
    order = np.argsort(w)
    keep = np.zeros(w.size, dtype=bool)
    keep[order[np.cumsum(w[order]) > 1e-10]] = True
    logw = (mass - logsumexp(mass))[keep][:, None]
    tau2 = (np.asarray(fit.tau).ravel()[keep] ** 2)[:, None]
    if "mu" not in fit.design.names:
        if not np.any(tau2 > 0):
            return GridMarginal(x, np.zeros_like(x), 1.0), GridMarginal(x, np.zeros_like(x), 1.0)
        pred = _mixture(x, logw, np.zeros_like(tau2), np.where(tau2 > 0, tau2, 1e-300))
        return GridMarginal(x, np.zeros_like(x), 1.0), GridMarginal(x, pred)
    m0 = fit.cond.mean[0].ravel()[keep][:, None]
    v00 = fit.cond.cov[0][0].ravel()[keep][:, None]
    t = fit.design.truncated
    if t is None:
        return GridMarginal(x, _mixture(x, logw, m0, v00)), GridMarginal(x, _mixture(x, logw, m0, v00 + tau2))
    pr = fit.design.priors[t]
    mc = fit.cond.mean[t].ravel()[keep][:, None]
    vc = fit.cond.cov[t][t].ravel()[keep][:, None]
    cxc = fit.cond.cov[0][t].ravel()[keep][:, None]
    lwt = logw - log_interval_prob(mc, np.sqrt(vc), pr.lower, pr.upper)
    skew = (mc, vc, cxc, pr.lower, pr.upper)
    if t == 0:
        inside = (x >= pr.lower) & (x <= pr.upper)
        mu = _mixture(x, lwt, m0, v00) * inside
    else:
        mu = _mixture(x, lwt, m0, v00, skew)
    pred = _mixture(x, lwt, m0, v00 + tau2, skew)
    return GridMarginal(x, mu), GridMarginal(x, pred)


def _bary_weights(nodes: np.ndarray) -> np.ndarray:
    """Barycentric weights 1 / prod_{k != i} (x_i - x_k), scaled (Berrut & Trefethen 2004)."""
    diff = nodes[:, None] - nodes[None, :]
    np.fill_diagonal(diff, 1.0)
    span = float(np.ptp(nodes)) or 1.0
    return 1.0 / np.prod(diff * (4.0 / span), axis=1)


def _interp_log(nodes: np.ndarray, bw: np.ndarray, logd: np.ndarray, x: np.ndarray,
                span: tuple[float, float] | None = None) -> np.ndarray:
    """exp of the polynomial through (nodes, logd) (barycentric form, weights ``bw``), zero outside the nodes'
    span (or ``span``)."""
    top = float(np.max(logd))
    vals = np.clip(logd - top, -700.0, None)
    out = np.zeros_like(x)
    lo, hi = span if span is not None else (nodes.min(), nodes.max())
    inside = np.flatnonzero((x >= lo) & (x <= hi))
    if inside.size == 0:
        return out
    xi = x[inside][:, None]
    d = xi - nodes[None, :]
    hit = d == 0.0
    d[hit] = 1.0
    c = bw / d
    p = (c @ vals) / c.sum(1)
    rows, cols = np.nonzero(hit)
    p[rows] = vals[cols]
    out[inside] = np.exp(np.clip(p, -745.0, 50.0) + top)
    return out


def _convolve_normals(dens: np.ndarray, tau: np.ndarray, h: float) -> np.ndarray:
    """sum_j (dens_j * N(0, tau_j^2))(x) on the even grid of step h, by one FFT per row and the normal's
    characteristic function exp(-(2 pi f tau)^2 / 2); zero-padded so that nothing wraps around."""
    n = dens.shape[1]
    pad = int(np.ceil(8.0 * float(np.max(tau, initial=0.0)) / h)) + 1
    size = next_fast_len(n + 2 * pad, real=True)
    f = np.fft.rfftfreq(size, d=h)
    spec = np.fft.rfft(dens, n=size, axis=1) * np.exp(-0.5 * (2 * np.pi * f[None, :] * tau[:, None]) ** 2)
    return np.fft.irfft(spec.sum(0), n=size)[:n]


def silverman_bandwidth(v: np.ndarray) -> float:
    """0.9 min(sd, IQR / 1.34) n^(-1/5) (Silverman 1986, eq. 3.31)."""
    q75, q25 = np.percentile(v, [75, 25])
    spread = min(float(np.std(v)), float(q75 - q25) / 1.34) or float(np.std(v)) or 1e-6
    return 0.9 * spread * v.size ** -0.2


def particle_posteriors(fit: SmcFit, x: np.ndarray) -> tuple[GridMarginal, GridMarginal]:
    """mu and the new-study effect from an SMC fit's equally weighted particles (module docstring)."""
    n = fit.tau.size
    lw = np.full((n, 1), -np.log(n))
    tau2 = (fit.tau**2)[:, None]
    if "mu" not in fit.axes:
        if "log_tau" not in fit.axes:
            return GridMarginal(x, np.zeros_like(x), 1.0), GridMarginal(x, np.zeros_like(x), 1.0)
        return GridMarginal(x, np.zeros_like(x), 1.0), GridMarginal(x, _mixture(x, lw, np.zeros_like(tau2), tau2))
    h2 = max(silverman_bandwidth(fit.mu), 2.0 * (x[1] - x[0])) ** 2
    m = fit.mu[:, None]
    h2s = np.full_like(m, h2)
    mu = _mixture(x, lw, m, h2s)
    lower, upper = fit.mu_bounds
    for bound in (lower, upper):
        if np.isfinite(bound):  # the mass the kernels put beyond the bound, reflected back inside
            mu = mu + _mixture(x, lw, 2.0 * bound - m, h2s)
    mu = np.where((x >= lower) & (x <= upper), mu, 0.0)
    return GridMarginal(x, mu), GridMarginal(x, _mixture(x, lw, m, tau2 + h2))


def selection_posteriors(fit: SelectionFit | SmcFit, x: np.ndarray) -> tuple[GridMarginal, GridMarginal]:
    if isinstance(fit, SmcFit):
        return particle_posteriors(fit, x)
    integ = fit.integral
    axes = fit.axes
    lm = integ.log_mass
    wx = tuple(i for i, a in enumerate(axes) if a.startswith("x"))
    lm = logsumexp(lm, axis=wx) if wx else lm
    lm = lm - logsumexp(lm)
    het = "log_tau" in axes
    h = x[1] - x[0]
    if "mu" not in axes:
        if not het:
            return GridMarginal(x, np.zeros_like(x), 1.0), GridMarginal(x, np.zeros_like(x), 1.0)
        tau = np.exp(integ.nodes[0])
        pred = (np.exp(lm)[:, None] * _normal(x[None, :], 0.0, tau[:, None] ** 2)).sum(0)
        return GridMarginal(x, np.zeros_like(x), 1.0), GridMarginal(x, pred)
    z_nodes = integ.nodes[0]
    bw = _bary_weights(z_nodes)
    lw = integ.log_weights[0]
    u = integ.nodes[1] if het else None
    coords0 = [np.zeros(1)] + ([u] if het else [])
    coords1 = [np.ones(1)] + ([u] if het else [])
    m = np.atleast_1d(fit.natural(coords0)[0])  # type: ignore[operator]
    sd = np.atleast_1d(fit.natural(coords1)[0]) - m  # type: ignore[operator]
    tau = np.exp(u) if het else np.zeros(1)
    cols = lm if het else lm[:, None]
    used = [j for j in range(tau.size) if np.max(cols[:, j]) >= -40]
    lower, upper = fit.mu_bounds
    dens = []
    for j in used:
        col = cols[:, j] - lw
        z = (x - m[j]) / sd[j]
        inner = np.isfinite(col)
        if inner.all() or not (np.isfinite(lower) or np.isfinite(upper)):
            dens.append(_interp_log(z_nodes, bw, col, z) / sd[j])
            continue
        # a truncated mu prior: the nodes inside its support, the polynomial carried to the bound (module docstring)
        zn = z_nodes[inner]
        span = (max((lower - m[j]) / sd[j], z_nodes.min()) if z_nodes[0] < zn[0] else zn[0],
                min((upper - m[j]) / sd[j], z_nodes.max()) if z_nodes[-1] > zn[-1] else zn[-1])
        dens.append(_interp_log(zn, _bary_weights(zn), col[inner], z, span) / sd[j])
    dens = np.array(dens)
    mu = dens.sum(0)
    pred = _convolve_normals(dens, tau[used], h) if het else mu
    return GridMarginal(x, mu), GridMarginal(x, pred)
