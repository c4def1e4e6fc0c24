"""The pooling rule of Lu et al. (2025, Int J Surg 111:3494): common effect if I^2 < 50%, else random effects."""

from __future__ import annotations

from numpy.typing import ArrayLike

from bayesmeta.effect_data import EffectData
from bayesmeta.frequentist.result import RmaResult
from bayesmeta.frequentist.rma import rma

I2_THRESHOLD = 50.0


def paper_rule(
    data: EffectData | ArrayLike,
    vi: ArrayLike | None = None,
    threshold: float = I2_THRESHOLD,
    random_method: str = "DL",
    level: float = 0.95,
    *,
    sei: ArrayLike | None = None,
) -> RmaResult:
    """Pool as the paper's Methods state: a common-effect (inverse-variance) model when I^2 < 50%, otherwise a
    random-effects model (DerSimonian-Laird by default; the paper, pooled with R meta, does not name its tau^2
    estimator). I^2 is the Higgins & Thompson (2002) statistic max(0, (Q - df)/Q), which R meta reports.
    ``data``: an EffectData, or the effects yi with ``vi`` (or ``sei``).
    """
    common = rma(data, vi, method="FE", level=level, sei=sei)
    if common.i2 < threshold:
        return common
    return rma(data, vi, method=random_method, level=level, sei=sei)
