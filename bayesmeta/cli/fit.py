"""`bayesmeta fit`: a Bayesian random-effects model (or meta-regression) on a user's CSV: the normal-normal model
on the effects, or the binomial-normal model on the arm counts (``--likelihood binomial``)."""

from __future__ import annotations

import math
from enum import Enum
from typing import Annotated, Optional

import typer

from bayesmeta.benefit import Benefit
from bayesmeta.cli import app
from bayesmeta.cli.options import (
    DEFAULT_MU_PRIOR,
    DEFAULT_TAU_PRIOR,
    BenefitOption,
    DataArgument,
    JsonOption,
    LevelOption,
    Likelihood,
    LikelihoodOption,
    MeasureOption,
    MuPriorOption,
    SeedOption,
    TauPriorOption,
    ThresholdOption,
    json_text,
    measure_value,
    read_table,
)
from bayesmeta.errors import InputError


class Engine(str, Enum):
    exact = "exact"
    nuts = "nuts"


@app.command("fit")
def fit_command(
    data: DataArgument,
    measure: MeasureOption = None,
    mu_prior: MuPriorOption = DEFAULT_MU_PRIOR,
    tau_prior: TauPriorOption = DEFAULT_TAU_PRIOR,
    covariates: Annotated[
        Optional[str], typer.Option(help="comma-separated study-level columns for a meta-regression")
    ] = None,
    likelihood: LikelihoodOption = Likelihood.normal,
    engine: Annotated[
        Optional[Engine], typer.Option(help="exact integration or NUTS sampling (default: exact; nuts for the "
                                            "binomial likelihood)")
    ] = None,
    threshold: ThresholdOption = None,
    benefit: BenefitOption = Benefit.BELOW,
    level: LevelOption = 0.95,
    draws: Annotated[int, typer.Option(help="NUTS draws per chain")] = 1000,
    chains: Annotated[int, typer.Option(help="NUTS chains")] = 4,
    seed: SeedOption = 0,
    strict: Annotated[bool, typer.Option(help="NUTS: fail instead of warning on poor diagnostics")] = False,
    as_json: JsonOption = False,
) -> None:
    """Fit y_i ~ N(theta_i, s_i^2), theta_i ~ N(mu + x_i'beta, tau^2) (or, with --likelihood binomial, the
    binomial-normal model on the arm counts) and print posterior summaries."""
    binomial = likelihood is Likelihood.binomial
    if binomial and engine is Engine.exact:
        raise InputError("the binomial likelihood is fitted by NUTS, not by the exact engine", column="--engine",
                         valid="--engine nuts (the default with --likelihood binomial)")
    if binomial and covariates:
        raise InputError("the binomial-normal model is fitted without covariates", column="--covariates",
                         valid="no --covariates with --likelihood binomial")
    engine = engine or (Engine.nuts if binomial else Engine.exact)
    default_measure = "OR" if binomial else None  # the binomial-normal model is the odds ratio's
    table = read_table(data, measure_value(measure) or default_measure, benefit, likelihood,
                       quick=not (binomial or covariates))
    if binomial:
        from bayesmeta.mcmc import fit_binomial_nuts

        if table.counts is None:
            raise InputError("the binomial likelihood needs arm counts", file=data, column="events_treatment",
                             valid="columns events_treatment, total_treatment, events_control, total_control")
        post = fit_binomial_nuts(table, mu_prior=mu_prior, tau_prior=tau_prior, draws=draws, chains=chains,
                                 seed=seed, strict=strict)
    else:
        post = _fit_normal(data, table, covariates, engine, mu_prior=mu_prior, tau_prior=tau_prior, seed=seed,
                           draws=draws, chains=chains, strict=strict)
    thresholds = tuple(threshold or ())
    result = post.to_dict(level, thresholds=thresholds)
    result["benefit"] = benefit.value
    if not benefit.below:
        result["prob_above"] = {str(t): benefit.probability(post, t) for t in thresholds}
    result["bayes_factors"] = _bayes_factors(post)
    if as_json:
        typer.echo(json_text(result))
        return
    _print_table(post, thresholds, benefit, level, result["bayes_factors"])


def _fit_normal(data: str, table, covariates: str | None, engine: Engine, *, draws: int, chains: int,
                strict: bool, **common):
    """The normal-normal model (a meta-regression on ``covariates``) by the exact engine or NUTS."""
    X, names = None, ()
    if covariates:
        from bayesmeta.design import design_matrix

        columns = [c.strip() for c in covariates.split(",") if c.strip()]
        missing = [c for c in columns if c not in table.covariates.columns]
        if missing:
            raise InputError(
                f"no covariate column {', '.join(map(repr, missing))}",
                file=data,
                column=missing[0],
                valid=", ".join(table.covariates.columns) or "no other columns in this file",
            )
        X, names = design_matrix(table.covariates, columns)
    if engine is Engine.exact:
        from bayesmeta.exact import fit_exact

        return fit_exact(table, X=X, covariate_names=names, **common)
    from bayesmeta.mcmc import fit_nuts

    return fit_nuts(table, X=X, covariate_names=names, draws=draws, chains=chains, strict=strict, **common)


def _bayes_factors(post) -> dict[str, object]:
    """Savage-Dickey BF_10 for mu = 0 and tau = 0 (exact engine, proper priors), else the reason there is none."""
    from bayesmeta.errors import ModelError
    from bayesmeta.exact import bayes_factor_mu0, bayes_factor_tau0

    out: dict[str, object] = {}
    for key, fn in (("mu_0", bayes_factor_mu0), ("tau_0", bayes_factor_tau0)):
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
                 bayes_factors: dict[str, object]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    pct = f"{100 * level:g}% CrI"
    table = Table(title=f"Posterior ({post.engine} engine, {post.likelihood} likelihood, k = {post.k}, "
                        f"measure {post.measure})")
    for col in ("parameter", "mean", "sd", "median", pct):
        table.add_column(col, justify="right" if col != "parameter" else "left")
    for row in post._summary_rows(level):  # plain rows: the table needs no pandas
        table.add_row(
            escape(str(row["parameter"])),
            f"{row['mean']:.4f}",
            f"{row['sd']:.4f}",
            f"{row['median']:.4f}",
            f"[{row['ci_lower']:.4f}, {row['ci_upper']:.4f}]",
        )
    console.print(table)
    if post.is_ratio:
        nat = next(r for r in post._summary_rows(level, scale="reported") if r["parameter"] == "mu")
        console.print(
            f"pooled {post.measure}: {nat['median']:.3f} ({pct} {nat['ci_lower']:.3f} to {nat['ci_upper']:.3f})"
        )
    if post.covariates:
        effects = post.covariate_effects(level)
        label = f"ratio of {post.measure}s" if post.is_ratio else "difference"
        for name, row in effects.iterrows():
            p_col = "prob_below_1" if post.is_ratio else "prob_below_0"
            console.print(
                f"{escape(str(name))}: {label} {row['median']:.3f} "
                f"({pct} {row['ci_lower']:.3f} to {row['ci_upper']:.3f}), "
                f"P(< {1 if post.is_ratio else 0}) = {row[p_col]:.3f}"
            )
    for v in thresholds:
        label = f"exp(mu) {benefit.sign} {v:g}" if post.is_ratio else f"mu {benefit.sign} {v:g}"
        console.print(f"P({label}) = {benefit.probability(post, v):.4f}")
    # either Bayes factor may be undefined (None) on its own, e.g. tau = 0 under a lognormal_tau2 prior
    factors = [f"{label}: {bayes_factors[key]:.4g}"
               for key, label in (("mu_0", "effect vs mu = 0"), ("tau_0", "heterogeneity vs tau = 0"))
               if bayes_factors.get(key) is not None]
    if factors:
        console.print(f"Bayes factors (Savage-Dickey, BF10): {'; '.join(factors)}")
    if bayes_factors.get("note"):
        console.print(f"note: {escape(str(bayes_factors['note']))}")
    console.print(f"priors: mu ~ {post.priors.get('mu')}, tau ~ {post.priors.get('tau')}; seed {post.seed}")
    for w in post.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")
