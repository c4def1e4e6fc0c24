"""Model-averaged and conditional posterior estimates of tau, of the selection weights omega per one-sided p-value
interval and of the PET and PEESE coefficients, as RoBMA's ``summary(fit)`` prints them (Bartos et al. 2023, Res
Synth Methods 14:99-116), computed from the quadrature rules the marginal likelihoods were integrated with.

Each parameter's posterior is a mixture over the models of the ensemble, with the posterior model probabilities as
weights: a model without the parameter puts an atom at its null value (tau = 0, omega = 1, PET = PEESE = 0;
RoBMA's convention), a model with it a continuous part. ``conditional`` estimates mix only the models with the
parameter (heterogeneity; a weight function; PET; PEESE). Mean = sum_m p(m | y) E[theta | m, y]; quantiles
invert the mixture CDF F(c) = sum_m p(m | y) P(theta <= c | m, y) (by bisection; an atom at a is returned as a
for every level within [F(a-), F(a)]). Per model:

- tau and omega: the rule's normalised node masses m_i along the parameter's axis u (log tau; t_j with
  omega_{j+1} = t_1^2 ... t_j^2), summed over the other axes, define the polynomial interpolant of the marginal
  density through the Gauss-Legendre nodes (the rule integrates exactly what it interpolates); its CDF at
  s in [-1, 1] (u mapped from the rule's box) is sum_i m_i W_i(s) / w_i, W_i(s) = int_{-1}^s L_i, from the
  Legendre expansion L_i = sum_k w_i (2k + 1) / 2 P_k(x_i) P_k (Gauss's discrete orthogonality). For omega_{j+1}
  the nodes of t_1..t_{j-1} stay discrete and t_j is cut at sqrt(c) / (t_1 ... t_{j-1}).
- PET and PEESE coefficients b: given the nodes (tau, g), (mu, b) is Gaussian, so P(b <= c | m) is a mixture of
  normal (truncated normal, under b's truncated prior) CDFs over the nodes; when instead mu's prior is truncated,
  P(b <= c, mu in [l, u]) / P(mu in [l, u]) by Gauss-Legendre over mu's conditional quantiles.

The one-sided p-value intervals are those of all weight functions in the ensemble (a two-sided cut-off c is the
one-sided c / 2 and 1 - c / 2), named as RoBMA names them (``omega[0,0.025]``, ...); a model's weight on an
interval is its weight at the interval's midpoint (a two-sided model at two-sided p = 2 min(p, 1 - p)).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np
from numpy.polynomial import legendre as leg
from scipy.special import log_ndtr, ndtr, ndtri

from bayesmeta.bias.curves import coefficient_means
from bayesmeta.bias.gaussian import GaussianFit, log_interval_prob
from bayesmeta.bias.models import ModelSpec, WeightFunction
from bayesmeta.bias.quadrature import _legendre, logsumexp
from bayesmeta.bias.selection import SelectionFit
from bayesmeta.bias.smc import SmcFit

GRID_POINTS = 257
CELL_POINTS = 65
TABLE_POINTS = 2049
"""Points of the tabulated CDF along a rule's axis (linear in between: error below 4e-5 of the CDF where the
marginal density's width spans more than a hundredth of the box)."""
P_NODES = 48
"""Gauss-Legendre nodes over mu's conditional quantiles for b when mu's prior is truncated."""


@dataclass(frozen=True)
class Estimate:
    """A posterior summary of one parameter (README vocabulary) on the analysis scale."""

    parameter: str
    mean: float
    median: float
    ci_lower: float
    ci_upper: float

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "median": self.median, "ci_lower": self.ci_lower, "ci_upper": self.ci_upper}

    def scaled(self, factor: float) -> Estimate:
        """The estimate of factor x theta (factor > 0)."""
        return replace(self, mean=self.mean * factor, median=self.median * factor,
                       ci_lower=self.ci_lower * factor, ci_upper=self.ci_upper * factor)


@dataclass
class Component:
    """One model's continuous posterior of a parameter: its CDF (vectorised), mean and support."""

    cdf: Callable[[np.ndarray], np.ndarray]
    mean: float
    lower: float
    upper: float


@dataclass
class Mixture:
    """sum of weighted components and atoms (value -> weight); the weights need not be normalised."""

    parts: list[tuple[float, Component]] = field(default_factory=list)
    atoms: dict[float, float] = field(default_factory=dict)

    def add_atom(self, value: float, weight: float) -> None:
        self.atoms[value] = self.atoms.get(value, 0.0) + weight

    @property
    def total(self) -> float:
        return sum(w for w, _ in self.parts) + sum(self.atoms.values())

    def cdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        out = np.zeros_like(x)
        for w, c in self.parts:
            out = out + w * np.clip(c.cdf(x), 0.0, 1.0)
        for a, w in self.atoms.items():
            out = out + w * (x >= a)
        return out / self.total

    def mean(self) -> float:
        return (sum(w * c.mean for w, c in self.parts) + sum(a * w for a, w in self.atoms.items())) / self.total

    def quantiles(self, q: np.ndarray) -> np.ndarray:
        """inf {x : F(x) >= q}: bracketed on an even grid over the support, then on an even grid within the
        bracketing cell, then linear in F (an atom is hit exactly)."""
        q = np.atleast_1d(np.asarray(q, dtype=float))
        lows = [c.lower for _, c in self.parts] + list(self.atoms)
        highs = [c.upper for _, c in self.parts] + list(self.atoms)
        grid = np.linspace(min(lows), max(highs), GRID_POINTS)[None, :]
        f = np.maximum.accumulate(self.cdf(grid), axis=1)
        rows = np.arange(q.size)
        for stage in range(2):
            idx = np.clip((f < q[:, None]).sum(1), 1, grid.shape[1] - 1)
            g = np.broadcast_to(grid, (q.size, grid.shape[1]))
            fb = np.broadcast_to(f, g.shape)
            lo, hi, f0, f1 = g[rows, idx - 1], g[rows, idx], fb[rows, idx - 1], fb[rows, idx]
            if stage == 0:  # within each bracketing cell
                grid = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, CELL_POINTS)[None, :]
                f = np.maximum.accumulate(self.cdf(grid), axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(f1 > f0, lo + (q - f0) / (f1 - f0) * (hi - lo), hi)
        for a in self.atoms:  # an atom's level range gives a exactly
            below, at = self.cdf(np.nextafter(a, -np.inf)), self.cdf(a)
            out = np.where((q > below) & (q <= at), a, out)
        return out

    def moment2(self, points: int = 2001) -> float:
        """E[X^2] by the Stieltjes sum over an even grid of the support (atoms included as jumps of F)."""
        lows = [c.lower for _, c in self.parts] + list(self.atoms)
        highs = [c.upper for _, c in self.parts] + list(self.atoms)
        x = np.linspace(min(lows), max(highs), points)
        x = np.unique(np.concatenate([x, list(self.atoms)]))
        f = self.cdf(x)
        mid = np.concatenate([[x[0]], 0.5 * (x[1:] + x[:-1])])
        mid = np.where(np.isin(x, list(self.atoms)), x, mid)
        return float(np.sum(mid**2 * np.diff(np.concatenate([[0.0], f]))))

    def estimate(self, name: str, level: float) -> Estimate:
        med, lo, hi = self.quantiles(np.array([0.5, (1 - level) / 2, (1 + level) / 2]))
        return Estimate(name, float(self.mean()), float(med), float(lo), float(hi))


@lru_cache(maxsize=32)
def _partial_weights(n: int) -> np.ndarray:
    """(n, TABLE_POINTS) values of W_i(s) / w_i = int_{-1}^s L_i / w_i (module docstring) at TABLE_POINTS even
    s in [-1, 1]."""
    x01, _ = _legendre(n)
    x = 2.0 * x01 - 1.0
    k = np.arange(n)
    g = leg.legvander(x, n - 1) * (2 * k + 1) / 2.0  # row i: Legendre coefficients of L_i / w_i
    coef = leg.legint(g.T, lbnd=-1).T  # (n, n + 1)
    return coef @ leg.legvander(np.linspace(-1.0, 1.0, TABLE_POINTS), n).T


def _box(nodes: np.ndarray) -> tuple[float, float]:
    """The box [lo, hi] a Gauss-Legendre rule of these nodes was laid on."""
    x01, _ = _legendre(nodes.size)
    width = (nodes[-1] - nodes[0]) / (x01[-1] - x01[0])
    lo = nodes[0] - width * x01[0]
    return float(lo), float(lo + width)


def axis_cdf(masses: np.ndarray, nodes: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The CDF in u of the interpolant of a 1-D marginal with node masses ``masses`` at Gauss-Legendre ``nodes``
    (module docstring), tabulated at TABLE_POINTS even points of the rule's box and linear between them;
    masses along the last axis, leading axes give one CDF each, evaluated pairwise with the argument's leading
    axes."""
    lo, hi = _box(nodes)
    table = (masses / masses.sum(-1, keepdims=True)) @ _partial_weights(nodes.size)  # (..., TABLE_POINTS)
    table[..., 0], table[..., -1] = 0.0, 1.0
    flat = table.reshape(-1, TABLE_POINTS)
    step = 2.0 / (TABLE_POINTS - 1)

    def cdf(u: np.ndarray) -> np.ndarray:
        pos = (np.clip(2.0 * (np.asarray(u, dtype=float) - lo) / (hi - lo) - 1.0, -1.0, 1.0) + 1.0) / step
        i = np.minimum(pos.astype(int), TABLE_POINTS - 2)
        frac = pos - i
        row = np.arange(flat.shape[0]).reshape(flat.shape[0], *([1] * (pos.ndim - 1))) if masses.ndim > 1 else 0
        return flat[row, i] * (1.0 - frac) + flat[row, i + 1] * frac

    return cdf


def _normalised(log_mass: np.ndarray) -> np.ndarray:
    lm = np.asarray(log_mass, dtype=float)
    return np.exp(lm - logsumexp(lm))


def _marginal(mass: np.ndarray, keep: Sequence[int]) -> np.ndarray:
    other = tuple(a for a in range(mass.ndim) if a not in keep)
    return mass.sum(axis=other) if other else mass


def sample_component(values: np.ndarray, lower: float, upper: float) -> Component:
    """A posterior given by equally weighted draws (a selection model fitted by SMC): the empirical CDF."""
    v = np.sort(np.asarray(values, dtype=float))

    def cdf(c: np.ndarray) -> np.ndarray:
        return np.searchsorted(v, np.asarray(c, dtype=float), side="right") / v.size

    return Component(cdf, float(v.mean()), lower, upper)


def tau_component(fit: object) -> Component:
    """tau's posterior under a model with heterogeneity, from its rule's log tau axis (an SMC fit: its particles)."""
    if isinstance(fit, SmcFit):
        return sample_component(fit.tau, 0.0, float(np.max(fit.tau)))
    if isinstance(fit, SelectionFit):
        axis = fit.axes.index("log_tau")
        mass = _normalised(fit.integral.log_mass)
        u = np.asarray(fit.integral.nodes[axis], dtype=float)
    else:
        assert isinstance(fit, GaussianFit)
        axis = 0
        mass = _normalised(fit.log_mass)
        tau = np.asarray(fit.tau, dtype=float)
        u = np.log(tau.reshape(tau.shape[0], -1)[:, 0])
    m = _marginal(mass, (axis,))
    cdf_u = axis_cdf(m, u)
    lo, hi = _box(u)

    def cdf(c: np.ndarray) -> np.ndarray:
        c = np.asarray(c, dtype=float)
        with np.errstate(divide="ignore"):
            return np.where(c > 0, cdf_u(np.log(np.maximum(c, 1e-300))), 0.0)

    return Component(cdf, float(np.sum(m * np.exp(u))), 0.0, float(np.exp(hi)))


def omega_component(fit: SelectionFit | SmcFit, j: int) -> Component:
    """omega_{j+1} = t_1^2 ... t_j^2 (j >= 1) under a selection model (module docstring; an SMC fit: the particles'
    x_1 ... x_j)."""
    if isinstance(fit, SmcFit):
        return sample_component(np.prod(np.stack(fit.x[:j]), axis=0), 0.0, 1.0)
    axes = [fit.axes.index(f"x{i}") for i in range(1, j + 1)]
    m = _marginal(_normalised(fit.integral.log_mass), axes)  # axes (t_1, ..., t_j)
    t = [np.asarray(fit.integral.nodes[a], dtype=float) for a in axes]
    outer = np.ones(())
    for tj in t[:-1]:
        outer = np.multiply.outer(outer, tj)
    outer = np.asarray(outer).reshape(-1)
    m2 = m.reshape(-1, t[-1].size)
    keep = m2.sum(1) > 1e-12 * m2.sum()
    outer, m2 = outer[keep], m2[keep]
    weights = m2.sum(1)
    cdf_last = axis_cdf(m2, t[-1])
    prod_sq = np.multiply.outer(outer**2, t[-1] ** 2)

    # tabulated once in v = sqrt(omega) (even steps in v crowd near omega = 0, where the density piles up)
    v = np.linspace(0.0, 1.0, TABLE_POINTS)
    table = (weights[:, None] * cdf_last(v[None, :] / outer[:, None])).sum(0) / weights.sum()
    table[0], table[-1] = 0.0, 1.0

    def cdf(c: np.ndarray) -> np.ndarray:
        return np.interp(np.sqrt(np.clip(np.asarray(c, dtype=float), 0.0, 1.0)), v, table)

    return Component(cdf, float(np.sum(m2 * prod_sq) / weights.sum()), 0.0, 1.0)


def coefficient_component(fit: GaussianFit) -> Component:
    """The PET or PEESE coefficient b under its model (module docstring)."""
    names = fit.design.names
    ib = names.index("b")
    w = _normalised(fit.log_mass).ravel()
    keep = w > 1e-14 * w.max()
    w = w[keep] / w[keep].sum()
    mb = np.asarray(fit.cond.mean[ib], dtype=float).ravel()[keep]
    sb = np.sqrt(np.asarray(fit.cond.cov[ib][ib], dtype=float).ravel()[keep])
    t = fit.design.truncated
    pr = fit.design.priors[t] if t is not None else None
    lower, upper = (pr.lower, pr.upper) if t == ib else (-np.inf, np.inf)
    mean = coefficient_means(fit)["b"]
    lo = max(float(np.min(mb - 12 * sb)), lower)
    hi = min(float(np.max(mb + 12 * sb)), upper)

    if t is None or t == ib:
        log_norm = log_interval_prob(mb, sb, lower, upper)
        base = ndtr((lower - mb) / sb) if np.isfinite(lower) else np.zeros_like(mb)

        def cdf(c: np.ndarray) -> np.ndarray:
            c = np.asarray(c, dtype=float)
            z = (np.clip(c.reshape(-1), lower, upper)[None, :] - mb[:, None]) / sb[:, None]
            if np.isinf(upper) and np.isfinite(lower):
                # 1 - P(b > c) / P(b > l) in logs: no cancellation where the prior's bound is far in b's tail
                p = -np.expm1(log_ndtr(-z) - log_norm[:, None])
            else:
                p = (ndtr(z) - base[:, None]) * np.exp(-log_norm)[:, None]
            return (w[:, None] * p).sum(0).reshape(c.shape)

        return Component(cdf, mean, lo, hi)
    # mu's prior truncated to [l, u]: b | mu is normal, mu's conditional quantiles on Gauss-Legendre nodes
    im = names.index("mu")
    mm = np.asarray(fit.cond.mean[im], dtype=float).ravel()[keep]
    sm = np.sqrt(np.asarray(fit.cond.cov[im][im], dtype=float).ravel()[keep])
    cov = np.asarray(fit.cond.cov[im][ib], dtype=float).ravel()[keep]
    pa = ndtr((pr.lower - mm) / sm)
    pb = ndtr((pr.upper - mm) / sm)
    x01, w01 = _legendre(P_NODES)
    p = pa[:, None] + (pb - pa)[:, None] * x01[None, :]
    mu = mm[:, None] + sm[:, None] * ndtri(np.clip(p, 1e-300, 1 - 1e-16))
    m_cond = mb[:, None] + (cov / sm**2)[:, None] * (mu - mm[:, None])
    s_cond = np.sqrt(np.clip(sb**2 - cov**2 / sm**2, 1e-24, None))[:, None]

    def cdf_t(c: np.ndarray) -> np.ndarray:
        c = np.asarray(c, dtype=float)
        flat = c.reshape(-1)
        z = (flat[None, None, :] - m_cond[..., None]) / s_cond[..., None]
        return (w[:, None] * (w01[None, :, None] * ndtr(z)).sum(1)).sum(0).reshape(c.shape)

    return Component(cdf_t, mean, lo, hi)


def one_sided_cutoffs(weight_functions: Sequence[WeightFunction]) -> list[float]:
    """The union of the weight functions' cut-offs on one-sided p-values."""
    cuts: set[float] = set()
    for wf in weight_functions:
        for c in wf.cutoffs:
            cuts.update((c,) if wf.sided == "one" else (c / 2.0, 1.0 - c / 2.0))
    return sorted(round(c, 12) for c in cuts)


def interval_index(wf: WeightFunction, lower: float, upper: float) -> int:
    """The weight function's interval (0: weight 1) holding the one-sided p-value interval [lower, upper]."""
    p = 0.5 * (lower + upper)
    if wf.sided == "two":
        p = 2.0 * min(p, 1.0 - p)
    return int(np.searchsorted(np.asarray(wf.cutoffs), p, side="right"))


def _label(x: float) -> str:
    return f"{x:g}"


def ensemble_mixtures(models: Sequence[tuple[ModelSpec, float, object]]
                      ) -> tuple[dict[str, Mixture], dict[str, Mixture]]:
    """(model-averaged, conditional) posteriors of tau, omega[a,b] per one-sided p-value interval, PET and PEESE
    (module docstring) from (spec, posterior probability, fit) per model; a parameter is left out when no model
    of the ensemble has it (conditional: when the models with it have no posterior mass)."""
    averaged: dict[str, Mixture] = {}
    conditional: dict[str, Mixture] = {}
    cache: dict[tuple[int, int], Component] = {}

    def add(name: str, has: Callable[[ModelSpec], bool], null: float,
            part: Callable[[int, ModelSpec, object], Component | float]) -> None:
        if not any(has(s) for s, _, _ in models):
            return
        mix, cond = Mixture(), Mixture()
        for i, (spec, p, fit) in enumerate(models):
            if p <= 0:
                continue
            if not has(spec):
                mix.add_atom(null, p)
                continue
            comp = part(i, spec, fit)
            for m in (mix, cond):
                if isinstance(comp, Component):
                    m.parts.append((p, comp))
                else:
                    m.add_atom(float(comp), p)
        averaged[name] = mix
        if cond.total > 0:
            conditional[name] = cond

    def cached(i: int, j: int, make: Callable[[], Component]) -> Component:
        if (i, j) not in cache:
            cache[(i, j)] = make()
        return cache[(i, j)]

    add("tau", lambda s: s.heterogeneity, 0.0, lambda i, s, f: cached(i, 0, lambda: tau_component(f)))
    wfs = [s.weights for s, _, _ in models if s.weights is not None]
    if wfs:
        edges = [0.0, *one_sided_cutoffs(wfs), 1.0]
        for a, b in zip(edges[:-1], edges[1:]):
            def part(i, s, f, a=a, b=b):
                j = interval_index(s.weights, a, b)
                return 1.0 if j == 0 else cached(i, j, lambda: omega_component(f, j))

            add(f"omega[{_label(a)},{_label(b)}]", lambda s: s.bias == "selection", 1.0, part)
    for kind in ("PET", "PEESE"):
        add(kind, lambda s, kind=kind: s.bias == kind, 0.0, lambda i, s, f: coefficient_component(f))
    return averaged, conditional


def ensemble_estimates(models: Sequence[tuple[ModelSpec, float, object]], level: float = 0.95
                       ) -> tuple[dict[str, Estimate], dict[str, Estimate]]:
    """The (model-averaged, conditional) :class:`Estimate` of each posterior of :func:`ensemble_mixtures`."""
    return tuple({k: m.estimate(k, level) for k, m in d.items()}  # type: ignore[return-value]
                 for d in ensemble_mixtures(models))
