"""NUTS fit of the normal-normal hierarchical model and the meta-regression."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from bayesmeta.effect_data import EffectData, effect_args
from bayesmeta.errors import ModelError
from bayesmeta.exact.checks import check_proper
from bayesmeta.mcmc.inputs import design_columns, effects_and_errors
from bayesmeta.mcmc.models import ParamSpec, Structure, coefficient_data, coefficient_slots, pad, padded_size
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
from bayesmeta.priors import FlatPrior, NormalPrior, Prior, parse_prior


def coefficient_priors(beta_prior, mu_prior: Prior, p: int) -> tuple[Prior, ...]:
    """One prior per coefficient: ``beta_prior`` (one text for all, or one per covariate); by default
    normal(0, sd of mu's prior), or flat when mu's prior is flat (the exact engine's default)."""
    if p == 0:
        return ()
    if beta_prior is None:
        default = (
            NormalPrior(0.0, mu_prior.sd)
            if isinstance(mu_prior, NormalPrior)
            else FlatPrior()
        )
        return (default,) * p
    if isinstance(beta_prior, (str, Prior)):
        return (parse_prior(beta_prior, for_param="beta"),) * p
    priors = tuple(parse_prior(b, for_param="beta") for b in beta_prior)
    if len(priors) != p:
        raise ModelError(f"{len(priors)} beta priors for {p} covariates")
    return priors


def check_identified(
    k: int, location_priors: Sequence[Prior], tau_prior: Prior, X: np.ndarray | None
) -> None:
    """Refuse an improper posterior: the propriety rule shared with the exact engine
    (:func:`bayesmeta.exact.checks.check_proper`), plus a full-rank design when coefficients have flat priors."""
    n_flat = sum(not p.proper for p in location_priors)
    if n_flat and X is not None:
        full = np.column_stack([np.ones(k), X])
        if np.linalg.matrix_rank(full) < full.shape[1]:
            raise ModelError(
                "the design matrix (with intercept) is rank-deficient, so flat priors on mu and beta "
                "give an improper posterior; use normal priors or drop a covariate"
            )
    check_proper(k, n_flat, tau_prior, location_priors[0])


def conditional_theta(yi: np.ndarray, sei: np.ndarray, mean: np.ndarray, tau: np.ndarray, seed: int) -> np.ndarray:
    """One draw of each theta_i per posterior draw from theta_i | mu, beta, tau, y ~ N(B_i m_i + (1 - B_i) yi_i,
    (1 - B_i) sei_i^2), B_i = sei_i^2 / (sei_i^2 + tau^2), m_i = mu + x_i' beta (Gelman et al. 2013, BDA3 eq. 5.17,
    written with the shrinkage factor so that tau = 0 gives theta_i = m_i), from its own generator seeded by
    ``seed``. ``mean`` holds m (draws x studies), ``tau`` the draws."""
    var = sei**2
    shrink = var / (var + tau[..., None] ** 2)
    centre = shrink * mean + (1.0 - shrink) * yi
    rng = np.random.default_rng([int(seed), 2])
    return centre + np.sqrt((1.0 - shrink) * var) * rng.standard_normal(np.shape(centre))


def fit_nuts(
    data: EffectData | Sequence[float] | np.ndarray,
    sei: Sequence[float] | np.ndarray | None = None,
    *,
    vi: Sequence[float] | np.ndarray | None = None,
    study: Sequence[str] | None = None,
    measure: str | None = None,
    mu_prior: str | Prior = "normal(0, 4)",
    tau_prior: str | Prior = "halfnormal(0.5)",
    X: np.ndarray | None = None,
    covariate_names: Sequence[str] = (),
    beta_prior: str | Prior | Sequence[str | Prior] | None = None,
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
    """NUTS fit of the normal-normal hierarchical model or meta-regression (Roever 2020, J Stat Softw 93(6)):
    y_i ~ N(theta_i, sei_i^2), theta_i ~ N(mu + x_i' beta, tau^2), sampled with theta_i integrated out
    (:mod:`bayesmeta.mcmc.models`) and the theta_i drawn from :func:`conditional_theta`.

    ``data`` is an :class:`~bayesmeta.effect_data.EffectData`, or the effects yi with ``sei`` (or ``vi``),
    ``study`` labels and ``measure`` (default GEN). The predictive effect ~ N(mu, tau^2) is drawn once per
    posterior draw (a new study at x = 0). ``beta_prior`` defaults
    to normal(0, sd of mu's prior) (flat if mu's is flat). Studies are padded to ``pad_to`` slots (default:
    :func:`~bayesmeta.mcmc.models.padded_size`, at least 32); pass ``pad_to = k_full`` in a leave-one-out or cumulative series so that
    every refit reuses one compiled model. Failed convergence checks (:mod:`bayesmeta.mcmc.diagnostics`) become
    ``warnings``, or a :class:`~bayesmeta.errors.ModelError` when ``strict``.
    """
    args = effect_args(data, sei, vi=vi, study=study, measure=measure)
    y_arr, sei_arr, ids = effects_and_errors(args.yi, args.errors(), args.study)
    measure = args.measure
    k = y_arr.size
    X_arr, covariates = design_columns(X, covariate_names, k)
    p = len(covariates)
    mu = parse_prior(mu_prior, for_param="mu")
    tau = parse_prior(tau_prior, for_param="tau")
    betas = coefficient_priors(beta_prior, mu, p)
    check_identified(k, (mu, *betas), tau, X_arr)
    settings = SamplerSettings(
        draws, tune, chains, cores, seed, target_accept, progressbar
    )
    priors = {"mu": mu, "tau": tau, **{f"beta{j}": b for j, b in enumerate(betas)}}
    forms = {name: prior_form(prior) for name, prior in priors.items()}
    k_pad = padded_size(k, pad_to)
    beta_forms = [forms[f"beta{j}"] for j in range(p)]
    # normal coefficient priors go into the slots that every normal model compiles; others are compiled as written
    slotted = all(form.prior.family == "normal" for form in beta_forms)
    structure = Structure(
        likelihood="normal",
        k_pad=k_pad,
        mu=ParamSpec.from_form(forms["mu"], sei_arr),
        tau=ParamSpec.from_form(forms["tau"], sei_arr),
        beta=() if slotted else tuple(ParamSpec.from_form(form, sei_arr) for form in beta_forms),
        beta_slots=coefficient_slots(p) if slotted else 0,
    )
    data = {
        "y": pad(y_arr, k_pad, 0.0),
        "sei": pad(sei_arr, k_pad, 1.0),
        "mask": pad(np.ones(k), k_pad, 0.0),
    }
    if slotted:
        data.update(coefficient_data(beta_forms, X_arr, k_pad, structure.beta_slots))
    elif p:
        data["X"] = pad(X_arr, k_pad, 0.0)
    data.update(prior_scaling_data(structure, forms))
    raw, record = sample(structure, data, settings)

    post = {"mu": draws_of(raw, "mu"), "tau": draws_of(raw, "tau")}
    mean = post["mu"][..., None]
    if p:
        post["beta"] = draws_of(raw, "beta")[..., :p].reshape(post["mu"].shape + (p,))
        mean = mean + post["beta"] @ X_arr.T
    post["theta"] = conditional_theta(y_arr, sei_arr, mean, post["tau"], seed)
    post["predictive"] = predictive_draws(post["mu"], post["tau"], seed)
    constant = {"sei": sei_arr}
    prior_texts = {"mu": mu.text, "tau": tau.text}
    if p:
        constant["X"] = X_arr
        prior_texts["beta"] = ", ".join(b.text for b in betas)
    fit = FitRecord(
        raw=raw,
        record=record,
        post=post,
        loglik={"yi": stats.norm.logpdf(y_arr, loc=post["theta"], scale=sei_arr)},
        observed={"yi": y_arr},
        constant=constant,
        priors=priors,
        prior_texts=prior_texts,
        study=ids,
        yi=y_arr,
        sei=sei_arr,
        measure=measure,
        seed=seed,
        diagnose_vars=["mu", "tau", "theta"] + (["beta"] if p else []),
        covariates=covariates,
        X=X_arr,
    )
    return build_posterior(fit, strict)
