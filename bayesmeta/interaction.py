"""Within-trial interactions of within-trial strata (Fisher, Carpenter, Morris, Freeman & Tierney 2017, BMJ
356:j573, the "deft" approach; more than two levels as Godolphin, White, Tierney & Fisher 2023, Res Synth Methods
14:68).

The test of subgroup differences across levels (Q_between, :func:`bayesmeta.frequentist.subgroup_analysis`) compares
the pooled effect of one level's strata with another's: it mixes within-trial with across-trial information, and
trials that differ in their overall effect and in their mix of levels confound it (ecological bias). Here each
trial with both levels contributes its own interaction, the difference between its strata on the analysis scale,

    d_i = y_i(level) - y_i(reference),   v_i = v_i(level) + v_i(reference)

(the strata are disjoint groups of patients, hence independent), and the d_i are pooled: common effect and random
effects (REML, as metafor's ``rma(yi = d, vi = v)``), and the exact normal-normal posterior
(:func:`bayesmeta.exact.fit_exact`) with the prior set's ``beta`` prior on the mean interaction (the prior of a
contrast between levels, centred on no difference whatever the set's prior on the effect itself) and its ``tau``
prior on the interactions' between-trial SD. For a ratio measure exp(d) is a ratio of ratios (the level's ratio
over the reference's).

The reference level is the most frequent level, ties broken alphabetically (:func:`bayesmeta.design.reference_level`,
as the meta-regressions' factors); a characteristic with more levels gives one interaction per other level, each
from the trials with both that level and the reference and pooled on its own, and the joint common-effect model of
all levels (:func:`joint_interactions`; Godolphin et al. 2023): every trial with two levels or more contributes,
also one without the reference level, and the contrasts that share a stratum are correlated as they should be.
A trial's strata rows share its name: the column ``trial``
of the outcomes table where it has one, else the ``study_id`` without a trailing parenthesised label
("CANVAS (ASCVD)" and "CANVAS (risk factors only)" are both CANVAS). Trials without both levels are listed as not
contributing, never dropped silently.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayesmeta.benefit import Benefit
from bayesmeta.design import reference_level
from bayesmeta.frequentist import rma
from bayesmeta.scales import reported_float
from bayesmeta.summaries import Summary

TRIAL_COLUMN = "trial"
_LABEL = re.compile(r"\s*\([^()]*\)\s*$")


def trial_names(rows: pd.DataFrame) -> pd.Series:
    """Each stratum row's trial: its ``trial`` cell where the table has that column and the cell is filled, else
    its ``study_id`` without a trailing parenthesised label."""
    own = rows["study_id"].astype(str).map(lambda s: _LABEL.sub("", s).strip() or s.strip())
    if TRIAL_COLUMN in rows.columns:
        cell = rows[TRIAL_COLUMN]
        filled = cell.notna() & (cell.astype(str).str.strip() != "")
        own = own.where(~filled, cell.astype(str).str.strip())
    return own


@dataclass(frozen=True)
class PooledInteraction:
    """One frequentist pooling of the d_i (analysis scale): estimate, SE, CI, two-sided p, and tau^2 (0 for the
    common effect); ``reported``: estimate and CI on the reported scale (ratio of ratios for ratio measures)."""

    method: str
    estimate: float
    se: float
    ci_lower: float
    ci_upper: float
    pval: float
    tau2: float
    reported: dict[str, float]


@dataclass(frozen=True)
class WithinTrialInteraction:
    """The pooled within-trial interaction of one level against the reference level of a strata outcome's column.

    ``trials``/``d``/``v``: the contributing trials and their interactions (analysis scale); ``not_contributing``:
    trial -> why ('only level yes'). ``common``/``random``: the frequentist poolings (None when no trial
    contributes; ``random`` also with one). ``posterior``: the exact posterior of the mean interaction,
    ``{median, mean, sd, ci_lower, ci_upper}`` on the analysis scale; ``reported``: its median and interval on the
    reported scale (ratio of ratios for ratio measures); ``prob_level_better``: P(the interaction lies on the
    outcome's benefit side of 0), i.e. the level's effect more beneficial than the reference's. ``across``: the
    test of subgroup differences across levels on the same strata (q_between, df_between, p_between, method)."""

    outcome: str
    strata: str
    variable: str
    measure: str
    level: str
    reference: str
    trials: tuple[str, ...]
    d: tuple[float, ...]
    v: tuple[float, ...]
    not_contributing: dict[str, str]
    common: PooledInteraction | None
    random: PooledInteraction | None
    mu_prior: str
    tau_prior: str
    posterior: dict[str, float] | None
    reported: dict[str, float] | None
    prob_level_better: float | None
    ci_level: float
    across: dict[str, Any] = field(default_factory=dict)
    joint: dict[str, Any] | None = None

    @property
    def k(self) -> int:
        return len(self.trials)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["k"] = self.k
        return out


@dataclass(frozen=True)
class JointInteractions:
    """The common-effect within-trial model of all levels of a characteristic (Godolphin, White, Tierney & Fisher
    2023, Res Synth Methods 14:68): y_il = alpha_i + delta_l + e_il, e_il ~ N(0, v_il), a free intercept alpha_i per
    trial and delta_reference = 0, fitted by weighted least squares (metafor's ``rma(yi, vi, mods = ~ factor(trial)
    + factor(level), method = "FE")``). With the trial intercepts profiled out (Frisch-Waugh), the information is
    I = sum_i sum_l w_il (z_il - zbar_i)(z_il - zbar_i)' and the score U = sum_i sum_l w_il (z_il - zbar_i) y_il,
    z_il the indicators of the non-reference levels and zbar_i their w-weighted mean in trial i: delta = I^-1 U with
    covariance I^-1. ``qm``: the Wald test of no interaction at any level, delta' I delta on ``len(levels)`` df."""

    reference: str
    levels: tuple[str, ...]
    trials: tuple[str, ...]
    estimate: tuple[float, ...]
    vcov: tuple[tuple[float, ...], ...]
    qm: float
    qm_df: int
    qm_p: float


def joint_interactions(rows: pd.DataFrame, column: str, reference: str) -> JointInteractions | None:
    """:class:`JointInteractions` of ``column`` against ``reference`` from a strata outcome's rows (``study_id``,
    ``yi``, ``vi``, ``column``): the trials with two levels or more, each at most once (a trial with two rows of a
    level is left out, as :func:`pair_levels` lists it). None with fewer than two other levels, or when the trials
    do not identify every level's contrast."""
    from scipy import stats

    text = rows[column].astype(str).str.strip().to_numpy()
    folded = np.array([x.casefold() for x in text])
    others = [x for x in dict.fromkeys(text) if x.casefold() != reference.casefold()]
    if len(others) < 2:
        return None
    index = {x.casefold(): j for j, x in enumerate(others)}
    trials = trial_names(rows).to_numpy()
    y, w = rows["yi"].to_numpy(float), 1.0 / rows["vi"].to_numpy(float)
    info, score, used = np.zeros((len(others), len(others))), np.zeros(len(others)), []
    for trial in dict.fromkeys(trials):
        mine = np.flatnonzero(trials == trial)
        if len(mine) < 2 or len(set(folded[mine])) < len(mine):
            continue
        z = np.zeros((len(mine), len(others)))
        for r, i in enumerate(mine):
            if folded[i] in index:
                z[r, index[folded[i]]] = 1.0
        wi = w[mine]
        centred = z - (wi @ z) / wi.sum()
        info += centred.T @ (wi[:, None] * centred)
        score += centred.T @ (wi * y[mine])
        used.append(str(trial))
    if np.linalg.matrix_rank(info) < len(others):
        return None
    vcov = np.linalg.inv(info)
    delta = vcov @ score
    qm = float(delta @ info @ delta)
    return JointInteractions(reference=reference, levels=tuple(others), trials=tuple(used),
                             estimate=tuple(float(x) for x in delta),
                             vcov=tuple(tuple(float(x) for x in row) for row in vcov), qm=qm, qm_df=len(others),
                             qm_p=float(stats.chi2.sf(qm, len(others))))


def _joint_row(joint: JointInteractions, level: str, ci_level: float, measure: str) -> dict[str, Any]:
    """One level's entry of the joint model: estimate, se, CI, p (analysis scale), reported, and the joint test."""
    from scipy import stats

    j = joint.levels.index(level)
    est, se = joint.estimate[j], float(np.sqrt(joint.vcov[j][j]))
    z = float(stats.norm.ppf(0.5 + ci_level / 2))
    lo, hi = est - z * se, est + z * se
    return {"estimate": est, "se": se, "ci_lower": lo, "ci_upper": hi, "pval": float(2 * stats.norm.sf(abs(est / se))),
            "reported": {k: reported_float(x, measure) for k, x in (("estimate", est), ("ci_lower", lo),
                                                                     ("ci_upper", hi))},
            "k": len(joint.trials), "trials": list(joint.trials), "qm": joint.qm, "qm_df": joint.qm_df,
            "qm_p": joint.qm_p}


def _pooled(d: np.ndarray, v: np.ndarray, method: str, level: float, measure: str) -> PooledInteraction:
    fit = rma(d, v, method=method, level=level)
    shown = {"estimate": fit.estimate, "ci_lower": fit.ci_lower, "ci_upper": fit.ci_upper}
    return PooledInteraction(fit.method, fit.estimate, fit.se, fit.ci_lower, fit.ci_upper, fit.pval, fit.tau2,
                             {k: reported_float(x, measure) for k, x in shown.items()})


def pair_levels(rows: pd.DataFrame, column: str, level: str, reference: str
                ) -> tuple[list[str], list[float], list[float], dict[str, str]]:
    """(trials, d_i, v_i, not contributing) of ``level`` against ``reference``: a trial contributes when it has
    exactly one row of each; otherwise it is listed with the reason."""
    text = rows[column].astype(str).str.strip().str.casefold().to_numpy()
    trials = trial_names(rows).to_numpy()
    y, var = rows["yi"].to_numpy(float), rows["vi"].to_numpy(float)
    names, d, v, out = [], [], [], {}
    for trial in dict.fromkeys(trials):
        mine = np.flatnonzero(trials == trial)
        at = {x: mine[text[mine] == x.casefold()] for x in (level, reference)}
        many = next((x for x, i in at.items() if len(i) > 1), None)
        if many is not None:
            out[trial] = f"{len(at[many])} rows of level {many}"
        elif all(len(i) == 1 for i in at.values()):
            names.append(trial)
            d.append(float(y[at[level][0]] - y[at[reference][0]]))
            v.append(float(var[at[level][0]] + var[at[reference][0]]))
        else:
            out[trial] = f"only level {next(x for x, i in at.items() if len(i))}" if any(len(i) for i in
                                                                                           at.values()) \
                else f"neither {level} nor {reference}"
    return names, d, v, out


def within_trial_interactions(rows: pd.DataFrame, column: str, *, outcome: str, strata: str, variable: str,
                              measure: str, benefit: Benefit | str, mu_prior: Any, tau_prior: Any,
                              level: float = 0.95, across: dict[str, Any] | None = None
                              ) -> list[WithinTrialInteraction]:
    """One :class:`WithinTrialInteraction` per level of ``column`` other than the reference level (see the
    module docstring), from a strata outcome's rows (``study_id``, ``yi``, ``vi`` and ``column``). ``mu_prior``
    and ``tau_prior``: the priors of the mean interaction and of its between-trial SD (the reanalysis passes the
    main prior set's ``beta`` and ``tau``)."""
    from bayesmeta.errors import ModelError
    from bayesmeta.exact import fit_exact

    kept = rows[rows[column].notna() & (rows[column].astype(str).str.strip() != "")]
    labels = kept[column].astype(str).str.strip()
    reference = reference_level(labels)
    benefit = Benefit(benefit) if not isinstance(benefit, Benefit) else benefit
    joint = joint_interactions(kept, column, reference)
    out = []
    for lv in dict.fromkeys(labels):
        if lv.casefold() == reference.casefold():
            continue
        names, d, v, missing = pair_levels(kept, column, lv, reference)
        da, va = np.asarray(d, float), np.asarray(v, float)
        common = _pooled(da, va, "FE", level, measure) if len(da) else None
        random = _pooled(da, va, "REML", level, measure) if len(da) else None
        posterior = reported = prob = None
        if len(da):
            try:
                post = fit_exact(da, np.sqrt(va), study=names, measure=measure, mu_prior=mu_prior,
                                 tau_prior=tau_prior, seed=None)
            except ModelError:
                post = None
            if post is not None:
                m = post.marginal("mu")
                summary = Summary.of(m, level)
                posterior, reported = asdict(summary), summary.reported(measure)
                below = float(np.clip(m.cdf(0.0), 0.0, 1.0))
                prob = below if benefit.below else 1.0 - below
        out.append(WithinTrialInteraction(
            outcome=outcome, strata=strata, variable=variable, measure=measure, level=lv, reference=reference,
            trials=tuple(names), d=tuple(d), v=tuple(v), not_contributing=missing, common=common, random=random,
            mu_prior=getattr(mu_prior, "text", str(mu_prior)), tau_prior=getattr(tau_prior, "text", str(tau_prior)),
            posterior=posterior, reported=reported, prob_level_better=prob, ci_level=level,
            across=dict(across or {}), joint=None if joint is None else _joint_row(joint, lv, level, measure)))
    return out


__all__ = ["TRIAL_COLUMN", "JointInteractions", "PooledInteraction", "WithinTrialInteraction", "joint_interactions",
           "pair_levels", "trial_names", "within_trial_interactions"]
