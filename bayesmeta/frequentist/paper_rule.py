"""Pooling as a published paper states it: a fixed inverse-variance method, or the I^2 rule many papers state
(e.g. Lu et al. 2025, Int J Surg 111:3494: common effect if I^2 < 50%, else random effects)."""

from __future__ import annotations

from numpy.typing import ArrayLike

from bayesmeta.effect_data import EffectData
from bayesmeta.frequentist.result import RmaResult
from bayesmeta.frequentist.rma import rma

I2_THRESHOLD = 50.0


POOLINGS: tuple[str, ...] = ("I2_rule", "FE", "DL", "REML", "PM", "ML")
"""How a paper may have pooled: a fixed method of :func:`rma`, or ``I2_rule`` (common effect when I^2 is below a
threshold, else random effects), a rule many published meta-analyses state."""
POOLING_WORDS: dict[str, str] = {
    "I2_rule": "common effect if I^2 < 50%, else random effects (DerSimonian-Laird)",
    "FE": "common effect (inverse variance)",
    "DL": "random effects (DerSimonian-Laird)",
    "REML": "random effects (REML)",
    "PM": "random effects (Paule-Mandel)",
    "ML": "random effects (maximum likelihood)",
}
"""Each pooling of :data:`POOLINGS` in words, for reports."""


def paper_rule(
    data: EffectData | ArrayLike, vi: ArrayLike | None = None, pooling: str = "I2_rule", *,
    threshold: float = I2_THRESHOLD, random_method: str = "DL", level: float = 0.95, sei: ArrayLike | None = None,
) -> RmaResult:
    """Pool as the paper's Methods state. ``pooling`` one of :data:`POOLINGS`: an inverse-variance model with
    that tau^2 estimator (FE: common effect), or ``I2_rule``: a common-effect model when I^2 < ``threshold``
    (percent), otherwise a random-effects model (DerSimonian-Laird by default). I^2 is the Higgins & Thompson
    (2002) statistic max(0, (Q - df)/Q), which R meta reports. ``data``: an EffectData, or the effects yi with
    ``vi`` (or ``sei``).
    """
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r} (valid: {', '.join(POOLINGS)})")
    if pooling != "I2_rule":
        return rma(data, vi, method=pooling, level=level, sei=sei)
    common = rma(data, vi, method="FE", level=level, sei=sei)
    if common.i2 < threshold:
        return common
    return rma(data, vi, method=random_method, level=level, sei=sei)
