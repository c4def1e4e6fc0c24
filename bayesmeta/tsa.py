"""Trial sequential analysis (TSA) of a cumulative meta-analysis of a binary outcome.

Wetterslev J, Thorlund K, Brok J, Gluud C (2008) J Clin Epidemiol 61:64-75 (TSA, required information size);
Wetterslev J, Thorlund K, Brok J, Gluud C (2009) BMC Med Res Methodol 9:86 (diversity D^2);
Wetterslev J, Jakobsen JC, Gluud C (2017) BMC Med Res Methodol 17:39 (TSA in practice);
Lan KKG, DeMets DL (1983) Biometrika 70:659-663 (alpha spending);
Armitage P, McPherson CK, Rowe BC (1969) J R Stat Soc A 132:235-244 and Jennison C, Turnbull BW (2000)
*Group Sequential Methods with Applications to Clinical Trials*, ch. 7 and 19 (recursive numerical integration).

Pieces, each usable alone:

- :func:`required_information_size` (RIS, participants) and :func:`implied_diversity`, its inverse in D^2;
- :func:`diversity`: D^2 = 1 - V_fixed / V_random;
- :func:`obf_spending` and :func:`boundaries`: Lan-DeMets alpha spending and exact group-sequential boundaries
  (with optional non-binding beta-spending futility boundaries), and :func:`exit_probabilities`;
- :func:`cumulative_z`: the cumulative Z-curve in chronological order;
- :func:`tsa`: all of it together, returning a :class:`TSAResult`.

Spending conventions for a two-sided test (``convention``):

- ``'two-sided'`` (default, "classic": the form written by Lan & DeMets 1983 with a two-sided alpha): the
  *total* alpha spent by information fraction t is A(t) = 2 - 2 Phi(z_{1-alpha/2} / sqrt(t)), shared equally by
  the two symmetric boundaries;
- ``'per-side'`` (gsDesign ``sfLDOF`` with one-sided alpha/2 on each side, ldbounds with ``alpha`` split per
  side, and the R package RTSA): each side spends 2 - 2 Phi(z_{1-alpha/4} / sqrt(t)). For 5 equally spaced looks
  and alpha = 0.05 this gives the widely tabulated 4.877, 3.357, 2.680, 2.290, 2.031; the classic two-sided
  convention gives lower interim boundaries (4.383 at t = 0.2) and the same final alpha.

Information beyond the RIS: boundaries are planned up to information fraction 1 (the RIS); a look with more
information than the RIS is compared with the final boundary, at fraction 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import optimize, special, stats

from bayesmeta.effect_data import EffectArgs, EffectData, effect_args
from bayesmeta.errors import InputError, ModelError

Convention = Literal["two-sided", "per-side"]
SpendingFunction = Callable[[np.ndarray, float], np.ndarray]


# -- required information size ----------------------------------------------------------------------------
def _check_probability(value: float, name: str) -> float:
    value = float(value)
    if not math.isfinite(value) or not (0.0 < value < 1.0):
        raise InputError(f"{name} = {value!r} is outside (0, 1)", column=name, valid="a number strictly between 0 and 1")
    return value


def _check_diversity(value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or not (0.0 <= value < 1.0):
        raise InputError(f"diversity D^2 = {value!r} is outside [0, 1)", column="diversity", valid="0 <= D^2 < 1")
    return value


MAX_INFORMATION_SIZE = 1e10
"""Largest required information size monitored (participants; more than the world's population). Beyond it the
information fractions of real trials are below 1e-8 and the boundaries' root searches fail in double precision."""


def _fixed_information_size(p_control: float, relative_risk_reduction: float, alpha: float, power: float) -> float:
    p_c = _check_probability(p_control, "p_control")
    rrr = float(relative_risk_reduction)
    if not math.isfinite(rrr) or rrr == 0.0 or rrr >= 1.0:
        raise InputError(
            f"relative risk reduction {rrr!r} is not usable",
            column="relative_risk_reduction",
            valid="a non-zero number below 1 (negative for a relative increase)",
        )
    p_e = p_c * (1.0 - rrr)
    if not 0.0 < p_e < 1.0:
        raise InputError(
            f"the intervention-arm proportion p_control * (1 - RRR) = {p_e:g} is outside (0, 1)",
            column="relative_risk_reduction",
            valid=f"RRR between {1 - 1 / p_c:.4g} and 1, excluding 0",
        )
    alpha = _check_probability(alpha, "alpha")
    power = _check_probability(power, "power")
    z = stats.norm.ppf(1.0 - alpha / 2.0) + stats.norm.ppf(power)
    p_bar = (p_c + p_e) / 2.0
    delta = p_c - p_e
    if not abs(delta) > 1e-150:  # an RRR too close to 0 for double precision: the size would be infinite
        raise InputError(
            f"relative risk reduction {rrr!r} is too close to 0: the required information size is not finite",
            column="relative_risk_reduction",
            valid="a non-zero number below 1 (negative for a relative increase), e.g. 0.2",
        )
    return float(4.0 * z**2 * p_bar * (1.0 - p_bar) / delta**2)


def required_information_size(
    p_control: float,
    relative_risk_reduction: float,
    alpha: float = 0.05,
    power: float = 0.80,
    diversity: float = 0.0,
) -> float:
    """Required information size (total participants, both arms) for a binary outcome (Wetterslev 2008, 2009).

    RIS = 4 (z_{1-alpha/2} + z_{1-beta})^2 p (1 - p) / delta^2 with p_e = p_c (1 - RRR), p = (p_c + p_e) / 2 and
    delta = p_c - p_e (two-sided alpha, equal allocation); heterogeneity-adjusted RIS / (1 - D^2).

    The TSA program takes the control-arm proportion and a relative risk *reduction*; a negative RRR is a
    relative increase. The result is not rounded; TSA software reports ``math.ceil`` of it.
    """
    fixed = _fixed_information_size(p_control, relative_risk_reduction, alpha, power)
    return fixed / (1.0 - _check_diversity(diversity))


def implied_diversity(
    ris_published: float,
    p_control: float,
    relative_risk_reduction: float,
    alpha: float = 0.05,
    power: float = 0.80,
) -> float:
    """The D^2 at which the adjusted RIS equals ``ris_published``: D^2 = 1 - RIS_fixed / RIS_published.

    A published RIS rounded up to whole participants N is reproduced by every D^2 in
    (1 - RIS_fixed / (N - 1), 1 - RIS_fixed / N]; this returns the upper end. A negative value means the
    published size is smaller than the fixed-effect RIS under these inputs (no D^2 can explain it).

    Example (Lu et al. 2025, TSA of response rates, where the treatment *raises* the rate): with the systemic
    arm as control and the RRR entered as a reduction, p_c = 0.2519, RRR = 0.30 gives RIS_fixed = 925.07 and the
    published 2633 implies D^2 in (0.6485, 0.6487]; p_c = 0.71, RRR = 0.15 gives 623.99 and 1469 implies
    D^2 in (0.5749, 0.5752]. The forest-plot I^2 (65%, 55%) would give 2644 and 1387 instead. Reading the
    change as an increase (RRR = -0.30, -0.15) implies D^2 = 0.570 and 0.659; the first is below the reported
    I^2 = 65%, which D^2 >= I^2 (Wetterslev 2009) excludes, so the reduction reading is the consistent one.
    """
    n = float(ris_published)
    if not math.isfinite(n) or n <= 0:
        raise InputError(f"published RIS {n!r} is not a positive number", column="ris_published")
    return 1.0 - _fixed_information_size(p_control, relative_risk_reduction, alpha, power) / n


def diversity(vi: ArrayLike, tau2: float) -> float:
    """Diversity D^2 = 1 - V_fixed / V_random = (V_random - V_fixed) / V_random (Wetterslev et al. 2009).

    V_fixed = 1 / sum(1/v_i) and V_random = 1 / sum(1/(v_i + tau^2)) are the variances of the common-effect and
    random-effects pooled estimates. Equivalently D^2 = tau^2 / (tau^2 + sigma_D^2), the share of the
    between-study variance in tau^2 plus the 'diversity-adjusted sampling error'
    sigma_D^2 = tau^2 V_fixed / (V_random - V_fixed). With equal variances v, D^2 = tau^2 / (tau^2 + v).
    """
    return _diversity(_check_variances(vi), tau2)


def _diversity(v: np.ndarray, tau2: float) -> float:
    tau2 = float(tau2)
    if not math.isfinite(tau2) or tau2 < 0:
        raise InputError(f"tau^2 = {tau2!r} is not a non-negative number", column="tau2", valid="tau^2 >= 0")
    v_fixed = 1.0 / np.sum(1.0 / v)
    v_random = 1.0 / np.sum(1.0 / (v + tau2))
    return float(1.0 - v_fixed / v_random)


def _check_variances(vi: ArrayLike) -> np.ndarray:
    v = np.atleast_1d(np.asarray(vi, dtype=float))
    if v.ndim != 1 or v.size == 0:
        raise InputError("sampling variances must be a non-empty 1-d sequence", column="vi")
    bad = np.flatnonzero(~np.isfinite(v) | (v <= 0))
    if bad.size:
        raise InputError(f"sampling variance {v[bad[0]]!r} of study {bad[0] + 1} is not positive", column="vi",
                         valid="finite numbers > 0")
    return v


# -- alpha spending ---------------------------------------------------------------------------------------
# The spending functions are kept on the log scale: at small information fractions the O'Brien-Fleming-type
# spending 2 Phi(-z / sqrt(t)) underflows double precision (t = 1e-4 spends about e^-19214), yet it still
# defines a finite boundary (z / sqrt(t) = 196 at the first look).
def _log_ldof(t: np.ndarray, level: float) -> np.ndarray:
    """log of gsDesign sfLDOF, 2 - 2 Phi(z_{1-level/2} / sqrt(t)) on (0, 1]; -inf at t = 0, log(level) beyond 1."""
    t = np.clip(np.asarray(t, dtype=float), 0.0, 1.0)
    z = stats.norm.isf(level / 2.0)
    with np.errstate(divide="ignore"):
        out = math.log(2.0) + special.log_ndtr(-z / np.sqrt(t))
    return np.where(t > 0, out, -np.inf)


def _log_ldpocock(t: np.ndarray, level: float) -> np.ndarray:
    """log of the Lan-DeMets Pocock-type spending, level * ln(1 + (e - 1) t)."""
    t = np.clip(np.asarray(t, dtype=float), 0.0, 1.0)
    with np.errstate(divide="ignore"):
        return math.log(level) + np.log(np.log1p((math.e - 1.0) * t))


_LOG_SPENDING: dict[str, SpendingFunction] = {"obf": _log_ldof, "pocock": _log_ldpocock}


def _check_convention(convention: str) -> str:
    if convention not in ("two-sided", "per-side"):
        raise InputError(f"unknown spending convention {convention!r}", column="convention",
                         valid="'two-sided' or 'per-side'")
    return convention


def _log_total_spending(spending: str | SpendingFunction, level: float, sides: int, convention: str) -> Callable:
    """log A(t), the cumulative spending of both sides together under the chosen convention.

    A callable spending function f(t, level) is taken on its own scale (its logarithm underflows where f does)."""
    if callable(spending):
        def log_base(t: np.ndarray, lev: float) -> np.ndarray:
            with np.errstate(divide="ignore"):
                return np.log(np.clip(np.asarray(spending(t, lev), dtype=float), 0.0, None))
    elif spending in _LOG_SPENDING:
        log_base = _LOG_SPENDING[spending]
    else:
        raise InputError(f"unknown spending function {spending!r}", column="spending",
                         valid="'obf', 'pocock' or a callable f(t, alpha)")
    if sides == 1 or _check_convention(convention) == "two-sided":
        return lambda t: np.asarray(log_base(np.asarray(t, dtype=float), level), dtype=float)
    return lambda t: math.log(2.0) + np.asarray(log_base(np.asarray(t, dtype=float), level / 2.0), dtype=float)


def _log_cumulative(log_spend: Callable, t: np.ndarray, level: float) -> np.ndarray:
    """log of the cumulative spending at the looks, made non-decreasing and capped at ``level``."""
    values = np.minimum(np.nan_to_num(log_spend(t), nan=-np.inf), math.log(level))
    return np.maximum.accumulate(values)


def _log_increments(log_cumulative: np.ndarray) -> np.ndarray:
    """log(A_k - A_{k-1}) from log A_k, without forming the (possibly underflowing) differences."""
    previous = np.concatenate([[-np.inf], log_cumulative[:-1]])
    out = np.full(log_cumulative.size, -np.inf)
    grows = log_cumulative > previous
    d = previous[grows] - log_cumulative[grows]  # < 0
    with np.errstate(divide="ignore"):
        log1mexp = np.where(d > -math.log(2.0), np.log(-np.expm1(d)), np.log1p(-np.exp(d)))
    out[grows] = log_cumulative[grows] + log1mexp
    return out


def obf_spending(
    t: ArrayLike, alpha: float = 0.05, sides: int = 2, convention: Convention = "two-sided"
) -> np.ndarray:
    """Cumulative alpha spent by information fraction t, Lan-DeMets O'Brien-Fleming type (Lan & DeMets 1983).

    sides=2, convention='two-sided' (default): alpha(t) = 2 - 2 Phi(z_{1-alpha/2} / sqrt(t)), both sides
    together. sides=2, convention='per-side': 2 x [2 - 2 Phi(z_{1-alpha/4} / sqrt(t))] (gsDesign ``sfLDOF`` at
    alpha/2 on each side, as RTSA). sides=1: 2 - 2 Phi(z_{1-alpha/2} / sqrt(t)) with alpha one-sided (gsDesign
    ``sfLDOF``). Fractions above 1 spend alpha. Values below about 1e-308 underflow to 0; see
    :attr:`Boundaries.log_alpha_spent` for the logarithm.
    """
    alpha = _check_probability(alpha, "alpha")
    if sides not in (1, 2):
        raise InputError(f"sides = {sides!r}", column="sides", valid="1 or 2")
    return np.exp(_log_total_spending("obf", alpha, sides, convention)(np.asarray(t, dtype=float)))


# -- recursive numerical integration -------------------------------------------------------------------------
# Jennison & Turnbull (2000, ch. 19) carry the sub-density of Z_k on the continuation region from look to look on
# a grid. Here it is written f_k(z) = phi(z - mean_k) g_k(z), where g_k(z) = P(no crossing at looks 1..k-1 |
# Z_k = z) lies in [0, 1], so nothing underflows however far out the boundaries are. Given Z_{k+1} = z', Z_k is
# normal with mean z' sqrt(t_k / t_{k+1}) and variance (t_{k+1} - t_k) / t_{k+1} whatever the drift (the Brownian
# bridge), so g_{k+1}(z') = E[g_k(Z_k); Z_k in the continuation region | Z_{k+1} = z'], a Gaussian smoothing
# integrated with Simpson's rule over the kernel's +-9 standard deviations. Exit probabilities are summed on the
# log scale. The grid adapts to the problem instead of being cut at a fixed number of standard deviations:
# - range: the continuation region, cut only where the N(mean, 1) density (which bounds f_k) falls below the
#   smallest probability still to be resolved times e^-_LOG_MARGIN: about +-10 with the usual spending, past
#   +-100 at information fraction 1e-4, where the boundaries are;
# - spacing: the next step's integrands have width at least sqrt(dt / t_next) in z; the spacing is that width
#   / _POINTS_PER_WIDTH, and at most 1/400 of the range.
_MIN_POINTS = 401  # Simpson points per look at least (odd)
_MAX_POINTS = 40001  # and at most
_POINTS_PER_WIDTH = 10.0
_LOG_MARGIN = 46.0  # e^-46 = 1e-20
_KERNEL_SDS = 9.0  # the bridge kernel beyond 9 SD is below e^-40 of its peak
_CHUNK = 4_000_000  # matrix elements per block


@dataclass
class _State:
    """The continuation sub-density at the last look: grid z, Simpson weight x g(z), and
    log(Simpson weight x g(z) x phi(z - mean)) for the exit sums."""

    z: np.ndarray
    weight_g: np.ndarray
    log_weight: np.ndarray
    t: float


def _start() -> _State:
    # A point mass at Z = 0 with information 0: the first look's exit formulas then reduce to the normal ones.
    return _State(np.zeros(1), np.ones(1), np.zeros(1), 0.0)


def _transition_args(state: _State, z_new: float, t_new: float, drift: float) -> np.ndarray:
    """Standardised argument (z_new sqrt(t_new) - z sqrt(t) - drift dt) / sqrt(dt) at every grid point."""
    dt = t_new - state.t
    return (z_new * math.sqrt(t_new) - state.z * math.sqrt(state.t) - drift * dt) / math.sqrt(dt)


def _logsumexp(values: np.ndarray) -> float:
    """log sum exp(values), -inf for an empty sum (scipy's logsumexp costs ~50x more per call here)."""
    top = float(np.max(values))
    if not math.isfinite(top):
        return top if top > 0 else -math.inf
    return top + math.log(float(np.sum(np.exp(values - top))))


def _log_exit_upper(state: _State, c: float, t_new: float, drift: float) -> float:
    """log P(continue so far, Z_new > c)."""
    return _logsumexp(state.log_weight + special.log_ndtr(-_transition_args(state, c, t_new, drift)))


def _log_exit_lower(state: _State, c: float, t_new: float, drift: float) -> float:
    """log P(continue so far, Z_new < c)."""
    return _logsumexp(state.log_weight + special.log_ndtr(_transition_args(state, c, t_new, drift)))


def _reach(log_floor: float) -> float:
    """Distance from the mean beyond which the standard normal density is below exp(log_floor) (at least 8)."""
    return math.sqrt(max(64.0, -2.0 * log_floor - math.log(2.0 * math.pi)))


def _smooth(state: _State, centre: np.ndarray, sd: float) -> np.ndarray:
    """sum_j weight_g_j N(z_j; centre_i, sd^2) for every centre: the bridge expectation of g over the old grid,
    over the kernel's +-_KERNEL_SDS standard deviations (the old grid is uniform)."""
    n = state.z.size
    if n == 1:
        return state.weight_g[0] * stats.norm.pdf(state.z[0], centre, sd)
    step = state.z[1] - state.z[0]
    width = min(n, 2 * int(math.ceil(_KERNEL_SDS * sd / step)) + 3)
    first = np.clip(np.searchsorted(state.z, centre - _KERNEL_SDS * sd) - 1, 0, n - width)
    out = np.empty(centre.size)
    rows = max(1, _CHUNK // width)
    offsets = np.arange(width)
    for start in range(0, centre.size, rows):
        index = first[start:start + rows, None] + offsets
        u = (state.z[index] - centre[start:start + rows, None]) / sd
        out[start:start + rows] = (state.weight_g[index] * np.exp(-0.5 * u * u)).sum(axis=1)
    return out / (sd * math.sqrt(2.0 * math.pi))


def _advance(state: _State, lower: float, upper: float, t_new: float, drift: float, t_next: float,
             log_floor: float) -> _State:
    """Propagate to look t_new and restrict to the continuation region (lower, upper), on a grid fit for the
    step to t_next and for probabilities down to exp(log_floor)."""
    mean = drift * math.sqrt(t_new)
    reach = _reach(log_floor - _LOG_MARGIN)
    lo = max(lower, mean - reach)
    hi = min(upper, mean + reach)
    if not lo < hi:
        return _State(np.array([mean]), np.zeros(1), np.array([-np.inf]), t_new)
    width = math.sqrt((t_next - t_new) / t_next)
    intervals = int(math.ceil((hi - lo) * _POINTS_PER_WIDTH / width / 2.0)) * 2
    intervals = min(max(intervals, _MIN_POINTS - 1), _MAX_POINTS - 1)
    z = np.linspace(lo, hi, intervals + 1)
    simpson = np.ones(intervals + 1)
    simpson[1:-1:2] = 4.0
    simpson[2:-1:2] = 2.0
    simpson *= (hi - lo) / intervals / 3.0
    if state.t == 0.0:
        g = np.ones(z.size)  # nothing to cross before the first look
    else:
        g = _smooth(state, z * math.sqrt(state.t / t_new), math.sqrt((t_new - state.t) / t_new))
    weight_g = simpson * g
    with np.errstate(divide="ignore"):
        log_weight = np.log(weight_g) + stats.norm.logpdf(z, mean, 1.0)
    return _State(z, weight_g, log_weight, t_new)


def _floors(log_probabilities: np.ndarray) -> np.ndarray:
    """For each look, the smallest finite log probability at the looks after it (the next advance must resolve
    it); -50 where none follows."""
    out = np.full(log_probabilities.size, -50.0)
    smallest = math.inf
    for k in range(log_probabilities.size - 1, -1, -1):
        out[k] = min(smallest, 0.0) if math.isfinite(smallest) else -50.0
        if math.isfinite(log_probabilities[k]):
            smallest = min(smallest, float(log_probabilities[k]))
    return out


def _root(g: Callable[[float], float], lo: float, hi: float) -> float:
    return float(optimize.brentq(g, lo, hi, xtol=1e-11, rtol=1e-13, maxiter=300))


def _efficacy_bound(log_exit: Callable[[float], float], log_target: float, log_cumulative: float,
                    sides: int) -> float:
    """c_k with log P(continue so far, Z_k beyond c_k) = log_target under H0.

    Bracket: {|Z_k| >= c_k} lies in 'crossed by look k', and the exit lies in {|Z_k| >= c_k}, so
    Phi^-1(1 - A_k / sides) <= c_k <= Phi^-1(1 - increment_k / sides) (both exact at the first look)."""
    if not math.isfinite(log_target):
        return math.inf
    log_sides = math.log(sides)
    lo = float(-special.ndtri_exp(log_cumulative - log_sides)) - 0.5
    hi = float(-special.ndtri_exp(log_target - log_sides)) + 0.5
    if sides == 2:
        lo = max(lo, 0.0)

    def g(c: float) -> float:
        return log_exit(c) - log_target

    for _ in range(60):
        if g(hi) <= 0:
            break
        hi += 1.0 + (hi - lo)
    for _ in range(60):
        if g(lo) >= 0:
            break
        if sides == 2 and lo <= 0.0:
            return 0.0  # the increment exceeds what is left to spend
        lo = max(lo - 1.0 - (hi - lo), 0.0) if sides == 2 else lo - 1.0 - (hi - lo)
        if lo < -60.0:
            return -math.inf
    return _root(g, lo, hi)


def _futility_bound(log_exit_low: Callable[[float], float], log_target: float, mean: float, cap: float) -> float:
    """f_k with log P(continue so far, Z_k <= f_k) = log_target under the drift; at most ``cap`` (the efficacy
    boundary). Bracket: the exit lies in {Z_k <= f_k}, so f_k >= mean + Phi^-1(target)."""
    if not math.isfinite(log_target):
        return -math.inf
    lo = mean + float(special.ndtri_exp(log_target)) - 0.5

    def g(f: float) -> float:
        return log_exit_low(f) - log_target

    hi = cap if math.isfinite(cap) else lo + 80.0
    if g(hi) < 0:
        return cap
    for _ in range(60):
        if g(lo) <= 0:
            break
        lo -= 1.0 + (hi - lo)
    return _root(g, lo, hi)


def _check_fractions(information_fractions: ArrayLike) -> np.ndarray:
    t = np.atleast_1d(np.asarray(information_fractions, dtype=float))
    if t.ndim != 1 or t.size == 0:
        raise InputError("information fractions must be a non-empty 1-d sequence", column="information_fractions")
    if not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise InputError("information fractions must be finite and > 0", column="information_fractions",
                         valid="increasing numbers > 0 (1 = the required information size)")
    if np.any(np.diff(t) <= 0):
        position = int(np.flatnonzero(np.diff(t) <= 0)[0]) + 1
        raise InputError(f"information fraction {t[position]:g} at look {position + 1} does not increase",
                         column="information_fractions", valid="strictly increasing fractions")
    return t


@dataclass(frozen=True)
class Boundaries:
    """Group-sequential monitoring boundaries on the Z scale, one per look.

    ``efficacy`` is the upper boundary; with ``sides=2`` the lower one is ``-efficacy``. ``futility`` (when
    beta-spending was requested) is the non-binding futility boundary on the side of benefit under the drift
    ``drift`` (E[Z] = drift sqrt(t)); TSA draws it symmetrically as the inner wedge |Z| < futility. Infinite
    values mean no spending at that look (no boundary). ``alpha_spent`` underflows to 0 below about 1e-308
    (information fractions below about 0.004 with O'Brien-Fleming spending); ``log_alpha_spent`` does not.
    """

    fractions: np.ndarray
    efficacy: np.ndarray
    alpha_spent: np.ndarray  # cumulative, both sides together
    alpha: float
    sides: int
    convention: str
    spending: str
    futility: np.ndarray | None = None
    beta_spent: np.ndarray | None = None
    beta: float | None = None
    drift: float | None = None
    log_alpha_spent: np.ndarray | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "fractions": _json_list(self.fractions),
            "efficacy": _json_list(self.efficacy),
            "alpha_spent": _json_list(self.alpha_spent),
            "log_alpha_spent": _json_list(self.log_alpha_spent),
            "alpha": self.alpha,
            "sides": self.sides,
            "convention": self.convention,
            "spending": self.spending,
        }
        if self.futility is not None:
            out.update(futility=_json_list(self.futility), beta_spent=_json_list(self.beta_spent), beta=self.beta,
                       drift=self.drift)
        return out

    def to_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame({"fraction": self.fractions, "efficacy": self.efficacy, "alpha_spent": self.alpha_spent})
        if self.futility is not None:
            frame["futility"] = self.futility
            frame["beta_spent"] = self.beta_spent
        return frame


def _json_list(values: np.ndarray | None) -> list[float | None] | None:
    if values is None:
        return None
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def boundaries(
    information_fractions: ArrayLike,
    alpha: float = 0.05,
    spending: str | SpendingFunction = "obf",
    convention: Convention = "two-sided",
    sides: int = 2,
    beta: float | None = None,
    drift: float | None = None,
) -> Boundaries:
    """Exact alpha-spending boundaries by recursive numerical integration (Armitage, McPherson & Rowe 1969;
    Jennison & Turnbull 2000, ch. 7 and 19).

    Z_k = S(t_k) / sqrt(t_k) for a Brownian motion S on the information-fraction scale. The boundary at look k
    solves P(no earlier crossing, |Z_k| >= c_k) = A(t_k) - A(t_{k-1}) under H0 (one-sided: Z_k >= c_k), where A
    is the cumulative spending of ``spending`` ('obf': Lan-DeMets O'Brien-Fleming type; 'pocock': Lan-DeMets
    Pocock type; or a callable f(t, level)) under ``convention`` (see the module docstring). The first boundary
    is the closed form Phi^-1(1 - A(t_1) / sides) (z_{1-alpha/2} / sqrt(t_1) for 'obf', 'two-sided'), finite at
    any t_1 > 0. Fractions above 1 spend nothing further (A(t) = alpha); a look after the one that reached 1 has
    an infinite boundary.

    beta: request non-binding futility boundaries by beta spending with the same spending family at level beta
    (J&T 2000, section 7.3): under the drift (default z_{1-alpha/sides} + z_{1-beta}, the effect the RIS was
    sized for), f_k solves P(f_j < Z_j < c_j for j < k, Z_k <= f_k) = B(t_k) - B(t_{k-1}). Efficacy boundaries
    ignore the futility ones (non-binding); a futility boundary above the efficacy one is set to it.

    Numerics: spending and exit probabilities on the log scale (no underflow at small fractions); Simpson's rule
    on a grid per look that covers the continuation region as far as probabilities of the size still to be
    spent can reach and resolves the width of the next step's integrands (see ``_advance``); boundaries by
    Brent's method on the log exit probability, bracketed by the closed-form bounds
    Phi^-1(1 - A(t_k) / sides) <= c_k <= Phi^-1(1 - (A(t_k) - A(t_{k-1})) / sides).
    """
    t = _check_fractions(information_fractions)
    alpha = _check_probability(alpha, "alpha")
    if sides not in (1, 2):
        raise InputError(f"sides = {sides!r}", column="sides", valid="1 or 2")
    convention = _check_convention(convention)
    name = spending if isinstance(spending, str) else getattr(spending, "__name__", "custom")
    log_cumulative = _log_cumulative(_log_total_spending(spending, alpha, sides, convention), t, alpha)
    log_increment = _log_increments(log_cumulative)
    floors = _floors(log_increment)

    efficacy = np.empty(t.size)
    state = _start()
    for k, t_k in enumerate(t):
        if sides == 2:
            def log_exit(c: float, s: _State = state, tk: float = t_k) -> float:
                return float(np.logaddexp(_log_exit_upper(s, c, tk, 0.0), _log_exit_lower(s, -c, tk, 0.0)))
        else:
            def log_exit(c: float, s: _State = state, tk: float = t_k) -> float:
                return _log_exit_upper(s, c, tk, 0.0)
        efficacy[k] = _efficacy_bound(log_exit, log_increment[k], log_cumulative[k], sides)
        if k + 1 < t.size:
            state = _advance(state, -efficacy[k] if sides == 2 else -math.inf, efficacy[k], t_k, 0.0, t[k + 1],
                             floors[k])

    common = dict(log_alpha_spent=log_cumulative)
    if beta is None:
        return Boundaries(t, efficacy, np.exp(log_cumulative), alpha, sides, convention, name, **common)

    beta = _check_probability(beta, "beta")
    if drift is None:
        drift = float(stats.norm.isf(alpha / sides) + stats.norm.isf(beta))
    log_beta_cumulative = _log_cumulative(_log_total_spending(spending, beta, 1, "two-sided"), t, beta)
    log_beta_increment = _log_increments(log_beta_cumulative)
    beta_floors = _floors(log_beta_increment)
    futility = np.empty(t.size)
    state = _start()
    for k, t_k in enumerate(t):
        def log_exit_low(f: float, s: _State = state, tk: float = t_k) -> float:
            return _log_exit_lower(s, f, tk, drift)

        futility[k] = _futility_bound(log_exit_low, log_beta_increment[k], drift * math.sqrt(t_k), efficacy[k])
        if k + 1 < t.size:
            lower = max(futility[k], -efficacy[k]) if sides == 2 else futility[k]
            state = _advance(state, lower, efficacy[k], t_k, drift, t[k + 1], beta_floors[k])
    return Boundaries(t, efficacy, np.exp(log_cumulative), alpha, sides, convention, name, futility,
                      np.exp(log_beta_cumulative), beta, float(drift), **common)


def exit_probabilities(
    information_fractions: ArrayLike,
    upper: ArrayLike,
    lower: ArrayLike | None = None,
    drift: float = 0.0,
) -> pd.DataFrame:
    """Probabilities of first crossing the upper (Z >= upper_k) or lower (Z <= lower_k) boundary at each look,
    for a Brownian motion with E[Z_k] = drift sqrt(t_k) (same recursion as :func:`boundaries`).

    ``lower`` defaults to ``-upper`` (symmetric two-sided); pass ``-inf`` values for a one-sided design.
    Columns fraction, upper, lower, cumulative, and log_upper, log_lower (which do not underflow).
    """
    t = _check_fractions(information_fractions)
    up = np.broadcast_to(np.asarray(upper, dtype=float), t.shape)
    low = -up if lower is None else np.broadcast_to(np.asarray(lower, dtype=float), t.shape)
    mean = drift * np.sqrt(t)
    # the scale of each look's exit probability: its unconditional value
    with np.errstate(divide="ignore"):
        scale = np.logaddexp(special.log_ndtr(mean - up), special.log_ndtr(low - mean))
    floors = _floors(np.where(np.isfinite(scale), scale, -np.inf))
    state = _start()
    log_up = np.full(t.size, -np.inf)
    log_low = np.full(t.size, -np.inf)
    for k, t_k in enumerate(t):
        if math.isfinite(up[k]):
            log_up[k] = _log_exit_upper(state, up[k], t_k, drift)
        if math.isfinite(low[k]):
            log_low[k] = _log_exit_lower(state, low[k], t_k, drift)
        if k + 1 < t.size:
            state = _advance(state, low[k], up[k], t_k, drift, t[k + 1], floors[k])
    p_up, p_low = np.exp(log_up), np.exp(log_low)
    return pd.DataFrame({"fraction": t, "upper": p_up, "lower": p_low, "cumulative": np.cumsum(p_up + p_low),
                         "log_upper": log_up, "log_lower": log_low})


# -- cumulative meta-analysis ---------------------------------------------------------------------------------
def _pool(y: np.ndarray, v: np.ndarray, method: str) -> tuple[float, float, float]:
    """Inverse-variance pooling: common effect (FE) or DerSimonian & Laird (1986) random effects.

    DL: tau^2 = max(0, (Q - (k - 1)) / (sum w - sum w^2 / sum w)), w = 1/v; weights 1/(v + tau^2).
    Returns (estimate, standard error, tau^2).
    """
    w = 1.0 / v
    tau2 = 0.0
    if method == "DL" and y.size > 1:
        mu_fixed = np.sum(w * y) / np.sum(w)
        q = np.sum(w * (y - mu_fixed) ** 2)
        tau2 = max(0.0, (q - (y.size - 1)) / (np.sum(w) - np.sum(w**2) / np.sum(w)))
    w_star = 1.0 / (v + tau2)
    return float(np.sum(w_star * y) / np.sum(w_star)), float(math.sqrt(1.0 / np.sum(w_star))), float(tau2)


def _sample_sizes(args: EffectArgs, sample_sizes: ArrayLike | None) -> ArrayLike | None:
    """``sample_sizes`` as given, else the arm totals of an EffectData with counts (in its study order)."""
    if sample_sizes is not None or args.data is None or args.data.counts is None:
        return sample_sizes
    counts = args.data.counts.loc[list(args.data.study)]
    return (counts["total_treatment"] + counts["total_control"]).to_numpy(dtype=float)


def _check_method(method: str) -> str:
    if method not in ("DL", "FE"):
        raise InputError(f"unknown pooling method {method!r}", column="method", valid="'DL' or 'FE'")
    return method


def cumulative_z(
    data: EffectData | ArrayLike,
    vi: ArrayLike | None = None,
    order: ArrayLike | None = None,
    sample_sizes: ArrayLike | None = None,
    method: str = "DL",
    ris: float | None = None,
    study: Sequence[str] | None = None,
    *,
    sei: ArrayLike | None = None,
) -> pd.DataFrame:
    """The cumulative Z-curve: after each study in chronological order, the pooled log effect, its SE and
    Z = estimate / SE, with the accrued participants and their fraction of the RIS (Wetterslev et al. 2008).

    order: sort key (e.g. publication year; ties keep the input order); None keeps the input order.
    sample_sizes: participants per study (both arms; default: the arm totals of an EffectData with counts).
    method: 'DL' (DerSimonian-Laird) or 'FE' (inverse variance). ``data``: an EffectData, or the effects yi with
    ``vi`` (or ``sei``) and ``study`` labels.
    Columns: look, study, n, n_cumulative, fraction (n_cumulative / ris, NaN without ris), estimate, se, z, tau2.
    """
    args = effect_args(data, sei, vi=vi, study=study)
    study, sample_sizes = args.study, _sample_sizes(args, sample_sizes)
    y = np.atleast_1d(np.asarray(args.yi, dtype=float))
    v = _check_variances(args.variances())
    if y.shape != v.shape or not np.all(np.isfinite(y)):
        raise InputError("effects yi must be finite and as many as the variances vi", column="yi")
    method = _check_method(method)
    k = y.size
    labels = [f"study {i + 1}" for i in range(k)] if study is None else [str(s) for s in study]
    if len(labels) != k:
        raise InputError(f"{len(labels)} study labels for {k} effects", column="study")
    if sample_sizes is None:
        n = np.full(k, np.nan)
    else:
        n = np.atleast_1d(np.asarray(sample_sizes, dtype=float))
        if n.shape != y.shape or not np.all(np.isfinite(n)) or np.any(n <= 0):
            raise InputError("sample sizes must be positive numbers, one per study", column="sample_sizes",
                             valid="participants per study (both arms), > 0")
    if order is None:
        index = np.arange(k)
    else:
        keys = np.atleast_1d(np.asarray(order))
        if keys.shape != y.shape:
            raise InputError(f"{keys.size} order keys for {k} studies", column="order")
        index = np.argsort(keys, kind="stable")
    rows = []
    for j in range(1, k + 1):
        chosen = index[:j]
        estimate, se, tau2 = _pool(y[chosen], v[chosen], method)
        rows.append((estimate, se, tau2))
    pooled = np.array(rows)
    n_sorted = n[index]
    n_cumulative = np.cumsum(n_sorted)
    fraction = n_cumulative / float(ris) if ris is not None else np.full(k, np.nan)
    return pd.DataFrame({
        "look": np.arange(1, k + 1),
        "study": [labels[i] for i in index],
        "n": n_sorted,
        "n_cumulative": n_cumulative,
        "fraction": fraction,
        "estimate": pooled[:, 0],
        "se": pooled[:, 1],
        "z": pooled[:, 0] / pooled[:, 1],
        "tau2": pooled[:, 2],
    })


# -- the whole analysis -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TSAResult:
    """A trial sequential analysis: information size, Z-curve with its boundaries, and what the curve crossed.

    ``curve`` has one row per look (study added) with the columns of :func:`cumulative_z` and ``efficacy``
    (|Z| boundary at that look; for looks beyond the RIS, the final boundary) and ``futility`` (inner wedge,
    NaN where there is none). ``crossed_efficacy_at`` / ``crossed_futility_at`` are the first look (1-based)
    where |Z| >= efficacy, resp. 0 < |Z| < futility before the RIS; ``reached_ris_at`` the first look whose
    accrued participants reach the RIS.
    """

    ris_fixed: float
    diversity: float
    diversity_source: str
    ris: float
    ris_rounded: int
    p_control: float
    relative_risk_reduction: float
    alpha: float
    power: float
    method: str
    convention: str
    curve: pd.DataFrame
    boundaries: Boundaries
    crossed_efficacy_at: int | None
    crossed_efficacy_side: str | None
    crossed_futility_at: int | None
    reached_ris_at: int | None
    final_z: float = field(default=math.nan)

    @property
    def crossed_efficacy(self) -> bool:
        return self.crossed_efficacy_at is not None

    @property
    def reached_ris(self) -> bool:
        return self.reached_ris_at is not None

    def as_dict(self) -> dict[str, Any]:
        curve = self.curve.astype(object).where(self.curve.notna(), None)
        records = []
        for row in curve.to_dict(orient="records"):
            records.append({key: (None if isinstance(val, float) and not math.isfinite(val) else
                                  (val.item() if hasattr(val, "item") else val)) for key, val in row.items()})
        return {
            "ris_fixed": self.ris_fixed,
            "diversity": self.diversity,
            "diversity_source": self.diversity_source,
            "ris": self.ris,
            "ris_rounded": self.ris_rounded,
            "p_control": self.p_control,
            "relative_risk_reduction": self.relative_risk_reduction,
            "alpha": self.alpha,
            "power": self.power,
            "method": self.method,
            "convention": self.convention,
            "crossed_efficacy": self.crossed_efficacy,
            "crossed_efficacy_at": self.crossed_efficacy_at,
            "crossed_efficacy_side": self.crossed_efficacy_side,
            "crossed_futility_at": self.crossed_futility_at,
            "reached_ris": self.reached_ris,
            "reached_ris_at": self.reached_ris_at,
            "final_z": self.final_z,
            "curve": records,
            "boundaries": self.boundaries.as_dict(),
        }


def tsa(
    data: EffectData | ArrayLike,
    vi: ArrayLike | None = None,
    sample_sizes: ArrayLike | None = None,
    p_control: float | None = None,
    relative_risk_reduction: float | None = None,
    alpha: float = 0.05,
    power: float = 0.80,
    diversity: float | str = "auto",
    order: ArrayLike | None = None,
    method: str = "DL",
    convention: Convention = "two-sided",
    futility: bool = True,
    study: Sequence[str] | None = None,
    *,
    sei: ArrayLike | None = None,
) -> TSAResult:
    """Trial sequential analysis of a binary outcome (Wetterslev et al. 2008, 2017).

    ``data``: an EffectData (with arm counts, ``sample_sizes`` default to the arm totals and ``p_control`` to
    the pooled control-arm proportion), or the effects yi with ``vi`` (or ``sei``) and ``study`` labels.
    ``relative_risk_reduction`` is required.

    diversity: a D^2 in [0, 1), or 'auto' for D^2 of all studies with the DerSimonian-Laird tau^2
    (:func:`diversity`; 0 with method 'FE'). RIS from :func:`required_information_size`, rounded up to whole
    participants; information fraction = accrued participants / rounded RIS. Boundaries: Lan-DeMets
    O'Brien-Fleming-type alpha spending at the looks before the RIS plus a final look at the RIS
    (:func:`boundaries`, two-sided), and with ``futility`` a non-binding beta-spending futility wedge.
    """
    args = effect_args(data, sei, vi=vi, study=study)
    study, sample_sizes = args.study, _sample_sizes(args, sample_sizes)
    if relative_risk_reduction is None:
        raise InputError("the anticipated relative risk reduction is needed", column="relative_risk_reduction",
                         valid="a non-zero number below 1")
    if p_control is None:
        counts = None if args.data is None else args.data.counts
        if counts is None:
            raise InputError("the control-arm event proportion is needed (or arm counts to pool it from)",
                             column="p_control", valid="a proportion in (0, 1)")
        counts = counts.loc[list(args.data.study)]
        p_control = float(counts["events_control"].sum() / counts["total_control"].sum())
    if sample_sizes is None:
        raise InputError("the TSA needs the participants of each study", column="sample_sizes",
                         valid="sample_sizes, or an EffectData with arm counts")
    y = np.atleast_1d(np.asarray(args.yi, dtype=float))
    v = _check_variances(args.variances())
    method = _check_method(method)
    if isinstance(diversity, str):
        if diversity != "auto":
            raise InputError(f"diversity {diversity!r} is not a number or 'auto'", column="diversity",
                             valid="'auto' or a D^2 in [0, 1)")
        tau2 = _pool(y, v, "DL")[2] if method == "DL" else 0.0
        d2 = _diversity(v, tau2)
        source = f"estimated (DerSimonian-Laird tau^2 = {tau2:.4g}, k = {y.size})" if method == "DL" else "FE: 0"
    else:
        d2 = _check_diversity(diversity)
        source = "given"
    ris_fixed = _fixed_information_size(p_control, relative_risk_reduction, alpha, power)
    if d2 >= 1.0 - 1e-12:
        raise ModelError("diversity D^2 is 1: the heterogeneity-adjusted information size is infinite")
    ris = ris_fixed / (1.0 - d2)
    if not ris <= MAX_INFORMATION_SIZE:
        raise InputError(
            f"the required information size is {ris:.3g} participants (relative risk reduction "
            f"{float(relative_risk_reduction):g}): no sequence of trials can reach it",
            column="relative_risk_reduction",
            valid=f"a relative risk reduction further from 0 (information size at most {MAX_INFORMATION_SIZE:.0e})",
        )
    ris_rounded = math.ceil(ris - 1e-9)
    curve = cumulative_z(y, v, order=order, sample_sizes=sample_sizes, method=method, ris=ris_rounded, study=study)
    fractions = curve["fraction"].to_numpy()
    planned = np.append(fractions[fractions < 1.0], 1.0)
    bounds = boundaries(planned, alpha=alpha, convention=convention, beta=(1.0 - power) if futility else None)
    position = np.minimum(np.searchsorted(planned, fractions, side="left"), planned.size - 1)
    efficacy = bounds.efficacy[position]
    curve["efficacy"] = efficacy
    if bounds.futility is not None:
        wedge = np.where((fractions < 1.0) & (bounds.futility[position] > 0), bounds.futility[position], np.nan)
        curve["futility"] = wedge
    else:
        curve["futility"] = np.nan
    z = curve["z"].to_numpy()
    crossed = np.flatnonzero(np.abs(z) >= efficacy)
    crossed_at = int(crossed[0]) + 1 if crossed.size else None
    side = None if crossed_at is None else ("upper" if z[crossed_at - 1] > 0 else "lower")
    wedge = curve["futility"].to_numpy()
    inside = np.flatnonzero(np.isfinite(wedge) & (np.abs(z) < np.nan_to_num(wedge, nan=-1.0)))
    reached = np.flatnonzero(curve["n_cumulative"].to_numpy() >= ris_rounded)
    return TSAResult(
        ris_fixed=ris_fixed,
        diversity=float(d2),
        diversity_source=source,
        ris=float(ris),
        ris_rounded=ris_rounded,
        p_control=float(p_control),
        relative_risk_reduction=float(relative_risk_reduction),
        alpha=float(alpha),
        power=float(power),
        method=method,
        convention=convention,
        curve=curve,
        boundaries=bounds,
        crossed_efficacy_at=crossed_at,
        crossed_efficacy_side=side,
        crossed_futility_at=int(inside[0]) + 1 if inside.size else None,
        reached_ris_at=int(reached[0]) + 1 if reached.size else None,
        final_z=float(z[-1]),
    )
