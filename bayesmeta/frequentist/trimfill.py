"""Trim-and-fill (Duval S & Tweedie R 2000, Biometrics 56:455-463; J Am Stat Assoc 95:89-98), as R metafor
``trimfill``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from bayesmeta.effect_data import EffectData
from bayesmeta.errors import InputError, ModelError
from bayesmeta.frequentist.inputs import canonical_method, effects_input
from bayesmeta.frequentist.result import RmaResult, plain
from bayesmeta.frequentist.rma import rma
from bayesmeta.frequentist.tau2 import estimate_tau2, weighted_fit

ESTIMATORS = ("L0", "R0")
SIDES = ("left", "right")


@dataclass(frozen=True)
class TrimFillResult:
    """``k0`` studies estimated missing on ``side`` (with ``k0_se``, None where L0's variance formula turns
    negative, metafor's NaN; ``k0_pval`` = P(k0 >= observed) under no
    asymmetry, for R0 only), their mirror images ``filled_yi`` with variances ``filled_vi``, and ``fit``: the
    model refitted to the observed plus filled studies (the original fit when k0 = 0)."""

    k: int
    estimator: str
    side: str
    k0: int
    k0_se: float | None
    k0_pval: float | None
    filled_yi: tuple[float, ...]
    filled_vi: tuple[float, ...]
    fit: RmaResult
    iterations: int

    def as_dict(self) -> dict[str, Any]:
        return plain(self)


def trimfill(data: EffectData | ArrayLike, vi: ArrayLike | None = None, *, sei: ArrayLike | None = None,
             method: str = "REML", side: str | None = None, estimator: str = "L0", test: str = "z",
             level: float = 0.95, max_iterations: int = 100) -> TrimFillResult:
    """Duval & Tweedie's iterative trim-and-fill, step for step as metafor 3.8 ``trimfill.rma.uni``.

    Side (when None): the side opposite to the sign of the slope of sqrt(v) in the meta-regression with the
    same tau^2 estimator ('right' when the slope is negative, else 'left'). On the side's orientation
    (effects negated for 'right') the effects are sorted; each iteration refits the model to the k - k0 smallest,
    ranks |y - b| (ties by position) and re-estimates k0:
    L0 = (4 S_r - k(k+1)) / (2k - 1), S_r the sum of the positive signed ranks, with
    SE = 4 sqrt(Var S_r) / (2k - 1), Var S_r = (k(k+1)(2k+1) + 10 k0^3 + 27 k0^2 + 17 k0 - 18 k k0^2 - 18 k k0
    + 6 k^2 k0) / 24; R0 = k - r - 1, r the largest rank among the negative deviations, with SE sqrt(2 k0 + 2)
    and P(R0 >= k0) = 2^-(k0 + 1). k0 is rounded (at least 0) until it no longer changes. The k0 largest studies
    are mirrored about the last trimmed estimate (2b - y) and the model is refitted with ``method``, ``test``
    and ``level`` (metafor refits with its defaults, test 'z' and level 0.95, unless passed).
    """
    method = canonical_method(method)
    if estimator not in ESTIMATORS:
        raise InputError(f"unknown trim-and-fill estimator '{estimator}'", valid=" or ".join(ESTIMATORS))
    if side is not None and side not in SIDES:
        raise InputError(f"unknown side '{side}'", valid="left, right (or automatic)")
    y0, v0, _ = effects_input(data, vi, sei=sei, min_k=3)
    k = y0.size
    if side is None:
        if np.all(v0 == v0[0]):
            raise ModelError("trim-and-fill cannot choose the side when all sampling variances are equal; "
                             "give the side (left or right)")
        side = "right" if _coefficients(y0, v0, method, np.sqrt(v0))[1] < 0 else "left"
    sign = -1.0 if side == "right" else 1.0
    order = np.argsort(sign * y0, kind="stable")
    y, v = sign * y0[order], v0[order]

    k0, k0_prev, iteration = 0, -1, 0
    se_k0 = 0.0
    beta = 0.0
    while k0 != k0_prev:
        k0_prev = k0
        iteration += 1
        if iteration > max_iterations:
            raise ModelError(f"trim-and-fill did not converge in {max_iterations} iterations")
        beta = float(_coefficients(y[: k - k0], v[: k - k0], method)[0])
        dev = y - beta
        ranks = np.empty(k)
        ranks[np.argsort(np.abs(dev), kind="stable")] = np.arange(1, k + 1)
        signed = np.sign(dev) * ranks
        if estimator == "R0":
            negative = signed[signed < 0]
            if negative.size == 0:
                raise ModelError("trim-and-fill R0 is undefined: no study lies below the trimmed estimate")
            k0_raw = (k - np.max(-negative)) - 1
            se_k0 = float(np.sqrt(2 * max(0.0, k0_raw) + 2))
        else:
            s_r = float(np.sum(signed[signed > 0]))
            k0_raw = (4 * s_r - k * (k + 1)) / (2 * k - 1)
            var_sr = (k * (k + 1) * (2 * k + 1) + 10 * k0_raw**3 + 27 * k0_raw**2 + 17 * k0_raw
                      - 18 * k * k0_raw**2 - 18 * k * k0_raw + 6 * k**2 * k0_raw) / 24
            se_k0 = float(4 * np.sqrt(var_sr) / (2 * k - 1)) if var_sr >= 0 else float("nan")
        k0 = int(max(0, round(float(k0_raw))))
        se_k0 = max(0.0, se_k0) if np.isfinite(se_k0) else se_k0
        if k0 >= k:
            raise ModelError(f"trim-and-fill estimates k0 = {k0} missing studies out of k = {k}: nothing is left "
                             "to refit")

    if k0 > 0:
        filled_y = sign * (2 * beta - y[k - k0:])
        filled_v = v[k - k0:]
        fit = rma(np.concatenate([y0, filled_y]), np.concatenate([v0, filled_v]), method=method, test=test,
                  level=level)
    else:
        filled_y, filled_v = np.empty(0), np.empty(0)
        fit = rma(y0, v0, method=method, test=test, level=level)
    return TrimFillResult(
        k=int(k), estimator=estimator, side=side, k0=k0, k0_se=float(se_k0) if np.isfinite(se_k0) else None,
        k0_pval=0.5 ** (k0 + 1) if estimator == "R0" else None,
        filled_yi=tuple(float(t) for t in filled_y), filled_vi=tuple(float(t) for t in filled_v),
        fit=fit, iterations=iteration,
    )


def _coefficients(y: np.ndarray, v: np.ndarray, method: str, mod: np.ndarray | None = None) -> np.ndarray:
    """The coefficients of ``rma(y, v, mods = mod, method = method)`` (intercept first), without its inference."""
    x = np.ones((y.size, 1)) if mod is None else np.column_stack([np.ones(y.size), mod])
    tau2 = 0.0 if y.size == 1 else estimate_tau2(method, y, v, x)  # one study: tau^2 = 0, as metafor
    return weighted_fit(y, v, x, tau2).beta
