"""`bayesmeta subgroups`: each published subgroup's effect and the ratio of effects between subgroups, with and
without partial pooling across the levels of a characteristic (:mod:`bayesmeta.subgroups`)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from bayesmeta.benefit import Benefit
from bayesmeta.cli import app
from bayesmeta.cli.options import (
    DEFAULT_MU_PRIOR,
    DEFAULT_TAU_PRIOR,
    BenefitOption,
    JsonOption,
    LevelOption,
    McidOption,
    MeasureOption,
    MuPriorOption,
    TauPriorOption,
    default_mcid,
    json_text,
    measure_value,
)
from bayesmeta.scales import is_ratio


@app.command("subgroups")
def subgroups_command(
    data: Annotated[str, typer.Argument(help="CSV of published subgroup rows: characteristic (or variable), level, "
                                             "and estimate,ci_lower,ci_upper or yi,sei; optional measure, k, n, "
                                             "outcome, analysis")],
    outcome: Annotated[Optional[str], typer.Option("--outcome", help="the outcome to analyse when the table "
                                                   "holds several")] = None,
    characteristic: Annotated[Optional[list[str]], typer.Option(
        "--characteristic", help="analyse only this characteristic; repeatable")] = None,
    measure: MeasureOption = None,
    benefit: BenefitOption = Benefit.BELOW,
    mcid: McidOption = None,
    mu_prior: MuPriorOption = DEFAULT_MU_PRIOR,
    tau_prior: TauPriorOption = DEFAULT_TAU_PRIOR,
    unpooled_prior: Annotated[str, typer.Option("--unpooled-prior", help='prior of each subgroup effect when '
                                                'not pooled: "flat" (the closed form from two CIs) or '
                                                '"normal(mean, sd)"')] = "flat",
    level: LevelOption = 0.95,
    as_json: JsonOption = False,
) -> None:
    """Posterior of each subgroup's effect (pooled across the levels of its characteristic by the exact
    normal-normal model, and unpooled), P(benefit) and P(beyond the MCID) per subgroup, and the ratio of effects
    between levels."""
    from bayesmeta.cli import options
    from bayesmeta.subgroups import analyse_subgroups, read_subgroup_table

    options.TABLE_READ = data
    table = read_subgroup_table(data, measure_value(measure), outcome)
    cut = default_mcid(mcid, table.measure, benefit) if (mcid is not None or is_ratio(table.measure)) else None
    result = analyse_subgroups(table, benefit=benefit, mcid=cut, mu_prior=mu_prior, tau_prior=tau_prior,
                               unpooled_prior=unpooled_prior, level=level,
                               characteristics=tuple(characteristic) if characteristic else None)
    if as_json:
        typer.echo(json_text(result.as_dict()))
        return
    _print(result)


def _ci(d: dict[str, float]) -> str:
    return f"{d['median']:.2f} ({d['ci_lower']:.2f} to {d['ci_upper']:.2f})"


def _prob(value: float | None) -> str:
    """A posterior probability as the report prints it: 3 decimals, '> 0.999' and '< 0.001' at the ends."""
    from bayesmeta.reanalysis.statements import probability_text

    return "-" if value is None else probability_text(float(value))


def _p(value: float | None) -> str:
    """A p-value: 3 decimals, '< 0.001' below."""
    return "-" if value is None else ("< 0.001" if value < 0.001 else f"{value:.3f}")


def _print(result) -> None:
    from rich.console import Console
    from rich.table import Table
    from bayesmeta.printing import print_table

    console = Console()
    m, side = result.measure, result.benefit.sign
    null = 1 if is_ratio(m) else 0
    effects = Table(title=f"{result.outcome or ''} subgroups ({m}; hierarchical: mu {result.priors['mu']}, "
                          f"tau {result.priors['tau']}; unpooled: {result.priors['unpooled']})")
    columns = ["characteristic", "level", "k", "published", "pooled", "unpooled", f"P({m} {side} {null:g})"]
    if result.mcid is not None:
        columns.append(f"P({m} {side} {result.mcid:g})")
    for col in columns:
        effects.add_column(col, justify="left" if col in ("characteristic", "level") else "right")
    for c in result.characteristics:
        for e in c.effects:
            published = "-" if e.published is None else (
                f"{e.published['estimate']:.2f} ({e.published['ci_lower']:.2f} to {e.published['ci_upper']:.2f})")
            row = [c.characteristic, e.level, "-" if e.k is None else str(e.k), published,
                   "-" if e.pooled is None else _ci(e.pooled.reported(m)), _ci(e.unpooled.reported(m)),
                   f"{_prob(e.prob_benefit_pooled)} / {_prob(e.prob_benefit_unpooled)}"]
            if result.mcid is not None:
                row.append(f"{_prob(e.prob_mcid_pooled)} / {_prob(e.prob_mcid_unpooled)}")
            effects.add_row(*row)
    print_table(effects, console)
    console.print("Probabilities: pooled / unpooled.")
    ratio = is_ratio(m)
    pair = "level / reference" if ratio else "level - reference"
    contrasts = Table(title=f"Ratio of effects between levels ({m} of the level / {m} of the reference)" if ratio
                      else f"Difference of effects between levels ({m} of the level - {m} of the reference)")
    for col in ("characteristic", pair, "hierarchical", "unpooled", "P(level better)", "Q-test p"):
        contrasts.add_column(col, justify="left" if col in ("characteristic", pair) else "right")
    for c in result.characteristics:
        pairs: dict[tuple[str, str], dict] = {}
        for k in c.contrasts:
            pairs.setdefault((k.level, k.reference), {})[k.model] = k
        for (a, b), both in pairs.items():
            h, u = both["hierarchical"], both["unpooled"]
            contrasts.add_row(c.characteristic, f"{a} / {b}" if ratio else f"{a} - {b}", _ci(h.ratio), _ci(u.ratio),
                              f"{_prob(h.prob_level_better)} / {_prob(u.prob_level_better)}", _p(c.p_between))
    print_table(contrasts, console)
    console.print(f"Assumption: {result.assumption}")
