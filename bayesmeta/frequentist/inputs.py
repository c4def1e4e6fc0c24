"""Validation of the plain arrays every frequentist function takes (effects yi, sampling variances vi, moderators)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayesmeta.effect_data import EffectData, effect_args
from bayesmeta.errors import InputError, ModelError

METHODS = ("FE", "DL", "REML", "PM", "ML")
METHOD_ALIASES = {"EE": "FE", "CE": "FE"}
TESTS = ("z", "knha")


def as_vector(values: ArrayLike, name: str) -> NDArray[np.float64]:
    """A 1-D float array, refusing NaN and infinities with the position of the first offender."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"'{name}' must be numeric ({exc})", column=name) from exc
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise InputError(f"'{name}' must be one-dimensional, got shape {arr.shape}", column=name)
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        i = int(bad[0])
        raise InputError(
            f"'{name}' has a missing or infinite value at study {i + 1} ({arr[i]})",
            column=name,
            valid="a finite number",
        )
    return arr


def check_effects(yi: ArrayLike, vi: ArrayLike, *, min_k: int = 1) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Validate effects and sampling variances: same length, finite, vi > 0, at least ``min_k`` studies."""
    y = as_vector(yi, "yi")
    v = as_vector(vi, "vi")
    if y.shape != v.shape:
        raise InputError(f"'yi' has {y.size} values but 'vi' has {v.size}; they must match", column="vi")
    bad = np.flatnonzero(v <= 0)
    if bad.size:
        i = int(bad[0])
        raise InputError(
            f"'vi' must be positive; study {i + 1} has {v[i]}", column="vi", valid="a sampling variance > 0"
        )
    if y.size < min_k:
        noun = "study" if min_k == 1 else "studies"
        raise ModelError(f"this analysis needs at least {min_k} {noun}; got k = {y.size}")
    return y, v


def effects_input(
    data: EffectData | ArrayLike,
    vi: ArrayLike | None = None,
    *,
    sei: ArrayLike | None = None,
    study: Sequence[str] | None = None,
    min_k: int = 1,
) -> tuple[NDArray[np.float64], NDArray[np.float64], tuple[str, ...] | None]:
    """(yi, vi, study labels) of a frequentist verb's input, checked by :func:`check_effects`: an
    :class:`~bayesmeta.effect_data.EffectData`, or the effects yi with ``vi`` (metafor's second argument) or
    ``sei``; labels None when arrays came without them."""
    args = effect_args(data, sei, vi=vi, study=study)
    y, v = check_effects(args.yi, args.variances(), min_k=min_k)
    return y, v, args.study


def canonical_method(method: str) -> str:
    """Upper-case method name, with 'EE'/'CE' mapped to 'FE' (metafor's equal/common-effect model)."""
    key = str(method).upper()
    key = METHOD_ALIASES.get(key, key)
    if key not in METHODS:
        raise ModelError(f"unknown method '{method}'; valid: {', '.join(METHODS)} (or EE for FE)")
    return key


def canonical_test(test: str) -> str:
    key = str(test).lower()
    if key == "hksj":
        key = "knha"
    if key not in TESTS:
        raise ModelError(f"unknown test '{test}'; valid: z, knha (Knapp-Hartung, also called HKSJ)")
    return key


def check_level(level: float) -> float:
    level = float(level)
    if not 0.0 < level < 1.0:
        raise InputError(f"level must lie strictly between 0 and 1, got {level}", valid="e.g. 0.95")
    return level


def design_matrix(
    mods: ArrayLike | None, k: int, mod_names: Sequence[str] | None = None
) -> tuple[NDArray[np.float64], tuple[str, ...]]:
    """Intercept column plus moderators, as metafor builds it (intercept named 'intrcpt').

    Refuses moderators that are not of full column rank together with the intercept, since their coefficients
    would not be identified.
    """
    if mods is None:
        return np.ones((k, 1)), ("intrcpt",)
    try:
        m = np.asarray(mods, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"'mods' must be numeric ({exc})", column="mods") from exc
    if m.ndim == 1:
        m = m.reshape(-1, 1)
    if m.ndim != 2 or m.shape[0] != k:
        raise InputError(f"'mods' must have {k} rows (one per study), got shape {m.shape}", column="mods")
    bad = np.argwhere(~np.isfinite(m))
    if bad.size:
        i, j = (int(x) for x in bad[0])
        raise InputError(f"'mods' has a missing or infinite value at study {i + 1}, column {j + 1}", column="mods")
    if mod_names is None:
        names = ("mods",) if m.shape[1] == 1 else tuple(f"mods{j + 1}" for j in range(m.shape[1]))
    else:
        names = tuple(str(n) for n in mod_names)
        if len(names) != m.shape[1]:
            raise InputError(f"{len(names)} moderator names given for {m.shape[1]} moderator columns", column="mods")
    x = np.column_stack([np.ones(k), m])
    if np.linalg.matrix_rank(x) < x.shape[1]:
        raise ModelError(
            "the moderators are collinear with each other or with the intercept (for a factor, pass its dummy "
            "columns without the reference level; a moderator constant across studies is not estimable)"
        )
    return x, ("intrcpt", *names)
