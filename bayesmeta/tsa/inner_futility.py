"""Two-sided beta-spending futility as R rpact defines it (Wassmer & Pahlke, rpact >= 3.0, where it is marked
experimental): at look k the trial stops for futility when -f_k < Z_k < f_k, an inner region around 0 between
the two continuation regions (-c_k, -f_k) and (f_k, c_k).

Under the drift theta (E[Z_k] = theta sqrt(t_k)), f_k solves
P(f_j < |Z_j| < c_j for j < k, |Z_k| < f_k) = B*(t_k) - (beta spent at the looks before k), capped at c_k, where
B* is the beta-spending function with rpact's adjustment: a look whose futility bound in the one-sided design at
alpha / 2 (same spending, same binding) is negative gets no futility region and spends no beta; with
``beta_adjustment`` (rpact's default) the spending of the later looks is rescaled,
B*(t_k) = (B(t_k) - B(t_m)) / (B(1) - B(t_m)) B(1), t_m the last such look, else the whole B(t_k) is spent at the
first look with a region. Non-binding: the efficacy boundaries are those without futility; binding: each c_k is
solved under H0 with the continuation regions of the earlier looks. theta solves f_K = c_K (the last look decides).

The inflation factor is rpact's (``getDesignCharacteristics``): with the boundaries fixed, theta' solves
P_theta'(Z crosses c_k first) = 1 - beta (``two_sided_power``: crossing either c_k or -c_k), and
IF = theta'^2 / n_fixed with n_fixed = (z_{1-alpha/2} + z_{1-beta})^2 (``two_sided_power``: the root of
Phi(sqrt(n) - z_{1-alpha/2}) + Phi(-sqrt(n) - z_{1-alpha/2}) = 1 - beta).

rpact computes this for alpha-spending designs with a beta-spending function. Not computed here: rpact's
Pampallona-Tsiatis designs (typeOfDesign 'PT', whose two-sided futility is also an inner region) and its
Kim-DeMets, Hwang-Shi-DeCani and user-defined beta spending (only the O'Brien-Fleming and Pocock families, or a
callable). The TSA program's total-of-both-sides alpha convention is not rpact's: with ``convention='two-sided'``
the one-sided design at alpha / 2 spends half of each look's alpha (an extension with no rpact reference).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from bayesmeta.tsa import groupseq as gs


@dataclass(frozen=True)
class InnerDesign:
    """Boundaries of a two-sided design with an inner futility region; ``futility`` is -inf where a look has none
    and equals ``efficacy`` at the last look. ``beta_spent`` is the cumulative probability of stopping for
    futility under ``drift`` (theta of the beta spending); ``alpha_spent`` the cumulative probability of
    rejecting H0 on either side (with the futility regions when binding)."""

    efficacy: np.ndarray
    futility: np.ndarray
    alpha_spent: np.ndarray
    beta_spent: np.ndarray
    drift: float


def _inner(state: gs._State, f: float, t_k: float, drift: float) -> float:
    """P(continue so far, -f < Z_k < f)."""
    if not f > 0:
        return 0.0
    return math.exp(gs._log_exit_lower(state, f, t_k, drift)) - math.exp(gs._log_exit_lower(state, -f, t_k, drift))


def _regions(c: float, f: float) -> list[tuple[float, float]]:
    return [(-c, -f), (f, c)] if f > 0 else [(-c, c)]


def _run(t: np.ndarray, drift: float, efficacy: np.ndarray | None, h0: tuple | None, target: np.ndarray,
         open_: np.ndarray, floors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Efficacy (solved under H0 when ``h0`` is given: binding), futility bounds and cumulative beta spent under
    ``drift``; the last value is P(continue to the last look, |Z_K| < c_K) minus the beta still to spend."""
    k_last = t.size - 1
    eff = np.empty(t.size) if efficacy is None else efficacy.copy()
    fut = np.full(t.size, -np.inf)
    spent = np.zeros(t.size)
    state, state0 = gs._start(), gs._start()
    total, gap = 0.0, 0.0
    for k, t_k in enumerate(t):
        if h0 is not None:
            eff[k] = gs._efficacy_bound(gs._h0_exit(state0, t_k, 2), h0[0][k], h0[1][k], 2)
        left = target[k] - total
        cap = eff[k] if math.isfinite(eff[k]) else drift * math.sqrt(t_k) + 40.0
        if k == k_last:
            p = _inner(state, cap, t_k, drift)
            gap = p - left
            fut[k], spent[k] = eff[k], total + p
            break
        if open_[k] and left > 0:
            if _inner(state, cap, t_k, drift) <= left:
                fut[k] = cap
            else:
                fut[k] = gs._root(lambda f: _inner(state, f, t_k, drift) - left, 0.0, cap)
            total += _inner(state, fut[k], t_k, drift)
        spent[k] = total
        regions = _regions(eff[k], max(fut[k], 0.0))
        state = gs._advance_regions(state, regions, t_k, drift, t[k + 1], floors[k])
        if h0 is not None:
            state0 = gs._advance_regions(state0, regions, t_k, 0.0, t[k + 1], h0[2][k])
    return eff, fut, spent, gap


def exits(t: np.ndarray, efficacy: np.ndarray, futility: np.ndarray, drift: float) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of first crossing c_k (upper) and -c_k (lower) at each look, with the futility regions."""
    upper, lower = np.zeros(t.size), np.zeros(t.size)
    state = gs._start()
    for k, t_k in enumerate(t):
        if math.isfinite(efficacy[k]):
            upper[k] = math.exp(gs._log_exit_upper(state, efficacy[k], t_k, drift))
            lower[k] = math.exp(gs._log_exit_lower(state, -efficacy[k], t_k, drift))
        if k + 1 < t.size:
            state = gs._advance_regions(state, _regions(efficacy[k], max(futility[k], 0.0)), t_k, drift, t[k + 1],
                                        -50.0)
    return upper, lower


class _HalfSpending:
    """One side of a two-sided spending under the TSA program's convention, f(t, 2 level) / 2, with its logarithm
    (O'Brien-Fleming-type spending underflows at small information fractions)."""

    def __init__(self, spending: str | gs.SpendingFunction) -> None:
        self.spending = spending
        self.__name__ = spending if isinstance(spending, str) else getattr(spending, "__name__", "custom")

    def log(self, t: np.ndarray, level: float) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        if isinstance(self.spending, str):
            return gs._LOG_SPENDING[self.spending](t, 2.0 * level) - math.log(2.0)
        with np.errstate(divide="ignore"):
            return np.log(np.clip(np.asarray(self.spending(t, 2.0 * level), dtype=float), 0.0, None) / 2.0)

    def __call__(self, t: np.ndarray, level: float) -> np.ndarray:
        return np.exp(self.log(t, level))


def _half_spending(spending: str | gs.SpendingFunction, convention: str) -> str | gs.SpendingFunction:
    """The one-sided spending at level alpha / 2 whose boundaries are (nearly) one side of the two-sided design."""
    return spending if convention == "per-side" else _HalfSpending(spending)


def beta_targets(t: np.ndarray, beta: float, beta_spending: str | gs.SpendingFunction,
                 one_sided_futility: np.ndarray, adjust: bool) -> tuple[np.ndarray, np.ndarray]:
    """rpact's cumulative beta spending B*(t_k) and which looks may have a futility region (see the module)."""
    cumulative = np.exp(gs._log_cumulative(gs._log_total_spending(beta_spending, beta, 1, "two-sided"), t, beta))
    open_ = np.append(one_sided_futility[:-1] >= 0, True)
    positive = np.flatnonzero(one_sided_futility[:-1] > 0)
    first = int(positive[0]) if positive.size else -1
    if first <= 0:
        return cumulative, open_
    out = cumulative.copy()
    out[:first] = 0.0
    if adjust:
        base = cumulative[first - 1]
        out[first - 1:] = (cumulative[first - 1:] - base) / (cumulative[-1] - base) * cumulative[-1]
    return out, open_


def solve(t: np.ndarray, alpha: float, beta: float, spending: str | gs.SpendingFunction,
          beta_spending: str | gs.SpendingFunction, convention: str, binding: bool, beta_adjustment: bool,
          drift: float | None, base: gs.Boundaries) -> InnerDesign:
    """The two-sided design with an inner futility region (module docstring); ``drift`` None: solved so that
    f_K = c_K, else the futility bounds of the earlier looks under the given drift, with f_K = c_K at the last
    look (whatever does not cross c_K there is a futility decision) and beta_spent there the probability of it."""
    kind = "binding" if binding else "non-binding"
    one_sided = gs.design(t, alpha=alpha / 2.0, beta=beta, spending=_half_spending(spending, convention),
                          beta_spending=beta_spending, sides=1, futility=kind)
    target, open_ = beta_targets(t, beta, beta_spending, one_sided.boundaries.futility, beta_adjustment)
    with np.errstate(divide="ignore"):
        floors = gs._floors(np.log(np.diff(np.concatenate([[0.0], target]))))
    log_cumulative = base.log_alpha_spent if base.log_alpha_spent is not None else np.log(base.alpha_spent)
    h0 = (gs._log_increments(log_cumulative), log_cumulative, gs._floors(gs._log_increments(log_cumulative))) \
        if binding else None
    efficacy = None if binding else base.efficacy

    def run(theta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        return _run(t, theta, efficacy, h0, target, open_, floors)

    if drift is None:
        # the one-sided design's drift is within a few per cent
        drift = gs._solve_drift(lambda theta: run(theta)[3], one_sided.drift, decreasing=True, spread=0.03)
    eff, fut, spent, _ = run(float(drift))
    if binding:
        upper, lower = exits(t, eff, fut, 0.0)
        alpha_spent = np.cumsum(upper + lower)
    else:
        alpha_spent = np.asarray(base.alpha_spent, dtype=float)
    return InnerDesign(eff, fut, alpha_spent, spent, float(drift))


def fixed_drift(alpha: float, beta: float, two_sided_power: bool) -> float:
    """theta of the fixed two-sided design: z_{1-alpha/2} + z_{1-beta}, or with power on both sides the root of
    Phi(theta - z) + Phi(-theta - z) = 1 - beta."""
    z = float(stats.norm.isf(alpha / 2.0))
    plain = z + float(stats.norm.isf(beta))
    if not two_sided_power:
        return plain

    def power(theta: float) -> float:
        return float(stats.norm.cdf(theta - z) + stats.norm.cdf(-theta - z)) - (1.0 - beta)

    return float(optimize.brentq(power, 0.0, plain, xtol=1e-12, rtol=1e-14))


def characteristic_drift(t: np.ndarray, efficacy: np.ndarray, futility: np.ndarray, beta: float,
                         two_sided_power: bool, start: float) -> float:
    """theta' with P_theta'(reject H0 towards the drift, or on either side) = 1 - beta, boundaries fixed."""
    def gap(theta: float) -> float:
        upper, lower = exits(t, efficacy, futility, theta)
        return float(upper.sum() + (lower.sum() if two_sided_power else 0.0)) - (1.0 - beta)

    return gs._solve_drift(gap, start, spread=0.01)

