"""Published pooled estimates of the meta-analyses beside their reanalysis, and their reinterpretation under each
prior set's effect prior.

The published estimate with its CI gives a normal likelihood on the analysis scale, y = est (log est for a
ratio) and se = (U - L) / (2 z_{0.975}); under the prior set's mu ~ N(m0, s0^2) the posterior is normal with
precision 1/se^2 + 1/s0^2 (conjugate; a flat prior leaves the likelihood). This is the reinterpretation of
Zampieri et al. (2021, Am J Respir Crit Care Med 203:543) applied with the batch's priors
(:mod:`bayesmeta.reinterpret` has the reference priors for single estimates).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from bayesmeta.benefit import Benefit
from bayesmeta.data import numeric_column, read_text_csv, spreadsheet_row
from bayesmeta.errors import InputError
from bayesmeta.priors import NormalPrior, PriorSet
from bayesmeta.scales import is_ratio, prob_column

_Z975 = stats.norm.ppf(0.975)


def read_published(path: str | Path, group: str) -> pd.DataFrame:
    """Columns group, estimate, ci_lower, ci_upper (reported scale, 95% CI), one row per meta-analysis."""
    file = str(path)
    frame = read_text_csv(path)
    for column in (group, "estimate", "ci_lower", "ci_upper"):
        if column not in frame.columns:
            raise InputError(f"missing column '{column}'", file=file, column=column,
                             valid=f"columns {group}, estimate, ci_lower, ci_upper")
    out = pd.DataFrame({"group": frame[group].astype(str)})
    for column in ("estimate", "ci_lower", "ci_upper"):
        out[f"published_{column}"] = numeric_column(frame, column, file, required=True).to_numpy()
    duplicated = np.flatnonzero(out["group"].duplicated().to_numpy())
    if duplicated.size:
        raise InputError("group appears more than once", file=file, row=spreadsheet_row(int(duplicated[0])),
                         column=group, valid="one published estimate per meta-analysis")
    bad = np.flatnonzero(~((out.published_ci_lower < out.published_estimate)
                           & (out.published_estimate < out.published_ci_upper)).to_numpy())
    if bad.size:
        raise InputError("the estimate is not inside its CI", file=file, row=spreadsheet_row(int(bad[0])),
                         column="estimate", valid="ci_lower < estimate < ci_upper")
    return out


def reinterpret_rows(results: pd.DataFrame, published: pd.DataFrame, prior_sets: Sequence[PriorSet],
                     thresholds: Sequence[float], benefit: Benefit, level: float = 0.95,
                     measure: str | None = None) -> pd.DataFrame:
    """The results with the published estimate and its reinterpretation (``reinterpreted_median``,
    ``reinterpreted_ci_lower/upper`` on the analysis scale, ``reinterpreted_prob_...``) under each row's prior
    set; ``measure`` is the table's (default: the first in the results' ``measure`` column, else GEN)."""
    out = results.merge(published, on="group", how="left")
    if measure is None:
        measure = str(out["measure"].dropna().iloc[0]) if out["measure"].notna().any() else "GEN"
    tr = np.log if is_ratio(measure) and (published.filter(like="published_").to_numpy() > 0).all() else (lambda x: x)
    if is_ratio(measure) and tr is not np.log:
        raise InputError("a ratio's published estimate and CI must be positive", column="estimate")
    y = tr(out["published_estimate"].to_numpy(dtype=float))
    se = (tr(out["published_ci_upper"].to_numpy(dtype=float)) - tr(out["published_ci_lower"].to_numpy(dtype=float))) \
        / (2 * _Z975)
    sets = {p.name: p for p in prior_sets}
    m0 = np.array([sets[p].mu.mean if isinstance(sets[p].mu, NormalPrior) else 0.0 for p in out["prior_set"]])
    prec0 = np.array([1 / sets[p].mu.sd**2 if isinstance(sets[p].mu, NormalPrior) else 0.0 for p in out["prior_set"]])
    prec = 1 / se**2 + prec0
    mean, sd = (y / se**2 + m0 * prec0) / prec, np.sqrt(1 / prec)
    z = stats.norm.ppf(0.5 + level / 2)
    out["reinterpreted_median"] = mean
    out["reinterpreted_ci_lower"], out["reinterpreted_ci_upper"] = mean - z * sd, mean + z * sd
    for t in thresholds:
        x = np.log(t) if is_ratio(measure) else t
        p = stats.norm.cdf((x - mean) / sd)
        out[f"reinterpreted_{prob_column(t, benefit)}"] = p if benefit.below else 1 - p
    return out
