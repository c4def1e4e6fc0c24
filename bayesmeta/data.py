"""Loading and validating the study-level data files (see data/README.md for their columns).

Each loader either returns a fully validated DataFrame or raises :class:`InputError` naming the file, the
spreadsheet row (header = row 1, first data row = 2), the column and what would be valid. Every column of the
file is kept; validated numeric columns are converted (blank cells become NaN), text columns stay text with
blank cells as ''.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bayesmeta.errors import InputError
from bayesmeta.scales import RATIO_MEASURES

DATA_DIR: Path = Path(__file__).resolve().parents[1] / "data"

OUTCOMES: tuple[str, ...] = ("OS", "PFS", "ORR", "DCR", "AE")
MEASURES: tuple[str, ...] = (*RATIO_MEASURES, "MD")  # the measures a study-data file may report
P_RELATIONS: tuple[str, ...] = ("=", "<", "")
DESIGNS: tuple[str, ...] = ("RCT", "prospective", "retrospective")
PLATINUM_AGENTS: tuple[str, ...] = ("oxaliplatin", "cisplatin", "carboplatin", "none")
SYSTEMIC_THERAPIES: tuple[str, ...] = ("TKI", "ICI", "TKI+ICI")
COUNT_COLUMNS: tuple[str, ...] = ("events_treatment", "total_treatment", "events_control", "total_control")

STUDY_COLUMNS: tuple[str, ...] = (
    "study_id", "first_author", "year", "design", "platinum", "systemic", "n_treatment", "n_control",
)
OUTCOME_COLUMNS: tuple[str, ...] = (
    "study_id", "outcome", "measure", "estimate", "ci_lower", "ci_upper", "p_value", "p_relation",
    "median_treatment", "median_control", *COUNT_COLUMNS,
)
PUBLISHED_COLUMNS: tuple[str, ...] = (
    "outcome", "analysis", "variable", "level", "k", "measure", "estimate", "ci_lower", "ci_upper",
    "p_value", "p_relation", "i2_percent", "where",
)
PUBLISHED_MEASURES: tuple[str, ...] = (*MEASURES, "proportion", "p", "spearman_r", "patients")

_TRUE = ("true", "TRUE", "True", "1")
_FALSE = ("false", "FALSE", "False", "0")


def spreadsheet_row(position: int) -> int:
    """Spreadsheet row of the 0-based data position: the header is row 1, so the first data row is 2."""
    return int(position) + 2


def read_text_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV with every cell as stripped text (blank = ''), so each cell can be validated and located."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", file=str(path))
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise InputError("the file is empty (a header row and at least one data row are needed)",
                         file=str(path)) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"not a readable CSV file ({exc})", file=str(path)) from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    duplicated = [c for c in frame.columns if "." in c and c.rsplit(".", 1)[0] in frame.columns]
    if duplicated:
        raise InputError("duplicate column name", file=str(path), column=duplicated[0].rsplit(".", 1)[0])
    for column in frame.columns:
        frame[column] = frame[column].astype(str).str.strip()
    if frame.empty:
        raise InputError("the table has no data rows", file=str(path))
    return frame.reset_index(drop=True)


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
    text = frame[column].astype(str)
    values = pd.to_numeric(text.where(text != "", None), errors="coerce").astype(float)
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
    return values


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


def check_arm_counts(values: pd.DataFrame, file: str) -> None:
    """Arm counts: all four given or all four blank; events in [0, total]; totals > 0 (whole numbers)."""
    given = values[list(COUNT_COLUMNS)].notna()
    for position in range(len(values)):
        row = spreadsheet_row(position)
        flags = given.iloc[position]
        if flags.any() and not flags.all():
            missing = next(c for c in COUNT_COLUMNS if not flags[c])
            raise InputError("arm counts are incomplete", file=file, row=row, column=missing,
                             valid="all four of " + ", ".join(COUNT_COLUMNS) + " or none")
        if not flags.all():
            continue
        for arm in ("treatment", "control"):
            events = values[f"events_{arm}"].iloc[position]
            total = values[f"total_{arm}"].iloc[position]
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
    for position in range(len(values)):
        row = spreadsheet_row(position)
        est, lower, upper = (values[c].iloc[position] for c in ("estimate", "ci_lower", "ci_upper"))
        if measures.iloc[position] in ratio_measures:
            for column, value in (("estimate", est), ("ci_lower", lower), ("ci_upper", upper)):
                if not np.isnan(value) and value <= 0:
                    raise InputError(f"ratio {value:g} is not positive", file=file, row=row, column=column,
                                     valid=f"a {measures.iloc[position]} > 0")
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


def load_studies(path: str | Path = DATA_DIR / "haic_studies.csv") -> pd.DataFrame:
    """The validated study table: unique ``study_id``; ``design``, ``platinum``, ``systemic`` from their valid
    sets; ``year`` and positive arm sizes ``n_treatment``/``n_control`` as integers. Every column is kept."""
    file = str(path)
    frame = read_text_csv(path)
    require_columns(frame, STUDY_COLUMNS, file)
    check_nonblank(frame, "study_id", file)
    check_unique(frame, ["study_id"], file, "study_id")
    check_nonblank(frame, "first_author", file)
    check_choice(frame, "design", DESIGNS, file)
    check_choice(frame, "platinum", PLATINUM_AGENTS, file)
    check_choice(frame, "systemic", SYSTEMIC_THERAPIES, file)
    converted = {
        "year": numeric_column(frame, "year", file, required=True, integer=True, positive=True),
        "n_treatment": numeric_column(frame, "n_treatment", file, required=True, integer=True, positive=True),
        "n_control": numeric_column(frame, "n_control", file, required=True, integer=True, positive=True),
    }
    if "tace_both_arms" in frame.columns:
        converted["tace_both_arms"] = boolean_column(frame, "tace_both_arms", file)
    for column, values in converted.items():
        frame[column] = values.astype("int64") if column != "tace_both_arms" else values
    return frame


def load_outcomes(
    path: str | Path = DATA_DIR / "haic_outcomes.csv",
    studies: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The validated outcome rows (one per study and outcome); with ``studies``, every ``study_id`` must be in
    the study table. Statistics columns become floats (blank = NaN); every column is kept."""
    file = str(path)
    frame = read_text_csv(path)
    require_columns(frame, OUTCOME_COLUMNS, file)
    check_nonblank(frame, "study_id", file)
    if studies is not None:
        known = set(studies["study_id"].astype(str))
        for position, study in enumerate(frame["study_id"]):
            if study not in known:
                raise InputError(f"study '{study}' is not in the study table", file=file,
                                 row=spreadsheet_row(position), column="study_id",
                                 valid="a study_id of the study table")
    check_choice(frame, "outcome", OUTCOMES, file)
    check_choice(frame, "measure", MEASURES, file)
    check_unique(frame, ["study_id", "outcome"], file, "study and outcome")
    numbers = pd.DataFrame(index=frame.index)
    for column in ("estimate", "ci_lower", "ci_upper", "p_value"):
        numbers[column] = numeric_column(frame, column, file)
    for column in ("median_treatment", "median_control"):
        numbers[column] = numeric_column(frame, column, file, positive=True)
    for column in COUNT_COLUMNS:
        numbers[column] = numeric_column(frame, column, file, integer=True)
    check_interval(numbers, frame["measure"], file)
    check_p_values(numbers["p_value"], frame["p_relation"], file)
    check_arm_counts(numbers, file)
    converted = {c: numbers[c] for c in numbers.columns}
    if "counts_from_percent" in frame.columns:
        converted["counts_from_percent"] = boolean_column(frame, "counts_from_percent", file)
    for column, values in converted.items():
        frame[column] = values
    return frame


def _check_published_outcome(frame: pd.DataFrame, file: str) -> None:
    valid = ", ".join(OUTCOMES) + " or a pair such as ORR~OS"
    for position, cell in enumerate(frame["outcome"]):
        parts = cell.split("~")
        if len(parts) > 2 or any(p not in OUTCOMES for p in parts):
            raise InputError(f"'{cell}' is not a valid outcome", file=file, row=spreadsheet_row(position),
                             column="outcome", valid=valid)


def load_published(path: str | Path = DATA_DIR / "published_results.csv") -> pd.DataFrame:
    """The validated published results (pooled, subgroup, regression, TSA figures as printed).

    Checks: outcome (or an ``A~B`` pair), measure, numbers, k a positive whole number, p in (0, 1] with its
    relation, I^2 in [0, 100], proportions in [0, 1], ratios > 0 and lower <= estimate <= upper (equal bounds
    are accepted here because printed figures are rounded, e.g. an HR of 1.0 with CI 1.0 to 1.0).
    """
    file = str(path)
    frame = read_text_csv(path)
    require_columns(frame, PUBLISHED_COLUMNS, file)
    _check_published_outcome(frame, file)
    check_nonblank(frame, "analysis", file)
    check_choice(frame, "measure", PUBLISHED_MEASURES, file)
    numbers = pd.DataFrame(index=frame.index)
    for column in ("estimate", "ci_lower", "ci_upper", "p_value"):
        numbers[column] = numeric_column(frame, column, file)
    numbers["k"] = numeric_column(frame, "k", file, integer=True, positive=True)
    numbers["i2_percent"] = numeric_column(frame, "i2_percent", file, nonnegative=True)
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
    for column in numbers.columns:
        frame[column] = numbers[column]
    return frame
