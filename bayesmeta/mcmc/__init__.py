"""The NUTS engine (PyMC models sampled by nutpie): normal-normal model, meta-regression and binomial-normal
model, compiled once per model structure with data swapped between refits, every result gated by diagnostics."""

from bayesmeta.mcmc.binomial import fit_binomial_nuts
from bayesmeta.mcmc.compiled import CACHE, CompiledModelCache
from bayesmeta.mcmc.diagnostics import ESS_MIN, RHAT_MAX, diagnose
from bayesmeta.mcmc.fit import check_identified, fit_nuts
from bayesmeta.mcmc.models import padded_size

__all__ = [
    "CACHE",
    "ESS_MIN",
    "RHAT_MAX",
    "CompiledModelCache",
    "check_identified",
    "diagnose",
    "fit_binomial_nuts",
    "fit_nuts",
    "padded_size",
]
