"""Begg & Mazumdar's rank correlation test for funnel-plot asymmetry (Begg CB & Mazumdar M 1994, Biometrics
50:1088-1101), as R metafor ``ranktest``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from bayesmeta.effect_data import EffectData
from bayesmeta.errors import ModelError
from bayesmeta.frequentist.inputs import effects_input
from bayesmeta.frequentist.result import plain


@dataclass(frozen=True)
class RankTestResult:
    """Kendall's tau (tau-b) between the standardised deviates and the sampling variances and its two-sided
    p-value; ``exact`` tells whether the p-value is the exact permutation one (no ties) or the normal
    approximation with the tie-corrected variance of R's ``cor.test``."""

    k: int
    tau: float
    pval: float
    exact: bool

    def as_dict(self) -> dict[str, Any]:
        return plain(self)


def rank_test(data: EffectData | ArrayLike, vi: ArrayLike | None = None, *, sei: ArrayLike | None = None,
              exact: bool = True) -> RankTestResult:
    """Kendall's tau between y*_i = (y_i - b) / sqrt(v_i - 1/sum w) and v_i, b the common-effect estimate
    (w = 1/v) (Begg & Mazumdar 1994).

    As metafor ``ranktest`` (which calls ``cor.test(method = "kendall", exact = TRUE)``): without ties in either
    variable the p-value is exact (the null distribution of the number of concordant pairs is that of the number
    of inversions of a random permutation); with ties, or ``exact=False``, it is the normal approximation
    S / sqrt(Var S) with R's tie-corrected variance and no continuity correction.
    """
    y, v, _ = effects_input(data, vi, sei=sei, min_k=2)
    w = 1.0 / v
    theta = float(np.sum(w * y) / np.sum(w))
    v_star = v - 1.0 / np.sum(w)
    y_star = (y - theta) / np.sqrt(v_star)
    tau, pval, was_exact = kendall_test(y_star, v, exact=exact)
    return RankTestResult(k=int(y.size), tau=tau, pval=pval, exact=was_exact)


def kendall_test(x: NDArray[np.float64], y: NDArray[np.float64], exact: bool = True) -> tuple[float, float, bool]:
    """Kendall's tau-b and the two-sided p-value of R's ``cor.test(x, y, method = "kendall", exact = exact)``."""
    n = x.size
    sx = np.sign(x[:, None] - x[None, :])
    sy = np.sign(y[:, None] - y[None, :])
    iu = np.triu_indices(n, 1)
    sx, sy = sx[iu], sy[iu]
    n0 = n * (n - 1) / 2
    denom = np.sqrt((n0 - np.sum(sx == 0)) * (n0 - np.sum(sy == 0)))
    if denom == 0:
        raise ModelError("Kendall's tau is undefined: the effects or the sampling variances are all equal")
    tau = float(np.sum(sx * sy) / denom)
    ties = min(np.unique(x).size, np.unique(y).size) < n
    if exact and not ties:
        q = int(np.round((tau + 1) * n * (n - 1) / 4))
        if q > n * (n - 1) / 4:
            p = 1.0 - _pkendall(q - 1, n)
        else:
            p = _pkendall(q, n)
        return tau, float(min(2 * p, 1.0)), True
    xt, yt = _tie_sizes(x), _tie_sizes(y)
    s = tau * np.sqrt((n0 - np.sum(xt * (xt - 1)) / 2) * (n0 - np.sum(yt * (yt - 1)) / 2))
    var_s = ((n * (n - 1) * (2 * n + 5) - np.sum(xt * (xt - 1) * (2 * xt + 5)) - np.sum(yt * (yt - 1) * (2 * yt + 5)))
             / 18 + np.sum(xt * (xt - 1)) * np.sum(yt * (yt - 1)) / (2 * n * (n - 1))
             + np.sum(xt * (xt - 1) * (xt - 2)) * np.sum(yt * (yt - 1) * (yt - 2)) / (9 * n * (n - 1) * (n - 2)))
    z = s / np.sqrt(var_s)
    return tau, float(2 * min(stats.norm.cdf(z), stats.norm.sf(z))), False


def _tie_sizes(x: NDArray[np.float64]) -> NDArray[np.float64]:
    _, counts = np.unique(x, return_counts=True)
    return counts[counts > 1].astype(float)


def _pkendall(q: int, n: int) -> float:
    """P(T <= q) for T the number of inversions of a uniform random permutation of n (R's ``pkendall``), from
    the Mahonian distribution built one element at a time: adding element m adds 0..m-1 inversions uniformly."""
    if q < 0:
        return 0.0
    top = n * (n - 1) // 2
    if q >= top:
        return 1.0
    dist = np.ones(1)
    for m in range(2, n + 1):
        c = np.concatenate([np.cumsum(dist), np.full(m - 1, dist.sum())])
        c[m:] -= np.cumsum(dist)[: c.size - m]
        dist = c / m
    return float(np.sum(dist[: q + 1]))
