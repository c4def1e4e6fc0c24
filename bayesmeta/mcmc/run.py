"""Sampling a compiled model with new data, and turning the draws into a gated :class:`Posterior`.

The sampler is nutpie's NUTS with a diagonal mass matrix adapted from draws and gradients (Seyboldt et al.,
https://github.com/pymc-devs/nutpie). Each fit returns an ArviZ InferenceData in ``extras['idata']`` with the
groups posterior, sample_stats, log_likelihood (for ``az.loo``), log_prior (for ``az.psens``), prior (when every
prior is proper), observed_data and constant_data.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import arviz as az
import numpy as np
import nutpie

from bayesmeta.errors import ModelError
from bayesmeta.mcmc.compiled import CACHE
from bayesmeta.mcmc.diagnostics import diagnose
from bayesmeta.mcmc.models import Structure, prior_data
from bayesmeta.mcmc.prior_forms import PriorForm
from bayesmeta.posterior import Posterior, SampleMarginal
from bayesmeta.priors import Prior
from bayesmeta.versions import installed_version

ENGINE = "nuts"
_STATS = {
    "diverging": "diverging",
    "energy": "energy",
    "energy_error": "energy_error",
    "step_size": "step_size",
    "n_steps": "n_steps",
    "depth": "tree_depth",
    "mean_tree_accept": "acceptance_rate",
    "logp": "lp",
}


@dataclass(frozen=True)
class SamplerSettings:
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    cores: int | None = None
    seed: int = 0
    target_accept: float = 0.9
    progressbar: bool = False

    def check(self) -> None:
        if self.draws < 4 or self.tune < 0 or self.chains < 1:
            raise ModelError(
                f"need draws >= 4, tune >= 0 and chains >= 1 (got draws={self.draws}, "
                f"tune={self.tune}, chains={self.chains})"
            )
        if not 0 < self.target_accept < 1:
            raise ModelError(
                f"target_accept must lie strictly between 0 and 1, got {self.target_accept}"
            )


def prior_scaling_data(
    structure: Structure, forms: dict[str, PriorForm]
) -> dict[str, np.ndarray]:
    """The ``pm.Data`` entries that set every scaled prior's location and scale."""
    data: dict[str, np.ndarray] = {}
    data.update(prior_data("mu", structure.mu, forms["mu"]))
    data.update(prior_data("tau", structure.tau, forms["tau"], loc=False))
    for j, spec in enumerate(structure.beta):
        data.update(prior_data(f"beta{j}", spec, forms[f"beta{j}"]))
    if structure.baseline_mean is not None and structure.baseline_sd is not None:
        data.update(
            prior_data("baseline_mean", structure.baseline_mean, forms["baseline_mean"])
        )
        data.update(
            prior_data(
                "baseline_sd", structure.baseline_sd, forms["baseline_sd"], loc=False
            )
        )
    return data


def sample(
    structure: Structure, data: dict[str, np.ndarray], settings: SamplerSettings
):
    """Draw from the compiled model of ``structure`` with ``data`` swapped in: (nutpie InferenceData, record)."""
    settings.check()
    compiled, hit, compile_seconds = CACHE.get(structure)
    model = compiled.with_data(**data)
    cores = settings.cores or min(settings.chains, os.cpu_count() or 1)
    start = time.perf_counter()
    raw = nutpie.sample(
        model,
        draws=settings.draws,
        tune=settings.tune,
        chains=settings.chains,
        cores=cores,
        seed=int(settings.seed),
        progress_bar=settings.progressbar,
        target_accept=float(settings.target_accept),
        save_warmup=False,
    )
    record = {
        "sampler": "nutpie",
        "sampler_version": installed_version("nutpie"),
        "draws": settings.draws,
        "tune": settings.tune,
        "chains": settings.chains,
        "cores": cores,
        "target_accept": float(settings.target_accept),
        "seed": int(settings.seed),
        "k_padded": structure.k_pad,
        "cache_hit": hit,
        "compile_seconds": compile_seconds,
        "sampling_seconds": time.perf_counter() - start,
    }
    return raw, record


def draws_of(raw, name: str) -> np.ndarray:
    """Posterior draws of ``name`` shaped (chain, draw, ...)."""
    return np.asarray(raw.posterior[name].values, dtype=float)


def predictive_draws(mu: np.ndarray, tau: np.ndarray, seed: int) -> np.ndarray:
    """The predictive effect ~ N(mu, tau^2), one per posterior draw, from its own generator (seeded by ``seed``)."""
    rng = np.random.default_rng([int(seed), 1])
    return mu + tau * rng.standard_normal(np.shape(mu))


def _sample_stats(raw) -> dict[str, np.ndarray]:
    out = {}
    for source, target in _STATS.items():
        if source in raw.sample_stats:
            values = np.asarray(raw.sample_stats[source].values)
            if values.ndim == 2:
                out[target] = values
    return out


def _prior_draws(
    priors: dict[str, Prior], n: int, seed: int, p: int
) -> dict[str, np.ndarray] | None:
    """Prior draws of mu, tau, predictive (and beta) shaped (1, n); None when a prior is improper."""
    if not all(prior.proper for prior in priors.values()):
        return None
    rng = np.random.default_rng([int(seed), 2])
    out = {
        "mu": priors["mu"].rvs(n, rng)[None, :],
        "tau": priors["tau"].rvs(n, rng)[None, :],
    }
    out["predictive"] = out["mu"] + out["tau"] * rng.standard_normal((1, n))
    if p:
        out["beta"] = np.stack(
            [priors[f"beta{j}"].rvs(n, rng) for j in range(p)], axis=-1
        )[None]
    return out


def _log_prior(
    priors: dict[str, Prior],
    post: dict[str, np.ndarray],
    sei: np.ndarray | None,
    p: int,
):
    """log p(mu), log p(tau) (and log p(beta_j)) at every draw: the ``log_prior`` group used by az.psens."""
    out = {
        "mu": priors["mu"].logpdf(post["mu"]),
        "tau": priors["tau"].logpdf(post["tau"], sei=sei),
    }
    if p:
        out["beta"] = np.stack(
            [priors[f"beta{j}"].logpdf(post["beta"][..., j]) for j in range(p)], axis=-1
        )
    return out


@dataclass
class FitRecord:
    """Everything a fit hands to :func:`build_posterior`."""

    raw: object
    record: dict[str, object]
    post: dict[str, np.ndarray]
    loglik: dict[str, np.ndarray]
    observed: dict[str, np.ndarray]
    constant: dict[str, np.ndarray]
    priors: dict[str, Prior]
    prior_texts: dict[str, str]
    study: tuple[str, ...]
    yi: np.ndarray
    sei: np.ndarray
    measure: str
    seed: int
    diagnose_vars: list[str]
    covariates: tuple[str, ...] = ()
    X: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    likelihood: str = "normal"


def build_posterior(fit: FitRecord, strict: bool) -> Posterior:
    """The InferenceData, diagnostics, warnings and marginals of a fit; in ``strict`` mode a failed convergence
    check raises :class:`~bayesmeta.errors.ModelError` instead of becoming a warning."""
    post, p = fit.post, len(fit.covariates)
    chains, draws = post["mu"].shape
    coords: dict[str, list[str]] = {"study": list(fit.study)}
    dims: dict[str, list[str]] = {"theta": ["study"]}
    dims.update({name: ["study"] for name in (*fit.loglik, *fit.observed)})
    dims.update(
        {name: ["study"] for name, v in fit.constant.items() if np.ndim(v) == 1}
    )
    if p:
        coords["covariate"] = list(fit.covariates)
        dims["beta"] = ["covariate"]
        dims["X"] = ["study", "covariate"]
    prior = _prior_draws(fit.priors, chains * draws, fit.seed, p)
    idata = az.from_dict(
        posterior=post,
        sample_stats=_sample_stats(fit.raw),
        log_likelihood=fit.loglik,
        observed_data=fit.observed,
        constant_data=fit.constant,
        prior=prior,
        coords=coords,
        dims=dims,
        attrs={
            "engine": ENGINE,
            "measure": fit.measure,
            "seed": int(fit.seed),
            **{f"prior_{k}": v for k, v in fit.prior_texts.items()},
        },
    )
    tied_sei = fit.sei if fit.priors["tau"].family == "jeffreys" else None
    idata.add_groups(
        {"log_prior": _log_prior(fit.priors, post, tied_sei, p)},
        coords=coords,
        dims=dims,
    )
    diagnostics, failed = diagnose(idata, var_names=fit.diagnose_vars)
    diagnostics["settings"] = fit.record
    if strict and failed:
        raise ModelError(
            "the MCMC fit failed its convergence checks: " + " ".join(failed)
        )
    marginals = {
        "mu": SampleMarginal(post["mu"]),
        "tau": SampleMarginal(post["tau"]),
        "predictive": SampleMarginal(post["predictive"]),
    }
    for j, name in enumerate(fit.covariates):
        marginals[f"beta[{name}]"] = SampleMarginal(post["beta"][..., j])
    for i, sid in enumerate(fit.study):
        marginals[f"theta[{sid}]"] = SampleMarginal(post["theta"][..., i])
    stored = {
        name: post[name]
        for name in ("mu", "tau", "theta", "predictive", "beta")
        if name in post
    }
    extras: dict[str, object] = {"idata": idata}
    if prior is not None:
        extras["prior_draws"] = prior
    return Posterior(
        engine=ENGINE,
        measure=fit.measure,
        study=fit.study,
        yi=fit.yi,
        sei=fit.sei,
        marginals=marginals,
        priors=fit.prior_texts,
        covariates=fit.covariates,
        design=fit.X,
        draws=stored,
        diagnostics=diagnostics,
        warnings=fit.notes + failed,
        seed=int(fit.seed),
        extras=extras,
        likelihood=fit.likelihood,
    )
