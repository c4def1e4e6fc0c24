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

    def mode(self) -> float:
        """The posterior mode: the density's maximum over quantiles 0.0005..0.9995 (and the lower end of the
        support, where a tau posterior may peak), refined by golden-section search between the neighbours of the
        best point to 1e-10 of its scale (as R bayesmeta's ``optimize()`` over the density; unimodal densities).
        Plain numpy: scipy.optimize stays out of the exact fit's imports."""
        probs = np.concatenate([[0.0005], np.linspace(0.005, 0.995, 199), [0.9995]])
        grid = np.asarray(self.ppf(probs), dtype=float)
        lower = getattr(getattr(self, "rule", None), "lower", None)
        if lower is not None:
            grid = np.concatenate([[float(lower)], grid])
        pdf = self.pdf  # type: ignore[attr-defined]
        dens = np.asarray(pdf(grid), dtype=float)
        j = int(np.argmax(dens))
        if lower is not None and j == 0:
            return float(lower)
        a, b = float(grid[max(j - 1, 0)]), float(grid[min(j + 1, grid.size - 1)])
        tol = 1e-10 * max(1.0, abs(float(grid[j])))
        ratio = (math.sqrt(5.0) - 1.0) / 2.0
        c, d = b - ratio * (b - a), a + ratio * (b - a)
        fc, fd = (float(v) for v in pdf(np.array([c, d])))
        while b - a > tol:
            if fc >= fd:
                b, d, fd = d, c, fc
                c = b - ratio * (b - a)
                fc = float(pdf(np.array([c]))[0])
            else:
                a, c, fc = c, d, fd
                d = a + ratio * (b - a)
                fd = float(pdf(np.array([d]))[0])
        x = 0.5 * (a + b)
        return x if float(pdf(np.array([x]))[0]) >= dens[j] else float(grid[j])

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
