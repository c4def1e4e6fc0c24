"""`bayesmeta bias`: Bayesian model averaging over effect, heterogeneity and publication bias (the report's
PET-PEESE, the RoBMA-PSMA or the metaBMA ensemble) with marginal likelihoods by deterministic integration (by
sequential Monte Carlo, seeded by --seed, for selection models beyond the tensor rule). The effects are oriented
by ``--benefit`` as in the report (:mod:`bayesmeta.bias.direction`): fitted to -yi where benefit lies below the
null, the results turned back to the outcome's own sign."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from bayesmeta.benefit import Benefit
from bayesmeta.cli import app
from bayesmeta.cli.options import (
    DEFAULT_ADD,
    AddOption,
    BenefitOption,
    DataArgument,
    Drop00Option,
    JsonOption,
    LevelOption,
    MeasureOption,
    OutcomeOption,
    SeedOption,
    ToOption,
    UisdOption,
    VType,
    VTypeOption,
    ZeroCellsTo,
    dropped_studies,
    json_text,
    measure_value,
    read_table,
    table_unit,
    zero_cell_rule,
)
from bayesmeta.errors import InputError


class EnsembleName(str, Enum):
    """The named ensembles of the plan's ``[bias] ensemble`` (:data:`bayesmeta.plan.BIAS_ENSEMBLES` but "custom",
    which is ``--models`` here)."""

    pet_peese = "pet-peese"
    metabma = "metabma"
    psma = "psma"


DEFAULT_ENSEMBLE = EnsembleName.pet_peese
"""As the plan's ``[bias] ensemble`` default (:class:`bayesmeta.plan.BiasPlan`)."""


@app.command("bias")
def bias_command(
    data: DataArgument,
    outcome: OutcomeOption = None,
    vtype: VTypeOption = VType.LS,
    add: AddOption = DEFAULT_ADD,
    to: ToOption = ZeroCellsTo.only0,
    drop00: Drop00Option = None,
    measure: MeasureOption = None,
    ensemble: Annotated[Optional[EnsembleName], typer.Option(
        help="pet-peese: no bias, PET, PEESE x effect x heterogeneity, 12 models (the default, as the plan's); "
        "psma: RoBMA-PSMA, 36 models; metabma: FE/RE x H0/H1")] = None,
    models: Annotated[Optional[str], typer.Option(
        "--models", help="a TOML file of [[models]] tables (keys effect, heterogeneity, bias, sided, cutoffs, "
        "alpha, prior_weight, as the plan's [[bias.models]]): a user-defined ensemble instead of --ensemble")
    ] = None,
    mu_prior: Annotated[Optional[str], typer.Option("--mu-prior", help='effect prior, e.g. "normal(0, 1)" or '
                                                    '"cauchy(0, 0.707)+" (default: RoBMA\'s normal(0, 1) for '
                                                    'Cohen\'s d, rescaled to the measure: x pi/sqrt(3) for log '
                                                    'ratios, x UISD/2 for MD and GEN (see --uisd), as it is for SMD '
                                                    'and RD)')] = None,
    tau_prior: Annotated[Optional[str], typer.Option("--tau-prior", help='heterogeneity prior, e.g. '
                                                     '"invgamma(1, 0.15)" (default: RoBMA\'s invgamma(1, 0.15), '
                                                     'rescaled as --mu-prior\'s)')] = None,
    uisd: UisdOption = None,
    informed: Annotated[Optional[str], typer.Option(
        "--informed", help='Cochrane-informed mu and tau priors of a medical subfield (Bartos et al. 2021, 2023), '
        'e.g. "Oral Health" or "Cochrane" (whole database); for SMD, OR, RR, RD, HR; --mu-prior/--tau-prior '
        'override either')] = None,
    fisher_z: Annotated[bool, typer.Option(
        "--fisher-z", help="SMD only: fit on Fisher's z as RoBMA does (priors stated on d moved by 1/2, t-test "
        "selection cut-offs, estimates back on d by x2), to reproduce RoBMA's numbers")] = False,
    benefit: BenefitOption = Benefit.BELOW,
    level: LevelOption = 0.95,
    seed: SeedOption = 0,
    as_json: JsonOption = False,
) -> None:
    """Posterior model probabilities, inclusion Bayes factors and model-averaged estimates (Bartos et al. 2022);
    the bias models look for small studies with a larger benefit, on the side of the null --benefit names."""
    from bayesmeta.bias import default_priors, fit_bias
    from bayesmeta.bias.direction import fitted_effects, oriented_dict
    from bayesmeta.bias.priors import NO_UNIT
    from bayesmeta.errors import ModelError

    if not 0 < level < 1:
        raise InputError(f"--level {level} is not in (0, 1)", column="--level", valid="a number in (0, 1)")
    if models is not None and ensemble is not None:
        raise InputError("--models and --ensemble exclude each other", column="--models",
                         valid="either a named ensemble or a file of [[models]] tables")
    chosen = _read_models(models) if models is not None else (ensemble or DEFAULT_ENSEMBLE).value
    table = read_table(data, measure_value(measure), benefit=benefit, outcome=outcome, vtype=vtype,
                       zero_cells=zero_cell_rule(add, to, drop00))
    yi, flipped = fitted_effects(table.yi, benefit)
    if fisher_z and table.measure != "SMD":
        raise InputError(f"--fisher-z needs --measure SMD, got {table.measure}", column="--fisher-z")
    try:
        priors = default_priors(table.measure, mu=mu_prior, tau=tau_prior, unit=table_unit(table, uisd))
    except ModelError as exc:
        no_unit = str(exc) == NO_UNIT.format(measure=table.measure)
        raise InputError(str(exc), column="--uisd" if no_unit else "--mu-prior/--tau-prior") from None
    if informed is not None:
        from dataclasses import replace

        from bayesmeta.bias.informed import informed_priors

        try:
            base = informed_priors(informed, table.measure)
        except ModelError as exc:
            raise InputError(str(exc), column="--informed") from None
        priors = replace(base, mu=priors.mu if mu_prior else base.mu, tau=priors.tau if tau_prior else base.tau)
    if fisher_z:
        from bayesmeta.bias.robma import fit_bias_robma

        try:
            result = fit_bias_robma(yi, table.sei, ensemble=chosen, d_priors=priors, seed=seed)
        except ModelError as exc:
            raise InputError(str(exc), column="--fisher-z") from None
    else:
        result = fit_bias(yi, table.sei, measure=table.measure, ensemble=chosen, priors=priors, seed=seed)
    out = oriented_dict(result, level, flipped)
    out["benefit"] = benefit.value
    out["source"] = data
    out["dropped"] = dropped_studies(table)
    if as_json:
        typer.echo(json_text(out))
        return
    _print(out, level)


def _read_models(path: str):
    """The user ensemble of a TOML file's [[models]] tables (:func:`bayesmeta.plan.load_bias_models`)."""
    from bayesmeta.bias import Ensemble
    from bayesmeta.plan import load_bias_models

    return Ensemble("custom", load_bias_models(path))


_ERROR_KIND = {"rule": "rule", "monte carlo se": "MC SE"}
"""The table's short names of :data:`bayesmeta.bias.ensemble.ERROR_KINDS`."""


def _fmt_summary(s: dict | None, ratio: bool) -> str:
    if s is None:
        return "-"
    r = s["reported"] if ratio else s["analysis"]
    return f"{r['median']:.3f} [{r['ci_lower']:.3f}, {r['ci_upper']:.3f}]"


def _print(out: dict, level: float) -> None:
    from rich.console import Console
    from rich.table import Table
    from bayesmeta.printing import print_table

    from bayesmeta.scales import is_ratio

    console = Console()
    ratio = out["measure"] is not None and is_ratio(out["measure"])
    pct = f"{100 * level:g}% CrI"
    table = Table(title=f"Models ({out['ensemble']} ensemble, k = {out['k']}, measure {out['measure']})")
    for col in ("model", "prior prob", "post prob", "log ML", "± error", "error kind", f"mu median [{pct}]"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for m in out["models"]:
        table.add_row(m["model"], f"{m['prior_prob']:.4f}", f"{m['post_prob']:.4f}", f"{m['log_ml']:.4f}",
                      f"{m['log_ml_error']:.1e}", _ERROR_KIND[m["log_ml_error_kind"]], _fmt_summary(m["mu"], ratio))
    print_table(table, console)
    console.print("(± error: " + "; ".join(f"{_ERROR_KIND[k]} = {v}" for k, v in out["log_ml_error_kinds"].items())
                  + ")")
    for comp, i in out["inclusion"].items():
        console.print(f"inclusion BF for {comp}: {i['bf']:.4g} (prior {i['prior_prob']:.3f} -> posterior "
                      f"{i['post_prob']:.3f})")
    scale = f"{out['measure']}" if ratio else "effect"
    console.print(f"model-averaged {scale}: {_fmt_summary(out['mu'], ratio)} (P(mu = 0) = {out['mu_atom_at_0']:.3f})")
    console.print(f"conditional on an effect: {_fmt_summary(out['mu_conditional'], ratio)}")
    console.print(f"unadjusted (no-bias models, effect present): {_fmt_summary(out['mu_unadjusted'], ratio)}")
    console.print(f"new study: {_fmt_summary(out['predictive'], ratio)}")
    if out.get("tau") is not None:
        cond = out.get("tau_conditional")
        given = f"; given heterogeneity {cond['mean']:.3f} (sd {cond['sd']:.3f})" if cond else ""
        console.print(f"tau (analysis scale): mean {out['tau']['mean']:.3f} (sd {out['tau']['sd']:.3f}){given}")
    if out.get("estimates"):
        est = Table(title=f"Model-averaged and conditional estimates ({pct}; conditional: the models with the "
                          "parameter; tau, PET and PEESE on the analysis scale, log for ratio measures, Cohen's "
                          "d with --fisher-z; PET and PEESE with the outcome's own sign)")
        for col in ("parameter", "mean", "median", f"{pct}", "cond. mean", "cond. median", f"cond. {pct}"):
            est.add_column(col, justify="left" if col == "parameter" else "right")
        for name, e in out["estimates"].items():
            c = out["estimates_conditional"].get(name)
            cells = [f"{e['mean']:.3f}", f"{e['median']:.3f}", f"[{e['ci_lower']:.3f}, {e['ci_upper']:.3f}]"]
            cells += ([f"{c['mean']:.3f}", f"{c['median']:.3f}", f"[{c['ci_lower']:.3f}, {c['ci_upper']:.3f}]"]
                      if c else ["-"] * 3)
            est.add_row(name, *cells)
        print_table(est, console)
        if any(k.startswith("omega") for k in out["estimates"]):
            console.print("(omega: publication weights per interval of one-sided p-values of tests towards benefit, 1 "
                          "for the smallest)")
    console.print(f"priors: {', '.join(f'{k} ~ {v}' for k, v in out['priors'].items())}")
    console.print(_direction(out))
    for note in out["notes"]:
        console.print(f"note: {note}")
    for warning in out["warnings"]:
        console.print(f"warning: {warning}")
    if out.get("below_min_k"):
        from bayesmeta.asymmetry import few_studies_caveat

        console.print(f"warning: {few_studies_caveat(out['k'], out['min_k'])}")


def _direction(out: dict) -> str:
    """The sentence on which side the bias models looked (:mod:`bayesmeta.bias.direction`)."""
    side = "below" if out["benefit"] == "below" else "above"
    fitted = "fitted to -yi, " if out["flipped"] else ""
    slope = "negative" if out["flipped"] else "positive"
    return (f"direction: benefit {side} the null ({fitted}every estimate shown on the outcome's own sign): the bias "
            f"models look for small studies with a larger benefit; a {slope} PET or PEESE slope means smaller "
            f"studies show effects further {side} the null")
