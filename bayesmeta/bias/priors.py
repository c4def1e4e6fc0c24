"""Priors of the bias ensembles on the effect scale: location-scale Student-t priors (normal when df = inf) with
an optional truncation, for the effect mu and the PET/PEESE coefficient b, and the RoBMA defaults by measure.

A t prior is a scale mixture of normals, t_nu(m, s) = int N(m, s^2/g) Gamma(g; nu/2, rate nu/2) dg, so that given
g every model without selection is Gaussian in (mu, b) and its marginal likelihood is closed-form in them.

RoBMA's defaults (Bartos et al. 2022, Res Synth Methods 14:99; ``set_default_priors``) are stated for Cohen's d:
mu ~ N(0, 1), tau ~ InvGamma(1, 0.15), PET b ~ Cauchy(0, 1) on b > 0, PEESE b ~ Cauchy(0, 5) on b > 0. For a log
odds ratio RoBMA rescales them by the logistic-to-normal factor pi / sqrt(3) (log OR = d pi / sqrt(3); Borenstein
et al. 2009, ch. 7): mu and tau scale by it, PET's b is scale-free and PEESE's b (a coefficient of se^2) scales by
its inverse. We apply the log OR factor to every log ratio (OR, RR, HR), as RoBMA's ``prior_scale = "logOR"`` does
for any log ratio given to it, and factor 1 to SMD; RD keeps the Cohen's d numbers (a note says so). An MD or GEN,
in the outcome's own units, is rescaled by the size of one Cohen's d in those units, sigma_u / 2 with sigma_u the
outcome's unit-information SD (:mod:`bayesmeta.scale_unit`; RoBMA 4 rescales by UISD_measure / UISD_SMD alike):
mu and tau by it, PEESE's b by its inverse. Without a unit the defaults are refused (:class:`ModelError`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import special, stats

from bayesmeta.errors import ModelError
from bayesmeta.priors import InverseGammaPrior, Prior, parse_prior
from bayesmeta.scale_unit import UNIT_MEASURES, ScaleUnit
from bayesmeta.scales import is_ratio, measure_info

LOGOR_PER_D = math.pi / math.sqrt(3.0)


@dataclass(frozen=True)
class TPrior:
    """A location-scale t prior t_df(location, scale) (normal when df = inf), truncated to [lower, upper]."""

    location: float = 0.0
    scale: float = 1.0
    df: float = math.inf
    lower: float = -math.inf
    upper: float = math.inf

    def __post_init__(self) -> None:
        if not (math.isfinite(self.location) and self.scale > 0 and math.isfinite(self.scale) and self.df > 0):
            raise ModelError(f"invalid t prior {self.text}: need a finite location, scale > 0 and df > 0")
        if not self.lower < self.upper:
            raise ModelError(f"invalid t prior {self.text}: the lower bound must lie below the upper bound")

    @property
    def normal(self) -> bool:
        return math.isinf(self.df)

    @property
    def truncated(self) -> bool:
        return math.isfinite(self.lower) or math.isfinite(self.upper)

    @property
    def text(self) -> str:
        base = (f"normal({self.location:g}, {self.scale:g})" if math.isinf(self.df)
                else f"cauchy({self.location:g}, {self.scale:g})" if self.df == 1
                else f"t({self.df:g}, {self.location:g}, {self.scale:g})")
        if self.truncated:
            base += f" on [{self.lower:g}, {self.upper:g}]"
        return base

    def _dist(self):
        return stats.norm(self.location, self.scale) if self.normal else stats.t(self.df, self.location, self.scale)

    def log_mass(self) -> float:
        """log P(lower <= x <= upper) under the untruncated prior (the truncation's normaliser)."""
        return _log_mass(self)

    def logpdf(self, x: np.ndarray | float) -> np.ndarray:
        """The (truncated) density in closed form (a frozen scipy distribution per call costs more than the
        arithmetic on the quadrature grids)."""
        x = np.asarray(x, dtype=float)
        z = (x - self.location) / self.scale
        if self.normal:
            out = -0.5 * z * z - 0.5 * math.log(2 * math.pi)
        else:
            nu = self.df
            out = (special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2) - 0.5 * math.log(nu * math.pi)
                   - (nu + 1) / 2 * np.log1p(z * z / nu))
        out = out - math.log(self.scale) - self.log_mass()
        if not self.truncated:
            return out
        return np.where((x >= self.lower) & (x <= self.upper), out, -np.inf)

    def log_mixing(self, log_g: np.ndarray) -> np.ndarray:
        """log density of v = log g, g ~ Gamma(df/2, rate df/2) (the t prior's precision multiplier)."""
        h = self.df / 2.0
        return h * math.log(h) - special.gammaln(h) + h * log_g - h * np.exp(log_g)

    def scaled(self, factor: float) -> TPrior:
        return TPrior(self.location * factor, self.scale * factor, self.df, self.lower * factor,
                      self.upper * factor)


@lru_cache(maxsize=256)
def _log_mass(prior: TPrior) -> float:
    if not prior.truncated:
        return 0.0
    d = prior._dist()
    return float(np.log(d.cdf(prior.upper) - d.cdf(prior.lower)))


def parse_tprior(text: str) -> TPrior:
    """Read ``normal(m, s)``, ``cauchy(m, s)``, ``t(df, m, s)``, each optionally followed by ``+`` (truncated to
    x >= 0) or ``-`` (x <= 0); e.g. ``cauchy(0, 0.707)+`` is the half-Cauchy testing prior of Gronau et al. 2017."""
    raw = text.strip()
    sign = raw[-1] if raw.endswith(("+", "-")) else ""
    body = raw[:-1].strip() if sign else raw
    try:
        name, inner = body.split("(", 1)
        args = [float(a) for a in inner.rstrip(")").split(",")]
    except ValueError:
        raise ModelError(f"cannot read effect prior {text!r} (valid: normal(m, s), cauchy(m, s), t(df, m, s), "
                         "each optionally followed by + or -)") from None
    name = name.strip().lower()
    arity = {"normal": 2, "cauchy": 2, "t": 3}
    if name not in arity or len(args) != arity[name]:
        raise ModelError(f"cannot read effect prior {text!r} (valid: normal(m, s), cauchy(m, s), t(df, m, s))")
    df, loc, scale = (math.inf, *args) if name == "normal" else (1.0, *args) if name == "cauchy" else args
    lower, upper = (0.0, math.inf) if sign == "+" else (-math.inf, 0.0) if sign == "-" else (-math.inf, math.inf)
    return TPrior(loc, scale, df, lower, upper)


@dataclass(frozen=True)
class BiasPriors:
    """The priors of one ensemble on the analysis scale: mu, tau, PET's b and PEESE's b."""

    mu: TPrior
    tau: Prior
    pet: TPrior
    peese: TPrior
    note: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"mu": self.mu.text, "tau": self.tau.text, "pet": self.pet.text, "peese": self.peese.text}


NO_UNIT = ("RoBMA's default priors are stated for Cohen's d, and the {measure} is in the outcome's own units: give "
           "its unit-information SD (Röver et al. 2021; `bayesmeta bias --uisd`, e.g. 26 for days; in a plan, "
           "prior sets on the {measure} scale in data.priors), the studies' sample sizes (an n_total column or "
           "arm totals), or priors on the {measure} scale for mu, tau and PEESE")
"""The error when an MD or GEN has no scale unit to rescale the default priors by."""


def scale_factor(measure: str | None, unit: ScaleUnit | None = None) -> tuple[float, str]:
    """The factor from Cohen's d to the measure's analysis scale (MD, GEN: ``unit``'s
    :meth:`~bayesmeta.scale_unit.ScaleUnit.cohens_d`), and a note when the factor is a convention or derived."""
    if measure is None or measure in ("SMD",):
        return 1.0, ""
    measure_info(measure)
    if is_ratio(measure):
        return LOGOR_PER_D, ""
    if measure in UNIT_MEASURES:
        d = unit.cohens_d() if unit is not None and unit.measure == measure else None
        if d is None:
            raise ModelError(NO_UNIT.format(measure=measure))
        return d, (f"the default priors are RoBMA's for Cohen's d rescaled to the {measure} by {d:.4g} (half the "
                   f"unit-information SD {unit.uisd:.4g}, from {unit.source})")
    return 1.0, (f"the default priors are RoBMA's for Cohen's d, used unscaled for {measure}: give priors on the "
                 f"{measure} scale when its units differ much from standard deviations")


def default_priors(measure: str | None = None, *, mu: str | None = None, tau: str | None = None,
                   pet: str | None = None, peese: str | None = None, unit: ScaleUnit | None = None) -> BiasPriors:
    """RoBMA's default priors rescaled to the measure (module docstring; ``unit``: the scale unit of an MD or
    GEN, :func:`bayesmeta.scale_unit.scale_unit`); any of them replaced by text."""
    if measure in UNIT_MEASURES and mu and tau and peese:
        return BiasPriors(parse_tprior(mu), parse_prior(tau, for_param="tau"),
                          parse_tprior(pet) if pet else TPrior(0.0, 1.0, 1.0, 0.0), parse_tprior(peese))
    f, note = scale_factor(measure, unit)
    return BiasPriors(
        mu=parse_tprior(mu) if mu else TPrior(0.0, 1.0 * f),
        tau=parse_prior(tau, for_param="tau") if tau else InverseGammaPrior(1.0, 0.15 * f),
        pet=parse_tprior(pet) if pet else TPrior(0.0, 1.0, 1.0, 0.0),
        peese=parse_tprior(peese) if peese else TPrior(0.0, 5.0 / f, 1.0, 0.0),
        note=note,
    )
