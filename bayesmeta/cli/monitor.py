"""`bayesmeta monitor`: sequential posterior monitoring of a cumulating meta-analysis on a user's CSV."""

from __future__ import annotations

from typing import Annotated

import typer

from bayesmeta.benefit import Benefit
from bayesmeta.cli import app
from bayesmeta.cli.options import (
    DEFAULT_ADD,
    DEFAULT_MU_PRIOR,
    DEFAULT_TAU_PRIOR,
    AddOption,
    BenefitOption,
    DataArgument,
    Drop00Option,
    FiguresOption,
    JsonOption,
    LevelOption,
    McidOption,
    Measure,
    MuPriorOption,
    OutcomeOption,
    TauPriorOption,
    ThresholdOption,
    ToOption,
    VType,
    VTypeOption,
    ZeroCellsTo,
    default_mcid,
    dropped_studies,
    finite,
    json_text,
    measure_value,
    note_prior_units,
    read_table,
    zero_cell_rule,
)
from bayesmeta.errors import InputError


@app.command("monitor")
def monitor_command(
    data: DataArgument,
    outcome: OutcomeOption = None,
    vtype: VTypeOption = VType.LS,
    add: AddOption = DEFAULT_ADD,
    to: ToOption = ZeroCellsTo.only0,
    drop00: Drop00Option = None,
    measure: Annotated[
        Measure | None,
        typer.Option("--measure", help="effect measure (default: the file's measure column, else HR for yi/sei "
                     "data, RR for counts)"),
    ] = None,
    mu_prior: MuPriorOption = DEFAULT_MU_PRIOR,
    tau_prior: TauPriorOption = DEFAULT_TAU_PRIOR,
    benefit: BenefitOption = Benefit.BELOW,
    mcid: McidOption = None,
    no_futility: Annotated[bool, typer.Option("--no-futility", help="monitor for benefit only")] = False,
    benefit_prob: Annotated[float, typer.Option(help="stop for benefit when P(benefit) exceeds this",
                                                callback=finite)] = 0.975,
    futility_prob: Annotated[float, typer.Option(help="stop for futility when P(beyond MCID) is below this",
                                                   callback=finite)] = 0.1,
    threshold: ThresholdOption = None,
    order_by: Annotated[str, typer.Option(help="column giving the publication order (file order if absent)")] = "year",
    level: LevelOption = 0.95,
    figures: FiguresOption = None,
    as_json: JsonOption = False,
) -> None:
    """After each study (by year, then study id) the exact posterior of the pooled effect, with the decision:
    benefit when P(benefit side of the null) > benefit-prob, futility when P(beyond the MCID) < futility-prob."""
    import numpy as np
    import pandas as pd

    from bayesmeta.data import spreadsheet_row
    from bayesmeta.scales import is_ratio, null_value
    from bayesmeta.sequential import monitor

    rule = zero_cell_rule(add, to, drop00)
    table = read_table(data, measure_value(measure), benefit, outcome=outcome, vtype=vtype, zero_cells=rule)
    if measure is None and table.measure == "GEN":
        table = read_table(data, "HR", benefit, outcome=outcome, vtype=vtype, zero_cells=rule)
    note_prior_units(table, mu_prior, tau_prior)
    covariates = table.covariates
    order = None
    if order_by in covariates.columns:
        order = covariates[order_by].to_numpy()
        missing = np.flatnonzero(pd.isna(order))
        if missing.size:
            raise InputError(
                f"missing {order_by} for study {table.study[missing[0]]}",
                file=data,
                row=spreadsheet_row(int(missing[0])),
                column=order_by,
                valid="a value in every row, or no such column (file order)",
            )
    sizes = covariates["n_total"].to_numpy(dtype=float) if "n_total" in covariates.columns else None
    null = null_value(table.measure)
    if threshold:
        thresholds = tuple(threshold)
    elif is_ratio(table.measure):
        thresholds = (1.0, 0.7) if benefit.below else (1.0, 1.25)
    else:
        thresholds = (null,)
    futility_mcid = None if no_futility else default_mcid(mcid, table.measure, benefit)
    result = monitor(
        table,
        order=order,
        mu_prior=mu_prior,
        tau_prior=tau_prior,
        sample_sizes=sizes,
        thresholds=thresholds,
        benefit_prob=benefit_prob,
        futility_mcid=futility_mcid,
        futility_prob=futility_prob,
        level=level,
    )
    if figures:
        from pathlib import Path

        from bayesmeta.plots.monitoring import plot_monitoring
        from bayesmeta.plots.saving import save_png

        folder = Path(figures)
        folder.mkdir(parents=True, exist_ok=True)
        fig = plot_monitoring(
            result.table,
            measure=result.measure,
            benefit_prob=benefit_prob,
            futility_prob=None if no_futility else futility_prob,
            level=level,
        )
        save_png(fig, folder / "monitoring.png", 150)
    if as_json:
        out = result.as_dict()
        out["order"] = order_by if order is not None else "file"
        out["k"] = len(table.study)
        out["dropped"] = dropped_studies(table)
        typer.echo(json_text(out))
        return
    _print_table(result, order_by if order is not None else "file order")


def _print_table(result, order_label: str) -> None:
    from rich.console import Console
    from rich.table import Table
    from bayesmeta.printing import print_table, probability_header

    console = Console()
    console.width = max(console.width, 132)  # one line per look even when not writing to a terminal
    frame = result.table
    prob_cols = [c for c in frame.columns if c.startswith(("prob_below_", "prob_above_"))]
    title = f"Sequential posterior monitoring ({result.measure}; studies by {order_label})"
    out = Table(title=title)
    for col in ("look", "study", "n_cum", "median", f"{100 * result.level:g}% CrI", *prob_cols, "tau", "decision"):
        if col == "n_cum" and "n_cum" not in frame.columns:
            continue
        out.add_column(probability_header(col), justify="right")
    for _, row in frame.iterrows():
        cells = [str(row["look"]), str(row["study"])]
        if "n_cum" in frame.columns:
            cells.append(f"{row['n_cum']:.0f}")
        cells += [f"{row['median']:.3f}", f"[{row['ci_lower']:.3f}, {row['ci_upper']:.3f}]"]
        cells += [f"{row[c]:.4f}" for c in prob_cols]
        cells += [f"{row['tau_median']:.3f}", str(row["decision"])]
        out.add_row(*cells)
    print_table(out, console)
    stop = result.first_stop
    if stop is None:
        console.print("no stop: the rule was not met at any look")
    else:
        console.print(f"first stop: look {stop.look} ({stop.study}), {stop.reason}")
    console.print(f"priors: mu ~ {result.priors['mu']}, tau ~ {result.priors['tau']}")
