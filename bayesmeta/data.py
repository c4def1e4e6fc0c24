"""Loading and validating the study-level data files of any meta-analysis (the README lists their columns).

Only generic columns are validated here: ``study_id`` and the reported statistics of the outcomes table, the
optional study table's ``year`` and arm sizes, the published-results table's numbers. Which outcomes, covariates
and covariate levels a meta-analysis has is the plan's to declare (:mod:`bayesmeta.plan`); pass ``levels`` to
check a study table's covariates against the plan's allowed levels.

Each loader either returns a fully validated DataFrame or raises :class:`InputError` naming the file, the
spreadsheet row (header = row 1, first data row = 2), the column and what would be valid. Every column of the
file is kept; validated numeric columns are converted (blank cells become NaN), text columns stay text with
blank cells as ''.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bayesmeta.effect_data import COUNT_COLUMNS
from bayesmeta.errors import InputError
from bayesmeta.scales import MEASURES, RATIO_MEASURES, RATIO_OF_MEANS, parse_measure

P_RELATIONS: tuple[str, ...] = ("=", "<", "")
# Optional outcome columns of further reported forms (bayesmeta.effects): means and SDs (with the arm sizes
# total_treatment, total_control), the log-rank O - E with its variance, an effect given on the analysis scale,
# and the person-time of each arm (with its events, events_treatment and events_control).
MEAN_COLUMNS: tuple[str, ...] = ("mean_treatment", "sd_treatment", "mean_control", "sd_control")
PERSON_TIME_COLUMNS: tuple[str, ...] = ("person_time_treatment", "person_time_control")
PERSON_TIME_FORM: tuple[str, ...] = (
    "events_treatment", "person_time_treatment", "events_control", "person_time_control",
)
"""Events over person-time per arm, the incidence rate ratio's form (escalc's x1i, t1i, x2i, t2i)."""
LOGRANK_COLUMNS: tuple[str, ...] = ("o_minus_e", "var_o_minus_e")
GIVEN_COLUMNS: tuple[str, ...] = ("yi", "sei", "vi")

STUDY_COLUMNS: tuple[str, ...] = ("study_id",)
"""Required columns of a study table; ``year``, ``n_treatment``, ``n_control`` are checked when present and
every other column is a study-level covariate."""
OUTCOME_COLUMNS: tuple[str, ...] = ("study_id", "outcome", "measure")
"""Required columns of an outcomes table; the reported forms (:data:`STATISTIC_COLUMNS`) are optional."""
STATISTIC_COLUMNS: tuple[str, ...] = (
    "estimate", "ci_lower", "ci_upper", "p_value", "p_relation", "median_treatment", "median_control",
    *COUNT_COLUMNS,
)
"""Optional reported-statistic columns of an outcomes table (added blank when absent)."""
PUBLISHED_COLUMNS: tuple[str, ...] = (
    "outcome", "analysis", "variable", "level", "k", "measure", "estimate", "ci_lower", "ci_upper",
    "p_value", "p_relation", "i2_percent", "where",
)
PUBLISHED_MEASURES: tuple[str, ...] = (*MEASURES, "proportion", "p", "spearman_r", "patients", "I2", "tau2")

_TRUE = ("true", "TRUE", "True", "1")
_FALSE = ("false", "FALSE", "False", "0")


def spreadsheet_row(position: int) -> int:
    """Spreadsheet row of the 0-based data position: the header is row 1, so the first data row is 2."""
    return int(position) + 2


_TEXT_CSV = {"dtype": str, "keep_default_na": False, "encoding": "utf-8-sig", "skipinitialspace": True}


def _csv_error(path: Path, exc: Exception) -> InputError:
    if isinstance(exc, pd.errors.EmptyDataError):
        return InputError("the file is empty (a header row and at least one data row are needed)", file=str(path))
    return InputError(f"not a readable CSV file ({str(exc).strip()})", file=str(path))


def _text_cells(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """``frame`` with stripped column names and cells, built at once (column by column costs 0.3 ms each)."""
    names = [str(c).strip() for c in frame.columns]
    for i, name in enumerate(names):
        repeated = name.rsplit(".", 1)[0] if "." in name else None  # pandas reads a second 'dose' as 'dose.1'
        if name in names[:i] or repeated in names:
            raise InputError("duplicate column name", file=str(path), column=name if name in names[:i] else repeated)
    cells = {name: [str(cell).strip() for cell in frame[column].tolist()]
             for name, column in zip(names, frame.columns, strict=True)}
    return pd.DataFrame(cells, index=frame.index, columns=names, dtype=str)


def read_text_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV with every cell as stripped text (blank = ''), so each cell can be validated and located."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", file=str(path))
    try:
        frame = pd.read_csv(path, **_TEXT_CSV)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise _csv_error(path, exc) from exc
    frame = _text_cells(frame, path)
    if frame.empty:
        raise InputError("the table has no data rows", file=str(path))
    return frame.reset_index(drop=True)


def iter_text_csv(path: str | Path, rows: int) -> Iterator[pd.DataFrame]:
    """:func:`read_text_csv` in chunks of ``rows`` data rows (the same cells, each chunk indexed from 0), for a
    table too large to hold at once; a file without data rows yields one empty chunk."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", file=str(path))
    try:
        reader = pd.read_csv(path, chunksize=rows, **_TEXT_CSV)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise _csv_error(path, exc) from exc
    with reader:
        empty = True
        while True:
            try:
                chunk = next(reader)
            except StopIteration:
                break
            except (pd.errors.ParserError, UnicodeDecodeError) as exc:
                raise _csv_error(path, exc) from exc
            empty = False
            yield _text_cells(chunk, path).reset_index(drop=True)
        if empty:
            yield _text_cells(pd.read_csv(path, nrows=0, **_TEXT_CSV), path)


def require_columns(frame: pd.DataFrame, required: Iterable[str], file: str, *, valid: str | None = None) -> None:
    """Raise for the first required column missing from ``frame``."""
    for column in required:
        if column not in frame.columns:
            raise InputError(
                "missing required column", file=file, column=column,
                valid=valid or "columns " + ", ".join(required),
            )


def numeric_column(
    frame: pd.DataFrame,
    column: str,
    file: str,
    *,
    required: bool = False,
    integer: bool = False,
    positive: bool = False,
    nonnegative: bool = False,
) -> pd.Series:
    """Convert a text column to float, raising at the first cell that is text, blank when required, non-finite,
    not a whole number (``integer``), not > 0 (``positive``) or < 0 (``nonnegative``)."""
    text = [cell if isinstance(cell, str) else str(cell) for cell in frame[column].tolist()]
    values = [math.nan if cell == "" else _number(cell) for cell in text]
    for position, (cell, value) in enumerate(zip(text, values, strict=True)):
        row = spreadsheet_row(position)
        if cell == "":
            if required:
                raise InputError("blank cell in a required column", file=file, row=row, column=column,
                                 valid="a number")
            continue
        if np.isnan(value):
            raise InputError(f"'{cell}' is not a number", file=file, row=row, column=column, valid="a number")
        if not np.isfinite(value):
            raise InputError(f"{cell} is not finite", file=file, row=row, column=column, valid="a finite number")
        if integer and value != np.round(value):
            raise InputError(f"{cell} is not a whole number", file=file, row=row, column=column,
                             valid="a whole number")
        if positive and value <= 0:
            raise InputError(f"{cell} is not positive", file=file, row=row, column=column, valid="a number > 0")
        if nonnegative and value < 0:
            raise InputError(f"{cell} is negative", file=file, row=row, column=column, valid="a number >= 0")
    return pd.Series(values, index=frame.index, name=column, dtype=float)


def _number(cell: str) -> float:
    """The number a cell's text writes, as ``pandas.to_numeric`` reads it (NaN when it is not one): Python's
    ``float`` without what pandas refuses, digits of other scripts and '_' separators ('1_000')."""
    if not cell.isascii() or "_" in cell:
        return math.nan
    try:
        return float(cell)
    except ValueError:
        return math.nan


def check_choice(frame: pd.DataFrame, column: str, allowed: Sequence[str], file: str) -> None:
    """Raise at the first cell of ``column`` not among ``allowed`` (case-sensitive; '' only if allowed)."""
    for position, cell in enumerate(frame[column]):
        if cell not in allowed:
            shown = "a blank cell" if cell == "" else f"'{cell}'"
            raise InputError(
                f"{shown} is not a valid {column}", file=file, row=spreadsheet_row(position), column=column,
                valid=", ".join(repr(a) if a == "" else a for a in allowed),
            )


def check_nonblank(frame: pd.DataFrame, column: str, file: str) -> None:
    """Raise at the first blank cell of a text column that must be filled."""
    for position, cell in enumerate(frame[column]):
        if cell == "":
            raise InputError("blank cell in a required column", file=file, row=spreadsheet_row(position),
                             column=column, valid="a non-empty text")


def check_unique(frame: pd.DataFrame, columns: Sequence[str], file: str, what: str) -> None:
    """Raise at the first row repeating an earlier row's values of ``columns``."""
    duplicated = frame.duplicated(subset=list(columns), keep="first")
    if duplicated.any():
        position = int(np.flatnonzero(duplicated.to_numpy())[0])
        key = ", ".join(str(frame[c].iloc[position]) for c in columns)
        first = int(np.flatnonzero((frame[list(columns)] == frame[list(columns)].iloc[position]).all(axis=1))[0])
        raise InputError(
            f"duplicate {what} ({key}) already on row {spreadsheet_row(first)}", file=file,
            row=spreadsheet_row(position), column=columns[-1],
            valid=f"one row per {what}",
        )


def boolean_column(frame: pd.DataFrame, column: str, file: str) -> pd.Series:
    """Parse true/false/blank text into a nullable boolean column."""
    check_choice(frame, column, (*_TRUE, *_FALSE, ""), file)
    return pd.Series(
        [True if c in _TRUE else False if c in _FALSE else pd.NA for c in frame[column]],
        index=frame.index, dtype="boolean",
    )


def check_arm_counts(values: pd.DataFrame, file: str, *, sizes_alone: bool = False,
                     events_alone: np.ndarray | None = None) -> None:
    """Arm counts: all four given or all four blank; events in [0, total]; totals > 0 (whole numbers). With
    ``sizes_alone``, the two totals may also be given without the events (arm sizes for means and SDs); rows
    flagged in ``events_alone`` (events over person-time, :func:`check_person_time`) may give the events without
    the totals."""
    counts = {c: values[c].to_numpy(dtype=float) for c in COUNT_COLUMNS}  # numpy: no pandas lookup per cell
    given = {c: ~np.isnan(v) for c, v in counts.items()}
    for position in range(len(values)):
        row = spreadsheet_row(position)
        flags = {c: bool(g[position]) for c, g in given.items()}
        if events_alone is not None and events_alone[position] and not (
                flags["total_treatment"] or flags["total_control"]):
            continue
        if sizes_alone and not (flags["events_treatment"] or flags["events_control"]):
            if flags["total_treatment"] != flags["total_control"]:
                missing = "total_control" if flags["total_treatment"] else "total_treatment"
                raise InputError("only one arm size given", file=file, row=row, column=missing,
                                 valid="both total_treatment and total_control, or neither")
            for arm in ("treatment", "control"):
                if counts[f"total_{arm}"][position] <= 0:
                    raise InputError(f"arm size {counts[f'total_{arm}'][position]:g} is not positive",
                                     file=file, row=row, column=f"total_{arm}", valid="a whole number > 0")
            continue
        if any(flags.values()) and not all(flags.values()):
            missing = next(c for c in COUNT_COLUMNS if not flags[c])
            raise InputError("arm counts are incomplete", file=file, row=row, column=missing,
                             valid="all four of " + ", ".join(COUNT_COLUMNS) + " or none")
        if not all(flags.values()):
            continue
        for arm in ("treatment", "control"):
            events = counts[f"events_{arm}"][position]
            total = counts[f"total_{arm}"][position]
            if total <= 0:
                raise InputError(f"arm size {total:g} is not positive", file=file, row=row,
                                 column=f"total_{arm}", valid="a whole number > 0")
            if events < 0:
                raise InputError(f"event count {events:g} is negative", file=file, row=row,
                                 column=f"events_{arm}", valid=f"a whole number from 0 to total_{arm}")
            if events > total:
                raise InputError(f"event count {events:g} exceeds the arm size {total:g}", file=file, row=row,
                                 column=f"events_{arm}", valid=f"a whole number from 0 to total_{arm}")


def check_interval(
    values: pd.DataFrame,
    measures: pd.Series,
    file: str,
    *,
    ratio_measures: Sequence[str] = RATIO_MEASURES,
    allow_equal_bounds: bool = False,
) -> None:
    """Estimate and 95% CI: bounds given in pairs with an estimate; ratios > 0; lower < upper (or <= when
    ``allow_equal_bounds``, for printed figures rounded to equality); lower <= estimate <= upper."""
    estimates, lowers, uppers = (values[c].to_numpy(dtype=float) for c in ("estimate", "ci_lower", "ci_upper"))
    kinds = measures.to_numpy()
    for position in range(len(values)):
        row = spreadsheet_row(position)
        est, lower, upper = estimates[position], lowers[position], uppers[position]
        if kinds[position] in ratio_measures:
            for column, value in (("estimate", est), ("ci_lower", lower), ("ci_upper", upper)):
                if not np.isnan(value) and value <= 0:
                    raise InputError(f"ratio {value:g} is not positive", file=file, row=row, column=column,
                                     valid=f"a {kinds[position]} > 0")
        if np.isnan(lower) != np.isnan(upper):
            column = "ci_upper" if np.isnan(upper) else "ci_lower"
            raise InputError("only one confidence bound given", file=file, row=row, column=column,
                             valid="both ci_lower and ci_upper, or neither")
        if np.isnan(lower):
            continue
        if np.isnan(est):
            raise InputError("confidence interval given without an estimate", file=file, row=row,
                             column="estimate", valid="the point estimate the interval belongs to")
        if lower > upper or (lower == upper and not allow_equal_bounds):
            raise InputError(f"lower bound {lower:g} is not below upper bound {upper:g}", file=file, row=row,
                             column="ci_lower", valid="ci_lower < ci_upper")
        if not lower <= est <= upper:
            raise InputError(f"estimate {est:g} lies outside its interval [{lower:g}, {upper:g}]", file=file,
                             row=row, column="estimate", valid="ci_lower <= estimate <= ci_upper")


def check_p_values(values: pd.Series, relations: pd.Series, file: str) -> None:
    """p in (0, 1]; a relation ('=' exact, '<' upper bound) only together with a p-value."""
    check_choice(pd.DataFrame({"p_relation": relations}), "p_relation", P_RELATIONS, file)
    for position, (p, relation) in enumerate(zip(values, relations, strict=True)):
        row = spreadsheet_row(position)
        if np.isnan(p):
            if relation != "":
                raise InputError(f"p_relation '{relation}' given without a p-value", file=file, row=row,
                                 column="p_value", valid="a p-value in (0, 1], or a blank p_relation")
            continue
        if not 0 < p <= 1:
            raise InputError(f"p-value {p:g} is outside (0, 1]", file=file, row=row, column="p_value",
                             valid="0 < p <= 1")


def _check_optional_headers(frame: pd.DataFrame, file: str) -> None:
    """Optional columns that only make sense together: means with SDs, O - E with V, yi with sei or vi, the two
    arms' person-time."""
    for columns in (MEAN_COLUMNS, LOGRANK_COLUMNS, PERSON_TIME_COLUMNS):
        present = [c for c in columns if c in frame.columns]
        if present and len(present) < len(columns):
            missing = next(c for c in columns if c not in frame.columns)
            raise InputError(f"missing column (needed with {present[0]})", file=file, column=missing,
                             valid="all of " + ", ".join(columns))
    has_se = "sei" in frame.columns or "vi" in frame.columns
    if has_se != ("yi" in frame.columns):
        raise InputError("missing column (yi needs sei or vi)", file=file, column="yi" if has_se else "sei",
                         valid="yi with sei or vi")


def check_means(frame: pd.DataFrame, numbers: pd.DataFrame, file: str) -> None:
    """Means and SDs: the four cells all given or all blank, SDs > 0, with both arm sizes given."""
    if MEAN_COLUMNS[0] not in frame.columns:
        return
    given = numbers[list(MEAN_COLUMNS)].notna()
    for position in range(len(numbers)):
        row = spreadsheet_row(position)
        flags = given.iloc[position]
        if not flags.any():
            continue
        if not flags.all():
            missing = next(c for c in MEAN_COLUMNS if not flags[c])
            raise InputError("means and SDs are incomplete", file=file, row=row, column=missing,
                             valid="all four of " + ", ".join(MEAN_COLUMNS) + " or none")
        for arm in ("treatment", "control"):
            if np.isnan(numbers[f"total_{arm}"].iloc[position]):
                raise InputError("means and SDs without the arm size", file=file, row=row, column=f"total_{arm}",
                                 valid="the number of patients of the arm, a whole number > 0")


def check_positive_means(numbers: pd.DataFrame, measures: pd.Series, file: str) -> None:
    """A ratio of means (ROM) needs positive means: InputError at the first mean <= 0 of such a row."""
    if MEAN_COLUMNS[0] not in numbers.columns:
        return
    ratio = measures.isin(RATIO_OF_MEANS).to_numpy()
    for column in ("mean_treatment", "mean_control"):
        values = numbers[column].to_numpy(dtype=float)
        bad = np.flatnonzero(ratio & (values <= 0))
        if bad.size:
            position = int(bad[0])
            raise InputError(f"mean {values[position]:g} is not positive: a ratio of means (ROM) is defined for "
                             "positive means only", file=file, row=spreadsheet_row(position), column=column,
                             valid="a mean > 0 (an outcome on a ratio scale), or measure MD or SMD")


def check_person_time(numbers: pd.DataFrame, file: str) -> np.ndarray:
    """Events over person-time: per row both person-times (> 0, checked on conversion) with both event counts
    (whole numbers >= 0), or no person-time. Returns the rows that give person-time."""
    if PERSON_TIME_COLUMNS[0] not in numbers.columns:
        return np.zeros(len(numbers), dtype=bool)
    given = numbers[list(PERSON_TIME_FORM)].notna().to_numpy()
    times = given[:, [1, 3]].any(axis=1)
    for position in np.flatnonzero(times):
        row = spreadsheet_row(int(position))
        if not given[position].all():
            missing = PERSON_TIME_FORM[int(np.flatnonzero(~given[position])[0])]
            raise InputError("events over person-time are incomplete", file=file, row=row, column=missing,
                             valid="all four of " + ", ".join(PERSON_TIME_FORM))
        for column in ("events_treatment", "events_control"):
            if numbers[column].iloc[position] < 0:
                raise InputError(f"event count {numbers[column].iloc[position]:g} is negative", file=file, row=row,
                                 column=column, valid="a whole number >= 0")
    return times


def check_logrank(numbers: pd.DataFrame, file: str) -> None:
    """Log-rank O - E and its variance V: given together (V > 0 is checked on conversion)."""
    if LOGRANK_COLUMNS[0] not in numbers.columns:
        return
    for position, (oe, v) in enumerate(zip(numbers["o_minus_e"], numbers["var_o_minus_e"], strict=True)):
        if np.isnan(oe) != np.isnan(v):
            column = "var_o_minus_e" if np.isnan(v) else "o_minus_e"
            raise InputError("log-rank O - E and its variance V must be given together", file=file,
                             row=spreadsheet_row(position), column=column, valid="both o_minus_e and var_o_minus_e")


def check_given(numbers: pd.DataFrame, file: str) -> None:
    """An effect given on the analysis scale: yi with sei or vi (both only if sei^2 = vi to 1e-6), and no SE
    without yi."""
    if "yi" not in numbers.columns:
        return
    sei = numbers["sei"] if "sei" in numbers.columns else pd.Series(np.nan, index=numbers.index)
    vi = numbers["vi"] if "vi" in numbers.columns else pd.Series(np.nan, index=numbers.index)
    for position, (y, se, v) in enumerate(zip(numbers["yi"], sei, vi, strict=True)):
        row = spreadsheet_row(position)
        if np.isnan(y):
            if not (np.isnan(se) and np.isnan(v)):
                raise InputError("a standard error without yi", file=file, row=row, column="yi",
                                 valid="the effect on the analysis scale (log ratio or difference)")
            continue
        if np.isnan(se) and np.isnan(v):
            column = "sei" if "sei" in numbers.columns else "vi"
            raise InputError("yi without its standard error", file=file, row=row, column=column,
                             valid="sei > 0 or vi > 0")
        if not (np.isnan(se) or np.isnan(v)) and abs(se**2 - v) > 1e-6 * v:
            raise InputError(f"sei^2 = {se**2:g} differs from vi = {v:g}", file=file, row=row, column="vi",
                             valid="sei or vi alone, or vi = sei^2")


BLANK_TEXT = ("", "nan", "None", "<NA>")
"""How a missing value reads once a column is turned into text (pandas' NaN, None and NA included)."""


def blank_cells(values: pd.Series) -> pd.Series:
    """True where a cell is missing or blank: NaN/None/NA, or text that is empty once stripped."""
    return values.isna() | values.astype(str).str.strip().isin(BLANK_TEXT)


def outcome_rows(path: str | Path, outcome: str) -> pd.DataFrame:
    """The rows of ``outcome`` in an outcomes table (:func:`read_text_csv`: cells as stripped text), indexed by
    their position among the file's data rows; none when the table has no ``outcome`` column."""
    frame = read_text_csv(path)
    return frame[frame["outcome"] == outcome] if "outcome" in frame.columns else frame.iloc[0:0]


def first_blank_row(rows: pd.DataFrame, columns: Sequence[str]) -> tuple[str, int] | None:
    """``(study_id, spreadsheet row)`` of the first of ``rows`` (:func:`outcome_rows`) with a blank cell
    (:func:`blank_cells`) in one of ``columns``; None when every row has them all."""
    blank = np.zeros(len(rows), dtype=bool)
    for column in columns:
        blank |= blank_cells(rows[column]).to_numpy()
    if not blank.any():
        return None
    i = int(np.flatnonzero(blank)[0])
    return str(rows["study_id"].iloc[i]) if "study_id" in rows.columns else "?", spreadsheet_row(int(rows.index[i]))


def load_studies(path: str | Path, levels: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """The validated study table: a unique, non-blank ``study_id``; ``year`` and the arm sizes ``n_treatment``,
    ``n_control`` as positive whole numbers where those columns exist; with ``levels`` (column -> allowed
    values, from the plan), each named column must exist and hold only those values. Every column is kept."""
    file = str(path)
    frame = read_text_csv(path)
    require_columns(frame, STUDY_COLUMNS, file)
    check_nonblank(frame, "study_id", file)
    check_unique(frame, ["study_id"], file, "study_id")
    check_levels(frame, levels or {}, file)
    for column in ("year", "n_treatment", "n_control"):
        if column in frame.columns:
            values = numeric_column(frame, column, file, integer=True, positive=True)
            frame[column] = values.astype("Int64")
    return frame


def check_shared_columns(outcomes: pd.DataFrame, studies: pd.DataFrame, outcomes_file: str,
                         studies_file: str) -> None:
    """A column (other than study_id) in both the outcomes and the study table must agree for every outcome row
    whose study has a value in both (numbers compared as numbers: 1990 = 1990.0); the study table's column is the
    one used. InputError at the first outcome row that disagrees, naming both files."""
    shared = [c for c in outcomes.columns if c in studies.columns and c != "study_id"]
    if not shared:
        return
    table = studies.set_index(studies["study_id"].astype(str))
    for column in shared:
        for position, (study, cell) in enumerate(zip(outcomes["study_id"].astype(str), outcomes[column])):
            if study not in table.index:
                continue
            mine, theirs = str(cell).strip(), str(table.at[study, column]).strip()
            if mine in ("", "nan", "<NA>") or theirs in ("", "nan", "<NA>"):
                continue
            a, b = pd.to_numeric(pd.Series([mine, theirs]), errors="coerce")
            same = (a == b) if pd.notna(a) and pd.notna(b) else mine == theirs
            if not same:
                raise InputError(
                    f"column '{column}' is in both {outcomes_file} and {studies_file} and differs for {study} "
                    f"({mine} vs {theirs})", file=outcomes_file, row=spreadsheet_row(position), column=column,
                    valid=f"the value of {studies_file}, or the column in one file only")


def check_levels(frame: pd.DataFrame, levels: Mapping[str, Sequence[str]], file: str) -> None:
    """Each column named in ``levels`` exists and holds only its allowed values (blank cells allowed)."""
    for column, allowed in levels.items():
        if column not in frame.columns:
            raise InputError("missing covariate column declared in the plan", file=file, column=column,
                             valid="a column of that name, or remove it from the plan's covariates")
        check_choice(frame, column, (*[str(a) for a in allowed], ""), file)


def load_outcomes(
    path: str | Path,
    studies: pd.DataFrame | None = None,
    *,
    outcomes: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The validated outcome rows (one per study and outcome); with ``studies``, every ``study_id`` must be in
    the study table; with ``outcomes`` (the plan's outcome names), rows of other outcomes are dropped after
    validation. Statistics columns (absent ones are added blank) become floats (blank = NaN); every column is
    kept. Optional columns: ``mean_*``/``sd_*`` (SDs > 0, with the arm sizes ``total_*``; means > 0 for a ROM),
    ``o_minus_e``/``var_o_minus_e`` (V > 0), ``yi`` with ``sei`` or ``vi`` (> 0), ``person_time_*`` (> 0, with
    the events ``events_*``, the arm sizes then optional)."""
    file = str(path)
    frame = read_text_csv(path)
    require_columns(frame, OUTCOME_COLUMNS, file)
    missing = [column for column in STATISTIC_COLUMNS if column not in frame.columns]
    if missing:
        frame = frame.reindex(columns=[*frame.columns, *missing], fill_value="").astype(dict.fromkeys(missing, str))
    check_nonblank(frame, "study_id", file)
    check_nonblank(frame, "outcome", file)
    if studies is not None:
        known = set(studies["study_id"].astype(str))
        for position, study in enumerate(frame["study_id"]):
            if study not in known:
                raise InputError(f"study '{study}' is not in the study table", file=file,
                                 row=spreadsheet_row(position), column="study_id",
                                 valid="a study_id of the study table")
    frame["measure"] = [parse_measure(m, file=file, row=spreadsheet_row(i)) if m else m
                        for i, m in enumerate(frame["measure"])]
    check_choice(frame, "measure", MEASURES, file)
    check_unique(frame, ["study_id", "outcome"], file, "study and outcome")
    parsed: dict[str, pd.Series] = {}
    for column in ("estimate", "ci_lower", "ci_upper", "p_value"):
        parsed[column] = numeric_column(frame, column, file)
    for column in ("median_treatment", "median_control"):
        parsed[column] = numeric_column(frame, column, file, positive=True)
    for column in COUNT_COLUMNS:
        parsed[column] = numeric_column(frame, column, file, integer=True)
    _check_optional_headers(frame, file)
    for column in (*MEAN_COLUMNS, *LOGRANK_COLUMNS, *GIVEN_COLUMNS, *PERSON_TIME_COLUMNS):
        if column in frame.columns:
            positive = column in ("sd_treatment", "sd_control", "var_o_minus_e", "sei", "vi", *PERSON_TIME_COLUMNS)
            parsed[column] = numeric_column(frame, column, file, positive=positive)
    numbers = pd.DataFrame(parsed, index=frame.index)
    check_interval(numbers, frame["measure"], file)
    check_p_values(numbers["p_value"], frame["p_relation"], file)
    person_time = check_person_time(numbers, file)
    check_arm_counts(numbers, file, sizes_alone=True, events_alone=person_time)
    check_means(frame, numbers, file)
    check_positive_means(numbers, frame["measure"], file)
    check_logrank(numbers, file)
    check_given(numbers, file)
    converted = {c: numbers[c] for c in numbers.columns}
    if "counts_from_percent" in frame.columns:
        converted["counts_from_percent"] = boolean_column(frame, "counts_from_percent", file)
    frame = _replace_columns(frame, converted)
    if outcomes is not None:
        frame = frame[frame["outcome"].isin(list(outcomes))].reset_index(drop=True)
    return frame


def _replace_columns(frame: pd.DataFrame, columns: Mapping[str, pd.Series]) -> pd.DataFrame:
    """``frame`` with ``columns`` in place of its columns of those names (in one construction, not column by
    column)."""
    return pd.DataFrame({c: columns[c] if c in columns else frame[c] for c in frame.columns}, index=frame.index)


def _check_published_outcome(frame: pd.DataFrame, file: str, outcomes: Sequence[str] | None) -> None:
    known = list(outcomes) if outcomes is not None else None
    valid = (", ".join(known) if known else "an outcome name") + " or a pair such as A~B"
    for position, cell in enumerate(frame["outcome"]):
        parts = cell.split("~")
        if len(parts) > 2 or any(p == "" or (known is not None and p not in known) for p in parts):
            raise InputError(f"'{cell}' is not a valid outcome", file=file, row=spreadsheet_row(position),
                             column="outcome", valid=valid)


PUBLISHED_TESTS = ("z", "knha")
"""A published meta-regression row's tests (optional ``test`` column, as metafor's ``test``): z, or Knapp-Hartung."""


def _check_published_tests(frame: pd.DataFrame, file: str) -> None:
    """The optional ``test`` column: blank, or on a ``meta_regression`` row one of :data:`PUBLISHED_TESTS`."""
    for position, (test, analysis) in enumerate(zip(frame["test"], frame["analysis"], strict=True)):
        if not test.strip():
            continue
        if test.strip().lower() not in PUBLISHED_TESTS:
            raise InputError(f"unknown test {test!r}", file=file, row=spreadsheet_row(position), column="test",
                             valid="z, or knha (Knapp-Hartung); blank for z")
        if analysis != "meta_regression":
            raise InputError(f"a test on a {analysis!r} row", file=file, row=spreadsheet_row(position),
                             column="test", valid="a test on meta_regression rows only; blank elsewhere")


def _check_published_formulas(frame: pd.DataFrame, file: str) -> None:
    """The optional ``formula`` column: on a ``meta_regression`` row with a ``variable``, the multiple
    meta-regression (with its intercept, in the syntax of ``bayesmeta fit --formula``) whose coefficient the row
    printed; blank elsewhere."""
    from bayesmeta.formula import FORMULA_HELP, parse_formula

    for position, (text, analysis, variable) in enumerate(zip(frame["formula"], frame["analysis"],
                                                              frame["variable"], strict=True)):
        if not text.strip():
            continue
        row = spreadsheet_row(position)
        if analysis != "meta_regression":
            raise InputError(f"a formula on a {analysis!r} row", file=file, row=row, column="formula",
                             valid="a formula on meta_regression rows only; blank elsewhere")
        if not variable.strip():
            raise InputError(f"the row's coefficient of {text!r} is not named", file=file, row=row, column="variable",
                             valid="the coefficient's column (and its level in 'level' for a factor)")
        try:
            formula = parse_formula(text)
        except InputError as error:
            raise InputError(error.reason, file=file, row=row, column="formula", valid=FORMULA_HELP) from None
        if not formula.intercept:
            raise InputError(f"{text!r} drops the intercept", file=file, row=row, column="formula",
                             valid='a formula with the intercept (no "0 +" or "- 1"), e.g. "grade + imag"')


def load_published(path: str | Path, outcomes: Sequence[str] | None = None) -> pd.DataFrame:
    """The validated published results (pooled, subgroup, regression, TSA figures as printed).

    Columns (see the README's "published results" format): outcome, analysis, variable, level, k, measure,
    estimate, ci_lower, ci_upper, p_value, p_relation, i2_percent, where; others are kept. With ``outcomes``
    (the plan's outcome names), every outcome must be one of them. ``estimate_decimals``, ``ci_lower_decimals``
    and ``ci_upper_decimals`` record the decimals printed in each cell (``0.60``: 2), which the numbers lose.

    Checks: outcome (or an ``A~B`` pair), measure, numbers, k a positive whole number, p in (0, 1] with its
    relation, I^2 in [0, 100], proportions in [0, 1], ratios > 0 and lower <= estimate <= upper (equal bounds
    are accepted here because printed figures are rounded, e.g. an HR of 1.0 with CI 1.0 to 1.0).
    """
    file = str(path)
    frame = read_text_csv(path)
    require_columns(frame, PUBLISHED_COLUMNS, file)
    _check_published_outcome(frame, file, outcomes)
    check_nonblank(frame, "analysis", file)
    check_choice(frame, "measure", PUBLISHED_MEASURES, file)
    parsed = {column: numeric_column(frame, column, file) for column in ("estimate", "ci_lower", "ci_upper", "p_value")}
    parsed["k"] = numeric_column(frame, "k", file, integer=True, positive=True)
    parsed["i2_percent"] = numeric_column(frame, "i2_percent", file, nonnegative=True)
    numbers = pd.DataFrame(parsed, index=frame.index)
    for position, i2 in enumerate(numbers["i2_percent"]):
        if i2 > 100:
            raise InputError(f"I^2 {i2:g}% exceeds 100", file=file, row=spreadsheet_row(position),
                             column="i2_percent", valid="0 to 100")
    for position, (measure, est) in enumerate(zip(frame["measure"], numbers["estimate"], strict=True)):
        if measure == "proportion" and not 0 <= est <= 1:
            raise InputError(f"proportion {est:g} is outside [0, 1]", file=file, row=spreadsheet_row(position),
                             column="estimate", valid="0 <= proportion <= 1")
    check_interval(numbers, frame["measure"], file, allow_equal_bounds=True)
    check_p_values(numbers["p_value"], frame["p_relation"], file)
    if "formula" in frame.columns:
        _check_published_formulas(frame, file)
    if "test" in frame.columns:
        _check_published_tests(frame, file)
    from bayesmeta.consistency import decimals_of  # consistency imports this module

    for column in ("estimate", "ci_lower", "ci_upper"):  # the printed precision, read before the text is parsed
        frame[f"{column}_decimals"] = pd.array([decimals_of(c) if c else pd.NA for c in frame[column]], dtype="Int64")
    return _replace_columns(frame, numbers)
