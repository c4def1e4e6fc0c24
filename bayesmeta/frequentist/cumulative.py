"""Cumulative meta-analysis (metafor ``cumul``; Lau J et al. 1992, N Engl J Med 327:248-254)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from bayesmeta.errors import InputError
from bayesmeta.effect_data import EffectData
from bayesmeta.frequentist.inputs import as_vector, canonical_method, canonical_test, effects_input
from bayesmeta.frequentist.leave_one_out import COLUMNS, study_labels, summary_row
from bayesmeta.frequentist.rma import rma


def cumulative(
    data: EffectData | ArrayLike,
    vi: ArrayLike | None = None,
    order: ArrayLike | None = None,
    method: str = "REML",
    study: Sequence[str] | None = None,
    test: str = "z",
    level: float = 0.95,
    *,
    sei: ArrayLike | None = None,
) -> pd.DataFrame:
    """Fit the model to the first 1, 2, ..., k studies after sorting by ``order`` (e.g. publication year; a
    stable sort, so ties keep the input order; None keeps the input order). One row per added study (index 'added').

    The first row is a single study: tau^2 = 0, Q = 0, I^2 = 0, H^2 = 1 and a z test even with test='knha',
    as metafor reports it. ``data``: an EffectData, or the effects yi with ``vi`` (or ``sei``) and ``study``.
    """
    method = canonical_method(method)
    test = canonical_test(test)
    y, v, study = effects_input(data, vi, sei=sei, study=study, min_k=1)
    k = y.size
    labels = study_labels(study, k)
    if order is None:
        idx = np.arange(k)
    else:
        key = as_vector(order, "order")
        if key.size != k:
            raise InputError(f"'order' has {key.size} values for {k} studies", column="order")
        idx = np.argsort(key, kind="stable")
    rows = []
    for n in range(1, k + 1):
        sel = idx[:n]
        rows.append(summary_row(rma(y[sel], v[sel], method=method, test=test if n > 1 else "z", level=level)))
    return pd.DataFrame(rows, index=pd.Index([labels[i] for i in idx], name="added"), columns=list(COLUMNS))
