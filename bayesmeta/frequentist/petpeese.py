"""PET, PEESE and the conditional PET-PEESE estimator (Stanley TD & Doucouliagos H 2014, Res Synth Methods
5:60-78; Stanley TD 2017, Soc Psychol Personal Sci 8:581-591)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from bayesmeta.effect_data import EffectData
from bayesmeta.errors import InputError, ModelError
from bayesmeta.frequentist.inputs import check_level, effects_input
from bayesmeta.frequentist.result import Coefficient, RmaResult, plain
from bayesmeta.frequentist.rma import rma


@dataclass(frozen=True)
class PetPeeseResult:
    """The PET fit (y on se), the PEESE fit (y on v) and the conditional choice between them.

    ``selected`` is 'PEESE' when PET's intercept differs from 0 at level ``alpha`` (two-sided), else 'PET';
    ``estimate`` and its CI are the selected fit's intercept (the effect of a study with se = 0).
    """

    k: int
    pet: RmaResult
    peese: RmaResult
    alpha: float
    selected: str
    estimate: float
    se: float
    pval: float
    ci_lower: float
    ci_upper: float

    @property
    def pet_intercept(self) -> Coefficient:
        return self.pet.coefficients[0]

    @property
    def peese_intercept(self) -> Coefficient:
        return self.peese.coefficients[0]

    def as_dict(self) -> dict[str, Any]:
        return plain(self)


def pet_peese(data: EffectData | ArrayLike, vi: ArrayLike | None = None, *, sei: ArrayLike | None = None,
              test: str = "z", level: float = 0.95, alpha: float = 0.10) -> PetPeeseResult:
    """PET: y_i = b0 + b1 se_i + e_i; PEESE: y_i = b0 + b1 v_i + e_i; both weighted by 1/v_i, exactly metafor
    ``rma(yi, vi, mods = ~ sqrt(vi), method = "FE")`` and ``mods = ~ vi`` (``test='knha'`` gives the
    multiplicative-dispersion weighted least squares of Stanley & Doucouliagos, i.e. R's
    ``lm(yi ~ sqrt(vi), weights = 1/vi)``). The conditional estimator uses PEESE when PET's intercept test
    rejects b0 = 0 at two-sided level ``alpha`` (0.10, Stanley 2017), PET otherwise.
    """
    level = check_level(level)
    if not 0.0 < float(alpha) < 1.0:
        raise InputError(f"alpha must lie strictly between 0 and 1, got {alpha}", valid="e.g. 0.10")
    y, v, _ = effects_input(data, vi, sei=sei, min_k=3)
    if np.all(v == v[0]):
        raise ModelError("PET-PEESE needs studies of different precision: all sampling variances are equal")
    pet = rma(y, v, method="FE", test=test, level=level, mods=np.sqrt(v), mod_names=("sei",))
    peese = rma(y, v, method="FE", test=test, level=level, mods=v, mod_names=("vi",))
    selected = "PEESE" if pet.coefficients[0].pval < alpha else "PET"
    c = (peese if selected == "PEESE" else pet).coefficients[0]
    return PetPeeseResult(k=int(y.size), pet=pet, peese=peese, alpha=float(alpha), selected=selected,
                          estimate=c.estimate, se=c.se, pval=c.pval, ci_lower=c.ci_lower, ci_upper=c.ci_upper)
