"""The summary record of a univariate posterior, {median, mean, sd, ci_lower, ci_upper}, from a marginal or from
draws, on the analysis scale with its reported-scale view."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bayesmeta.posterior import Marginal, _check_level
from bayesmeta.scales import reported_float


@dataclass(frozen=True)
class Summary:
    """A posterior on the analysis scale (log ratio for HR, RR, OR): median, mean, sd and the central interval."""

    median: float
    mean: float
    sd: float
    ci_lower: float
    ci_upper: float

    @classmethod
    def of(cls, marginal: Marginal, level: float = 0.95) -> Summary:
        """From a marginal with the scipy-like interface (:class:`bayesmeta.posterior.Marginal`, scipy frozen
        distributions)."""
        lo, hi = marginal.interval(level)
        return cls(float(marginal.median()), float(marginal.mean()), float(marginal.std()), float(lo), float(hi))

    @classmethod
    def of_draws(cls, draws: np.ndarray, level: float = 0.95) -> Summary:
        """From posterior draws: sample median, mean, sd (ddof 1) and central quantiles."""
        _check_level(level)
        d = np.asarray(draws, dtype=float).ravel()
        lo, med, hi = np.quantile(d, [(1 - level) / 2, 0.5, (1 + level) / 2])
        return cls(float(med), float(d.mean()), float(d.std(ddof=1)), float(lo), float(hi))

    @property
    def width(self) -> float:
        return self.ci_upper - self.ci_lower

    def reported(self, measure: str) -> dict[str, float]:
        """Median and interval on the reported scale (exponentiated for a ratio measure)."""
        return {k: reported_float(getattr(self, k), measure) for k in ("median", "ci_lower", "ci_upper")}
