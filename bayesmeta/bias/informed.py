"""Cochrane-informed priors by medical subfield for the bias ensembles (Bartos et al. 2021, Stat Med 40:6743, for
standardised mean differences; Bartos et al. 2023, arXiv:2306.11468, for log OR, log RR, RD and log HR): the
effect mu ~ t_df(0, scale) and the heterogeneity tau ~ InvGamma(shape, scale) (half-normal for RD) that the
papers fitted to the Cochrane Database of Systematic Reviews, per Cochrane review group or for the whole database
("Cochrane"). The table is bayesmeta/resources/informed_medicine.toml (values as R BayesTools' prior_informed()).
PET and PEESE keep RoBMA's defaults for the measure (:func:`bayesmeta.bias.priors.default_priors`)."""

from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from pathlib import Path

from bayesmeta.bias.priors import BiasPriors, TPrior, default_priors
from bayesmeta.errors import ModelError
from bayesmeta.priors import HalfNormalPrior, InverseGammaPrior, Prior

INFORMED_FILE = Path(__file__).resolve().parent.parent / "resources" / "informed_medicine.toml"
MEASURE_KEYS = {"SMD": "smd", "OR": "logor", "RR": "logrr", "RD": "rd", "HR": "loghr"}
"""The measures with informed priors and their table in the resource file."""


def _key(name: str) -> str:
    """Subfield names compare without case, spaces or punctuation ("oral health" = "Oral Health")."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


@lru_cache(maxsize=1)
def _table() -> dict[str, dict[str, dict[str, list[float]]]]:
    with open(INFORMED_FILE, "rb") as fh:
        return tomllib.load(fh)


def subfields(measure: str) -> list[str]:
    """The subfields with an informed effect prior for the measure (in the resource file's order)."""
    return list(_table()[_measure_key(measure)]["effect"])


def all_subfields() -> list[str]:
    """Every subfield with an informed prior for some measure."""
    names: dict[str, None] = {}
    for part in _table().values():
        names.update(dict.fromkeys(part["effect"]))
    return list(names)


def known_subfield(name: str) -> bool:
    return _key(name) in {_key(n) for n in all_subfields()}


def _measure_key(measure: str | None) -> str:
    if measure not in MEASURE_KEYS:
        raise ModelError(f"informed priors exist for the measures {', '.join(MEASURE_KEYS)}, not {measure}")
    return MEASURE_KEYS[measure]


def _lookup(part: dict[str, list[float]], subfield: str, what: str, measure: str) -> list[float]:
    found = {_key(name): values for name, values in part.items()}
    if _key(subfield) not in found:
        raise ModelError(f"no informed {what} prior for {subfield!r} and measure {measure} (valid: "
                         f"{'; '.join(part)})")
    return found[_key(subfield)]


def informed_effect_prior(subfield: str, measure: str) -> TPrior:
    """mu ~ t_df(0, scale) for the subfield and measure."""
    scale, df = _lookup(_table()[_measure_key(measure)]["effect"], subfield, "effect", measure)
    return TPrior(0.0, float(scale), float(df))


def informed_tau_prior(subfield: str, measure: str) -> Prior:
    """tau ~ InvGamma(shape, scale) (half-normal(sd) for RD) for the subfield and measure."""
    values = _lookup(_table()[_measure_key(measure)]["heterogeneity"], subfield, "heterogeneity", measure)
    if measure == "RD":
        return HalfNormalPrior(float(values[0]))
    return InverseGammaPrior(float(values[0]), float(values[1]))


def informed_priors(subfield: str, measure: str) -> BiasPriors:
    """The bias ensemble's priors with the informed mu and tau of the subfield; PET and PEESE as RoBMA's
    defaults for the measure."""
    mu, tau = informed_effect_prior(subfield, measure), informed_tau_prior(subfield, measure)
    base = default_priors(measure)
    return BiasPriors(mu=mu, tau=tau, pet=base.pet, peese=base.peese,
                      note=f"Cochrane-informed priors for {subfield} ({measure}; Bartos et al. 2021, 2023)")
