"""Options shared by the commands that read a user's effect table: the data argument, the effect measure, the
priors of mu and tau, ``--json``, the check that numeric options are finite, and the conversion of values to
plain JSON."""

from __future__ import annotations

import json
import math
from enum import Enum
from typing import Annotated, Any

import typer

from bayesmeta.errors import InputError

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


def finite(param: typer.CallbackParam, value: Any) -> Any:
    """Option callback: a threshold, MCID, ratio, level or probability must be a finite number (NaN and +-inf
    would be carried through as nan results with exit 0). Also for repeatable and pair options."""
    values = value if isinstance(value, (list, tuple)) else (value,)
    for v in values:
        if isinstance(v, float) and not math.isfinite(v):
            name = param.opts[0] if param.opts else str(param.name)
            raise InputError(f"{name} {v} is not a finite number", valid="a finite number")
    return value


def plain(value: object) -> object:
    """JSON-ready: NaN and infinities -> None, numpy scalars -> Python."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return plain(value.item())
    return value


def _nulled(value: Any, path: str, found: list[dict[str, str]]) -> Any:
    if isinstance(value, dict):
        return {k: _nulled(v, f"{path}.{k}" if path else str(k), found) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nulled(v, f"{path}[{i}]", found) for i, v in enumerate(value)]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        found.append({"path": path, "value": "NaN (undefined)" if math.isnan(value) else
                      ("+infinity" if value > 0 else "-infinity")})
        return None
    return value


def json_text(value: Any, indent: int | None = 2) -> str:
    """The ``--json`` output: strict JSON (RFC 8259 has no NaN or infinity). A non-finite number, e.g. an R-hat
    with one chain (NaN) or a probability at an infinite bound, becomes null; when the output is an object, its
    key ``"null_values"`` lists each such path with what the number was, so an undefined quantity is told from an
    infinite one and from a missing one."""
    found: list[dict[str, str]] = []
    clean = _nulled(value, "", found)
    if found and isinstance(clean, dict):
        clean["null_values"] = found
    return json.dumps(clean, indent=indent, allow_nan=False)


class Checks(str, Enum):
    """What a command does with a reported estimate, CI and p-value that disagree beyond rounding."""

    warn = "warn"
    error = "error"


CHECKS = Checks.warn
"""The root option ``--checks`` of this run (set by the app's callback)."""
TABLE_READ: str | None = None
"""The table this run has read (named in errors of models fitted to it)."""


def read_table(path: str, measure: str | None):
    """Read a user's effect table (:func:`bayesmeta.tables.read_effect_table`, with the run's ``--checks``) and
    say on stderr which studies were left out (no events, or only events, in both arms) and which reported
    numbers disagree, so that nothing is dropped or doubted silently."""
    import warnings

    from bayesmeta.errors import ReportedValueWarning
    from bayesmeta.tables import read_effect_table

    global TABLE_READ
    TABLE_READ = path
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ReportedValueWarning)
        table = read_effect_table(path, measure, checks=CHECKS.value)
    for w in caught:
        if issubclass(w.category, ReportedValueWarning):
            typer.echo(f"warning: {w.message}", err=True)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if table.dropped:
        typer.echo(
            f"note: {path}: excluded {', '.join(table.dropped)} (no events in either arm, or events in every patient "
            "of both: no ratio can be estimated)",
            err=True,
        )
    return table
