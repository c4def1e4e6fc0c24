"""Prior distributions for the normal-normal hierarchical model, shared by both engines.

A prior is written as short text, e.g. ``"normal(0, 4)"`` or ``"halfnormal(0.5)"``, and parsed by
:func:`parse_prior` into a :class:`Prior` that gives a vectorised numpy log-density (for the exact engine), draws,
a power-scaled version (for prior sensitivity; Kallioinen et al. 2024) and the matching PyMC random variable.

Parametrisations (all on the analysis scale; tau is the between-study standard deviation):

- effect priors (``mu``, ``beta``): ``normal(mean, sd)``, ``flat`` (improper uniform on the real line);
- heterogeneity priors (``tau``): ``halfnormal(scale)``, ``halfcauchy(scale)``, ``halft(nu, scale)``,
  ``exponential(rate)``, ``uniform(lower, upper)`` (``uniform(0, inf)`` is improper), ``lognormal(meanlog, sdlog)``
  (log tau ~ N(meanlog, sdlog^2)), ``lognormal_tau2(meanlog, sdlog)`` (log tau^2 ~ N(meanlog, sdlog^2), the form in
  which Turner et al. 2015, Stat Med 34:984, publish their empirical priors; it equals
  ``lognormal(meanlog/2, sdlog/2)`` on tau), ``jeffreys`` (Tibshirani's 1989 variant of the Jeffreys prior used by R
  bayesmeta, p(tau) proportional to sqrt(sum_i (tau/(s_i^2 + tau^2))^2); improper and data-dependent through the
  standard errors s_i; Roever 2020, J Stat Softw 93(6)), ``halfflat`` (improper uniform on tau > 0);
- ``power(<prior>, alpha)``: the prior density raised to the power alpha (renormalised when the prior is proper);
- ``lomax(shape, scale)``: density (shape/scale) (1 + tau/scale)^-(shape + 1) (R bayesmeta's ``dlomax``);
  ``invgamma(shape, scale)``: the inverse-gamma density on tau, scale^shape / Gamma(shape) tau^-(shape+1)
  exp(-scale/tau); ``logt_tau2(location, scale, df)``: log tau^2 ~ Student-t(df) with that location and scale, the
  form of Rhodes et al. 2015 (J Clin Epidemiol 68:52) for standardised mean differences; ``rhodes_smd`` is their
  general (any outcome, any comparison) prior, logt_tau2(-3.44, 2.59, 5), as R bayesmeta's ``RhodesEtAlPrior()``,
  and ``rhodes_smd(outcome, comparison[, area])`` their prior for a setting (:func:`rhodes_smd_prior`);
  ``turner_or`` is Turner et al.'s (2015) marginal prior for log odds ratios, lognormal_tau2(-2.56, 1.74), and
  ``turner_or(outcome, comparison)`` their prior for an outcome type and comparison type (:func:`turner_or_prior`).
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from scipy import special

from bayesmeta.errors import InputError, ModelError

VALID_FORMS = (
    "normal(mean, sd), flat, halfnormal(scale), halfcauchy(scale), halft(nu, scale), exponential(rate), "
    "uniform(lower, upper), uniform(0, inf), lognormal(meanlog, sdlog), lognormal_tau2(meanlog, sdlog), "
    "jeffreys, halfflat, power(<prior>, alpha), lomax(shape, scale), invgamma(shape, scale), "
    "logt_tau2(location, scale, df), rhodes_smd, rhodes_smd(outcome, comparison[, area]), turner_or, "
    "turner_or(outcome, comparison)"
)
EFFECT_FAMILIES = ("normal", "flat")
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
DEFAULT_PRIOR_FILE = Path(__file__).resolve().parent / "resources" / "priors.toml"


def _fmt(x: float) -> str:
    """Shortest text that reads back as the same float ('4', '0.5', 'inf')."""
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x))


class Prior:
    """A prior density for one parameter.

    Attributes: ``text`` (canonical text; ``str(prior)``), ``family``, ``proper``, ``support`` ('real' for effect
    priors, 'positive' for tau priors).
    """

    family: str = ""
    proper: bool = True
    support: str = "positive"

    @property
    def text(self) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Prior({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Prior) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    # -- densities --------------------------------------------------------------------------------------
    def logpdf(self, x: np.ndarray | float, sei: np.ndarray | None = None) -> np.ndarray:
        """Log-density at x (normalised when proper; -inf outside the support). ``sei`` is used by jeffreys."""
        raise NotImplementedError

    def pdf(self, x: np.ndarray | float, sei: np.ndarray | None = None) -> np.ndarray:
        return np.exp(self.logpdf(x, sei))

    def rvs(self, size: int | tuple[int, ...], rng: np.random.Generator | int | None = None) -> np.ndarray:
        """Random draws (proper priors only)."""
        raise ModelError(f"cannot draw from the improper prior {self.text}")

    def power(self, alpha: float) -> Prior:
        """The prior raised to the power alpha > 0: p(x)^alpha, renormalised when proper."""
        alpha = _check_alpha(alpha)
        if alpha == 1.0:
            return self
        return self._power(alpha)

    def _power(self, alpha: float) -> Prior:
        return PoweredPrior(self, alpha)

    # -- for the quadrature of the exact engine ---------------------------------------------------------
    def scale(self) -> float | None:
        """A characteristic scale of a tau prior (None when scale-free)."""
        return None

    def tail_exponent(self) -> float:
        """a such that p(tau) decays like tau^(-a) or faster for large tau (inf: faster than any power).

        Used to decide whether an improper tau prior gives a proper posterior."""
        return math.inf

    # -- PyMC -------------------------------------------------------------------------------------------
    def to_pymc(self, name: str, sei: np.ndarray | None = None):
        """Create the random variable ``name`` with this prior in the current ``pm.Model()`` context."""
        raise NotImplementedError

    def _pymc_dist(self):
        """An unregistered PyMC distribution with this density (proper priors)."""
        raise NotImplementedError

    def _pymc_logp(self, value, sei: np.ndarray | None = None):
        """The log-density as a PyTensor expression of ``value`` (up to a constant)."""
        import pymc as pm

        return pm.logp(self._pymc_dist(), value)


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not (math.isfinite(alpha) and alpha > 0):
        raise ModelError(f"a power-scaling exponent must be a positive number, got {alpha}")
    return alpha


def _rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _positive_logpdf(x: np.ndarray | float, inside) -> np.ndarray:
    """Evaluate ``inside(x)`` for x >= 0 and -inf elsewhere (vectorised)."""
    x = np.asarray(x, dtype=float)
    out = np.full(x.shape, -np.inf)
    ok = x >= 0
    if np.any(ok):
        out[ok] = inside(x[ok])
    return out


# -- effect priors -----------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class NormalPrior(Prior):
    """normal(mean, sd)."""

    mean: float
    sd: float
    family = "normal"
    support = "real"

    @property
    def text(self) -> str:
        return f"normal({_fmt(self.mean)}, {_fmt(self.sd)})"

    def logpdf(self, x, sei=None):
        z = (np.asarray(x, dtype=float) - self.mean) / self.sd
        return -_HALF_LOG_2PI - math.log(self.sd) - 0.5 * z * z

    def rvs(self, size, rng=None):
        return _rng(rng).normal(self.mean, self.sd, size)

    def _power(self, alpha):
        return NormalPrior(self.mean, self.sd / math.sqrt(alpha))

    def to_pymc(self, name, sei=None):
        import pymc as pm

        return pm.Normal(name, mu=self.mean, sigma=self.sd)

    def _pymc_dist(self):
        import pymc as pm

        return pm.Normal.dist(mu=self.mean, sigma=self.sd)


@dataclass(frozen=True, eq=False)
class FlatPrior(Prior):
    """flat: the improper uniform density on the real line (log-density 0)."""

    family = "flat"
    proper = False
    support = "real"

    @property
    def text(self) -> str:
        return "flat"

    def logpdf(self, x, sei=None):
        return np.zeros(np.shape(x))

    def _power(self, alpha):
        return self

    def to_pymc(self, name, sei=None):
        import pymc as pm

        return pm.Flat(name)


# -- heterogeneity priors ----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class HalfNormalPrior(Prior):
    """halfnormal(scale): density 2 N(tau; 0, scale^2) on tau >= 0 (Roever et al. 2021 recommend scales 0.5
    and 1.0 for log-ratio endpoints)."""

    scale_: float
    family = "halfnormal"

    @property
    def text(self) -> str:
        return f"halfnormal({_fmt(self.scale_)})"

    def logpdf(self, x, sei=None):
        const = math.log(2.0) - _HALF_LOG_2PI - math.log(self.scale_)
        return _positive_logpdf(x, lambda t: const - 0.5 * (t / self.scale_) ** 2)

    def rvs(self, size, rng=None):
        return np.abs(_rng(rng).normal(0.0, self.scale_, size))

    def _power(self, alpha):
        return HalfNormalPrior(self.scale_ / math.sqrt(alpha))

    def scale(self):
        return self.scale_

    def to_pymc(self, name, sei=None):
        import pymc as pm

        return pm.HalfNormal(name, sigma=self.scale_)

    def _pymc_dist(self):
        import pymc as pm

        return pm.HalfNormal.dist(sigma=self.scale_)


@dataclass(frozen=True, eq=False)
class HalfCauchyPrior(Prior):
    """halfcauchy(scale): density 2 / (pi scale (1 + (tau/scale)^2)) on tau >= 0."""

    scale_: float
    family = "halfcauchy"

    @property
    def text(self) -> str:
        return f"halfcauchy({_fmt(self.scale_)})"

    def logpdf(self, x, sei=None):
        const = math.log(2.0 / math.pi) - math.log(self.scale_)
        return _positive_logpdf(x, lambda t: const - np.log1p((t / self.scale_) ** 2))

    def rvs(self, size, rng=None):
        # inverse CDF, tan(pi u / 2), as scipy.stats.halfcauchy draws
        return self.scale_ * np.tan(0.5 * math.pi * _rng(rng).uniform(size=size))

    def scale(self):
        return self.scale_

    def tail_exponent(self):
        return 2.0

    def to_pymc(self, name, sei=None):
        import pymc as pm

        return pm.HalfCauchy(name, beta=self.scale_)

    def _pymc_dist(self):
        import pymc as pm

        return pm.HalfCauchy.dist(beta=self.scale_)


@dataclass(frozen=True, eq=False)
class HalfTPrior(Prior):
    """halft(nu, scale): the half-Student-t with nu degrees of freedom, 2 t_nu(tau/scale)/scale on tau >= 0."""

    nu: float
    scale_: float
    family = "halft"

    @property
    def text(self) -> str:
        return f"halft({_fmt(self.nu)}, {_fmt(self.scale_)})"

    def logpdf(self, x, sei=None):
        nu = self.nu
        const = (
            math.log(2.0)
            + special.gammaln((nu + 1) / 2)
            - special.gammaln(nu / 2)
            - 0.5 * math.log(nu * math.pi)
            - math.log(self.scale_)
        )
        return _positive_logpdf(x, lambda t: const - (nu + 1) / 2 * np.log1p((t / self.scale_) ** 2 / nu))

    def rvs(self, size, rng=None):
        return np.abs(self.scale_ * _rng(rng).standard_t(self.nu, size=size))

    def scale(self):
        return self.scale_

    def tail_exponent(self):
        return self.nu + 1.0

    def to_pymc(self, name, sei=None):
        import pymc as pm

        return pm.HalfStudentT(name, nu=self.nu, sigma=self.scale_)

    def _pymc_dist(self):
        import pymc as pm

        return pm.HalfStudentT.dist(nu=self.nu, sigma=self.scale_)


@dataclass(frozen=True, eq=False)
class ExponentialPrior(Prior):
    """exponential(rate): density rate exp(-rate tau) on tau >= 0 (mean 1/rate)."""

    rate: float
    family = "exponential"

    @property
    def text(self) -> str:
        return f"exponential({_fmt(self.rate)})"

    def logpdf(self, x, sei=None):
        return _positive_logpdf(x, lambda t: math.log(self.rate) - self.rate * t)

    def rvs(self, size, rng=None):
        return _rng(rng).exponential(1.0 / self.rate, size)

    def _power(self, alpha):
        return ExponentialPrior(self.rate * alpha)

    def scale(self):
        return 1.0 / self.rate

    def to_pymc(self, name, sei=None):
        import pymc as pm

        return pm.Exponential(name, lam=self.rate)

    def _pymc_dist(self):
        import pymc as pm

        return pm.Exponential.dist(lam=self.rate)


@dataclass(frozen=True, eq=False)
class UniformPrior(Prior):
    """uniform(lower, upper) on tau, 0 <= lower < upper; ``uniform(0, inf)`` is the improper flat prior on
    tau > 0 (R bayesmeta's default "uniform")."""

    lower: float
    upper: float
    family = "uniform"

    @property
    def proper(self) -> bool:  # type: ignore[override]
        return math.isfinite(self.upper)

    @property
    def text(self) -> str:
        return f"uniform({_fmt(self.lower)}, {_fmt(self.upper)})"

    def logpdf(self, x, sei=None):
        x = np.asarray(x, dtype=float)
        inside = (x >= self.lower) & (x <= self.upper)
        level = -math.log(self.upper - self.lower) if self.proper else 0.0
        return np.where(inside, level, -np.inf)

    def rvs(self, size, rng=None):
        if not self.proper:
            return super().rvs(size, rng)
        return _rng(rng).uniform(self.lower, self.upper, size)

    def _power(self, alpha):
        return self

    def scale(self):
        return self.upper if self.proper else None

    def tail_exponent(self):
        return math.inf if self.proper else 0.0

    def to_pymc(self, name, sei=None):
        import pymc as pm

        if not self.proper:
            return pm.HalfFlat(name)
        return pm.Uniform(name, lower=self.lower, upper=self.upper)

    def _pymc_dist(self):
        import pymc as pm

        return pm.Uniform.dist(lower=self.lower, upper=self.upper)

    def _pymc_logp(self, value, sei=None):
        if not self.proper:
            return 0.0 * value
        return super()._pymc_logp(value, sei)


@dataclass(frozen=True, eq=False)
class LogNormalPrior(Prior):
    """lognormal(meanlog, sdlog) on tau: log tau ~ N(meanlog, sdlog^2).

    ``on_tau2=True`` keeps the text form ``lognormal_tau2(m, s)`` of a prior stated for tau^2 (log tau^2 ~ N(m, s^2),
    Turner et al. 2015); the density used is that of tau, lognormal(m/2, s/2)."""

    meanlog: float
    sdlog: float
    on_tau2: bool = False
    family = "lognormal"

    @property
    def text(self) -> str:
        if self.on_tau2:
            return f"lognormal_tau2({_fmt(2 * self.meanlog)}, {_fmt(2 * self.sdlog)})"
        return f"lognormal({_fmt(self.meanlog)}, {_fmt(self.sdlog)})"

    def logpdf(self, x, sei=None):
        x = np.asarray(x, dtype=float)
        out = np.full(x.shape, -np.inf)
        ok = x > 0
        log_x = np.log(x[ok])
        z = (log_x - self.meanlog) / self.sdlog
        out[ok] = -log_x - math.log(self.sdlog) - _HALF_LOG_2PI - 0.5 * z * z
        return out

    def rvs(self, size, rng=None):
        return _rng(rng).lognormal(self.meanlog, self.sdlog, size)

    def _power(self, alpha):
        # p^alpha on tau is again log-normal: exp(alpha * log p) with log p = -u - (u - m)^2 / (2 s^2), u = log tau
        s2 = self.sdlog**2
        return LogNormalPrior(self.meanlog + (1.0 - alpha) * s2 / alpha, self.sdlog / math.sqrt(alpha))

    def scale(self):
        return math.exp(self.meanlog)

    def to_pymc(self, name, sei=None):
        import pymc as pm

        return pm.LogNormal(name, mu=self.meanlog, sigma=self.sdlog)

    def _pymc_dist(self):
        import pymc as pm

        return pm.LogNormal.dist(mu=self.meanlog, sigma=self.sdlog)


@dataclass(frozen=True, eq=False)
class HalfFlatPrior(Prior):
    """halfflat: the improper uniform density on tau > 0 (same density as uniform(0, inf))."""

    family = "halfflat"
    proper = False

    @property
    def text(self) -> str:
        return "halfflat"

    def logpdf(self, x, sei=None):
        return _positive_logpdf(x, lambda t: np.zeros(t.shape))

    def _power(self, alpha):
        return self

    def tail_exponent(self):
        return 0.0

    def to_pymc(self, name, sei=None):
        import pymc as pm

        return pm.HalfFlat(name)

    def _pymc_logp(self, value, sei=None):
        return 0.0 * value


@dataclass(frozen=True, eq=False)
class JeffreysPrior(Prior):
    """jeffreys: p(tau) proportional to sqrt(sum_i (tau / (s_i^2 + tau^2))^2), improper (Tibshirani 1989; the
    "Jeffreys" option of R bayesmeta, Roever 2020). Needs the standard errors ``sei``; decays like 1/tau."""

    family = "jeffreys"
    proper = False

    @property
    def text(self) -> str:
        return "jeffreys"

    def logpdf(self, x, sei=None):
        if sei is None:
            raise ModelError("the jeffreys prior needs the studies' standard errors (sei)")
        s2 = np.asarray(sei, dtype=float) ** 2

        def inside(t):
            ratio = t[..., None] / (s2 + t[..., None] ** 2)
            with np.errstate(divide="ignore"):
                return 0.5 * np.log(np.sum(ratio**2, axis=-1))

        return _positive_logpdf(x, inside)

    def tail_exponent(self):
        return 1.0

    def to_pymc(self, name, sei=None):
        import pymc as pm

        if sei is None:
            raise ModelError("the jeffreys prior needs the studies' standard errors (sei)")
        tau = pm.HalfFlat(name)
        pm.Potential(f"{name}_jeffreys", self._pymc_logp(tau, sei))
        return tau

    def _pymc_logp(self, value, sei=None):
        import pytensor.tensor as pt

        if sei is None:
            raise ModelError("the jeffreys prior needs the studies' standard errors (sei)")
        s2 = np.asarray(sei, dtype=float) ** 2
        return 0.5 * pt.log(pt.sum((value / (s2 + value**2)) ** 2))


@dataclass(frozen=True, eq=False)
class PoweredPrior(Prior):
    """power(base, alpha): density proportional to base(x)^alpha, renormalised numerically when base is proper.

    Used for power-scaling sensitivity (Kallioinen, Paananen, Buerkner, Vehtari 2024, Stat Comput 34:57) where the
    family is not closed under powers (half-Cauchy, half-t, Jeffreys)."""

    base: Prior
    alpha: float
    family = "power"

    @property
    def support(self) -> str:  # type: ignore[override]
        return self.base.support

    @property
    def text(self) -> str:
        return f"power({self.base.text}, {_fmt(self.alpha)})"

    @property
    def proper(self) -> bool:  # type: ignore[override]
        # base^alpha of a proper tau prior with tails ~ tau^-a stays integrable only while a * alpha > 1
        return self.base.proper and self.tail_exponent() > 1.0

    @cached_property
    def _grid(self) -> tuple[np.ndarray, np.ndarray, float]:
        """(u, log density of u = log tau unnormalised, log normaliser): trapezoid rule on u, which converges
        geometrically for this smooth integrand decaying at both ends."""
        centre = math.log(self.base.scale() or 1.0)
        excess = self.tail_exponent() - 1.0
        upper = centre + 40.0 + (60.0 / excess if math.isfinite(excess) else 0.0)
        u = np.arange(centre - 60.0, upper, 0.02)
        with np.errstate(over="ignore"):
            logd = self.alpha * self.base.logpdf(np.exp(u)) + u
        top = float(np.max(logd))
        log_norm = top + math.log(np.sum(np.exp(logd - top)) * 0.02)
        return u, logd, log_norm

    def logpdf(self, x, sei=None):
        log_norm = self._grid[2] if self.proper else 0.0
        return self.alpha * self.base.logpdf(x, sei) - log_norm

    def rvs(self, size, rng=None):
        if not self.proper:
            return super().rvs(size, rng)
        u, logd, log_norm = self._grid
        dens = np.exp(logd - log_norm)
        cdf = np.concatenate([[0.0], np.cumsum((dens[1:] + dens[:-1]) / 2 * np.diff(u))])
        cdf /= cdf[-1]
        q = _rng(rng).uniform(size=size)
        return np.exp(np.interp(q, cdf, u))

    def _power(self, alpha):
        return PoweredPrior(self.base, self.alpha * alpha)

    def scale(self):
        return self.base.scale()

    def tail_exponent(self):
        return self.alpha * self.base.tail_exponent()

    def to_pymc(self, name, sei=None):
        import pymc as pm

        var = pm.HalfFlat(name) if self.support == "positive" else pm.Flat(name)
        pm.Potential(f"{name}_prior", self._pymc_logp(var, sei))
        return var

    def _pymc_logp(self, value, sei=None):
        log_norm = self._grid[2] if self.proper else 0.0
        return self.alpha * self.base._pymc_logp(value, sei) - log_norm


@dataclass(frozen=True, eq=False)
class LomaxPrior(Prior):
    """lomax(shape, scale): (shape/scale) (1 + tau/scale)^-(shape+1) on tau >= 0 (a Pareto type II density)."""

    shape: float
    scale_: float
    family = "lomax"

    @property
    def text(self) -> str:
        return f"lomax({_fmt(self.shape)}, {_fmt(self.scale_)})"

    def logpdf(self, x, sei=None):
        const = math.log(self.shape / self.scale_)
        return _positive_logpdf(x, lambda t: const - (self.shape + 1.0) * np.log1p(t / self.scale_))

    def rvs(self, size, rng=None):
        return self.scale_ * np.expm1(-np.log1p(-_rng(rng).uniform(size=size)) / self.shape)

    def scale(self):
        return self.scale_

    def tail_exponent(self):
        return self.shape + 1.0

    def to_pymc(self, name, sei=None):
        import pymc as pm

        tau = pm.HalfFlat(name)
        pm.Potential(f"{name}_prior", self._pymc_logp(tau, sei))
        return tau

    def _pymc_logp(self, value, sei=None):
        import pytensor.tensor as pt

        return math.log(self.shape / self.scale_) - (self.shape + 1.0) * pt.log1p(value / self.scale_)


@dataclass(frozen=True, eq=False)
class InverseGammaPrior(Prior):
    """invgamma(shape, scale) on tau: scale^shape / Gamma(shape) tau^-(shape+1) exp(-scale / tau) (the default of
    metaBMA and RoBMA, invgamma(1, 0.15) on Cohen's d; Gronau et al. 2017, Bartos et al. 2022)."""

    shape: float
    scale_: float
    family = "invgamma"

    @property
    def text(self) -> str:
        return f"invgamma({_fmt(self.shape)}, {_fmt(self.scale_)})"

    def logpdf(self, x, sei=None):
        const = self.shape * math.log(self.scale_) - math.lgamma(self.shape)
        def inside(t):
            pos = np.where(t > 0, t, 1.0)
            return np.where(t > 0, const - (self.shape + 1.0) * np.log(pos) - self.scale_ / pos, -np.inf)

        return _positive_logpdf(x, inside)

    def rvs(self, size, rng=None):
        return self.scale_ / _rng(rng).gamma(self.shape, 1.0, size)

    def scale(self):
        return self.scale_ / (self.shape + 1.0)

    def tail_exponent(self):
        return self.shape + 1.0

    def to_pymc(self, name, sei=None):
        import pymc as pm

        return pm.InverseGamma(name, alpha=self.shape, beta=self.scale_)

    def _pymc_dist(self):
        import pymc as pm

        return pm.InverseGamma.dist(alpha=self.shape, beta=self.scale_)


RHODES_SMD_GENERAL = (-3.44, 2.59, 5.0)
"""Rhodes et al. 2015 (J Clin Epidemiol 68:52), the general setting: log tau^2 ~ t_5(-3.44, 2.59)."""


@dataclass(frozen=True, eq=False)
class LogTTau2Prior(Prior):
    """logt_tau2(location, scale, df): log tau^2 ~ location + scale T_df; on tau the density is
    2 tau f(tau^2) = t_df(z) / (scale tau) with z = (2 log tau - location) / scale."""

    location: float
    scale_: float
    df: float
    label: str = ""
    family = "logt_tau2"

    @property
    def text(self) -> str:
        if self.label:
            return self.label
        if (self.location, self.scale_, self.df) == RHODES_SMD_GENERAL:
            return "rhodes_smd"
        return f"logt_tau2({_fmt(self.location)}, {_fmt(self.scale_)}, {_fmt(self.df)})"

    def logpdf(self, x, sei=None):
        from scipy import stats

        def inside(t):
            log_t = np.log(np.where(t > 0, t, 1.0))
            dens = stats.t.logpdf((2.0 * log_t - self.location) / self.scale_, self.df) + math.log(2.0 / self.scale_) - log_t
            return np.where(t > 0, dens, -np.inf)

        return _positive_logpdf(x, inside)

    def rvs(self, size, rng=None):
        return np.exp(0.5 * (self.location + self.scale_ * _rng(rng).standard_t(self.df, size)))

    def scale(self):
        return math.exp(0.5 * self.location)

    def tail_exponent(self):
        return 1.0  # tau^-1 times a power of log tau: heavier than any tau^-(1 + e)

    def to_pymc(self, name, sei=None):
        import pymc as pm

        tau = pm.HalfFlat(name)
        pm.Potential(f"{name}_prior", self._pymc_logp(tau, sei))
        return tau

    def _pymc_logp(self, value, sei=None):
        """log t_df(z) + log(2 / scale) - log tau, z = (2 log tau - location) / scale (the class docstring)."""
        import pytensor.tensor as pt

        nu = self.df
        log_t_const = math.lgamma((nu + 1.0) / 2.0) - math.lgamma(nu / 2.0) - 0.5 * math.log(nu * math.pi)
        log_tau = pt.log(value)
        z = (2.0 * log_tau - self.location) / self.scale_
        return log_t_const - 0.5 * (nu + 1.0) * pt.log1p(z**2 / nu) + math.log(2.0 / self.scale_) - log_tau


# -- parsing -------------------------------------------------------------------------------------------------
_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z_0-9]*)\s*(?:\((.*)\))?\s*$", re.DOTALL)
_ARITY = {
    "normal": 2,
    "flat": 0,
    "halfnormal": 1,
    "halfcauchy": 1,
    "halft": 2,
    "exponential": 1,
    "uniform": 2,
    "lognormal": 2,
    "lognormal_tau2": 2,
    "jeffreys": 0,
    "halfflat": 0,
    "power": 2,
    "lomax": 2,
    "invgamma": 2,
    "logt_tau2": 3,
    "rhodes_smd": 0,
    "turner_or": 0,
}


def _bad(text: str, why: str) -> ModelError:
    return ModelError(f"cannot read prior {text!r}: {why} (valid forms: {VALID_FORMS})")


def _split_args(inner: str) -> list[str]:
    """Split on commas at the top level of parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(inner):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    parts.append(inner[start:])
    return [p.strip() for p in parts]


def _number(text: str, arg: str) -> float:
    try:
        value = float(arg)
    except ValueError:
        raise _bad(text, f"{arg!r} is not a number") from None
    if math.isnan(value):
        raise _bad(text, "NaN is not a valid parameter")
    return value


def parse_prior(text: str | Prior, for_param: str | None = None) -> Prior:
    """Parse a prior's text form (see the module docstring); a Prior passes through unchanged.

    ``for_param`` ('mu', 'beta' or 'tau'), when given, checks that the family suits the parameter: normal and
    flat for effects, the positive families for tau. Raises ModelError naming the valid forms."""
    if isinstance(text, Prior):
        prior = text
    else:
        if not isinstance(text, str):
            raise _bad(str(text), "a prior must be given as text")
        prior = _parse(text)
    if for_param is not None:
        want = "positive" if for_param == "tau" else "real"
        if prior.support != want:
            kinds = (
                "halfnormal, halfcauchy, halft, exponential, uniform, lognormal, lognormal_tau2, jeffreys, halfflat, "
                "lomax, invgamma, logt_tau2, rhodes_smd, turner_or"
                if want == "positive"
                else "normal, flat"
            )
            raise ModelError(f"prior {prior.text!r} does not suit parameter {for_param!r} (valid families: {kinds})")
    return prior


def _parse(text: str) -> Prior:
    match = _CALL.match(text)
    if not match:
        raise _bad(text, "not of the form name(arguments)")
    name, inner = match.group(1).lower(), match.group(2)
    if name not in _ARITY:
        raise _bad(text, f"unknown family {name!r}")
    args = [] if inner is None or inner.strip() == "" else _split_args(inner)
    if name == "rhodes_smd" and args:
        return rhodes_smd_prior(*args, text=text)
    if name == "turner_or" and args:
        return turner_or_prior(*args, text=text)
    if len(args) != _ARITY[name]:
        raise _bad(text, f"{name} takes {_ARITY[name]} argument(s), got {len(args)}")
    if name == "power":
        base = _parse(args[0])
        alpha = _number(text, args[1])
        if not (math.isfinite(alpha) and alpha > 0):
            raise _bad(text, "the exponent alpha must be a positive number")
        return PoweredPrior(base, alpha) if alpha != 1 else base
    nums = [_number(text, a) for a in args]

    def positive(value: float, what: str) -> float:
        if not (math.isfinite(value) and value > 0):
            raise _bad(text, f"{what} must be a positive finite number, got {_fmt(value)}")
        return value

    def finite(value: float, what: str) -> float:
        if not math.isfinite(value):
            raise _bad(text, f"{what} must be finite, got {_fmt(value)}")
        return value

    if name == "normal":
        return NormalPrior(finite(nums[0], "the mean"), positive(nums[1], "the sd"))
    if name == "flat":
        return FlatPrior()
    if name == "halfnormal":
        return HalfNormalPrior(positive(nums[0], "the scale"))
    if name == "halfcauchy":
        return HalfCauchyPrior(positive(nums[0], "the scale"))
    if name == "halft":
        return HalfTPrior(positive(nums[0], "nu"), positive(nums[1], "the scale"))
    if name == "exponential":
        return ExponentialPrior(positive(nums[0], "the rate"))
    if name == "uniform":
        lower, upper = nums
        if not (math.isfinite(lower) and lower >= 0):
            raise _bad(text, "the lower bound of a tau prior must be a finite number >= 0")
        if not upper > lower:
            raise _bad(text, "the upper bound must exceed the lower bound")
        if math.isinf(upper) and lower != 0:
            raise _bad(text, "an unbounded uniform prior must start at 0: uniform(0, inf)")
        return UniformPrior(lower, upper)
    if name == "lognormal":
        return LogNormalPrior(finite(nums[0], "meanlog"), positive(nums[1], "sdlog"))
    if name == "lognormal_tau2":
        return LogNormalPrior(finite(nums[0], "meanlog") / 2, positive(nums[1], "sdlog") / 2, on_tau2=True)
    if name == "jeffreys":
        return JeffreysPrior()
    if name == "lomax":
        return LomaxPrior(positive(nums[0], "the shape"), positive(nums[1], "the scale"))
    if name == "invgamma":
        return InverseGammaPrior(positive(nums[0], "the shape"), positive(nums[1], "the scale"))
    if name == "logt_tau2":
        return LogTTau2Prior(finite(nums[0], "the location"), positive(nums[1], "the scale"),
                             positive(nums[2], "the degrees of freedom"))
    if name == "rhodes_smd":
        return LogTTau2Prior(*RHODES_SMD_GENERAL)
    if name == "turner_or":
        return turner_or_prior(text=text)
    return HalfFlatPrior()


RHODES_FILE = Path(__file__).resolve().parent / "resources" / "rhodes2015.toml"


def rhodes_smd_prior(outcome: str, comparison: str, area: str = "other", text: str | None = None) -> Prior:
    """The Rhodes et al. 2015 (J Clin Epidemiol 68:52, Table 3 and A.3) heterogeneity prior for standardised mean
    differences of an outcome type, comparison type and medical area (``resources/rhodes2015.toml``), as R
    bayesmeta's ``RhodesEtAlPrior(outcome, comparator1, comparator2, area)``: log tau^2 ~ t_5(location, scale)."""
    table = tomllib.loads(RHODES_FILE.read_text(encoding="utf-8"))
    label = text or f"rhodes_smd({outcome}, {comparison}, {area})"
    for value, kind, valid in ((outcome, "outcome", table["outcomes"]), (comparison, "comparison", table["comparisons"]),
                               (area, "area", table)):
        keys = [k for k in valid if k not in ("df", "general", "outcomes", "comparisons")]
        if value not in keys:
            raise _bad(label, f"unknown {kind} {value!r} (valid: {', '.join(keys)})")
    location, scale = table[area][comparison][outcome]
    return LogTTau2Prior(float(location), float(scale), float(table["df"]), label=label)


TURNER_FILE = Path(__file__).resolve().parent / "resources" / "turner2015.toml"


def turner_or_prior(outcome: str | None = None, comparison: str | None = None, text: str | None = None) -> Prior:
    """The Turner et al. 2015 (Stat Med 34:984, Table IV) heterogeneity prior for log odds ratios of an outcome
    type and comparison type (``resources/turner2015.toml``; keys such as ``surgical`` and ``pharma_vs_placebo``),
    as R bayesmeta's ``TurnerEtAlPrior(outcome, comparator1, comparator2)``: log tau^2 ~ N(mu, sigma^2), i.e.
    tau ~ lognormal(mu/2, sigma/2); without arguments the marginal setting (mu -2.56, sigma 1.74; p. 993)."""
    table = tomllib.loads(TURNER_FILE.read_text(encoding="utf-8"))
    label = text or f"turner_or({outcome}, {comparison})"
    if outcome is None and comparison is None:
        mu, sigma = table["general"]["mu"], table["general"]["sigma"]
    else:
        for value, kind, valid in ((outcome, "outcome", table["outcomes"]),
                                   (comparison, "comparison", table["comparisons"])):
            if value not in valid:
                raise _bad(label, f"unknown {kind} {value!r} (valid: {', '.join(valid)})")
        mu, sigma = table[comparison][outcome]
    return LogNormalPrior(float(mu) / 2, float(sigma) / 2, on_tau2=True)


# -- named prior sets ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PriorSet:
    """A named combination of priors for mu, tau and the meta-regression coefficients beta."""

    name: str
    mu: Prior
    tau: Prior
    beta: Prior
    description: str = ""
    source: str = ""
    written_for: str | None = None
    """The direction of benefit ('below' or 'above' the null) the set's mu prior is written for (the file's
    top-level ``benefit`` key; the packaged sets: 'below'); None: used as written for every outcome."""

    def as_dict(self) -> dict[str, str]:
        return {"mu": self.mu.text, "tau": self.tau.text, "beta": self.beta.text}

    def for_benefit(self, benefit: object) -> PriorSet:
        """The set for an outcome whose benefit lies ``benefit`` ('below'/'above', or a Benefit) of the null: as
        written when it is written for that direction (or for none); else mirrored on the analysis scale, the
        mean of mu's normal prior changing sign (an enthusiastic prior centred on HR 0.7 becomes one centred on
        RR 1/0.7). Heterogeneity and coefficient priors are direction-free and kept."""
        from dataclasses import replace

        wanted = str(benefit)
        if self.written_for is None or self.written_for == wanted:
            return self
        mirrored = replace(self, written_for=wanted)
        if isinstance(self.mu, NormalPrior) and self.mu.mean != 0:
            mirrored = replace(mirrored, mu=NormalPrior(-self.mu.mean, self.mu.sd),
                               description=f"{self.description} Mirrored for an outcome where benefit lies "
                                           f"{wanted} the null.")
        return mirrored


def load_prior_sets(path: str | Path | None = None) -> dict[str, PriorSet]:
    """Read named prior sets from a TOML file (default: the sets shipped in ``bayesmeta/resources/priors.toml``):
    one table per set with keys ``mu``, ``tau``, ``beta`` (prior texts), ``description`` and ``source``; ``beta``
    defaults to ``mu``. An optional top-level ``benefit = "below"`` (or ``"above"``) says which direction of
    benefit the sets' mu priors are written for, so that they are mirrored for outcomes of the other direction
    (:meth:`PriorSet.for_benefit`); without it the sets are used as written."""
    file = Path(path) if path is not None else DEFAULT_PRIOR_FILE
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("prior file not found", file=str(file)) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", file=str(file)) from None
    written_for = raw.pop("benefit", None)
    if written_for is not None and written_for not in ("below", "above"):
        raise InputError(f"unknown direction of benefit {written_for!r}", file=str(file), column="benefit",
                         valid="below, above")
    sets: dict[str, PriorSet] = {}
    for name, table in raw.items():
        if not isinstance(table, dict):
            raise InputError("each prior set must be a table", file=str(file), column=name, valid="[name] mu = ...")
        for key in ("mu", "tau"):
            if key not in table:
                raise InputError(f"prior set {name!r} lacks {key!r}", file=str(file), column=f"{name}.{key}")
        parsed = {}
        for key in ("mu", "tau", "beta"):
            try:
                parsed[key] = parse_prior(str(table.get(key, table["mu"])), for_param=key)
            except ModelError as exc:
                raise InputError(str(exc), file=str(file), column=f"{name}.{key}") from None
        sets[name] = PriorSet(
            name=name,
            mu=parsed["mu"],
            tau=parsed["tau"],
            beta=parsed["beta"],
            description=str(table.get("description", "")),
            source=str(table.get("source", "")),
            written_for=written_for,
        )
    return sets


def normal_tail_scale(threshold_ratio: float, prob: float = 0.05) -> float:
    """sd s0 of a normal prior centred at 0 with P(exp(mu) < threshold_ratio) = prob (Spiegelhalter et al. 2004,
    ch. 5): s0 = ln(threshold) / Phi^-1(prob); e.g. threshold 0.7, prob 5% gives ln(0.7)/-1.645."""
    if not 0 < threshold_ratio < 1:
        raise ModelError(f"the threshold ratio must lie in (0, 1), got {threshold_ratio}")
    return math.log(threshold_ratio) / special.ndtri(prob)
