"""Leave-one-study-out influence on the exact posterior (the Bayesian counterpart of metafor's ``leave1out``;
Viechtbauer & Cheung 2010, Res Synth Methods 1:112, for the frequentist diagnostics).

For each study i the normal-normal model is refitted without it -- all k refits and the full fit in one batched
call of the exact engine (:func:`bayesmeta.exact.fit_exact_batch` with a mask) -- and the table reports the
pooled effect (median and interval, on the ratio scale for HR/RR/OR), P(ratio < t) for each threshold, tau's
median and two measures of how far the posterior of mu moved:

- ``shift_sd`` = (median_{-i} - median) / sd: the change of the posterior median of mu in units of the full
  posterior's standard deviation;
- ``kl`` = KL(p(mu | y) || p(mu | y_{-i})), the information lost about mu when the posterior without study i
  is used in place of the full one (case-deletion Kullback-Leibler divergence; Csiszar 1967 / Peng & Dey 1995),
  computed from the exact CDFs on a fine grid (bin probabilities; converges to the continuous divergence).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from bayesmeta.benefit import Benefit
from bayesmeta.effect_data import EffectData, effect_args
from bayesmeta.errors import InputError, ModelError
from bayesmeta.posterior import Posterior
from bayesmeta.priors import Prior, parse_prior
from bayesmeta.scales import prob_column, to_analysis, to_reported

_KL_BINS = 2000
_KL_TAIL = 1e-10


def leave_one_out(
    data: EffectData | Any,
    sei: Any = None,
    *,
    mu_prior: str | Prior,
    tau_prior: str | Prior,
    vi: Any = None,
    study: Sequence[str] | None = None,
    measure: str | None = None,
    thresholds: Sequence[float] = (1.0, 0.7),
    level: float = 0.95,
    benefit: Benefit | str | None = None,
) -> pd.DataFrame:
    """Exact posterior with each study omitted (see the module docstring).

    ``data``: an EffectData, or the effects yi with ``sei`` (or ``vi``), ``study`` labels, ``measure``
    (default GEN) and ``benefit`` (default below). Columns (index ``omitted``): median, ci_lower, ci_upper (the
    pooled effect, exp(mu) for ratio measures), ``prob_below_<t>`` for each threshold (``prob_above_<t>`` when
    benefit lies above), tau_median, shift_sd, kl. ``attrs['full']`` holds the same summaries for the full data
    (and its sd of mu).
    """
    from bayesmeta.exact import fit_exact_batch

    args = effect_args(data, sei, vi=vi, study=study, measure=measure, benefit=benefit)
    measure, benefit = args.measure, args.benefit
    y_arr = np.asarray(args.yi, dtype=float).ravel()
    s_arr = np.asarray(args.errors(), dtype=float).ravel()
    k = y_arr.size
    if s_arr.shape != y_arr.shape:
        raise InputError(f"yi and sei differ in length ({y_arr.size} and {s_arr.size})")
    if k < 3:
        raise ModelError(f"leave-one-out needs at least 3 studies, got {k}")
    if not (np.all(np.isfinite(y_arr)) and np.all(np.isfinite(s_arr)) and np.all(s_arr > 0)):
        raise InputError("effects must be finite with positive standard errors", column="sei")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    ids = list(args.study) if args.study is not None else [str(i + 1) for i in range(k)]
    if len(ids) != k:
        raise InputError(f"{len(ids)} study labels for {k} studies", column="study")
    mu, tau = parse_prior(mu_prior, "mu"), parse_prior(tau_prior, "tau")

    # Row 0: all studies; row i + 1: study i left out.
    mask = np.vstack([np.ones(k, dtype=bool), ~np.eye(k, dtype=bool)])
    batch = fit_exact_batch(
        y_arr,
        s_arr,
        mu_prior=mu,
        tau_prior=tau,
        mask=mask,
    )
    median = np.asarray(batch.ppf(0.5, "mu"), dtype=float)
    ci = np.asarray(batch.interval(level, "mu"), dtype=float)
    sd = np.asarray(batch.std("mu"), dtype=float)
    tau_median = np.asarray(batch.ppf(0.5, "tau"), dtype=float)
    probs = {}
    for t in thresholds:
        p = np.clip(np.asarray(batch.cdf(to_analysis(float(t), measure), "mu"), dtype=float), 0.0, 1.0)
        probs[prob_column(float(t), benefit)] = p if benefit.below else 1.0 - p

    table = pd.DataFrame({"omitted": ids})
    table["median"] = to_reported(median[1:], measure)
    table["ci_lower"] = to_reported(ci[1:, 0], measure)
    table["ci_upper"] = to_reported(ci[1:, 1], measure)
    for name, p in probs.items():
        table[name] = p[1:]
    table["tau_median"] = tau_median[1:]
    table["shift_sd"] = (median[1:] - median[0]) / sd[0]
    table["kl"] = _kl_from_full(batch, k + 1)
    table = table.set_index("omitted")
    full = {
        "median": float(to_reported(median[0], measure)),
        "ci_lower": float(to_reported(ci[0, 0], measure)),
        "ci_upper": float(to_reported(ci[0, 1], measure)),
        "tau_median": float(tau_median[0]),
        "sd_mu": float(sd[0]),
        **{name: float(p[0]) for name, p in probs.items()},
    }
    table.attrs.update({"full": full, "measure": measure, "level": level, "priors": {"mu": mu.text, "tau": tau.text}})
    return table


def influence(post: Posterior, **kwargs: Any) -> pd.DataFrame:
    """:func:`leave_one_out` on the data and priors of a fitted posterior (model without covariates, normal
    likelihood: the refits are exact normal-normal fits, so a binomial posterior is refused)."""
    post.require_normal("leave-one-out influence (exact normal-normal refits)")
    if post.covariates:
        raise ModelError("leave-one-out influence is implemented for the model without covariates")
    return leave_one_out(
        post.yi,
        post.sei,
        mu_prior=post.priors["mu"],
        tau_prior=post.priors["tau"],
        study=post.study,
        measure=post.measure,
        **kwargs,
    )


def _kl_from_full(batch: Any, n: int) -> np.ndarray:
    """KL(member 0 || member i) of the mu marginals for i = 1..n-1, from bin probabilities of the exact CDFs on
    a common grid spanning every member's 1e-10 to 1 - 1e-10 quantiles (plus the two outer tails)."""
    lo = float(np.min(np.asarray(batch.ppf(_KL_TAIL, "mu"), dtype=float)))
    hi = float(np.max(np.asarray(batch.ppf(1 - _KL_TAIL, "mu"), dtype=float)))
    edges = np.linspace(lo, hi, _KL_BINS + 1)
    cdf = np.vstack([np.asarray(batch.posterior(i).marginal("mu").cdf(edges), dtype=float) for i in range(n)])
    cdf = np.clip(cdf, 0.0, 1.0)
    mass = np.concatenate([cdf[:, :1], np.diff(cdf, axis=1), 1.0 - cdf[:, -1:]], axis=1)
    mass = np.clip(mass, 0.0, None)
    mass /= mass.sum(axis=1, keepdims=True)
    p = mass[0]
    q = np.maximum(mass[1:], 1e-300)
    return np.sum(special.rel_entr(p, q), axis=1)
