"""Bayesian reinterpretation of one published estimate (a ratio or a difference) under a small set of reference
priors.

Zampieri FG, Casey JD, Shankar-Hari M, Harrell FE, Harhay MO (2021) Am J Respir Crit Care Med 203:543-552;
Spiegelhalter DJ, Abrams KR, Myles JP (2004) *Bayesian Approaches to Clinical Trials and Health-Care
Evaluation*, ch. 3 and 5 (skeptical and enthusiastic priors, the conjugate normal approximation).

Likelihood: the published ratio and its CI give yi = ln(est), se = (ln U - ln L) / (2 z_{(1+level)/2}), and
yi ~ N(theta, se^2) on the log scale. Prior theta ~ N(m0, s0^2). Posterior (conjugate normal):
precision 1/se^2 + 1/s0^2, mean (yi/se^2 + m0/s0^2) / precision; P(ratio < c) = Phi((ln c - mean) / sd).

Differences (MD, SMD, RD, GEN) are reinterpreted on their own, additive scale: every formula below holds with
ln(ratio) replaced by the difference itself (yi = est, se = (U - L) / (2 z), null 0, d = |MCID|), as in
Spiegelhalter, Abrams & Myles (2004, sec. 3.11 and 5.5) and Matthews (2001), whose constructions are written for
a normal likelihood on the difference scale. A difference has no default MCID: it must be given.

Direction of benefit (``benefit``, a :class:`~bayesmeta.benefit.Benefit`): 'below' when a ratio below 1 favours
the treatment (HR of death, RR of an adverse event; the MCID is below 1, e.g. 0.8), 'above' when a ratio above 1
does (RR of response; the MCID is above 1, e.g. 1.25). By default the direction of benefit follows the MCID. With
d = |ln MCID| and the tail probability q of the prior's strength (z_q = Phi^-1(1 - q)), every informative prior
has s0 = d / z_q:

- skeptical: m0 = 0, and P(benefit at least the MCID) = q (for 'below': P(ratio < MCID) = q);
- enthusiastic: m0 = ln(MCID), and P(harm, ratio on the other side of 1) = q;
- pessimistic: the mirror of the enthusiastic prior, m0 = -ln(MCID), and P(benefit, any ratio beyond 1 in the
  favourable direction) = q;
- vague: N(0, 10^2) on the log scale (essentially the likelihood); on a difference scale N(0, (45 d)^2), the
  same width in MCIDs as the log-scale prior has at the default MCID 0.8 (10 / |ln 0.8| = 44.8);
- flat: the improper uniform prior, the limit s0 -> infinity: the posterior is the likelihood;
- diamond_kaul_10, diamond_kaul_50, diamond_kaul_90: the skeptical priors of Diamond & Kaul (2004, J Am Coll
  Cardiol 43:1929), centred on no effect with 10%, 50% or 90% probability within the margin |ln MCID| of it:
  m0 = 0, s0 = |ln MCID| / z_{(1 + p)/2} (the strength does not apply: p sets the width);
- critical: the critical skeptical prior of Matthews (2001, Drug Inf J 35:1469), centred on no effect and just
  wide enough that the posterior credible interval at ``level`` touches the null, for a published interval that
  excludes it (significant): s0 = z se^2 / sqrt(yi^2 - z^2 se^2); with the interval L, U = yi -+ z se on the
  analysis scale (log limits for a ratio) its ``level`` interval is +-CPL, CPL = (U - L)^2 / (4 sqrt(U L)). A
  prior at least as sceptical as this one would make the result non-significant; for a non-significant interval
  it does not exist;
- a prior given directly (``prior_mean``, ``prior_sd``: m0 and s0 on the analysis scale, log for a ratio), named
  normal(m0, s0).

Strength (``strength``): 'moderate' q = 5% (the usual reference priors), 'strong' q = 2.5%, 'weak' q = 15%, or a
number q in (0, 0.5). A stronger prior is narrower.

ROPE (region of practical equivalence), default 0.9 to 1.1 on the ratio scale (within about 10% of no effect):
the posterior probability that the ratio lies inside it is reported. A difference has no default ROPE (P(in
ROPE) is NaN unless one is given, on the difference scale).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bayesmeta.benefit import Benefit
from bayesmeta.consistency import published_ratio_rows
from bayesmeta.errors import InputError, ModelError
from bayesmeta.scales import MEASURES, is_ratio, null_value, parse_measure

PRIORS: tuple[str, ...] = ("skeptical", "enthusiastic", "pessimistic", "vague", "flat", "critical")
DIAMOND_KAUL: dict[str, float] = {"diamond_kaul_10": 0.10, "diamond_kaul_50": 0.50, "diamond_kaul_90": 0.90}
"""Probability within the margin of no effect of each Diamond & Kaul (2004) skeptical prior."""
STRENGTHS: dict[str, float] = {"weak": 0.15, "moderate": 0.05, "strong": 0.025}
VAGUE_SD: float = 10.0
DEFAULT_ROPE: tuple[float, float] = (0.9, 1.1)
DEFAULT_MCID: float = 0.8
VAGUE_MCIDS: float = VAGUE_SD / abs(math.log(DEFAULT_MCID))
"""Width of the vague prior on a difference scale, in MCIDs (that of N(0, 10^2) on the log scale at MCID 0.8)."""


@dataclass(frozen=True)
class NormalPrior:
    """A normal prior on the analysis scale (log ratio, or the difference; sd = inf for the flat prior)."""

    name: str
    mean: float
    sd: float
    tail: float | None


def _tail_probability(strength: str | float) -> float:
    if isinstance(strength, str):
        if strength not in STRENGTHS:
            raise ModelError(f"unknown prior strength {strength!r} (valid: {', '.join(STRENGTHS)} or a number in (0, 0.5))")
        return STRENGTHS[strength]
    q = float(strength)
    if not 0.0 < q < 0.5:
        raise ModelError(f"prior tail probability {q!r} is outside (0, 0.5)")
    return q


def _analysis(values: np.ndarray | float, ratio: bool | np.ndarray) -> np.ndarray:
    """Reported values on the analysis scale, elementwise: log where ``ratio``, as they are elsewhere."""
    values = np.asarray(values, dtype=float)
    ratio = np.broadcast_to(np.asarray(ratio, dtype=bool), values.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ratio, np.log(np.where(ratio, values, 1.0)), values)


def _reported(values: np.ndarray, ratio: bool | np.ndarray) -> np.ndarray:
    """Analysis-scale values on the reported scale, elementwise: exp where ``ratio``."""
    values = np.asarray(values, dtype=float)
    ratio = np.broadcast_to(np.asarray(ratio, dtype=bool), values.shape)
    return np.where(ratio, np.exp(np.where(ratio, values, 0.0)), values)


def resolve_benefit(mcid: float, benefit: Benefit | str | None = None, measure: str = "HR") -> Benefit:
    """The side of the null (1 for a ratio ``measure``, 0 for a difference) where benefit lies (the MCID's side
    when ``benefit`` is None); checks that the MCID is on that side."""
    mcid = float(mcid)
    null = null_value(measure)
    if is_ratio(measure):
        if not math.isfinite(mcid) or mcid <= 0 or mcid == 1.0:
            raise InputError(f"MCID {mcid!r} is not a ratio other than 1", column="mcid",
                             valid="a ratio > 0 and != 1, e.g. 0.8 (benefit below 1) or 1.25 (benefit above 1)")
    elif not math.isfinite(mcid) or mcid == 0.0:
        raise InputError(f"MCID {mcid!r} of a {measure} is not a difference other than 0", column="mcid",
                         valid="a difference != 0 on the benefit side of 0, e.g. -1 (benefit below 0) or 0.2")
    inferred = Benefit.BELOW if mcid < null else Benefit.ABOVE
    if benefit is None:
        return inferred
    benefit = Benefit.parse(benefit, where="benefit")
    if benefit is not inferred:
        raise InputError(f"MCID {mcid:g} is on the wrong side of {null:g} for benefit {benefit.value} {null:g}",
                         column="mcid", valid=f"an MCID below {null:g} with benefit 'below', above {null:g} "
                         "with 'above'")
    return benefit


def _resolve_mcid(mcid: float | None, measure: str) -> float:
    """The MCID as given; None is 0.8 for a ratio and an error for a difference (no default)."""
    if mcid is not None:
        return float(mcid)
    if is_ratio(measure):
        return DEFAULT_MCID
    raise InputError(f"a {measure} has no default MCID", column="mcid",
                     valid="an MCID on the difference scale, on the benefit side of 0")


def direct_prior(mean: float, sd: float) -> NormalPrior:
    """A normal prior on the analysis scale (log ratio, or difference) given by its mean and sd."""
    if not (math.isfinite(mean) and math.isfinite(sd) and sd > 0):
        raise InputError(f"prior mean {mean!r} and sd {sd!r}", column="--prior-sd",
                         valid="a finite mean and a positive finite sd (analysis scale: log for a ratio)")
    return NormalPrior(f"normal({mean:g}, {sd:g})", float(mean), float(sd), None)


def critical_prior_sd(yi: np.ndarray | float, sei: np.ndarray | float, z: float) -> np.ndarray:
    """SD of Matthews' (2001) critical skeptical prior N(0, s0^2) for the likelihood N(yi, sei^2) on the analysis
    scale: s0 = z sei^2 / sqrt(yi^2 - z^2 sei^2), the prior under which the posterior interval at the level of
    ``z`` ends exactly at 0. With L, U = yi -+ z sei this is CPL / z, CPL = (U - L)^2 / (4 sqrt(U L)); NaN where
    the interval includes 0 (|yi| <= z sei)."""
    yi, sei = np.asarray(yi, dtype=float), np.asarray(sei, dtype=float)
    gap = yi**2 - (z * sei) ** 2
    return np.where(gap > 0, z * sei**2 / np.sqrt(np.where(gap > 0, gap, 1.0)), np.nan)


def make_prior(name: str, mcid: float | None = None, benefit: Benefit | str | None = None,
               strength: str | float = "moderate", measure: str = "HR") -> NormalPrior:
    """The reference prior ``name`` on the analysis scale of ``measure`` (see the module docstring); the
    critical prior depends on the published interval, see :func:`critical_prior_sd`."""
    mcid = _resolve_mcid(mcid, measure)
    resolve_benefit(mcid, benefit, measure)
    if name == "critical":
        raise ModelError("the critical prior depends on the published interval: use reinterpret()")
    ratio = is_ratio(measure)
    if name == "flat":
        return NormalPrior("flat", 0.0, math.inf, None)
    mean, sd = _prior_arrays(name, np.array([mcid]), strength, ratio)
    tail = _tail_probability(strength) if name in ("skeptical", "enthusiastic", "pessimistic") else None
    return NormalPrior(name, float(mean[0]), float(sd[0]), tail)


def _prior_arrays(name: str, mcid: np.ndarray, strength: str | float, ratio: bool | np.ndarray = True,
                  critical_sd: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Prior means and sds for many MCIDs at once (same definitions as :func:`make_prior`); ``ratio`` per MCID
    or for all; ``critical_sd``: the critical prior's sd per row (see :func:`critical_prior_sd`)."""
    ratio = np.broadcast_to(np.asarray(ratio, dtype=bool), mcid.shape)
    signed = _analysis(mcid, ratio)  # the MCID on the analysis scale
    d = np.abs(signed)
    zeros = np.zeros_like(d)
    if name == "vague":
        return zeros, np.where(ratio, VAGUE_SD, VAGUE_MCIDS * d)
    if name == "flat":
        return zeros, np.full_like(d, math.inf)
    if name == "critical":
        if critical_sd is None:
            raise ModelError("the critical prior depends on the published interval")
        return zeros, np.asarray(critical_sd, dtype=float)
    if name in DIAMOND_KAUL:
        within = DIAMOND_KAUL[name]
        return zeros, d / float(stats.norm.ppf(0.5 + within / 2.0))
    if name not in PRIORS:
        raise ModelError(f"unknown prior {name!r} (valid: {', '.join((*PRIORS, *DIAMOND_KAUL))})")
    sd = d / float(stats.norm.isf(_tail_probability(strength)))
    mean = {"skeptical": zeros, "enthusiastic": signed, "pessimistic": -signed}[name]
    return mean, sd


def likelihood_from_ci(estimate: float, ci_lower: float, ci_upper: float, level: float = 0.95,
                       measure: str = "HR") -> tuple[float, float]:
    """(yi, se) on the analysis scale from an estimate and its CI: for a ratio yi = ln est,
    se = (ln U - ln L) / (2 z_{(1+level)/2}); for a difference yi = est, se = (U - L) / (2 z)."""
    ratio = is_ratio(measure)
    y, se, _ = _likelihood_arrays(np.array([estimate]), np.array([ci_lower]), np.array([ci_upper]), level, ratio)
    if not np.isfinite(se[0]) or se[0] <= 0:
        raise InputError(f"interval {ci_lower:g} to {ci_upper:g} has no width: no standard error can be derived",
                         column="ci_upper", valid="ci_lower < ci_upper")
    return float(y[0]), float(se[0])


def _likelihood_arrays(est: np.ndarray, low: np.ndarray, up: np.ndarray, level: float,
                       ratio: bool | np.ndarray = True) -> tuple[np.ndarray, ...]:
    if not 0.0 < level < 1.0:
        raise InputError(f"level {level!r} is outside (0, 1)", column="level", valid="e.g. 0.95")
    ratio = np.broadcast_to(np.asarray(ratio, dtype=bool), est.shape)
    for values, column in ((est, "estimate"), (low, "ci_lower"), (up, "ci_upper")):
        if np.any(~np.isfinite(values)):
            raise InputError("estimates and limits must be finite", column=column, valid="a finite number")
        if np.any(ratio & (values <= 0)):
            raise InputError("ratios must be finite and > 0", column=column, valid="a ratio > 0")
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    y = _analysis(est, ratio)
    se = (_analysis(up, ratio) - _analysis(low, ratio)) / (2.0 * z)
    return y, se, z


@dataclass(frozen=True)
class ReinterpretResult:
    """Posterior of one published estimate under one prior: analysis-scale mean/sd (``post_mean``, ``post_sd``;
    log scale for a ratio), reported-scale median and credible interval (``median``, ``post_ci_lower``,
    ``post_ci_upper``); ``estimate``, ``ci_lower``, ``ci_upper`` are the published estimate and CI."""

    estimate: float
    ci_lower: float
    ci_upper: float
    yi: float
    se: float
    prior: str
    prior_mean: float
    prior_sd: float
    strength: float | None
    benefit: Benefit
    mcid: float
    level: float
    post_mean: float
    post_sd: float
    median: float
    post_ci_lower: float
    post_ci_upper: float
    p_benefit: float  # P(effect < null) for benefit 'below', P(effect > null) for 'above'
    p_mcid: float  # P(effect < MCID) for 'below', P(effect > MCID) for 'above'
    p_rope: float  # NaN without a ROPE (a difference without --rope)
    rope: tuple[float, float] | None
    measure: str = "HR"

    @property
    def null(self) -> float:
        return null_value(self.measure)

    @property
    def p_below_1(self) -> float:
        """P(effect below the null): below 1 for a ratio, below 0 for a difference."""
        return self.p_benefit if self.benefit.below else 1.0 - self.p_benefit

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["benefit"] = self.benefit.value
        out["rope"] = None if self.rope is None else list(self.rope)
        out["prior_sd"] = None if not math.isfinite(self.prior_sd) else self.prior_sd
        out["p_rope"] = None if not math.isfinite(self.p_rope) else self.p_rope
        return out


def _posterior(y: np.ndarray, se: np.ndarray, m0: np.ndarray, s0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Conjugate normal update, vectorised; s0 = inf is the flat prior."""
    prior_precision = np.where(np.isfinite(s0), 1.0 / np.where(np.isfinite(s0), s0, 1.0) ** 2, 0.0)
    precision = 1.0 / se**2 + prior_precision
    mean = (y / se**2 + m0 * prior_precision) / precision
    return mean, np.sqrt(1.0 / precision)


def _summaries(mean: np.ndarray, sd: np.ndarray, below: np.ndarray, mcid: np.ndarray,
               rope: np.ndarray, z: float, ratio: bool | np.ndarray = True) -> dict[str, np.ndarray]:
    """Reported-scale summaries; ``rope``: (n, 2) bounds on the reported scale (NaN: no ROPE)."""
    cdf = stats.norm.cdf
    ratio = np.broadcast_to(np.asarray(ratio, dtype=bool), mean.shape)
    p_lt_null = cdf(-mean / sd)
    p_lt_mcid = cdf((_analysis(mcid, ratio) - mean) / sd)
    rope = np.broadcast_to(np.asarray(rope, dtype=float), (*mean.shape, 2))
    lo, hi = _analysis(rope[..., 0], ratio), _analysis(rope[..., 1], ratio)
    p_rope = np.where(np.isfinite(lo), cdf((hi - mean) / sd) - cdf((lo - mean) / sd), np.nan)
    return {
        "median": _reported(mean, ratio),
        "post_ci_lower": _reported(mean - z * sd, ratio),
        "post_ci_upper": _reported(mean + z * sd, ratio),
        "p_benefit": np.where(below, p_lt_null, 1.0 - p_lt_null),
        "p_mcid": np.where(below, p_lt_mcid, 1.0 - p_lt_mcid),
        "p_rope": p_rope,
    }


def _check_rope(rope: Sequence[float] | None, measure: str = "HR") -> tuple[float, float] | None:
    """The ROPE on the reported scale: as given, else 0.9 to 1.1 for a ratio and none for a difference."""
    ratio = is_ratio(measure)
    if rope is None:
        return DEFAULT_ROPE if ratio else None
    lo, hi = (float(r) for r in rope)
    if ratio and not (0 < lo < hi and math.isfinite(hi)):
        raise InputError(f"ROPE ({lo:g}, {hi:g}) is not an interval of ratios", column="rope",
                         valid="two ratios 0 < lower < upper, e.g. 0.9 1.1")
    if not ratio and not (lo < hi and math.isfinite(lo) and math.isfinite(hi)):
        raise InputError(f"ROPE ({lo:g}, {hi:g}) is not an interval of differences", column="rope",
                         valid="two differences lower < upper, e.g. -0.1 0.1")
    return lo, hi


def reinterpret(
    estimate: float,
    ci_lower: float,
    ci_upper: float,
    prior: str = "skeptical",
    mcid: float | None = None,
    level: float = 0.95,
    rope: Sequence[float] | None = None,
    benefit: Benefit | str | None = None,
    strength: str | float = "moderate",
    prior_mean: float | None = None,
    prior_sd: float | None = None,
    measure: str = "HR",
) -> ReinterpretResult:
    """Posterior of a published estimate (``measure``: a ratio, or a difference on its own scale; estimate and
    CI at ``level``) under a reference prior, or under the normal prior N(prior_mean, prior_sd^2) on the
    analysis scale when both are given. ``mcid`` defaults to 0.8 for a ratio; a difference needs one.

    The credible interval is at the same ``level`` as the published CI. See the module docstring for the priors,
    the direction of benefit and the ROPE.
    """
    measure = parse_measure(measure, column="measure")
    ratio = is_ratio(measure)
    mcid = _resolve_mcid(mcid, measure)
    rope = _check_rope(rope, measure)
    if not ci_lower <= estimate <= ci_upper:
        raise InputError(f"estimate {estimate:g} lies outside its CI {ci_lower:g} to {ci_upper:g}",
                         column="estimate", valid="ci_lower <= estimate <= ci_upper")
    y, se = likelihood_from_ci(estimate, ci_lower, ci_upper, level, measure)
    benefit = resolve_benefit(mcid, benefit, measure)
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    if (prior_mean is None) != (prior_sd is None):
        raise InputError("a prior given directly needs both its mean and its sd", column="--prior-mean",
                         valid="--prior-mean M --prior-sd S (analysis scale: log for a ratio)")
    if prior_mean is not None:
        p = direct_prior(prior_mean, prior_sd)
    elif prior == "critical":
        s0 = float(critical_prior_sd(y, se, z))
        if not math.isfinite(s0):
            raise InputError(f"the interval {ci_lower:g} to {ci_upper:g} includes the null "
                             f"{null_value(measure):g}: a critical skeptical prior (Matthews 2001) exists only "
                             "for an interval that excludes it", column="--prior",
                             valid="another prior, or a significant result")
        p = NormalPrior("critical", 0.0, s0, None)
    else:
        p = make_prior(prior, mcid, benefit, strength, measure)
    mean, sd = _posterior(np.array([y]), np.array([se]), np.array([p.mean]), np.array([p.sd]))
    bounds = np.array([rope if rope is not None else (np.nan, np.nan)], dtype=float)
    s = _summaries(mean, sd, np.array([benefit.below]), np.array([mcid]), bounds, z, ratio)
    return ReinterpretResult(
        estimate=float(estimate), ci_lower=float(ci_lower), ci_upper=float(ci_upper), yi=y, se=se,
        prior=p.name, prior_mean=p.mean, prior_sd=p.sd, strength=p.tail, benefit=benefit, mcid=float(mcid),
        level=float(level), post_mean=float(mean[0]), post_sd=float(sd[0]),
        **{key: float(value[0]) for key, value in s.items()}, rope=rope, measure=measure,
    )


def reinterpret_published(
    published: pd.DataFrame | str | Path,
    priors: Sequence[str] = ("skeptical", "enthusiastic", "pessimistic", "vague"),
    mcid: float = DEFAULT_MCID,
    strength: str | float = "moderate",
    rope: Sequence[float] = DEFAULT_ROPE,
    benefit: Mapping[str, Benefit | str] | Benefit | str | None = None,
    level: float = 0.95,
    difference_mcid: Mapping[str, float] | float | None = None,
    difference_rope: Sequence[float] | None = None,
) -> pd.DataFrame:
    """Every row of a published-results table with a CI (ratios HR/RR/OR and differences MD/SMD/RD/GEN), under
    each prior: one long table.

    Ratios: ``mcid`` is given for benefit below 1 (e.g. 0.8); ``benefit`` maps outcome names to their direction
    of benefit (the plan's; or one Benefit for every row), and rows of an outcome whose benefit lies above 1
    (response rates, where a ratio above 1 favours the treatment) use 1/mcid; outcomes not in the map are taken
    as 'below'. ROPE bounds are used as given for both directions.
    Differences are reinterpreted on their own scale with ``difference_mcid`` (outcome -> MCID on the difference
    scale, on the outcome's benefit side, or one value for every row; its sign sets the direction when the
    outcome has none in ``benefit``) and ``difference_rope`` (none by default: P(in ROPE) is NaN); a difference
    row without an MCID is skipped (a difference has no default MCID).
    Rows without a CI or with a degenerate one (lower = upper, e.g. "1.00 (1.00, 1.00)") are kept once per prior
    with status 'skipped' and the reason; all others have status 'ok'. The critical prior (Matthews 2001) is
    skipped for rows whose interval includes the null.
    Columns: the row's key columns and spreadsheet ``row``, prior, benefit, mcid, estimate, ci_lower, ci_upper,
    yi, se, prior_mean, prior_sd, post_mean, post_sd, median, post_ci_lower, post_ci_upper, p_benefit, p_mcid,
    p_rope, status, reason. All rows x priors are computed in one vectorised pass.
    """
    rope = _check_rope(rope, "HR")
    diff_rope = _check_rope(difference_rope, "MD") if difference_rope is not None else None
    if resolve_benefit(mcid) is not Benefit.BELOW:
        raise InputError(f"MCID {mcid:g} must be given for benefit below 1 (e.g. 0.8)", column="mcid")
    rows = published_ratio_rows(published, measures=MEASURES)
    ratio = np.array([is_ratio(m) for m in rows["measure"]], dtype=bool)
    est, low, up = (rows[c].to_numpy(dtype=float) for c in ("estimate", "ci_lower", "ci_upper"))
    has_ci = np.isfinite(est) & np.isfinite(low) & np.isfinite(up)
    outcomes = [str(o) for o in rows["outcome"]]
    if isinstance(difference_mcid, Mapping):
        diff_mcid = np.array([float(difference_mcid.get(o, math.nan)) for o in outcomes], dtype=float)
    else:
        diff_mcid = np.full(len(rows), math.nan if difference_mcid is None else float(difference_mcid))
    has_mcid = ratio | (np.isfinite(diff_mcid) & (diff_mcid != 0))
    usable = has_ci & (up > low) & (low <= est) & (est <= up) & has_mcid
    reason = np.where(~has_ci, "no confidence interval printed",
                      np.where(has_ci & (up <= low), "degenerate interval (lower = upper): no standard error",
                               np.where(has_ci & ((low > est) | (est > up)), "estimate outside its CI",
                                        np.where(~has_mcid, "a difference has no default MCID: give its "
                                                 "outcome's MCID", ""))))
    if benefit is None or isinstance(benefit, Mapping):
        directions = {str(k): Benefit.parse(v) for k, v in (benefit or {}).items()}
        # without a direction: below the null, except a difference whose MCID lies above 0
        below = np.array([directions[o].below if o in directions else bool(r or not m > 0)
                          for o, r, m in zip(outcomes, ratio, diff_mcid)], dtype=bool)
    else:  # one direction for every row
        below = np.full(len(rows), Benefit.parse(benefit).below)
    for o, r, m, b, ok in zip(outcomes, ratio, diff_mcid, below, has_mcid):
        if not r and ok:
            resolve_benefit(m, Benefit.BELOW if b else Benefit.ABOVE, "MD")  # the MCID on the benefit side
    row_mcid = np.where(ratio, np.where(below, mcid, 1.0 / mcid), np.where(has_mcid & ~ratio, diff_mcid, 0.0))
    bounds = np.where(ratio[:, None], np.asarray(rope, dtype=float)[None, :],
                      np.asarray(diff_rope if diff_rope is not None else (math.nan, math.nan), dtype=float)[None, :])

    def safe(values: np.ndarray, fill: float | np.ndarray) -> np.ndarray:
        """Values of usable rows; a harmless placeholder (or NaN in the output) for skipped ones."""
        return np.where(usable, values, fill)

    y, se, z = _likelihood_arrays(safe(est, 1.0), safe(low, 0.5), safe(up, 2.0), level, ratio)
    critical = critical_prior_sd(y, se, z)
    safe_mcid = np.where(has_mcid, row_mcid, np.where(ratio, 0.8, -1.0))

    tables = []
    for name in priors:
        m0, s0 = _prior_arrays(name, safe_mcid, strength, ratio, critical_sd=critical)
        ok = usable & np.isfinite(m0) & ~np.isnan(s0)
        s0_safe = np.where(np.isnan(s0), 1.0, s0)
        mean, sd = _posterior(y, se, m0, s0_safe)
        summary = _summaries(mean, sd, below, safe_mcid, bounds, z, ratio)
        table = rows[["outcome", "analysis", "variable", "level", "measure", "row"]].copy()
        table.insert(0, "prior", name)
        table["benefit"] = np.where(below, Benefit.BELOW.value, Benefit.ABOVE.value)
        table["mcid"] = np.where(has_mcid, row_mcid, np.nan)
        table["estimate"], table["ci_lower"], table["ci_upper"] = est, low, up
        table["yi"], table["se"] = np.where(ok, y, np.nan), np.where(ok, se, np.nan)
        table["prior_mean"], table["prior_sd"] = m0, s0
        table["post_mean"], table["post_sd"] = np.where(ok, mean, np.nan), np.where(ok, sd, np.nan)
        for key, values in summary.items():
            table[key] = np.where(ok, values, np.nan)
        table["status"] = np.where(ok, "ok", "skipped")
        table["reason"] = np.where(usable & ~ok, "the interval includes the null: no critical prior (Matthews "
                                   "2001)", reason)
        tables.append(table)
    if not tables:
        raise ModelError("no priors requested")
    return pd.concat(tables, ignore_index=True)
