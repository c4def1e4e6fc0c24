"""Design matrices for meta-regression (covariates of the studies -> columns of X, without the intercept).

Numeric columns enter as they are. Categorical columns (text, category or boolean) are treatment-coded: the
reference level is the most frequent level (ties broken alphabetically), and every other level gets an indicator
column named ``"<column>[<level>]"`` (e.g. ``design[RCT]``: 1 for randomised studies, 0 otherwise), so that
its coefficient is the difference between that level and the reference level. The intercept (``mu``) is the
effect at the reference level of every factor and at 0 of every numeric covariate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesmeta.errors import InputError


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _check_complete(series: pd.Series, column: str) -> None:
    missing = np.flatnonzero(series.isna().to_numpy())
    if missing.size:
        raise InputError(
            "missing covariate value", row=int(missing[0]) + 2, column=column, valid="a value for every study"
        )


def reference_level(series: pd.Series) -> str:
    """The most frequent level of a factor, ties broken alphabetically (levels compared as text)."""
    counts = series.astype(str).value_counts()
    return min(counts.index, key=lambda level: (-counts[level], level))


def design_matrix(covariates: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Build X (k x p, no intercept column) and its column names from ``columns`` of ``covariates``.

    Raises InputError for a column that is absent, has a missing value, is a factor with a single level, is not
    numeric after all, or when [1, X] is rank-deficient (a covariate constant or collinear with others)."""
    blocks: list[np.ndarray] = []
    names: list[str] = []
    for column in columns:
        if column not in covariates.columns:
            raise InputError("no such covariate column", column=column, valid=", ".join(map(str, covariates.columns)))
        series = covariates[column]
        _check_complete(series, column)
        if _is_numeric(series):
            values = series.to_numpy(dtype=float)
            if not np.all(np.isfinite(values)):
                row = int(np.flatnonzero(~np.isfinite(values))[0]) + 2
                raise InputError("covariate value is not finite", row=row, column=column, valid="a finite number")
            blocks.append(values[:, None])
            names.append(column)
            continue
        text = series.astype(str)
        levels = sorted(set(text))
        if len(levels) < 2:
            raise InputError(
                f"factor has a single level ({levels[0]!r}); it cannot be estimated besides the intercept",
                column=column,
                valid="a factor with at least two levels",
            )
        ref = reference_level(series)
        for level in levels:
            if level == ref:
                continue
            blocks.append((text.to_numpy() == level).astype(float)[:, None])
            names.append(f"{column}[{level}]")
    k = len(covariates)
    x = np.hstack(blocks) if blocks else np.zeros((k, 0))
    full = np.hstack([np.ones((k, 1)), x])
    if np.linalg.matrix_rank(full) < full.shape[1]:
        reason = (
            "more coefficients than studies"
            if full.shape[1] > k
            else "a covariate is constant or a linear combination of the others"
        )
        raise InputError(
            f"the meta-regression design is rank-deficient ({reason}): intercept + {', '.join(names)}",
            column=", ".join(columns),
            valid="covariates that vary independently across the studies",
        )
    return x, tuple(names)
