"""metafor's ``escalc`` formulas for two-group effect sizes, on numpy arrays (Viechtbauer W (2010), Conducting
meta-analyses in R with the metafor package, J Stat Softw 36(3); formulas as in metafor 3.8-1, defaults
``vtype="LS"``, ``add=1/2``, ``to="only0"``, ``drop00=FALSE``): means and SDs (MD, SMD, ROM), 2x2 tables (RR, OR,
RD), events over person-time (IRR), the log-rank statistic and a ratio's p-value.

Each function broadcasts its arguments and returns ``(yi, vi)`` as floats or arrays. As ``escalc`` does, a
result that is not finite (a log of zero, a zero pooled SD) comes back as NaN in both yi and vi, and a negative
variance as NaN in vi; inputs ``escalc`` refuses (negative SDs or counts, sizes <= 0, events above the arm size)
raise ValueError. Only numpy and scipy.special are imported, so the module loads fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import gammaln, ndtri

from bayesmeta.scales import COUNT_MEASURES, PERSON_TIME_MEASURES, is_ratio

ZERO_CELL_TO: tuple[str, ...] = ("only0", "all", "if0all", "none")
DROP00_MEASURES: tuple[str, ...] = tuple(m for m in (*COUNT_MEASURES, *PERSON_TIME_MEASURES) if is_ratio(m))
"""The ratios of event counts (RR, OR, IRR): a study without events in either arm carries no information."""

Result = np.ndarray | float


def _out(value: np.ndarray) -> Result:
    return float(value) if np.ndim(value) == 0 else value


def _finish(yi: np.ndarray, vi: np.ndarray) -> tuple[Result, Result]:
    """escalc's last step: yi and vi NaN where either is infinite or NaN; vi NaN where negative."""
    bad = ~(np.isfinite(yi) & np.isfinite(vi))
    yi, vi = np.where(bad, np.nan, yi), np.where(bad, np.nan, vi)
    vi = np.where(vi < 0, np.nan, vi)
    return _out(yi), _out(vi)


def _arrays(*values: ArrayLike) -> list[np.ndarray]:
    return list(np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in values)))


# --- continuous outcomes: means, SDs and arm sizes ----------------------------------------------------------------


def _check_means(sd1: np.ndarray, n1: np.ndarray, sd2: np.ndarray, n2: np.ndarray) -> None:
    if np.any(sd1 < 0) or np.any(sd2 < 0):
        raise ValueError("standard deviations must not be negative")
    if np.any(n1 <= 0) or np.any(n2 <= 0):
        raise ValueError("arm sizes must be positive")


MD_VTYPES: tuple[str, ...] = ("LS", "HO")
"""escalc's variance types of a mean difference: per-arm SDs (LS, its default) or the pooled SD (HO)."""


def mean_difference(
    m1: ArrayLike, sd1: ArrayLike, n1: ArrayLike, m2: ArrayLike, sd2: ArrayLike, n2: ArrayLike, vtype: str = "LS"
) -> tuple[Result, Result]:
    """Raw mean difference, escalc ``"MD"``: yi = m1 - m2; ``vtype="LS"`` (heteroscedastic) vi = sd1^2/n1 +
    sd2^2/n2, ``vtype="HO"`` (homoscedastic) vi = s^2 (1/n1 + 1/n2) with the pooled variance
    s^2 = ((n1-1) sd1^2 + (n2-1) sd2^2) / (n1 + n2 - 2)."""
    if vtype not in MD_VTYPES:
        raise ValueError(f"vtype {vtype!r} is not one of {', '.join(MD_VTYPES)}")
    m1, sd1, n1, m2, sd2, n2 = _arrays(m1, sd1, n1, m2, sd2, n2)
    _check_means(sd1, n1, sd2, n2)
    if vtype == "HO":
        with np.errstate(divide="ignore", invalid="ignore"):
            pooled = ((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / (n1 + n2 - 2)
        return _finish(m1 - m2, pooled * (1 / n1 + 1 / n2))
    return _finish(m1 - m2, sd1**2 / n1 + sd2**2 / n2)


def hedges_correction(m: ArrayLike) -> Result:
    """Exact small-sample correction of Cohen's d (Hedges LV (1981), J Educ Stat 6:107-128):
    J(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2)), computed on the log scale as escalc's ``.cmicalc`` does;
    NaN for m <= 1 (no degrees of freedom for the correction)."""
    m = np.asarray(m, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        j = np.exp(gammaln(m / 2) - np.log(np.sqrt(m / 2)) - gammaln((m - 1) / 2))
    return _out(np.where(m > 1, j, np.nan))


def standardized_mean_difference(
    m1: ArrayLike, sd1: ArrayLike, n1: ArrayLike, m2: ArrayLike, sd2: ArrayLike, n2: ArrayLike
) -> tuple[Result, Result]:
    """Hedges' g, escalc ``"SMD"`` (``vtype="LS"``): with m = n1 + n2 - 2 and the pooled SD
    s = sqrt(((n1-1) sd1^2 + (n2-1) sd2^2) / m), yi = J(m) (m1 - m2) / s (:func:`hedges_correction`) and
    vi = 1/n1 + 1/n2 + yi^2 / (2 (n1 + n2)) (Hedges 1981; Viechtbauer 2010). NaN when n1 + n2 <= 3."""
    m1, sd1, n1, m2, sd2, n2 = _arrays(m1, sd1, n1, m2, sd2, n2)
    _check_means(sd1, n1, sd2, n2)
    m = n1 + n2 - 2
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = np.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / m)
        yi = hedges_correction(m) * (m1 - m2) / pooled
        vi = 1 / n1 + 1 / n2 + yi**2 / (2 * (n1 + n2))
    return _finish(yi, vi)


def log_ratio_of_means(
    m1: ArrayLike, sd1: ArrayLike, n1: ArrayLike, m2: ArrayLike, sd2: ArrayLike, n2: ArrayLike
) -> tuple[Result, Result]:
    """Log ratio of means (log response ratio), escalc ``"ROM"`` (``vtype="LS"``): yi = ln(m1 / m2),
    vi = sd1^2 / (n1 m1^2) + sd2^2 / (n2 m2^2), the delta-method variance of Hedges LV, Gurevitch J, Curtis PS
    (1999), The meta-analysis of response ratios in experimental ecology, Ecology 80:1150-1156 (Viechtbauer 2010;
    escalc's documentation, "Measures for Quantitative Variables"). The ratio is defined for positive means only
    (a ratio-scale outcome): a mean <= 0 raises ValueError, where escalc would take the log of a ratio of two
    negative means or return NaN."""
    m1, sd1, n1, m2, sd2, n2 = _arrays(m1, sd1, n1, m2, sd2, n2)
    _check_means(sd1, n1, sd2, n2)
    if np.any(~(m1 > 0)) or np.any(~(m2 > 0)):
        raise ValueError("a ratio of means needs positive means")
    return _finish(np.log(m1 / m2), sd1**2 / (n1 * m1**2) + sd2**2 / (n2 * m2**2))


# --- two-by-two tables: events a of n1 (treatment), c of n2 (control) ---------------------------------------------


@dataclass(frozen=True)
class ZeroCellRule:
    """How zero cells of a 2x2 table are handled, with escalc's argument names.

    ``add`` is added to every cell (a, n1-a, c, n2-c) of the studies ``to`` selects: ``"only0"`` those with a
    zero cell, ``"all"`` every study, ``"if0all"`` every study when any study of the set has a zero cell,
    ``"none"`` no study. ``drop00`` drops (NaN) the studies with no events in both arms or only events in both
    arms, before the addition. ``drop00=None`` is the project default: True for RR, OR and IRR (a ratio with no
    events carries no information; metafor's ``rma.mh``/``rma.peto`` drop them the same way), False for RD (a risk
    difference of 0 is informative; escalc's default). The default rule otherwise is escalc's, so an RD with a
    zero cell is computed from the corrected cells as escalc does.
    """

    add: float = 0.5
    to: str = "only0"
    drop00: bool | None = None

    def __post_init__(self) -> None:
        if not (np.isfinite(self.add) and self.add >= 0):
            raise ValueError(f"add must be a finite number >= 0, got {self.add}")
        if self.to not in ZERO_CELL_TO:
            raise ValueError(f"to must be one of {', '.join(ZERO_CELL_TO)}, got {self.to!r}")
        if self.drop00 not in (None, True, False):
            raise ValueError(f"drop00 must be True, False or None, got {self.drop00!r}")

    def drops(self, measure: str) -> bool:
        """Whether double-zero (and double-all) studies are dropped for ``measure``."""
        return bool(self.drop00) if self.drop00 is not None else measure in DROP00_MEASURES


class Cells(NamedTuple):
    """A 2x2 table after escalc's zero-cell handling: cells a, b, c, d (NaN where dropped) and the masks of the
    studies that received ``add`` and of those dropped by ``drop00``."""

    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    d: np.ndarray
    added: np.ndarray
    dropped: np.ndarray


def double_zero(a: ArrayLike, n1: ArrayLike, c: ArrayLike, n2: ArrayLike) -> Result:
    """True (1.0) where both arms have no events or both have only events: escalc's ``drop00`` set."""
    a, n1, c, n2 = _arrays(a, n1, c, n2)
    both = ((a == 0) & (c == 0)) | ((a == n1) & (c == n2))
    return bool(both) if both.ndim == 0 else both


def _corrected(zero: np.ndarray, dropped: np.ndarray, add: float, to: str) -> np.ndarray:
    """Which studies get ``add`` under escalc's ``to`` (Viechtbauer 2010): every kept study ("all"), those with a
    zero (``zero``; "only0"), every kept study when any has a zero ("if0all"), or none ("none")."""
    if to == "all":
        added = ~dropped
    elif to == "only0":
        added = zero
    elif to == "if0all":
        added = ~dropped & bool(zero.any())
    else:
        added = np.zeros_like(dropped)
    return added & (add > 0)


def adjusted_cells(
    a: ArrayLike, n1: ArrayLike, c: ArrayLike, n2: ArrayLike, *,
    add: float = 0.5, to: str = "only0", drop00: bool = False,
) -> Cells:
    """escalc's zero-cell handling of 2x2 tables (see :class:`ZeroCellRule`). With ``to="if0all"`` the set is
    the arrays passed: every study gets ``add`` when any study not dropped has a zero cell."""
    ZeroCellRule(add, to, drop00)
    a, n1, c, n2 = _arrays(a, n1, c, n2)
    if np.any(~np.isfinite(a + n1 + c + n2)):
        raise ValueError("counts must be finite")
    if np.any(n1 <= 0) or np.any(n2 <= 0):
        raise ValueError("arm sizes must be positive")
    if np.any(a < 0) or np.any(c < 0) or np.any(a > n1) or np.any(c > n2):
        raise ValueError("event counts must lie between 0 and the arm size")
    b, d = n1 - a, n2 - c
    dropped = np.asarray(double_zero(a, n1, c, n2)) & drop00
    added = _corrected(((a == 0) | (b == 0) | (c == 0) | (d == 0)) & ~dropped, dropped, add, to)
    extra = np.where(added, add, 0.0)
    nan = np.where(dropped, np.nan, 0.0)
    return Cells(a + extra + nan, b + extra + nan, c + extra + nan, d + extra + nan, added, dropped)


def _proportions(cells: Cells) -> tuple[np.ndarray, ...]:
    n1, n2 = cells.a + cells.b, cells.c + cells.d
    return cells.a / n1, cells.c / n2, n1, n2


def log_risk_ratio(
    a: ArrayLike, n1: ArrayLike, c: ArrayLike, n2: ArrayLike, *,
    add: float = 0.5, to: str = "only0", drop00: bool = False,
) -> tuple[Result, Result]:
    """escalc ``"RR"``: yi = ln(a/n1) - ln(c/n2), vi = 1/a - 1/n1 + 1/c - 1/n2 on the cells after
    :func:`adjusted_cells` (arm sizes grow by 2 add)."""
    cells = adjusted_cells(a, n1, c, n2, add=add, to=to, drop00=drop00)
    p1, p2, m1, m2 = _proportions(cells)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _finish(np.log(p1) - np.log(p2), 1 / cells.a - 1 / m1 + 1 / cells.c - 1 / m2)


def log_odds_ratio(
    a: ArrayLike, n1: ArrayLike, c: ArrayLike, n2: ArrayLike, *,
    add: float = 0.5, to: str = "only0", drop00: bool = False,
) -> tuple[Result, Result]:
    """escalc ``"OR"``: yi = ln(p1/(1-p1)) - ln(p2/(1-p2)) = ln(a d / (b c)), vi = 1/a + 1/b + 1/c + 1/d on the
    cells after :func:`adjusted_cells`."""
    cells = adjusted_cells(a, n1, c, n2, add=add, to=to, drop00=drop00)
    p1, p2, _, _ = _proportions(cells)
    with np.errstate(divide="ignore", invalid="ignore"):
        yi = np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2))
        vi = 1 / cells.a + 1 / cells.b + 1 / cells.c + 1 / cells.d
    return _finish(yi, vi)


def risk_difference(
    a: ArrayLike, n1: ArrayLike, c: ArrayLike, n2: ArrayLike, *,
    add: float = 0.5, to: str = "only0", drop00: bool = False,
) -> tuple[Result, Result]:
    """escalc ``"RD"`` (``vtype="LS"``): yi = p1 - p2, vi = p1(1-p1)/n1 + p2(1-p2)/n2 with p = events / size on
    the cells after :func:`adjusted_cells`. escalc corrects RD like the ratios by default (``to="only0"``);
    pass ``to="none"`` for the uncorrected proportions (a double-zero study then has vi = 0)."""
    cells = adjusted_cells(a, n1, c, n2, add=add, to=to, drop00=drop00)
    p1, p2, m1, m2 = _proportions(cells)
    return _finish(p1 - p2, p1 * (1 - p1) / m1 + p2 * (1 - p2) / m2)


# --- events over person-time: x1 events in t1 person-time (treatment), x2 in t2 (control) ------------------------


class Events(NamedTuple):
    """Event counts after escalc's zero-count handling for incidence rates (NaN where dropped), and the masks of
    the studies that received ``add`` and of those dropped by ``drop00``."""

    x1: np.ndarray
    x2: np.ndarray
    added: np.ndarray
    dropped: np.ndarray


def adjusted_events(
    x1: ArrayLike, t1: ArrayLike, x2: ArrayLike, t2: ArrayLike, *,
    add: float = 0.5, to: str = "only0", drop00: bool = False,
) -> Events:
    """escalc's zero-count handling of two incidence rates (metafor 3.8-1, measures IRR, IRD, IRSD): ``drop00``
    drops (NaN) the studies with no events in either arm, then ``add`` is added to both event counts of the
    studies ``to`` selects (:class:`ZeroCellRule`: ``"only0"`` those with a zero count, ``"all"`` every study,
    ``"if0all"`` every study when any study of the set has one, ``"none"`` none); the person-times are unchanged.
    Counts must be finite and >= 0, person-times finite and > 0 (ValueError otherwise, as escalc's stop())."""
    ZeroCellRule(add, to, drop00)
    x1, t1, x2, t2 = _arrays(x1, t1, x2, t2)
    if np.any(~np.isfinite(x1 + t1 + x2 + t2)):
        raise ValueError("event counts and person-times must be finite")
    if np.any(x1 < 0) or np.any(x2 < 0):
        raise ValueError("event counts must not be negative")
    if np.any(t1 <= 0) or np.any(t2 <= 0):
        raise ValueError("person-times must be positive")
    dropped = (x1 == 0) & (x2 == 0) & drop00
    added = _corrected(((x1 == 0) | (x2 == 0)) & ~dropped, dropped, add, to)
    extra = np.where(added, add, 0.0) + np.where(dropped, np.nan, 0.0)
    return Events(x1 + extra, x2 + extra, added, dropped)


def log_incidence_rate_ratio(
    x1: ArrayLike, t1: ArrayLike, x2: ArrayLike, t2: ArrayLike, *,
    add: float = 0.5, to: str = "only0", drop00: bool = False,
) -> tuple[Result, Result]:
    """Log incidence rate ratio, escalc ``"IRR"``: yi = ln((x1/t1) / (x2/t2)), vi = 1/x1 + 1/x2 (the Poisson
    variance of a log rate ratio; Rothman KJ, Greenland S, Lash TL (2008), Modern Epidemiology, 3rd ed., ch. 14;
    Viechtbauer 2010), on the counts after :func:`adjusted_events` (escalc's defaults: 1/2 added to both counts
    of a study with a zero count). A study without events after the rule (``to="none"``) gives NaN."""
    events = adjusted_events(x1, t1, x2, t2, add=add, to=to, drop00=drop00)
    t1, t2 = _arrays(t1, t2)
    with np.errstate(divide="ignore", invalid="ignore"):
        yi = np.log(events.x1 / t1) - np.log(events.x2 / t2)
        vi = 1 / events.x1 + 1 / events.x2
    return _finish(yi, vi)


# --- summary statistics of a time-to-event comparison or a ratio --------------------------------------------------


def log_hr_from_logrank(o_minus_e: ArrayLike, variance: ArrayLike) -> tuple[Result, Result]:
    """Peto's one-step log HR from the log-rank statistic of the treatment arm: yi = (O - E) / V, vi = 1 / V
    (Tierney JF et al. (2007), Trials 8:16; the same estimator as escalc ``"PETO"`` for a 2x2 table, where
    O - E = a - E(a) and V is the hypergeometric variance). V must be positive."""
    oe, v = _arrays(o_minus_e, variance)
    if np.any(~np.isfinite(oe)) or np.any(~(v > 0)) or np.any(~np.isfinite(v)):
        raise ValueError("O - E must be finite and its variance V finite and positive")
    return _out(oe / v), _out(1 / v)


def se_from_p(y: ArrayLike, p: ArrayLike) -> Result:
    """se = |y| / z, z = Phi^-1(1 - p/2), from a two-sided p-value of a Wald test of y (Tierney et al. 2007).

    For a reported bound p < c pass c: the result is the largest SE consistent with the report (conservative).
    Raises ValueError when y == 0 (the SE is not identifiable from p) or p is outside (0, 1).
    """
    y_arr, p_arr = _arrays(y, p)
    if np.any(~np.isfinite(y_arr)) or np.any(y_arr == 0):
        raise ValueError("the SE cannot be identified from a p-value when the estimate is 0 (a ratio of 1)")
    if np.any(~((p_arr > 0) & (p_arr < 1))):
        raise ValueError("the p-value must lie strictly between 0 and 1 to give a finite SE")
    return _out(np.abs(y_arr) / -ndtri(p_arr / 2))


def log_ratio_from_p(ratio: ArrayLike, p: ArrayLike) -> tuple[Result, Result]:
    """A ratio with its exact two-sided p-value: yi = ln(ratio), vi = se^2 with se from :func:`se_from_p`."""
    r = np.asarray(ratio, dtype=float)
    if np.any(~(r > 0)):
        raise ValueError("a ratio must be positive")
    yi = np.log(r)
    return _out(yi), _out(np.asarray(se_from_p(yi, p)) ** 2)
