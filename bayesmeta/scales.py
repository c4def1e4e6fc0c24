"""Reported vs analysis scale of an effect measure.

Ratio measures (HR, RR, OR) are analysed on the log scale and reported as ratios (mu = log HR, HR = exp(mu));
differences (MD, SMD, ...) are analysed and reported as they are. The null effect is 1 for a ratio, 0 otherwise.
"""

from __future__ import annotations

import numpy as np

from bayesmeta.errors import InputError
from bayesmeta.posterior import RATIO_MEASURES


def null_value(measure: str) -> float:
    """The no-effect value on the reported scale: 1 for a ratio measure, 0 otherwise."""
    return 1.0 if measure in RATIO_MEASURES else 0.0


def to_analysis(value: float, measure: str) -> float:
    """A reported threshold on the analysis scale: log(value) for a ratio measure (value > 0), else value."""
    if measure in RATIO_MEASURES:
        if value <= 0:
            raise InputError(f"a ratio threshold must be positive, got {value}", valid="a ratio > 0")
        return float(np.log(value))
    return float(value)


def to_reported(values: np.ndarray | float, measure: str) -> np.ndarray:
    """Analysis-scale values on the reported scale: exp(values) for a ratio measure, else the values (as floats)."""
    return np.exp(values) if measure in RATIO_MEASURES else np.asarray(values, dtype=float)


def prob_column(threshold: float, benefit_below: bool) -> str:
    """Column name of P(effect < threshold) (``prob_below_<t>``) or P(effect > threshold) (``prob_above_<t>``)."""
    return f"prob_{'below' if benefit_below else 'above'}_{threshold:g}"
