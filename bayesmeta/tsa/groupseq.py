"""Group-sequential boundaries for trial sequential analysis: Lan-DeMets alpha spending (O'Brien-Fleming and
Pocock types), exact boundaries by recursive numerical integration, beta-spending futility boundaries (binding or
non-binding; two-sided ones as RTSA or as rpact, :mod:`bayesmeta.tsa.inner_futility`), exit probabilities and the
information inflation of a sequential design.

Lan KKG, DeMets DL (1983) Biometrika 70:659-663 (alpha spending);
Armitage P, McPherson CK, Rowe BC (1969) J R Stat Soc A 132:235-244 and Jennison C, Turnbull BW (2000)
*Group Sequential Methods with Applications to Clinical Trials*, ch. 7 and 19 (recursive numerical integration).

Spending conventions for a two-sided test (``convention``):

- ``'two-sided'`` (default, "classic": the form written by Lan & DeMets 1983 with a two-sided alpha): the
  *total* alpha spent by information fraction t is A(t) = 2 - 2 Phi(z_{1-alpha/2} / sqrt(t)), shared equally by
  the two symmetric boundaries;
- ``'per-side'`` (gsDesign ``sfLDOF`` with one-sided alpha/2 on each side, ldbounds with ``alpha`` split per
  side, and the R package RTSA): each side spends 2 - 2 Phi(z_{1-alpha/4} / sqrt(t)). For 5 equally spaced looks
  and alpha = 0.05 this gives the widely tabulated 4.877, 3.357, 2.680, 2.290, 2.031; the classic two-sided
  convention gives lower interim boundaries (4.383 at t = 0.2) and the same final alpha.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import optimize, special, stats

from bayesmeta.errors import InputError
from bayesmeta.tsa.size import check_probability as _check_probability

Convention = Literal["two-sided", "per-side"]
SpendingFunction = Callable[[np.ndarray, float], np.ndarray]


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
    if callable(spending) and callable(getattr(spending, "log", None)):
        log_base = spending.log  # a spending function that gives its own logarithm
    elif callable(spending):
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
_MIN_PIECE_POINTS = 61  # per interval of a continuation region with a gap (odd)
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
    pieces: tuple[tuple[int, int], ...] = ()  # index ranges of uniform sub-grids when the region has a gap


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
    if len(state.pieces) > 1:
        return sum(_smooth(_State(state.z[a:b], state.weight_g[a:b], state.log_weight[a:b], state.t), centre, sd)
                   for a, b in state.pieces)
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
    return _advance_regions(state, [(lower, upper)], t_new, drift, t_next, log_floor)


def _advance_regions(state: _State, regions: list[tuple[float, float]], t_new: float, drift: float,
                     t_next: float, log_floor: float) -> _State:
    """As :func:`_advance` for a continuation region made of disjoint intervals (two-sided designs with an inner
    futility region: (-c, -f) and (f, c)); each interval gets its own Simpson grid."""
    mean = drift * math.sqrt(t_new)
    reach = _reach(log_floor - _LOG_MARGIN)
    width = math.sqrt((t_next - t_new) / t_next)
    clipped = [(max(lower, mean - reach), min(upper, mean + reach)) for lower, upper in regions]
    clipped = [(lo, hi) for lo, hi in clipped if lo < hi]
    span = sum(hi - lo for lo, hi in clipped)
    grids = []
    for lo, hi in clipped:
        # the minimum number of points is shared among the intervals by their length
        least = max(_MIN_PIECE_POINTS, int(math.ceil((_MIN_POINTS - 1) * (hi - lo) / span / 2.0)) * 2 + 1)
        intervals = int(math.ceil((hi - lo) * _POINTS_PER_WIDTH / width / 2.0)) * 2
        intervals = min(max(intervals, least - 1), _MAX_POINTS - 1)
        simpson = np.ones(intervals + 1)
        simpson[1:-1:2] = 4.0
        simpson[2:-1:2] = 2.0
        simpson *= (hi - lo) / intervals / 3.0
        grids.append((np.linspace(lo, hi, intervals + 1), simpson))
    if not grids:
        return _State(np.array([mean]), np.zeros(1), np.array([-np.inf]), t_new)
    z = np.concatenate([g[0] for g in grids])
    simpson = np.concatenate([g[1] for g in grids])
    bounds = np.cumsum([0] + [g[0].size for g in grids])
    pieces = tuple((int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]))
    if state.t == 0.0:
        g = np.ones(z.size)  # nothing to cross before the first look
    else:
        g = _smooth(state, z * math.sqrt(state.t / t_new), math.sqrt((t_new - state.t) / t_new))
    weight_g = simpson * g
    with np.errstate(divide="ignore"):
        log_weight = np.log(weight_g) + stats.norm.logpdf(z, mean, 1.0)
    return _State(z, weight_g, log_weight, t_new, pieces)


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
    beta-spending was requested) is the futility boundary on the side of benefit under the drift ``drift``
    (E[Z] = drift sqrt(t)); two-sided designs stop for futility inside |Z| < futility (the inner region, drawn
    symmetrically), computed by ``futility_rule`` 'rtsa' or 'rpact' (:data:`FUTILITY_RULES`). Infinite values
    mean no spending at that look (no boundary). ``alpha_spent`` underflows to 0 below about 1e-308
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
    futility_rule: str | None = None

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
                       drift=self.drift, futility_rule=self.futility_rule)
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
    binding: bool = False,
    wedge: bool = False,
    futility_rule: str | None = None,
    beta_adjustment: bool = True,
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
    ignore the futility ones (non-binding); a futility boundary above the efficacy one is set to it. ``binding``
    (one-sided designs here; two-sided ones by the 'rpact' rule below): each efficacy boundary is solved under H0 with the earlier futility boundaries as the
    lower limits of the continuation region. ``wedge`` (two-sided): a look whose futility boundary would not be
    positive spends no beta and carries its share to the next look (RTSA's inner wedge; :func:`design` does so).
    :func:`design` also solves the drift that gives the power.

    ``futility_rule`` (two-sided designs; :data:`FUTILITY_RULES`, default as :func:`design`): 'rtsa' as above,
    or 'rpact', the inner region -f_k < Z_k < f_k of :mod:`bayesmeta.tsa.inner_futility` (binding or not,
    ``beta_adjustment`` as rpact's ``betaAdjustment``) under the given drift.

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

    efficacy = _efficacy_boundaries(t, log_increment, log_cumulative, floors, sides)
    common = dict(log_alpha_spent=log_cumulative)
    if beta is None:
        return Boundaries(t, efficacy, np.exp(log_cumulative), alpha, sides, convention, name, **common)

    beta = _check_probability(beta, "beta")
    if drift is None:
        drift = float(stats.norm.isf(alpha / sides) + stats.norm.isf(beta))
    log_beta_cumulative = _log_cumulative(_log_total_spending(spending, beta, 1, "two-sided"), t, beta)
    log_beta_increment = _log_increments(log_beta_cumulative)
    beta_floors = _floors(log_beta_increment)
    rule = resolve_futility_rule(futility_rule, sides, binding, beta_adjustment)
    if rule == "rpact":
        from bayesmeta.tsa import inner_futility

        base = Boundaries(t, efficacy, np.exp(log_cumulative), alpha, sides, convention, name, **common)
        inner = inner_futility.solve(t, alpha, beta, spending, spending, convention, binding, beta_adjustment,
                                     float(drift), base)
        return Boundaries(t, inner.efficacy, inner.alpha_spent, alpha, sides, convention, name, inner.futility,
                          inner.beta_spent, beta, float(drift), log_alpha_spent=_log_spent(inner.alpha_spent),
                          futility_rule=rule)
    h0 = (log_increment, log_cumulative, floors) if binding else None
    efficacy, futility, _ = _futility_run(t, float(drift), None if binding else efficacy, sides, log_beta_increment,
                                          beta_floors, h0, meet=False, wedge=wedge)
    return Boundaries(t, efficacy, np.exp(log_cumulative), alpha, sides, convention, name, futility,
                      np.exp(log_beta_cumulative), beta, float(drift), futility_rule=rule, **common)


def _efficacy_boundaries(t: np.ndarray, log_increment: np.ndarray, log_cumulative: np.ndarray, floors: np.ndarray,
                         sides: int) -> np.ndarray:
    """The efficacy boundaries under H0, ignoring any futility boundary (non-binding)."""
    efficacy = np.empty(t.size)
    state = _start()
    for k, t_k in enumerate(t):
        efficacy[k] = _efficacy_bound(_h0_exit(state, t_k, sides), log_increment[k], log_cumulative[k], sides)
        if k + 1 < t.size:
            state = _advance(state, -efficacy[k] if sides == 2 else -math.inf, efficacy[k], t_k, 0.0, t[k + 1],
                             floors[k])
    return efficacy


def _h0_exit(state: _State, t_k: float, sides: int) -> Callable[[float], float]:
    """log P(no earlier crossing, Z_k beyond c) under H0, as a function of c."""
    if sides == 2:
        return lambda c: float(np.logaddexp(_log_exit_upper(state, c, t_k, 0.0), _log_exit_lower(state, -c, t_k, 0.0)))
    return lambda c: _log_exit_upper(state, c, t_k, 0.0)


FUTILITY = ("none", "non-binding", "binding")
"""Futility boundaries of a design: none, non-binding (the efficacy boundaries ignore them) or binding (the trial
stops when the Z-curve enters the futility region, so the efficacy boundaries may be lower)."""

FUTILITY_RULES = ("rtsa", "rpact")
"""How a two-sided design spends beta: 'rtsa' (RTSA: f_k on the side of the drift from P(Z_k <= f_k), a look
whose f_k is not positive carries its beta to the next; non-binding only) or 'rpact' (rpact: the inner region
-f_k < Z_k < f_k, binding or non-binding; :mod:`bayesmeta.tsa.inner_futility`). One-sided designs: the same."""


def resolve_futility_rule(rule: str | None, sides: int, binding: bool, beta_adjustment: bool = True,
                  two_sided_power: bool = False) -> str:
    """The rule of a design's beta spending: ``rule``, or by default 'rpact' for binding two-sided futility (the
    only two-sided binding futility computed) and 'rtsa' otherwise. rpact's options (``beta_adjustment`` off,
    ``two_sided_power``) need the 'rpact' rule."""
    if rule is None:
        rule = "rpact" if binding and sides == 2 else "rtsa"
    if rule not in FUTILITY_RULES:
        raise InputError(f"unknown futility rule {rule!r}", column="futility_rule", valid=", ".join(FUTILITY_RULES))
    if rule == "rpact" and sides != 2:
        raise InputError("the futility rule 'rpact' is for two-sided designs", column="futility_rule",
                         valid="sides = 2, or no futility rule for a one-sided design")
    if rule == "rtsa" and binding and sides == 2:
        raise InputError("RTSA's two-sided futility is non-binding; binding two-sided futility follows rpact",
                         column="futility_rule", valid="futility rule 'rpact' with binding two-sided futility")
    if rule != "rpact" and (not beta_adjustment or two_sided_power):
        raise InputError("beta adjustment and two-sided power are options of rpact's two-sided futility",
                         column="futility_rule", valid="futility rule 'rpact' with sides = 2")
    return rule


def futility_rule_for(futility: str, rule: str | None, sides: int, beta_adjustment: bool = True,
                      two_sided_power: bool = False) -> str | None:
    """The beta-spending rule of a design with ``futility`` ('none', 'non-binding', 'binding'): None without
    futility boundaries (where a rule or rpact's options are refused), else :func:`resolve_futility_rule`."""
    if futility == "none":
        if rule is not None or not beta_adjustment or two_sided_power:
            raise InputError("a futility rule, beta adjustment and two-sided power need futility boundaries",
                             column="futility", valid="'non-binding' or 'binding'")
        return None
    return resolve_futility_rule(rule, sides, futility == "binding", beta_adjustment, two_sided_power)


def _log_spent(spent: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(spent, dtype=float))


@dataclass(frozen=True)
class Design:
    """A group-sequential design: its boundaries, the drift theta = E[Z] at information fraction 1 that gives
    the power, and the inflation factor IF = (theta / (z_{1-alpha/sides} + z_{1-beta}))^2 by which the
    information size of a fixed design must be multiplied (Jennison & Turnbull 2000, sections 7.2-7.3)."""

    boundaries: Boundaries
    futility: str
    power: float
    drift: float
    inflation_factor: float

    def as_dict(self) -> dict[str, Any]:
        return {"futility": self.futility, "power": self.power, "drift": self.drift,
                "inflation_factor": self.inflation_factor, "boundaries": self.boundaries.as_dict()}


def _futility_run(t: np.ndarray, drift: float, efficacy: np.ndarray | None, sides: int,
                  log_beta_increment: np.ndarray, beta_floors: np.ndarray,
                  h0: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
                  meet: bool = True, wedge: bool = True) -> tuple[np.ndarray, np.ndarray, float]:
    """Futility boundaries by beta spending under ``drift`` up to the last look, and the log of
    P(continue to the last look, Z_K <= c_K) minus the last beta increment (0 when the design's boundaries meet).

    ``efficacy`` given: non-binding (fixed efficacy boundaries). ``h0`` = (log increments, log cumulative,
    floors) of the alpha spending: binding, each efficacy boundary solved under H0 with the earlier futility
    boundaries as lower limits of the continuation region (one-sided designs).

    ``wedge`` (two-sided designs, TSA's inner wedge |Z| < f_k): a look whose futility boundary would not be
    positive has no wedge and spends no beta; its share is spent at the next look (as RTSA)."""
    k_last = t.size - 1
    eff = np.empty(t.size) if efficacy is None else efficacy.copy()
    futility = np.empty(t.size)
    state = _start()
    state0 = _start()
    gap = 0.0
    log_cum = np.logaddexp.accumulate(log_beta_increment)
    log_spent = -math.inf
    for k, t_k in enumerate(t):
        if h0 is not None:
            eff[k] = _efficacy_bound(_h0_exit(state0, t_k, sides), h0[0][k], h0[1][k], sides)
        target = _log_increments(np.array([log_spent, log_cum[k]]))[1] if math.isfinite(log_spent) else log_cum[k]

        def log_exit_low(f: float, s: _State = state, tk: float = t_k) -> float:
            return _log_exit_lower(s, f, tk, drift)

        if k == k_last and meet:
            gap = log_exit_low(eff[k]) - target
            futility[k] = eff[k]
            break
        futility[k] = _futility_bound(log_exit_low, target, drift * math.sqrt(t_k), eff[k])
        if wedge and sides == 2 and not futility[k] > 0:
            futility[k] = -math.inf
        else:
            log_spent = log_cum[k]
        if k == k_last:
            break
        lower = max(futility[k], -eff[k]) if sides == 2 else futility[k]
        state = _advance(state, lower, eff[k], t_k, drift, t[k + 1], beta_floors[k])
        if h0 is not None:
            state0 = _advance(state0, futility[k], eff[k], t_k, 0.0, t[k + 1], h0[2][k])
    return eff, futility, gap


def _power(t: np.ndarray, efficacy: np.ndarray, drift: float, sides: int) -> float:
    """P(cross the efficacy boundary on the side of the drift), as rpact (a crossing of the opposite boundary
    rejects H0 in the wrong direction and is not counted)."""
    lower = -efficacy if sides == 2 else np.full(t.size, -np.inf)
    return float(exit_probabilities(t, efficacy, lower, drift)["upper"].sum())


def design(
    information_fractions: ArrayLike,
    alpha: float = 0.05,
    beta: float = 0.2,
    spending: str | SpendingFunction = "obf",
    beta_spending: str | SpendingFunction | None = None,
    convention: Convention = "two-sided",
    sides: int = 2,
    futility: str = "none",
    futility_rule: str | None = None,
    beta_adjustment: bool = True,
    two_sided_power: bool = False,
) -> Design:
    """A group-sequential design at the given information fractions (the last one is 1): alpha-spending
    efficacy boundaries (:func:`boundaries`) and, with ``futility`` 'non-binding' or 'binding', beta-spending
    futility boundaries (``beta_spending``, default the alpha-spending family), with the drift solved so that
    the power is 1 - beta (Jennison & Turnbull 2000, section 7.3; as rpact and RTSA).

    Without futility, theta solves P_theta(cross the upper boundary) = 1 - beta. With futility, theta solves
    f_K(theta) = c_K:
    the futility boundary of the last look meets the efficacy boundary, so every path stops with a decision and
    the type II error is exactly beta. Non-binding: the efficacy boundaries are those without futility. Binding
    (one-sided here; two-sided designs take the 'rpact' rule below): each c_k is solved under H0 with the continuation region (f_j, c_j), j < k, so the
    efficacy boundaries fall as the futility ones rise. The inflation factor is IF = (theta / (z_{1-alpha/sides} +
    z_{1-beta}))^2. Two-sided designs draw the futility boundary on the side of the drift (TSA's inner wedge
    |Z| < f_k by symmetry).

    Two-sided futility (``futility_rule``, :data:`FUTILITY_RULES`; default 'rpact' when binding, else 'rtsa'):
    'rtsa' spends beta on P(Z_k <= f_k) as RTSA (non-binding only); 'rpact' on the inner region
    -f_k < Z_k < f_k as rpact's ``getDesignGroupSequential(sided = 2, typeBetaSpending = ...)``, binding or
    non-binding, with rpact's ``betaAdjustment`` (``beta_adjustment``) and ``twoSidedPower``
    (``two_sided_power``); its ``drift`` and inflation factor are rpact's ``getDesignCharacteristics`` (the
    boundaries fixed, theta solves the power; :mod:`bayesmeta.tsa.inner_futility`), ``boundaries.drift`` the
    theta of the beta spending and ``boundaries.alpha_spent`` rpact's ``alphaSpent`` (with the futility regions
    when binding). Use convention 'per-side' to reproduce rpact's O'Brien-Fleming boundaries.
    """
    t = _check_fractions(information_fractions)
    if not math.isclose(t[-1], 1.0, abs_tol=1e-12):
        raise InputError(f"the last information fraction is {t[-1]:g}", column="information_fractions",
                         valid="fractions ending at 1 (the maximum information of the design)")
    alpha = _check_probability(alpha, "alpha")
    beta = _check_probability(beta, "beta")
    if futility not in FUTILITY:
        raise InputError(f"unknown futility {futility!r}", column="futility", valid=", ".join(FUTILITY))
    rule = futility_rule_for(futility, futility_rule, sides, beta_adjustment, two_sided_power)
    base = boundaries(t, alpha=alpha, spending=spending, convention=convention, sides=sides)
    fixed_drift = float(stats.norm.isf(alpha / sides) + stats.norm.isf(beta))
    if rule == "rpact":
        return _rpact_design(t, alpha, beta, spending, beta_spending, base, futility, beta_adjustment,
                             two_sided_power)
    if futility == "none":
        def gap(theta: float) -> float:
            return _power(t, base.efficacy, theta, sides) - (1.0 - beta)
        theta = _solve_drift(gap, fixed_drift)
        return Design(base, futility, 1.0 - beta, theta, (theta / fixed_drift) ** 2)

    b_spend = spending if beta_spending is None else beta_spending
    log_beta_cumulative = _log_cumulative(_log_total_spending(b_spend, beta, 1, "two-sided"), t, beta)
    log_beta_increment = _log_increments(log_beta_cumulative)
    beta_floors = _floors(log_beta_increment)
    if futility == "binding":
        log_cumulative = np.log(base.alpha_spent) if base.log_alpha_spent is None else base.log_alpha_spent
        log_increment = _log_increments(log_cumulative)
        h0 = (log_increment, log_cumulative, _floors(log_increment))
        efficacy_in = None
    else:
        h0, efficacy_in = None, base.efficacy

    def gap(theta: float) -> float:
        return _futility_run(t, theta, efficacy_in, sides, log_beta_increment, beta_floors, h0)[2]

    theta = _solve_drift(gap, fixed_drift, decreasing=True)
    efficacy, fut, _ = _futility_run(t, theta, efficacy_in, sides, log_beta_increment, beta_floors, h0)
    name = base.spending
    b = Boundaries(t, efficacy, base.alpha_spent, alpha, sides, base.convention, name, fut,
                   np.exp(log_beta_cumulative), beta, theta, log_alpha_spent=base.log_alpha_spent, futility_rule=rule)
    return Design(b, futility, 1.0 - beta, theta, (theta / fixed_drift) ** 2)


def _rpact_design(t: np.ndarray, alpha: float, beta: float, spending: str | SpendingFunction,
                  beta_spending: str | SpendingFunction | None, base: Boundaries, futility: str,
                  beta_adjustment: bool, two_sided_power: bool) -> Design:
    """A two-sided design with rpact's inner futility region and rpact's inflation factor."""
    from bayesmeta.tsa import inner_futility

    b_spend = spending if beta_spending is None else beta_spending
    inner = inner_futility.solve(t, alpha, beta, spending, b_spend, base.convention, futility == "binding",
                                 beta_adjustment, None, base)
    fixed = inner_futility.fixed_drift(alpha, beta, two_sided_power)
    theta = inner_futility.characteristic_drift(t, inner.efficacy, inner.futility, beta, two_sided_power,
                                                inner.drift)
    b = Boundaries(t, inner.efficacy, inner.alpha_spent, alpha, 2, base.convention, base.spending, inner.futility,
                   inner.beta_spent, beta, inner.drift, log_alpha_spent=_log_spent(inner.alpha_spent),
                   futility_rule="rpact")
    return Design(b, futility, 1.0 - beta, theta, (theta / fixed) ** 2)


def _solve_drift(gap: Callable[[float], float], start: float, decreasing: bool = False,
                 spread: float | None = None) -> float:
    """The root in theta of a monotone gap function, bracketed from the fixed design's drift upwards (or from
    start x (1 -+ spread) when the root is known to be near ``start``)."""
    sign = -1.0 if decreasing else 1.0
    lo, hi = (0.5 * start, 1.2 * start) if spread is None else ((1.0 - spread) * start, (1.0 + spread) * start)
    for _ in range(40):
        if sign * gap(hi) > 0:
            break
        lo, hi = hi, hi * 1.3
    for _ in range(40):
        if sign * gap(lo) < 0:
            break
        lo *= 0.7
    return float(optimize.brentq(gap, lo, hi, xtol=1e-10, rtol=1e-12, maxiter=200))


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


