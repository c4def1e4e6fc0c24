"""Mantel-Haenszel pooled risk ratio and odds ratio (metafor ``rma.mh``).

Mantel N & Haenszel W (1959) J Natl Cancer Inst 22:719-748; variance of the log RR: Greenland S & Robins JM (1985)
Biometrics 41:55-68; variance of the log OR: Robins J, Breslow N & Greenland S (1986) Biometrics 42:311-323.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from bayesmeta.effect_data import COUNT_COLUMNS, EffectData, count_columns
from bayesmeta.errors import InputError, ModelError
from bayesmeta.scales import COUNT_MEASURES, is_ratio
from bayesmeta.frequentist.inputs import as_vector, check_level
from bayesmeta.frequentist.result import plain

MEASURES = tuple(m for m in COUNT_MEASURES if is_ratio(m))  # the ratios of two arms' counts: RR, OR

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class MantelHaenszelResult:
    """Pooled log ratio with Wald inference; Q/I^2/H^2 from the study log ratios (1/2 added to tables with a zero
    cell, tables with no events in either arm left out) around the MH estimate, as metafor computes them.
    ``cmh``/``cmh_p``: Cochran-Mantel-Haenszel test with continuity correction (OR only, else None)."""

    measure: str
    k: int
    level: float
    estimate: float
    se: float
    zval: float
    pval: float
    ci_lower: float
    ci_upper: float
    q: float
    q_df: int
    q_p: float
    i2: float
    h2: float
    cmh: float | None = None
    cmh_p: float | None = None

    @property
    def ratio(self) -> float:
        return float(np.exp(self.estimate))

    def as_dict(self) -> dict[str, Any]:
        return plain(self)


def _check_counts(columns: list[ArrayLike]):
    """Validate the four arm-count columns; returns events and totals of the treatment and the control arm."""
    arrays = {name: as_vector(val, name) for name, val in zip(COUNT_COLUMNS, columns)}
    sizes = {arr.size for arr in arrays.values()}
    if len(sizes) != 1:
        raise InputError("the four arm-count columns " + ", ".join(COUNT_COLUMNS) + " must have the same length")
    for name, arr in arrays.items():
        bad = np.flatnonzero(arr < 0)
        if bad.size:
            raise InputError(f"'{name}' is negative at study {bad[0] + 1}", column=name, valid="a count >= 0")
    for ev, tot in (COUNT_COLUMNS[:2], COUNT_COLUMNS[2:]):
        bad = np.flatnonzero((arrays[tot] <= 0) | (arrays[ev] > arrays[tot]))
        if bad.size:
            i = int(bad[0])
            raise InputError(
                f"study {i + 1}: {ev} = {arrays[ev][i]} events out of {tot} = {arrays[tot][i]}",
                column=tot,
                valid=f"{tot} > 0 and 0 <= {ev} <= {tot}",
            )
    if next(iter(sizes)) < 1:
        raise ModelError("the Mantel-Haenszel method needs at least one study")
    return tuple(arrays[c] for c in COUNT_COLUMNS)


def _study_log_ratios(measure: str, a, b, c, d) -> tuple[np.ndarray, np.ndarray]:
    """Study log RR/OR and variances as metafor ``escalc`` (add 1/2 to tables with a zero cell, drop 0/0 tables)."""
    keep = ~(((a == 0) & (c == 0)) | ((b == 0) & (d == 0)))
    a, b, c, d = (x[keep].astype(float) for x in (a, b, c, d))
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    a, b, c, d = (np.where(zero, x + 0.5, x) for x in (a, b, c, d))
    n1, n2 = a + b, c + d
    if measure == "RR":
        return np.log((a / n1) / (c / n2)), 1 / a - 1 / n1 + 1 / c - 1 / n2
    return np.log((a * d) / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d


def mantel_haenszel(
    data: EffectData | pd.DataFrame | Mapping[str, ArrayLike],
    measure: str | None = None,
    level: float = 0.95,
) -> MantelHaenszelResult:
    """Mantel-Haenszel pooled log RR or log OR from arm counts: ``data`` is an EffectData with arm counts
    (``measure`` defaults to its own) or a table with the columns events_treatment, total_treatment,
    events_control, total_control (``measure`` defaults to RR). Below, a events of n1 treated, c of n2 controls.

    RR: log(R/S), R = sum a n2/N, S = sum c n1/N; Var = sum(n1 n2 (a + c)/N^2 - a c/N) / (R S)
    (Greenland & Robins 1985). OR: log(R/S), R = sum a d/N, S = sum b c/N; Robins-Breslow-Greenland variance
    1/2 [sum P R_i / R^2 + sum (P S_i + Q R_i) / (R S) + sum Q S_i / S^2], P = (a + d)/N, Q = (b + c)/N.
    No continuity correction enters the MH estimate, as in metafor.
    """
    if measure is None:
        measure = data.measure if isinstance(data, EffectData) else "RR"
    measure = str(measure).upper()
    if measure not in MEASURES:
        raise ModelError(f"unknown Mantel-Haenszel measure '{measure}'; valid: {', '.join(MEASURES)}")
    level = check_level(level)
    a, n1, c, n2 = _check_counts(count_columns(data)[0])
    b, d = n1 - a, n2 - c
    N = n1 + n2
    if measure == "RR":
        R = float(np.sum(a * n2 / N))
        S = float(np.sum(c * n1 / N))
        if R == 0 or S == 0:
            raise ModelError("the Mantel-Haenszel RR is undefined: no events in one arm across all studies")
        var = float(np.sum((n1 / N) * (n2 / N) * (a + c) - (a / N) * c)) / (R * S)
        cmh = cmh_p = None
    else:
        Ri, Si = a * d / N, b * c / N
        P, Q = (a + d) / N, (b + c) / N
        R, S = float(np.sum(Ri)), float(np.sum(Si))
        if R == 0 or S == 0:
            raise ModelError("the Mantel-Haenszel OR is undefined: a zero in every table's cross-product")
        var = 0.5 * (np.sum(P * Ri) / R**2 + np.sum(P * Si + Q * Ri) / (R * S) + np.sum(Q * Si) / S**2)
        xt, yt = a + c, b + d
        cmh = float((abs(np.sum(a - (n1 / N) * xt)) - 0.5) ** 2 / np.sum((n1 / N) * (n2 / N) * (xt * (yt / (N - 1)))))
        cmh_p = float(stats.chi2.sf(cmh, 1))
    if not var > 0:
        # every patient of every table had the event: the tables carry no information on the ratio
        raise ModelError(
            f"the Mantel-Haenszel {measure} has zero variance: every patient in both arms of every study had the event"
        )
    beta = float(np.log(R / S))
    se = float(np.sqrt(var))
    crit = float(stats.norm.ppf(1 - (1 - level) / 2))
    zval = beta / se

    yi, vi = _study_log_ratios(measure, a, b, c, d)
    k_yi = yi.size
    if k_yi > 1:
        q = max(0.0, float(np.sum((yi - beta) ** 2 / vi)))
        q_p = float(stats.chi2.sf(q, k_yi - 1))
        i2 = max(0.0, 100.0 * (q - (k_yi - 1)) / q) if q > 0 else 0.0
        h2 = q / (k_yi - 1)
    else:
        q, q_p, i2, h2 = 0.0, 1.0, 0.0, 1.0
    return MantelHaenszelResult(
        measure=measure,
        k=int(a.size),
        level=level,
        estimate=beta,
        se=se,
        zval=float(zval),
        pval=float(2 * stats.norm.sf(abs(zval))),
        ci_lower=beta - crit * se,
        ci_upper=beta + crit * se,
        q=q,
        q_df=max(k_yi - 1, 0),
        q_p=q_p,
        i2=i2,
        h2=h2,
        cmh=cmh,
        cmh_p=cmh_p,
    )
