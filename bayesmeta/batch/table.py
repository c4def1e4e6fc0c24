"""A long table of many meta-analyses (one row per study, a group column naming the meta-analysis), read whole
(:func:`read_long_table`; a batch cuts it into partition files chunk by chunk instead, :mod:`bayesmeta.batch.split`),
and each partition's groups turned into effects.

Every reported form of :mod:`bayesmeta.tables` is accepted. The forms ``yi, sei`` and ``yi, vi`` are checked in
one vectorised pass (numbers, positive standard errors, the plausible ranges of :mod:`bayesmeta.plausible`);
other forms go through :func:`bayesmeta.tables._effect_table` group by group. A group that fails becomes an
:class:`GroupError` naming the group, the spreadsheet row of the whole table and the column; the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bayesmeta.data import read_text_csv, spreadsheet_row
from bayesmeta.errors import InputError
from bayesmeta.plausible import MAX_Z_FROM_MEDIAN, RANGES, table_problems
from bayesmeta.tables import _effect_table, _normalise_measure, _text_frame

ROW = "_row"  # 0-based position of a study in the whole table


@dataclass(frozen=True)
class GroupError:
    """A meta-analysis that could not be read: its group, the spreadsheet row and column, and why."""

    group: str
    row: int | None
    column: str | None
    message: str


@dataclass(frozen=True)
class GroupEffects:
    """The effects of the meta-analyses of one partition that could be read, as padded (n, K) arrays."""

    groups: list[str]
    yi: np.ndarray
    sei: np.ndarray
    mask: np.ndarray
    measure: str


def read_long_table(path: str | Path, group: str) -> pd.DataFrame:
    """The table as text cells (blank = ''), CSV or Parquet (by extension), with the row positions in ``_row``;
    InputError when the file cannot be read or lacks the group column."""
    file = str(path)
    if str(path).lower().endswith((".parquet", ".pq")):
        if not Path(path).is_file():
            raise InputError("file not found", file=file)
        try:
            frame = _text_frame(pd.read_parquet(path))
        except Exception as exc:  # pyarrow raises its own types for a file that is not Parquet
            raise InputError(f"not a readable Parquet file ({exc.__class__.__name__})", file=file) from None
    else:
        frame = read_text_csv(path)
    if group not in frame.columns:
        raise InputError(f"no group column '{group}'", file=file, column=group,
                         valid="--group naming a column: " + ", ".join(map(str, frame.columns)))
    if frame.empty:
        raise InputError("the table has no data rows", file=file)
    blank = np.flatnonzero(frame[group].to_numpy() == "")
    if blank.size:
        raise InputError("blank group", file=file, row=spreadsheet_row(int(blank[0])), column=group,
                         valid="a group label on every row")
    frame[ROW] = np.arange(len(frame))
    return frame


def _located(exc: InputError, rows: np.ndarray) -> tuple[int | None, str | None, str]:
    row = None if exc.row is None else spreadsheet_row(int(rows[exc.row - 2]))
    return row, exc.column, exc.reason + (f" (valid: {exc.valid})" if exc.valid else "")


def _fast_form(frame: pd.DataFrame) -> tuple[str, str] | None:
    if "yi" in frame.columns and "sei" in frame.columns:
        return "yi", "sei"
    if "yi" in frame.columns and "vi" in frame.columns:
        return "yi", "vi"
    return None


def _study_column(frame: pd.DataFrame) -> str | None:
    return next((c for c in ("study", "study_id") if c in frame.columns), None)


def read_groups(part: pd.DataFrame, group: str, measure: str | None, file: str) -> tuple[GroupEffects, list[GroupError]]:
    """The partition's meta-analyses as effects, and the error of each that could not be read."""
    form = _fast_form(part)
    if form is not None and measure is None and "measure" in part.columns:
        form = None  # a measure column is validated (one measure per table) by the reader
    if form is None:
        return _slow(part, group, measure, file)
    measure = _normalise_measure(measure, file) or "GEN"
    return _fast(part, group, form, measure, file)


def _fast(part: pd.DataFrame, group: str, form: tuple[str, str], measure: str, file: str):
    ycol, scol = form
    labels = part[group].to_numpy()
    rows = part[ROW].to_numpy()
    bad_col = np.full(len(part), "", dtype=object)
    bad_msg = np.full(len(part), "", dtype=object)

    def flag(where: np.ndarray, column: str, message: str) -> None:
        new = where & (bad_col == "")
        bad_col[new], bad_msg[new] = column, message

    study = _study_column(part)
    if study is None:
        raise InputError("missing study column", file=file, column="study",
                         valid="a 'study' (or 'study_id') column beside the group column")
    flag(part[study].to_numpy() == "", study, "blank study name (valid: a non-empty study label)")
    flag(pd.DataFrame({"g": labels, "s": part[study].to_numpy()}).duplicated().to_numpy(), study,
         "study appears more than once in its meta-analysis (valid: unique study labels)")
    values = {}
    for column in (ycol, scol):
        text = part[column]
        num = pd.to_numeric(text.where(text != "", None), errors="coerce").to_numpy(dtype=float)
        flag(text.to_numpy() == "", column, "blank cell (valid: a number)")
        flag(~np.isfinite(num), column, "not a finite number (valid: a number)")
        values[column] = num
    yi = values[ycol]
    sei = values[scol] if scol == "sei" else np.sqrt(np.abs(values[scol]))
    flag(~(values[scol] > 0), scol, f"{scol} must be positive (valid: a number > 0)")
    r = RANGES[measure]
    implausible = (np.abs(yi) > r.max_abs_yi) | (sei < r.min_sei) | (sei > r.max_sei)
    median = pd.Series(yi).groupby(labels).transform("median").to_numpy()
    implausible |= np.abs(yi - median) / sei > MAX_Z_FROM_MEDIAN
    errors: dict[str, GroupError] = {}
    for i in np.flatnonzero(bad_col != ""):
        errors.setdefault(labels[i], GroupError(labels[i], spreadsheet_row(int(rows[i])), bad_col[i], bad_msg[i]))
    for g in pd.unique(labels[implausible & (bad_col == "")]):
        if g in errors:
            continue
        sel = labels == g
        position, which, reason, valid = table_problems(yi[sel], sei[sel], measure)[0]
        errors[g] = GroupError(g, spreadsheet_row(int(rows[sel][position])), ycol if which == "yi" else scol,
                               f"{reason} (valid: {valid})")
    good = ~pd.Series(labels).isin(list(errors)).to_numpy()
    effects = _pad(labels[good], yi[good], sei[good], measure)
    return effects, list(errors.values())


def _pad(labels: np.ndarray, yi: np.ndarray, sei: np.ndarray, measure: str) -> GroupEffects:
    codes, uniques = pd.factorize(labels, sort=False)
    n = len(uniques)
    k = np.bincount(codes, minlength=n)
    width = int(k.max()) if n else 1
    order = np.argsort(codes, kind="stable")
    start = np.concatenate([[0], np.cumsum(k)[:-1]])
    slot = np.arange(len(codes)) - start[codes[order]]
    y, s = np.full((n, width), np.nan), np.full((n, width), np.nan)
    mask = np.zeros((n, width), dtype=bool)
    y[codes[order], slot], s[codes[order], slot], mask[codes[order], slot] = yi[order], sei[order], True
    return GroupEffects([str(u) for u in uniques], y, s, mask, measure)


def _slow(part: pd.DataFrame, group: str, measure: str | None, file: str):
    errors: list[GroupError] = []
    labels, ys, ss, measures = [], [], [], []
    columns = [c for c in part.columns if c not in (group, ROW)]
    for label, sub in part.groupby(group, sort=False):
        rows = sub[ROW].to_numpy()
        try:
            data = _effect_table(sub[columns].reset_index(drop=True), measure, file)
        except InputError as exc:
            errors.append(GroupError(str(label), *_located(exc, rows)))
            continue
        labels.append(np.full(data.k, str(label), dtype=object))
        ys.append(data.yi)
        ss.append(data.sei)
        measures.append(data.measure)
    found = set(measures)
    if len(found) > 1:
        raise InputError(f"the meta-analyses have different measures ({', '.join(sorted(found))})", file=file,
                         column="measure", valid="one measure per table (or --measure)")
    if not labels:
        return GroupEffects([], np.zeros((0, 1)), np.zeros((0, 1)), np.zeros((0, 1), dtype=bool),
                            measure or "GEN"), errors
    return _pad(np.concatenate(labels), np.concatenate(ys), np.concatenate(ss), measures[0]), errors
