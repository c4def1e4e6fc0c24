"""NUTS fit of the binomial-normal model on arm counts (the exact binomial likelihood, no normal approximation).

Model (see :mod:`bayesmeta.mcmc.models`): events_ti ~ Bin(n_ti, expit(alpha_i + theta_i/2)), events_ci ~
Bin(n_ci, expit(alpha_i - theta_i/2)), alpha_i ~ N(m_alpha, s_alpha^2), theta_i = mu + tau z_i on the log odds
ratio scale (Smith, Spiegelhalter & Thomas 1995; Stijnen, Hamza & Ozdemir 2010; Jackson et al. 2018). A
study with no events in either arm stays in the likelihood (it informs the baselines), unlike the two-stage
analysis of log odds ratios, which has to drop it.

Only the odds ratio is offered. A log-link binomial model for the risk ratio needs p_ci * RR_i <= 1 in every
study for every draw, which a normal random-effects distribution for log RR_i cannot guarantee; bounding it
would change the model in ways the normal-normal model on log RR does not, so ``measure='RR'`` raises a
:class:`~bayesmeta.errors.ModelError` pointing to the two valid alternatives rather than fitting an OR silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy import special

from bayesmeta.effect_data import EffectData, count_columns
from bayesmeta.effects import log_or_from_counts
from bayesmeta.errors import ModelError
from bayesmeta.mcmc.fit import check_identified
from bayesmeta.mcmc.inputs import arm_counts
from bayesmeta.mcmc.models import ParamSpec, Structure, pad, padded_size
from bayesmeta.mcmc.prior_forms import prior_form
from bayesmeta.mcmc.run import (
    FitRecord,
    SamplerSettings,
    build_posterior,
    draws_of,
    predictive_draws,
    prior_scaling_data,
    sample,
)
from bayesmeta.posterior import Posterior
from bayesmeta.priors import Prior, parse_prior

if TYPE_CHECKING:
    import pandas as pd


def _binom_logpmf(
    events: np.ndarray, total: np.ndarray, logit_p: np.ndarray
) -> np.ndarray:
    """log Bin(events; total, expit(logit_p)), stable for extreme logits (log expit(x) = -log(1 + e^-x))."""
    log_choose = (
        special.gammaln(total + 1)
        - special.gammaln(events + 1)
        - special.gammaln(total - events + 1)
    )
    return (
        log_choose
        - events * np.logaddexp(0.0, -logit_p)
        - (total - events) * np.logaddexp(0.0, logit_p)
    )


def centred_baselines(
    events_treatment: np.ndarray, total_treatment: np.ndarray, events_control: np.ndarray,
    total_control: np.ndarray,
) -> np.ndarray:
    """1 where a study's baseline is better sampled centred, else 0.

    Centring suits a latent variable whose data identify it much better than its population distribution does
    (Papaspiliopoulos et al. 2007; Betancourt & Girolami 2015): here when the data sd of alpha_i, 1/sqrt(I_i),
    is below half the population spread, with I_i = sum over arms of n p (1 - p) (p with 0.5 added to each cell)
    and the spread estimated by the sd of the studies' empirical mid-point logits (at least 0.1). Either choice
    leaves the model unchanged; only the sampler's efficiency differs.
    """
    k = np.size(events_treatment)
    info = np.zeros(k)
    logits = np.zeros(k)
    for events, total in ((events_treatment, total_treatment), (events_control, total_control)):
        p = (events + 0.5) / (total + 1.0)
        info += total * p * (1 - p)
        logits += np.log(p / (1 - p)) / 2
    spread = max(float(np.std(logits, ddof=1)) if k > 1 else 0.0, 0.1)
    return (info * spread**2 > 4.0).astype(float)


def fit_binomial_nuts(
    data: EffectData | pd.DataFrame | Mapping[str, Sequence[int] | np.ndarray],
    *,
    study: Sequence[str] | None = None,
    measure: str | None = None,
    mu_prior: str | Prior = "normal(0, 4)",
    tau_prior: str | Prior = "halfnormal(0.5)",
    baseline_mean_prior: str | Prior = "normal(0, 10)",
    baseline_sd_prior: str | Prior = "halfnormal(2.5)",
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    cores: int | None = None,
    seed: int = 0,
    strict: bool = False,
    target_accept: float = 0.9,
    progressbar: bool = False,
    pad_to: int | None = None,
) -> Posterior:
    """Binomial-normal random-effects model for the log odds ratio from arm counts.

    ``data`` is an :class:`~bayesmeta.effect_data.EffectData` with arm counts (``data.counts``, which keep the
    studies with no events in either arm; ``measure`` defaults to the data's) or a table (DataFrame or mapping)
    with the columns events_treatment, total_treatment, events_control, total_control (``study`` labels, else
    its ``study`` column; ``measure`` defaults to OR). The posterior's ``likelihood`` is "binomial".
    ``mu``, ``tau``, ``theta[<study>]`` and ``predictive`` are on the log-OR scale. The study baselines alpha_i
    (the mean of the two arms' log-odds) are exchangeable, alpha_i ~ N(m_alpha, s_alpha^2), with weakly
    informative priors ``baseline_mean_prior`` and ``baseline_sd_prior`` on the logit scale. The Posterior's
    ``yi``/``sei`` are the
    empirical log-ORs of metafor's ``escalc`` (0.5 added to every cell of a study with a zero cell), for display
    only: a study with no events in either arm has none (NaN, with a warning) but still enters the likelihood.
    """
    columns, labels = count_columns(data, study)
    if measure is None:
        measure = data.measure if isinstance(data, EffectData) else "OR"
    if measure == "RR":
        raise ModelError(
            "the binomial-normal model is fitted on the log odds ratio only: a log-link model for the risk ratio "
            "needs p_control * RR <= 1 in every study, which a normal random-effects distribution cannot "
            "guarantee; use measure='OR', or fit_nuts on the log risk ratios (normal approximation)"
        )
    if measure != "OR":
        raise ModelError(f"unknown measure {measure!r} for arm counts (valid: 'OR')")
    a, n1, c, n2, ids = arm_counts(*columns, labels)
    k = a.size
    mu = parse_prior(mu_prior, for_param="mu")
    tau = parse_prior(tau_prior, for_param="tau")
    m_alpha = parse_prior(baseline_mean_prior, for_param="mu")
    s_alpha = parse_prior(baseline_sd_prior, for_param="tau")
    if not (m_alpha.proper and s_alpha.proper):
        raise ModelError(
            "the baseline priors must be proper (e.g. normal(0, 10) and halfnormal(2.5))"
        )
    if tau.family == "jeffreys":
        raise ModelError(
            "the jeffreys prior is defined through within-study standard errors; arm counts have "
            "none in this model (valid: a proper tau prior such as halfnormal(0.5))"
        )
    check_identified(k, (mu,), tau, None)
    y, var, _ = log_or_from_counts(a, n1, c, n2)
    y, sei = (
        np.atleast_1d(np.asarray(y, dtype=float)),
        np.sqrt(np.atleast_1d(np.asarray(var, dtype=float))),
    )
    notes = [
        f"Study {ids[i]!r} has no events in either arm: it enters the binomial likelihood but has no empirical "
        "log odds ratio to display."
        for i in np.flatnonzero(~np.isfinite(y))
    ]
    settings = SamplerSettings(
        draws, tune, chains, cores, seed, target_accept, progressbar
    )
    priors = {"mu": mu, "tau": tau, "baseline_mean": m_alpha, "baseline_sd": s_alpha}
    forms = {name: prior_form(prior) for name, prior in priors.items()}
    k_pad = padded_size(k, pad_to)
    structure = Structure(
        likelihood="binomial",
        k_pad=k_pad,
        mu=ParamSpec.from_form(forms["mu"]),
        tau=ParamSpec.from_form(forms["tau"]),
        baseline_mean=ParamSpec.from_form(forms["baseline_mean"]),
        baseline_sd=ParamSpec.from_form(forms["baseline_sd"]),
    )
    centred = centred_baselines(a, n1, c, n2)
    data = {
        "events_t": pad(a, k_pad, 0),
        "total_t": pad(n1, k_pad, 1),
        "events_c": pad(c, k_pad, 0),
        "total_c": pad(n2, k_pad, 1),
        "mask": pad(np.ones(k), k_pad, 0.0),
        "centred": pad(centred, k_pad, 0.0),
    }
    data.update(prior_scaling_data(structure, forms))
    raw, record = sample(structure, data, settings)

    post = {
        "mu": draws_of(raw, "mu"),
        "tau": draws_of(raw, "tau"),
        "baseline_mean": draws_of(raw, "baseline_mean"),
        "baseline_sd": draws_of(raw, "baseline_sd"),
    }
    post["theta"] = (
        post["mu"][..., None] + post["tau"][..., None] * draws_of(raw, "z")[..., :k]
    )
    post["predictive"] = predictive_draws(post["mu"], post["tau"], seed)
    centre, spread = post["baseline_mean"][..., None], post["baseline_sd"][..., None]
    raw_a = draws_of(raw, "a")[..., :k]
    alpha = (1 - centred) * (centre + spread * raw_a) + centred * raw_a
    loglik = _binom_logpmf(a, n1, alpha + post["theta"] / 2) + _binom_logpmf(
        c, n2, alpha - post["theta"] / 2
    )
    fit = FitRecord(
        raw=raw,
        record=record,
        post=post,
        loglik={"events": loglik},
        observed={"events_treatment": a, "events_control": c},
        constant={
            "total_treatment": n1,
            "total_control": n2,
            "centred_baseline": centred,
        },
        priors={"mu": mu, "tau": tau},
        prior_texts={
            "mu": mu.text,
            "tau": tau.text,
            "baseline_mean": m_alpha.text,
            "baseline_sd": s_alpha.text,
        },
        study=ids,
        yi=y,
        sei=sei,
        measure="OR",
        seed=seed,
        diagnose_vars=["mu", "tau", "theta", "baseline_mean", "baseline_sd"],
        notes=notes,
        likelihood="binomial",
    )
    return build_posterior(fit, strict)
