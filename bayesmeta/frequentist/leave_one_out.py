"""Leave-one-out sensitivity analysis (metafor ``leave1out``; Viechtbauer & Cheung 2010, Res Synth Methods 1:112)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from bayesmeta.errors import InputError
from bayesmeta.effect_data import EffectData
from bayesmeta.frequentist.inputs import canonical_method, canonical_test, effects_input
from bayesmeta.frequentist.result import RmaResult
from bayesmeta.frequentist.rma import rma

COLUMNS = ("k", "estimate", "se", "zval", "pval", "ci_lower", "ci_upper", "q", "q_p", "tau2", "i2", "h2")


def study_labels(study: Sequence[str] | None, k: int) -> list[str]:
    """Study labels, defaulting to "1".."k" as metafor does; duplicates are refused."""
    if study is None:
        return [str(i + 1) for i in range(k)]
    labels = [str(s) for s in study]
    if len(labels) != k:
        raise InputError(f"{len(labels)} study labels for {k} studies", column="study")
    dup = pd.Index(labels)[pd.Index(labels).duplicated()]
    if len(dup):
        raise InputError(f"study label '{dup[0]}' appears more than once", column="study")
    return labels


def summary_row(fit: RmaResult) -> dict[str, float]:
    """The columns metafor prints for each refit (its 'zval' is a t value with knha)."""
    return {
        "k": fit.k,
        "estimate": fit.estimate,
        "se": fit.se,
        "zval": fit.zval,
        "pval": fit.pval,
        "ci_lower": fit.ci_lower,
        "ci_upper": fit.ci_upper,
        "q": fit.q,
        "q_p": fit.q_p,
        "tau2": fit.tau2,
        "i2": fit.i2,
        "h2": fit.h2,
    }


def leave_one_out(
    data: EffectData | ArrayLike,
    vi: ArrayLike | None = None,
    method: str = "REML",
    study: Sequence[str] | None = None,
    test: str = "z",
    level: float = 0.95,
    *,
    sei: ArrayLike | None = None,
) -> pd.DataFrame:
    """Refit the model k times, each time without one study; one row per omitted study (index 'omitted').
    ``data``: an EffectData, or the effects yi with ``vi`` (or ``sei``) and ``study`` labels.

    With k = 2 each refit is a single study, reported as metafor does (tau^2 = 0, I^2 = 0, a z test).
    """
    method = canonical_method(method)
    test = canonical_test(test)
    y, v, study = effects_input(data, vi, sei=sei, study=study, min_k=2)
    k = y.size
    labels = study_labels(study, k)
    rows = []
    for i in range(k):
        keep = np.arange(k) != i
        rows.append(summary_row(rma(y[keep], v[keep], method=method, test=test if k > 2 else "z", level=level)))
    return pd.DataFrame(rows, index=pd.Index(labels, name="omitted"), columns=list(COLUMNS))
