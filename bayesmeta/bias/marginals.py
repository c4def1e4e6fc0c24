"""Posterior distributions of the bias ensembles on a grid: a density on an even grid plus an atom at 0 (the mass
of the models with mu = 0), with the scipy-like interface of :class:`bayesmeta.posterior.Marginal`. Mixing
models is adding their grid densities and atoms weighted by posterior model probabilities."""

from __future__ import annotations

import numpy as np

from bayesmeta.posterior import _check_level


class GridMarginal:
    """density(x) on the even grid ``x`` (mass 1 - atom) plus P(X = 0) = atom."""

    def __init__(self, x: np.ndarray, density: np.ndarray, atom: float = 0.0) -> None:
        self.x = np.asarray(x, dtype=float)
        dens = np.clip(np.asarray(density, dtype=float), 0.0, None)
        self.h = float(self.x[1] - self.x[0])
        mass = float(np.trapezoid(dens, self.x)) if dens.any() else 0.0
        self.atom = float(atom)
        self.density = dens * ((1.0 - self.atom) / mass) if mass > 0 else dens
        # the continuous part's CDF; the atom enters as a jump at exactly 0 (not smeared over a grid cell)
        self._cont = np.concatenate([[0.0], np.cumsum((self.density[1:] + self.density[:-1]) * self.h / 2)])
        self._below0 = float(np.interp(0.0, self.x, self._cont))

    def pdf(self, x: np.ndarray | float) -> np.ndarray:
        return np.interp(x, self.x, self.density, left=0.0, right=0.0)

    def cdf(self, x: np.ndarray | float) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        cont = np.interp(x, self.x, self._cont, left=0.0, right=1.0 - self.atom)
        return cont + np.where(x >= 0, self.atom, 0.0)

    def ppf(self, q: np.ndarray | float) -> np.ndarray:
        """Quantiles; a level within [F(0-), F(0)] falls on the atom and gives exactly 0."""
        q = np.asarray(q, dtype=float)
        qc = np.where(q > self._below0, np.maximum(q - self.atom, self._below0), q)
        idx = np.clip(np.searchsorted(self._cont, qc, side="left"), 1, self.x.size - 1)
        x0, x1, c0, c1 = self.x[idx - 1], self.x[idx], self._cont[idx - 1], self._cont[idx]
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(c1 > c0, x0 + (qc - c0) / (c1 - c0) * (x1 - x0), x1)
        if self.atom > 0:
            out = np.where((q >= self._below0) & (q <= self._below0 + self.atom), 0.0, out)
        return out

    def mean(self) -> float:
        return float(np.trapezoid(self.x * self.density, self.x))

    def std(self) -> float:
        m = self.mean()
        return float(np.sqrt(np.trapezoid((self.x - m) ** 2 * self.density, self.x) + self.atom * m * m))

    def median(self) -> float:
        return float(self.ppf(0.5))

    def interval(self, level: float = 0.95, kind: str = "central") -> tuple[float, float]:
        _check_level(level)
        if kind == "central":
            lo, hi = self.ppf(np.array([(1 - level) / 2, (1 + level) / 2]))
            return float(lo), float(hi)
        if kind == "shortest":
            lows = np.linspace(0, 1 - level, 201)
            lo, hi = self.ppf(lows), self.ppf(lows + level)
            i = int(np.argmin(hi - lo))
            return float(lo[i]), float(hi[i])
        raise ValueError(f"unknown interval kind {kind!r} (valid: 'central', 'shortest')")

    def rvs(self, size: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        return self.ppf(gen.uniform(size=size))

    def summary(self, level: float = 0.95) -> dict[str, float]:
        lo, hi = self.interval(level)
        return {"median": self.median(), "mean": self.mean(), "sd": self.std(), "ci_lower": lo, "ci_upper": hi}


def mix(parts: list[GridMarginal], weights: np.ndarray) -> GridMarginal:
    """The mixture sum_m w_m parts[m] (all on one grid)."""
    w = np.asarray(weights, dtype=float)
    w = w / w.sum()
    dens = sum(wi * p.density for wi, p in zip(w, parts))
    atom = float(sum(wi * p.atom for wi, p in zip(w, parts)))
    return GridMarginal(parts[0].x, dens, atom)
