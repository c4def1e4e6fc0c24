"""The comparison table: every published number the data can speak to, beside its frequentist recomputation and
the Bayesian counterpart, with k used vs published and a plain-language line per row."""

from __future__ import annotations

import math

from functools import partial

from typing import Any

import numpy as np
import pandas as pd

from bayesmeta.data import blank_cells
from bayesmeta.plan import Plan
from bayesmeta.scales import contrast_name, is_ratio, null_value, reported_float
from bayesmeta.reanalysis.result import OutcomeAnalysis
from bayesmeta.strata import NO_SOURCE
from bayesmeta.reanalysis.statements import (
    benefit_probability,
    benefit_statement,
    clinical_threshold,
    harm_statement,
    probability_words,
    stated,
)


def _ci_text(est: float | None, lo: float | None, hi: float | None) -> str:
    if est is None or not np.isfinite(est):
        return "-"
    if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{est:.2f}"
    return f"{est:.2f} ({lo:.2f} to {hi:.2f})"

def _p_text(p: float | None, relation: str = "=") -> str:
    if p is None or not np.isfinite(p):
        return "-"
    if relation == "<":
        return f"p < {p:g}"
    return f"p = {p:.3g}" if p >= 0.001 else "p < 0.001"

def _row(outcome: str, analysis: str, quantity: str, **values: Any) -> dict[str, Any]:
    base = {"outcome": outcome, "analysis": analysis, "variable": "", "quantity": quantity, "k_published": None,
            "k_used": None,
            "published": "-", "published_value": None, "recomputed": "-", "recomputed_value": None,
            "recomputed_method": "", "bayesian": "-", "bayesian_value": None, "bayesian_statement": "",
            "status": "", "plain": ""}
    base.update(values)
    return base

def comparison_table(plan: Plan, analyses: dict[str, OutcomeAnalysis], published: pd.DataFrame | None,
                     all_effects: pd.DataFrame, prior_sets: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Every published number the data can speak to, beside the frequentist recomputation and the Bayesian
    counterpart, with k used vs published and a plain-language line. ``prior_sets``: per outcome, the prior sets
    oriented for it (:func:`~bayesmeta.reanalysis.outcome.oriented_prior_set`)."""
    if published is None:
        return pd.DataFrame(columns=list(_row("", "", "").keys()))
    from bayesmeta.compare import compare_metaregression, compare_pooled, compare_subgroups

    used = pd.concat([a.effects for a in analyses.values() if len(a.effects)], ignore_index=True) \
        if any(len(a.effects) for a in analyses.values()) else all_effects.iloc[0:0]
    rows: list[dict[str, Any]] = []
    pooled = compare_pooled(used, published, plan.pooling)
    for r in pooled.itertuples(index=False):
        a = analyses.get(r.outcome)
        if a is None:
            continue
        rows += _pooled_rows(a, r, plan)
    strata_rows = _strata_difference_rows(plan, analyses, used, published)
    by_strata = {(r["outcome"], r["variable"].casefold()) for r in strata_rows}
    for analysis, table in (("meta_regression", compare_metaregression(used, published)),
                            ("subgroup_difference", compare_subgroups(used, published))):
        done = set()
        for r in table.itertuples(index=False):
            a = analyses.get(r.outcome)
            if analysis == "subgroup_difference" and (r.outcome, str(r.variable).casefold()) in by_strata:
                continue  # recomputed from the plan's within-trial strata below
            if a is not None:
                rows.append(_covariate_row(a, r, analysis))
                done.add((r.outcome, r.variable))
        rows += _other_covariate_rows(analyses, published, analysis, done)
    rows += subset_rows(plan, analyses, published, prior_sets)
    rows += strata_rows
    rows += _egger_rows(analyses, published)
    rows += _tsa_rows(analyses, published)
    rows += _rate_rows(plan, analyses, published)
    rows += _correlation_rows(plan, analyses, published)
    return pd.DataFrame(rows)

def _model_words(model: str) -> str:
    return {"common": "common effect", "random": "random effects"}.get(model, model)

def bayesian_model_words(plan: Plan) -> str:
    """The Bayesian model beside every published pooled row: the normal-normal random-effects model under the
    plan's main prior set."""
    return f"random effects ({plan.main_prior})"

def pooled_bayesian(bayes: dict[str, Any], o: Any, published_model: str | None, plan: Plan) -> dict[str, Any]:
    """The Bayesian cell beside a published pooled row, from an outcome's ``bayes`` record
    (:func:`bayesmeta.reanalysis.outcome.posterior_record`): the comparison row's ``bayesian``, ``bayesian_value``
    and ``bayesian_statement``, and (for the row's plain line) ``model``, ``median_text``, ``own_model``,
    ``random_text``, ``p_any``, ``p_clin``, ``first_t``, ``clinical`` and ``common``. A published common-effect
    row (``published_model`` 'common') gets the Bayesian common-effect model where it was computed, any other row
    the random-effects posterior."""
    mu = bayes.get("reported", {}).get("mu", {})
    probs = {(p["parameter"], p["threshold"]): p for p in bayes.get("probabilities", [])}
    common = bayes.get("common_effect") or {}
    # a published common-effect row is set beside the Bayesian common-effect model (tau = 0), not the
    # random-effects posterior, whose interval is wider for a reason unrelated to the row
    own_model = published_model == "common" and "reported" in common
    random_text = _ci_text(mu.get("median"), mu.get("ci_lower"), mu.get("ci_upper"))
    if own_model:
        mu = common["reported"]["mu"]
        probs = {(p["parameter"], p["threshold"]): p for p in common["probabilities"]}
    null = null_value(o.measure)
    first_t = null if null in o.thresholds else o.thresholds[0]
    clinical = clinical_threshold(o)
    p_clin = probs.get(("mu", clinical))
    bayes_text = _ci_text(mu.get("median"), mu.get("ci_lower"), mu.get("ci_upper"))
    bayes_model = f"common effect ({plan.main_prior})" if own_model else bayesian_model_words(plan)
    return {"bayesian": f"{bayes_model}: median {bayes_text}"
                        + (f"; {stated(p_clin['statement'], p_clin['probability'])}" if p_clin else ""),
            "bayesian_value": mu.get("median"), "bayesian_statement": p_clin["statement"] if p_clin else "",
            "model": bayes_model, "median_text": bayes_text, "own_model": own_model, "random_text": random_text,
            "p_any": probs.get(("mu", first_t)), "p_clin": p_clin, "first_t": first_t, "clinical": clinical,
            "common": common}

BAYESIAN_COLUMNS = ("bayesian", "bayesian_value", "bayesian_statement")
"""The columns of a comparison row that :func:`pooled_bayesian` fills (summary.json ``comparison``)."""

def _pooled_rows(a: OutcomeAnalysis, r: Any, plan: Plan) -> list[dict[str, Any]]:
    o = a.plan
    cell = pooled_bayesian(a.bayes, o, r.published_model, plan)
    own_model, random_text, common = cell["own_model"], cell["random_text"], cell["common"]
    p_any, p_clin, first_t, clinical = cell["p_any"], cell["p_clin"], cell["first_t"], cell["clinical"]
    bayes_text, bayes_model = cell["median_text"], cell["model"]
    published_text = _ci_text(r.published_estimate, r.published_ci_lower, r.published_ci_upper)
    model = f" ({_model_words(r.published_model)})" if r.published_model else ""
    k_pub = "an unprinted number of" if r.k_published is None or pd.isna(r.k_published) else r.k_published
    plain = (f"{o.label}: the paper reports {o.measure} {published_text}{model} from {k_pub} studies; the "
             f"{r.k_used} studies with data here give "
             f"{_ci_text(r.rule_estimate, r.rule_ci_lower, r.rule_ci_upper)} with the paper's pooling "
             f"({r.rule_model})")
    if p_any and p_clin:
        plain += (f", and the {bayes_model} posterior median is {bayes_text}: benefit is {p_any['words']} "
                  f"({stated(p_any['statement'], p_any['probability'])})")
        if p_any["probability"] < 0.5:  # the likely event is the opposite one (an exposure, or harm)
            plain += (f" and an effect on the other side of {first_t:g} {p_any['opposite_words']} "
                      f"({stated(p_any['opposite_statement'], p_any['opposite_probability'])})")
        if clinical != first_t:  # the plan's thresholds go beyond the null
            plain += (f" and a benefit beyond {clinical:g} is {p_clin['words']} "
                      f"({stated(p_clin['statement'], p_clin['probability'])})")
        plain += "."
        if own_model:
            plain += (f" The Bayesian common-effect model assumes, as the paper does, one effect in every study "
                      f"(tau = 0; mu prior {common['mu_prior']}); the random-effects posterior, which allows for "
                      f"heterogeneity between studies, has median {random_text}.")
        elif r.published_model == "common":
            plain += (" The Bayesian model allows for heterogeneity between studies, which the paper's "
                      "common-effect result does not, so its interval is the wider one"
                      + (f" (no common-effect posterior: {common['reason']})." if "reason" in common else "."))
    else:
        plain += "; no posterior could be computed."
    quantity = f"pooled {o.measure}" + (f" ({_model_words(r.published_model)})" if r.published_model else "")
    rows = [_row(o.name, "pooled", quantity, k_published=r.k_published, k_used=r.k_used,
                 published=_ci_text(r.published_estimate, r.published_ci_lower, r.published_ci_upper),
                 published_value=r.published_estimate,
                 recomputed=_ci_text(r.rule_estimate, r.rule_ci_lower, r.rule_ci_upper)
                 + (f" ({r.rule_model})" if r.rule_model else ""),
                 recomputed_value=r.rule_estimate, recomputed_method=f"the published row's pooling ({r.rule_model})",
                 **{c: cell[c] for c in BAYESIAN_COLUMNS}, status=r.status, plain=plain)]
    tau = a.bayes.get("reported", {}).get("tau")
    if r.published_i2 is not None and np.isfinite(r.published_i2):
        i2 = None if r.i2 is None or not np.isfinite(r.i2) else float(r.i2)
        rows.append(_row(
            o.name, "pooled", "I² (%)", k_published=r.k_published, k_used=r.k_used,
            published=f"{r.published_i2:g}%", published_value=r.published_i2,
            recomputed="-" if i2 is None else f"{i2:.0f}%", recomputed_value=i2,
            recomputed_method=f"I² of the paper's pooling ({r.rule_model})",
            bayesian="-" if tau is None else
            f"tau median {tau['median']:.2f} ({tau['ci_lower']:.2f} to {tau['ci_upper']:.2f})",
            bayesian_value=None if tau is None else tau["median"], bayesian_statement="between-study SD tau",
            status="",
            plain=(f"{o.label}: the paper reports I² = {r.published_i2:g}%; the studies here give "
                   + ("no I^2" if i2 is None else f"{i2:.0f}%")
                   + ("" if tau is None else f"; the posterior of the between-study SD has median {tau['median']:.2f}"
                      + (f" on the log scale: one between-study SD multiplies or divides a study's {o.measure} by "
                         f"about {np.exp(tau['median']):.2f}" if is_ratio(o.measure) else
                         f" (in the units of the {o.measure})")) + "."),
        ))
    return rows

def _coef_text(est: Any, lo: Any, hi: Any, p: Any, relation: str = "=") -> str:
    """A meta-regression coefficient (3 significant digits: slopes are small) with its CI and p."""
    if est is None or pd.isna(est):
        return _p_text(p, relation)
    text = f"{est:.3g}" if lo is None or pd.isna(lo) else f"{est:.3g} ({lo:.3g} to {hi:.3g})"
    return text if p is None or pd.isna(p) else f"{text}, {_p_text(p, relation)}"

def _covariate_row(a: OutcomeAnalysis, r: Any, analysis: str) -> dict[str, Any]:
    """A published meta-regression or subgroup-difference row: its p-value (the omnibus test), or a coefficient
    (a factor level against the reference, or a numeric slope; :func:`bayesmeta.compare.compare_metaregression`)
    with its CI, beside the recomputation and the Bayesian meta-regression's matching contrast."""
    if getattr(r, "formula", None):
        return _formula_row(a, r)
    o = a.plan
    m = next((x for x in a.metaregression if x["covariate"] == r.variable), None)
    what = "meta-regression" if analysis == "meta_regression" else "subgroup difference"
    kind, level = getattr(r, "kind", None) or "omnibus", getattr(r, "level", None) or ""
    relation = r.published_p_relation or "="
    if kind == "omnibus":
        quantity, published = f"{r.variable}: {what} p", _p_text(r.published_p, relation)
        recomputed = _p_text(r.p) if r.p is not None and not pd.isna(r.p) else "not estimable"
        published_value, recomputed_value = r.published_p, r.p
    else:
        quantity = (f"{r.variable}: meta-regression slope" if kind == "slope" else
                    f"{r.variable} {level} vs {r.reference or 'the reference'}: meta-regression coefficient")
        published = _coef_text(r.published_estimate, r.published_ci_lower, r.published_ci_upper, r.published_p,
                               relation)
        recomputed = (_coef_text(r.estimate, r.ci_lower, r.ci_upper, r.p) if r.p is not None and not pd.isna(r.p)
                      else "not estimable")
        printed = r.published_estimate is not None and not pd.isna(r.published_estimate)
        # the number the paper printed is the one set beside ours: the coefficient, else its p-value
        published_value, recomputed_value = (r.published_estimate, r.estimate) if printed else (r.published_p, r.p)
    bayes, value, statement = "-", None, ""
    described = what if kind == "omnibus" else ("the meta-regression slope" if kind == "slope" else
                                                f"the meta-regression coefficient of {level} vs {r.reference}")
    plain = f"{o.label}, {r.variable}: the paper reports {described} {published}"
    if r.p is not None and np.isfinite(r.p):
        plain += f"; the {r.k_used} studies here give {recomputed}"
    if m is not None and m.get("fitted"):
        c = next((x for x in m["contrasts"] if level and x.get("level") == level), m["contrasts"][0])
        value = c["p_ratio_below_1"]
        statement = c["statement"]
        ratio, what = is_ratio(o.measure), contrast_name(o.measure)
        label = f"{what} per unit of {r.variable}" if m.get("kind") == "numeric" else \
            f"{what} {c['level']}{'/' if ratio else ' - '}{c['reference']}"
        bayes = (f"{label} {_ci_text(c['reported_median'], c['reported_ci_lower'], c['reported_ci_upper'])}; "
                 f"{stated(statement, value)}")
        if m.get("kind") == "numeric":
            change = "multiplies the {m} by" if ratio else "changes the {m} by"
            plain += (f"; in the Bayesian meta-regression each unit of {r.variable} {change.format(m=o.measure)} "
                      f"{c['reported_median']:.3g}, and {stated(statement, value)} ({probability_words(value)}).")
        else:
            puts = (f"the {o.measure} of {c['level']} studies at {c['reported_median']:.2f} times that of "
                    f"{c['reference']} studies" if ratio else f"the {o.measure} of {c['level']} studies minus that "
                    f"of {c['reference']} studies at {c['reported_median']:.2f}")
            plain += (f"; the Bayesian meta-regression puts {puts}, and {stated(statement, value)} "
                      f"({probability_words(value)}).")
        if m.get("confounded_with"):
            plain += (f" In these studies {r.variable} splits the studies exactly as "
                      f"{', '.join(m['confounded_with'])} does, so the two cannot be told apart.")
    else:
        why = m["reason"] if m is not None else "covariate not in the plan"
        plain += f"; no Bayesian meta-regression ({why})."
    return _row(o.name, analysis, quantity, variable=r.variable, k_used=r.k_used,
                published=published, published_value=published_value,
                recomputed=recomputed, recomputed_value=recomputed_value,
                recomputed_method=str(r.method or ""), bayesian=bayes, bayesian_value=value,
                bayesian_statement=statement, status=str(r.status), plain=plain)

def same_formula(a: str, b: str) -> bool:
    """Whether two formulas are the same model: the same terms (in any order), factors and reference levels."""
    from bayesmeta.formula import parse_formula

    f, g = parse_formula(a), parse_formula(b)
    return ({frozenset(t) for t in f.terms}, f.forced, set(f.references), f.intercept) == \
        ({frozenset(t) for t in g.terms}, g.forced, set(g.references), g.intercept)


def _formula_row(a: OutcomeAnalysis, r: Any) -> dict[str, Any]:
    """A published coefficient of a multiple meta-regression (:func:`bayesmeta.compare.formula_record`) beside
    the recomputed REML coefficient and, when the plan fits the same formula for the outcome
    (``outcomes.<name>.formula`` or [covariates] formula), that coefficient's posterior."""
    o = a.plan
    name = f"{r.variable}[{r.level}]" if r.level else str(r.variable)
    against = f" (against {r.reference})" if r.reference else ""
    relation = r.published_p_relation or "="
    published = _coef_text(r.published_estimate, r.published_ci_lower, r.published_ci_upper, r.published_p,
                           relation)
    have = r.p is not None and not pd.isna(r.p)
    recomputed = _coef_text(r.estimate, r.ci_lower, r.ci_upper, r.p) if have else "not estimable"
    printed = r.published_estimate is not None and not pd.isna(r.published_estimate)
    published_value, recomputed_value = (r.published_estimate, r.estimate) if printed else (r.published_p, r.p)
    plain = (f"{o.label}: the paper reports the coefficient {name}{against} of its meta-regression on {r.formula} "
             f"as {published}; " + (f"the {r.k_used} studies here give {recomputed} ({r.method})" if have else r.note))
    fitted = a.formula_regression
    coef = fitted.coefficient(name) if fitted is not None and same_formula(fitted.formula, r.formula) else None
    bayes, value, statement = "-", None, ""
    if coef is not None:
        value, statement = coef.prob_benefit, coef.benefit_statement
        bayes = (f"{name} {_ci_text(coef.reported_median, coef.reported_ci_lower, coef.reported_ci_upper)}; "
                 f"{stated(statement, value)}")
        plain += (f"; the Bayesian meta-regression on the same formula puts it at {coef.reported_median:.3g}, and "
                  f"{stated(statement, value)} ({probability_words(value)}).")
    elif fitted is not None and same_formula(fitted.formula, r.formula):
        plain += f"; the Bayesian meta-regression on {fitted.formula} has no coefficient {name}."
    else:
        plain += (f"; no Bayesian meta-regression on {r.formula} (the plan fits "
                  + (f"{fitted.formula}" if fitted is not None else "none") + f" for this outcome; "
                  f"outcomes.{o.name}.formula = \"{r.formula}\" fits it).")
    return _row(o.name, "meta_regression", f"{name}{against} in {r.formula}: meta-regression coefficient",
                variable=r.variable, k_used=r.k_used, published=published, published_value=published_value,
                recomputed=recomputed, recomputed_value=recomputed_value, recomputed_method=str(r.method or ""),
                bayesian=bayes, bayesian_value=value, bayesian_statement=statement, status=str(r.status),
                plain=plain)


def _other_covariate_rows(analyses: dict[str, OutcomeAnalysis], published: pd.DataFrame, analysis: str,
                          done: set[tuple[str, str]]) -> list[dict[str, Any]]:
    """Published meta-regression p-values of plan covariates that :mod:`bayesmeta.compare` does not cover (it
    covers only variables present in the effects), set beside the REML QM test of this run's meta-regression."""
    from types import SimpleNamespace

    out = []
    if analysis != "meta_regression":
        return out
    for r in published[published["analysis"] == analysis].itertuples(index=False):
        a = analyses.get(r.outcome)
        if a is None or (r.outcome, r.variable) in done:
            continue
        m = next((x for x in a.metaregression if x["covariate"] == r.variable), None)
        if m is None:
            continue
        relation = r.p_relation or "="
        p = m["frequentist"]["qm_p"] if m.get("fitted") else None
        if p is None:
            status = "not estimable"
        else:
            published_low = r.p_value <= 0.05 if relation == "<" else r.p_value < 0.05
            status = "agree" if published_low == (p < 0.05) else "disagree"
        # k: the studies with a value of the covariate (those without one are left out of its meta-regression)
        row = SimpleNamespace(outcome=r.outcome, variable=r.variable, k_used=m.get("k", a.k),
                              published_p=float(r.p_value),
                              published_p_relation=relation, p=p, method="REML" if p is not None else "",
                              status=status)
        out.append(_covariate_row(a, row, analysis))
    return out

def _subset_of(plan: Plan, a: OutcomeAnalysis, r: Any,
               analyses: dict[str, OutcomeAnalysis] | None = None) -> pd.DataFrame | None:
    """The outcome's studies a published row refers to: a regimen row's plan [subsets] entry (named by its
    level), or a subgroup row's level of a study-level column of the data (e.g. a drug class), or of the
    within-trial strata of another outcome of the plan (``outcomes.<name>.strata_of``, :mod:`bayesmeta.strata`);
    None when the row names none of these."""
    if r.analysis == "regimen":
        subset = plan.subsets.get(str(r.level))
        if subset is None:
            return None
        return a.effects[subset.mask(a.effects).to_numpy(bool)] if len(a.effects) else a.effects
    variable = "" if pd.isna(r.variable) else str(r.variable)
    if r.analysis == "subgroup" and variable and variable in a.effects.columns \
            and not blank_cells(a.effects[variable]).all():  # a column blank for this outcome's studies: not theirs
        return a.effects[a.effects[variable].astype(str) == str(r.level)]
    if r.analysis == "subgroup" and variable:
        from bayesmeta.strata import plan_strata, rows_of_level

        for s in plan_strata(plan):
            b = (analyses or {}).get(s.outcome)
            if s.strata_of == a.name and s.subgroup.casefold() == variable.strip().casefold() and b is not None:
                return rows_of_level(b.effects, s.subgroup, r.level) if len(b.effects) else b.effects
    return None


def _strata_difference_rows(plan: Plan, analyses: dict[str, OutcomeAnalysis], used: pd.DataFrame,
                            published: pd.DataFrame) -> list[dict[str, Any]]:
    """The test of subgroup differences (:func:`bayesmeta.strata.compare_subgroup_rows`) for the published
    subgroup rows of an outcome recomputed from the plan's within-trial strata, beside the paper's
    subgroup-difference p-value when it printed one ('not reported by the paper' otherwise)."""
    from bayesmeta.compare import ALPHA
    from bayesmeta.strata import compare_subgroup_rows, plan_strata

    strata = tuple(s for s in plan_strata(plan) if s.strata_of in analyses and s.outcome in analyses)
    if not strata or not len(used):
        return []
    _, tests = compare_subgroup_rows(used, published, plan.pooling, strata, plan.level)
    diff = published[published["analysis"] == "subgroup_difference"]
    out = []
    for t in tests.itertuples(index=False):
        if not any(s.strata_of == t.outcome and s.subgroup.casefold() == t.variable.casefold() for s in strata):
            continue
        a = analyses[t.outcome]
        p = diff[(diff["outcome"] == t.outcome)
                 & (diff["variable"].astype(str).str.strip().str.casefold() == t.variable.casefold())]
        rec = f"Q = {t.q_between:.2f} on {t.df_between} df, {_p_text(t.p_between)} ({t.method})"
        plain = (f"{a.plan.label}, {t.variable}: the {t.k_used} rows of {t.source} give a test for subgroup "
                 f"differences of {rec}")
        base = dict(variable=t.variable, k_used=t.k_used, recomputed=rec, recomputed_value=t.p_between,
                    recomputed_method=f"test for subgroup differences ({t.method})",
                    bayesian="the subgroup rows above: one posterior per level")
        if len(p):
            pv, relation = float(p["p_value"].iloc[0]), str(p["p_relation"].iloc[0] or "=")
            published_low = pv <= ALPHA if relation == "<" else pv < ALPHA
            out.append(_row(t.outcome, "subgroup_difference", f"{t.variable}: subgroup difference p", **base,
                            published=_p_text(pv, relation), published_value=pv,
                            status="agree" if published_low == (t.p_between < ALPHA) else "disagree",
                            plain=f"{plain}; the paper reports {_p_text(pv, relation)}."))
        else:
            out.append(_row(t.outcome, "subgroup_difference", f"{t.variable}: subgroup difference p", **base,
                            status="not reported by the paper", plain=f"{plain}; the paper printed none."))
    return out


def subset_rows(plan: Plan, analyses: dict[str, OutcomeAnalysis], published: pd.DataFrame,
                  prior_sets: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Published pooled estimates of a subset of the studies (regimen rows whose level names one of the plan's
    [subsets]; subgroup rows whose variable is a study-level column of the data), recomputed (the paper's
    pooling, :func:`bayesmeta.compare.pooling_for`) and refitted (exact posterior, main prior) on the studies of
    that subset with data."""
    from bayesmeta.compare import pooling_for, published_method
    from bayesmeta.errors import ModelError
    from bayesmeta.exact import fit_exact
    from bayesmeta.frequentist import paper_rule

    out = []
    for r in published[published["analysis"].isin(["regimen", "subgroup"])].itertuples(index=False):
        a = analyses.get(r.outcome)
        sel = None if a is None else _subset_of(plan, a, r, analyses)
        if sel is None:
            continue
        o = a.plan
        name = str(r.level) if r.analysis == "regimen" else f"{r.variable} = {r.level}"
        main = prior_sets[o.name][plan.main_prior]
        k_pub = None if pd.isna(r.k) else int(r.k)
        pub = _ci_text(r.estimate, r.ci_lower, r.ci_upper)
        base = dict(variable="" if pd.isna(r.variable) else str(r.variable), k_published=k_pub, k_used=len(sel),
                    published=pub, published_value=float(r.estimate))
        if len(sel) < 2:
            have = "no study of this subset has" if len(sel) == 0 else "only one study of this subset has"
            out.append(_row(o.name, r.analysis, name, **base, status="not estimable",
                            plain=f"{o.label}, {name}: the paper reports {o.measure} {pub}; {have} data here, "
                                  f"too few to pool."))
            continue
        y, s, v = (sel[c].to_numpy(float) for c in ("yi", "sei", "vi"))
        model = getattr(r, "model", "")
        model = model.strip().lower() if isinstance(model, str) else ""
        rule = paper_rule(y, v, pooling_for(model, plan.pooling, published_method(getattr(r, "method", ""))),
                          level=plan.level)
        try:
            post = fit_exact(y, s, mu_prior=main.mu, tau_prior=main.tau, study=sel["study_id"].astype(str).tolist(),
                             measure=o.measure, seed=None)
        except ModelError as exc:
            post = None
            a.warnings.append(f"{name}: exact posterior not computed ({exc})")
        show = partial(reported_float, measure=o.measure)
        rec = _ci_text(show(rule.estimate), show(rule.ci_lower), show(rule.ci_upper))
        bayes, value, statement, plain_b = "-", None, "", ""
        if post is not None:
            m = post.marginal("mu")
            lo, hi = m.interval(plan.level)
            t = null_value(o.measure)
            p = benefit_probability(post, o, t)
            statement = f"P({benefit_statement(o, t)})"
            value = show(m.median())
            bayes = f"median {_ci_text(value, show(lo), show(hi))}; {stated(statement, p)}"
            plain_b = (f"; the posterior median is {value:.2f} and benefit is {probability_words(p)} "
                       f"({stated(statement, p)})")
            if p < 0.5:  # the likely event is the opposite one
                plain_b += (f" and an effect on the other side of {t:g} {probability_words(1.0 - p)} "
                            f"({stated(harm_statement(o.measure, o.benefit, t), 1.0 - p)})")
        out.append(_row(o.name, r.analysis, name, **base, recomputed=rec,
                        recomputed_value=show(rule.estimate), recomputed_method=f"paper's pooling ({rule.method})",
                        bayesian=bayes, bayesian_value=value, bayesian_statement=statement,
                        status=_subset_status(r, rule, o.measure, len(sel), k_pub),
                        plain=f"{o.label}, {name}: the paper reports {o.measure} {pub}; "
                              f"{_studies_words(o.name, sel)} give {rec}{plain_b}."))
    return out

def _studies_words(outcome: str, sel: pd.DataFrame) -> str:
    """'the 3 studies with data', or for within-trial strata of another outcome 'the 3 trials' strata of
    outcome MACE_ASCVD'."""
    other = str(sel["outcome"].iloc[0]) if "outcome" in sel.columns and len(sel) else outcome
    return (f"the {len(sel)} studies with data" if other == outcome
            else f"the {len(sel)} trials' strata of outcome {other}")


def _subset_status(r: Any, rule: Any, measure: str, k_used: int, k_pub: int | None) -> str:
    """A regimen or subgroup row's status: 'recomputed on fewer studies' when fewer studies than the paper's
    had data; a subgroup row on all of them graded by :func:`bayesmeta.compare.agreement` to the printed
    decimals; else 'recomputed'."""
    from bayesmeta.compare import agreement, printed_decimals

    if k_pub and k_used < k_pub:
        return "recomputed on fewer studies"
    if r.analysis != "subgroup" or pd.isna(r.ci_lower) or pd.isna(r.ci_upper):
        return "recomputed"
    row = pd.Series(r._asdict())
    show = partial(reported_float, measure=measure)
    return agreement((float(r.estimate), float(r.ci_lower), float(r.ci_upper)),
                     (show(rule.estimate), show(rule.ci_lower), show(rule.ci_upper)),
                     tuple(printed_decimals(row, c) for c in ("estimate", "ci_lower", "ci_upper")), measure)


def _egger_rows(analyses: dict[str, OutcomeAnalysis], published: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for r in published[published["analysis"] == "egger"].itertuples(index=False):
        a = analyses.get(r.outcome)
        if a is None:
            continue
        egger = a.frequentist.get("egger")
        k_pub = None if pd.isna(r.k) else int(r.k)
        pub = _p_text(r.p_value, r.p_relation or "=")
        rec = "-" if egger is None else f"{_p_text(egger.pval)} (intercept {egger.intercept:.2f})"
        plain = (f"{a.plan.label}: the paper found no funnel asymmetry (Egger {pub}); with the {a.k} studies here "
                 + ("Egger's test cannot be run (fewer than 3 studies)." if egger is None else
                    f"Egger's test gives {_p_text(egger.pval)}"
                    + (f"; with fewer than {egger.min_k} studies it should not be used (Sterne et al. 2011), so this "
                       "p-value is descriptive only." if egger.below_min_k else ".")))
        out.append(_row(a.name, "egger", "Egger test p", k_published=k_pub, k_used=a.k, published=pub,
                        published_value=r.p_value, recomputed=rec,
                        recomputed_value=None if egger is None else egger.pval, recomputed_method="Egger 1997",
                        plain=plain, **_bayes_bias(a)))
        out += _bias_adjusted_rows(a)
    return out

def _bayes_bias(a: OutcomeAnalysis) -> dict[str, Any]:
    """The Bayesian counterpart of Egger's test: the posterior probability of the models with a bias component
    and its inclusion Bayes factor (the report's [bias] ensemble), when the ensemble was fitted and has one."""
    inc = (a.bias or {}).get("inclusion", {}).get("bias")
    if inc is None:
        return {"bayesian": "no Bayesian counterpart computed"}
    bf = inc["bf"]
    bf_text = "inf" if bf is None or not math.isfinite(bf) else f"{bf:.2f}"
    return {"bayesian": f"P(bias) = {inc['post_prob']:.2f} (prior {inc['prior_prob']:.2f}); inclusion BF "
                        f"{bf_text} ({a.bias['ensemble']} ensemble)",
            "bayesian_value": inc["post_prob"], "bayesian_statement": "P(publication bias | data)"}


def _bayes_averaged(a: OutcomeAnalysis) -> dict[str, Any]:
    """Beside PET-PEESE's adjusted effect: the bias ensemble's model-averaged effect (reported scale)."""
    if not a.bias:
        return {"bayesian": "no Bayesian counterpart computed"}
    mu = a.bias["mu"]["reported"]
    return {"bayesian": f"model-averaged {_ci_text(mu['median'], mu['ci_lower'], mu['ci_upper'])} "
                        f"({a.bias['ensemble']} ensemble)",
            "bayesian_value": mu["median"], "bayesian_statement": "model-averaged posterior median"}


def _bias_adjusted_rows(a: OutcomeAnalysis) -> list[dict[str, Any]]:
    """Trim-and-fill and PET-PEESE beside the paper's Egger test (recomputed only; the paper reports neither)."""
    from bayesmeta.asymmetry import MIN_K, below_min_k

    o = a.plan
    show = partial(reported_float, measure=o.measure)
    caveat = (f" With fewer than {MIN_K} studies this funnel-based estimate is descriptive only (Sterne et al. "
              "2011)." if below_min_k(a.k) else "")
    out = []
    tf = a.frequentist.get("trimfill")
    if tf is not None:
        f = tf.fit
        pooled = _ci_text(show(f.estimate), show(f.ci_lower), show(f.ci_upper))
        rec = f"{pooled}; {tf.k0} stud{'y' if tf.k0 == 1 else 'ies'} filled on the {tf.side}"
        out.append(_row(a.name, "trimfill", f"trim-and-fill pooled {o.measure}", k_used=a.k, recomputed=rec,
                        recomputed_value=show(f.estimate), recomputed_method="Duval & Tweedie 2000 (L0, REML)",
                        bayesian="no Bayesian counterpart computed", status="not reported by the paper",
                        plain=f"{o.label}: trim-and-fill estimates {tf.k0} missing "
                              f"stud{'y' if tf.k0 == 1 else 'ies'} on the {tf.side} of the funnel; with them the "
                              f"pooled {o.measure} is {pooled}.{caveat}"))
    pp = a.frequentist.get("pet_peese")
    if pp is not None:
        pet = pp.pet.coefficients[0]
        adjusted = _ci_text(show(pp.estimate), show(pp.ci_lower), show(pp.ci_upper))
        rec = f"{pp.selected} {adjusted}"
        out.append(_row(a.name, "pet_peese", f"PET-PEESE {o.measure}", k_used=a.k, recomputed=rec,
                        recomputed_value=show(pp.estimate),
                        recomputed_method="Stanley & Doucouliagos 2014 (PEESE if PET's p < 0.10)",
                        **_bayes_averaged(a), status="not reported by the paper",
                        plain=f"{o.label}: the effect of an infinitely precise study, by {pp.selected} (PET's "
                              f"intercept {_p_text(pet.pval)}), is {o.measure} {adjusted}.{caveat}"))
    return out

def _tsa_rows(analyses: dict[str, OutcomeAnalysis], published: pd.DataFrame) -> list[dict[str, Any]]:
    from bayesmeta.tsa import implied_diversity

    out = []
    for r in published[published["analysis"] == "tsa_required_information_size"].itertuples(index=False):
        a = analyses.get(r.outcome)
        if a is None or a.tsa is None:
            continue
        t = a.tsa
        if not (math.isfinite(t.relative_risk_reduction) and math.isfinite(t.p_control)):
            continue  # sized by an mcid of another measure: no TSA-program RIS to invert
        d2 = implied_diversity(float(r.estimate), t.p_control, t.relative_risk_reduction, t.alpha, t.power)
        n_total = float(a.effects["n_total"].sum())
        mon = a.monitoring
        if mon is not None and mon.first_stop is not None:
            stop = mon.first_stop
            bayes = f"monitoring stops for {stop.reason} at look {stop.look} ({stop.study})"
        elif mon is not None:
            bayes = "monitoring never stops"
        else:
            bayes = "-"
        crossed = (f"crosses the efficacy boundary at look {t.crossed_efficacy_at}" if t.crossed_efficacy
                   else "does not cross the efficacy boundary")
        out.append(_row(
            a.name, "tsa_required_information_size", "required information size (patients)",
            k_published=None if pd.isna(r.k) else int(r.k),
            k_used=a.k, published=f"{float(r.estimate):.0f}", published_value=float(r.estimate),
            recomputed=f"{t.ris_rounded} (D^2 = {t.diversity:.2f}); accrued {n_total:.0f}",
            recomputed_value=t.ris_rounded, recomputed_method="TSA, Lan-DeMets O'Brien-Fleming",
            bayesian=bayes, status="",
            plain=(f"{a.plan.label}: the paper's RIS of {float(r.estimate):.0f} patients implies D^2 = {d2:.2f} "
                   f"with its inputs; with the {a.k} studies here (D^2 = {t.diversity:.2f}) the RIS is "
                   f"{t.ris_rounded}, {n_total:.0f} patients have accrued, and the Z-curve {crossed}; "
                   f"Bayesian {bayes}."),
        ))
    return out

def _rate_rows(plan: Plan, analyses: dict[str, OutcomeAnalysis], published: pd.DataFrame) -> list[dict[str, Any]]:
    """Published arm event rates beside the crude rate (total events / total patients) of the studies with arm
    counts; the paper does not say how it pooled them. The control arm is the plan's ``data.control_arm``."""
    out = []
    if plan.control_arm is None:
        return out
    for r in published[published["analysis"] == "rate"].itertuples(index=False):
        a = analyses.get(r.outcome)
        if a is None:
            continue
        treated = str(r.level) != plan.control_arm
        ev, tot = ("events_treatment", "total_treatment") if treated else ("events_control", "total_control")
        rows = a.effects.dropna(subset=[ev, tot])
        if rows.empty:
            continue
        rate = float(rows[ev].sum() / rows[tot].sum())
        out.append(_row(a.name, "rate", f"event rate, {r.level} arm", k_published=None if pd.isna(r.k) else int(r.k),
                        k_used=len(rows), published=f"{float(r.estimate):.3f}", published_value=float(r.estimate),
                        recomputed=f"{rate:.3f}", recomputed_value=rate,
                        recomputed_method="total events / total patients",
                        bayesian="no Bayesian counterpart computed",
                        plain=(f"{a.plan.label}, {r.level} arm: the paper reports a rate of "
                               f"{float(r.estimate):.3f} over {int(r.k)} studies; the {len(rows)} studies with "
                               f"counts here have {int(rows[ev].sum())} "
                               f"events in {int(rows[tot].sum())} patients ({rate:.3f}).")))
    return out

def _correlation_rows(plan: Plan, analyses: dict[str, OutcomeAnalysis],
                      published: pd.DataFrame) -> list[dict[str, Any]]:
    """Published Spearman correlations between outcomes (:func:`bayesmeta.compare.compare_correlations`) for
    pairs of outcomes the plan analyses."""
    from bayesmeta.compare import compare_correlations

    rows = published[published["analysis"] == "correlation"]
    pairs = [str(p) for p in rows["outcome"] if all(o in analyses for o in str(p).split("~"))]
    if not pairs:
        return []
    table = compare_correlations({n: a.effects for n, a in analyses.items()},
                                 published[published["analysis"].ne("correlation") | published["outcome"].isin(pairs)],
                                 plan.subsets)
    out = []
    for r in table.itertuples(index=False):
        pub = f"rho = {r.published_r:.2f}" + ("" if r.published_p is None or pd.isna(r.published_p)
                                              else f", {_p_text(r.published_p, r.published_p_relation or '=')}")
        have = r.r is not None and not pd.isna(r.r)
        rec = f"rho = {r.r:.2f}, {_p_text(r.p)}" if have else "not estimable"
        subset = "" if r.subset == "all" else f" ({r.subset} studies)"
        out.append(_row(r.pair, "correlation", f"Spearman correlation of study {r.x_outcome} and {r.y_outcome} "
                        f"effects{subset}", variable=str(r.subset), k_published=None if pd.isna(r.n_published)
                        else int(r.n_published), k_used=int(r.n_used), published=pub,
                        published_value=float(r.published_r), recomputed=rec,
                        recomputed_value=float(r.r) if have else None, recomputed_method="Spearman",
                        bayesian="no Bayesian counterpart computed", status=str(r.status),
                        plain=f"{r.x_outcome} vs {r.y_outcome}{subset}: the paper reports Spearman {pub}; "
                              f"{r.note}."))
    return out

NOT_COVERED_REASONS = {
    "subgroup": NO_SOURCE,
    "prognostic_factor": "the data hold no within-study prognostic-factor hazard ratios",
    "correlation": "the pair of outcomes is not in the plan",
    "meta_regression": "the covariate is not in the plan's [covariates]",
    "subgroup_difference": "the covariate is not in the plan's [covariates]",
    "rate": "the control arm is not named (data.control_arm)",
}

def published_not_covered(plan: Plan, published: pd.DataFrame | None, comparison: pd.DataFrame) -> pd.DataFrame:
    """Published rows with no counterpart in the comparison table, counted by outcome and analysis, with the
    reason the data cannot speak to them."""
    if published is None:
        return pd.DataFrame(columns=["outcome", "analysis", "rows", "reason"])
    covered = set(zip(comparison["outcome"], comparison["analysis"])) if len(comparison) else set()
    by_variable = set(zip(comparison["outcome"], comparison["analysis"], comparison["variable"])) \
        if len(comparison) else set()
    names = {o.name for o in plan.outcomes}
    records: dict[tuple[str, str], int] = {}
    for r in published.itertuples(index=False):
        key = (str(r.outcome), str(r.analysis))
        if r.analysis == "correlation":
            level = "all" if pd.isna(r.level) or str(r.level) == "" else str(r.level)
            if (*key, level) in by_variable:
                continue
        elif r.analysis in ("meta_regression", "subgroup_difference", "subgroup"):
            if (*key, str(r.variable)) in by_variable:
                continue
        elif key in covered:
            continue
        records[key] = records.get(key, 0) + 1
    out = []
    for (outcome, analysis), n in records.items():
        parts = outcome.split("~")
        if any(p not in names for p in parts):
            reason = f"outcome {outcome} is not in the plan"
        else:
            reason = NOT_COVERED_REASONS.get(analysis, "no study-level data for this analysis")
        out.append({"outcome": outcome, "analysis": analysis, "rows": n, "reason": reason})
    return pd.DataFrame(out, columns=["outcome", "analysis", "rows", "reason"])
