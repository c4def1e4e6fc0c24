"""Run a whole reanalysis plan: every number of the report, and nothing of its presentation.

:func:`run_plan` takes a validated :class:`~bayesmeta.plan.Plan` and, per outcome, derives the effects, pools
them the frequentist way (the paper's rule and REML), fits the exact posterior of the main prior, cross-checks it
with NUTS, fits a meta-regression per covariate, runs the posterior predictive checks, the prior sensitivity and
influence analyses, sequential monitoring and trial sequential analysis; then it assembles the comparison with the
published numbers, the reinterpretation of the published estimates, the consistency checks of the printed numbers
and the data coverage. :meth:`ReanalysisResult.to_summary` returns every number as a JSON-ready dict.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from bayesmeta.cache import ResultCache, cache_key, library_versions
from bayesmeta.plan import OutcomePlan, Plan

Progress = Callable[[str], None]
"""Called with a short description as each step starts (a progress bar advances one step per call)."""

QUANTILES = (0.025, 0.25, 0.5, 0.75, 0.975)
AGREEMENT_LIMIT = 4.0  # |NUTS - exact| / MCSE beyond this flags a disagreement between the engines
DENSITY_POINTS = 400
DRAWS = 4000  # joint draws of the exact posterior written to NetCDF


# -- small helpers ----------------------------------------------------------------------------------------
def _json(value: Any) -> Any:
    """JSON-ready copy: numpy scalars to Python, NaN/inf to None, DataFrames to records, tuples to lists."""
    if isinstance(value, pd.DataFrame):
        frame = value.reset_index() if value.index.name is not None else value
        return [_json(r) for r in frame.to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_json(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "as_dict"):
        return _json(value.as_dict())
    if hasattr(value, "to_dict"):
        return _json(value.to_dict())
    return value


def _ratio(x: float, measure: str) -> float:
    return float(np.exp(x)) if measure in ("HR", "RR", "OR") else float(x)


def probability_words(p: float) -> str:
    """A plain-language reading of a posterior probability (the IPCC calibrated-language scale,
    Mastrandrea et al. 2010): >= 0.99 virtually certain, >= 0.90 very likely, >= 0.66 likely, > 0.33 about as
    likely as not, > 0.10 unlikely, > 0.01 very unlikely, else exceptionally unlikely."""
    if p >= 0.99:
        return "virtually certain"
    if p >= 0.90:
        return "very likely"
    if p >= 0.66:
        return "likely"
    if p > 0.33:
        return "about as likely as not"
    if p > 0.10:
        return "unlikely"
    if p > 0.01:
        return "very unlikely"
    return "exceptionally unlikely"


def probability_text(p: float) -> str:
    """A probability to 3 decimals, '> 0.999' and '< 0.001' at the ends."""
    if p > 0.999:
        return "> 0.999"
    if p < 0.001:
        return "< 0.001"
    return f"{p:.3f}"


def stated(statement: str, p: float) -> str:
    """'P(HR < 0.7) = 0.912', or 'P(HR < 1) > 0.999' at the ends."""
    text = probability_text(p)
    return f"{statement} {text}" if text[0] in "<>" else f"{statement} = {text}"


def benefit_statement(o: OutcomePlan, threshold: float) -> str:
    """'HR < 0.7' for outcomes where benefit is below, 'RR > 1.25' where it is above."""
    sign = "<" if o.benefit_below else ">"
    return f"{o.measure} {sign} {threshold:g}"


def clinical_threshold(o: OutcomePlan) -> float:
    """The most demanding threshold of the outcome (the smallest for benefit below 1, the largest above)."""
    return min(o.thresholds) if o.benefit_below else max(o.thresholds)


def benefit_probability(post: Any, o: OutcomePlan, threshold: float, param: str = "mu") -> float:
    """P(effect beyond ``threshold`` on the benefit side) from a Posterior."""
    return post.prob_below(threshold, param) if o.benefit_below else post.prob_above(threshold, param)


# -- result types -----------------------------------------------------------------------------------------
@dataclass
class OutcomeAnalysis:
    """Everything computed for one outcome. Library result objects are kept as returned (for figures);
    :meth:`summary` turns them into plain numbers."""

    plan: OutcomePlan
    rows: pd.DataFrame
    effects: pd.DataFrame
    k_published: int | None
    main_prior: dict[str, str]
    published: dict[str, Any] | None = None
    frequentist: dict[str, Any] = field(default_factory=dict)
    bayes: dict[str, Any] = field(default_factory=dict)
    shrinkage: pd.DataFrame | None = None
    density: dict[str, np.ndarray] = field(default_factory=dict)
    idata: Any = None
    nuts: dict[str, Any] | None = None
    nuts_idata: Any = None
    metaregression: list[dict[str, Any]] = field(default_factory=list)
    ppc: dict[str, Any] = field(default_factory=dict)
    sensitivity: dict[str, Any] = field(default_factory=dict)
    influence: pd.DataFrame | None = None
    monitoring: Any = None
    operating: pd.DataFrame | None = None
    tsa: Any = None
    tsa_settings: dict[str, Any] | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def k(self) -> int:
        return int(len(self.effects))

    def summary(self) -> dict[str, Any]:
        o = self.plan
        out: dict[str, Any] = {
            "label": o.label,
            "measure": o.measure,
            "benefit": o.benefit,
            "thresholds": list(o.thresholds),
            "k": self.k,
            "k_published": self.k_published,
            "published": _json(self.published),
            "effects": _json(self.effects[[c for c in EFFECT_FIELDS if c in self.effects.columns]]),
            "frequentist": _json(self.frequentist),
            "bayes": _json(self.bayes),
            "shrinkage": _json(self.shrinkage) if self.shrinkage is not None else [],
            "mcmc": _json(self.nuts) if self.nuts is not None else None,
            "metaregression": _json(self.metaregression),
            "ppc": _json(self.ppc),
            "sensitivity": _json(self.sensitivity),
            "influence": _json(self.influence) if self.influence is not None else [],
            "monitoring": _json(self.monitoring) if self.monitoring is not None else None,
            "operating_characteristics": _json(self.operating) if self.operating is not None else [],
            "tsa": _json(self.tsa) if self.tsa is not None else None,
            "tsa_settings": _json(self.tsa_settings),
            "skipped": dict(self.skipped),
            "warnings": list(self.warnings),
        }
        return out


EFFECT_FIELDS = ("study_id", "first_author", "year", "design", "platinum", "systemic", "n_total", "yi", "sei",
                 "method")


@dataclass
class ReanalysisResult:
    """The output of :func:`run_plan`."""

    plan: Plan
    outcomes: dict[str, OutcomeAnalysis]
    coverage: pd.DataFrame
    missing_studies: pd.DataFrame
    comparison: pd.DataFrame
    not_covered: pd.DataFrame
    reinterpretation: pd.DataFrame
    consistency: pd.DataFrame
    priors: dict[str, dict[str, str]]
    versions: dict[str, str]
    seeds: dict[str, int]
    timings: dict[str, float]
    cache_key: str = ""
    cache_hit: bool = False

    @property
    def warnings(self) -> list[dict[str, str]]:
        """Every warning with the outcome and the step it came from."""
        out = []
        for name, a in self.outcomes.items():
            for w in a.warnings:
                out.append({"outcome": name, "message": w})
        return out

    def to_summary(self) -> dict[str, Any]:
        """Every number in the report, JSON-ready."""
        plan = self.plan
        return {
            "title": plan.title,
            "plan": plan.path.name,
            "level": plan.level,
            "seeds": dict(self.seeds),
            "versions": dict(self.versions),
            "cache_key": self.cache_key,
            "inputs": {
                "studies": plan.studies.name,
                "outcomes": plan.outcomes_file.name,
                "published": plan.published.name if plan.published else None,
                "priors": plan.priors_file.name,
            },
            "priors": self.priors,
            "mcmc_settings": _json(plan.mcmc.__dict__),
            "monitoring_settings": _json(plan.monitoring.__dict__),
            "coverage": _json(self.coverage),
            "missing_studies": _json(self.missing_studies),
            "outcomes": {name: a.summary() for name, a in self.outcomes.items()},
            "comparison": _json(self.comparison),
            "published_not_covered": _json(self.not_covered),
            "reinterpretation": _json(self.reinterpretation),
            "consistency": _json(self.consistency),
            "warnings": self.warnings,
        }


# -- steps ------------------------------------------------------------------------------------------------
OUTCOME_STEPS = ("effects and frequentist pooling", "exact posterior", "meta-regression",
                 "posterior predictive checks", "prior sensitivity", "influence", "monitoring",
                 "trial sequential analysis")
GLOBAL_STEPS = ("comparison with the published numbers", "reinterpretation and consistency")


def plan_steps(plan: Plan) -> list[str]:
    """The steps :func:`run_plan` reports to ``progress``, in order."""
    steps = ["loading data"]
    for o in plan.outcomes:
        steps += [f"{o.name}: {s}" for s in OUTCOME_STEPS]
    steps += [f"{name}: NUTS cross-check" for name in plan.mcmc.outcomes]
    return steps + list(GLOBAL_STEPS)


def derived_seed(base: int, *parts: str) -> int:
    """A reproducible per-step seed: CRC-32 of 'base:part:...' (stable across runs and platforms)."""
    import zlib

    return zlib.crc32(":".join([str(base), *parts]).encode()) & 0x7FFFFFFF


# -- per-outcome analyses ---------------------------------------------------------------------------------
def frequentist_analysis(effects: pd.DataFrame, level: float) -> dict[str, Any]:
    """The paper's pooling rule (common effect if I^2 < 50%, else DerSimonian-Laird), REML with z and with
    Knapp-Hartung tests, Egger's test (k >= 3) and leave-one-out REML (k >= 3)."""
    from bayesmeta.frequentist import egger_test, leave_one_out, paper_rule, rma

    y, v = effects["yi"].to_numpy(float), effects["vi"].to_numpy(float)
    ids = effects["study_id"].astype(str).tolist()
    out: dict[str, Any] = {"paper_rule": paper_rule(y, v, level=level), "reml": rma(y, v, "REML", level=level)}
    if len(y) >= 2:
        out["reml_knha"] = rma(y, v, "REML", test="knha", level=level)
    if len(y) >= 3:
        out["egger"] = egger_test(y, v, level=level)
        out["leave_one_out"] = leave_one_out(y, v, method="REML", study=ids, level=level)
    return out


def density_curves(post: Any, points: int = DENSITY_POINTS) -> dict[str, np.ndarray]:
    """Posterior density of mu and of theta_new on a common grid of the analysis scale (for figures)."""
    lo = min(float(post.marginal("mu").ppf(0.0005)), float(post.marginal("theta_new").ppf(0.005)))
    hi = max(float(post.marginal("mu").ppf(0.9995)), float(post.marginal("theta_new").ppf(0.995)))
    grid = np.linspace(lo, hi, points)
    return {
        "grid": grid,
        "mu": np.asarray(post.marginal("mu").pdf(grid), dtype=float),
        "predictive": np.asarray(post.marginal("theta_new").pdf(grid), dtype=float),
    }


def probability_table(post: Any, o: OutcomePlan) -> list[dict[str, Any]]:
    """P(benefit beyond each threshold) for the pooled effect and for a new study's effect, with words."""
    rows = []
    for param, what in (("mu", "pooled effect"), ("theta_new", "effect in a new study")):
        for t in o.thresholds:
            p = benefit_probability(post, o, t, param)
            rows.append({"parameter": param, "what": what, "threshold": t,
                         "statement": f"P({benefit_statement(o, t)})", "probability": p,
                         "words": probability_words(p)})
    return rows


def natural_summary(post: Any, level: float) -> dict[str, dict[str, float]]:
    """Median and central interval of mu, theta_new (ratio scale) and tau (log scale)."""
    out = {}
    for param, key in (("mu", "mu"), ("theta_new", "predictive"), ("tau", "tau")):
        m = post.marginal(param)
        lo, hi = m.interval(level)
        tr = (lambda x: float(x)) if param == "tau" or not post.is_ratio else (lambda x: float(np.exp(x)))
        out[key] = {"median": tr(m.median()), "lower": tr(lo), "upper": tr(hi)}
    return out


def quantile_agreement(exact: Any, nuts: Any, nuts_idata: Any, o: OutcomePlan) -> pd.DataFrame:
    """Exact vs NUTS quantiles of mu and tau, and P(benefit) at each threshold, with the NUTS Monte Carlo
    standard error (ArviZ ``mcse``: quantile method for quantiles, mean of the indicator for probabilities, at
    least the iid binomial SE) and z = (NUTS - exact) / MCSE."""
    import arviz as az

    rows = []
    for param in ("mu", "tau"):
        draws = np.asarray(nuts_idata.posterior[param]).ravel()
        for q in QUANTILES:
            e = float(exact.marginal(param).ppf(q))
            n = float(np.quantile(draws, q))
            se = float(az.mcse(nuts_idata, var_names=[param], method="quantile", prob=q)[param])
            rows.append({"parameter": param, "quantity": f"q{q:g}", "exact": e, "nuts": n, "mcse": se})
    mu = nuts_idata.posterior["mu"]
    size = int(mu.size)
    for t in o.thresholds:
        indicator = (mu < np.log(t)) if o.benefit_below else (mu > np.log(t))
        e = benefit_probability(exact, o, t)
        n = float(indicator.mean())
        # when every draw falls on one side ArviZ's MCSE is 0; the iid binomial SE at the exact probability is
        # then the smallest honest error
        se = max(float(az.mcse(indicator.astype(float).to_dataset(name="p"), method="mean")["p"]),
                 float(np.sqrt(e * (1 - e) / size)))
        rows.append({"parameter": "mu", "quantity": f"P({benefit_statement(o, t)})", "exact": e, "nuts": n,
                     "mcse": se})
    table = pd.DataFrame(rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["z"] = (table["nuts"] - table["exact"]) / table["mcse"]
    table["agrees"] = ~(table["z"].abs() > AGREEMENT_LIMIT)
    return table


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _levels_ok(effects: pd.DataFrame, column: str, min_per_level: int) -> tuple[bool, str, dict[str, int]]:
    """Whether a covariate can be analysed: a factor needs two or more levels with at least ``min_per_level``
    studies each; a numeric covariate at least three distinct values."""
    values = effects[column]
    if _is_numeric(values):
        distinct = int(values.nunique())
        if distinct < 3:
            return False, f"only {distinct} distinct value{'s' if distinct != 1 else ''} among the studies", {}
        return True, "", {}
    counts = values.astype(str).value_counts().sort_index().to_dict()
    if len(counts) < 2:
        only = next(iter(counts), "none")
        return False, f"all {len(effects)} studies with data share one level ({only})", counts
    small = {lev: n for lev, n in counts.items() if n < min_per_level}
    if small:
        parts = ", ".join(f"{lev}: {n}" for lev, n in small.items())
        return False, f"fewer than {min_per_level} studies in a level ({parts})", counts
    return True, "", counts


def attach_covariates(effects: pd.DataFrame, studies: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Add the plan's covariate columns from the study table to an outcome's effects (those not already there);
    a column whose every value reads as a number becomes numeric."""
    missing = [c for c in columns if c not in effects.columns]
    if not missing:
        return effects
    extra = studies[["study_id", *missing]].copy()
    for c in missing:
        numeric = pd.to_numeric(extra[c], errors="coerce")
        if numeric.notna().all():
            extra[c] = numeric
    return effects.merge(extra, on="study_id", how="left")


def level_marginal(post: Any, prior: Any, j: int | None) -> Any:
    """Exact posterior marginal of the pooled effect at one covariate level, mu + beta_j (j None: the reference
    level, mu itself), for a single-factor meta-regression fitted by :func:`bayesmeta.exact.fit_exact`.

    Given tau, b = (mu, beta) | tau, y is Gaussian (Roever 2020, J Stat Softw 93(6); R bayesmeta ``bmr``), so
    c'b | tau, y ~ N(c' m(tau), c' V(tau) c) with c = e_0 + e_j, and its marginal is the normal mixture over the
    engine's tau quadrature nodes and weights (``post.extras``), like every other exact marginal."""
    from bayesmeta.exact.gaussian import GaussianModel
    from bayesmeta.exact.mixture import NormalMixture
    from bayesmeta.priors import NormalPrior

    k, p = post.k, 1 + len(post.covariates)
    design = np.column_stack([np.ones(k), np.asarray(post.design, dtype=float).reshape(k, -1)])
    effect_priors = [prior.mu] + [prior.beta] * (p - 1)
    mean0 = np.array([q.mean if isinstance(q, NormalPrior) else 0.0 for q in effect_priors])
    prec0 = np.array([1.0 / q.sd**2 if isinstance(q, NormalPrior) else 0.0 for q in effect_priors])
    model = GaussianModel(post.y[None, :], (post.sei**2)[None, :], np.ones((1, k), dtype=bool), design,
                          mean0[None, :], prec0[None, :])
    nodes = np.asarray(post.extras["tau_nodes"], dtype=float)
    cond = model.conditional(nodes[None, :])
    c = np.zeros(p)
    c[0] = 1.0
    if j is not None:
        c[1 + j] = 1.0
    means = cond.mean[0] @ c
    sds = np.sqrt(np.einsum("i,mij,j->m", c, cond.cov[0], c))
    return NormalMixture(np.asarray(post.extras["tau_weights"], dtype=float), means, sds)


def metaregression(effects: pd.DataFrame, o: OutcomePlan, prior: Any, column: str, level: float, seed: int,
                   min_per_level: int) -> dict[str, Any]:
    """Exact posterior of the meta-regression on one study-level covariate (treatment coding, reference = the
    most frequent level; :func:`bayesmeta.design.design_matrix`): the coefficient as a ratio of effects between
    levels with P(ratio < 1), the pooled effect per level (:func:`level_marginal`), tau, and the frequentist REML
    mixed-effects counterpart (QM test)."""
    from bayesmeta.design import design_matrix, reference_level
    from bayesmeta.exact import fit_exact
    from bayesmeta.frequentist import rma

    ok, reason, counts = _levels_ok(effects, column, min_per_level)
    numeric = _is_numeric(effects[column])
    out: dict[str, Any] = {"covariate": column, "kind": "numeric" if numeric else "factor", "counts": counts,
                           "fitted": ok, "reason": reason}
    if not ok:
        return out
    covs = effects[[column]].reset_index(drop=True)
    if not numeric:
        covs = covs.astype(str)
    X, names = design_matrix(covs, [column])
    ref = "" if numeric else reference_level(covs[column])
    y, s = effects["yi"].to_numpy(float), effects["sei"].to_numpy(float)
    post = fit_exact(y, s, mu_prior=prior.mu, tau_prior=prior.tau, beta_prior=prior.beta, X=X,
                     covariate_names=names, study_ids=effects["study_id"].astype(str).tolist(),
                     measure=o.measure, seed=seed)
    level_of = {} if numeric else {ref: level_marginal(post, prior, None)}
    for j, name in enumerate(names):
        if not numeric:
            level_of[name[len(column) + 1:-1]] = level_marginal(post, prior, j)
    levels = []
    for lev, marg in level_of.items():
        lo, hi = marg.interval(level)
        levels.append({"level": lev, "reference": lev == ref, "k": counts[lev], "median": float(marg.median()),
                       "lower": float(lo), "upper": float(hi), "mean": float(marg.mean())})
    contrasts = []
    for j, name in enumerate(names):
        lev = f"+1 {column}" if numeric else name[len(column) + 1:-1]
        m = post.marginal(f"beta[{name}]")
        b_lo, b_hi = m.interval(level)
        contrasts.append({
            "coefficient": name, "level": lev, "reference": ref,
            "ratio_median": _ratio(m.median(), o.measure), "ratio_lower": _ratio(b_lo, o.measure),
            "ratio_upper": _ratio(b_hi, o.measure),
            "p_ratio_below_1": post.prob_below(1.0, f"beta[{name}]"),
            "statement": (f"P({o.measure} ratio per unit of {column} < 1)" if numeric
                          else f"P({o.measure} ratio {lev} / {ref} < 1)"),
        })
    tau = post.marginal("tau")
    freq = rma(y, effects["vi"].to_numpy(float), method="REML", mods=X, mod_names=names, level=level)
    out.update({
        "reference": ref, "levels": levels, "contrasts": contrasts,
        "tau_median": float(tau.median()), "tau_interval": list(tau.interval(level)),
        "seed": seed,
        "frequentist": {"qm": freq.qm, "qm_df": freq.qm_df, "qm_p": freq.qm_p, "tau2": freq.tau2, "r2": freq.r2,
                        "coefficients": [c.__dict__ for c in freq.coefficients]},
        "posterior": post.to_dict(level),
    })
    return out


def _skip(a: OutcomeAnalysis, what: str, why: str) -> None:
    a.skipped[what] = why


def _run_step(a: OutcomeAnalysis, what: str, fn: Callable[[], Any]) -> Any:
    """Run one analysis; a model that cannot be fitted (too few studies, an improper posterior) is recorded as
    skipped with the library's reason instead of stopping the whole reanalysis."""
    from bayesmeta.errors import ModelError

    try:
        return fn()
    except ModelError as exc:
        _skip(a, what, str(exc))
        a.warnings.append(f"{what} not run: {exc}")
        return None


def _mark_confounded(a: OutcomeAnalysis) -> None:
    """Covariates that split the outcome's studies into the same groups cannot be told apart: record it."""
    groups = {}
    for m in a.metaregression:
        if m.get("fitted") and m.get("kind") == "factor":
            by_level = a.effects.groupby(a.effects[m["covariate"]].astype(str))["study_id"]
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


def analyse_outcome(plan: Plan, o: OutcomePlan, rows: pd.DataFrame, effects: pd.DataFrame,
                    prior_sets: dict[str, Any], k_published: int | None, seeds: dict[str, int],
                    step: Callable[[str], None], published_ris: float | None = None) -> OutcomeAnalysis:
    """Every per-outcome analysis of the plan (see the module docstring)."""
    from bayesmeta.exact import fit_exact

    main = prior_sets[plan.main_prior]
    a = OutcomeAnalysis(plan=o, rows=rows, effects=effects, k_published=k_published,
                        main_prior={"name": plan.main_prior, **main.as_dict()})
    wrong = effects[effects["measure"] != o.measure]
    if len(wrong):
        from bayesmeta.errors import InputError

        raise InputError(f"outcome {o.name} is analysed as {o.measure} in the plan but study "
                         f"{wrong['study_id'].iloc[0]} reports a {wrong['measure'].iloc[0]}",
                         file=str(plan.outcomes_file), column="measure", valid=o.measure)
    k = len(effects)
    y, s = effects["yi"].to_numpy(float), effects["sei"].to_numpy(float)
    ids = effects["study_id"].astype(str).tolist()
    level = plan.level

    step(f"{o.name}: effects and frequentist pooling")
    if k == 0:
        for what in OUTCOME_STEPS[1:]:
            step(f"{o.name}: {what}")
        _skip(a, "all", "no study has usable data for this outcome")
        a.warnings.append(f"{o.name}: no study has usable data; nothing was fitted")
        return a
    a.frequentist = frequentist_analysis(effects, level)

    step(f"{o.name}: exact posterior")
    seed = seeds[f"exact.{o.name}"] = derived_seed(plan.seed, "exact", o.name)
    post = _run_step(a, "exact posterior", lambda: fit_exact(
        y, s, mu_prior=main.mu, tau_prior=main.tau, study_ids=ids, measure=o.measure, seed=seed))
    if post is None:
        for what in OUTCOME_STEPS[2:]:
            step(f"{o.name}: {what}")
        return a
    a.bayes = post.to_dict(level, below=o.thresholds)
    a.bayes["probabilities"] = probability_table(post, o)
    a.bayes["natural"] = natural_summary(post, level)
    a.bayes["level"] = level
    a.bayes["seed"] = seed
    a.shrinkage = post.shrinkage(level)
    a.density = density_curves(post)
    a.idata = post.to_inference_data(DRAWS, seed)
    a.warnings += [f"exact engine: {w}" for w in post.warnings]

    step(f"{o.name}: meta-regression")
    for column in plan.covariates:
        mseed = seeds[f"metareg.{o.name}.{column}"] = derived_seed(plan.seed, "metareg", o.name, column)
        result = _run_step(a, f"meta-regression on {column}", lambda: metaregression(
            effects, o, main, column, level, mseed, plan.min_per_level))
        if result is not None:
            a.metaregression.append(result)

    _mark_confounded(a)

    step(f"{o.name}: posterior predictive checks")
    from bayesmeta import ppc

    pseed = seeds[f"ppc.{o.name}"] = derived_seed(plan.seed, "ppc", o.name)
    studies_table = _run_step(a, "posterior predictive checks", lambda: ppc.study_predictive_pvalues(
        post, level=level, loo=k >= 3))
    q = _run_step(a, "heterogeneity check", lambda: ppc.q_discrepancy_ppp(post, seed=pseed))
    a.ppc = {"studies": studies_table, "q": q, "seed": pseed}
    if k >= 3:
        a.ppc["loo_pit"] = _run_step(a, "LOO-PIT", lambda: ppc.loo_pit(post, level=level))
        if studies_table is not None and "pareto_k" in studies_table.columns:
            bad = studies_table[studies_table["pareto_k"] > 0.7]
            for sid in bad.index:
                a.warnings.append(f"PPC: Pareto k > 0.7 for {sid}: its LOO estimate is unreliable")

    step(f"{o.name}: prior sensitivity")
    from bayesmeta import sensitivity

    chosen = {name: prior_sets[name] for name in (plan.main_prior, *plan.sensitivity_priors)}
    grid = _run_step(a, "prior grid", lambda: sensitivity.prior_grid(
        y, s, chosen, thresholds=o.thresholds, measure=o.measure, level=level, benefit_below=o.benefit_below))
    changes = None
    if grid is not None:
        changes = _run_step(a, "conclusion changes", lambda: sensitivity.conclusion_changes(
            grid, threshold=clinical_threshold(o)))
    power = _run_step(a, "power-scaling sensitivity", lambda: sensitivity.power_scaling(post))
    a.sensitivity = {"grid": grid, "changes": changes, "power_scaling": power,
                     "clinical_threshold": clinical_threshold(o),
                     "robust": None if changes is None else bool(changes.attrs.get("robust", not changes["changes"].any()))}
    if changes is not None and not a.sensitivity["robust"]:
        moved = changes[changes["changes"]]
        a.warnings.append(f"prior sensitivity: P({benefit_statement(o, clinical_threshold(o))}) changes band under "
                          f"{len(moved)} of {len(changes)} prior combinations")
    if power is not None:
        for r in power.itertuples():
            if r.diagnosis != "-":
                a.warnings.append(f"power-scaling: {r.parameter} shows {r.diagnosis} (prior {r.prior:.3f}, "
                                  f"likelihood {r.likelihood:.3f})")

    step(f"{o.name}: influence")
    if k >= 3:
        from bayesmeta.influence import influence

        a.influence = _run_step(a, "influence", lambda: influence(
            post, thresholds=o.thresholds, level=level, benefit_below=o.benefit_below))
    else:
        _skip(a, "influence", f"leave-one-out needs at least 3 studies (k = {k})")

    step(f"{o.name}: monitoring")
    if o.name in plan.monitoring.outcomes:
        _monitoring(plan, o, a, effects, main, seeds)
    else:
        _skip(a, "monitoring", "not requested in the plan's [monitoring] outcomes")

    step(f"{o.name}: trial sequential analysis")
    tsa_plan = next((t for t in plan.tsa if t.outcome == o.name), None)
    if tsa_plan is not None:
        _tsa(a, tsa_plan, effects, published_ris)
    else:
        _skip(a, "trial sequential analysis", "not requested in the plan's [tsa] tables")
    return a


# -- the NUTS cross-check, run in a worker process while the exact analyses proceed --------------------------
def nuts_jobs(plan: Plan, effects: dict[str, pd.DataFrame], main: Any, seeds: dict[str, int]) -> list[dict[str, Any]]:
    """One job per outcome of the plan's [mcmc] table with data: the inputs of :func:`bayesmeta.mcmc.fit_nuts`."""
    jobs = []
    m = plan.mcmc
    for name in m.outcomes:
        e = effects.get(name)
        if e is None or len(e) == 0:
            continue
        seed = seeds[f"nuts.{name}"] = derived_seed(plan.seed, "nuts", name)
        jobs.append({"name": name, "y": e["yi"].to_numpy(float), "sei": e["sei"].to_numpy(float),
                     "study_ids": e["study_id"].astype(str).tolist(), "measure": plan.outcome(name).measure,
                     "mu_prior": main.mu.text, "tau_prior": main.tau.text, "draws": m.draws, "tune": m.tune,
                     "chains": m.chains, "cores": m.cores, "seed": seed, "target_accept": m.target_accept})
    return jobs


def fit_nuts_jobs(jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """Fit every job with NUTS, all padded to one size so that the model is compiled once; a job that cannot be
    fitted returns its error message. Returns name -> (Posterior or message, seconds)."""
    from bayesmeta.errors import ModelError
    from bayesmeta.mcmc import fit_nuts, padded_size

    pad = padded_size(max(len(j["y"]) for j in jobs)) if jobs else None
    out: dict[str, Any] = {}
    for job in jobs:
        args = {k: v for k, v in job.items() if k != "name"}
        t0 = time.perf_counter()
        try:
            out[job["name"]] = (fit_nuts(**args, pad_to=pad), time.perf_counter() - t0)
        except ModelError as exc:
            out[job["name"]] = (str(exc), time.perf_counter() - t0)
    return out


def operating_jobs(plan: Plan, effects: dict[str, pd.DataFrame], main: Any, seeds: dict[str, int]) -> list[dict[str, Any]]:
    """One simulation of the monitoring rule's operating characteristics per monitored outcome with data: the
    arguments of :func:`bayesmeta.sequential.operating_characteristics` (standard errors resampled from the
    outcome's studies, k as observed)."""
    m = plan.monitoring
    jobs = []
    for name in m.outcomes:
        e = effects.get(name)
        if e is None or len(e) == 0:
            continue
        o = plan.outcome(name)
        seed = seeds[f"operating.{name}"] = derived_seed(plan.seed, "operating", name)
        jobs.append({"name": name, "k": len(e), "sei": e["sei"].to_numpy(float), "true_ratio": m.true_ratios[name],
                     "tau_values": m.tau_values, "n_sim": m.simulations, "seed": seed, "mu_prior": main.mu.text,
                     "tau_prior": main.tau.text, "benefit_prob": m.benefit_probability,
                     "futility_mcid": m.futility_mcid[name], "futility_prob": m.futility_probability,
                     "measure": o.measure, "benefit_below": o.benefit_below})
    return jobs


def run_operating_job(job: dict[str, Any]) -> Any:
    """:func:`bayesmeta.sequential.operating_characteristics` of one job; a ModelError returns its message."""
    from bayesmeta.errors import ModelError
    from bayesmeta.sequential import operating_characteristics

    args = {k: v for k, v in job.items() if k != "name"}
    try:
        return operating_characteristics(**args)
    except ModelError as exc:
        return str(exc)


class Worker:
    """A second process (spawned: it shares no state) that runs the NUTS fits and then the operating-
    characteristics simulations while this process does the exact analyses; simulations it has not started when
    this process is done are taken back (:meth:`take_back`). On 2 cores this about halves the run time.
    ``parallel=False`` runs the same functions in this process instead; the results are the same."""

    def __init__(self, nuts: list[dict[str, Any]], operating: list[dict[str, Any]], parallel: bool = True) -> None:
        self.pool = None
        self._jobs = {j["name"]: j for j in operating}
        self._local: dict[str, Any] = {}
        if parallel and (nuts or operating):
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            self._nuts = self.pool.submit(fit_nuts_jobs, nuts) if nuts else None
            self._operating = {j["name"]: self.pool.submit(run_operating_job, j) for j in operating}
            self.pool.shutdown(wait=False)
        else:
            self._nuts_jobs, self._operating_jobs = nuts, {j["name"]: j for j in operating}

    def nuts(self) -> dict[str, Any]:
        if self.pool is None:
            return fit_nuts_jobs(self._nuts_jobs) if self._nuts_jobs else {}
        return self._nuts.result() if self._nuts is not None else {}

    def take_back(self) -> None:
        """Run here the simulations the worker has not started yet (last queued first)."""
        if self.pool is None:
            return
        for name, future in reversed(list(self._operating.items())):
            if future.cancel():
                self._local[name] = run_operating_job(self._jobs[name])

    def operating(self, name: str) -> Any:
        if name in self._local:
            return self._local[name]
        if self.pool is None:
            job = self._operating_jobs.get(name)
            return None if job is None else run_operating_job(job)
        future = self._operating.get(name)
        return None if future is None else future.result()


def add_nuts(a: OutcomeAnalysis, plan: Plan, fitted: tuple[Any, float] | None) -> None:
    """Record the NUTS fit of an outcome: its summary, diagnostics, warnings and the agreement with the exact
    posterior (quantiles of mu and tau and the decision probabilities, in Monte Carlo SE units)."""
    from bayesmeta.exact import fit_exact

    if fitted is None:
        return
    nuts, seconds = fitted
    if isinstance(nuts, str):
        _skip(a, "NUTS cross-check", nuts)
        a.warnings.append(f"NUTS cross-check not run: {nuts}")
        return
    o, m = a.plan, plan.mcmc
    main = a.main_prior
    e = a.effects
    exact = fit_exact(e["yi"].to_numpy(float), e["sei"].to_numpy(float), mu_prior=main["mu"], tau_prior=main["tau"],
                      study_ids=e["study_id"].astype(str).tolist(), measure=o.measure, seed=a.bayes.get("seed"))
    idata = nuts.to_inference_data()
    agreement = quantile_agreement(exact, nuts, idata, o)
    a.nuts_idata = idata
    a.nuts = {
        "engine": nuts.engine, "seed": nuts.seed, "chains": m.chains, "draws": m.draws, "tune": m.tune,
        "seconds": seconds, "summary": nuts.to_dict(plan.level, below=o.thresholds),
        "diagnostics": nuts.diagnostics, "warnings": list(nuts.warnings),
        "agreement": agreement, "all_agree": bool(agreement["agrees"].all()),
    }
    a.warnings += [f"NUTS: {w}" for w in nuts.warnings]
    for r in agreement[~agreement["agrees"]].itertuples():
        a.warnings.append(f"NUTS and exact engines disagree on {r.parameter} {r.quantity}: "
                          f"{r.nuts:.4g} vs {r.exact:.4g} ({r.z:+.1f} MCSE)")


def _order_keys(plan: Plan, effects: pd.DataFrame) -> np.ndarray | None:
    return effects["year"].to_numpy(float) if plan.monitoring.order == "year" else None


def _monitoring(plan: Plan, o: OutcomePlan, a: OutcomeAnalysis, effects: pd.DataFrame, main: Any,
                seeds: dict[str, int]) -> None:
    from bayesmeta.sequential import monitor

    m = plan.monitoring
    y, s = effects["yi"].to_numpy(float), effects["sei"].to_numpy(float)
    common = dict(mu_prior=main.mu, tau_prior=main.tau, benefit_prob=m.benefit_probability,
                  futility_mcid=m.futility_mcid[o.name], futility_prob=m.futility_probability,
                  measure=o.measure, benefit_below=o.benefit_below)
    a.monitoring = _run_step(a, "monitoring", lambda: monitor(
        y, s, _order_keys(plan, effects), study_ids=effects["study_id"].astype(str).tolist(),
        sample_sizes=effects["n_total"].to_numpy(float), thresholds=o.thresholds, level=plan.level, **common))


def _tsa(a: OutcomeAnalysis, t: Any, effects: pd.DataFrame, published_ris: float | None) -> None:
    """Trial sequential analysis as planned, and the D^2 that the published information size implies."""
    from bayesmeta import tsa as tsa_module
    from bayesmeta.frequentist import rma

    y, v = effects["yi"].to_numpy(float), effects["vi"].to_numpy(float)
    if t.heterogeneity == "D2":
        diversity, method = "auto", "DL"
    elif t.heterogeneity == "I2":
        diversity, method = float(rma(y, v, method="DL").i2) / 100.0, "DL"
    else:
        diversity, method = 0.0, "FE"
    a.tsa_settings = {"relative_risk_reduction": t.relative_risk_reduction, "alpha": t.alpha, "power": t.power,
                      "control_rate": t.control_rate, "control_rate_source": t.control_rate_source,
                      "heterogeneity": t.heterogeneity, "method": method, "published_ris": published_ris,
                      "implied_diversity_of_published_ris": None if published_ris is None else
                      tsa_module.implied_diversity(published_ris, t.control_rate, t.relative_risk_reduction,
                                                   t.alpha, t.power)}
    a.tsa = _run_step(a, "trial sequential analysis", lambda: tsa_module.tsa(
        y, v, effects["n_total"].to_numpy(float), t.control_rate, t.relative_risk_reduction, alpha=t.alpha,
        power=t.power, diversity=diversity, order=effects["year"].to_numpy(float), method=method,
        study=effects["study_id"].astype(str).tolist()))


# -- coverage -----------------------------------------------------------------------------------------------
def coverage_tables(plan: Plan, studies: pd.DataFrame, outcome_rows: pd.DataFrame, all_effects: pd.DataFrame,
                    published: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per outcome: k published, rows in the data, k used, and each study the paper pooled that is not used,
    with the reason; plus the studies with no outcome row at all."""
    with_rows = set(outcome_rows["study_id"].astype(str))
    in_meta = {}
    if "outcomes_in_meta_analysis" in studies.columns:
        for sid, text in zip(studies["study_id"].astype(str), studies["outcomes_in_meta_analysis"].astype(str)):
            in_meta[sid] = {t.strip() for t in text.split(";") if t.strip()}
    records = []
    for o in plan.outcomes:
        rows = all_effects[all_effects["outcome"] == o.name]
        used = rows[rows["usable"]]
        k_pub = _published_k(published, o.name)
        pooled_by_paper = [sid for sid, outs in in_meta.items() if o.name in outs]
        not_used = []
        for r in rows[~rows["usable"]].itertuples():
            not_used.append({"study": r.study_id, "reason": f"row present but not usable: {r.reason}"})
        for sid in pooled_by_paper:
            if sid in set(rows["study_id"]):
                continue
            why = (f"no row for {o.name} in {plan.outcomes_file.name}: none of the study's sources read here "
                   f"report it" if sid in with_rows else
                   f"no row in {plan.outcomes_file.name} for any outcome: the study's report was not readable")
            not_used.append({"study": sid, "reason": why})
        records.append({
            "outcome": o.name, "label": o.label, "k_published": k_pub,
            "k_in_paper_table": len(pooled_by_paper) if in_meta else None,
            "rows_in_data": int(len(rows)), "k_used": int(len(used)),
            "studies_used": used["study_id"].astype(str).tolist(),
            "methods": used["method"].value_counts().to_dict(),
            "not_used": not_used,
            "statement": _coverage_statement(o, len(used), k_pub, len(rows)),
        })
    missing = [{"study": sid, "first_author": fa, "year": int(yr),
                "reason": f"no row in {plan.outcomes_file.name}: the study's report was not readable"}
               for sid, fa, yr in zip(studies["study_id"].astype(str), studies["first_author"], studies["year"])
               if sid not in with_rows]
    return pd.DataFrame(records), pd.DataFrame(missing, columns=["study", "first_author", "year", "reason"])


def _coverage_statement(o: OutcomePlan, k_used: int, k_pub: int | None, n_rows: int) -> str:
    pub = f"of the {k_pub} studies the paper pooled" if k_pub else "(the paper's k is not known)"
    text = f"{o.label}: {k_used} studies {pub} have data usable here"
    if n_rows > k_used:
        text += f"; {n_rows - k_used} more have a row whose numbers cannot give an effect and its SE"
    return text + "."


def _published_pooled(published: pd.DataFrame | None, outcome: str) -> dict[str, Any] | None:
    """The paper's pooled estimate of an outcome: estimate, CI, k and I^2 as printed."""
    if published is None:
        return None
    rows = published[(published["outcome"] == outcome) & (published["analysis"] == "pooled")]
    if rows.empty:
        return None
    r = rows.iloc[0]
    return {"estimate": float(r["estimate"]), "ci_lower": float(r["ci_lower"]), "ci_upper": float(r["ci_upper"]),
            "k": None if pd.isna(r["k"]) else int(r["k"]),
            "i2_percent": None if pd.isna(r["i2_percent"]) else float(r["i2_percent"]), "where": str(r["where"])}


def _published_ris(published: pd.DataFrame | None, outcome: str) -> float | None:
    if published is None:
        return None
    rows = published[(published["outcome"] == outcome) & (published["analysis"] == "tsa_required_information_size")]
    return None if rows.empty else float(rows["estimate"].iloc[0])


def _published_k(published: pd.DataFrame | None, outcome: str) -> int | None:
    if published is None:
        return None
    rows = published[(published["outcome"] == outcome) & (published["analysis"] == "pooled")]
    if rows.empty or pd.isna(rows["k"].iloc[0]):
        return None
    return int(rows["k"].iloc[0])


# -- comparison with the published numbers ------------------------------------------------------------------
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
                     all_effects: pd.DataFrame, prior_sets: dict[str, Any], seeds: dict[str, int]) -> pd.DataFrame:
    """Every published number the data can speak to, beside the frequentist recomputation and the Bayesian
    counterpart, with k used vs published and a plain-language line (see :func:`run_plan`)."""
    if published is None:
        return pd.DataFrame(columns=list(_row("", "", "").keys()))
    from bayesmeta.compare import compare_metaregression, compare_pooled, compare_subgroups

    used = pd.concat([a.effects for a in analyses.values() if len(a.effects)], ignore_index=True) \
        if any(len(a.effects) for a in analyses.values()) else all_effects.iloc[0:0]
    rows: list[dict[str, Any]] = []
    pooled = compare_pooled(used, published)
    for r in pooled.itertuples(index=False):
        a = analyses.get(r.outcome)
        if a is None:
            continue
        rows += _pooled_rows(a, r, plan)
    for analysis, table in (("meta_regression", compare_metaregression(used, published)),
                            ("subgroup_difference", compare_subgroups(used, published))):
        done = set()
        for r in table.itertuples(index=False):
            a = analyses.get(r.outcome)
            if a is not None:
                rows.append(_covariate_row(a, r, analysis))
                done.add((r.outcome, r.variable))
        rows += _other_covariate_rows(analyses, published, analysis, done)
    rows += _regimen_rows(plan, analyses, published, prior_sets, seeds)
    rows += _egger_rows(analyses, published)
    rows += _tsa_rows(analyses, published)
    rows += _rate_rows(plan, analyses, published)
    rows += _correlation_rows(analyses, published)
    return pd.DataFrame(rows)


def _pooled_rows(a: OutcomeAnalysis, r: Any, plan: Plan) -> list[dict[str, Any]]:
    o = a.plan
    b = a.bayes.get("natural", {})
    mu = b.get("mu", {})
    probs = {(p["parameter"], p["threshold"]): p for p in a.bayes.get("probabilities", [])}
    first_t = 1.0 if 1.0 in o.thresholds else o.thresholds[0]
    clinical = clinical_threshold(o)
    p_any = probs.get(("mu", first_t))
    p_clin = probs.get(("mu", clinical))
    bayes_text = _ci_text(mu.get("median"), mu.get("lower"), mu.get("upper"))
    plain = (f"{o.label}: the paper reports {o.measure} {_ci_text(r.published_estimate, r.published_ci_lower, r.published_ci_upper)}"
             f" from {r.k_published} studies; the {r.k_used} studies with data here give "
             f"{_ci_text(r.rule_estimate, r.rule_ci_lower, r.rule_ci_upper)} with the paper's rule")
    if p_any and p_clin:
        plain += (f", and the posterior median is {bayes_text}: benefit is {p_any['words']} "
                  f"({stated(p_any['statement'], p_any['probability'])}) and a benefit beyond {clinical:g} is "
                  f"{p_clin['words']} ({stated(p_clin['statement'], p_clin['probability'])}).")
    else:
        plain += "; no posterior could be computed."
    rows = [_row(o.name, "pooled", f"pooled {o.measure}", k_published=r.k_published, k_used=r.k_used,
                 published=_ci_text(r.published_estimate, r.published_ci_lower, r.published_ci_upper),
                 published_value=r.published_estimate,
                 recomputed=_ci_text(r.rule_estimate, r.rule_ci_lower, r.rule_ci_upper)
                 + (f"; REML {_ci_text(r.reml_estimate, r.reml_ci_lower, r.reml_ci_upper)}"
                    if r.reml_estimate is not None and np.isfinite(r.reml_estimate) else ""),
                 recomputed_value=r.rule_estimate, recomputed_method=f"paper rule ({r.rule_model}); REML",
                 bayesian=f"median {bayes_text}" + (f"; {stated(p_clin['statement'], p_clin['probability'])}"
                                                     if p_clin else ""),
                 bayesian_value=mu.get("median"),
                 bayesian_statement=(p_clin["statement"] if p_clin else ""),
                 status=r.status, plain=plain)]
    tau = a.bayes.get("natural", {}).get("tau")
    if r.published_i2 is not None and np.isfinite(r.published_i2):
        i2 = None if r.i2 is None or not np.isfinite(r.i2) else float(r.i2)
        rows.append(_row(
            o.name, "pooled", "I² (%)", k_published=r.k_published, k_used=r.k_used,
            published=f"{r.published_i2:g}%", published_value=r.published_i2,
            recomputed="-" if i2 is None else f"{i2:.0f}%", recomputed_value=i2, recomputed_method="Higgins I²",
            bayesian="-" if tau is None else f"tau median {tau['median']:.2f} ({tau['lower']:.2f} to {tau['upper']:.2f})",
            bayesian_value=None if tau is None else tau["median"], bayesian_statement="between-study SD tau",
            status="",
            plain=(f"{o.label}: the paper reports I² = {r.published_i2:g}%; the studies here give "
                   + ("no I^2" if i2 is None else f"{i2:.0f}%")
                   + ("" if tau is None else f"; the posterior of the between-study SD has median {tau['median']:.2f}"
                      f" on the log scale: one between-study SD multiplies or divides a study's {o.measure} by about "
                      f"{np.exp(tau['median']):.2f}") + "."),
        ))
    return rows


def _covariate_row(a: OutcomeAnalysis, r: Any, analysis: str) -> dict[str, Any]:
    o = a.plan
    m = next((x for x in a.metaregression if x["covariate"] == r.variable), None)
    what = "meta-regression" if analysis == "meta_regression" else "subgroup difference"
    bayes, value, statement = "-", None, ""
    plain = f"{o.label}, {r.variable}: the paper reports {what} {_p_text(r.published_p, r.published_p_relation)}"
    if r.p is not None and np.isfinite(r.p):
        plain += f"; the {r.k_used} studies here give {_p_text(r.p)}"
    if m is not None and m.get("fitted"):
        c = m["contrasts"][0]
        value = c["p_ratio_below_1"]
        statement = c["statement"]
        label = f"ratio per unit of {r.variable}" if m.get("kind") == "numeric" else \
            f"ratio {c['level']}/{c['reference']}"
        bayes = f"{label} {_ci_text(c['ratio_median'], c['ratio_lower'], c['ratio_upper'])}; {stated(statement, value)}"
        if m.get("kind") == "numeric":
            plain += (f"; in the Bayesian meta-regression each unit of {r.variable} multiplies the {o.measure} by "
                      f"{c['ratio_median']:.3g}, and {stated(statement, value)} ({probability_words(value)}).")
        else:
            plain += (f"; the Bayesian meta-regression puts the {o.measure} of {c['level']} studies at "
                      f"{c['ratio_median']:.2f} times that of {c['reference']} studies, and "
                      f"{stated(statement, value)} ({probability_words(value)}).")
        if m.get("confounded_with"):
            plain += (f" In these studies {r.variable} splits the studies exactly as "
                      f"{', '.join(m['confounded_with'])} does, so the two cannot be told apart.")
    else:
        why = m["reason"] if m is not None else "covariate not in the plan"
        plain += f"; no Bayesian meta-regression ({why})."
    return _row(o.name, analysis, f"{r.variable}: {what} p", variable=r.variable, k_used=r.k_used,
                published=_p_text(r.published_p, r.published_p_relation), published_value=r.published_p,
                recomputed=_p_text(r.p) if r.p is not None else "not estimable", recomputed_value=r.p,
                recomputed_method=str(r.method or ""), bayesian=bayes, bayesian_value=value,
                bayesian_statement=statement, status=str(r.status), plain=plain)


def _other_covariate_rows(analyses: dict[str, OutcomeAnalysis], published: pd.DataFrame, analysis: str,
                          done: set[tuple[str, str]]) -> list[dict[str, Any]]:
    """Published meta-regression p-values of plan covariates that :mod:`bayesmeta.compare` does not cover (it
    knows platinum, systemic and design), set beside the REML QM test of this run's meta-regression."""
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
        row = SimpleNamespace(outcome=r.outcome, variable=r.variable, k_used=a.k, published_p=float(r.p_value),
                              published_p_relation=relation, p=p, method="REML" if p is not None else "",
                              status=status)
        out.append(_covariate_row(a, row, analysis))
    return out


def _regimen_filter(level: str) -> dict[str, str] | None:
    """'oxaliplatin HAIC + TKI + ICI' -> {platinum: oxaliplatin, systemic: TKI+ICI}; None if not of that form."""
    if " HAIC + " not in level:
        return None
    platinum, systemic = level.split(" HAIC + ", 1)
    return {"platinum": platinum.strip(), "systemic": systemic.replace(" + ", "+").strip()}


def _regimen_rows(plan: Plan, analyses: dict[str, OutcomeAnalysis], published: pd.DataFrame,
                  prior_sets: dict[str, Any], seeds: dict[str, int]) -> list[dict[str, Any]]:
    """Published pooled estimates per regimen, recomputed (paper rule) and refitted (exact posterior, main prior)
    on the studies of that regimen that have data."""
    from bayesmeta.errors import ModelError
    from bayesmeta.exact import fit_exact
    from bayesmeta.frequentist import paper_rule

    main = prior_sets[plan.main_prior]
    out = []
    for r in published[published["analysis"] == "regimen"].itertuples(index=False):
        a = analyses.get(r.outcome)
        filt = _regimen_filter(str(r.level))
        if a is None or filt is None:
            continue
        o = a.plan
        sel = a.effects
        for col, val in filt.items():
            sel = sel[sel[col].astype(str) == val]
        k_pub = None if pd.isna(r.k) else int(r.k)
        pub = _ci_text(r.estimate, r.ci_lower, r.ci_upper)
        base = dict(k_published=k_pub, k_used=len(sel), published=pub, published_value=float(r.estimate))
        if len(sel) < 2:
            have = "no study of this regimen has" if len(sel) == 0 else "only one study of this regimen has"
            out.append(_row(o.name, "regimen", str(r.level), **base, status="not estimable",
                            plain=f"{o.label}, {r.level}: the paper reports {o.measure} {pub}; {have} data here, "
                                  f"too few to pool."))
            continue
        y, s, v = (sel[c].to_numpy(float) for c in ("yi", "sei", "vi"))
        rule = paper_rule(y, v, level=plan.level)
        seed = seeds[f"regimen.{o.name}.{r.level}"] = derived_seed(plan.seed, "regimen", o.name, str(r.level))
        try:
            post = fit_exact(y, s, mu_prior=main.mu, tau_prior=main.tau, study_ids=sel["study_id"].astype(str).tolist(),
                             measure=o.measure, seed=seed)
        except ModelError as exc:
            post = None
            a.warnings.append(f"regimen {r.level}: exact posterior not computed ({exc})")
        rec = _ci_text(np.exp(rule.estimate), np.exp(rule.ci_lower), np.exp(rule.ci_upper))
        bayes, value, statement, plain_b = "-", None, "", ""
        if post is not None:
            m = post.marginal("mu")
            lo, hi = m.interval(plan.level)
            t = 1.0
            p = benefit_probability(post, o, t)
            statement = f"P({benefit_statement(o, t)})"
            value = float(np.exp(m.median()))
            bayes = f"median {_ci_text(value, np.exp(lo), np.exp(hi))}; {stated(statement, p)}"
            plain_b = f"; the posterior median is {value:.2f} and benefit is {probability_words(p)} ({stated(statement, p)})"
        out.append(_row(o.name, "regimen", str(r.level), **base, recomputed=rec,
                        recomputed_value=float(np.exp(rule.estimate)), recomputed_method=f"paper rule ({rule.method})",
                        bayesian=bayes, bayesian_value=value, bayesian_statement=statement,
                        status="recomputed on fewer studies" if k_pub and len(sel) < k_pub else "recomputed",
                        plain=f"{o.label}, {r.level}: the paper reports {o.measure} {pub}; the {len(sel)} studies "
                              f"with data give {rec}{plain_b}."))
    return out


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
                    f"Egger's test gives {_p_text(egger.pval)}; with so few studies the test has little power."))
        out.append(_row(a.name, "egger", "Egger test p", k_published=k_pub, k_used=a.k, published=pub,
                        published_value=r.p_value, recomputed=rec,
                        recomputed_value=None if egger is None else egger.pval, recomputed_method="Egger 1997",
                        bayesian="no Bayesian counterpart computed", plain=plain))
    return out


def _tsa_rows(analyses: dict[str, OutcomeAnalysis], published: pd.DataFrame) -> list[dict[str, Any]]:
    from bayesmeta.tsa import implied_diversity

    out = []
    for r in published[published["analysis"] == "tsa_required_information_size"].itertuples(index=False):
        a = analyses.get(r.outcome)
        if a is None or a.tsa is None:
            continue
        t = a.tsa
        d2 = implied_diversity(float(r.estimate), t.p_control, t.relative_risk_reduction, t.alpha, t.power)
        n_total = float(a.effects["n_total"].sum())
        mon = a.monitoring
        if mon is not None and mon.first_stop is not None:
            bayes = f"monitoring stops for {mon.first_stop.reason} at look {mon.first_stop.look} ({mon.first_stop.study})"
        elif mon is not None:
            bayes = "monitoring never stops"
        else:
            bayes = "-"
        crossed = (f"crosses the efficacy boundary at look {t.crossed_efficacy_at}" if t.crossed_efficacy
                   else "does not cross the efficacy boundary")
        out.append(_row(
            a.name, "tsa_required_information_size", "required information size (patients)", k_published=None if pd.isna(r.k) else int(r.k),
            k_used=a.k, published=f"{float(r.estimate):.0f}", published_value=float(r.estimate),
            recomputed=f"{t.ris_rounded} (D^2 = {t.diversity:.2f}); accrued {n_total:.0f}",
            recomputed_value=t.ris_rounded, recomputed_method="TSA, Lan-DeMets O'Brien-Fleming",
            bayesian=bayes, status="",
            plain=(f"{a.plan.label}: the paper's RIS of {float(r.estimate):.0f} patients implies D^2 = {d2:.2f} "
                   f"with its inputs; with the {a.k} studies here (D^2 = {t.diversity:.2f}) the RIS is "
                   f"{t.ris_rounded}, {n_total:.0f} patients have accrued, and the Z-curve {crossed}; "
                   f"Bayesian monitoring: {bayes}."),
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
                        recomputed=f"{rate:.3f}", recomputed_value=rate, recomputed_method="total events / total patients",
                        bayesian="no Bayesian counterpart computed",
                        plain=(f"{a.plan.label}, {r.level} arm: the paper reports a rate of {float(r.estimate):.3f} over "
                               f"{int(r.k)} studies; the {len(rows)} studies with counts here have {int(rows[ev].sum())} "
                               f"events in {int(rows[tot].sum())} patients ({rate:.3f}).")))
    return out


def _correlation_rows(analyses: dict[str, OutcomeAnalysis], published: pd.DataFrame) -> list[dict[str, Any]]:
    from bayesmeta.errors import ModelError
    from bayesmeta.frequentist import spearman_correlation

    out = []
    for r in published[(published["analysis"] == "correlation") & (published["variable"] == "all")].itertuples(index=False):
        left, right = str(r.outcome).split("~")
        if left not in analyses or right not in analyses:
            continue
        a, b = analyses[left].effects, analyses[right].effects
        both = a.merge(b, on="study_id", suffixes=("_x", "_y"))
        pub = f"rho = {float(r.estimate):.2f}, {_p_text(r.p_value, r.p_relation or '=')}"
        try:
            rho, p = spearman_correlation(both["yi_x"].to_numpy(float), both["yi_y"].to_numpy(float))
            rec, value = f"rho = {rho:.2f}, {_p_text(p)}", rho
            plain = (f"{left} vs {right}: the paper reports Spearman {pub}; the {len(both)} studies with both "
                     f"outcomes here give {rec}.")
        except ModelError as exc:
            rec, value = "not estimable", None
            plain = f"{left} vs {right}: the paper reports Spearman {pub}; here: {exc}."
        out.append(_row(str(r.outcome), "correlation", f"Spearman correlation of study {left} and {right} effects",
                        k_used=len(both), published=pub, published_value=float(r.estimate), recomputed=rec,
                        recomputed_value=value, recomputed_method="Spearman (scipy)",
                        bayesian="no Bayesian counterpart computed", plain=plain))
    return out


NOT_COVERED_REASONS = {
    "subgroup": "the data hold no within-study subgroup results (patient characteristics)",
    "prognostic_factor": "the data hold no within-study prognostic-factor hazard ratios",
    "correlation": "the HAIC regimen (FOLFOX or not) is not recorded per study",
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
            if r.variable == "all" and key in covered:
                continue
        elif r.analysis in ("meta_regression", "subgroup_difference"):
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


# -- the whole plan -----------------------------------------------------------------------------------------
REINTERPRET_PRIORS = ("skeptical", "enthusiastic", "pessimistic", "vague")


def _mcid_below(plan: Plan) -> float:
    """The MCID for benefit below 1 used to reinterpret the published rows: the plan's futility MCID of its
    first HR-type monitored outcome, else 0.8."""
    for o in plan.outcomes:
        if o.benefit_below and o.name in plan.monitoring.futility_mcid:
            return plan.monitoring.futility_mcid[o.name]
    return 0.8


def run_plan(plan: Plan, progress: Progress | None = None, *, cache: ResultCache | None = None,
             parallel: bool = True) -> ReanalysisResult:
    """Compute everything the plan asks for (see the module docstring). With ``cache``, a stored result with
    the same key (:func:`bayesmeta.cache.cache_key`) is returned instead of recomputing (``cache_hit`` True).
    ``parallel`` runs the NUTS fits and the simulations in a second process (:class:`Worker`); the results do not
    depend on it."""
    from bayesmeta.consistency import check_published
    from bayesmeta.data import load_outcomes, load_published, load_studies
    from bayesmeta.effects import derive_effects, effects_for
    from bayesmeta.priors import load_prior_sets
    from bayesmeta.reinterpret import reinterpret_published

    step = progress or (lambda description: None)
    key = cache_key(plan) if cache is not None else ""
    if cache is not None:
        stored = cache.load(key)
        if isinstance(stored, ReanalysisResult):
            stored.cache_hit = True
            return stored

    timings: dict[str, float] = {}
    start = time.perf_counter()
    step("loading data")
    studies = load_studies(plan.studies)
    outcome_rows = load_outcomes(plan.outcomes_file, studies=studies)
    published = load_published(plan.published) if plan.published is not None else None
    prior_sets = load_prior_sets(plan.priors_file)
    all_effects = derive_effects(outcome_rows, studies)
    timings["loading data"] = time.perf_counter() - start

    seeds: dict[str, int] = {"plan": plan.seed}
    effects = {o.name: attach_covariates(effects_for(o.name, outcome_rows, studies), studies, plan.covariates)
               for o in plan.outcomes}
    main = prior_sets[plan.main_prior]
    worker = Worker(nuts_jobs(plan, effects, main, seeds), operating_jobs(plan, effects, main, seeds), parallel)
    analyses: dict[str, OutcomeAnalysis] = {}
    for o in plan.outcomes:
        t0 = time.perf_counter()
        rows = all_effects[all_effects["outcome"] == o.name].reset_index(drop=True)
        analyses[o.name] = analyse_outcome(plan, o, rows, effects[o.name], prior_sets,
                                           _published_k(published, o.name), seeds, step,
                                           _published_ris(published, o.name))
        analyses[o.name].published = _published_pooled(published, o.name)
        timings[o.name] = time.perf_counter() - t0

    t0 = time.perf_counter()
    worker.take_back()
    timings["simulations taken back"] = time.perf_counter() - t0
    fits = worker.nuts()
    for name in plan.mcmc.outcomes:
        step(f"{name}: NUTS cross-check")
        a = analyses[name]
        if name not in fits:
            _skip(a, "NUTS cross-check", "no data to fit" if a.k == 0 else "not fitted")
        elif a.bayes:
            add_nuts(a, plan, fits[name])
    for o in plan.outcomes:
        if o.name not in plan.mcmc.outcomes:
            _skip(analyses[o.name], "NUTS cross-check", "not requested in the plan's [mcmc] outcomes")
    for name in plan.monitoring.outcomes:
        a = analyses[name]
        oc = worker.operating(name)
        if isinstance(oc, str):
            _skip(a, "operating characteristics", oc)
        elif oc is not None:
            a.operating = oc
    timings["waiting for the worker"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    step("comparison with the published numbers")
    comparison = comparison_table(plan, analyses, published, all_effects, prior_sets, seeds)
    step("reinterpretation and consistency")
    if published is not None:
        benefit_above = [o.name for o in plan.outcomes if not o.benefit_below]
        reinterpretation = reinterpret_published(published, priors=REINTERPRET_PRIORS, mcid=_mcid_below(plan),
                                                 benefit_above=benefit_above, level=plan.level)
        consistency = check_published(plan.published)
    else:
        reinterpretation, consistency = pd.DataFrame(), pd.DataFrame()
    coverage, missing = coverage_tables(plan, studies, outcome_rows, all_effects, published)
    timings["comparison"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - start

    result = ReanalysisResult(
        plan=plan, outcomes=analyses, coverage=coverage, missing_studies=missing, comparison=comparison,
        not_covered=published_not_covered(plan, published, comparison),
        reinterpretation=reinterpretation, consistency=consistency,
        priors={name: {**prior_sets[name].as_dict(), "description": prior_sets[name].description,
                       "source": prior_sets[name].source}
                for name in (plan.main_prior, *plan.sensitivity_priors)},
        versions=library_versions(), seeds=seeds, timings=timings, cache_key=key,
    )
    if cache is not None:
        cache.store(key, result)
    return result
