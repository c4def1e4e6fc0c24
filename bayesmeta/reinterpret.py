"""Bayesian reinterpretation of one published ratio estimate under a small set of reference priors.

Zampieri FG, Casey JD, Shankar-Hari M, Harrell FE, Harhay MO (2021) Am J Respir Crit Care Med 203:543-552;
Spiegelhalter DJ, Abrams KR, Myles JP (2004) *Bayesian Approaches to Clinical Trials and Health-Care
Evaluation*, ch. 3 and 5 (skeptical and enthusiastic priors, the conjugate normal approximation).

Likelihood: the published ratio and its CI give yi = ln(est), se = (ln U - ln L) / (2 z_{(1+level)/2}), and
yi ~ N(theta, se^2) on the log scale. Prior theta ~ N(m0, s0^2). Posterior (conjugate normal):
precision 1/se^2 + 1/s0^2, mean (yi/se^2 + m0/s0^2) / precision; P(ratio < c) = Phi((ln c - mean) / sd).

Direction of benefit (``benefit``, a :class:`~bayesmeta.benefit.Benefit`): 'below' when a ratio below 1 favours
the treatment (HR of death, RR of an adverse event; the MCID is below 1, e.g. 0.8), 'above' when a ratio above 1
does (RR of response; the MCID is above 1, e.g. 1.25). By default the direction of benefit follows the MCID. With
d = |ln MCID| and the tail probability q of the prior's strength (z_q = Phi^-1(1 - q)), every informative prior
has s0 = d / z_q:

- skeptical: m0 = 0, and P(benefit at least the MCID) = q (for 'below': P(ratio < MCID) = q);
- enthusiastic: m0 = ln(MCID), and P(harm, ratio on the other side of 1) = q;
- pessimistic: the mirror of the enthusiastic prior, m0 = -ln(MCID), and P(benefit, any ratio beyond 1 in the
  favourable direction) = q;
- vague: N(0, 10^2) on the log scale (essentially the likelihood);
- flat: the improper uniform prior, the limit s0 -> infinity: the posterior is the likelihood;
- diamond_kaul_10, diamond_kaul_50, diamond_kaul_90: the skeptical priors of Diamond & Kaul (2004, J Am Coll
  Cardiol 43:1929), centred on no effect with 10%, 50% or 90% probability within the margin |ln MCID| of it:
  m0 = 0, s0 = |ln MCID| / z_{(1 + p)/2} (the strength does not apply: p sets the width);
- a prior given directly (``prior_mean``, ``prior_sd``: m0 and s0 on the log scale), named normal(m0, s0).

Strength (``strength``): 'moderate' q = 5% (the usual reference priors), 'strong' q = 2.5%, 'weak' q = 15%, or a
number q in (0, 0.5). A stronger prior is narrower.

ROPE (region of practical equivalence), default 0.9 to 1.1 on the ratio scale (within about 10% of no effect):
the posterior probability that the ratio lies inside it is reported.
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

PRIORS: tuple[str, ...] = ("skeptical", "enthusiastic", "pessimistic", "vague", "flat")
DIAMOND_KAUL: dict[str, float] = {"diamond_kaul_10": 0.10, "diamond_kaul_50": 0.50, "diamond_kaul_90": 0.90}
"""Probability within the margin of no effect of each Diamond & Kaul (2004) skeptical prior."""
STRENGTHS: dict[str, float] = {"weak": 0.15, "moderate": 0.05, "strong": 0.025}
VAGUE_SD: float = 10.0
DEFAULT_ROPE: tuple[float, float] = (0.9, 1.1)


@dataclass(frozen=True)
class NormalPrior:
    """A normal prior on the log ratio (sd = inf for the flat prior)."""

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


def resolve_benefit(mcid: float, benefit: Benefit | str | None = None) -> Benefit:
    """The side of 1 where benefit lies (the MCID's side when ``benefit`` is None); checks that the MCID is on
    that side."""
    mcid = float(mcid)
    if not math.isfinite(mcid) or mcid <= 0 or mcid == 1.0:
        raise InputError(f"MCID {mcid!r} is not a ratio other than 1", column="mcid",
                         valid="a ratio > 0 and != 1, e.g. 0.8 (benefit below 1) or 1.25 (benefit above 1)")
    inferred = Benefit.BELOW if mcid < 1.0 else Benefit.ABOVE
    if benefit is None:
        return inferred
    benefit = Benefit.parse(benefit, where="benefit")
    if benefit is not inferred:
        raise InputError(f"MCID {mcid:g} is on the wrong side of 1 for benefit {benefit.value} 1", column="mcid",
                         valid="an MCID below 1 with benefit 'below', above 1 with 'above'")
    return benefit


def direct_prior(mean: float, sd: float) -> NormalPrior:
    """A normal prior on the log ratio given by its mean and sd."""
    if not (math.isfinite(mean) and math.isfinite(sd) and sd > 0):
        raise InputError(f"prior mean {mean!r} and sd {sd!r}", column="--prior-sd",
                         valid="a finite mean and a positive finite sd (log scale)")
    return NormalPrior(f"normal({mean:g}, {sd:g})", float(mean), float(sd), None)


def make_prior(name: str, mcid: float = 0.8, benefit: Benefit | str | None = None,
               strength: str | float = "moderate") -> NormalPrior:
    """The reference prior ``name`` on the log ratio (see the module docstring for the definitions)."""
    resolve_benefit(mcid, benefit)
    if name in DIAMOND_KAUL:
        mean, sd = _prior_arrays(name, np.array([float(mcid)]), strength)
        return NormalPrior(name, 0.0, float(sd[0]), None)
    if name == "vague":
        return NormalPrior("vague", 0.0, VAGUE_SD, None)
    if name == "flat":
        return NormalPrior("flat", 0.0, math.inf, None)
    mean, sd = _prior_arrays(name, np.array([float(mcid)]), strength)
    return NormalPrior(name, float(mean[0]), float(sd[0]), _tail_probability(strength))


def _prior_arrays(name: str, mcid: np.ndarray, strength: str | float) -> tuple[np.ndarray, np.ndarray]:
    """Prior means and sds for many MCIDs at once (same definitions as :func:`make_prior`)."""
    if name == "vague":
        return np.zeros_like(mcid), np.full_like(mcid, VAGUE_SD)
    if name == "flat":
        return np.zeros_like(mcid), np.full_like(mcid, math.inf)
    if name in DIAMOND_KAUL:
        within = DIAMOND_KAUL[name]
        return np.zeros_like(mcid), np.abs(np.log(mcid)) / float(stats.norm.ppf(0.5 + within / 2.0))
    if name not in PRIORS:
        raise ModelError(f"unknown prior {name!r} (valid: {', '.join((*PRIORS, *DIAMOND_KAUL))})")
    log_mcid = np.log(mcid)
    sd = np.abs(log_mcid) / float(stats.norm.isf(_tail_probability(strength)))
    mean = {"skeptical": np.zeros_like(mcid), "enthusiastic": log_mcid, "pessimistic": -log_mcid}[name]
    return mean, sd


def likelihood_from_ci(estimate: float, ci_lower: float, ci_upper: float, level: float = 0.95) -> tuple[float, float]:
    """(yi, se) on the log scale from a ratio and its CI: yi = ln est, se = (ln U - ln L) / (2 z_{(1+level)/2})."""
    y, se, _ = _likelihood_arrays(np.array([estimate]), np.array([ci_lower]), np.array([ci_upper]), level)
    if not np.isfinite(se[0]) or se[0] <= 0:
        raise InputError(f"interval {ci_lower:g} to {ci_upper:g} has no width: no standard error can be derived",
                         column="ci_upper", valid="ci_lower < ci_upper")
    return float(y[0]), float(se[0])


def _likelihood_arrays(est: np.ndarray, low: np.ndarray, up: np.ndarray, level: float) -> tuple[np.ndarray, ...]:
    if not 0.0 < level < 1.0:
        raise InputError(f"level {level!r} is outside (0, 1)", column="level", valid="e.g. 0.95")
    for values, column in ((est, "estimate"), (low, "ci_lower"), (up, "ci_upper")):
        if np.any(~np.isfinite(values) | (values <= 0)):
            raise InputError("ratios must be finite and > 0", column=column, valid="a ratio > 0")
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    y = np.log(est)
    se = (np.log(up) - np.log(low)) / (2.0 * z)
    return y, se, z


@dataclass(frozen=True)
class ReinterpretResult:
    """Posterior of one published ratio under one prior: log-scale mean/sd (``post_mean``, ``post_sd``),
    ratio-scale median and credible interval (``median``, ``post_ci_lower``, ``post_ci_upper``); ``estimate``,
    ``ci_lower``, ``ci_upper`` are the published ratio and CI."""

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
    p_benefit: float  # P(ratio < 1) for benefit 'below', P(ratio > 1) for 'above'
    p_mcid: float  # P(ratio < MCID) for 'below', P(ratio > MCID) for 'above'
    p_rope: float
    rope: tuple[float, float]

    @property
    def p_below_1(self) -> float:
        return self.p_benefit if self.benefit.below else 1.0 - self.p_benefit

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["benefit"] = self.benefit.value
        out["rope"] = list(self.rope)
        out["prior_sd"] = None if not math.isfinite(self.prior_sd) else self.prior_sd
        return out


def _posterior(y: np.ndarray, se: np.ndarray, m0: np.ndarray, s0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Conjugate normal update, vectorised; s0 = inf is the flat prior."""
    prior_precision = np.where(np.isfinite(s0), 1.0 / np.where(np.isfinite(s0), s0, 1.0) ** 2, 0.0)
    precision = 1.0 / se**2 + prior_precision
    mean = (y / se**2 + m0 * prior_precision) / precision
    return mean, np.sqrt(1.0 / precision)


def _summaries(mean: np.ndarray, sd: np.ndarray, below: np.ndarray, mcid: np.ndarray, rope: tuple[float, float],
               z: float) -> dict[str, np.ndarray]:
    cdf = stats.norm.cdf
    p_lt_1 = cdf(-mean / sd)
    p_lt_mcid = cdf((np.log(mcid) - mean) / sd)
    return {
        "median": np.exp(mean),
        "post_ci_lower": np.exp(mean - z * sd),
        "post_ci_upper": np.exp(mean + z * sd),
        "p_benefit": np.where(below, p_lt_1, 1.0 - p_lt_1),
        "p_mcid": np.where(below, p_lt_mcid, 1.0 - p_lt_mcid),
        "p_rope": cdf((math.log(rope[1]) - mean) / sd) - cdf((math.log(rope[0]) - mean) / sd),
    }


def _check_rope(rope: Sequence[float]) -> tuple[float, float]:
    lo, hi = (float(r) for r in rope)
    if not (0 < lo < hi and math.isfinite(hi)):
        raise InputError(f"ROPE ({lo:g}, {hi:g}) is not an interval of ratios", column="rope",
                         valid="two ratios 0 < lower < upper, e.g. 0.9 1.1")
    return lo, hi


def reinterpret(
    estimate: float,
    ci_lower: float,
    ci_upper: float,
    prior: str = "skeptical",
    mcid: float = 0.8,
    level: float = 0.95,
    rope: Sequence[float] = DEFAULT_ROPE,
    benefit: Benefit | str | None = None,
    strength: str | float = "moderate",
    prior_mean: float | None = None,
    prior_sd: float | None = None,
) -> ReinterpretResult:
    """Posterior of a published ratio (estimate and CI at ``level``) under a reference prior, or under the normal
    prior N(prior_mean, prior_sd^2) on the log ratio when both are given.

    The credible interval is at the same ``level`` as the published CI. See the module docstring for the priors,
    the direction of benefit and the ROPE.
    """
    rope = _check_rope(rope)
    if not ci_lower <= estimate <= ci_upper:
        raise InputError(f"estimate {estimate:g} lies outside its CI {ci_lower:g} to {ci_upper:g}",
                         column="estimate", valid="ci_lower <= estimate <= ci_upper")
    y, se = likelihood_from_ci(estimate, ci_lower, ci_upper, level)
    benefit = resolve_benefit(mcid, benefit)
    if (prior_mean is None) != (prior_sd is None):
        raise InputError("a prior given directly needs both its mean and its sd", column="--prior-mean",
                         valid="--prior-mean M --prior-sd S (log scale)")
    p = direct_prior(prior_mean, prior_sd) if prior_mean is not None else make_prior(prior, mcid, benefit, strength)
    mean, sd = _posterior(np.array([y]), np.array([se]), np.array([p.mean]), np.array([p.sd]))
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    s = _summaries(mean, sd, np.array([benefit.below]), np.array([mcid]), rope, z)
    return ReinterpretResult(
        estimate=float(estimate), ci_lower=float(ci_lower), ci_upper=float(ci_upper), yi=y, se=se,
        prior=p.name, prior_mean=p.mean, prior_sd=p.sd, strength=p.tail, benefit=benefit, mcid=float(mcid),
        level=float(level), post_mean=float(mean[0]), post_sd=float(sd[0]),
        **{key: float(value[0]) for key, value in s.items()}, rope=rope,
    )


def reinterpret_published(
    published: pd.DataFrame | str | Path,
    priors: Sequence[str] = ("skeptical", "enthusiastic", "pessimistic", "vague"),
    mcid: float = 0.8,
    strength: str | float = "moderate",
    rope: Sequence[float] = DEFAULT_ROPE,
    benefit: Mapping[str, Benefit | str] | Benefit | str | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Every HR/RR/OR row of a published-results table with a CI, under each prior: one long table.

    ``mcid`` is given for benefit below 1 (e.g. 0.8); ``benefit`` maps outcome names to their direction of
    benefit (the plan's; or one Benefit for every row), and rows of an outcome whose benefit lies above 1
    (response rates, where a ratio above 1 favours the treatment) use 1/mcid; outcomes not in the map are taken
    as 'below'. ROPE bounds are used as given for both directions. Rows without a CI or with a degenerate one (lower = upper, e.g. "1.00 (1.00, 1.00)")
    are kept once per prior with status 'skipped' and the reason; all others have status 'ok'.
    Columns: the row's key columns and spreadsheet ``row``, prior, benefit, mcid, estimate, ci_lower, ci_upper,
    yi, se, prior_mean, prior_sd, post_mean, post_sd, median, post_ci_lower, post_ci_upper, p_benefit, p_mcid,
    p_rope, status, reason. All rows x priors are computed in one vectorised pass.
    """
    rope = _check_rope(rope)
    if resolve_benefit(mcid) is not Benefit.BELOW:
        raise InputError(f"MCID {mcid:g} must be given for benefit below 1 (e.g. 0.8)", column="mcid")
    rows = published_ratio_rows(published)
    est, low, up = (rows[c].to_numpy(dtype=float) for c in ("estimate", "ci_lower", "ci_upper"))
    has_ci = np.isfinite(est) & np.isfinite(low) & np.isfinite(up)
    usable = has_ci & (up > low) & (low <= est) & (est <= up)
    reason = np.where(~has_ci, "no confidence interval printed",
                      np.where(has_ci & (up <= low), "degenerate interval (lower = upper): no standard error",
                               np.where(~usable, "estimate outside its CI", "")))
    if benefit is None or isinstance(benefit, Mapping):
        directions = {str(k): Benefit.parse(v) for k, v in (benefit or {}).items()}
        below = np.array([directions.get(str(o), Benefit.BELOW).below for o in rows["outcome"]], dtype=bool)
    else:  # one direction for every row
        below = np.full(len(rows), Benefit.parse(benefit).below)
    row_mcid = np.where(below, mcid, 1.0 / mcid)

    def safe(values: np.ndarray, fill: float) -> np.ndarray:
        """Values of usable rows; a harmless placeholder (or NaN in the output) for skipped ones."""
        return np.where(usable, values, fill)

    y, se, z = _likelihood_arrays(safe(est, 1.0), safe(low, 0.5), safe(up, 2.0), level)

    tables = []
    for name in priors:
        m0, s0 = _prior_arrays(name, row_mcid, strength)
        mean, sd = _posterior(y, se, m0, s0)
        summary = _summaries(mean, sd, below, row_mcid, rope, z)
        table = rows[["outcome", "analysis", "variable", "level", "measure", "row"]].copy()
        table.insert(0, "prior", name)
        table["benefit"] = np.where(below, Benefit.BELOW.value, Benefit.ABOVE.value)
        table["mcid"] = row_mcid
        table["estimate"], table["ci_lower"], table["ci_upper"] = est, low, up
        table["yi"], table["se"] = safe(y, np.nan), safe(se, np.nan)
        table["prior_mean"], table["prior_sd"] = m0, s0
        table["post_mean"], table["post_sd"] = safe(mean, np.nan), safe(sd, np.nan)
        for key, values in summary.items():
            table[key] = safe(values, np.nan)
        table["status"] = np.where(usable, "ok", "skipped")
        table["reason"] = reason
        tables.append(table)
    if not tables:
        raise ModelError("no priors requested")
    return pd.concat(tables, ignore_index=True)
