"""Bayesian reading of published subgroup estimates: each subgroup's effect and the ratio of effects between
subgroups (the interaction), with partial pooling across the levels of a characteristic and without it.

Per characteristic with levels g = 1..G and published estimates y_g (log HR) with standard errors s_g:

- hierarchical: y_g ~ N(theta_g, s_g^2), theta_g ~ N(mu, tau^2), priors on mu and tau; fitted exactly by
  integration over tau (:func:`bayesmeta.exact.fit_exact` on the subgroup yi/sei is exactly this model;
  Roever 2020, J Stat Softw 93(6)); contrasts by :func:`bayesmeta.subgroups.contrast.pooled_difference`;
- unpooled: each theta_g with its own flat (or normal) prior; with flat priors the contrast is the closed form
  from two CIs, log(HR_a / HR_b) ~ N(y_a - y_b, s_a^2 + s_b^2) (Altman & Bland 2003, BMJ 326:219);
- "might not benefit": P(HR_g < 1) and P(HR_g < MCID) (on the benefit side given by :class:`Benefit`);
- the frequentist test of subgroup differences from the same estimates (Wald Q on G - 1 df,
  :func:`bayesmeta.frequentist.subgroups.subgroup_analysis` with one estimate per level).

The independence assumption and where it fails: :data:`INDEPENDENCE`, kept in every record.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bayesmeta.benefit import Benefit
from bayesmeta.errors import ModelError
from bayesmeta.exact import fit_exact
from bayesmeta.frequentist.subgroups import subgroup_analysis
from bayesmeta.posterior import _check_level
from bayesmeta.priors import FlatPrior, NormalPrior, parse_prior
from bayesmeta.scales import null_value, to_analysis
from bayesmeta.summaries import Summary
from bayesmeta.subgroups.contrast import pooled_difference, unpooled_difference, unpooled_effect
from bayesmeta.subgroups.table import SubgroupRow, SubgroupTable

INDEPENDENCE = (
    "The published subgroup estimates are treated as independent normal estimates of the subgroup effects "
    "(y_g ~ N(theta_g, se_g^2), se_g from the printed 95% CI). This holds for the levels of one characteristic when "
    "they partition the patients (no patient in two levels) and were pooled separately. It fails (1) across "
    "characteristics: every patient is in one level of each characteristic, so estimates of different "
    "characteristics share patients and are correlated; they are analysed one characteristic at a time and must not "
    "be combined as if independent; (2) when the levels of one characteristic were pooled from the same trials: a "
    "trial's between-trial deviation enters both levels and correlates them (usually positively, so the standard "
    "error of a contrast from two CIs is then too large); (3) a contrast of two pooled subgroup estimates mixes "
    "within-trial with across-trial comparisons and is open to ecological bias (Fisher et al. 2017, BMJ 356:j573); "
    "the within-trial interactions, pooled, are the better basis when the trials report them."
)


@dataclass(frozen=True)
class SubgroupEffect:
    """One subgroup: the published estimate and both posteriors of its effect; ``prob_benefit_*`` P(effect beyond
    the null on the benefit side) (P(HR < 1)) and ``prob_mcid_*`` P(effect beyond the MCID) (P(HR < MCID); None
    without an MCID); ``pooled`` and its probabilities are None for a characteristic with one level."""

    level: str
    k: int | None
    n: int | None
    yi: float
    sei: float
    published: dict[str, float] | None
    pooled: Summary | None
    unpooled: Summary
    prob_benefit_pooled: float | None
    prob_benefit_unpooled: float
    prob_mcid_pooled: float | None
    prob_mcid_unpooled: float | None


@dataclass(frozen=True)
class SubgroupContrast:
    """theta_level - theta_reference (log of the ratio HR_level / HR_reference) under ``model`` ('hierarchical'
    or 'unpooled'); ``ratio`` its median and interval on the reported scale; ``prob_level_better`` P(the level's
    effect lies beyond the reference's on the benefit side), i.e. P(ratio < 1) when benefit is below."""

    level: str
    reference: str
    model: str
    summary: Summary
    ratio: dict[str, float]
    prob_level_better: float


@dataclass(frozen=True)
class CharacteristicResult:
    """The levels of one characteristic: their effects, the pairwise contrasts (level i against each later level
    j, both models), the hierarchical mean ``mu`` and between-level SD ``tau`` (None with one level), the Wald
    test of subgroup differences (``q_between`` on ``df_between``, ``p_between``), and caveats."""

    characteristic: str
    effects: tuple[SubgroupEffect, ...]
    contrasts: tuple[SubgroupContrast, ...]
    mu: Summary | None
    tau: Summary | None
    q_between: float | None
    df_between: int
    p_between: float | None
    caveats: tuple[str, ...]


@dataclass(frozen=True)
class SubgroupAnalysis:
    """The subgroup analysis of one outcome: settings, the independence ``assumption`` (and where it fails), and one
    :class:`CharacteristicResult` per characteristic."""

    source: str
    outcome: str | None
    measure: str
    benefit: Benefit
    mcid: float | None
    level: float
    priors: dict[str, str]
    assumption: str
    characteristics: tuple[CharacteristicResult, ...]

    def characteristic(self, name: str) -> CharacteristicResult:
        for c in self.characteristics:
            if c.characteristic == name:
                return c
        names = ", ".join(c.characteristic for c in self.characteristics)
        raise KeyError(f"no characteristic {name!r}; available: {names}")

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["benefit"] = self.benefit.value
        return out


def _beyond(marginal_cdf, cut: float, benefit: Benefit) -> float:
    p = float(np.clip(marginal_cdf(cut), 0.0, 1.0))
    return p if benefit.below else 1.0 - p


def _caveats(rows: tuple[SubgroupRow, ...]) -> tuple[str, ...]:
    out = []
    if len(rows) == 1:
        out.append("one level only: nothing to pool or to contrast")
    ks = [r.k for r in rows]
    if len(rows) > 1 and all(k is not None for k in ks):
        if len(set(ks)) > 1:
            out.append("the levels were pooled from different numbers of studies (k " + ", ".join(map(str, ks))
                       + "): the contrast compares partly different trials")
        else:
            out.append(f"each level was pooled from k = {ks[0]} studies, probably the same trials: their estimates "
                       "share between-trial heterogeneity (assumption 2)")
    return tuple(out)


def analyse_characteristic(rows: tuple[SubgroupRow, ...], measure: str, *, benefit: Benefit | str, mcid: float | None,
                           mu_prior: str, tau_prior: str, unpooled_prior: str, level: float) -> CharacteristicResult:
    """The hierarchical and unpooled posteriors of one characteristic's levels (see the module docstring)."""
    benefit = Benefit.parse(benefit)
    _check_level(level)
    own = parse_prior(unpooled_prior, for_param="mu")
    if not isinstance(own, (FlatPrior, NormalPrior)):
        raise ModelError(f"the unpooled prior must be flat or normal(mean, sd), got {own.text!r}")
    names = [r.level for r in rows]
    yi = np.array([r.yi for r in rows])
    sei = np.array([r.sei for r in rows])
    null = 0.0
    cut = None if mcid is None else to_analysis(mcid, measure)
    post = None
    if len(rows) > 1:
        post = fit_exact(yi, sei, study=names, measure=measure, mu_prior=mu_prior, tau_prior=tau_prior)
    effects = []
    for i, r in enumerate(rows):
        alone = unpooled_effect(r.yi, r.sei, own)
        pooled = None if post is None else post.marginal(f"theta[{r.level}]")
        published = None if r.estimate is None else {"estimate": r.estimate, "ci_lower": r.ci_lower,
                                                      "ci_upper": r.ci_upper}
        effects.append(SubgroupEffect(
            level=r.level, k=r.k, n=r.n, yi=r.yi, sei=r.sei, published=published,
            pooled=None if pooled is None else Summary.of(pooled, level),
            unpooled=Summary.of(alone, level),
            prob_benefit_pooled=None if pooled is None else _beyond(pooled.cdf, null, benefit),
            prob_benefit_unpooled=_beyond(alone.cdf, null, benefit),
            prob_mcid_pooled=None if pooled is None or cut is None else _beyond(pooled.cdf, cut, benefit),
            prob_mcid_unpooled=None if cut is None else _beyond(alone.cdf, cut, benefit),
        ))
    contrasts = []
    for a, b in itertools.combinations(range(len(rows)), 2):
        for model in ("hierarchical", "unpooled"):
            if model == "hierarchical":
                marginal = pooled_difference(post, a, b)
                summary = Summary.of(marginal, level)
            else:
                marginal = unpooled_difference(yi[a], sei[a], yi[b], sei[b], own)
                summary = Summary.of(marginal, level)
            contrasts.append(SubgroupContrast(
                level=names[a], reference=names[b], model=model, summary=summary,
                ratio=summary.reported(measure), prob_level_better=_beyond(marginal.cdf, 0.0, benefit)))
    q = df = p = None
    if len(rows) > 1:
        test = subgroup_analysis(yi, sei=sei, groups=names, method="FE")
        q, df, p = test.q_between, test.df_between, test.p_between
    return CharacteristicResult(
        characteristic=rows[0].characteristic,
        effects=tuple(effects),
        contrasts=tuple(contrasts),
        mu=None if post is None else Summary.of(post.marginal("mu"), level),
        tau=None if post is None else Summary.of(post.marginal("tau"), level),
        q_between=q, df_between=len(rows) - 1, p_between=p,
        caveats=_caveats(rows),
    )


def analyse_subgroups(table: SubgroupTable, *, benefit: Benefit | str = Benefit.BELOW, mcid: float | None = None,
                      mu_prior: str = "normal(0, 4)", tau_prior: str = "halfnormal(0.5)",
                      unpooled_prior: str = "flat", level: float = 0.95,
                      characteristics: tuple[str, ...] | None = None) -> SubgroupAnalysis:
    """Analyse every characteristic of ``table`` (or those named in ``characteristics``), one at a time.

    ``mu_prior``/``tau_prior``: the hierarchical model's priors (tau is the SD of the true subgroup effects
    around their mean: with two or three levels its prior decides most of the pooling, so vary it);
    ``unpooled_prior``: flat (the closed form) or normal(mean, sd); ``mcid``: on the reported scale, on the benefit
    side of the null."""
    benefit = Benefit.parse(benefit)
    _check_level(level)
    if mcid is not None:
        to_analysis(mcid, table.measure)  # a ratio MCID must be positive
        if not benefit.favours(mcid, null_value(table.measure)):
            raise ModelError(f"the MCID {mcid:g} is not on the benefit side ({benefit.sign} "
                             f"{null_value(table.measure):g}) of the null")
    names = table.characteristics if characteristics is None else tuple(characteristics)
    for name in names:
        if name not in table.characteristics:
            raise ModelError(f"no characteristic '{name}' in {table.source}; available: "
                             + ", ".join(table.characteristics))
    results = tuple(
        analyse_characteristic(table.levels(name), table.measure, benefit=benefit, mcid=mcid, mu_prior=mu_prior,
                               tau_prior=tau_prior, unpooled_prior=unpooled_prior, level=level)
        for name in names
    )
    return SubgroupAnalysis(
        source=table.source, outcome=table.outcome, measure=table.measure, benefit=benefit, mcid=mcid, level=level,
        priors={"mu": parse_prior(mu_prior, for_param="mu").text, "tau": parse_prior(tau_prior, for_param="tau").text,
                "unpooled": parse_prior(unpooled_prior, for_param="mu").text},
        assumption=INDEPENDENCE, characteristics=results,
    )


__all__ = ["INDEPENDENCE", "CharacteristicResult", "SubgroupAnalysis", "SubgroupContrast", "SubgroupEffect",
           "Summary", "analyse_characteristic", "analyse_subgroups"]
