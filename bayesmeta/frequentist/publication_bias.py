"""The frequentist publication-bias panel a reviewer asks for: Egger's test, Begg's rank test, trim-and-fill,
PET-PEESE and a step-function selection model, on one data set with one set of settings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from numpy.typing import ArrayLike

from bayesmeta.asymmetry import MIN_K, below_min_k
from bayesmeta.benefit import Benefit
from bayesmeta.effect_data import EffectData
from bayesmeta.frequentist.egger import EggerResult, egger_test
from bayesmeta.frequentist.inputs import canonical_method, effects_input
from bayesmeta.frequentist.petpeese import PetPeeseResult, pet_peese
from bayesmeta.frequentist.ranktest import RankTestResult, rank_test
from bayesmeta.frequentist.result import plain
from bayesmeta.frequentist.selmodel import SelectionModelResult, check_steps, selection_model
from bayesmeta.frequentist.trimfill import TrimFillResult, trimfill

DEFAULT_STEPS = (0.025,)  # the three-parameter selection model (3PSM): significant one-sided or not


@dataclass(frozen=True)
class PublicationBiasResult:
    """Each method's record; ``alternative`` is the side of the selection model's one-sided p-values;
    ``below_min_k``: fewer than ``min_k`` = 10 studies, too few for any of these methods (Sterne et al. 2011)."""

    k: int
    egger: EggerResult
    rank_test: RankTestResult
    trimfill: TrimFillResult
    pet_peese: PetPeeseResult
    selection_model: SelectionModelResult
    min_k: int = MIN_K
    below_min_k: bool = False

    def as_dict(self) -> dict[str, Any]:
        return plain(self)


def selection_side(benefit: Benefit | str) -> str:
    """metafor's ``alternative`` for selection favouring significant benefit: 'less' when benefit lies below the
    null (small p for effects below it), 'greater' above."""
    return "less" if Benefit.parse(benefit).below else "greater"


def publication_bias(data: EffectData | ArrayLike, vi: ArrayLike | None = None, *, sei: ArrayLike | None = None,
                     method: str = "REML", test: str = "z", level: float = 0.95,
                     steps: Sequence[float] = DEFAULT_STEPS, benefit: Benefit | str = Benefit.BELOW,
                     estimator: str = "L0") -> PublicationBiasResult:
    """Egger (1997), Begg & Mazumdar (1994), Duval & Tweedie trim-and-fill (``estimator``, side chosen as
    metafor does, refitted with ``method``/``test``/``level``), PET-PEESE (common-effect weights, alpha 0.10)
    and the Vevea & Hedges step-function model with cut-offs ``steps`` on one-sided p-values towards
    ``benefit`` (as metafor's ``selmodel`` of the ``method`` fit: tau^2 = 0 for FE, else ML). Needs k >= 3; bad
    steps raise before anything is fitted."""
    y, v, _ = effects_input(data, vi, sei=sei, min_k=3)
    steps_t = check_steps(steps)
    return PublicationBiasResult(
        k=int(y.size),
        egger=egger_test(y, v, level=level),
        rank_test=rank_test(y, v),
        trimfill=trimfill(y, v, method=method, estimator=estimator, test=test, level=level),
        pet_peese=pet_peese(y, v, level=level),
        selection_model=selection_model(y, v, steps=steps_t[:-1], alternative=selection_side(benefit), level=level,
                                        common_effect=canonical_method(method) == "FE"),
        below_min_k=below_min_k(y.size),
    )
