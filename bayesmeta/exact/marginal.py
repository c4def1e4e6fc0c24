"""What the exact marginals (:class:`~bayesmeta.exact.mixture.NormalMixture`,
:class:`~bayesmeta.exact.tau.TauMarginal`) share: quantiles remembered per probability, and the median and
central/shortest intervals built on them (the :class:`bayesmeta.posterior.Marginal` protocol)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from bayesmeta.posterior import _check_level


class QuantileMarginal:
    """Base of a marginal with a ``ppf`` and a ``_shortest(level)``; a subclass sets ``self._quantiles = {}``."""

    _quantiles: dict[float, float]

    def ppf(self, q: np.ndarray | float) -> np.ndarray:
        raise NotImplementedError

    def _shortest(self, level: float) -> tuple[float, float]:
        raise NotImplementedError

    def _remembered(self, q: np.ndarray, solve: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Quantiles at the probabilities q, solving (vectorised, by ``solve``) only the ones not yet known."""
        flat = q.ravel().tolist()
        missing = [v for v in dict.fromkeys(flat) if v not in self._quantiles]
        if missing:
            found = solve(np.array(missing))
            self._quantiles.update(zip(missing, found.tolist()))
        return np.array([self._quantiles[v] for v in flat]).reshape(q.shape)

    def median(self) -> float:
        return float(self.ppf(0.5))

    def interval(self, level: float = 0.95, kind: str = "central") -> tuple[float, float]:
        _check_level(level)
        if kind == "central":
            lo, _, hi = self.ppf(np.array([(1 - level) / 2, 0.5, (1 + level) / 2]))
            return float(lo), float(hi)
        if kind == "shortest":
            return self._shortest(level)
        raise ValueError(f"unknown interval kind {kind!r} (valid: 'central', 'shortest')")


def solve_2x2(jac: tuple[float, float, float, float], rhs: tuple[float, float]) -> tuple[float, float] | None:
    """Solve [[j11, j12], [j21, j22]] d = rhs by Cramer's rule (None when singular or not finite): the Newton
    step of the shortest-interval equations, without the overhead of a general solver."""
    j11, j12, j21, j22 = jac
    det = j11 * j22 - j12 * j21
    d1 = (rhs[0] * j22 - j12 * rhs[1]) / det if det != 0 else math.nan
    d2 = (j11 * rhs[1] - j21 * rhs[0]) / det if det != 0 else math.nan
    return (d1, d2) if math.isfinite(d1) and math.isfinite(d2) else None
