"""Trial sequential analysis of a cumulative meta-analysis: the Z-curve, its boundaries and what it crossed.

Wetterslev J, Thorlund K, Brok J, Gluud C (2008) J Clin Epidemiol 61:64-75 (TSA);
Wetterslev J, Jakobsen JC, Gluud C (2017) BMC Med Res Methodol 17:39 (TSA in practice);
Thorlund K et al. (2017) User manual for Trial Sequential Analysis, Copenhagen Trial Unit (TSA-adjusted CI).

Information beyond the RIS: boundaries are planned up to information fraction 1 (the RIS); a look with more
information than the RIS is compared with the final boundary, at fraction 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from bayesmeta.effect_data import EffectArgs, EffectData, effect_args
from bayesmeta.errors import InputError, ModelError
from bayesmeta.scales import BINARY_MEASURES, TSA_INPUT_MEASURES, is_ratio, reported_float
from bayesmeta.tsa.groupseq import FUTILITY, Boundaries, Convention, boundaries, design, futility_rule_for
from bayesmeta.tsa.size import (HETEROGENEITY, MAX_INFORMATION_SIZE, _check_diversity, _check_variances,
                                fixed_information_size, minimum_trials, rtsa_rounded)
from bayesmeta.tsa.size import heterogeneity as heterogeneity_statistics


# -- cumulative meta-analysis ---------------------------------------------------------------------------------
def _pool(y: np.ndarray, v: np.ndarray, method: str) -> tuple[float, float, float]:
    """Inverse-variance pooling: common effect (FE), DerSimonian & Laird (1986) random effects (DL), or DL with the
    Hartung-Knapp-Sidik-Jonkman variance (HKSJ: sum w*(y - mu)^2 / ((k - 1) sum w*), RTSA's "DL_HKSJ").

    DL: tau^2 = max(0, (Q - (k - 1)) / (sum w - sum w^2 / sum w)), w = 1/v; weights 1/(v + tau^2).
    Returns (estimate, standard error, tau^2).
    """
    w = 1.0 / v
    tau2 = 0.0
    if method in ("DL", "HKSJ") and y.size > 1:
        mu_fixed = np.sum(w * y) / np.sum(w)
        q = np.sum(w * (y - mu_fixed) ** 2)
        tau2 = max(0.0, (q - (y.size - 1)) / (np.sum(w) - np.sum(w**2) / np.sum(w)))
    w_star = 1.0 / (v + tau2)
    mu = float(np.sum(w_star * y) / np.sum(w_star))
    if method == "HKSJ" and y.size > 1:
        return mu, float(math.sqrt(np.sum(w_star * (y - mu) ** 2) / ((y.size - 1) * np.sum(w_star)))), float(tau2)
    return mu, float(math.sqrt(1.0 / np.sum(w_star))), float(tau2)


def _sample_sizes(args: EffectArgs, sample_sizes: ArrayLike | None) -> ArrayLike | None:
    """``sample_sizes`` as given, else the arm totals of an EffectData with counts (in its study order)."""
    if sample_sizes is not None or args.data is None or args.data.counts is None:
        return sample_sizes
    counts = args.data.counts.loc[list(args.data.study)]
    return (counts["total_treatment"] + counts["total_control"]).to_numpy(dtype=float)


def _check_method(method: str) -> str:
    if method not in ("DL", "FE", "HKSJ"):
        raise InputError(f"unknown pooling method {method!r}", column="method", valid="'DL', 'HKSJ' or 'FE'")
    return method


def cumulative_z(
    data: EffectData | ArrayLike,
    vi: ArrayLike | None = None,
    order: ArrayLike | None = None,
    sample_sizes: ArrayLike | None = None,
    method: str = "DL",
    ris: float | None = None,
    study: Sequence[str] | None = None,
    *,
    sei: ArrayLike | None = None,
) -> pd.DataFrame:
    """The cumulative Z-curve: after each study in chronological order, the pooled log effect, its SE and
    Z = estimate / SE, with the accrued participants and their fraction of the RIS (Wetterslev et al. 2008).

    order: sort key (e.g. publication year; ties keep the input order); None keeps the input order.
    sample_sizes: participants per study (both arms; default: the arm totals of an EffectData with counts).
    method: 'DL' (DerSimonian-Laird), 'HKSJ' (DL with the Hartung-Knapp-Sidik-Jonkman variance) or 'FE'.
    ``data``: an EffectData, or the effects yi with
    ``vi`` (or ``sei``) and ``study`` labels.
    Columns: look, study, n, n_cumulative, fraction (n_cumulative / ris, NaN without ris), estimate, se, z, tau2.
    """
    args = effect_args(data, sei, vi=vi, study=study)
    study, sample_sizes = args.study, _sample_sizes(args, sample_sizes)
    y = np.atleast_1d(np.asarray(args.yi, dtype=float))
    v = _check_variances(args.variances())
    if y.shape != v.shape or not np.all(np.isfinite(y)):
        raise InputError("effects yi must be finite and as many as the variances vi", column="yi")
    method = _check_method(method)
    k = y.size
    labels = [f"study {i + 1}" for i in range(k)] if study is None else [str(s) for s in study]
    if len(labels) != k:
        raise InputError(f"{len(labels)} study labels for {k} effects", column="study")
    if sample_sizes is None:
        n = np.full(k, np.nan)
    else:
        n = np.atleast_1d(np.asarray(sample_sizes, dtype=float))
        if n.shape != y.shape or not np.all(np.isfinite(n)) or np.any(n <= 0):
            raise InputError("sample sizes must be positive numbers, one per study", column="sample_sizes",
                             valid="participants per study (both arms), > 0")
    if order is None:
        index = np.arange(k)
    else:
        keys = np.atleast_1d(np.asarray(order))
        if keys.shape != y.shape:
            raise InputError(f"{keys.size} order keys for {k} studies", column="order")
        index = np.argsort(keys, kind="stable")
    rows = []
    for j in range(1, k + 1):
        chosen = index[:j]
        estimate, se, tau2 = _pool(y[chosen], v[chosen], method)
        rows.append((estimate, se, tau2))
    pooled = np.array(rows)
    n_sorted = n[index]
    n_cumulative = np.cumsum(n_sorted)
    fraction = n_cumulative / float(ris) if ris is not None else np.full(k, np.nan)
    return pd.DataFrame({
        "look": np.arange(1, k + 1),
        "study": [labels[i] for i in index],
        "n": n_sorted,
        "n_cumulative": n_cumulative,
        "fraction": fraction,
        "estimate": pooled[:, 0],
        "se": pooled[:, 1],
        "z": pooled[:, 0] / pooled[:, 1],
        "tau2": pooled[:, 2],
    })


# -- the whole analysis -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TSAResult:
    """A trial sequential analysis: information size, Z-curve with its boundaries, and what the curve crossed.

    ``curve`` has one row per look (study added) with the columns of :func:`cumulative_z` and ``efficacy``
    (|Z| boundary at that look; for looks beyond the RIS, the final boundary) and ``futility`` (inner wedge,
    NaN where there is none). ``crossed_efficacy_at`` / ``crossed_futility_at`` are the first look (1-based)
    where |Z| >= efficacy, resp. 0 < |Z| < futility before the RIS; ``reached_ris_at`` the first look whose
    accrued information reaches the RIS. Information is counted in ``unit``: participants (RR, OR, RD, MD) or
    events (HR; a study's events-equivalent is 1 / (a (1 - a) se^2), a the allocation share).
    ``adjusted_ci`` is the TSA-adjusted confidence interval of the pooled effect at the last look, estimate +-
    c_K se with c_K the monitoring boundary there (reported scale; unbounded before any alpha is spent), beside
    the naive ``ci`` with z_{1-alpha/sides}. ``ris_rtsa`` is RTSA's doubly rounded size (:func:`rtsa_adjusted`;
    None for an HR, which RTSA does not size), ``minimum_trials`` RTSA's retrospective minimum number of further
    trials (:func:`minimum_trials`), None
    where it does not apply.
    """

    ris_fixed: float
    diversity: float
    diversity_source: str
    ris: float
    ris_rounded: int
    p_control: float
    relative_risk_reduction: float
    alpha: float
    power: float
    method: str
    convention: str
    curve: pd.DataFrame
    boundaries: Boundaries
    crossed_efficacy_at: int | None
    crossed_efficacy_side: str | None
    crossed_futility_at: int | None
    reached_ris_at: int | None
    final_z: float = field(default=math.nan)
    measure: str = "RR"
    effect: float = math.nan
    unit: str = "participants"
    heterogeneity: str = "D2"
    sides: int = 2
    spending: str = "obf"
    futility: str = "non-binding"
    inflation_factor: float = 1.0
    ris_rtsa: int | None = None
    estimate: float = math.nan
    ci: tuple[float, float] = (math.nan, math.nan)
    adjusted_ci: tuple[float, float] = (math.nan, math.nan)
    statistics: dict[str, float] = field(default_factory=dict)
    minimum_trials: dict[str, Any] | None = None
    futility_rule: str | None = None

    @property
    def crossed_efficacy(self) -> bool:
        return self.crossed_efficacy_at is not None

    @property
    def reached_ris(self) -> bool:
        return self.reached_ris_at is not None

    @property
    def further_information(self) -> float:
        """Information (participants or events) still needed to reach the RIS; 0 once reached."""
        accrued = float(self.curve["n_cumulative"].iloc[-1])
        return max(0.0, self.ris_rounded - accrued)

    def as_dict(self) -> dict[str, Any]:
        curve = self.curve.astype(object).where(self.curve.notna(), None)
        records = []
        for row in curve.to_dict(orient="records"):
            records.append({key: (None if isinstance(val, float) and not math.isfinite(val) else
                                  (val.item() if hasattr(val, "item") else val)) for key, val in row.items()})
        return {
            "measure": self.measure,
            "effect": self.effect,
            "unit": self.unit,
            "ris_fixed": self.ris_fixed,
            "heterogeneity": self.heterogeneity,
            "diversity": self.diversity,
            "diversity_source": self.diversity_source,
            "inflation_factor": self.inflation_factor,
            "ris": self.ris,
            "ris_rounded": self.ris_rounded,
            "ris_rtsa": self.ris_rtsa,
            "further_information": self.further_information,
            "p_control": self.p_control,
            "relative_risk_reduction": self.relative_risk_reduction,
            "alpha": self.alpha,
            "power": self.power,
            "sides": self.sides,
            "spending": self.spending,
            "futility": self.futility,
            "futility_rule": self.futility_rule,
            "method": self.method,
            "convention": self.convention,
            "statistics": self.statistics,
            "minimum_trials": self.minimum_trials,
            "estimate": self.estimate,
            "ci": list(self.ci),
            "adjusted_ci": list(self.adjusted_ci),
            "crossed_efficacy": self.crossed_efficacy,
            "crossed_efficacy_at": self.crossed_efficacy_at,
            "crossed_efficacy_side": self.crossed_efficacy_side,
            "crossed_futility_at": self.crossed_futility_at,
            "reached_ris": self.reached_ris,
            "reached_ris_at": self.reached_ris_at,
            "final_z": self.final_z,
            "curve": records,
            "boundaries": self.boundaries.as_dict(),
        }


def _effect_of(measure: str, relative_risk_reduction: float | None, effect: float | None) -> float:
    """The anticipated effect on the reported scale; a relative risk reduction is the RR 1 - RRR, or for an HR
    the relative hazard reduction, HR = 1 - RRR."""
    if effect is not None and relative_risk_reduction is not None:
        raise InputError("give the anticipated effect once: as mcid or as a relative risk reduction",
                         column="relative_risk_reduction", valid="one of mcid, relative_risk_reduction")
    if effect is not None:
        value = float(effect)
    elif relative_risk_reduction is not None:
        if not is_ratio(measure):
            raise InputError(f"a relative risk reduction does not size a {measure} analysis", column="mcid",
                             valid=f"the anticipated {measure} (mcid)")
        rrr = float(relative_risk_reduction)
        if not math.isfinite(rrr) or rrr == 0.0 or rrr >= 1.0:
            raise InputError(f"relative risk reduction {rrr!r} is not usable", column="relative_risk_reduction",
                             valid="a non-zero number below 1 (negative for a relative increase)")
        value = 1.0 - rrr
    else:
        raise InputError("the anticipated effect is needed", column="mcid",
                         valid="mcid (a ratio for RR, OR, HR; a difference for RD, MD) or a relative risk reduction")
    if not math.isfinite(value):
        raise InputError(f"anticipated effect {value!r} is not a finite number", column="mcid")
    return value


def _information(measure: str, args: EffectArgs, sample_sizes: ArrayLike | None, v: np.ndarray,
                 sd: float | None, allocation: float) -> tuple[np.ndarray, str]:
    """Information per study: participants, or for an HR the events-equivalent 1 / (a (1 - a) se^2); for an MD
    without sizes, the participants-equivalent 4 sd^2 / se^2."""
    if measure == "HR":
        return 1.0 / (allocation * (1.0 - allocation) * v), "events"
    sizes = _sample_sizes(args, sample_sizes)
    if sizes is None and measure == "MD" and sd is not None:
        return 4.0 * float(sd) ** 2 / v, "participants"
    if sizes is None:
        raise InputError("the TSA needs the participants of each study", column="sample_sizes",
                         valid="sample_sizes, or arm counts / total_treatment and total_control")
    return np.atleast_1d(np.asarray(sizes, dtype=float)), "participants"


def _diversity_choice(heterogeneity: str, diversity: float | str | None, stats_: dict[str, float],
                      method: str, k: int) -> tuple[float, str]:
    if diversity is not None and not isinstance(diversity, str):
        return _check_diversity(diversity), "given"
    if isinstance(diversity, str) and diversity != "auto":
        raise InputError(f"diversity {diversity!r} is not a number or 'auto'", column="diversity",
                         valid="'auto' or a D^2 in [0, 1)")
    if heterogeneity not in HETEROGENEITY:
        raise InputError(f"unknown heterogeneity correction {heterogeneity!r}", column="heterogeneity",
                         valid=", ".join(HETEROGENEITY))
    if heterogeneity == "none" or method == "FE":
        return 0.0, "none" if heterogeneity == "none" else "FE: 0"
    tau = f"DerSimonian-Laird tau^2 = {stats_['tau2']:.4g}, k = {k}"
    if heterogeneity == "D2":
        return stats_["d2"], f"estimated ({tau})"
    if heterogeneity == "D2-HKSJ":
        return stats_["d2_hksj"], f"estimated from the Hartung-Knapp-Sidik-Jonkman variance ({tau})"
    return stats_["i2"], f"inconsistency I^2 ({tau})"


def tsa(
    data: EffectData | ArrayLike,
    vi: ArrayLike | None = None,
    sample_sizes: ArrayLike | None = None,
    p_control: float | None = None,
    relative_risk_reduction: float | None = None,
    alpha: float = 0.05,
    power: float = 0.80,
    diversity: float | str | None = "auto",
    order: ArrayLike | None = None,
    method: str = "DL",
    convention: Convention = "two-sided",
    futility: bool | str = True,
    study: Sequence[str] | None = None,
    *,
    sei: ArrayLike | None = None,
    measure: str | None = None,
    mcid: float | None = None,
    sd: float | None = None,
    allocation: float = 0.5,
    heterogeneity: str = "D2",
    sides: int = 2,
    spending: str = "obf",
    inflate: bool = False,
    design_fractions: ArrayLike | None = None,
    rounding: str = "tsa",
    futility_rule: str | None = None,
    beta_adjustment: bool = True,
    two_sided_power: bool = False,
) -> TSAResult:
    """Trial sequential analysis (Wetterslev et al. 2008, 2017) of a binary (RR, OR, RD), continuous (MD) or
    time-to-event (HR) outcome.

    ``data``: an EffectData (with arm counts, ``sample_sizes`` default to the arm totals and ``p_control`` to
    the pooled control-arm proportion), or the effects yi with ``vi`` (or ``sei``) and ``study`` labels.
    ``measure`` defaults to the EffectData's measure when it is HR, else to RR with a ``relative_risk_reduction``
    (the TSA program's sizing of any binary outcome), else to the EffectData's measure when it is one of RR, OR,
    RD, MD, HR, else RR. The anticipated effect: ``mcid`` on the reported scale (RR, OR, HR ratios; RD, MD
    differences) or, for RR, OR and HR, ``relative_risk_reduction`` (RR = 1 - RRR; HR = 1 - RRR). MD needs ``sd``, the outcome's standard deviation; HR sizes events
    with ``allocation`` the intervention share (:func:`bayesmeta.tsa.size.fixed_information_size`).

    Heterogeneity: ``diversity`` a given D^2, or 'auto' (or None) for the correction ``heterogeneity``: 'D2'
    (DerSimonian-Laird D^2), 'D2-HKSJ' (D^2 from the Hartung-Knapp-Sidik-Jonkman variance, RTSA's default), 'I2',
    or 'none'; with ``method`` 'FE' no correction. The RIS is the fixed size / (1 - D^2), rounded up once (TSA
    program); RTSA's doubly rounded value is reported beside it. ``inflate``: multiply the RIS by the inflation
    factor of the sequential design (:func:`bayesmeta.tsa.groupseq.design`) at ``design_fractions`` (a planned
    design, as RTSA's ``timing``), by default at the looks of the data. ``rounding`` 'rtsa': information fractions
    relative to RTSA's size, the fixed size rounded up to an even number, divided by 1 - D^2 and rounded again,
    times the inflation factor (not rounded; RTSA prints it rounded up to even); 'tsa' (default): the size
    fixed / (1 - D^2) x inflation rounded up once.

    Boundaries: ``spending`` 'obf' or 'pocock' alpha spending, ``sides`` 1 or 2, at the looks before the RIS plus
    a final look at the RIS; ``futility`` True or 'non-binding' (beta-spending futility boundaries the efficacy
    ones ignore), 'binding', False or 'none'. Two-sided futility follows ``futility_rule``
    (:data:`bayesmeta.tsa.groupseq.FUTILITY_RULES`): 'rtsa' (default for non-binding; RTSA's wedge) or 'rpact'
    (default for binding; the inner region -f_k < Z_k < f_k, with rpact's ``beta_adjustment`` and, for the
    inflation factor, ``two_sided_power``). The Z-curve pools with ``method`` ('DL', 'HKSJ', 'FE').
    """
    args = effect_args(data, sei, vi=vi, study=study)
    study = args.study
    if measure is None:
        own = args.data.measure if args.data is not None else None
        # an HR outcome keeps its own sizing by events (HR = 1 - RRR); a binary one is sized as the TSA program does
        measure = own if own == "HR" or (relative_risk_reduction is None and own not in (None, "GEN")) else "RR"
    if measure not in TSA_INPUT_MEASURES:
        raise InputError(f"no trial sequential analysis for measure {measure!r}", column="measure",
                         valid=", ".join(TSA_INPUT_MEASURES))
    reported_measure = measure
    if measure == "SMD":  # an SMD is an MD in units of the SD: the MD's information size with sd = 1
        measure, sd = "MD", 1.0 if sd is None else sd
    effect = _effect_of(measure, relative_risk_reduction, mcid)
    futility_kind = {True: "non-binding", False: "none"}.get(futility, futility) if isinstance(futility, bool) \
        else str(futility)
    if futility_kind not in FUTILITY:
        raise InputError(f"unknown futility {futility!r}", column="futility", valid=", ".join(FUTILITY))
    rule = futility_rule_for(futility_kind, futility_rule, sides, beta_adjustment, two_sided_power)
    rpact_options = dict(futility_rule=rule, beta_adjustment=beta_adjustment)
    if measure in BINARY_MEASURES and p_control is None:
        counts = None if args.data is None else args.data.counts
        if counts is None:
            raise InputError("the control-arm event proportion is needed (or arm counts to pool it from)",
                             column="p_control", valid="a proportion in (0, 1)")
        counts = counts.loc[list(args.data.study)]
        p_control = float(counts["events_control"].sum() / counts["total_control"].sum())
    y = np.atleast_1d(np.asarray(args.yi, dtype=float))
    v = _check_variances(args.variances())
    method = _check_method(method)
    n, unit = _information(measure, args, sample_sizes, v, sd, allocation)
    statistics = heterogeneity_statistics(v, y)
    d2, source = _diversity_choice(heterogeneity, diversity, statistics, method, y.size)
    ris_fixed = fixed_information_size(measure, effect, p_control=p_control, sd=sd, alpha=alpha, power=power,
                                       sides=sides, allocation=allocation)
    if d2 >= 1.0 - 1e-12:
        raise ModelError("diversity D^2 is 1: the heterogeneity-adjusted information size is infinite")
    ris = ris_fixed / (1.0 - d2)
    if not ris <= MAX_INFORMATION_SIZE:
        raise InputError(
            f"the required information size is {ris:.3g} {unit} (anticipated {measure} {effect:g}): no sequence "
            "of trials can reach it", column="mcid",
            valid=f"an anticipated effect further from the null (information size at most {MAX_INFORMATION_SIZE:.0e})")
    if rounding not in ("tsa", "rtsa"):
        raise InputError(f"unknown rounding {rounding!r}", column="rounding", valid="'tsa' or 'rtsa'")
    curve = cumulative_z(y, v, order=order, sample_sizes=n, method=method, ris=math.ceil(ris - 1e-9), study=study)
    beta = 1.0 - power
    inflation = 1.0
    if inflate:
        if design_fractions is None:
            fractions = curve["fraction"].to_numpy()
            planned = np.append(fractions[fractions < 1.0], 1.0)
        else:
            planned = np.asarray(design_fractions, dtype=float)
        inflation = design(planned, alpha=alpha, beta=beta, spending=spending, convention=convention, sides=sides,
                           futility=futility_kind, two_sided_power=two_sided_power,
                           **rpact_options).inflation_factor
        ris *= inflation
    if rounding == "rtsa":
        denominator = rtsa_rounded(rtsa_rounded(ris_fixed) / (1.0 - d2)) * inflation
        ris_rounded = rtsa_rounded(denominator)
    else:
        denominator = ris_rounded = math.ceil(ris - 1e-9)
    curve["fraction"] = curve["n_cumulative"].to_numpy() / denominator
    fractions = curve["fraction"].to_numpy()
    planned = np.append(fractions[fractions < 1.0], 1.0)
    if inflate:
        bounds = design(planned, alpha=alpha, beta=beta, spending=spending, convention=convention, sides=sides,
                        futility=futility_kind, two_sided_power=two_sided_power, **rpact_options).boundaries
    else:
        bounds = boundaries(planned, alpha=alpha, spending=spending, convention=convention, sides=sides,
                            beta=None if futility_kind == "none" else beta, binding=futility_kind == "binding",
                            wedge=True, **({} if rule is None else rpact_options))
    position = np.minimum(np.searchsorted(planned, fractions, side="left"), planned.size - 1)
    efficacy = bounds.efficacy[position]
    curve["efficacy"] = efficacy
    if bounds.futility is not None:
        wedge = np.where((fractions < 1.0) & (bounds.futility[position] > 0), bounds.futility[position], np.nan)
        curve["futility"] = wedge
    else:
        curve["futility"] = np.nan
    z = curve["z"].to_numpy()
    crossed = np.flatnonzero((np.abs(z) if sides == 2 else z) >= efficacy)
    crossed_at = int(crossed[0]) + 1 if crossed.size else None
    side = None if crossed_at is None else ("upper" if z[crossed_at - 1] > 0 else "lower")
    wedge = curve["futility"].to_numpy()
    inside = np.flatnonzero(np.isfinite(wedge) & ((np.abs(z) if sides == 2 else z) < np.nan_to_num(wedge, nan=-1.0)))
    reached = np.flatnonzero(curve["n_cumulative"].to_numpy() >= ris_rounded)
    estimate, se = float(curve["estimate"].iloc[-1]), float(curve["se"].iloc[-1])
    naive_z = float(stats.norm.isf(alpha / sides))
    ci = _interval(measure, estimate, se, naive_z)
    adjusted = _interval(measure, estimate, se, float(efficacy[-1]))
    share = d2
    minimum = None
    if measure != "HR" and statistics["tau2"] > 0 and method != "FE":
        v_random = statistics["v_hksj"] if heterogeneity == "D2-HKSJ" else statistics["v_random"]
        minimum = minimum_trials(measure, effect, statistics["tau2"], p_control=p_control, sd=sd, alpha=alpha,
                                 power=power, sides=sides, v_random=v_random)
    return TSAResult(
        ris_fixed=ris_fixed,
        diversity=float(d2),
        diversity_source=source,
        ris=float(ris),
        ris_rounded=ris_rounded,
        p_control=math.nan if p_control is None else float(p_control),
        relative_risk_reduction=1.0 - effect if measure == "RR" else math.nan,
        alpha=float(alpha),
        power=float(power),
        method=method,
        convention=convention,
        curve=curve,
        boundaries=bounds,
        crossed_efficacy_at=crossed_at,
        crossed_efficacy_side=side,
        crossed_futility_at=int(inside[0]) + 1 if inside.size else None,
        reached_ris_at=int(reached[0]) + 1 if reached.size else None,
        final_z=float(z[-1]),
        measure=reported_measure,
        effect=effect,
        unit=unit,
        heterogeneity=heterogeneity if source != "given" else "given",
        sides=sides,
        spending=bounds.spending,
        futility=futility_kind,
        inflation_factor=float(inflation),
        ris_rtsa=None if measure == "HR" else rtsa_rounded(rtsa_rounded(rtsa_rounded(ris_fixed) / (1.0 - share))
                                                           * inflation),
        estimate=_reported(measure, estimate),
        ci=ci,
        adjusted_ci=adjusted,
        statistics=statistics,
        minimum_trials=minimum,
        futility_rule=rule,
    )


def _reported(measure: str, value: float) -> float:
    return reported_float(value, measure)


def _interval(measure: str, estimate: float, se: float, z: float) -> tuple[float, float]:
    """estimate +- z se on the reported scale; unbounded where z is infinite (no alpha spent yet)."""
    if not math.isfinite(z):
        low, high = -math.inf, math.inf
    else:
        low, high = estimate - z * se, estimate + z * se
    with np.errstate(over="ignore"):
        return _reported(measure, low), _reported(measure, high)
