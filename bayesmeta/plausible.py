"""Plausible ranges of study effects on the analysis scale and of their standard errors: the one place the bounds
live. The readers of data (:mod:`bayesmeta.tables` for a user's table, :mod:`bayesmeta.effects` for a plan's
outcomes) refuse effects outside them, so that no analysis overflows or runs out of time on a typing error.

Per measure (analysis scale: logs of HR, RR, OR, IRR, ROM):

- HR, RR, OR, IRR, ROM: |log ratio| <= 30, a ratio between 9.4e-14 and 1.1e13 (the most extreme arm counts, all
  events against none with the 0.5 zero-cell correction, give an OR of about 4 n^2 for n patients an arm: e^29 at
  n = 10^6); 1e-8 <= SE <= 10: a log-ratio variance is at least 4/D for D events (SE 1e-8 would need 4e16
  events), and an SE of 10 is a 95% CI spanning a factor e^39 = 10^17 (a study with one patient an arm and a
  zero cell gives an SE near 2.3). A log ratio of 1e6, or an SE of 1e12, is a typing error;
- SMD: |g| <= 20 (groups 20 standard deviations apart; larger values come from an SE entered as an SD) and
  1e-8 <= SE <= 10 (the variance of g is at least 4/N; with two patients an arm and |g| = 20 the SE is 7.1);
- RD: |RD| <= 1 by definition; 1e-8 <= SE <= 1 (a difference of proportions has variance at most 1/2);
- MD and GEN are in the user's units, so only the arithmetic is protected: |yi| <= 1e30 and 1e-30 <= SE <= 1e30
  (squares and reciprocals stay far inside double precision; every command was checked to run on a table
  scaled by 1e-30 and by 1e30).

For every measure, each effect must also lie within :data:`MAX_Z_FROM_MEDIAN` = 1e6 of its own standard errors
of the median effect of the table: real studies disagree by tens, at most thousands, of standard errors, while
the posterior of tau grows so concentrated that its integration slows (one effect 1e10 of its SEs from four
others took a sensitivity analysis 4 GB and a minute; 1e8, 0.5 GB).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bayesmeta.scales import measure_info


@dataclass(frozen=True)
class PlausibleRange:
    """Bounds of one measure on the analysis scale: |yi| <= max_abs_yi and min_sei <= sei <= max_sei."""

    max_abs_yi: float
    min_sei: float
    max_sei: float


_RATIO = PlausibleRange(max_abs_yi=30.0, min_sei=1e-8, max_sei=10.0)
_UNITLESS = PlausibleRange(max_abs_yi=1e30, min_sei=1e-30, max_sei=1e30)
RANGES: dict[str, PlausibleRange] = {
    "HR": _RATIO,
    "RR": _RATIO,
    "OR": _RATIO,
    "IRR": _RATIO,
    "ROM": _RATIO,
    "SMD": PlausibleRange(max_abs_yi=20.0, min_sei=1e-8, max_sei=10.0),
    "RD": PlausibleRange(max_abs_yi=1.0, min_sei=1e-8, max_sei=1.0),
    "MD": _UNITLESS,
    "GEN": _UNITLESS,
}
MAX_Z_FROM_MEDIAN = 1e6


def _shown(value: float, measure: str) -> str:
    """An analysis-scale value for a message: with the ratio it stands for when the measure is a ratio."""
    info = measure_info(measure)
    if not info.ratio:
        return f"{info.code} {value:.6g}"
    ratio = f"{math.exp(value):.3g}" if abs(value) < 700 else ("> 1e304" if value > 0 else "< 1e-304")
    return f"{info.analysis_label} {value:.6g} ({info.code} {ratio})"


def valid_text(measure: str) -> str:
    """The plausible range of a measure, in words (the 'valid' part of an error message)."""
    r = RANGES[measure]
    info = measure_info(measure)
    span = f"|{info.analysis_label}| <= {r.max_abs_yi:g}"
    if info.ratio:
        span += f" ({info.code} {math.exp(-r.max_abs_yi):.2g} to {math.exp(r.max_abs_yi):.2g})"
    return f"{span} and standard error {r.min_sei:g} to {r.max_sei:g}"


def effect_problem(yi: float, sei: float, measure: str) -> tuple[str, str] | None:
    """('yi' or 'sei', reason) when one effect lies outside its measure's plausible range, else None."""
    r = RANGES[measure]
    if not abs(yi) <= r.max_abs_yi:
        return "yi", f"{_shown(yi, measure)} is outside the plausible range"
    if not r.min_sei <= sei <= r.max_sei:
        return "sei", f"standard error {sei:.3g} of the {measure_info(measure).analysis_label} is outside the " \
                      "plausible range"
    return None


def table_problems(yi: np.ndarray, sei: np.ndarray, measure: str) -> list[tuple[int, str, str, str]]:
    """Every effect outside the plausible range, then (when all are inside) every effect more than
    :data:`MAX_Z_FROM_MEDIAN` of its standard errors from the median effect: (position, 'yi' or 'sei',
    reason, valid) in position order. Positions whose yi is NaN (studies left out) are skipped."""
    yi, sei = np.asarray(yi, dtype=float), np.asarray(sei, dtype=float)
    present = np.flatnonzero(~np.isnan(yi))
    out = []
    for i in present:
        problem = effect_problem(float(yi[i]), float(sei[i]), measure)
        if problem is not None:
            out.append((int(i), problem[0], problem[1], valid_text(measure)))
    if out or present.size < 2:
        return out
    median = float(np.median(yi[present]))
    for i in present:
        z = abs(float(yi[i]) - median) / float(sei[i])
        if z > MAX_Z_FROM_MEDIAN:
            out.append((int(i), "yi", f"{_shown(float(yi[i]), measure)} with standard error {sei[i]:.3g} lies "
                        f"{z:.2g} standard errors from the median effect {median:.6g}",
                        f"effects within {MAX_Z_FROM_MEDIAN:.0e} of their standard errors of the median"))
    return out
