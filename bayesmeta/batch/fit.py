"""One partition of meta-analyses under several prior sets: exact posteriors (vectorised), Bayes factors and the
frequentist DL/REML fits beside them, as one row per meta-analysis x prior set.

Posterior summaries come from :class:`bayesmeta.exact.ExactBatch` (Roever 2020, J Stat Softw 93(6)): mu and the
predictive effect are normal mixtures over the tau nodes, tau has its exact CDF. Bayes factors are the
Savage-Dickey ratios of :mod:`bayesmeta.exact.bayes_factor` (BF_10 = p(value) / p(value | y), Dickey 1971),
computed for all members at once; NaN where a prior is improper or has density 0 at the value. Every number is on
the analysis scale (log ratios for HR, RR, OR); thresholds are given on the reported scale.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bayesmeta.batch.frequentist import fit_frequentist
from bayesmeta.batch.table import GroupEffects, GroupError
from bayesmeta.benefit import Benefit
from bayesmeta.errors import BayesmetaError
from bayesmeta.exact.engine import fit_members
from bayesmeta.exact.mixture import mixture_cdf, mixture_pdf, mixture_ppf, mixture_sf
from bayesmeta.priors import PriorSet
from bayesmeta.scales import prob_column, to_analysis

SUMMARY_PARAMS = ("mu", "tau", "predictive")


def threshold_columns(thresholds: Sequence[float], benefit: Benefit) -> list[str]:
    """Column names of P(mu beyond each threshold on the benefit side)."""
    return [prob_column(t, benefit) for t in thresholds]


def _summaries(batch, level: float) -> dict[str, np.ndarray]:
    probs = np.array([(1 - level) / 2, 0.5, (1 + level) / 2])
    n = batch.n
    out: dict[str, np.ndarray] = {}
    for param in ("mu", "predictive"):
        w, m, s = batch.mixture_parameters(param)
        q = mixture_ppf(np.tile(probs, (n, 1)), w[:, None, :], m[:, None, :], s[:, None, :])
        out[f"{param}_median"], out[f"{param}_ci_lower"], out[f"{param}_ci_upper"] = q[:, 1], q[:, 0], q[:, 2]
    out["mu_mean"], out["mu_sd"] = batch.mean("mu"), batch.std("mu")
    q = batch.taus.ppf(np.tile(probs, (n, 1)), np.arange(n))
    out["tau_median"], out["tau_ci_lower"], out["tau_ci_upper"] = q[:, 1], q[:, 0], q[:, 2]
    out["tau_mean"] = batch.mean("tau")
    return out


def _bayes_factors(batch, prior_set: PriorSet, sei: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    n = batch.n
    nan = np.full(n, np.nan)
    if not (prior_set.mu.proper and prior_set.tau.proper):
        return {"bf10_tau": nan, "bf10_mu": nan}
    with np.errstate(divide="ignore"):
        if "jeffreys" in prior_set.tau.text:
            tau0 = np.array([np.exp(prior_set.tau.logpdf(0.0, sei[i, mask[i]])) for i in range(n)], dtype=float)
        else:
            tau0 = np.full(n, float(np.exp(prior_set.tau.logpdf(0.0))))
        mu0 = float(np.exp(prior_set.mu.logpdf(0.0)))
    post_tau0 = batch.taus.pdf(np.zeros((n, 1)), np.arange(n))[:, 0]
    post_mu0 = mixture_pdf(np.zeros(n), *batch.mixture_parameters("mu"))
    with np.errstate(divide="ignore", invalid="ignore"):
        bf_tau = np.where(tau0 > 0, np.where(post_tau0 > 0, tau0 / post_tau0, np.inf), np.nan)
        bf_mu = np.where(mu0 > 0, np.where(post_mu0 > 0, mu0 / post_mu0, np.inf), np.nan)
    return {"bf10_tau": bf_tau, "bf10_mu": bf_mu}


def fit_prior_set(effects: GroupEffects, prior_set: PriorSet, thresholds: Sequence[float], benefit: Benefit,
                  level: float = 0.95, bucket: int = 4) -> dict[str, np.ndarray]:
    """Posterior summaries, P(mu beyond each threshold) and Bayes factors of every meta-analysis under one prior
    set: vectorised exact fits of the meta-analyses with similar k (ceil(k / bucket) equal), so that little of
    the work is spent on the padding of small meta-analyses to the width of the largest."""
    k = effects.mask.sum(axis=1)
    keys = -(-k // bucket)
    if np.unique(keys).size <= 1:
        return _fit_block(effects, prior_set, thresholds, benefit, level)
    out: dict[str, np.ndarray] = {}
    for key in np.unique(keys):
        rows = np.flatnonzero(keys == key)
        width = int(k[rows].max())
        block = GroupEffects([effects.groups[i] for i in rows], effects.yi[rows, :width], effects.sei[rows, :width],
                             effects.mask[rows, :width], effects.measure)
        for name, values in _fit_block(block, prior_set, thresholds, benefit, level).items():
            out.setdefault(name, np.empty(len(k)))[rows] = values
    return out


def _fit_block(effects: GroupEffects, prior_set: PriorSet, thresholds: Sequence[float], benefit: Benefit,
               level: float) -> dict[str, np.ndarray]:
    n, width = effects.yi.shape
    batch = fit_members(effects.yi, effects.sei, effects.mask, np.ones((width, 1)), [prior_set.mu] * n,
                        [prior_set.tau] * n, [[] for _ in range(n)], tuple(str(j) for j in range(width)),
                        measure=effects.measure)
    out = _summaries(batch, level)
    w, m, s = batch.mixture_parameters("mu")
    for t, name in zip(thresholds, threshold_columns(thresholds, benefit)):
        x = np.full(n, to_analysis(t, effects.measure))
        out[name] = mixture_cdf(x, w, m, s) if benefit.below else mixture_sf(x, w, m, s)
    out.update(_bayes_factors(batch, prior_set, effects.sei, effects.mask))
    return out


def _frequentist_columns(effects: GroupEffects, level: float) -> dict[str, np.ndarray]:
    fits = fit_frequentist(effects.yi, effects.sei**2, effects.mask, level)
    out = {}
    for method, fit in fits.items():
        key = method.lower()
        out[f"{key}_estimate"], out[f"{key}_ci_lower"], out[f"{key}_ci_upper"] = (
            fit["estimate"], fit["ci_lower"], fit["ci_upper"])
        out[f"{key}_tau"] = np.sqrt(fit["tau2"])
        out[f"{key}_pi_lower"], out[f"{key}_pi_upper"] = fit["pi_lower"], fit["pi_upper"]
    out["hk_ci_lower"], out["hk_ci_upper"] = fits["REML"]["hk_ci_lower"], fits["REML"]["hk_ci_upper"]
    return out


class _Fitted(list):
    """Indices of the members fitted, with their columns."""

    def __init__(self, rows: np.ndarray, values: dict[str, np.ndarray]) -> None:
        super().__init__(rows.tolist())
        self.rows, self.values = rows, values


def _subset(effects: GroupEffects, rows: np.ndarray) -> GroupEffects:
    return GroupEffects([effects.groups[i] for i in rows], effects.yi[rows], effects.sei[rows], effects.mask[rows],
                        effects.measure)


def _fit_isolated(effects: GroupEffects, prior_set: PriorSet, thresholds, benefit, level):
    """All members in one fit; when the model cannot be fitted to some (an improper posterior for a small k under
    improper priors), each is tried alone and those that fail become error rows."""
    rows = np.arange(len(effects.groups))
    try:
        return _Fitted(rows, fit_prior_set(effects, prior_set, thresholds, benefit, level)), []
    except BayesmetaError:
        pass
    good, failed = [], []
    for i in rows:
        try:
            fit_prior_set(_subset(effects, np.array([i])), prior_set, thresholds, benefit, level)
            good.append(i)
        except BayesmetaError as exc:
            failed.append(GroupError(effects.groups[i], None, None, str(exc)))
    good = np.array(good, dtype=int)
    values = fit_prior_set(_subset(effects, good), prior_set, thresholds, benefit, level) if good.size else {}
    return _Fitted(good, values), failed


def _error_frame(errors: Sequence[GroupError], prior_set: str) -> pd.DataFrame:
    return pd.DataFrame({
        "group": [e.group for e in errors], "prior_set": prior_set, "status": "error",
        "error_row": pd.array([e.row for e in errors], dtype="Int64"),
        "error_column": pd.Series([e.column for e in errors], dtype=object),
        "error_message": pd.Series([e.message for e in errors], dtype=object)})


def fit_partition(effects: GroupEffects, errors: Sequence[GroupError], prior_sets: Sequence[PriorSet],
                  thresholds: Sequence[float] = (), benefit: Benefit = Benefit.BELOW,
                  level: float = 0.95) -> pd.DataFrame:
    """One row per meta-analysis x prior set (status 'ok'), and one per unreadable meta-analysis x prior set
    (status 'error', with error_row, error_column, error_message)."""
    frames = []
    if effects.groups:
        freq = _frequentist_columns(effects, level)
        k = effects.mask.sum(axis=1)
        for prior_set in prior_sets:
            fitted, failed = _fit_isolated(effects, prior_set, thresholds, benefit, level)
            cols = {"group": [effects.groups[i] for i in fitted], "prior_set": prior_set.name, "status": "ok",
                    "k": k[fitted], "measure": effects.measure}
            cols.update(fitted.values)
            cols.update({key: value[fitted.rows] for key, value in freq.items()})
            frames.append(pd.DataFrame(cols))
            frames.append(_error_frame(failed, prior_set.name))
    for prior_set in prior_sets:
        frames.append(_error_frame(list(errors), prior_set.name))
    frames = [f for f in frames if len(f)]
    out = pd.concat(frames, ignore_index=True) if frames else _error_frame([], "")
    for column in ("error_row", "error_column", "error_message"):
        if column not in out.columns:
            out[column] = None
    out["error_row"] = out["error_row"].astype("Int64")
    out["k"] = out["k"].astype("Int64") if "k" in out.columns else pd.array([None] * len(out), dtype="Int64")
    out["error_column"] = out["error_column"].astype(object)
    out["error_message"] = out["error_message"].astype(object)
    return out
