"""Subgroup analysis: pooled estimate per level of a study-level factor and a test of subgroup differences."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from bayesmeta.errors import InputError, ModelError
from bayesmeta.effect_data import EffectData
from bayesmeta.frequentist.inputs import canonical_method, canonical_test, check_level, effects_input
from bayesmeta.frequentist.result import plain
from bayesmeta.frequentist.rma import rma

GROUP_COLUMNS = ("k", "estimate", "se", "ci_lower", "ci_upper", "tau2", "i2", "q", "q_p")


@dataclass(frozen=True)
class SubgroupResult:
    """Per-group fits (``groups``, indexed by level) and the between-group test.

    ``model`` is 'common' (Q_between = Q_total - sum Q_within) or 'random' (Wald-type Q of the subgroup
    estimates with separate tau^2 per subgroup, R meta ``test.subgroup`` with ``tau.common = FALSE``).
    """

    method: str
    model: str
    groups: pd.DataFrame
    q_between: float
    df_between: int
    p_between: float
    q_within: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "model": self.model,
            "groups": {
                str(g): {c: plain(self.groups.at[g, c]) for c in self.groups.columns} for g in self.groups.index
            },
            "q_between": plain(self.q_between),
            "df_between": self.df_between,
            "p_between": plain(self.p_between),
            "q_within": plain(self.q_within),
        }


def _group_labels(groups: ArrayLike | Sequence[Any], k: int) -> np.ndarray:
    labels = pd.Series(list(groups) if not isinstance(groups, pd.Series) else groups.to_list(), dtype=object)
    if len(labels) != k:
        raise InputError(f"'groups' has {len(labels)} values for {k} studies", column="groups")
    missing = np.flatnonzero(labels.isna().to_numpy())
    if missing.size:
        raise InputError(f"'groups' is missing at study {missing[0] + 1}", column="groups", valid="a level name")
    return labels.astype(str).to_numpy()


def subgroup_analysis(
    data: EffectData | ArrayLike,
    vi: ArrayLike | None = None,
    groups: ArrayLike | Sequence[Any] | str | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    *,
    sei: ArrayLike | None = None,
) -> SubgroupResult:
    """Fit ``rma`` within each subgroup (levels in order of first appearance) and test for differences.

    Common effect (method='FE'): Q_between = Q_total - sum_g Q_g on G - 1 df (Borenstein et al. 2009, ch. 19).
    Random effects (any other method): each subgroup gets its own tau^2; Q_between = sum_g w_g (mu_g - mu_bar)^2
    with w_g = 1/se_g^2 and mu_bar their weighted mean, on G - 1 df, as R meta's test for subgroup differences
    under the random-effects model. A single-study subgroup contributes its own estimate (tau^2 = 0).
    ``data``: an EffectData (``groups`` may then name one of its covariates), or the effects yi with ``vi``
    (or ``sei``).
    """
    if groups is None:
        raise InputError("a subgroup analysis needs the studies' groups", column="groups")
    if isinstance(groups, str) and isinstance(data, EffectData):
        groups = data.covariate(groups).tolist()
    method = canonical_method(method)
    test = canonical_test(test)
    level = check_level(level)
    y, v, _ = effects_input(data, vi, sei=sei, min_k=2)
    labels = _group_labels(groups, y.size)
    levels = list(dict.fromkeys(labels))
    if len(levels) < 2:
        raise ModelError(f"a subgroup analysis needs at least two levels; found only '{levels[0]}'")
    rows = {}
    for g in levels:
        sel = labels == g
        fit = rma(y[sel], v[sel], method=method, test=test if sel.sum() > 1 else "z", level=level)
        rows[g] = {
            "k": fit.k,
            "estimate": fit.estimate,
            "se": fit.se,
            "ci_lower": fit.ci_lower,
            "ci_upper": fit.ci_upper,
            "tau2": fit.tau2,
            "i2": fit.i2,
            "q": fit.q,
            "q_p": fit.q_p,
        }
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(GROUP_COLUMNS))
    table.index.name = "group"
    df_between = len(levels) - 1
    q_within = float(table["q"].sum())
    if method == "FE":
        q_total = rma(y, v, method="FE").q
        q_between = max(0.0, q_total - q_within)
        model = "common"
    else:
        w = 1.0 / table["se"].to_numpy() ** 2
        mu = table["estimate"].to_numpy()
        mu_bar = np.sum(w * mu) / np.sum(w)
        q_between = float(np.sum(w * (mu - mu_bar) ** 2))
        model = "random"
    return SubgroupResult(
        method=method,
        model=model,
        groups=table,
        q_between=float(q_between),
        df_between=df_between,
        p_between=float(stats.chi2.sf(q_between, df_between)),
        q_within=q_within,
    )
