"""The outcome's scale unit: how large a heterogeneity or an effect is on a measure's analysis scale.

The unit is the unit-information standard deviation sigma_u (Röver, Bender, Dias, Schmid, Schmidli, Sturtz, Weber
& Friede 2021, On weakly informative prior distributions for the heterogeneity parameter in Bayesian random-effects
meta-analysis, Res Synth Methods 12:448-474): the SD of one participant's contribution, sei = sigma_u / sqrt(n),
estimated as sqrt(sum n_i / sum sei_i^-2) (their eq. 6; :func:`bayesmeta.information.uisd`), with a weakly
informative tau ~ halfnormal(sigma_u / 8) and mu ~ normal(0, sigma_u).

- HR, RR, OR (log scale), SMD and RD: the packaged conventions, written for a log odds ratio, whose sigma_u is 4
  at an event rate of 1/2 (mu ~ normal(0, 4), tau ~ halfnormal(0.5) = halfnormal(4 / 8)); they are kept as they
  are, so existing results do not change.
- MD and GEN, in the outcome's own units (days, mmHg): sigma_u is, in this order, the one given (``uisd``);
  8 x the characteristic scale of a tau prior written by the user for that scale (halfnormal(3.25) days gives
  26 days); or the unit-information SD of the studies' sample sizes and standard errors. Without any of these
  there is no unit (``uisd`` None): the packaged conventions are used where a default cannot be refused (prior
  grid, monitoring), and the bias priors refuse to guess (:func:`bayesmeta.bias.priors.default_priors`).

From sigma_u follow the defaults sized for the scale: the prior grid's half-normal tau scales, half to four times
sigma_u / 8 (0.25, 0.5, 1, 2 for sigma_u = 4); the monitoring simulations' heterogeneities, (0, 0.3) x sigma_u / 4;
and the factor that takes RoBMA's default bias priors from Cohen's d to the measure, sigma_u / 2 (the
unit-information SD of an SMD between two equal arms of n / 2, se ~ 2 / sqrt(n), is 2; RoBMA 4 rescales its
defaults by UISD_measure / UISD_SMD in the same way).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bayesmeta.errors import InputError
from bayesmeta.priors import Prior
from bayesmeta.scales import OWN_UNIT_MEASURES

PACKAGED_UISD = 4.0
"""sigma_u of the packaged prior sets (a log odds ratio at an event rate of 1/2; Röver et al. 2021)."""
PACKAGED_TAU_SCALES = (0.25, 0.5, 1.0, 2.0)
"""The prior grid's half-normal tau scales for the packaged conventions."""
PACKAGED_MONITORING_TAUS = (0.0, 0.3)
"""The monitoring simulations' heterogeneities for the packaged conventions."""
TAU_PRIOR_PER_UISD = 1.0 / 8.0
"""tau ~ halfnormal(sigma_u / 8) (Röver et al. 2021): the tau prior scale belonging to sigma_u."""
GRID_MULTIPLES = (0.5, 1.0, 2.0, 4.0)
"""The grid's tau scales as multiples of sigma_u / 8."""
SMD_UISD = 2.0
"""sigma_u of an SMD between two equal arms (n total): the Cohen's d unit of RoBMA's default bias priors."""
UNIT_MEASURES = OWN_UNIT_MEASURES
"""Measures in the outcome's own units, whose scale unit is derived rather than conventional."""


@dataclass(frozen=True)
class ScaleUnit:
    """The scale unit of one outcome: ``uisd`` (sigma_u on the analysis scale; None: none could be derived for an
    MD or GEN) and where it comes from (``source``), ``packaged`` for the measures that keep the conventions."""

    measure: str
    uisd: float | None
    source: str
    packaged: bool = False

    @property
    def derived(self) -> bool:
        return not self.packaged and self.uisd is not None

    def tau_scales(self) -> tuple[float, ...]:
        """The prior grid's half-normal tau scales: sigma_u / 8 x (0.5, 1, 2, 4); the packaged ones otherwise."""
        if not self.derived:
            return PACKAGED_TAU_SCALES
        base = float(self.uisd) * TAU_PRIOR_PER_UISD
        return tuple(_round(m * base) for m in GRID_MULTIPLES)

    def monitoring_tau_values(self) -> tuple[float, ...]:
        """The monitoring simulations' heterogeneities: (0, 0.3) x sigma_u / 4; the packaged ones otherwise."""
        if not self.derived:
            return PACKAGED_MONITORING_TAUS
        return tuple(_round(t * float(self.uisd) / PACKAGED_UISD) for t in PACKAGED_MONITORING_TAUS)

    def cohens_d(self) -> float | None:
        """The size of one Cohen's d on the analysis scale, sigma_u / 2, for MD and GEN (None without a unit)."""
        return None if not self.derived else float(self.uisd) / SMD_UISD

    def as_dict(self) -> dict[str, object]:
        return {"measure": self.measure, "uisd": self.uisd, "source": self.source, "packaged": self.packaged,
                "tau_scales": list(self.tau_scales()), "monitoring_tau_values": list(self.monitoring_tau_values())}


def _round(value: float) -> float:
    """Four significant digits, so that a grid label reads halfnormal(1.625), not halfnormal(1.6250000001)."""
    return float(f"{value:.4g}")


def scale_unit(measure: str, *, uisd: float | None = None, tau_prior: Prior | None = None,
               sample_sizes: Sequence[float] | np.ndarray | None = None,
               sei: Sequence[float] | np.ndarray | None = None) -> ScaleUnit:
    """The scale unit of ``measure`` (module docstring). ``tau_prior``: a tau prior the user wrote for the
    outcome's scale (not the packaged one); ``sample_sizes`` with ``sei``: the studies' total sizes and standard
    errors (used when every size is a positive number)."""
    measure = str(measure).upper()
    if measure not in UNIT_MEASURES:
        return ScaleUnit(measure, PACKAGED_UISD, "the packaged convention of the log scale", packaged=True)
    if uisd is not None:
        if not (math.isfinite(uisd) and uisd > 0):
            raise InputError(f"unit-information SD {uisd!r}", column="--uisd", valid="a positive number")
        return ScaleUnit(measure, float(uisd), "the value given")
    scale = tau_prior.scale() if tau_prior is not None else None
    if scale is not None and math.isfinite(scale) and scale > 0:
        return ScaleUnit(measure, float(scale) / TAU_PRIOR_PER_UISD, f"8 x the scale of tau ~ {tau_prior.text}")
    if sample_sizes is not None and sei is not None:
        n = np.asarray(sample_sizes, dtype=float)
        if n.size and np.all(np.isfinite(n)) and np.all(n > 0):
            from bayesmeta.information import uisd as estimate

            return ScaleUnit(measure, estimate(n, sei),
                             f"the unit-information SD of {n.size} studies' sizes and standard errors")
    return ScaleUnit(measure, None, "none: no unit-information SD, own tau prior or sample sizes")
