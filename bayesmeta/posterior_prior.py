"""A tau prior given as the posterior of another fit (the heterogeneity learnt from one set of studies carried into
the analysis of another, as R bayesmeta takes any density function as ``tau.prior``).

:class:`TauPosteriorPrior` wraps the exact posterior p(tau | y_1) of a first fit: its log-density is that of the
marginal (normalised by the engine's quadrature), its draws come from the inverse CDF, and its tail exponent is the
first fit's (p(tau | y_1) decays like tau^-tail), which decides the propriety and the moments of the second fit.
On the command line: ``--tau-prior "posterior(first.toml)"`` with a fit plan (or ``posterior(first.csv)``: that
table under the default priors), see :func:`resolve_tau_prior`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from bayesmeta.errors import InputError, ModelError
from bayesmeta.priors import Prior

_POSTERIOR = re.compile(r"^\s*posterior\(\s*(.+?)\s*\)\s*$")


class TauPosteriorPrior(Prior):
    """The tau marginal of an exact posterior as a (proper) prior for tau."""

    family = "posterior"
    support = "positive"

    def __init__(self, post, label: str = "previous fit") -> None:
        if post.engine != "exact":
            raise ModelError("a tau prior from a posterior needs the exact engine's fit")
        self._tau = post.marginal("tau")
        self._label = label
        self._tail = float(getattr(getattr(self._tau, "batch", None), "tail", np.array([math.inf]))[
            getattr(self._tau, "row", 0)])

    @property
    def text(self) -> str:
        return f"posterior({self._label})"

    def logpdf(self, x, sei=None):
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore"):
            return np.where(x >= 0, np.log(np.asarray(self._tau.pdf(np.maximum(x, 0.0)), dtype=float)), -np.inf)

    def rvs(self, size, rng=None):
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        return np.asarray(self._tau.ppf(gen.uniform(size=size)), dtype=float)

    def scale(self):
        return float(self._tau.median())

    def tail_exponent(self):
        return self._tail

    def to_pymc(self, name, sei=None):
        raise ModelError(f"the tau prior {self.text} is fitted by the exact engine (--engine exact)")


def resolve_tau_prior(text: str, base: Path | None = None) -> Prior | str:
    """``posterior(FILE)`` -> the tau posterior of that fit (a fit plan .toml, or a CSV under the default priors;
    FILE relative to ``base``); any other text is returned unchanged."""
    match = _POSTERIOR.match(text)
    if not match:
        return text
    path = Path(match.group(1).strip("'\""))
    if base is not None and not path.is_absolute():
        path = base / path
    if not path.exists():
        raise InputError(f"no file {str(path)!r} for the tau prior {text!r}", column="--tau-prior",
                         valid="posterior(FIT.toml) or posterior(DATA.csv)")
    from bayesmeta.model_spec import ModelSpec, fit_spec, load_fit_plan

    spec = load_fit_plan(path) if path.suffix.lower() == ".toml" else ModelSpec(str(path))
    post, _ = fit_spec(spec)
    return TauPosteriorPrior(post, path.name)
