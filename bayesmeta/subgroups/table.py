"""A table of published subgroup estimates (one row per level of a patient characteristic) read and validated.

Columns: ``characteristic`` (or ``variable``), ``level``, and the effect as ``yi, sei``, ``yi, vi`` or
``estimate, ci_lower, ci_upper`` (a 95% CI; ratios are logged, se = (ln U - ln L) / (2 x 1.959964), Tierney et
al. 2007); ``measure`` (a column or the caller's); optional ``k`` (studies) and ``n`` (patients). A table with an
``analysis`` column (the published-results format of :func:`bayesmeta.data.load_published`) is reduced to its
``subgroup`` rows, and one with an ``outcome`` column to the outcome asked for. Errors name the file's own row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bayesmeta.data import read_text_csv, spreadsheet_row
from bayesmeta.effects import log_ratio_from_ci
from bayesmeta.errors import InputError
from bayesmeta.plausible import table_problems
from bayesmeta.scales import MEASURES, is_ratio

_Z975 = 1.959963984540054
FORMS = (("yi", "sei"), ("yi", "vi"), ("estimate", "ci_lower", "ci_upper"))
FORMS_TEXT = "; ".join(", ".join(f) for f in FORMS)


@dataclass(frozen=True)
class SubgroupRow:
    """One published subgroup estimate: ``yi``/``sei`` on the analysis scale (log ratio for HR, RR, OR); the
    printed estimate and CI (reported scale) when given; ``k`` studies and ``n`` patients when printed; ``row``
    the spreadsheet row it came from."""

    characteristic: str
    level: str
    yi: float
    sei: float
    estimate: float | None
    ci_lower: float | None
    ci_upper: float | None
    k: int | None
    n: int | None
    row: int


@dataclass(frozen=True)
class SubgroupTable:
    """The rows of one outcome, by characteristic (levels in the order of the file)."""

    source: str
    outcome: str | None
    measure: str
    rows: tuple[SubgroupRow, ...]

    @property
    def characteristics(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.characteristic for r in self.rows))

    def levels(self, characteristic: str) -> tuple[SubgroupRow, ...]:
        return tuple(r for r in self.rows if r.characteristic == characteristic)


def _number(frame: pd.DataFrame, column: str, file: str, *, positive: bool = False,
            integer: bool = False, required: bool = True) -> pd.Series:
    """A text column as floats, located by the file's own rows (the frame keeps the file's index)."""
    out = {}
    for index, cell in frame[column].items():
        row = spreadsheet_row(int(index))
        if cell == "":
            if required:
                raise InputError("blank cell", file=file, row=row, column=column, valid="a number")
            out[index] = np.nan
            continue
        try:
            value = float(cell)
        except ValueError:
            raise InputError(f"'{cell}' is not a number", file=file, row=row, column=column,
                             valid="a number") from None
        if not np.isfinite(value):
            raise InputError(f"{cell} is not finite", file=file, row=row, column=column, valid="a finite number")
        if positive and value <= 0:
            raise InputError(f"{cell} is not positive", file=file, row=row, column=column, valid="a number > 0")
        if integer and value != round(value):
            raise InputError(f"{cell} is not a whole number", file=file, row=row, column=column,
                             valid="a whole number")
        out[index] = value
    return pd.Series(out, dtype=float)


def _select(frame: pd.DataFrame, file: str, outcome: str | None) -> tuple[pd.DataFrame, str | None]:
    if "analysis" in frame.columns:
        frame = frame[frame["analysis"].str.lower() == "subgroup"]
        if frame.empty:
            raise InputError("no rows with analysis 'subgroup'", file=file, column="analysis",
                             valid="rows whose analysis is 'subgroup', or a table without an analysis column")
    if "outcome" in frame.columns:
        known = list(dict.fromkeys(frame["outcome"]))
        if outcome is None:
            if len(known) > 1:
                raise InputError(f"the table holds several outcomes ({', '.join(known)}); choose one",
                                 file=file, column="outcome", valid="--outcome " + " | ".join(known))
            outcome = known[0]
        elif outcome not in known:
            raise InputError(f"no subgroup rows for outcome '{outcome}'", file=file, column="outcome",
                             valid=", ".join(known))
        frame = frame[frame["outcome"] == outcome]
    elif outcome is not None:
        raise InputError(f"--outcome {outcome} given but the table has no outcome column", file=file,
                         column="outcome", valid="an outcome column, or no --outcome")
    return frame, outcome


def _measure(frame: pd.DataFrame, measure: str | None, file: str) -> str | None:
    if measure is not None:
        code = str(measure).strip().upper()
        if code not in MEASURES:
            raise InputError(f"unknown measure '{measure}'", file=file, column="measure", valid=", ".join(MEASURES))
        return code
    if "measure" not in frame.columns:
        return None
    codes = {}
    for index, cell in frame["measure"].items():
        code = cell.upper()
        if code not in MEASURES:
            raise InputError(f"unknown measure '{cell}'", file=file, row=spreadsheet_row(int(index)),
                             column="measure", valid=", ".join(MEASURES))
        codes.setdefault(code, index)
    if len(codes) > 1:
        second = list(codes.values())[1]
        raise InputError(f"measure '{frame.at[second, 'measure']}' differs from an earlier row's", file=file,
                         row=spreadsheet_row(int(second)), column="measure", valid="one measure per outcome")
    return next(iter(codes))


def _effects(frame: pd.DataFrame, measure: str | None, file: str):
    form = next((f for f in FORMS if all(c in frame.columns for c in f)), None)
    if form is None:
        raise InputError("no effect columns found", file=file, valid=FORMS_TEXT)
    if form[0] == "yi":
        yi = _number(frame, "yi", file).to_numpy()
        second = _number(frame, form[1], file, positive=True).to_numpy()
        sei = second if form[1] == "sei" else np.sqrt(second)
        return yi, sei, measure or "GEN", None
    if measure in (None, "GEN"):
        raise InputError("an estimate with a CI needs its measure", file=file, column="measure",
                         valid="a measure column or --measure: HR, RR, OR (logged) or MD, SMD, RD")
    est, lower, upper = (_number(frame, c, file, positive=is_ratio(measure)).to_numpy() for c in form)
    for position, (e, lo, up) in enumerate(zip(est, lower, upper)):
        row = spreadsheet_row(int(frame.index[position]))
        if not lo < up:
            raise InputError(f"lower bound {lo:g} is not below upper bound {up:g}", file=file, row=row,
                             column="ci_lower", valid="ci_lower < ci_upper")
        if not lo <= e <= up:
            raise InputError(f"estimate {e:g} lies outside its interval [{lo:g}, {up:g}]", file=file, row=row,
                             column="estimate", valid="ci_lower <= estimate <= ci_upper")
    if is_ratio(measure):
        yi, sei = log_ratio_from_ci(est, lower, upper)
    else:
        yi, sei = est, (upper - lower) / (2 * _Z975)
    return np.atleast_1d(yi), np.atleast_1d(sei), measure, (est, lower, upper)


def read_subgroup_table(path: str | Path, measure: str | None = None, outcome: str | None = None) -> SubgroupTable:
    """Read and validate a table of published subgroup estimates (columns in the module docstring)."""
    file = str(path)
    frame = read_text_csv(path)
    column = next((c for c in ("characteristic", "variable") if c in frame.columns), None)
    if column is None:
        raise InputError("missing characteristic column", file=file, column="characteristic",
                         valid="a 'characteristic' (or 'variable') column, a 'level' column and one of: " + FORMS_TEXT)
    if "level" not in frame.columns:
        raise InputError("missing level column", file=file, column="level", valid="the subgroup's level, e.g. 'male'")
    frame, outcome = _select(frame, file, outcome)
    for name in (column, "level"):
        for index, cell in frame[name].items():
            if cell == "":
                raise InputError("blank cell", file=file, row=spreadsheet_row(int(index)), column=name,
                                 valid="a name")
    seen: dict[tuple[str, str], int] = {}
    for index, key in zip(frame.index, zip(frame[column], frame["level"])):
        if key in seen:
            raise InputError(f"level '{key[1]}' of '{key[0]}' appears twice (first on row {seen[key]})", file=file,
                             row=spreadsheet_row(int(index)), column="level", valid="one row per level")
        seen[key] = spreadsheet_row(int(index))
    measure = _measure(frame, measure, file)
    yi, sei, measure, printed = _effects(frame, measure, file)
    problems = table_problems(yi, sei, measure)
    if problems:
        position, which, reason, valid = problems[0]
        raise InputError(reason, file=file, row=spreadsheet_row(int(frame.index[position])),
                         column="yi" if which == "yi" else "sei", valid=valid)
    counts = {name: (_number(frame, name, file, positive=True, integer=True, required=False).to_numpy()
                     if name in frame.columns else np.full(len(frame), np.nan)) for name in ("k", "n")}
    rows = []
    for position, index in enumerate(frame.index):
        rows.append(SubgroupRow(
            characteristic=str(frame.at[index, column]), level=str(frame.at[index, "level"]),
            yi=float(yi[position]), sei=float(sei[position]),
            estimate=None if printed is None else float(printed[0][position]),
            ci_lower=None if printed is None else float(printed[1][position]),
            ci_upper=None if printed is None else float(printed[2][position]),
            k=None if np.isnan(counts["k"][position]) else int(counts["k"][position]),
            n=None if np.isnan(counts["n"][position]) else int(counts["n"][position]),
            row=spreadsheet_row(int(index)),
        ))
    return SubgroupTable(source=file, outcome=outcome, measure=measure, rows=tuple(rows))
