"""Rank correlation between two study-level quantities (the paper's ORR-versus-OS analysis)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from bayesmeta.errors import InputError, ModelError
from bayesmeta.frequentist.inputs import as_vector


def spearman_correlation(x: ArrayLike, y: ArrayLike) -> tuple[float, float]:
    """Spearman's rho and its two-sided p-value (``scipy.stats.spearmanr``: t approximation on n - 2 df, as
    R ``cor.test(method="spearman", exact=FALSE)``)."""
    a = as_vector(x, "x")
    b = as_vector(y, "y")
    if a.size != b.size:
        raise InputError(f"'x' has {a.size} values but 'y' has {b.size}; they must be paired")
    if a.size < 3:
        raise ModelError(f"a rank correlation needs at least 3 pairs; got {a.size}")
    if np.all(a == a[0]) or np.all(b == b[0]):
        raise ModelError("a rank correlation is undefined when one variable is constant")
    res = stats.spearmanr(a, b)
    return float(res.statistic), float(res.pvalue)
