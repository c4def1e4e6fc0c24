"""Effect measures and their two scales: the one home of measure names, the ratio/difference split and the
conversion between the analysis scale and the reported scale.

Ratio measures (HR, RR, OR, IRR, ROM) are analysed on the log scale and reported as ratios (mu = log HR,
HR = exp(mu));
differences (MD, SMD, RD) and generic effects (GEN) are analysed and reported as they are. The null effect is 1
for a ratio and 0 otherwise (Viechtbauer 2010, J Stat Softw 36(3), for the measure names of metafor's escalc).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bayesmeta.benefit import Benefit
from bayesmeta.errors import InputError

if TYPE_CHECKING:  # numpy is imported where used: the command line's option lists read this module
    import numpy as np


@dataclass(frozen=True)
class MeasureInfo:
    """One effect measure: its code, a label for people, and whether it is a ratio (analysed as a log)."""

    code: str
    label: str
    ratio: bool

    @property
    def analysis_label(self) -> str:
        """The name of the analysis scale, 'log HR' for a ratio, the code itself otherwise."""
        return f"log {self.code}" if self.ratio else self.code


MEASURE_INFO: dict[str, MeasureInfo] = {
    m.code: m
    for m in (
        MeasureInfo("HR", "hazard ratio", True),
        MeasureInfo("RR", "risk ratio", True),
        MeasureInfo("OR", "odds ratio", True),
        MeasureInfo("IRR", "incidence rate ratio", True),
        MeasureInfo("ROM", "ratio of means", True),
        MeasureInfo("MD", "mean difference", False),
        MeasureInfo("SMD", "standardised mean difference (Hedges' g)", False),
        MeasureInfo("RD", "risk difference", False),
        MeasureInfo("GEN", "generic effect", False),
    )
}
MEASURES: tuple[str, ...] = tuple(MEASURE_INFO)
RATIO_MEASURES: tuple[str, ...] = tuple(code for code, m in MEASURE_INFO.items() if m.ratio)
DIFFERENCE_MEASURES: tuple[str, ...] = tuple(code for code, m in MEASURE_INFO.items() if not m.ratio)
COUNT_MEASURES: tuple[str, ...] = ("RR", "OR", "RD")
"""Measures derivable from the four arm counts."""
PERSON_TIME_MEASURES: tuple[str, ...] = ("IRR",)
"""Measures derivable from events and person-time per arm."""
MEAN_MEASURES: tuple[str, ...] = ("MD", "SMD", "ROM")
"""Measures derivable from means, SDs and arm sizes."""
RATIO_OF_MEANS: tuple[str, ...] = tuple(m for m in MEAN_MEASURES if m in RATIO_MEASURES)
"""Measures of means and SDs defined for positive means only (ROM)."""
OWN_UNIT_MEASURES: tuple[str, ...] = ("MD", "GEN")
"""Measures in the outcome's own units (days, mmHg), whose scale unit is derived (:mod:`bayesmeta.scale_unit`)."""


def measure_info(measure: str) -> MeasureInfo:
    """The :class:`MeasureInfo` of a measure code; InputError naming the valid codes otherwise."""
    try:
        return MEASURE_INFO[measure]
    except KeyError:
        raise InputError(f"unknown measure '{measure}'", column="measure", valid=", ".join(MEASURES)) from None


def parse_measure(value: str, *, file: str | None = None, row: int | None = None,
                  column: str | None = "measure") -> str:
    """A measure code from user text (case-insensitive), or InputError located at ``file``/``row``/``column``."""
    code = str(value).strip().upper()
    if code not in MEASURE_INFO:
        raise InputError(f"unknown measure '{value}'", file=file, row=row, column=column,
                         valid=", ".join(MEASURES))
    return code


def is_ratio(measure: str) -> bool:
    """True for the ratio measures, HR, RR, OR, IRR and ROM (analysed on the log scale)."""
    return measure in RATIO_MEASURES


def null_value(measure: str) -> float:
    """The no-effect value on the reported scale: 1 for a ratio measure, 0 otherwise."""
    return 1.0 if is_ratio(measure) else 0.0


def to_analysis(value: float, measure: str) -> float:
    """A reported value (a threshold, a published estimate) on the analysis scale: log(value) for a ratio
    measure (value > 0), else the value. Non-finite values are refused."""
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f"{value} is not a finite number", valid="a finite number")
    if is_ratio(measure):
        if value <= 0:
            raise InputError(f"a ratio threshold must be positive, got {value:g}", valid="a ratio > 0")
        return math.log(value)
    return value


def to_reported(values: np.ndarray | float, measure: str) -> np.ndarray:
    """Analysis-scale values on the reported scale: exp(values) for a ratio measure, else the values (floats)."""
    import numpy as np

    v = np.asarray(values, dtype=float)
    return np.exp(v) if is_ratio(measure) else v


def reported_float(value: float, measure: str) -> float:
    """One analysis-scale number on the reported scale, as a Python float."""
    return float(to_reported(value, measure))


def prob_column(threshold: float, benefit: Benefit | str) -> str:
    """Column name of P(effect < threshold) (``prob_below_<t>``, benefit below) or P(effect > threshold)
    (``prob_above_<t>``, benefit above)."""
    return f"prob_{Benefit.parse(benefit).value}_{threshold:g}"


def contrast_name(measure: str) -> str:
    """How two effects of the measure compare on the reported scale: 'ratio' for a ratio measure (exp of a
    difference of logs), 'difference' otherwise."""
    return "ratio" if is_ratio(measure) else "difference"


def contrast_text(measure: str, level: str, reference: str) -> str:
    """'OR ratio a / b' or 'MD difference a - b': the effect at ``level`` against that at ``reference``."""
    return f"{measure} ratio {level} / {reference}" if is_ratio(measure) else \
        f"{measure} difference {level} - {reference}"


BINARY_MEASURES: tuple[str, ...] = ("RR", "OR", "RD")
"""Measures of a binary outcome, computed from arm counts (events and participants per arm)."""
TSA_MEASURES: tuple[str, ...] = BINARY_MEASURES + ("MD", "HR")
"""Measures a trial sequential analysis sizes: binary (participants), MD (participants), HR (events)."""
TSA_INPUT_MEASURES: tuple[str, ...] = TSA_MEASURES + ("SMD",)
"""Measures a trial sequential analysis takes: those it sizes, and the SMD, sized as an MD in units of the SD.
IRR (its information is in events over person-time) and ROM are not among them: the TSA refuses them."""
