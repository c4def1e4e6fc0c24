"""Result types of the frequentist engine: frozen dataclasses with a JSON-ready ``as_dict``."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """Convert numpy scalars, tuples and nested dataclasses into JSON-ready Python values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return f if math.isfinite(f) else None
    return value


@dataclass(frozen=True)
class Coefficient:
    """One row of a meta-regression coefficient table (statistic is z, or t with Knapp-Hartung)."""

    name: str
    estimate: float
    se: float
    stat: float
    pval: float
    ci_lower: float
    ci_upper: float


@dataclass(frozen=True)
class RmaResult:
    """Fitted random- or common-effect model, with metafor ``rma.uni`` conventions.

    ``estimate`` and its inference refer to the intercept (the pooled effect without moderators). ``q`` is
    metafor's QE: the test of (residual) heterogeneity with k - p degrees of freedom; with k = p (e.g. a single
    study) metafor's conventions Q = 0, p = 1, I^2 = 0, H^2 = 1 and tau^2 = 0 apply. ``df`` is the t/F denominator degrees of
    freedom with ``test='knha'`` and None with ``test='z'``.
    """

    k: int
    method: str
    test: str
    level: float
    estimate: float
    se: float
    zval: float
    pval: float
    ci_lower: float
    ci_upper: float
    tau2: float
    tau2_se: float | None
    i2: float
    h2: float
    q: float
    q_df: int
    q_p: float
    pi_lower: float | None
    pi_upper: float | None
    df: int | None = None
    coefficients: tuple[Coefficient, ...] = ()
    qm: float | None = None
    qm_df: int | None = None
    qm_p: float | None = None
    r2: float | None = None

    def __repr__(self) -> str:
        return self.summary_text()

    def summary_text(self, measure: str | None = None) -> str:
        """A short summary as R metafor's ``print.rma`` (:func:`bayesmeta.printing.rma_text`); with a ratio
        ``measure`` (HR, RR, OR, IRR, ROM) the pooled estimate and intervals are also given as ratios."""
        from bayesmeta.printing import rma_text

        return rma_text(self, measure)

    @property
    def qe(self) -> float:
        """Test statistic for residual heterogeneity (alias of ``q``, metafor's QE)."""
        return self.q

    @property
    def qe_p(self) -> float:
        return self.q_p

    @property
    def tau(self) -> float:
        return math.sqrt(self.tau2)

    @property
    def has_moderators(self) -> bool:
        return len(self.coefficients) > 1

    def as_dict(self) -> dict[str, Any]:
        out = plain(self)
        out["qe"] = plain(self.qe)
        out["qe_p"] = plain(self.qe_p)
        return out
