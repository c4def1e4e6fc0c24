"""Validation of the data handed to the NUTS engine: errors name the study, its row and the column.

Rows are counted as in the study table the arrays come from (header row 1, first study row 2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from bayesmeta.errors import InputError

ARM_COLUMNS = ("events_treatment", "total_treatment", "events_control", "total_control")


def study_labels(study: Sequence[str] | None, k: int) -> tuple[str, ...]:
    """The study labels as strings (``study1``... when none are given), checked for number and uniqueness."""
    if study is None:
        return tuple(f"study{i + 1}" for i in range(k))
    ids = tuple(str(s) for s in study)
    if len(ids) != k:
        raise InputError(f"{len(ids)} study labels for {k} studies", column="study")
    seen: set[str] = set()
    for i, sid in enumerate(ids):
        if sid in seen:
            raise InputError(
                f"study id {sid!r} appears more than once",
                row=i + 2,
                column="study",
                valid="unique study ids",
            )
        seen.add(sid)
    return ids


def _refuse_first(ok: np.ndarray, ids: Sequence[str], column: str, valid: str, describe: Callable[[int], str]) -> None:
    """InputError naming the first study where ``ok`` is False: ``study '<id>': <describe(i)>``, its row, column."""
    bad = np.flatnonzero(~ok)
    if bad.size:
        i = int(bad[0])
        raise InputError(f"study {ids[i]!r}: {describe(i)}", row=i + 2, column=column, valid=valid)


def _one_dimensional(values, column: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise InputError(
            f"{column} must be a non-empty one-dimensional sequence of numbers",
            column=column,
        )
    return arr


def effects_and_errors(
    yi, sei, study: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """(yi, sei, study labels): finite effects and positive finite standard errors, one per study."""
    y_arr = _one_dimensional(yi, "yi")
    sei_arr = _one_dimensional(sei, "sei")
    if sei_arr.size != y_arr.size:
        raise InputError(
            f"{y_arr.size} effects but {sei_arr.size} standard errors", column="sei"
        )
    ids = study_labels(study, y_arr.size)
    for column, values, ok, valid in (
        ("yi", y_arr, np.isfinite(y_arr), "a finite number"),
        (
            "sei",
            sei_arr,
            np.isfinite(sei_arr) & (sei_arr > 0),
            "a positive finite number",
        ),
    ):
        _refuse_first(ok, ids, column, valid, lambda i: f"{column} is {float(values[i]):g}")
    return y_arr, sei_arr, ids


def design_columns(
    X, covariate_names: Sequence[str], k: int
) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """The covariate matrix without intercept (None when there is none) and one name per column."""
    if X is None:
        return None, ()
    arr = np.asarray(X, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != k:
        raise InputError(
            f"the design matrix must have one row per study ({k}), got shape {arr.shape}",
            column="covariates",
        )
    if arr.shape[1] == 0:
        return None, ()
    bad = np.argwhere(~np.isfinite(arr))
    names = tuple(str(n) for n in covariate_names) or tuple(
        f"x{j + 1}" for j in range(arr.shape[1])
    )
    if len(names) != arr.shape[1]:
        raise InputError(
            f"{len(names)} covariate names for {arr.shape[1]} design columns",
            column="covariates",
        )
    if bad.size:
        i, j = (int(v) for v in bad[0])
        raise InputError(
            f"covariate value {arr[i, j]!r}",
            row=i + 2,
            column=names[j],
            valid="a finite number",
        )
    return arr, names


def arm_counts(
    events_treatment,
    total_treatment,
    events_control,
    total_control,
    study: Sequence[str] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """(events and totals of the treatment arm, of the control arm, study labels): whole-number counts with
    0 <= events <= total and total > 0 in both arms."""
    arrays = [
        _one_dimensional(v, name)
        for v, name in zip(
            (events_treatment, total_treatment, events_control, total_control),
            ARM_COLUMNS,
        )
    ]
    k = arrays[0].size
    for arr, column in zip(arrays, ARM_COLUMNS):
        if arr.size != k:
            raise InputError(
                f"{column} has {arr.size} entries for {k} studies", column=column
            )
    ids = study_labels(study, k)
    for arr, column in zip(arrays, ARM_COLUMNS):
        ok = np.isfinite(arr) & (arr >= 0) & (arr == np.round(arr))
        _refuse_first(ok, ids, column, "a whole number >= 0", lambda i: f"{column} is {float(arr[i]):g}")
    a, n1, c, n2 = (arr.astype(np.int64) for arr in arrays)
    for events, total, ev_col, tot_col in (
        (a, n1, ARM_COLUMNS[0], ARM_COLUMNS[1]),
        (c, n2, ARM_COLUMNS[2], ARM_COLUMNS[3]),
    ):
        _refuse_first(total > 0, ids, tot_col, "a positive arm size", lambda i: f"{tot_col} is {total[i]}")
        _refuse_first(
            events <= total,
            ids,
            ev_col,
            f"0 to {tot_col}",
            lambda i: f"{ev_col} ({events[i]}) exceeds {tot_col} ({total[i]})",
        )
    return a, n1, c, n2, ids
