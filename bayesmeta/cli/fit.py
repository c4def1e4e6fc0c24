"""`bayesmeta fit`: a Bayesian random-effects model (or meta-regression) on a user's CSV: the normal-normal model
on the effects, or the binomial-normal model on the arm counts (``--likelihood binomial``)."""

from __future__ import annotations

import math
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from bayesmeta.benefit import Benefit
from bayesmeta.cli import app
from bayesmeta.cli.options import (
    DEFAULT_ADD,
    DEFAULT_MU_PRIOR,
    DEFAULT_TAU_PRIOR,
    AddOption,
    BenefitOption,
    ChainsOption,
    DataArgument,
    DrawsOption,
    Drop00Option,
    FormulaOption,
    JsonOption,
    OutcomeOption,
    VType,
    VTypeOption,
    LevelOption,
    Likelihood,
    LikelihoodOption,
    Measure,
    MeasureOption,
    MuPriorOption,
    SeedOption,
    TargetAcceptOption,
    TauPriorOption,
    ThresholdOption,
    ToOption,
    TuneOption,
    ZeroCellsTo,
    finite,
    dropped_studies,
    json_text,
    measure_value,
    note_prior_units,
    nuts_settings,
    read_table,
    zero_cell_rule,
)
from bayesmeta.errors import InputError

if TYPE_CHECKING:
    from bayesmeta.effect_data import EffectData


class Engine(str, Enum):
    exact = "exact"
    nuts = "nuts"


class Interval(str, Enum):
    central = "central"
    shortest = "shortest"


@app.command("fit")
def fit_command(
    data: DataArgument,
    outcome: OutcomeOption = None,
    vtype: VTypeOption = VType.LS,
    measure: MeasureOption = None,
    mu_prior: MuPriorOption = DEFAULT_MU_PRIOR,
    tau_prior: TauPriorOption = DEFAULT_TAU_PRIOR,
    covariates: Annotated[
        Optional[str], typer.Option(help="comma-separated study-level columns for a meta-regression")
    ] = None,
    formula: FormulaOption = None,
    center: Annotated[
        Optional[bool], typer.Option("--center/--no-center",
                                     help="centre numeric covariates at their means over the studies (mu is then "
                                          "the effect at the means, where its prior belongs; slopes unchanged). "
                                          "Default: on for a formula with an intercept, as the plan's "
                                          "[covariates] formula; --no-center fits mu at 0, as metafor's "
                                          "rma(mods = ~ x). The JSON's 'centers' holds the means")
    ] = None,
    beta_prior: Annotated[
        Optional[list[str]], typer.Option("--beta-prior", help='prior of the regression coefficients, '
                                          'independent of mu\'s: "normal(0, 1)" for all, or per coefficient '
                                          '"year=normal(0, 0.1)" (repeatable; default flat with a flat mu prior, '
                                          'else normal(0, sd of mu\'s prior))')
    ] = None,
    interval: Annotated[
        Interval, typer.Option(help="credible intervals: central (equal tails) or shortest (R bayesmeta's "
                                    "default); the JSON names which it holds")
    ] = Interval.central,
    mean_at: Annotated[
        Optional[list[str]], typer.Option("--mean-at", help='mean effect at covariate values, e.g. '
                                          '"year=1990, group=B" (bmr X.mean; repeatable)')
    ] = None,
    predict_at: Annotated[
        Optional[list[str]], typer.Option("--predict-at", help='effect of a new study at covariate values '
                                          '(bmr X.prediction; repeatable)')
    ] = None,
    ess_uisd: Annotated[
        Optional[float], typer.Option("--ess-uisd", help="report the effective sample size (ELIR, Neuenschwander "
                                      "et al. 2020) of the predictive distribution for this unit-information SD "
                                      "(R bayesmeta's ess(); see bayesmeta.information.uisd)", callback=finite)
    ] = None,
    pppvalue: Annotated[
        Optional[list[str]], typer.Option("--pppvalue", help='posterior predictive p-value (R bayesmeta\'s '
                                          'pppvalue): "mu = 0" (two-sided), "mu = 0, less", "mu = 0, greater" or '
                                          '"tau = 0, greater"; statistic: the posterior median (repeatable)')
    ] = None,
    ppp_n: Annotated[int, typer.Option("--ppp-n", help="Monte Carlo replicates of --pppvalue (seeded by --seed)",
                                       min=10)] = 1000,
    contrast: Annotated[
        Optional[list[str]], typer.Option("--contrast", help='linear combination of coefficients, e.g. '
                                          '"beta[group[A]]=1, beta[group[B]]=-1" (repeatable)')
    ] = None,
    likelihood: LikelihoodOption = Likelihood.normal,
    add: AddOption = DEFAULT_ADD,
    to: ToOption = ZeroCellsTo.only0,
    drop00: Drop00Option = None,
    engine: Annotated[
        Optional[Engine], typer.Option(help="exact integration or NUTS sampling (default: exact; nuts for the "
                                            "binomial likelihood)")
    ] = None,
    threshold: ThresholdOption = None,
    benefit: BenefitOption = Benefit.BELOW,
    level: LevelOption = 0.95,
    draws: DrawsOption = None,
    chains: ChainsOption = None,
    tune: TuneOption = None,
    target_accept: TargetAcceptOption = None,
    seed: SeedOption = 0,
    strict: Annotated[bool, typer.Option(help="NUTS: fail instead of warning on poor diagnostics")] = False,
    as_json: JsonOption = False,
) -> None:
    """Fit y_i ~ N(theta_i, s_i^2), theta_i ~ N(mu + x_i'beta, tau^2) (or, with --likelihood binomial, the
    binomial-normal model on the arm counts) and print posterior summaries. DATA may also be a fit plan (.toml
    with a [fit] table: the options' names as keys)."""
    plan_dir = None
    if data.lower().endswith(".toml"):
        from pathlib import Path

        from bayesmeta.model_spec import ModelSpec, load_fit_plan

        plan_dir = Path(data).parent

        spec = load_fit_plan(data, ModelSpec(data, measure_value(measure), mu_prior, tau_prior, formula, covariates,
                                             tuple(beta_prior or ()), interval.value, level, tuple(mean_at or ()),
                                             tuple(predict_at or ()), tuple(contrast or ()), tuple(threshold or ()),
                                             ess_uisd, center))
        data, mu_prior, tau_prior, formula, covariates = (spec.data, spec.mu_prior, spec.tau_prior, spec.formula,
                                                           spec.covariates)
        measure = Measure(spec.measure) if spec.measure else None
        beta_prior, interval, level = list(spec.beta_prior), Interval(spec.interval), spec.level
        mean_at, predict_at, contrast = list(spec.mean_at), list(spec.predict_at), list(spec.contrast)
        threshold, ess_uisd, center = list(spec.thresholds), spec.ess_uisd, spec.center
    if "posterior(" in tau_prior:
        from bayesmeta.posterior_prior import resolve_tau_prior

        tau_prior = resolve_tau_prior(tau_prior, plan_dir)  # type: ignore[assignment]
    binomial = likelihood is Likelihood.binomial
    if binomial and engine is Engine.exact:
        raise InputError("the binomial likelihood is fitted by NUTS, not by the exact engine", column="--engine",
                         valid="--engine nuts (the default with --likelihood binomial)")
    if binomial and (covariates or formula):
        raise InputError("the binomial-normal model is fitted without covariates", column="--covariates",
                         valid="no --covariates with --likelihood binomial")
    engine = engine or (Engine.nuts if binomial else Engine.exact)
    sampler = nuts_settings(sampling=engine is Engine.nuts, draws=draws, chains=chains, tune=tune,
                            target_accept=target_accept)
    uncentred: list[str] = []
    default_measure = "OR" if binomial else None  # the binomial-normal model is the odds ratio's
    table = read_table(data, measure_value(measure) or default_measure, benefit, likelihood,
                       quick=not (binomial or covariates), outcome=outcome, vtype=vtype,
                       zero_cells=zero_cell_rule(add, to, drop00))
    note_prior_units(table, mu_prior, tau_prior)
    if binomial:
        from bayesmeta.mcmc import fit_binomial_nuts

        if table.counts is None:
            raise InputError("the binomial likelihood needs arm counts", file=data, column="events_treatment",
                             valid="columns events_treatment, total_treatment, events_control, total_control")
        post = fit_binomial_nuts(binomial_data(table), mu_prior=mu_prior, tau_prior=tau_prior, seed=seed,
                                 strict=strict, **sampler)
        design = None
    else:
        if covariates and not formula:
            from bayesmeta.formula import covariates_formula  # pandas: kept off the path of a plain table

            formula = covariates_formula(covariates, table.covariates)
        post, design = _fit_normal(data, table, formula, engine,
                                   beta_prior or (),
                                   mu_prior=mu_prior, tau_prior=tau_prior, seed=seed, sampler=sampler,
                                   strict=strict, center=center)
        uncentred = _warn_uncentred(design, table)
    thresholds = tuple(threshold or ())
    if thresholds and not post.intercept:
        raise InputError("--threshold is about mu, and a model without intercept has none", column="--threshold",
                         valid="--mean-at or --contrast, or a formula with an intercept")
    result = post.to_dict(level, thresholds=thresholds, kind=interval.value, modes=post.engine == "exact")
    result["interval"] = interval.value
    if design is not None:
        result["centers"] = dict(design.centers)
        result["warnings"] = [*result.get("warnings", []), *uncentred]
    result["benefit"] = benefit.value
    result["dropped"] = dropped_studies(table)
    if not benefit.below:
        result["prob_above"] = {str(t): benefit.probability(post, t) for t in thresholds}
    result["bayes_factors"] = _bayes_factors(post)
    if "log_marginal_likelihood" in post.extras:  # model comparison (Bayes factors between designs, all priors proper)
        result["log_marginal_likelihood"] = post.extras["log_marginal_likelihood"]
    if table.counts is not None and not binomial:  # R's uisd(escalc): total sample sizes and standard errors
        from bayesmeta.information import uisd

        totals = table.counts.loc[list(post.study), ["total_treatment", "total_control"]].sum(axis=1)
        result["uisd"] = uisd(totals.to_numpy(dtype=float), post.sei)
    if ess_uisd is not None:
        if post.engine != "exact" or not post.intercept:
            raise InputError("the ESS is of the predictive distribution of the exact engine", column="--ess-uisd",
                             valid="--engine exact and a model with mu")
        from bayesmeta.information import ess

        result["ess"] = {"method": "elir", "uisd": ess_uisd, "predictive": ess(post, ess_uisd)}
    if pppvalue:
        result["pppvalue"] = _pppvalues(post, pppvalue, ppp_n, seed)
    if mean_at or predict_at or contrast:
        from bayesmeta.model_spec import ModelSpec, combinations

        spec = ModelSpec(data, level=level, interval=interval.value, mean_at=tuple(mean_at or ()),
                         predict_at=tuple(predict_at or ()), contrast=tuple(contrast or ()))
        result.update(combinations(post, design, spec))
    if as_json:
        typer.echo(json_text(result))
        return
    _print_table(post, thresholds, benefit, level, result["bayes_factors"], interval.value)
    if result.get("centers"):
        typer.echo("covariates centred at their means (mu is the effect there): "
                   + ", ".join(f"{c} = {v:.6g}" for c, v in result["centers"].items()))
    _print_combinations(result, level)
    for text, row in (result.get("pppvalue") or {}).items():
        typer.echo(f"posterior predictive p-value, {text}: {row['p_value']:.4f} (Monte Carlo se {row['mc_se']:.4f}, "
                   f"n = {row['n']})")
    if "ess" in result:
        typer.echo(f"effective sample size of the predictive distribution (ELIR, UISD {ess_uisd:g}): "
                   f"{result['ess']['predictive']:.1f}")


def binomial_data(table: EffectData) -> EffectData:
    """The data the binomial-normal model is fitted to: ``table`` with the arm counts of the studies its reader
    dropped (``table.dropped``: no events, or only events, in both arms under the zero-cell rule's drop00) left
    out, so that it has the normal model's studies, as a plan's binomial likelihood has
    (:mod:`bayesmeta.reanalysis.binomial`)."""
    if not table.dropped or table.counts is None:
        return table
    import dataclasses

    return dataclasses.replace(table, counts=table.counts.drop(index=list(table.dropped)))


def _warn_uncentred(design, table) -> list[str]:
    """Say on stderr which uncentred numeric covariates sit far from 0 (:func:`bayesmeta.formula.far_from_zero`);
    the messages are returned for the JSON's warnings."""
    if design is None:
        return []
    from bayesmeta.formula import far_from_zero

    messages = [f"covariate {column} has mean {mean:.6g} and SD {sd:.3g}, far from 0: mu is the effect at "
                f"{column} = 0 and its prior also constrains the slope; --center fits mu at the mean"
                for column, (mean, sd) in far_from_zero(design, table.covariates).items()]
    for message in messages:
        typer.echo(f"warning: {message}", err=True)
    return messages


def _fit_normal(data: str, table, formula: str | None, engine: Engine, beta_prior: list[str] | tuple[str, ...],
                *, sampler: dict, strict: bool, center: bool | None = None, **common):
    """The normal-normal model (a meta-regression on the design of ``formula``) by the exact engine or NUTS
    (``sampler``: draws, chains, tune, target_accept); returns the posterior and the design (None without a
    formula). ``center``: numeric covariates centred at their means (:func:`bayesmeta.formula.build_design`);
    None: :func:`bayesmeta.formula.centred_by_default`."""
    X, names, intercept, design = None, (), True, None
    if formula:
        from bayesmeta.formula import build_design, centred_by_default

        center = centred_by_default(formula) if center is None else center
        design = build_design(formula, table.covariates, file=data, center=center)
        X, names, intercept = design.covariate_matrix, design.covariate_names, design.intercept
    elif beta_prior:
        raise InputError("--beta-prior needs a meta-regression", column="--beta-prior",
                         valid="--formula or --covariates")
    betas = None
    if beta_prior:
        from bayesmeta.model_spec import coefficient_priors

        betas = coefficient_priors(beta_prior, names, None)
    if engine is Engine.exact:
        from bayesmeta.exact import fit_exact

        return fit_exact(table, X=X, covariate_names=names, beta_prior=betas, intercept=intercept, **common), design
    if not intercept:
        raise InputError("a model without intercept is fitted by the exact engine", column="--engine",
                         valid="--engine exact")
    from bayesmeta.mcmc import fit_nuts

    return fit_nuts(table, X=X, covariate_names=names, beta_prior=betas, strict=strict, **sampler, **common), design


def _bayes_factors(post) -> dict[str, object]:
    """Savage-Dickey BF_10 for mu = 0 and tau = 0 (exact engine, proper priors), else the reason there is none."""
    from bayesmeta.errors import ModelError
    from bayesmeta.exact import bayes_factor_mu0, bayes_factor_tau0

    out: dict[str, object] = {}
    for key, fn in (("mu_0", bayes_factor_mu0), ("tau_0", bayes_factor_tau0)):
        if key == "mu_0" and not post.intercept:
            out[key] = None
            continue
        try:
            out[key] = fn(post)
        except ModelError as exc:
            out[key] = None
            out.setdefault("note", str(exc))
            continue
        if not math.isfinite(out[key]):
            out[key] = None
            out.setdefault("note", f"BF10 for {key.replace('_', ' = ')} exceeds the double-precision range: the "
                                   "posterior density at that value is below 1e-308 (overwhelming evidence against it)")
    return out


def _print_table(post, thresholds: tuple[float, ...], benefit: Benefit, level: float,
                 bayes_factors: dict[str, object], kind: str = "central") -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    from bayesmeta.printing import print_table

    console = Console()
    pct = f"{100 * level:g}% CrI" + (" (shortest)" if kind == "shortest" else "")
    table = Table(title=f"Posterior ({post.engine} engine, {post.likelihood} likelihood, k = {post.k}, "
                        f"measure {post.measure})")
    for col in ("parameter", "mean", "sd", "median", pct):
        table.add_column(col, justify="right" if col != "parameter" else "left")
    for row in post._summary_rows(level, kind=kind):  # plain rows: the table needs no pandas
        table.add_row(
            str(row["parameter"]),  # print_table prints cells as text, never as markup
            f"{row['mean']:.4f}",
            f"{row['sd']:.4f}",
            f"{row['median']:.4f}",
            f"[{row['ci_lower']:.4f}, {row['ci_upper']:.4f}]",
        )
    print_table(table, console)
    if post.is_ratio and post.intercept:
        nat = next(r for r in post._summary_rows(level, scale="reported", kind=kind) if r["parameter"] == "mu")
        console.print(
            f"pooled {post.measure}: {nat['median']:.3f} ({pct} {nat['ci_lower']:.3f} to {nat['ci_upper']:.3f})"
        )
    if post.covariates:
        effects = post.covariate_effects(level)
        label = f"ratio of {post.measure}s" if post.is_ratio else "difference"
        if not post.intercept:  # every coefficient is an effect of its own (a group mean), not a difference
            label = post.measure if post.is_ratio else "effect"
        for name, row in effects.iterrows():
            p_col = "prob_below_1" if post.is_ratio else "prob_below_0"
            # a coded level is named column[level]; any other coefficient multiplies a numeric column
            per_unit = " per unit" if post.intercept and "[" not in str(name) else ""
            console.print(
                f"{escape(str(name))}: {label}{per_unit} {row['median']:.4g} "  # significant digits: a slope per year is small
                f"({pct} {row['ci_lower']:.4g} to {row['ci_upper']:.4g}), "
                f"P(< {1 if post.is_ratio else 0}) = {row[p_col]:.3f}"
            )
    for v in thresholds:
        # the measure's name, as "pooled HR" above and the report's P(HR < 0.9); mu for a generic effect
        label = f"{post.measure if post.measure != 'GEN' else 'mu'} {benefit.sign} {v:g}"
        console.print(f"P({label}) = {benefit.probability(post, v):.4f}")
    # either Bayes factor may be undefined (None) on its own, e.g. tau = 0 under a lognormal_tau2 prior
    factors = [f"{label}: {bayes_factors[key]:.4g}"
               for key, label in (("mu_0", "effect vs mu = 0"), ("tau_0", "heterogeneity vs tau = 0"))
               if bayes_factors.get(key) is not None]
    if factors:
        console.print(f"Bayes factors (Savage-Dickey, BF10): {'; '.join(factors)}")
    if bayes_factors.get("note"):
        console.print(f"note: {escape(str(bayes_factors['note']))}")
    priors = ", ".join(f"{k} ~ {v}" for k, v in post.priors.items())
    console.print(f"priors: {escape(priors)}; seed {post.seed}")
    for w in post.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")


def _print_combinations(result: dict, level: float) -> None:
    """The mean effects, predictions and contrasts asked for, one line each (analysis scale)."""
    labels = {"mean_at": "mean effect at", "predict_at": "new study at", "contrast": "contrast"}
    for key, label in labels.items():
        for text, row in (result.get(key) or {}).items():
            typer.echo(f"{label} {text}: median {row['median']:.4f}, mean {row['mean']:.4f}, sd {row['sd']:.4f}, "
                       f"{100 * level:g}% CrI [{row['ci_lower']:.4f}, {row['ci_upper']:.4f}]")


def _pppvalues(post, items: list[str], n: int, seed: int) -> dict[str, dict]:
    """``--pppvalue "mu = 0[, less|greater|two.sided]"`` -> {text: PPPValue as a dict}."""
    from bayesmeta.pppvalue import ALTERNATIVES, pppvalue

    out = {}
    for text in items:
        head, _, alternative = (t.strip() for t in text.partition(","))
        param, sep, value = (t.strip() for t in head.partition("="))
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not sep or param not in ("mu", "tau") or not math.isfinite(number) or \
                (alternative and alternative not in ALTERNATIVES):
            raise InputError(f"cannot read --pppvalue {text!r}", column="--pppvalue",
                             valid='"mu = 0", "mu = 0, less", "mu = 0, greater" or "tau = 0, greater"')
        alternative = alternative or ("greater" if param == "tau" else "two.sided")
        out[text] = pppvalue(post, param, number, alternative, n=n, seed=seed).as_dict()
    return out
