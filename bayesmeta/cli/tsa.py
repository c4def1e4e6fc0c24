"""`bayesmeta tsa`: trial sequential analysis of a binary outcome from a CSV of arm counts."""

from __future__ import annotations

import math
from enum import Enum
from typing import Annotated

import typer

from bayesmeta.cli import app
from bayesmeta.cli.options import JsonOption, finite, json_text, read_table
from bayesmeta.errors import InputError


class Method(str, Enum):
    DL = "DL"
    FE = "FE"


class SpendingConvention(str, Enum):
    two_sided = "two-sided"
    per_side = "per-side"


def _parse_diversity(text: str) -> float | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"--diversity '{text}' is not a number or 'auto'", column="--diversity",
                         valid="'auto' or a D^2 in [0, 1)") from None
    return value


@app.command("tsa")
def tsa_command(
    data: Annotated[str, typer.Argument(help="CSV with study, events_treatment, total_treatment, events_control, "
                                             "total_control and optionally year")],
    rrr: Annotated[float, typer.Option("--rrr", help="anticipated relative risk reduction (negative: increase)",
                                          callback=finite)],
    p_control: Annotated[float | None, typer.Option("--p-control", help="control-arm event proportion "
                                                       "(default: pooled control arms of the data)",
                                                       callback=finite)] = None,
    alpha: Annotated[float, typer.Option(help="two-sided type I error", callback=finite)] = 0.05,
    power: Annotated[float, typer.Option(help="power (1 - beta)", callback=finite)] = 0.80,
    diversity: Annotated[str, typer.Option(help="D^2 for the heterogeneity adjustment, or 'auto' (DL estimate)")] = "auto",
    method: Annotated[Method, typer.Option(help="pooling of the cumulative Z-curve")] = Method.DL,
    convention: Annotated[SpendingConvention, typer.Option(help="alpha spending: two-sided total (TSA program) "
                                                           "or per side (gsDesign sfLDOF, RTSA)")] = SpendingConvention.two_sided,
    futility: Annotated[bool, typer.Option(help="add non-binding beta-spending futility boundaries")] = True,
    as_json: JsonOption = False,
) -> None:
    """Required information size, cumulative Z-curve and Lan-DeMets O'Brien-Fleming boundaries (Wetterslev 2008)."""
    from bayesmeta.tsa import tsa

    table = read_table(data, "RR")
    if table.counts is None:
        raise InputError("TSA of a binary outcome needs arm counts", file=data,
                         column="events_treatment",
                         valid="columns events_treatment, total_treatment, events_control, total_control")
    counts = table.counts.loc[list(table.study)]
    sizes = (counts["total_treatment"] + counts["total_control"]).to_numpy(dtype=float)
    if p_control is None:
        p_control = float(counts["events_control"].sum() / counts["total_control"].sum())
    order = None
    if "year" in table.covariates.columns:
        years = table.covariates.loc[list(table.study), "year"]
        if years.isna().any():
            raise InputError("blank year", file=data, column="year", valid="a year for every study, or no year column")
        order = years.to_numpy()
    result = tsa(table.yi, table.vi, sizes, p_control, rrr, alpha=alpha, power=power,
                 diversity=_parse_diversity(diversity), order=order, method=method.value,
                 convention=convention.value, futility=futility, study=table.study)
    if as_json:
        typer.echo(json_text(result.as_dict()))
        return
    _print(result)


def _fmt(value: float, digits: int = 3) -> str:
    return "-" if not math.isfinite(value) else f"{value:.{digits}f}"


def _print(result) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(
        f"RIS (fixed effect) {result.ris_fixed:.1f}; D^2 = {result.diversity:.4f} ({result.diversity_source}); "
        f"heterogeneity-adjusted RIS = {result.ris_rounded} participants "
        f"(p_control {result.p_control:.4g}, RRR {result.relative_risk_reduction:g}, alpha {result.alpha:g}, "
        f"power {result.power:g})"
    )
    table = Table(title=f"Cumulative Z-curve ({result.method}; O'Brien-Fleming spending, {result.convention})")
    for col in ("look", "study", "participants", "fraction of RIS", "Z", "boundary |Z|", "futility |Z|"):
        table.add_column(col, justify="left" if col == "study" else "right")
    for row in result.curve.itertuples():
        table.add_row(str(row.look), str(row.study), f"{row.n_cumulative:.0f}", _fmt(row.fraction),
                      _fmt(row.z), _fmt(row.efficacy), _fmt(row.futility))
    console.print(table)
    if result.crossed_efficacy:
        console.print(f"The Z-curve crosses the monitoring boundary at look {result.crossed_efficacy_at} "
                      f"({result.crossed_efficacy_side} side).")
    else:
        console.print("The Z-curve does not cross the monitoring boundary.")
    if result.crossed_futility_at is not None:
        console.print(f"It enters the futility region at look {result.crossed_futility_at}.")
    console.print(f"The RIS is {'reached at look ' + str(result.reached_ris_at) if result.reached_ris else 'not reached'}.")
