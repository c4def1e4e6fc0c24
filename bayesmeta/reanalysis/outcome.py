"""Every analysis of one outcome: frequentist pooling, the exact posterior and its probability statements,
meta-regression, predictive checks, prior sensitivity, influence, sequential monitoring, TSA, and Bayesian model
averaging over publication bias (the plan's [bias] section)."""

from __future__ import annotations

import zlib
from typing import Any, Callable

import numpy as np
import pandas as pd

from bayesmeta.effect_data import COUNT_COLUMNS, EffectData
from bayesmeta.plan import OutcomePlan, Plan
from bayesmeta.prior_units import log_ratio_priors_note
from bayesmeta.priors import DEFAULT_PRIOR_FILE
from bayesmeta.reanalysis.metaregression import factor_labels, metaregression
from bayesmeta.reanalysis.result import OutcomeAnalysis
from bayesmeta.reanalysis.statements import (
    benefit_probability,
    benefit_statement,
    clinical_threshold,
    harm_statement,
    probability_words,
    tau_conflict_words,
)

DENSITY_POINTS = 400

DRAWS = 4000  # joint draws of the exact posterior written to NetCDF

OUTCOME_STEPS = ("effects and frequentist pooling", "exact posterior", "meta-regression",
                 "posterior predictive checks", "prior sensitivity", "influence", "monitoring",
                 "trial sequential analysis", "publication bias and model averaging")

POWER_SCALING_READING = {
    "prior-data conflict": "its posterior moves both when the prior and when the likelihood is weighted more, so "
                           "prior and data disagree about it; the prior sensitivity table shows how much that "
                           "matters",
    "strong prior / weak likelihood": "its posterior moves with the prior but hardly with the data, so the prior "
                                      "decides it; report it with the prior sensitivity table",
}
"""What each power-scaling diagnosis (Kallioinen et al. 2024) means for a reader, in the warning that reports it."""
TAU_NEAR_ZERO_READING = (
    "tau's posterior piles up at 0 (median I^2 below 1%): with few or homogeneous studies the likelihood of tau is "
    "flat near 0, so there the prior shapes the posterior and any power-scaling of prior or likelihood moves it; "
    "this is not the data disagreeing with the prior, and the pooled effect is what to read")
"""The reading of a power-scaling diagnosis of tau when tau's posterior piles up at 0
(:func:`bayesmeta.sensitivity.tau_near_zero`), in the warning and in the report."""


def power_scaling_warnings(power: pd.DataFrame, tau_near_zero: bool, tau_pull: str | None = None) -> list[str]:
    """One warning per parameter that power-scaling flags, with its reading (:data:`POWER_SCALING_READING`; for
    tau piled up at 0, :data:`TAU_NEAR_ZERO_READING`) and, for tau in conflict with its prior, which way the data
    pull it (``tau_pull``, :func:`bayesmeta.sensitivity.tau_pull`)."""
    from bayesmeta.sensitivity import SENSITIVITY_THRESHOLD

    out = []
    for r in power.itertuples():
        if r.diagnosis != "-":
            near_zero = r.parameter == "tau" and tau_near_zero
            reading = TAU_NEAR_ZERO_READING if near_zero else POWER_SCALING_READING[r.diagnosis]
            pull = "" if near_zero else tau_conflict_words(r.parameter, r.diagnosis, tau_pull)
            out.append(f"power-scaling: {r.parameter} shows {r.diagnosis} (sensitivity to scaling the prior "
                       f"{r.prior:.3f} and the likelihood {r.likelihood:.3f}, against {SENSITIVITY_THRESHOLD}; "
                       f"Kallioinen et al. 2024){pull}: {reading}")
    return out


def oriented_prior_set(prior_set: Any, o: OutcomePlan) -> Any:
    """The prior set for outcome ``o``: :meth:`bayesmeta.priors.PriorSet.for_benefit` of its direction of benefit
    (the packaged sets, written for benefit below the null, are mirrored where benefit lies above it; a user's
    file is mirrored only when it says which direction it is written for)."""
    return prior_set.for_benefit(o.benefit)


def derived_seed(base: int, *parts: str) -> int:
    """A reproducible per-step seed: CRC-32 of 'base:part:...' (stable across runs and platforms)."""
    return zlib.crc32(":".join([str(base), *parts]).encode()) & 0x7FFFFFFF

_NOT_COVARIATES = ("study_id", "outcome", "measure", "yi", "sei", "vi", "method", "usable", "reason",
                   *COUNT_COLUMNS)


def outcome_data(effects: pd.DataFrame, o: OutcomePlan) -> EffectData:
    """An outcome's effects (one row per study, as :func:`bayesmeta.effects.effects_for` gives them) as the
    verbs take them: study labels, yi, sei, the plan's measure and direction of benefit, the study-level
    columns as covariates and the arm counts where every study has them."""
    study = tuple(effects["study_id"].astype(str))
    index = pd.Index(study, name="study")
    counts = None
    if all(c in effects.columns for c in COUNT_COLUMNS) and effects[list(COUNT_COLUMNS)].notna().all().all():
        counts = effects[list(COUNT_COLUMNS)].astype("int64").set_axis(index)
    covariates = effects[[c for c in effects.columns if c not in _NOT_COVARIATES]].set_axis(index)
    method = tuple(effects["method"].astype(str)) if "method" in effects.columns else ()
    return EffectData(study=study, yi=effects["yi"].to_numpy(float), sei=effects["sei"].to_numpy(float),
                      measure=o.measure, benefit=o.benefit, method=method, covariates=covariates, counts=counts,
                      outcome=o.name, source=f"outcome {o.name}")


def frequentist_analysis(data: EffectData, level: float, pooling: str = "I2_rule") -> dict[str, Any]:
    """The paper's pooling (the plan's ``data.pooling``, :func:`bayesmeta.frequentist.paper_rule`), REML with z
    and with Knapp-Hartung tests, Egger's test (k >= 3) and leave-one-out REML (k >= 3); beside Egger's test,
    trim-and-fill (L0, REML) and PET-PEESE when the studies' precisions differ (neither is defined otherwise)."""
    from bayesmeta.frequentist import egger_test, leave_one_out, paper_rule, rma

    out: dict[str, Any] = {"paper_rule": paper_rule(data, pooling=pooling, level=level),
                           "reml": rma(data, method="REML", level=level)}
    if data.k >= 2:
        out["reml_knha"] = rma(data, method="REML", test="knha", level=level)
    if data.k >= 3:
        out["egger"] = egger_test(data, level=level)
        out["leave_one_out"] = leave_one_out(data, method="REML", level=level)
        if np.ptp(data.sei) > 0:
            from bayesmeta.frequentist import pet_peese, trimfill

            out["trimfill"] = trimfill(data, method="REML", level=level)
            out["pet_peese"] = pet_peese(data, level=level)
    return out

def density_curves(post: Any, points: int = DENSITY_POINTS) -> dict[str, np.ndarray]:
    """Posterior density of mu and of the predictive effect on a common grid of the analysis scale (for figures)."""
    lo = min(float(post.marginal("mu").ppf(0.0005)), float(post.marginal("predictive").ppf(0.005)))
    hi = max(float(post.marginal("mu").ppf(0.9995)), float(post.marginal("predictive").ppf(0.995)))
    grid = np.linspace(lo, hi, points)
    return {
        "grid": grid,
        "mu": np.asarray(post.marginal("mu").pdf(grid), dtype=float),
        "predictive": np.asarray(post.marginal("predictive").pdf(grid), dtype=float),
    }

def shrinkage_table(post: Any, level: float) -> pd.DataFrame:
    """:meth:`Posterior.shrinkage` plus the ratio-scale columns the report shows: the observed estimate and its
    normal-theory interval exp(y -+ z sei), and the shrunken effect exp(posterior mean) with its interval."""
    from scipy import stats

    table = post.shrinkage(level)
    z = float(stats.norm.ppf(0.5 + level / 2))
    show = np.exp if post.is_ratio else (lambda v: v)
    table["observed"] = show(table["yi"])
    table["observed_lower"] = show(table["yi"] - z * table["sei"])
    table["observed_upper"] = show(table["yi"] + z * table["sei"])
    table["shrunken"] = show(table["mean"])
    table["shrunken_lower"] = show(table["ci_lower"])
    table["shrunken_upper"] = show(table["ci_upper"])
    return table


def probability_table(post: Any, o: OutcomePlan,
                      parameters: tuple[tuple[str, str], ...] = (("mu", "pooled effect"),
                                                                 ("predictive", "effect in a new study")),
                      ) -> list[dict[str, Any]]:
    """P(benefit beyond each threshold) for the pooled effect and for a new study's effect (``parameters``), with
    words, and the probability of the opposite event (the effect on the other side of the threshold, 1 - P): for
    an exposure, or a treatment that does harm, the event that is likely."""
    rows = []
    for param, what in parameters:
        for t in o.thresholds:
            p = benefit_probability(post, o, t, param)
            rows.append({"parameter": param, "what": what, "threshold": t,
                         "statement": f"P({benefit_statement(o, t)})", "probability": p,
                         "words": probability_words(p),
                         "opposite_statement": harm_statement(o.measure, o.benefit, t),
                         "opposite_probability": 1.0 - p, "opposite_words": probability_words(1.0 - p)})
    return rows

def common_effect_record(data: EffectData, mu_prior: Any, o: OutcomePlan, level: float) -> dict[str, Any]:
    """The Bayesian common-effect model (tau = 0, :mod:`bayesmeta.common_effect`) under the main prior's mu
    prior: mu on the analysis scale ({median, mean, sd, ci_lower, ci_upper}), on the reported scale, and
    P(benefit beyond each threshold) as :func:`probability_table`; ``{"reason": why}`` when the mu prior has no
    closed form (it is not approximated)."""
    from bayesmeta.common_effect import common_effect_posterior
    from bayesmeta.errors import ModelError

    try:
        post = common_effect_posterior(data, mu_prior=mu_prior)
    except ModelError as exc:
        return {"reason": str(exc)}
    return {"model": "common effect", "mu_prior": post.mu_prior, "mu": post.summary(level),
            "reported": {"mu": post.summary(level, "reported")},
            "probabilities": probability_table(post, o, (("mu", "pooled effect"),)), "level": level}

def posterior_record(post: Any, data: EffectData, mu_prior: Any, o: OutcomePlan, level: float,
                     seed: int | None) -> dict[str, Any]:
    """An outcome's ``bayes`` record (summary.json ``outcomes.<name>.bayes``): the exact random-effects posterior
    ``post`` summarised (:meth:`bayesmeta.posterior.Posterior.to_dict`), its probability table and reported
    summary, and the common-effect model under the same ``mu_prior`` (:func:`common_effect_record`). The report
    and ``bayesmeta compare --plan`` both take their Bayesian cells from it."""
    bayes = post.to_dict(level, thresholds=o.thresholds)
    bayes["probabilities"] = probability_table(post, o)
    bayes["reported"] = reported_summary(post, level)
    bayes["level"] = level
    bayes["seed"] = seed
    bayes["common_effect"] = common_effect_record(data, mu_prior, o, level)
    return bayes

def reported_summary(post: Any, level: float) -> dict[str, dict[str, float]]:
    """{median, ci_lower, ci_upper} of mu and predictive on the reported scale (ratios for HR/RR/OR,
    :func:`bayesmeta.scales.to_reported`) and of tau as it is (the between-study SD of the analysis scale)."""
    table = post.summary(level, scale="reported")
    return {param: {c: float(table.at[param, c]) for c in ("median", "ci_lower", "ci_upper")}
            for param in ("mu", "predictive", "tau")}

def record_skip(a: OutcomeAnalysis, what: str, why: str) -> None:
    a.skipped[what] = why

def run_step(a: OutcomeAnalysis, what: str, fn: Callable[[], Any]) -> Any:
    """Run one analysis; a model that cannot be fitted (too few studies, an improper posterior) is recorded as
    skipped with the library's reason instead of stopping the whole reanalysis."""
    from bayesmeta.errors import ModelError

    try:
        return fn()
    except ModelError as exc:
        record_skip(a, what, str(exc))
        a.warnings.append(f"{what} not run: {exc}")
        return None

def _mark_confounded(a: OutcomeAnalysis) -> None:
    """Covariates that split the outcome's studies into the same groups cannot be told apart: record it."""
    groups = {}
    for m in a.metaregression:
        if m.get("fitted") and m.get("kind") == "factor":
            by_level = a.effects.groupby(factor_labels(a.effects[m["covariate"]]).fillna(""))["study_id"]
            groups[m["covariate"]] = frozenset(frozenset(ids) for _, ids in by_level)
    for m in a.metaregression:
        if m["covariate"] in groups:
            same = [c for c, g in groups.items() if c != m["covariate"] and g == groups[m["covariate"]]]
            m["confounded_with"] = same
    seen = set()
    for c, g in groups.items():
        same = sorted(d for d, h in groups.items() if h == g)
        if len(same) > 1 and tuple(same) not in seen:
            seen.add(tuple(same))
            a.warnings.append(f"meta-regression: {' and '.join(same)} split the {a.k} studies identically; their "
                              f"effects cannot be told apart")


def formula_columns(plan: Plan) -> tuple[str, ...]:
    """The columns of the outcomes' formulas (``outcomes.<name>.formula`` or [covariates] formula) that are not
    among the plan's [covariates] columns."""
    from bayesmeta.formula import parse_formula

    columns = (c for o in plan.outcomes if o.formula is not None for c in parse_formula(o.formula).columns)
    return tuple(c for c in dict.fromkeys(columns) if c not in plan.covariates)


def prior_units_warnings(plan: Plan, measure: str, sei: np.ndarray) -> list[str]:
    """The report's warning when an MD outcome is fitted under the packaged (log-ratio) prior sets, i.e. the
    plan names no ``data.priors`` (:func:`bayesmeta.prior_units.log_ratio_priors_note`)."""
    note = log_ratio_priors_note(measure, sei) if plan.priors_file == DEFAULT_PRIOR_FILE else None
    return [f"priors: {note}"] if note else []


def outcome_unit(plan: Plan, o: OutcomePlan, main: Any, effects: pd.DataFrame) -> Any:
    """The outcome's scale unit (:func:`bayesmeta.scale_unit.scale_unit`): from the main set's tau prior when the
    plan names its own prior sets (``data.priors``), else from the studies' sizes and standard errors."""
    from bayesmeta.scale_unit import scale_unit

    own = plan.priors_file != DEFAULT_PRIOR_FILE
    sizes = effects["n_total"].to_numpy(float) if "n_total" in effects.columns else None
    return scale_unit(o.measure, tau_prior=main.tau if own else None, sample_sizes=sizes,
                      sei=effects["sei"].to_numpy(float))


def analyse_outcome(plan: Plan, o: OutcomePlan, rows: pd.DataFrame, effects: pd.DataFrame,
                    prior_sets: dict[str, Any], k_published: int | None, seeds: dict[str, int],
                    step: Callable[[str], None], published_ris: float | None = None) -> OutcomeAnalysis:
    """Every per-outcome analysis of the plan (see the module docstring)."""
    from bayesmeta.exact import fit_exact

    main = prior_sets[plan.main_prior]
    a = OutcomeAnalysis(plan=o, rows=rows, effects=effects, k_published=k_published,
                        main_prior={"name": plan.main_prior, **main.as_dict()},
                        plan_covariates=plan.covariates + formula_columns(plan))
    wrong = effects[effects["measure"] != o.measure]
    if len(wrong):
        from bayesmeta.errors import InputError

        raise InputError(f"outcome {o.name} is analysed as {o.measure} in the plan but study "
                         f"{wrong['study_id'].iloc[0]} reports a {wrong['measure'].iloc[0]}",
                         file=str(plan.outcomes_file), column="measure", valid=o.measure)
    k = len(effects)
    level = plan.level

    step(f"{o.name}: effects and frequentist pooling")
    if k == 0:
        for what in OUTCOME_STEPS[1:]:
            step(f"{o.name}: {what}")
        record_skip(a, "all", "no study has usable data for this outcome")
        a.warnings.append(f"{o.name}: no study has usable data; nothing was fitted")
        return a
    data = outcome_data(effects, o)
    a.warnings += prior_units_warnings(plan, o.measure, data.sei)
    a.frequentist = frequentist_analysis(data, level, plan.pooling)

    step(f"{o.name}: exact posterior")
    seed = seeds[f"exact.{o.name}"] = derived_seed(plan.seed, "exact", o.name)
    post = run_step(a, "exact posterior", lambda: fit_exact(data, mu_prior=main.mu, tau_prior=main.tau, seed=seed))
    if post is None:
        for what in OUTCOME_STEPS[2:]:
            step(f"{o.name}: {what}")
        return a
    a.bayes = posterior_record(post, data, main.mu, o, level, seed)
    if "reason" in a.bayes["common_effect"]:
        a.warnings.append(f"common-effect posterior not computed: {a.bayes['common_effect']['reason']}")
    a.shrinkage = shrinkage_table(post, level)
    a.density = density_curves(post)
    a.idata = post.to_inference_data(DRAWS, seed)
    a.warnings += [f"exact engine: {w}" for w in post.warnings]

    step(f"{o.name}: meta-regression")
    for column in plan.covariates:
        result = run_step(a, f"meta-regression on {column}", lambda: metaregression(
            effects, o, main, column, level, plan.min_per_level))
        if result is not None:
            a.metaregression.append(result)

    _mark_confounded(a)
    if o.formula is not None:
        from bayesmeta.formula import parse_formula
        from bayesmeta.reanalysis.formula_regression import formula_regression

        a.formula_regression = run_step(a, f"meta-regression on {o.formula}",
                                        lambda: formula_regression(
                                            effects, o, main, parse_formula(o.formula), level,
                                            {name: prior_sets[name] for name in plan.sensitivity_priors},
                                            plan.main_prior))
        if a.formula_regression is not None:
            a.warnings += [f"meta-regression on {o.formula}: {w}" for w in a.formula_regression.warnings]

    step(f"{o.name}: posterior predictive checks")
    from bayesmeta import ppc

    pseed = seeds[f"ppc.{o.name}"] = derived_seed(plan.seed, "ppc", o.name)
    studies_table = run_step(a, "posterior predictive checks", lambda: ppc.study_predictive_pvalues(
        post, level=level, loo=k >= 3))
    q = run_step(a, "heterogeneity check", lambda: ppc.q_discrepancy_ppp(post, seed=pseed))
    a.ppc = {"studies": studies_table, "q": q, "seed": pseed}
    if k >= 3:
        a.ppc["loo_pit"] = run_step(a, "LOO-PIT", lambda: ppc.loo_pit(post, level=level))
        a.ppc["loo_pit_band"] = ppc.uniform_ecdf_band(k, level)  # the LOO-PIT figure's reference band
        if studies_table is not None and "pareto_k" in studies_table.columns:
            bad = studies_table[studies_table["pareto_k"] > 0.7]
            for sid in bad.index:
                a.warnings.append(f"PPC: Pareto k > 0.7 for {sid}: its LOO estimate is unreliable")

    step(f"{o.name}: prior sensitivity")
    from bayesmeta import sensitivity

    chosen = {name: prior_sets[name] for name in (plan.main_prior, *plan.sensitivity_priors)}
    unit = outcome_unit(plan, o, main, effects)
    tau_scales = plan.tau_scales or unit.tau_scales()
    grid = run_step(a, "prior grid", lambda: sensitivity.prior_grid(
        data, prior_sets=chosen, tau_scales=tau_scales, thresholds=o.thresholds, level=level))
    changes = None
    if grid is not None:
        changes = run_step(a, "conclusion changes", lambda: sensitivity.conclusion_changes(
            grid, threshold=clinical_threshold(o)))
    power = run_step(a, "power-scaling sensitivity", lambda: sensitivity.power_scaling(post))
    near_zero = sensitivity.tau_near_zero(post.marginal("tau").median(), data.sei)
    a.sensitivity = {"grid": grid, "changes": changes, "power_scaling": power,
                     "tau_near_zero": near_zero, "clinical_threshold": clinical_threshold(o),
                     "scale_unit": unit.as_dict(), "tau_scales": list(tau_scales), "tau_pull": sensitivity.tau_pull(post, main.tau),
                     "robust": None if changes is None else
                     bool(changes.attrs.get("robust", not changes["changes"].any()))}
    if changes is not None and not a.sensitivity["robust"]:
        moved = changes[changes["changes"]]
        a.warnings.append(f"prior sensitivity: P({benefit_statement(o, clinical_threshold(o))}) changes band under "
                          f"{len(moved)} of {len(changes)} prior combinations")
    if power is not None:
        a.warnings += power_scaling_warnings(power, near_zero, a.sensitivity["tau_pull"])

    step(f"{o.name}: influence")
    if k >= 3:
        from bayesmeta.influence import influence

        a.influence = run_step(a, "influence", lambda: influence(
            post, thresholds=o.thresholds, level=level, benefit=o.benefit))
    else:
        record_skip(a, "influence", f"leave-one-out needs at least 3 studies (k = {k})")

    step(f"{o.name}: monitoring")
    if o.name in plan.monitoring.outcomes:
        _monitoring(plan, o, a, effects, data, main, seeds)
    else:
        record_skip(a, "monitoring", "not requested in the plan's [monitoring] outcomes")

    step(f"{o.name}: trial sequential analysis")
    tsa_plan = next((t for t in plan.tsa if t.outcome == o.name), None)
    if tsa_plan is not None:
        _tsa(a, tsa_plan, effects, data, published_ris)
    else:
        record_skip(a, "trial sequential analysis", "not requested in the plan's [tsa] tables")

    step(f"{o.name}: publication bias and model averaging")
    _bias(plan, o, a, data, seeds, unit)
    return a


def _bias(plan: Plan, o: OutcomePlan, a: OutcomeAnalysis, data: EffectData, seeds: dict[str, int],
          unit: Any = None) -> None:
    """The plan's [bias] ensemble for this outcome when it is enabled, chosen and has min_k studies; the warnings
    of its Monte Carlo gate (selection models beyond the tensor rule) join the outcome's warnings."""
    from bayesmeta.reanalysis.bias import bias_analysis

    what = "publication bias and model averaging"
    b = plan.bias
    if not b.enabled or o.name not in b.outcomes:
        record_skip(a, what, "not requested in the plan's [bias] section")
    elif a.k < b.min_k:
        record_skip(a, what, f"fewer than bias.min_k = {b.min_k} studies (k = {a.k})")
    else:
        seed = seeds[f"bias.{o.name}"] = derived_seed(plan.seed, "bias", o.name)
        a.bias = run_step(a, what, lambda: bias_analysis(data, b, plan.level, seed, unit))
        if a.bias is not None:
            a.warnings += [f"publication bias: {w}" for w in a.bias.get("warnings", [])]


def study_years(effects: pd.DataFrame) -> tuple[np.ndarray | None, list[str]]:
    """(publication years, studies without one): the years when every study has one, else None (file order)
    and the studies whose year is blank or not a number; (None, []) without a year column."""
    if "year" not in effects.columns:
        return None, []
    years = pd.to_numeric(effects["year"], errors="coerce").to_numpy(float)
    missing = ~np.isfinite(years)
    if missing.any():
        return None, [str(s) for s in effects["study_id"][missing]]
    return years, []


def _order_keys(a: OutcomeAnalysis, effects: pd.DataFrame, what: str) -> np.ndarray | None:
    """Publication years when every study has one; else file order, with a warning naming the studies without
    a year."""
    years, missing = study_years(effects)
    if missing:
        a.warnings.append(f"{what}: no year for {len(missing)} of {len(effects)} studies ({', '.join(missing[:5])}"
                          f"{', ...' if len(missing) > 5 else ''}), so the studies are taken in file order")
    return years


def _monitoring(plan: Plan, o: OutcomePlan, a: OutcomeAnalysis, effects: pd.DataFrame, data: EffectData,
                main: Any, seeds: dict[str, int]) -> None:
    from bayesmeta.sequential import monitor

    m = plan.monitoring
    common = dict(mu_prior=main.mu, tau_prior=main.tau, benefit_prob=m.benefit_probability,
                  futility_mcid=m.futility_mcid.get(o.name), futility_prob=m.futility_probability)
    order = _order_keys(a, effects, "monitoring") if m.order == "year" else None
    a.monitoring = run_step(a, "monitoring", lambda: monitor(
        data, order=order, sample_sizes=effects["n_total"].to_numpy(float), thresholds=o.thresholds,
        level=plan.level, **common))



def _tsa(a: OutcomeAnalysis, t: Any, effects: pd.DataFrame, data: EffectData, published_ris: float | None) -> None:
    """Trial sequential analysis as planned, and the D^2 that the published information size implies."""
    from bayesmeta import tsa as tsa_module
    from bayesmeta.frequentist import rma

    if t.heterogeneity == "D2":
        diversity, method = "auto", "DL"
    elif t.heterogeneity == "I2":
        diversity, method = float(rma(data, method="DL").i2) / 100.0, "DL"
    elif t.heterogeneity == "D2-HKSJ":
        diversity, method = "auto", "DL"
    else:
        diversity, method = 0.0, "FE"
    legacy = t.relative_risk_reduction is not None and t.control_rate is not None
    a.tsa_settings = {"relative_risk_reduction": t.relative_risk_reduction, "alpha": t.alpha, "power": t.power,
                      "control_rate": t.control_rate, "control_rate_source": t.control_rate_source,
                      "heterogeneity": t.heterogeneity, "method": method, "published_ris": published_ris,
                      "implied_diversity_of_published_ris": None if published_ris is None else
                      tsa_module.implied_diversity(published_ris, t.control_rate, t.relative_risk_reduction,
                                                   t.alpha, t.power) if legacy else None,
                      "mcid": t.mcid, "sd": t.sd, "sides": t.sides, "spending": t.spending, "futility": t.futility,
                      "inflate": t.inflate, "futility_rule": t.futility_rule, "beta_adjustment": t.beta_adjustment,
                      "two_sided_power": t.two_sided_power}
    sizes = effects["n_total"].to_numpy(float) if "n_total" in effects.columns else np.array([np.nan])
    a.tsa = run_step(a, "trial sequential analysis", lambda: tsa_module.tsa(
        # without every study's size, an MD or SMD counts participants-equivalents from its standard errors
        data, sample_sizes=sizes if np.isfinite(sizes).all() else None, p_control=t.control_rate,
        relative_risk_reduction=t.relative_risk_reduction, alpha=t.alpha, power=t.power, diversity=diversity,
        order=_order_keys(a, effects, "trial sequential analysis"), method=method, mcid=t.mcid, sd=t.sd, sides=t.sides, spending=t.spending,
        futility=t.futility, inflate=t.inflate, heterogeneity=t.heterogeneity if t.heterogeneity != "none" else "D2",
        futility_rule=t.futility_rule, beta_adjustment=t.beta_adjustment, two_sided_power=t.two_sided_power))
