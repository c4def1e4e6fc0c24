"""Required information size of a (sequential) meta-analysis and its heterogeneity corrections.

Wetterslev J, Thorlund K, Brok J, Gluud C (2008) J Clin Epidemiol 61:64-75 (required information size);
Wetterslev J, Thorlund K, Brok J, Gluud C (2009) BMC Med Res Methodol 9:86 (diversity D^2);
Kulinskaya E, Wood J (2014) Res Synth Methods 5:212-220 (minimum number of trials);
Schoenfeld D (1983) Biometrics 39:499-503 (required events for a hazard ratio).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from bayesmeta.errors import InputError


# -- required information size ----------------------------------------------------------------------------
def check_probability(value: float, name: str) -> float:
    """``value`` as a float strictly between 0 and 1, else an InputError naming ``name``."""
    value = float(value)
    if not math.isfinite(value) or not (0.0 < value < 1.0):
        raise InputError(f"{name} = {value!r} is outside (0, 1)", column=name, valid="a number strictly between 0 and 1")
    return value


def _check_diversity(value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or not (0.0 <= value < 1.0):
        raise InputError(f"diversity D^2 = {value!r} is outside [0, 1)", column="diversity", valid="0 <= D^2 < 1")
    return value


MAX_INFORMATION_SIZE = 1e10
"""Largest required information size monitored (participants; more than the world's population). Beyond it the
information fractions of real trials are below 1e-8 and the boundaries' root searches fail in double precision."""


def _fixed_information_size(p_control: float, relative_risk_reduction: float, alpha: float, power: float) -> float:
    p_c = check_probability(p_control, "p_control")
    rrr = float(relative_risk_reduction)
    if not math.isfinite(rrr) or rrr == 0.0 or rrr >= 1.0:
        raise InputError(
            f"relative risk reduction {rrr!r} is not usable",
            column="relative_risk_reduction",
            valid="a non-zero number below 1 (negative for a relative increase)",
        )
    p_e = p_c * (1.0 - rrr)
    if not 0.0 < p_e < 1.0:
        raise InputError(
            f"the intervention-arm proportion p_control * (1 - RRR) = {p_e:g} is outside (0, 1)",
            column="relative_risk_reduction",
            valid=f"RRR between {1 - 1 / p_c:.4g} and 1, excluding 0",
        )
    alpha = check_probability(alpha, "alpha")
    power = check_probability(power, "power")
    z = stats.norm.ppf(1.0 - alpha / 2.0) + stats.norm.ppf(power)
    p_bar = (p_c + p_e) / 2.0
    delta = p_c - p_e
    if not abs(delta) > 1e-150:  # an RRR too close to 0 for double precision: the size would be infinite
        raise InputError(
            f"relative risk reduction {rrr!r} is too close to 0: the required information size is not finite",
            column="relative_risk_reduction",
            valid="a non-zero number below 1 (negative for a relative increase), e.g. 0.2",
        )
    return float(4.0 * z**2 * p_bar * (1.0 - p_bar) / delta**2)


def required_information_size(
    p_control: float,
    relative_risk_reduction: float,
    alpha: float = 0.05,
    power: float = 0.80,
    diversity: float = 0.0,
) -> float:
    """Required information size (total participants, both arms) for a binary outcome (Wetterslev 2008, 2009).

    RIS = 4 (z_{1-alpha/2} + z_{1-beta})^2 p (1 - p) / delta^2 with p_e = p_c (1 - RRR), p = (p_c + p_e) / 2 and
    delta = p_c - p_e (two-sided alpha, equal allocation); heterogeneity-adjusted RIS / (1 - D^2).

    The TSA program takes the control-arm proportion and a relative risk *reduction*; a negative RRR is a
    relative increase. The result is not rounded; TSA software reports ``math.ceil`` of it.
    """
    fixed = _fixed_information_size(p_control, relative_risk_reduction, alpha, power)
    return fixed / (1.0 - _check_diversity(diversity))


def implied_diversity(
    ris_published: float,
    p_control: float,
    relative_risk_reduction: float,
    alpha: float = 0.05,
    power: float = 0.80,
) -> float:
    """The D^2 at which the adjusted RIS equals ``ris_published``: D^2 = 1 - RIS_fixed / RIS_published.

    A published RIS rounded up to whole participants N is reproduced by every D^2 in
    (1 - RIS_fixed / (N - 1), 1 - RIS_fixed / N]; this returns the upper end. A negative value means the
    published size is smaller than the fixed-effect RIS under these inputs (no D^2 can explain it).

    Example (Lu et al. 2025, TSA of response rates, where the treatment *raises* the rate): with the systemic
    arm as control and the RRR entered as a reduction, p_c = 0.2519, RRR = 0.30 gives RIS_fixed = 925.07 and the
    published 2633 implies D^2 in (0.6485, 0.6487]; p_c = 0.71, RRR = 0.15 gives 623.99 and 1469 implies
    D^2 in (0.5749, 0.5752]. The forest-plot I^2 (65%, 55%) would give 2644 and 1387 instead. Reading the
    change as an increase (RRR = -0.30, -0.15) implies D^2 = 0.570 and 0.659; the first is below the reported
    I^2 = 65%, which D^2 >= I^2 (Wetterslev 2009) excludes, so the reduction reading is the consistent one.
    """
    n = float(ris_published)
    if not math.isfinite(n) or n <= 0:
        raise InputError(f"published RIS {n!r} is not a positive number", column="ris_published")
    return 1.0 - _fixed_information_size(p_control, relative_risk_reduction, alpha, power) / n


def diversity(vi: ArrayLike, tau2: float) -> float:
    """Diversity D^2 = 1 - V_fixed / V_random = (V_random - V_fixed) / V_random (Wetterslev et al. 2009).

    V_fixed = 1 / sum(1/v_i) and V_random = 1 / sum(1/(v_i + tau^2)) are the variances of the common-effect and
    random-effects pooled estimates. Equivalently D^2 = tau^2 / (tau^2 + sigma_D^2), the share of the
    between-study variance in tau^2 plus the 'diversity-adjusted sampling error'
    sigma_D^2 = tau^2 V_fixed / (V_random - V_fixed). With equal variances v, D^2 = tau^2 / (tau^2 + v).
    """
    return _diversity(_check_variances(vi), tau2)


def _diversity(v: np.ndarray, tau2: float) -> float:
    tau2 = float(tau2)
    if not math.isfinite(tau2) or tau2 < 0:
        raise InputError(f"tau^2 = {tau2!r} is not a non-negative number", column="tau2", valid="tau^2 >= 0")
    v_fixed = 1.0 / np.sum(1.0 / v)
    v_random = 1.0 / np.sum(1.0 / (v + tau2))
    return float(1.0 - v_fixed / v_random)


def _check_variances(vi: ArrayLike) -> np.ndarray:
    v = np.atleast_1d(np.asarray(vi, dtype=float))
    if v.ndim != 1 or v.size == 0:
        raise InputError("sampling variances must be a non-empty 1-d sequence", column="vi")
    bad = np.flatnonzero(~np.isfinite(v) | (v <= 0))
    if bad.size:
        raise InputError(f"sampling variance {v[bad[0]]!r} of study {bad[0] + 1} is not positive", column="vi",
                         valid="finite numbers > 0")
    return v


