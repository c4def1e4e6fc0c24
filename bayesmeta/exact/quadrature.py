"""The integration rule over tau, adapted to each posterior.

tau is written as tau = T(z), z = c exp(t - exp(-t)), and the trapezoid rule with step h is applied in t
(Ooura & Mori's double-exponential substitution at the lower end; T(z) = z, or T(z) = a + w z / (w + z) for a
prior supported on [a, a + w]). In t the integrand p(tau | y) dtau/dt is analytic and decays double-exponentially as
tau -> 0 and at least exponentially as tau -> inf (posterior tails are at most algebraic in tau), so the
trapezoid rule converges geometrically: the mass near tau = 0, where p(tau | y) is often largest, is integrated
as accurately as the bulk. The scale c (about the posterior's 0.1% quantile) and the step h (at most 0.2, smaller
for a concentrated posterior) come from a pilot evaluation on a grid in log z; nodes whose weight is below
exp(-46) (about 1e-20) of the largest are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bayesmeta.errors import ModelError

THRESHOLD = 46.0
H_MAX = 0.2
T_START = -4.0
LOWER_QUANTILE = 1e-3
PILOT_STEP = 0.25
U_LIMIT = 340.0  # log of the largest tau considered (tau^2 stays finite in double precision)

LogPost = Callable[[np.ndarray, np.ndarray], np.ndarray]


def t_to_tau(
    t: np.ndarray, c: float | np.ndarray, lower: float | np.ndarray, upper: float | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """tau and log(dtau/dt) at t, for a prior supported on [lower, upper]."""
    t = np.asarray(t, dtype=float)
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        e = np.exp(-t)
        log_z = np.log(c) + t - e
        log_jac = log_z + np.log1p(e)
    return _z_to_tau(log_z, log_jac, lower, upper)


def _z_to_tau(log_z, log_jac, lower, upper):
    """tau = lower + T(z) with T(z) = z, or T(z) = w z / (w + z) for a finite width w = upper - lower."""
    lower = np.asarray(lower, dtype=float)
    width = np.asarray(upper, dtype=float) - lower
    with np.errstate(over="ignore", under="ignore"):
        z = np.exp(log_z)
    if np.all(np.isinf(width)):
        return lower + z, log_jac
    w = np.where(np.isfinite(width), width, 1.0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        part = w / (1.0 + w * np.exp(-log_z))
        jac_b = log_jac + 2.0 * np.log(w) - 2.0 * np.logaddexp(np.log(w), log_z)
    bounded = np.isfinite(width)
    return lower + np.where(bounded, part, z), np.where(bounded, jac_b, log_jac)


def tau_to_t(tau: np.ndarray, c, lower, upper) -> np.ndarray:
    """Inverse of t_to_tau (lower < tau < upper; c, lower, upper broadcast against tau): Newton's method on
    t - exp(-t) = log(z / c), which is increasing and concave, so iterates from the left converge monotonically."""
    d = np.asarray(tau, dtype=float) - lower
    width = np.asarray(upper, dtype=float) - lower
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(np.isinf(width), d, width * d / (width - d))
        zeta = np.log(z) - np.log(c)
    t = np.where(zeta >= 0, zeta, -np.log1p(-np.minimum(zeta, 0.0)))
    for _ in range(60):
        e = np.exp(-t)
        step = (t - e - zeta) / (1.0 + e)
        t = t - step
        if np.all(np.abs(step) <= 1e-15 * (1.0 + np.abs(t))):
            break
    return t


@dataclass(frozen=True)
class TauRule:
    """The trapezoid rule of one dataset: nodes t (step h), tau at the nodes, log dtau/dt, the log unnormalised
    posterior density of tau, and the normalised weights (summing to 1)."""

    c: float
    lower: float
    upper: float
    h: float
    t: np.ndarray
    tau: np.ndarray
    log_jac: np.ndarray
    log_post: np.ndarray
    log_evidence: float
    weights: np.ndarray

    @property
    def size(self) -> int:
        return self.t.size


@dataclass
class _Pilot:
    """One dataset's pilot: the grid u and log density g_u, its maximum, the density relative to it, and the
    refined grid (fine_u, fine_g) on which a concentrated posterior is resolved."""

    u: np.ndarray
    g_u: np.ndarray
    gmax: float
    dens: np.ndarray
    total: float
    fine_u: np.ndarray
    fine_g: np.ndarray


def _evaluate(logpost: LogPost, grids: list[np.ndarray], rows: np.ndarray, lower: np.ndarray,
              upper: np.ndarray) -> list[np.ndarray]:
    """log density of u = log z (unnormalised) on one grid per dataset ``rows``, in one call of ``logpost`` (the
    grids padded with their last point to a common length)."""
    size = max(g.size for g in grids)
    u = np.empty((len(grids), size))
    for j, g in enumerate(grids):
        u[j, : g.size], u[j, g.size :] = g, g[-1]
    tau, log_jac = _z_to_tau(u, u, lower[rows, None], upper[rows, None])
    with np.errstate(invalid="ignore"):
        out = logpost(tau, rows) + log_jac
    out = np.where(np.isnan(out), -np.inf, out)
    return [out[j, : g.size] for j, g in enumerate(grids)]


def _pilot_extents(logpost: LogPost, lo: np.ndarray, hi: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                   u: np.ndarray, g_all: np.ndarray) -> list[_Pilot]:
    """Pilots on grids in u = log z, starting from the common grid u (values g_all) and widened until each holds
    its dataset's mass; the widened grids of all datasets are evaluated together."""
    n, step = len(lo), PILOT_STEP
    pilots: list[_Pilot | None] = [None] * n
    grids: dict[int, tuple[np.ndarray, np.ndarray]] = {i: (u, g_all[i]) for i in range(n)}
    bounds = {i: (float(u[0]), float(u[-1])) for i in range(n)}
    for _ in range(60):
        if not grids:
            break
        widen = []
        for i, (ui, g_u) in grids.items():
            a, b = bounds[i]
            gmax = float(np.max(g_u))
            if not np.isfinite(gmax):
                raise ModelError("the posterior density of tau is zero or not finite everywhere on the search grid")
            dens = np.exp(g_u - gmax)
            total = dens.sum()
            if dens[0] > 1e-6 * total and a > -U_LIMIT:
                bounds[i] = (a - 10.0, b)
                widen.append(i)
                continue
            if g_u[-1] > gmax - THRESHOLD - 2.0:
                if b >= U_LIMIT:
                    raise ModelError(
                        "the posterior of tau has too heavy an upper tail to be integrated; use a proper tau prior "
                        "with lighter tails (e.g. halfnormal or halfcauchy)"
                    )
                bounds[i] = (a, min(b + 20.0, U_LIMIT))
                widen.append(i)
                continue
            pilots[i] = _Pilot(ui, g_u, gmax, dens, total, ui, g_u)
        if not widen:
            grids = {}
            break
        new = [np.arange(bounds[i][0], bounds[i][1] + step / 2, step) for i in widen]
        grids = dict(zip(widen, zip(new, _evaluate(logpost, new, np.array(widen), lower, upper))))
    for i, (ui, g_u) in grids.items():  # not settled after 60 widenings: use the last grid, as it is
        gmax = float(np.max(g_u))
        dens = np.exp(g_u - gmax)
        pilots[i] = _Pilot(ui, g_u, gmax, dens, dens.sum(), ui, g_u)
    return pilots  # type: ignore[return-value]


def _refine(pilots: list[_Pilot], logpost: LogPost, lower: np.ndarray, upper: np.ndarray) -> None:
    """Resolve concentrated posteriors before measuring their width: up to 5 times, every pilot with fewer than 8
    points within 4 of its maximum gets a grid of 161 points across its mass (all such datasets evaluated in one
    call of ``logpost``)."""
    for _ in range(5):
        todo = [i for i, pl in enumerate(pilots) if np.count_nonzero(pl.fine_g > pl.gmax - 4.0) < 8]
        if not todo:
            break
        grids = []
        for i in todo:
            pl = pilots[i]
            above = np.flatnonzero(pl.fine_g > pl.gmax - 30.0)
            a = pl.fine_u[max(above[0] - 1, 0)]
            b = pl.fine_u[min(above[-1] + 1, pl.fine_u.size - 1)]
            grids.append(np.linspace(a, b, 161))
        for i, fine_u, fine_g in zip(todo, grids, _evaluate(logpost, grids, np.array(todo), lower, upper)):
            pl = pilots[i]
            pl.fine_u, pl.fine_g = fine_u, fine_g
            pl.gmax = max(pl.gmax, float(np.max(fine_g)))


def _design_rule(pl: _Pilot, h_max: float) -> tuple[float, float, float]:
    """(c, h, u_end) from a dataset's (refined) pilot: the rule's scale, its step, and the far end of the mass in
    u = log z (the rule ends one step beyond t(u_end))."""
    step = PILOT_STEP
    u, g_u, dens, total, fine_u, fine_g, gmax = pl.u, pl.g_u, pl.dens, pl.total, pl.fine_u, pl.fine_g, pl.gmax
    # lower reference point: the pilot's LOWER_QUANTILE quantile of u (mass below the grid counted at its start)
    cum = (np.cumsum(dens) + dens[0]) / (total + dens[0])
    u_low = float(u[min(np.searchsorted(cum, LOWER_QUANTILE), u.size - 1)])
    p = np.exp(fine_g - gmax)
    p /= p.sum()
    mean_u = float(np.sum(p * fine_u))
    sd_u = math.sqrt(float(np.sum(p * (fine_u - mean_u) ** 2)))
    c = math.exp(u_low - 2.0)
    h = min(h_max, sd_u / 2.5)
    # the far end of the mass on the pilot and the refined grid (a spike narrower than the pilot's step may show
    # only on the refined one)
    u_end = max(float(grid[np.flatnonzero(vals > gmax - THRESHOLD - 2.0)].max(initial=-np.inf))
                for grid, vals in ((u, g_u), (fine_u, fine_g))) + step
    return c, h, u_end


def build_rules(
    logpost: LogPost,
    n: int,
    lower_scale: np.ndarray,
    upper_scale: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    h_scale: float = 1.0,
) -> list[TauRule]:
    """One rule per dataset. ``logpost(tau (m, M), rows (m,))`` gives the log unnormalised posterior density of
    tau for datasets ``rows``; ``lower_scale``/``upper_scale`` bracket the scales of the problem (standard errors,
    prior scale, spread of y); ``lower``, ``upper`` are the ends of the prior's support (upper inf if unbounded).
    ``h_scale`` < 1 refines the rule (used to check convergence)."""
    lo = np.log(np.asarray(lower_scale, dtype=float)) - 10.0
    hi = np.log(np.asarray(upper_scale, dtype=float)) + 8.0
    # one evaluation of every dataset's pilot on a common grid
    u = np.arange(lo.min(), hi.max() + PILOT_STEP / 2, PILOT_STEP)
    tau, log_jac = _z_to_tau(u[None, :], u[None, :], np.asarray(lower)[:, None], np.asarray(upper)[:, None])
    with np.errstate(invalid="ignore"):
        g_all = logpost(tau, np.arange(n)) + log_jac
    g_all = np.where(np.isnan(g_all), -np.inf, g_all)
    low, up = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    pilots = _pilot_extents(logpost, lo, hi, low, up, u, g_all)
    _refine(pilots, logpost, low, up)
    designs = [_design_rule(pl, H_MAX * h_scale) for pl in pilots]
    c_all, h_all, u_end = (np.array(v) for v in zip(*designs))
    t_ends = (tau_to_t(np.exp(u_end), c_all, 0.0, math.inf) + h_all).tolist()  # all datasets in one call
    rules: list[TauRule | None] = [None] * n
    pending = list(range(n))
    for _ in range(20):
        if not pending:
            break
        # each dataset's grid T_START + j h, j = 0, 1, ... up to t_end, padded with its last point
        hs = h_all[pending]
        sizes = np.ceil((np.array([t_ends[i] for i in pending]) + hs / 2 - T_START) / hs).astype(int)
        t = T_START + hs[:, None] * np.minimum(np.arange(sizes.max()), sizes[:, None] - 1)
        c = c_all[pending][:, None]
        low = np.asarray(lower, dtype=float)[pending][:, None]
        up = np.asarray(upper, dtype=float)[pending][:, None]
        tau, log_jac = t_to_tau(t, c, low, up)
        with np.errstate(invalid="ignore"):
            lp = logpost(tau, np.array(pending))
        lp = np.where(np.isnan(lp), -np.inf, lp)
        still = []
        for j, i in enumerate(pending):
            m = int(sizes[j])
            log_w = lp[j, :m] + log_jac[j, :m]
            top = float(np.max(log_w))
            keep = np.flatnonzero(log_w > top - THRESHOLD)
            if keep[-1] >= m - 1:
                t_ends[i] += 10.0
                still.append(i)
                continue
            sl = slice(keep[0], keep[-1] + 1)
            h = float(h_all[i])
            lw = log_w[sl] + math.log(h)
            top_w = float(np.max(lw))
            log_ev = top_w + math.log(float(np.sum(np.exp(lw - top_w))))  # log sum exp, without scipy's overhead
            rules[i] = TauRule(
                c=float(c_all[i]),
                lower=float(lower[i]),
                upper=float(upper[i]),
                h=h,
                t=t[j, sl].copy(),
                tau=tau[j, sl].copy(),
                log_jac=log_jac[j, sl].copy(),
                log_post=lp[j, sl].copy(),
                log_evidence=log_ev,
                weights=np.exp(lw - log_ev),
            )
        pending = still
    if pending:
        raise ModelError("could not find the extent of the posterior of tau (the posterior may be improper)")
    return rules  # type: ignore[return-value]
