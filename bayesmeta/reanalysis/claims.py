"""The paper's conclusions, tested: each ``[[claims]]`` entry of the plan answered with posterior probabilities
from the analyses the reanalysis has already run (nothing is refitted), and a verdict.

The claimed event and its probability p, per kind of claim:

- pooled: benefit = P(effect beyond the null on the benefit side) (P(HR < 1)); important_benefit = P(effect
  beyond the outcome's MCID) (P(HR < MCID)); no_benefit = P(no clinically important benefit) = P(effect not beyond
  the MCID) (P(HR >= MCID)); harm = P(effect beyond the null on the other side) = 1 - P(benefit) (P(HR > 1));
  exact posterior of the main prior, range over the prior-sensitivity grid (every prior set and heterogeneity
  scale);
- subgroup: the same events for one published subgroup's effect, partially pooled across the levels of its
  characteristic (:mod:`bayesmeta.reanalysis.subgroups`), range over the plan's prior sets; a claim about every
  level (no ``level``) takes the smallest probability over the levels (an upper bound on the probability that all
  of them hold);
- contrast: P(the level's effect lies beyond the reference's on the benefit side) (P(HR_level / HR_ref < 1));
- estimate: a published estimate with its CI and no study-level data (e.g. a prognostic factor), as a normal
  likelihood y ~ N(theta, se^2) with se from the CI, combined with each prior set's normal (or flat) mu prior:
  theta | y ~ N((m/s^2 + y/se^2) v, v), v = 1/(1/s^2 + 1/se^2);
- surrogacy: P(the trial-level correlation rho has the claimed sign) (benefit on the surrogate going with benefit
  on the final outcome: rho < 0 for a response ratio against a hazard ratio), from
  :func:`bayesmeta.surrogacy.fit_surrogacy`;
- sequential: P(effect beyond the outcome's MCID) (the data sufficient to establish a clinically meaningful
  effect), with the trial sequential analysis recomputed from the data;
- bias: P(no publication bias) = 1 - the posterior inclusion probability of the bias models of the [bias]
  ensemble; for a claim that asserts bias (the effect overestimated), that inclusion probability;
- coefficient: P(the coefficient of a term of the plan's [covariates] formula lies on the claimed side of 0): for
  benefit (the term goes with more benefit), P(beta on the outcome's benefit side), e.g. P(beta > 0) for an SMD
  whose benefit is above 0; for harm, the other side; from the formula's exact meta-regression under the main prior
  (:mod:`bayesmeta.reanalysis.formula_regression`), range over the plan's prior sets, with the REML estimate and
  its two-sided p-values (z and Knapp-Hartung) beside it.

Verdict rule (:func:`verdict`), with p under the main prior and p_low the smallest over the prior sets:

- supported: p >= 0.95 and p_low >= 0.90, and no cap below applies;
- weaker than stated: p >= 0.80 but not supported (0.80 <= p < 0.95: 'uncertain'; p_low < 0.90:
  'prior-dependent'), or a cap applies: a sequential claim whose recomputed TSA neither crosses the efficacy
  boundary nor reaches the required information size ('tsa-inconclusive'); a surrogacy claim whose 95% interval of
  rho does not lie beyond 0.85 on the claimed side, the bound for a high trial-level correlation (IQWiG 2011,
  Rapid Report A10-05: 'weak-surrogate');
- not supported: p < 0.80;
- cannot be tested with the data here: the quantity is not available (a claim of kind 'other' with the plan's
  reason, an analysis that was skipped with its reason).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import Enum
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bayesmeta.benefit import Benefit
from bayesmeta.plan import Plan
from bayesmeta.plan_claims import MCID_ASSERTS, ClaimPlan
from bayesmeta.reanalysis.statements import harm_statement
from bayesmeta.scales import is_ratio, null_value, to_analysis, to_reported

SUPPORTED_P = 0.95
"""p at or above which a claim is supported (with p_low >= SUPPORTED_LOW and no cap)."""
SUPPORTED_LOW = 0.90
"""The smallest p over the prior sets that a supported claim keeps."""
WEAKER_P = 0.80
"""p at or above which a claim that is not supported is 'weaker than stated'; below it, 'not supported'."""
HIGH_CORRELATION = 0.85
"""|rho| the 95% interval must lie beyond for a high trial-level correlation (IQWiG 2011, A10-05)."""
_Z975 = 1.959963984540054


class Verdict(str, Enum):
    SUPPORTED = "supported"
    WEAKER = "weaker than stated"
    NOT_SUPPORTED = "not supported"
    UNTESTABLE = "cannot be tested with the data here"


@dataclass(frozen=True)
class ClaimResult:
    """One claim tested: the plan's entry, the claimed ``event`` ('P(HR < 1)') and its ``probability`` under the
    main prior, its range over the prior sets (None where only one model applies), further probabilities by
    statement (``others``), the numbers behind the verdict (``facts``), the verdict and the codes of what capped it
    (``limits``: uncertain, prior-dependent, tsa-inconclusive, weak-surrogate), and ``untestable``: why the data
    here cannot test it."""

    id: str
    text: str
    where: str
    kind: str
    asserts: str
    outcome: str | None
    about: str
    published: str
    event: str
    probability: float | None
    probability_low: float | None
    probability_high: float | None
    verdict: Verdict
    limits: tuple[str, ...] = ()
    others: dict[str, float] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    untestable: str = ""

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["verdict"] = self.verdict.value
        return out


def outcome_words(o: Any) -> str:
    """'Overall survival (OS)': the outcome's label with its name, unless the label already ends with it."""
    return o.label if o.label.endswith(f"({o.name})") or o.label == o.name else f"{o.label} ({o.name})"


def verdict(p: float, low: float | None = None, caps: tuple[str, ...] = ()) -> tuple[Verdict, tuple[str, ...]]:
    """The verdict for a claimed event of probability ``p`` under the main prior, ``low`` the smallest over the
    prior sets (None: one model only), and ``caps`` (codes of conditions that keep a claim from 'supported'); see
    the module docstring."""
    if not (0.0 <= p <= 1.0):
        raise ValueError(f"a probability must be in [0, 1], got {p}")
    limits: list[str] = []
    if p < WEAKER_P:
        return Verdict.NOT_SUPPORTED, ()
    if p < SUPPORTED_P:
        limits.append("uncertain")
    if low is not None and low < SUPPORTED_LOW:
        limits.append("prior-dependent")
    limits += list(caps)
    return (Verdict.WEAKER if limits else Verdict.SUPPORTED), tuple(limits)


# -- helpers -----------------------------------------------------------------------------------------------
def _lookup(d: dict[str, float], t: float) -> float | None:
    for key, value in d.items():
        if math.isclose(float(key), t, rel_tol=1e-9, abs_tol=1e-12):
            return float(value)
    return None


def _beyond(prob_below: dict[str, float], t: float, benefit: Benefit) -> float | None:
    """P(mu beyond t on the benefit side) from the exact posterior's P(mu < t) table."""
    p = _lookup(prob_below, t)
    return None if p is None else (p if benefit.below else 1.0 - p)


def _grid_beyond(grid: pd.DataFrame | None, t: float, benefit: Benefit) -> np.ndarray | None:
    """P(beyond t on the benefit side) in each row of the prior-sensitivity grid (its columns are
    ``prob_below_<t>``, or ``prob_above_<t>`` where benefit is above)."""
    if grid is None or grid.empty:
        return None
    for col in grid.columns:
        for prefix, flip in (("prob_below_", not benefit.below), ("prob_above_", benefit.below)):
            if col.startswith(prefix) and math.isclose(float(col[len(prefix):]), t, rel_tol=1e-9):
                v = grid[col].to_numpy(float)
                return 1.0 - v if flip else v
    return None


def _sign(benefit: Benefit, beyond: bool) -> str:
    if beyond:
        return benefit.sign
    return ">=" if benefit.below else "<="


def _event(measure: str, benefit: Benefit, t: float, beyond: bool = True) -> str:
    return f"P({measure} {_sign(benefit, beyond)} {t:g})"


def _claimed_event(asserts: str, measure: str, benefit: Benefit, null: float, mcid: float | None) -> str:
    if asserts == "benefit":
        return _event(measure, benefit, null)
    if asserts == "harm":
        return harm_statement(measure, benefit, null)
    return _event(measure, benefit, mcid, beyond=asserts == "important_benefit")


def _untestable(c: ClaimPlan, about: str, why: str, event: str = "") -> ClaimResult:
    return ClaimResult(c.id, c.text, c.where, c.kind, c.asserts, c.outcome, about, c.published, event, None, None,
                       None, Verdict.UNTESTABLE, untestable=why)


def _result(c: ClaimPlan, about: str, event: str, p: float, values: list[float] | np.ndarray | None,
            caps: tuple[str, ...] = (), others: dict[str, float] | None = None,
            facts: dict[str, Any] | None = None) -> ClaimResult:
    vals = None if values is None or len(values) == 0 else np.asarray(values, float)
    low = None if vals is None else float(min(vals.min(), p))
    high = None if vals is None else float(max(vals.max(), p))
    v, limits = verdict(float(np.clip(p, 0.0, 1.0)), low, caps)
    return ClaimResult(c.id, c.text, c.where, c.kind, c.asserts, c.outcome, about, c.published, event, float(p), low,
                       high, v, limits, others or {}, facts or {})


# -- per kind ----------------------------------------------------------------------------------------------
def _pooled(c: ClaimPlan, a: Any, *, mcid_only: bool = False) -> ClaimResult:
    o = a.plan
    about = outcome_words(o)
    if not a.bayes:
        return _untestable(c, about, "; ".join(a.skipped.values()) or "no posterior")
    null = null_value(o.measure)
    grid = a.sensitivity.get("grid") if a.sensitivity else None
    any_benefit = _beyond(a.bayes["prob_below"], null, o.benefit)
    mcid = None if o.mcid is None else _beyond(a.bayes["prob_below"], o.mcid, o.benefit)
    others = {}
    if any_benefit is not None:
        others[_event(o.measure, o.benefit, null)] = any_benefit
    if mcid is not None:
        others[_event(o.measure, o.benefit, o.mcid)] = mcid
    reported = a.bayes["reported"]["mu"]
    facts = {"median": reported["median"], "ci_lower": reported["ci_lower"], "ci_upper": reported["ci_upper"],
             "k": a.k}
    if c.asserts == "harm" and not mcid_only:
        values = _grid_beyond(grid, null, o.benefit)
        return _result(c, about, harm_statement(o.measure, o.benefit, null), 1.0 - any_benefit,
                       None if values is None else 1.0 - values, others=others, facts=facts)
    if c.asserts != "benefit" or mcid_only:
        values = _grid_beyond(grid, o.mcid, o.benefit)
        if c.asserts == "no_benefit":
            return _result(c, about, _event(o.measure, o.benefit, o.mcid, beyond=False), 1.0 - mcid,
                           None if values is None else 1.0 - values, others=others, facts=facts)
        return _result(c, about, _event(o.measure, o.benefit, o.mcid), mcid, values, others=others, facts=facts)
    return _result(c, about, _event(o.measure, o.benefit, null), any_benefit, _grid_beyond(grid, null, o.benefit),
                   others=others, facts=facts)


def _level_probability(e: Any, asserts: str) -> float | None:
    """P(the claimed event) for one level from its P(benefit) and P(beyond the MCID)."""
    if asserts == "benefit":
        return e.prob_benefit
    if asserts == "harm":
        return None if e.prob_benefit is None else 1.0 - e.prob_benefit
    return None if e.prob_mcid is None else (e.prob_mcid if asserts == "important_benefit" else 1.0 - e.prob_mcid)


def _chosen(keys: Any, c: ClaimPlan) -> list[tuple[str, str]]:
    """The (characteristic, level) pairs the claim is about."""
    return [(ch, lv) for ch, lv in keys if (c.characteristic is None or ch == c.characteristic)
            and (c.level is None or lv == c.level) and (ch, lv) not in c.exclude]


def _subgroup(c: ClaimPlan, s: Any, o: Any) -> ClaimResult:
    null = null_value(o.measure)
    event = _claimed_event(c.asserts, o.measure, o.benefit, null, o.mcid)
    main = s.levels[s.main]
    if c.level is not None:
        about = f"{o.name}, {c.characteristic} = {c.level}"
        key = (c.characteristic, c.level)
        e = next(x for x in s.analysis.characteristic(c.characteristic).effects if x.level == c.level)
        values = [_level_probability(by_level[key], c.asserts) for by_level in s.levels.values()]
        shown = e.pooled if e.pooled is not None else e.unpooled
        r = shown.reported(o.measure)
        unpooled = SimpleNamespace(prob_benefit=e.prob_benefit_unpooled, prob_mcid=e.prob_mcid_unpooled)
        others = {f"{event}, unpooled": _level_probability(unpooled, c.asserts)}
        if c.asserts == "benefit" and main[key].prob_mcid is not None:
            others[_event(o.measure, o.benefit, o.mcid)] = main[key].prob_mcid
        if c.asserts in MCID_ASSERTS:
            others[_event(o.measure, o.benefit, null)] = main[key].prob_benefit
        facts = {"median": r["median"], "ci_lower": r["ci_lower"], "ci_upper": r["ci_upper"],
                 "pooled": e.pooled is not None, "published": e.published, "k": e.k}
        return _result(c, about, event, _level_probability(main[key], c.asserts), values, others=others,
                       facts=facts)
    scope = c.characteristic or "every characteristic"
    about = f"{o.name}, every level of {scope}" + (
        f" except {', '.join(f'{ch} = {lv}' for ch, lv in c.exclude)}" if c.exclude else "")
    chosen = _chosen(main, c)
    probs = [(_level_probability(main[key], c.asserts), *key) for key in chosen]
    p, ch, lv = min(probs)
    values = [min(_level_probability(by_level[key], c.asserts) for key in chosen) for by_level in s.levels.values()]
    facts = {"levels": len(probs), "levels_supported": sum(q >= SUPPORTED_P for q, _, _ in probs),
             "weakest": f"{ch} = {lv}"}
    return _result(c, about, f"smallest {event} over the levels", p, values, facts=facts)


def _contrast(c: ClaimPlan, s: Any, o: Any) -> ClaimResult:
    about = f"{o.name}, {c.characteristic}: {c.level} vs {c.reference}"
    forward = (c.characteristic, c.level, c.reference)
    backward = (c.characteristic, c.reference, c.level)

    def prob(by_pair: dict[tuple[str, str, str], float]) -> float:
        return by_pair[forward] if forward in by_pair else 1.0 - by_pair[backward]

    ch = s.analysis.characteristic(c.characteristic)
    k = {(x.level, x.reference, x.model): x for x in ch.contrasts}
    pair = (c.level, c.reference) if (c.level, c.reference, "hierarchical") in k else (c.reference, c.level)
    h, u = k[(*pair, "hierarchical")], k[(*pair, "unpooled")]
    ratio = dict(h.ratio)
    if pair != (c.level, c.reference):  # the contrast the other way round: the reciprocal ratio (or the negation)
        inv = (lambda x: 1.0 / x) if is_ratio(o.measure) else (lambda x: -x)
        ratio = {"median": inv(h.ratio["median"]), "ci_lower": inv(h.ratio["ci_upper"]),
                 "ci_upper": inv(h.ratio["ci_lower"])}
    unpooled = u.prob_level_better if pair == (c.level, c.reference) else 1.0 - u.prob_level_better
    event = f"P({o.measure} {c.level} / {o.measure} {c.reference} {o.benefit.sign} {null_value(o.measure):g})"
    values = [prob(by_pair) for by_pair in s.contrasts.values()]
    return _result(c, about, event, prob(s.contrasts[s.main]), values, others={f"{event}, unpooled": unpooled},
                   facts={**{x: ratio[x] for x in ("median", "ci_lower", "ci_upper")}, "p_between": ch.p_between})


def estimate_probability(y: float, se: float, prior: Any, cut: float, benefit: Benefit) -> float | None:
    """P(theta beyond ``cut`` on the benefit side), theta | y ~ normal from y ~ N(theta, se^2) and a normal or
    flat ``prior`` (conjugate; module docstring); None for other prior families."""
    from bayesmeta.priors import FlatPrior, NormalPrior

    if isinstance(prior, FlatPrior):
        mean, sd = y, se
    elif isinstance(prior, NormalPrior):
        v = 1.0 / (1.0 / prior.sd**2 + 1.0 / se**2)
        mean, sd = v * (prior.mean / prior.sd**2 + y / se**2), math.sqrt(v)
    else:
        return None
    below = float(stats.norm.cdf(cut, mean, sd))
    return below if benefit.below else 1.0 - below


def _estimate(c: ClaimPlan, published: pd.DataFrame, prior_sets: dict[str, Any], plan: Plan) -> ClaimResult:
    from bayesmeta.reanalysis.outcome import oriented_prior_set

    rows = published[(published["outcome"] == c.outcome) & (published["analysis"] == c.analysis)
                     & (published["variable"] == c.variable)]
    if c.level is not None:
        rows = rows[rows["level"].astype(str) == c.level]
    row = rows.iloc[0]
    measure, benefit = str(row["measure"]), c.benefit
    about = f"{c.outcome}, published {c.analysis}: {c.variable}" + (f" = {c.level}" if c.level else "")
    est, lo, up = float(row["estimate"]), float(row["ci_lower"]), float(row["ci_upper"])
    if is_ratio(measure):
        y, se = math.log(est), (math.log(up) - math.log(lo)) / (2 * _Z975)
    else:
        y, se = est, (up - lo) / (2 * _Z975)
    if not se > 0:
        return _untestable(c, about, "the published interval has no width: no standard error can be derived")
    null = null_value(measure)
    mcid = plan.outcome(c.outcome).mcid if c.outcome in {o.name for o in plan.outcomes} else None
    cut = to_analysis(null if c.asserts in ("benefit", "harm") else mcid, measure)
    event = _claimed_event(c.asserts, measure, benefit, null, mcid)
    target = SimpleNamespace(benefit=benefit)
    probs = {}
    for name in (plan.main_prior, *plan.sensitivity_priors):
        q = estimate_probability(y, se, oriented_prior_set(prior_sets[name], target).mu, cut, benefit)
        if q is not None:
            probs[name] = 1.0 - q if c.asserts in ("no_benefit", "harm") else q
    if plan.main_prior not in probs:
        return _untestable(c, about, "the main prior's mu prior is neither normal nor flat")
    flat = estimate_probability(y, se, _flat(), to_analysis(null, measure), benefit)
    return _result(c, about, event, probs[plan.main_prior], list(probs.values()),
                   others={f"{_event(measure, benefit, null)}, flat prior": flat},
                   facts={"estimate": est, "ci_lower": lo, "ci_upper": up, "measure": measure})


def _flat() -> Any:
    from bayesmeta.priors import FlatPrior

    return FlatPrior()


def _surrogacy(c: ClaimPlan, plan: Plan, results: dict[str, Any], skipped: dict[str, str]) -> ClaimResult:
    from bayesmeta.reanalysis.surrogacy import pair_key

    key = pair_key(c.surrogate, c.outcome)
    about = f"{c.surrogate} for {c.outcome}"
    x, y = plan.outcome(c.surrogate), plan.outcome(c.outcome)
    negative = x.benefit != y.benefit  # benefit on one side of the null for x and the other for y
    event = "P(rho < 0)" if negative else "P(rho > 0)"
    r = results.get(key)
    if r is None:
        return _untestable(c, about, skipped.get(key, "the surrogacy model was not fitted"), event)
    p = r.prob_rho_negative if negative else 1.0 - r.prob_rho_negative
    bound = -r.rho.ci_upper if negative else r.rho.ci_lower
    caps = () if bound >= HIGH_CORRELATION else ("weak-surrogate",)
    rc = r.rank_correlation
    facts = {"k": r.k, "rho_median": r.rho.median, "rho_ci_lower": r.rho.ci_lower, "rho_ci_upper": r.rho.ci_upper,
             "width_ratio": r.prior_vs_posterior.width_ratio, "spearman_recomputed": rc.recomputed,
             "spearman_recomputed_p": rc.recomputed_p, "spearman_published": rc.published,
             "spearman_published_p": rc.published_p}
    return _result(c, about, event, p, None, caps, facts=facts)


def _sequential(c: ClaimPlan, a: Any) -> ClaimResult:
    o = a.plan
    res = _pooled(c, a, mcid_only=True)
    about = outcome_words(o)
    if a.tsa is None or res.probability is None:
        why = a.skipped.get("trial sequential analysis") or res.untestable or "no trial sequential analysis"
        return _untestable(c, about, why, res.event)
    t = a.tsa
    conclusive = t.crossed_efficacy_at is not None or t.reached_ris_at is not None
    settings = a.tsa_settings or {}
    facts = {**res.facts, "ris": t.ris_rounded, "published_ris": settings.get("published_ris"),
             "information": float(t.curve["n_cumulative"].iloc[-1]) if len(t.curve) else 0.0,
             "crossed_efficacy_at": t.crossed_efficacy_at, "reached_ris_at": t.reached_ris_at,
             "final_z": t.final_z, "heterogeneity": t.heterogeneity, "diversity": t.diversity}
    grid = a.sensitivity.get("grid") if a.sensitivity else None
    return _result(c, about, res.event, res.probability, _grid_beyond(grid, o.mcid, o.benefit),
                   () if conclusive else ("tsa-inconclusive",), others=res.others, facts=facts)


def _bias(c: ClaimPlan, a: Any) -> ClaimResult:
    o = a.plan
    about = outcome_words(o)
    egger = a.frequentist.get("egger") if a.frequentist else None
    egger_p = None if egger is None else getattr(egger, "pval", None)
    if a.bias is None:
        why = a.skipped.get("publication bias and model averaging", "no publication-bias analysis")
        return _untestable(c, about, why, "P(no publication bias)")
    inclusion = a.bias["inclusion"].get("bias")
    if inclusion is None:  # metabma, or a custom ensemble without (or only with) bias models
        return _untestable(c, about, f"the [bias] section's {a.bias['ensemble']} ensemble does not weigh models "
                           "with against models without publication bias", "P(no publication bias)")
    if c.asserts == "bias":  # the paper says the effect is overestimated
        return _result(c, about, "P(publication bias)", inclusion["post_prob"], None,
                       others={"prior P(publication bias)": inclusion["prior_prob"]},
                       facts={"bf_bias": inclusion["bf"], "k": a.k, "egger_p": egger_p, "ensemble": a.bias["ensemble"]})
    return _result(c, about, "P(no publication bias)", 1.0 - inclusion["post_prob"], None,
                   others={"prior P(no publication bias)": 1.0 - inclusion["prior_prob"]},
                   facts={"bf_bias": inclusion["bf"], "k": a.k, "egger_p": egger_p, "ensemble": a.bias["ensemble"]})


def _coefficient(c: ClaimPlan, a: Any) -> ClaimResult:
    o = a.plan
    about = f"{outcome_words(o)}, coefficient {c.term}"
    r = a.formula_regression
    side = o.benefit.sign if c.asserts == "benefit" else o.benefit.opposite_sign
    event = f"P(beta[{c.term}] {side} 0)"
    if r is None:
        why = next((w for what, w in a.skipped.items() if what.startswith("meta-regression on ")), None)
        return _untestable(c, about, why or "; ".join(a.skipped.values()) or "the formula's meta-regression was "
                           "not fitted", event)
    coef = r.coefficient(c.term)
    if coef is None:
        why = f"the meta-regression on {r.formula} of the {r.k} studies with data has no coefficient {c.term}"
        for part in c.term.split(":"):
            column, _, level = part.partition("[")
            if level and r.references.get(column) == level[:-1]:
                why += (f": {level[:-1]} is the reference level of {column} (its most frequent level; "
                        f"factor({column}, ref = \"...\") in the formula chooses another)")
        return _untestable(c, about, f"{why} (its coefficients: {', '.join(x.name for x in r.coefficients)})",
                           event)
    p = coef.prob_benefit if c.asserts == "benefit" else 1.0 - coef.prob_benefit
    values = [q if c.asserts == "benefit" else 1.0 - q for q in
              (by_coef[c.term] for by_coef in r.sensitivity.values())] if len(r.sensitivity) > 1 else None
    z, knha = r.frequentist_coefficient(c.term), r.frequentist_coefficient(c.term, knha=True)
    facts = {"formula": r.formula, "k": r.k, "omitted": list(r.omitted), "median": coef.reported_median,
             "ci_lower": coef.reported_ci_lower, "ci_upper": coef.reported_ci_upper,
             **{f"reml_{x}": float(to_reported(getattr(z, x), o.measure))
                for x in ("estimate", "ci_lower", "ci_upper")},
             "reml_p": z.pval, "reml_knha_p": None if knha is None else knha.pval}
    return _result(c, about, event, p, values, facts=facts)


def evaluate_claims(plan: Plan, analyses: dict[str, Any], subgroups: dict[str, Any], surrogacy: dict[str, Any],
                surrogacy_skipped: dict[str, str], published: pd.DataFrame | None,
                prior_sets: dict[str, Any]) -> list[ClaimResult]:
    """Every claim of ``plan.claims``, in the plan's order (module docstring)."""
    out = []
    for c in plan.claims:
        if c.kind == "other":
            out.append(_untestable(c, c.outcome or "-", c.reason))
        elif c.kind == "pooled":
            out.append(_pooled(c, analyses[c.outcome]))
        elif c.kind in ("subgroup", "contrast"):
            o = plan.outcome(c.outcome)
            s = subgroups.get(c.outcome)
            if s is None:
                out.append(_untestable(c, f"{c.outcome} subgroups", "the subgroup analysis was not run"))
            else:
                out.append(_subgroup(c, s, o) if c.kind == "subgroup" else _contrast(c, s, o))
        elif c.kind == "estimate":
            out.append(_estimate(c, published, prior_sets, plan))
        elif c.kind == "surrogacy":
            out.append(_surrogacy(c, plan, surrogacy, surrogacy_skipped))
        elif c.kind == "sequential":
            out.append(_sequential(c, analyses[c.outcome]))
        elif c.kind == "bias":
            out.append(_bias(c, analyses[c.outcome]))
        elif c.kind == "coefficient":
            out.append(_coefficient(c, analyses[c.outcome]))
    return out

