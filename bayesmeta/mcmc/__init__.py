"""The NUTS engine (PyMC models sampled by nutpie): normal-normal model, meta-regression and binomial-normal
model, compiled once per model structure with data swapped between refits, every result gated by diagnostics.

The names below are loaded on first use (PEP 562), so that importing a light submodule, such as
:mod:`bayesmeta.mcmc.diagnostics` for its thresholds, does not import PyMC."""

from __future__ import annotations

from importlib import import_module
from typing import Any

_HOME = {
    "CACHE": "compiled",
    "CompiledModelCache": "compiled",
    "ESS_MIN": "diagnostics",
    "RHAT_MAX": "diagnostics",
    "diagnose": "diagnostics",
    "check_identified": "fit",
    "fit_nuts": "fit",
    "fit_binomial_nuts": "binomial",
    "padded_size": "models",
}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
