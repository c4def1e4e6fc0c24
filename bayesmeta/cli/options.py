"""Options shared by the commands that read a user's effect table: the data argument, the effect measure, the
priors of mu and tau, ``--json``, and the conversion of table values to plain JSON."""

from __future__ import annotations

import math
from enum import Enum
from typing import Annotated

import typer

DEFAULT_MU_PRIOR = "normal(0, 4)"
DEFAULT_TAU_PRIOR = "halfnormal(0.5)"


class Measure(str, Enum):
    """Effect measures a CSV may be read as (``bayesmeta.tables.read_effect_table``)."""

    HR = "HR"
    RR = "RR"
    OR = "OR"
    MD = "MD"
    SMD = "SMD"
    RD = "RD"


DataArgument = Annotated[
    str,
    typer.Argument(
        help="CSV: study + (yi,sei | yi,vi | estimate,ci_lower,ci_upper | means,SDs,sizes | "
        "o_minus_e,var_o_minus_e | counts)"
    ),
]
MeasureOption = Annotated[Measure | None, typer.Option(help="effect measure of the data")]
MuPriorOption = Annotated[str, typer.Option("--mu-prior", help='prior of mu, e.g. "normal(0, 4)"')]
TauPriorOption = Annotated[str, typer.Option("--tau-prior", help='prior of tau, e.g. "halfnormal(0.5)"')]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON object")]


def measure_value(measure: Measure | None) -> str | None:
    """The measure's name, or None to let the table decide."""
    return measure.value if measure else None


def plain(value: object) -> object:
    """JSON-ready: NaN and infinities -> None, numpy scalars -> Python."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return plain(value.item())
    return value


def read_table(path: str, measure: str | None):
    """Read a user's effect table (:func:`bayesmeta.tables.read_effect_table`) and say on stderr which studies
    were left out (no events, or only events, in both arms), so that no study disappears silently."""
    from bayesmeta.tables import read_effect_table

    table = read_effect_table(path, measure)
    if table.dropped:
        typer.echo(
            f"note: {path}: excluded {', '.join(table.dropped)} (no events in either arm, or events in every patient "
            "of both: no ratio can be estimated)",
            err=True,
        )
    return table
