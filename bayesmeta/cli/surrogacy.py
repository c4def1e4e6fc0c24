"""`bayesmeta surrogacy`: Bayesian trial-level surrogacy of one outcome for another (:mod:`bayesmeta.surrogacy`)
from an outcomes table with both outcomes per study."""

from __future__ import annotations

import re
from typing import Annotated, Optional

import typer

from bayesmeta.benefit import Benefit
from bayesmeta.cli import app
from bayesmeta.cli.fit import Engine
from bayesmeta.cli.options import (
    BenefitOption,
    ChainsOption,
    DrawsOption,
    JsonOption,
    LevelOption,
    SeedOption,
    TargetAcceptOption,
    TuneOption,
    finite,
    json_text,
    nuts_settings,
)
from bayesmeta.errors import InputError


def _within(text: str) -> float | tuple[float, float]:
    """``--within``: a number, or uniform(lower, upper) (a correlation's prior, unlike the tau priors of
    :mod:`bayesmeta.priors`)."""
    try:
        return float(text)
    except ValueError:
        pass
    match = re.fullmatch(r"\s*uniform\(\s*([^,()]+?)\s*,\s*([^,()]+?)\s*\)\s*", text, flags=re.IGNORECASE)
    try:
        if match is None:
            raise ValueError
        return float(match.group(1)), float(match.group(2))
    except ValueError:
        raise InputError(f"--within '{text}' is neither a number nor uniform(lower, upper)", column="--within",
                         valid="a value in (-1, 1), or uniform(lower, upper) with -1 < lower < upper < 1") from None


# The bivariate model's own sampler default (that of bayesmeta.surrogacy.fit_surrogacy), above fit's 0.9.
SURROGACY_NUTS = {"target_accept": 0.95}


@app.command("surrogacy")
def surrogacy_command(
    data: Annotated[str, typer.Argument(help="outcomes CSV (study_id, outcome, measure and the reported "
                                             "statistics) with both outcomes for some studies")],
    x: Annotated[str, typer.Option("--surrogate", help="the surrogate outcome (x), e.g. ORR")],
    y: Annotated[str, typer.Option("--final", help="the final outcome (y), e.g. OS")],
    studies: Annotated[Optional[str], typer.Option("--studies", help="study table (arm sizes for the "
                                                   "plausibility checks, labels)")] = None,
    published: Annotated[Optional[str], typer.Option("--published", help="published-results table holding the "
                                                     "paper's correlation row (outcome X~Y)")] = None,
    within_correlation: Annotated[str, typer.Option("--within", help="within-study correlation of the "
                                                    "two effects: a value, or a prior uniform(lower, upper)")] = "0",
    mu_sd: Annotated[float, typer.Option("--mu-sd", help="SD of the normal priors of the mean effects",
                                         callback=finite)] = 4.0,
    tau_scale: Annotated[float, typer.Option("--tau-scale", help="scale of the half-normal priors of the "
                                             "between-study SDs", callback=finite)] = 0.5,
    eta: Annotated[float, typer.Option("--eta", help="LKJ(eta) prior of the between-study correlation "
                                       "(1: uniform on (-1, 1))", callback=finite)] = 1.0,
    new_x: Annotated[Optional[float], typer.Option("--new-x", help="a new trial's surrogate effect (reported "
                                                   "scale, e.g. an RR) to predict the final-outcome effect from",
                                                   callback=finite)] = None,
    new_x_se: Annotated[float, typer.Option("--new-x-se", help="its standard error on the analysis scale "
                                            "(0: known exactly)", callback=finite)] = 0.0,
    benefit: BenefitOption = Benefit.BELOW,
    level: LevelOption = 0.95,
    engine: Annotated[Engine, typer.Option(help="exact integration over (tau_x, tau_y, rho[, r_w]) or NUTS "
                                                "sampling")] = Engine.exact,
    draws: DrawsOption = None,
    chains: ChainsOption = None,
    tune: TuneOption = None,
    target_accept: TargetAcceptOption = None,
    seed: SeedOption = 0,
    strict: Annotated[bool, typer.Option(help="fail instead of warning on poor NUTS diagnostics")] = False,
    as_json: JsonOption = False,
) -> None:
    """Bivariate normal-normal model of the two effects per study (Daniels & Hughes 1997; Bujkiewicz et al.
    2016): the trial-level correlation and slope, the predicted final-outcome effect of a new trial, the
    posterior of the correlation against its prior, and the Spearman correlation the paper reported."""
    from bayesmeta.cli import options
    from bayesmeta.data import load_outcomes, load_published, load_studies
    from bayesmeta.surrogacy import Priors, effect_pairs, fit_surrogacy, published_rank_correlation

    sampler = nuts_settings(sampling=engine is Engine.nuts, defaults=SURROGACY_NUTS, draws=draws, chains=chains,
                            tune=tune, target_accept=target_accept)
    options.TABLE_READ = data
    study_table = load_studies(studies) if studies else None
    pairs = effect_pairs(load_outcomes(data, studies=study_table), x, y, study_table)
    paper = published_rank_correlation(load_published(published), x, y) if published else None
    priors = Priors(mu_sd=mu_sd, tau_x_scale=tau_scale, tau_y_scale=tau_scale, eta=eta,
                    within=_within(within_correlation))
    result = fit_surrogacy(pairs, priors=priors, level=level, new_x=new_x, new_x_se=new_x_se, benefit=benefit,
                           published=paper, engine=engine.value, seed=seed, strict=strict, **sampler)
    if as_json:
        typer.echo(json_text(result.as_dict()))
        return
    _print(result)


def _row(s) -> str:
    return f"{s.median:.2f} ({s.ci_lower:.2f} to {s.ci_upper:.2f})"


def _print(r) -> None:
    from rich.console import Console
    from rich.table import Table
    from bayesmeta.printing import print_table

    console = Console()
    table = Table(title=f"Trial-level surrogacy of {r.x_outcome} (log {r.x_measure}) for {r.y_outcome} "
                        f"(log {r.y_measure}), k = {r.k}, {r.engine} engine")
    table.add_column("quantity")
    table.add_column(f"median ({r.level:.0%} interval)", justify="right")
    table.add_row("correlation rho of the true effects", _row(r.rho))
    table.add_row(f"slope (log {r.y_measure} per log {r.x_measure})", _row(r.slope))
    table.add_row("intercept", _row(r.intercept))
    table.add_row(f"SD of true {r.y_outcome} effects at a given {r.x_outcome} effect", _row(r.conditional_sd))
    table.add_row("P(rho < 0)", f"{r.prob_rho_negative:.3f}")
    if r.r_within is not None:
        table.add_row("within-study correlation", _row(r.r_within))
    if r.prediction is not None:
        p = r.prediction
        table.add_row(f"predicted {r.y_measure} of a new trial with {r.x_measure} {p.x_reported:g}",
                      f"{p.reported['median']:.2f} ({p.reported['ci_lower']:.2f} to {p.reported['ci_upper']:.2f})")
        table.add_row(f"P(benefit on {r.y_outcome}) for that trial", f"{p.prob_benefit:.3f}")
    rc = r.rank_correlation
    table.add_row(f"Spearman r of the observed effects (k = {rc.k})",
                  f"{rc.recomputed:.2f} (p = {rc.recomputed_p:.3f})")
    if rc.published is not None:
        p_text = "" if rc.published_p is None else f" (p = {rc.published_p:g})"
        table.add_row("Spearman r as published", f"{rc.published:.2f}{p_text}")
    print_table(table, console)
    console.print(r.prior_vs_posterior.statement)
    console.print(f"Studies: {', '.join(r.study)}" + (f"; with one outcome only: {', '.join(r.unpaired)}"
                                                       if r.unpaired else ""))
    if r.engine == "exact":
        err = r.diagnostics["quadrature_error"]
        console.print(f"Quadrature error (difference to a coarser rule): rho {err['rho']:.1e}, log marginal "
                      f"likelihood {err['log_marginal_likelihood']:.1e}.")
    for w in r.warnings:
        console.print(f"warning: {w}")
