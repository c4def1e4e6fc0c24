"""Required information size of a (sequential) meta-analysis and its heterogeneity corrections.

Wetterslev J, Thorlund K, Brok J, Gluud C (2008) J Clin Epidemiol 61:64-75 (required information size);
Wetterslev J, Thorlund K, Brok J, Gluud C (2009) BMC Med Res Methodol 9:86 (diversity D^2);
Kulinskaya E, Wood J (2014) Res Synth Methods 5:212-220 (minimum number of trials);
Schoenfeld D (1983) Biometrics 39:499-503 (required events for a hazard ratio).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from bayesmeta.errors import InputError
from bayesmeta.scales import BINARY_MEASURES, TSA_MEASURES, is_ratio


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




# -- every outcome type ---------------------------------------------------------------------------------------
OUTCOMES = TSA_MEASURES
"""Measures a trial sequential analysis sizes: binary (RR, OR, RD), continuous (MD), time-to-event (HR)."""
HETEROGENEITY = ("D2", "D2-HKSJ", "I2", "none")
"""Heterogeneity corrections of the information size: diversity from the DerSimonian-Laird or the
Hartung-Knapp-Sidik-Jonkman variance of the pooled effect, inconsistency, or none."""


def _z_sum(alpha: float, power: float, sides: int) -> float:
    if sides not in (1, 2):
        raise InputError(f"sides = {sides!r}", column="sides", valid="1 or 2")
    alpha = check_probability(alpha, "alpha")
    power = check_probability(power, "power")
    return float(stats.norm.isf(alpha / sides) + stats.norm.ppf(power))


def treatment_proportion(measure: str, effect: float, p_control: float) -> float:
    """The intervention-arm event proportion implied by the anticipated effect: p_C x RR, the odds p_C/(1-p_C) x OR,
    or p_C + RD (as RTSA's ``ris``)."""
    p_c = check_probability(p_control, "p_control")
    effect = float(effect)
    if is_ratio(measure) and not (math.isfinite(effect) and effect > 0 and effect != 1.0):
        raise InputError(f"anticipated {measure} {effect!r} is not usable", column="mcid",
                         valid=f"a positive {measure} other than 1, e.g. 0.8")
    if measure == "RD" and not (math.isfinite(effect) and effect != 0.0):
        raise InputError(f"anticipated RD {effect!r} is not usable", column="mcid", valid="a non-zero difference")
    if measure == "RR":
        p_i = p_c * effect
    elif measure == "OR":
        p_i = 1.0 / (1.0 + (1.0 - p_c) / (p_c * effect))
    else:
        p_i = p_c + effect
    if not 0.0 < p_i < 1.0:
        raise InputError(f"the intervention-arm proportion implied by {measure} {effect:g} and p_control {p_c:g} is "
                         f"{p_i:g}, outside (0, 1)", column="mcid", valid="an effect keeping the proportion in (0, 1)")
    return float(p_i)


def fixed_information_size(
    measure: str,
    effect: float,
    p_control: float | None = None,
    sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.80,
    sides: int = 2,
    allocation: float = 0.5,
) -> float:
    """Information size of a fixed-effect meta-analysis, not rounded (Wetterslev et al. 2008; RTSA ``ris``).

    z = z_{1-alpha/sides} + z_{1-beta}. Binary outcomes (RR, OR, RD; participants, both arms): 4 z^2 p (1 - p) /
    (p_C - p_I)^2 with p = (p_C + p_I) / 2 and p_I from :func:`treatment_proportion`. Mean difference
    (participants): 4 z^2 sd^2 / MD^2 with ``effect`` the minimal relevant difference and ``sd`` the outcome's
    standard deviation. Hazard ratio (events; Schoenfeld 1983, as tsahr): z^2 / (a (1 - a) log(HR)^2) with
    ``allocation`` a the share randomised to the intervention (4 z^2 / log(HR)^2 at a = 1/2).
    """
    z = _z_sum(alpha, power, sides)
    if measure in BINARY_MEASURES:
        if p_control is None:
            raise InputError(f"a {measure} information size needs the control-arm event proportion",
                             column="p_control", valid="a proportion in (0, 1)")
        p_c = float(p_control)
        p_i = treatment_proportion(measure, effect, p_c)
        p = (p_c + p_i) / 2.0
        return float(4.0 * z**2 * p * (1.0 - p) / (p_c - p_i) ** 2)
    if measure == "MD":
        effect = float(effect)
        if sd is None or not (math.isfinite(float(sd)) and float(sd) > 0):
            got = "" if sd is None else f" (got {sd!r})"
            raise InputError(f"an MD information size needs the outcome's standard deviation{got}",
                             column="sd", valid="a standard deviation > 0")
        if not (math.isfinite(effect) and effect != 0.0):
            raise InputError(f"minimal relevant difference {effect!r} is not usable", column="mcid",
                             valid="a non-zero mean difference")
        return float(4.0 * z**2 * float(sd) ** 2 / effect**2)
    if measure == "HR":
        effect = float(effect)
        if not (math.isfinite(effect) and effect > 0 and effect != 1.0):
            raise InputError(f"anticipated HR {effect!r} is not usable", column="mcid",
                             valid="a positive hazard ratio other than 1, e.g. 0.8")
        a = check_probability(allocation, "allocation")
        return float(z**2 / (a * (1.0 - a) * math.log(effect) ** 2))
    raise InputError(f"no information size for measure {measure!r}", column="measure", valid=", ".join(OUTCOMES))


def rtsa_rounded(size: float) -> int:
    """RTSA's rounding of an information size: up to a whole number, then up to an even one (equal arms)."""
    n = math.ceil(float(size) - 1e-9)
    return int(n + n % 2)


def rtsa_adjusted(fixed: float, share: float) -> int:
    """RTSA's heterogeneity-adjusted size: the *rounded* fixed size (:func:`rtsa_rounded`) divided by 1 - share
    (D^2 or I^2) and rounded again. Rounding twice can give one or two participants more than rounding
    fixed / (1 - share) once; :func:`required_information_size` and the TSA program round once."""
    return rtsa_rounded(rtsa_rounded(fixed) / (1.0 - _check_share(share)))


def _check_share(value: float, name: str = "D^2") -> float:
    value = float(value)
    if not math.isfinite(value) or not (0.0 <= value < 1.0):
        raise InputError(f"{name} = {value!r} is outside [0, 1)", column=name, valid=f"0 <= {name} < 1")
    return value


def heterogeneity(vi: ArrayLike, yi: ArrayLike) -> dict[str, float]:
    """Heterogeneity statistics of a random-effects meta-analysis as TSA and RTSA compute them.

    DerSimonian-Laird tau^2 = max(0, (Q - (k-1)) / (sum w - sum w^2 / sum w)), w = 1/v; I^2 = max(0, (Q-(k-1))/Q);
    D^2 = 1 - V_F / V_R with V_F = 1 / sum w and V_R = 1 / sum 1/(v + tau^2) (Wetterslev et al. 2009); the
    Hartung-Knapp-Sidik-Jonkman variance V_HKSJ = sum w*_i (y_i - mu*)^2 / ((k-1) sum w*) with w* = 1/(v + tau^2)
    (Hartung & Knapp 2001, not truncated at V_R, as RTSA's ``re_method = "DL_HKSJ"``) and D^2_HKSJ = 1 - V_F / V_HKSJ
    (0 when tau^2 = 0, where RTSA reports no random-effects model). Returns tau2, q, i2, d2, d2_hksj, v_fixed,
    v_random, v_hksj, mu_random.
    """
    v = _check_variances(vi)
    y = np.atleast_1d(np.asarray(yi, dtype=float))
    if y.shape != v.shape or not np.all(np.isfinite(y)):
        raise InputError("effects yi must be finite and as many as the variances vi", column="yi")
    k = y.size
    w = 1.0 / v
    mu_f = float(np.sum(w * y) / np.sum(w))
    q = float(np.sum(w * (y - mu_f) ** 2))
    df = max(k - 1, 1)
    tau2 = max(0.0, (q - (k - 1)) / (np.sum(w) - np.sum(w**2) / np.sum(w))) if k > 1 else 0.0
    i2 = max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0
    w_r = 1.0 / (v + tau2)
    mu_r = float(np.sum(w_r * y) / np.sum(w_r))
    v_fixed = float(1.0 / np.sum(w))
    v_random = float(1.0 / np.sum(w_r))
    v_hksj = float(np.sum(w_r * (y - mu_r) ** 2) / (df * np.sum(w_r)))
    d2 = 1.0 - v_fixed / v_random
    d2_hksj = 1.0 - v_fixed / v_hksj if tau2 > 0 else 0.0
    return {"tau2": float(tau2), "q": q, "i2": float(i2), "d2": float(d2), "d2_hksj": float(d2_hksj),
            "v_fixed": v_fixed, "v_random": v_random, "v_hksj": v_hksj, "mu_random": mu_r}


def _minimum_trials_variance(measure: str, effect: float, p_control: float | None, sd: float | None) -> float:
    """The per-participant variance 2 sigma^2 of RTSA's ``minTrial``: 1/p_C + 1/p_I - 2 (RR), the sum of the four
    inverse cell probabilities (OR), p_C q_C + p_I q_I (RD) or sd^2 (MD)."""
    if measure == "MD":
        if sd is None or not float(sd) > 0:
            raise InputError("the minimum number of trials of an MD needs the outcome's standard deviation",
                             column="sd", valid="a standard deviation > 0")
        return float(sd) ** 2
    if measure not in BINARY_MEASURES:
        raise InputError(f"no minimum number of trials for measure {measure!r}", column="measure",
                         valid="RR, OR, RD or MD")
    if p_control is None:
        raise InputError("the minimum number of trials needs the control-arm event proportion", column="p_control",
                         valid="a proportion in (0, 1)")
    p_c = float(p_control)
    p_i = treatment_proportion(measure, effect, p_c)
    if measure == "RR":
        return 1.0 / p_c + 1.0 / p_i - 2.0
    if measure == "OR":
        return 1.0 / p_i + 1.0 / p_c + 1.0 / (1.0 - p_i) + 1.0 / (1.0 - p_c)
    return p_c * (1.0 - p_c) + p_i * (1.0 - p_i)


def minimum_trials(
    measure: str,
    effect: float,
    tau2: float,
    p_control: float | None = None,
    sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.80,
    sides: int = 2,
    v_random: float | None = None,
    extra: int = 3,
) -> dict[str, Any]:
    """Minimum number of (further) trials of equal size, and participants per trial, for the power of a
    random-effects meta-analysis with between-trial variance tau^2 (Kulinskaya & Wood 2014; RTSA ``minTrial``).

    theta = log(effect) for RR and OR, else the effect; z = z_{1-alpha/sides} + z_{1-beta}. Prospective
    (``v_random`` None): K trials suffice when tau^2 < theta^2 K / z^2, so K_min = ceil(tau^2 z^2 / theta^2), and
    each needs ceil(2 sigma^2 / (theta^2 K / z^2 - tau^2)) participants. Retrospective, given the variance
    V_R of the present pooled estimate: K_min = ceil(tau^2 (z^2/theta^2 - 1/V_R)), per trial
    ceil(2 sigma^2 / (K / (z^2/theta^2 - 1/V_R) - tau^2)). 2 sigma^2 from RTSA (``_minimum_trials_variance``).
    Returns ``trials`` (K_min), and ``table``: rows (K, per trial, total) for K_min .. K_min + ``extra``;
    ``trials`` is 0 (and the table empty) when the present meta-analysis already has the power.
    """
    z2 = _z_sum(alpha, power, sides) ** 2
    theta = math.log(float(effect)) if is_ratio(measure) else float(effect)
    var = _minimum_trials_variance(measure, effect, p_control, sd)
    tau2 = float(tau2)
    if not (math.isfinite(tau2) and tau2 > 0):
        raise InputError(f"tau^2 = {tau2!r}: the minimum number of trials needs heterogeneity", column="tau2",
                         valid="tau^2 > 0")
    scale = z2 / theta**2 - (0.0 if v_random is None else 1.0 / float(v_random))
    if scale <= 0:
        return {"trials": 0, "tau2": tau2, "table": []}
    k_min = max(1, math.ceil(tau2 * scale - 1e-12))
    rows = []
    for k in range(k_min, k_min + extra + 1):
        slack = k / scale - tau2
        per = math.ceil(2.0 * var / slack) if slack > 0 else math.inf
        rows.append((k, per, k * per if math.isfinite(per) else math.inf))
    return {"trials": k_min, "tau2": tau2, "table": rows}
