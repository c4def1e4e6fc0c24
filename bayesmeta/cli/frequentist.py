"""`bayesmeta frequentist`: common- or random-effects meta-analysis of a CSV, as R metafor ``rma`` computes it."""

from __future__ import annotations

import math
from enum import Enum
from typing import Annotated, Any

import typer

from bayesmeta.cli import app
from bayesmeta.cli.options import (
    DataArgument,
    JsonOption,
    LevelOption,
    MeasureOption,
    json_text,
    measure_value,
    read_table,
)



class Method(str, Enum):
    FE = "FE"
    DL = "DL"
    REML = "REML"
    PM = "PM"
    ML = "ML"


def _exp(x: float | None) -> float | None:
    """exp(x) on the ratio scale, None where there is no value or it exceeds double precision (never inf)."""
    if x is None or not math.isfinite(x) or x > 709.0:
        return None
    return math.exp(x)


def _reported(result: dict[str, Any], measure: str) -> dict[str, float | None]:
    """Estimate, CI and prediction interval on the reported scale (exp for ratios, guarded against overflow)."""
    from bayesmeta.scales import is_ratio

    keys = ("estimate", "ci_lower", "ci_upper", "pi_lower", "pi_upper")
    if is_ratio(measure):
        return {k: _exp(result[k]) for k in keys}
    return {k: result[k] for k in keys}


def _fmt(x: float | None, digits: int = 4) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.{digits}f}" if abs(x) < 1e6 else f"{x:.{digits}e}"


def _p(x: float | None) -> str:
    return "-" if x is None else (f"{x:.4f}" if x >= 1e-4 else f"{x:.2e}")


@app.command("frequentist")
def frequentist_command(
    data: DataArgument,
    method: Annotated[Method, typer.Option(help="tau^2 estimator (FE: common effect)")] = Method.REML,
    hksj: Annotated[bool, typer.Option("--hksj", help="Knapp-Hartung (HKSJ) t-based inference")] = False,
    measure: MeasureOption = None,
    level: LevelOption = 0.95,
    as_json: JsonOption = False,
) -> None:
    """Pool the studies with metafor's conventions: estimate, CI, tau^2, I^2, H^2, Q and the prediction interval."""
    from bayesmeta.frequentist import rma

    table = read_table(data, measure_value(measure))
    fit = rma(table, method=method.value, test="knha" if hksj else "z", level=level)
    out = {"source": table.source, "measure": table.measure, "study": list(table.study), **fit.as_dict()}
    ratio = table.is_ratio
    if ratio:
        out["reported"] = _reported(out, table.measure)
    if as_json:
        typer.echo(json_text(out, indent=None))
        return
    _print_tables(table, fit, out, ratio)


def _print_tables(table, fit, out: dict[str, Any], ratio: bool) -> None:
    import numpy as np
    from rich.console import Console
    from rich.table import Table
    from scipy.special import ndtri

    console = Console()
    model = "common-effect" if fit.method == "FE" else f"random-effects ({fit.method})"
    test = "Knapp-Hartung t" if fit.test == "knha" else "z"
    pct = f"{100 * fit.level:g}%"

    weights = 1.0 / (table.vi + fit.tau2)
    studies = Table(title=f"{table.source}: {fit.k} studies, measure {table.measure}")
    studies.add_column("study")
    studies.add_column("yi", justify="right")
    studies.add_column("sei", justify="right")
    if ratio:
        studies.add_column(f"{table.measure} [{pct} CI]", justify="right")
    studies.add_column("weight %", justify="right")
    z = float(ndtri(1 - (1 - fit.level) / 2))
    for name, y, s, w in zip(table.study, table.yi, table.sei, weights / weights.sum()):
        row = [name, _fmt(y), _fmt(s)]
        if ratio:
            row.append(f"{_fmt(_exp(y), 2)} [{_fmt(_exp(y - z * s), 2)}, {_fmt(_exp(y + z * s), 2)}]")
        row.append(f"{100 * w:.1f}")
        studies.add_row(*row)
    console.print(studies)

    summary = Table(title=f"Pooled {model} estimate, {test} test")
    summary.add_column("quantity")
    summary.add_column("value", justify="right")
    if ratio:
        nat = out["reported"]
        summary.add_row(
            f"{table.measure} [{pct} CI]",
            f"{_fmt(nat['estimate'], 3)} [{_fmt(nat['ci_lower'], 3)}, {_fmt(nat['ci_upper'], 3)}]",
        )
        summary.add_row(f"{pct} prediction interval", f"[{_fmt(nat['pi_lower'], 3)}, {_fmt(nat['pi_upper'], 3)}]")
    summary.add_row("estimate (analysis scale)", f"{fit.estimate:.4f} (se {fit.se:.4f})")
    summary.add_row(f"{pct} CI (analysis scale)", f"[{fit.ci_lower:.4f}, {fit.ci_upper:.4f}]")
    if not ratio:
        summary.add_row(f"{pct} prediction interval", f"[{fit.pi_lower:.4f}, {fit.pi_upper:.4f}]")
    stat = "t" if fit.test == "knha" else "z"
    summary.add_row(f"{stat}, p", f"{fit.zval:.3f}, {_p(fit.pval)}")
    summary.add_row("tau^2", _fmt(fit.tau2) + ("" if fit.tau2_se is None else f" (se {fit.tau2_se:.4f})"))
    summary.add_row("I^2", f"{fit.i2:.1f}%")
    summary.add_row("H^2", f"{fit.h2:.2f}")
    summary.add_row(f"Q (df {fit.q_df}), p", f"{fit.q:.2f}, {_p(fit.q_p)}")
    console.print(summary)
