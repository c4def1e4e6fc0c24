"""Pairs of treatment effects per study (x: the candidate surrogate, y: the final outcome) from an outcomes table
(:func:`bayesmeta.data.load_outcomes`; effects derived by :func:`bayesmeta.effects.effects_for`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayesmeta.effects import effects_for
from bayesmeta.errors import InputError, ModelError

MIN_PAIRS = 3


@dataclass(frozen=True)
class EffectPairs:
    """k studies with both effects on the analysis scale; ``unpaired`` the studies with only one of them."""

    x_outcome: str
    y_outcome: str
    x_measure: str
    y_measure: str
    study: tuple[str, ...]
    x: np.ndarray
    sx: np.ndarray
    y: np.ndarray
    sy: np.ndarray
    unpaired: tuple[str, ...] = ()

    @property
    def k(self) -> int:
        return len(self.study)


def _one_measure(effects: pd.DataFrame, outcome: str) -> str:
    measures = sorted(set(effects["measure"]))
    if len(measures) != 1:
        raise InputError(f"outcome '{outcome}' has effects in several measures ({', '.join(measures)})",
                         column="measure", valid="one measure per outcome")
    return measures[0]


def effect_pairs(outcomes: pd.DataFrame, x: str, y: str, studies: pd.DataFrame | None = None) -> EffectPairs:
    """The studies with a usable effect of both outcomes ``x`` and ``y`` (in the order of the x effects)."""
    if x == y:
        raise InputError(f"the surrogate and the final outcome are both '{x}'", column="--final",
                         valid="two different outcomes")
    ex = effects_for(x, outcomes, studies).set_index("study_id")
    ey = effects_for(y, outcomes, studies).set_index("study_id")
    both = [s for s in ex.index if s in ey.index]
    unpaired = tuple(s for s in [*ex.index, *ey.index] if s not in both)
    if len(both) < MIN_PAIRS:
        raise ModelError(f"only {len(both)} studies report both {x} and {y}; a trial-level surrogacy model needs "
                         f"at least {MIN_PAIRS}")
    return EffectPairs(
        x_outcome=x, y_outcome=y, x_measure=_one_measure(ex, x), y_measure=_one_measure(ey, y), study=tuple(both),
        x=ex.loc[both, "yi"].to_numpy(float), sx=ex.loc[both, "sei"].to_numpy(float),
        y=ey.loc[both, "yi"].to_numpy(float), sy=ey.loc[both, "sei"].to_numpy(float), unpaired=unpaired,
    )
