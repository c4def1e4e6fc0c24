"""The bivariate normal-normal model of two treatment effects per study, compiled once per structure and sampled
by nutpie (as :mod:`bayesmeta.mcmc`), its machine code kept by :mod:`bayesmeta.mcmc.diskcache`.

Study i reports x_i (e.g. the log RR of response) and y_i (e.g. the log HR of death) with standard errors s_xi,
s_yi and within-study correlation r_w (Daniels & Hughes 1997, Stat Med 16:1965; Bujkiewicz et al. 2016, Stat Med
35:1063):

    (x_i, y_i) | (xi_i, eta_i) ~ BVN((xi_i, eta_i), [[s_xi^2, r_w s_xi s_yi], [r_w s_xi s_yi, s_yi^2]]),
    (xi_i, eta_i) ~ BVN((mu_x, mu_y), [[tau_x^2, rho tau_x tau_y], [rho tau_x tau_y, tau_y^2]]).

The true effects are integrated out analytically, so the likelihood is BVN(mu, S_i + T) per study and the sampler
sees five parameters (six with a prior on r_w) and no funnel. Priors: mu_x, mu_y ~ N(0, mu_sd^2); tau_x, tau_y ~
half-normal(scale); (rho + 1) / 2 ~ Beta(eta, eta), the LKJ(eta) prior of a 2 x 2 correlation (eta = 1: uniform
on (-1, 1)); r_w fixed, or ~ uniform(lower, upper). Every number is ``pm.Data``; studies are padded with a mask
to :data:`MIN_SLOTS` (or k rounded up to a multiple of 8), so refits with new data reuse one compiled model.
"""

from __future__ import annotations

import functools
import math
import os
import time
from dataclasses import dataclass

import numpy as np

from bayesmeta.errors import ModelError
from bayesmeta.versions import installed_version

PARAMETERS = ("mu_x", "mu_y", "tau_x", "tau_y", "rho")
MIN_SLOTS = 32
"""Study slots compiled at least: every analysis of up to 32 trials (most surrogacy meta-analyses) shares one
compiled model."""


@dataclass(frozen=True)
class SurrogacyStructure:
    """What fixes the compiled graph: padded number of studies, and whether r_w is fixed or has a prior."""

    k_pad: int
    within_prior: bool

    @property
    def var_names(self) -> list[str]:
        return [*PARAMETERS, *(("r_within",) if self.within_prior else ())]


def build_model(structure: SurrogacyStructure):
    """The PyMC model of ``structure`` (module docstring)."""
    import pymc as pm
    import pytensor.tensor as pt

    k = structure.k_pad
    with pm.Model(check_bounds=False) as model:
        x, y = pm.Data("x", np.zeros(k)), pm.Data("y", np.zeros(k))
        sx, sy = pm.Data("sx", np.ones(k)), pm.Data("sy", np.ones(k))
        mask = pm.Data("mask", np.zeros(k))
        mu_sd = pm.Data("mu_sd", 4.0)
        mu_x = pm.Normal("mu_x", 0.0, mu_sd)
        mu_y = pm.Normal("mu_y", 0.0, mu_sd)
        tau_x = pm.HalfNormal("tau_x", sigma=pm.Data("tau_x_scale", 0.5))
        tau_y = pm.HalfNormal("tau_y", sigma=pm.Data("tau_y_scale", 0.5))
        eta = pm.Data("eta", 1.0)
        rho = pm.Deterministic("rho", 2.0 * pm.Beta("rho_01", eta, eta) - 1.0)
        if structure.within_prior:
            r_w = pm.Uniform("r_within", pm.Data("r_within_lower", -0.5), pm.Data("r_within_upper", 0.5))
        else:
            r_w = pm.Data("r_within_value", 0.0)
        a = sx * sx + tau_x * tau_x
        d = sy * sy + tau_y * tau_y
        c = r_w * sx * sy + rho * tau_x * tau_y
        det = a * d - c * c
        ex, ey = x - mu_x, y - mu_y
        quad = (d * ex * ex - 2.0 * c * ex * ey + a * ey * ey) / det
        logp = -math.log(2.0 * math.pi) - 0.5 * pt.log(det) - 0.5 * quad
        pm.Potential("loglik", pt.sum(mask * logp))
    return model


@functools.cache
def model_cache():
    """This process's compiled surrogacy models (:class:`bayesmeta.mcmc.compiled.CompiledModelCache`, machine code
    on disk via :mod:`bayesmeta.mcmc.diskcache`), created on first use so that importing this module loads no
    sampler."""
    from bayesmeta.mcmc.compiled import CompiledModelCache

    return CompiledModelCache(build=build_model)


@dataclass(frozen=True)
class Priors:
    """The priors' numbers: mu_x, mu_y ~ N(0, mu_sd^2); tau_x ~ HN(tau_x_scale), tau_y ~ HN(tau_y_scale); rho ~
    LKJ(eta); r_within fixed at ``within`` (a float) or uniform on ``within`` (a (lower, upper) pair)."""

    mu_sd: float = 4.0
    tau_x_scale: float = 0.5
    tau_y_scale: float = 0.5
    eta: float = 1.0
    within: float | tuple[float, float] = 0.0

    def check(self) -> None:
        for name in ("mu_sd", "tau_x_scale", "tau_y_scale", "eta"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ModelError(f"prior {name} must be a positive number, got {value}")
        if isinstance(self.within, tuple):
            lo, hi = self.within
            if not -1 < lo < hi < 1:
                raise ModelError(f"the within-study correlation's uniform prior needs -1 < lower < upper < 1, got "
                                 f"({lo:g}, {hi:g})")
        elif not -1 < self.within < 1:
            raise ModelError(f"the within-study correlation must lie in (-1, 1), got {self.within:g}")


def sample_surrogacy(x: np.ndarray, sx: np.ndarray, y: np.ndarray, sy: np.ndarray, priors: Priors, *,
                     draws: int = 1000, tune: int = 1000, chains: int = 4, seed: int = 0,
                     target_accept: float = 0.9, cores: int | None = None, pad_to: int | None = None):
    """NUTS draws of the model for the k studies: (nutpie InferenceData, settings record)."""
    import nutpie

    from bayesmeta.mcmc.models import padded_size

    priors.check()
    k = x.size
    if draws < 4 or chains < 1 or tune < 0:
        raise ModelError(f"need draws >= 4, tune >= 0 and chains >= 1 (got {draws}, {tune}, {chains})")
    slots = padded_size(k, pad_to or max(MIN_SLOTS, padded_size(k)))
    structure = SurrogacyStructure(slots, isinstance(priors.within, tuple))
    compiled, hit, compile_seconds = model_cache().get(structure)
    pad = structure.k_pad - k
    data = {
        "x": np.concatenate([x, np.zeros(pad)]), "y": np.concatenate([y, np.zeros(pad)]),
        "sx": np.concatenate([sx, np.ones(pad)]), "sy": np.concatenate([sy, np.ones(pad)]),
        "mask": np.concatenate([np.ones(k), np.zeros(pad)]),
        "mu_sd": np.asarray(priors.mu_sd), "tau_x_scale": np.asarray(priors.tau_x_scale),
        "tau_y_scale": np.asarray(priors.tau_y_scale), "eta": np.asarray(priors.eta),
    }
    if structure.within_prior:
        data["r_within_lower"], data["r_within_upper"] = (np.asarray(v) for v in priors.within)
    else:
        data["r_within_value"] = np.asarray(priors.within)
    cores = cores or min(chains, os.cpu_count() or 1)
    start = time.perf_counter()
    raw = nutpie.sample(compiled.with_data(**data), draws=draws, tune=tune, chains=chains, cores=cores,
                        seed=int(seed), progress_bar=False, target_accept=float(target_accept), save_warmup=False)
    record = {"sampler": "nutpie", "sampler_version": installed_version("nutpie"), "draws": draws, "tune": tune,
              "chains": chains, "cores": cores, "target_accept": float(target_accept), "seed": int(seed),
              "k_padded": structure.k_pad, "cache_hit": hit, "compile_seconds": compile_seconds,
              "sampling_seconds": time.perf_counter() - start}
    return raw, record
