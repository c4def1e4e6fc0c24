"""`bayesmeta fit`: a Bayesian normal-normal model (or meta-regression) on a user's CSV."""

from __future__ import annotations

import math
from enum import Enum
from typing import Annotated, Optional

import typer

from bayesmeta.cli import app
from bayesmeta.cli.options import (
    DEFAULT_MU_PRIOR,
    DEFAULT_TAU_PRIOR,
    DataArgument,
    JsonOption,
    MeasureOption,
    TauPriorOption,
    finite,
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
    mu_prior: Annotated[str, typer.Option("--mu-prior", help='prior of mu, e.g. "normal(0, 4)" or "flat"')] = DEFAULT_MU_PRIOR,
    tau_prior: TauPriorOption = DEFAULT_TAU_PRIOR,
    covariates: Annotated[
        Optional[str], typer.Option(help="comma-separated study-level columns for a meta-regression")
    ] = None,
    engine: Annotated[Engine, typer.Option(help="exact integration or NUTS sampling")] = Engine.exact,
    below: Annotated[
        Optional[list[float]], typer.Option("--below", help="report P(exp(mu) < value); repeatable", callback=finite)
    ] = None,
    draws: Annotated[int, typer.Option(help="NUTS draws per chain")] = 1000,
    chains: Annotated[int, typer.Option(help="NUTS chains")] = 4,
    seed: Annotated[int, typer.Option(help="random seed (recorded in the output)")] = 0,
    strict: Annotated[bool, typer.Option(help="NUTS: fail instead of warning on poor diagnostics")] = False,
    as_json: JsonOption = False,
) -> None:
    """Fit y_i ~ N(theta_i, s_i^2), theta_i ~ N(mu + x_i'beta, tau^2) and print posterior summaries."""
    table = read_table(data, measure_value(measure))
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
    common = dict(
        mu_prior=mu_prior,
        tau_prior=tau_prior,
        X=X,
        covariate_names=names,
        study_ids=table.study,
        measure=table.measure,
        seed=seed,
    )
    if engine is Engine.exact:
        from bayesmeta.exact import fit_exact

        post = fit_exact(table.yi, table.sei, **common)
    else:
        from bayesmeta.mcmc import fit_nuts

        post = fit_nuts(table.yi, table.sei, draws=draws, chains=chains, strict=strict, **common)
    thresholds = tuple(below or ())
    result = post.to_dict(below=thresholds)
    result["bayes_factors"] = _bayes_factors(post)
    if as_json:
        typer.echo(json_text(result))
        return
    _print_table(post, thresholds, result["bayes_factors"])


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


def _print_table(post, thresholds: tuple[float, ...], bayes_factors: dict[str, object]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    table = Table(title=f"Posterior ({post.engine} engine, k = {post.k}, measure {post.measure})")
    for col in ("parameter", "mean", "sd", "median", "95% CrI"):
        table.add_column(col, justify="right" if col != "parameter" else "left")
    for name, row in post.summary().iterrows():
        table.add_row(
            escape(str(name)),
            f"{row['mean']:.4f}",
            f"{row['sd']:.4f}",
            f"{row['median']:.4f}",
            f"[{row['ci_lower']:.4f}, {row['ci_upper']:.4f}]",
        )
    console.print(table)
    if post.is_ratio:
        nat = post.summary(scale="natural").loc["mu"]
        console.print(
            f"pooled {post.measure}: {nat['median']:.3f} (95% CrI {nat['ci_lower']:.3f} to {nat['ci_upper']:.3f})"
        )
    if post.covariates:
        effects = post.covariate_effects()
        label = f"ratio of {post.measure}s" if post.is_ratio else "difference"
        for name, row in effects.iterrows():
            p_col = "prob_below_1" if post.is_ratio else "prob_below_0"
            console.print(
                f"{escape(str(name))}: {label} {row['median']:.3f} "
                f"(95% CrI {row['ci_lower']:.3f} to {row['ci_upper']:.3f}), "
                f"P(< {1 if post.is_ratio else 0}) = {row[p_col]:.3f}"
            )
    for v in thresholds:
        label = f"exp(mu) < {v:g}" if post.is_ratio else f"mu < {v:g}"
        console.print(f"P({label}) = {post.prob_below(v):.4f}")
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
