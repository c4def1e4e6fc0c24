"""bayesmeta: Bayesian reanalysis of published meta-analyses."""

from bayesmeta.errors import BayesmetaError, InputError, ModelError

__all__ = ["BayesmetaError", "InputError", "ModelError"]
__version__ = "0.1.0"
