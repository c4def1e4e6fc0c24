"""Number formats shared by the report's text, tables and figure labels."""

from __future__ import annotations

import math
from typing import Any

from bayesmeta.reanalysis import probability_text
from bayesmeta.reanalysis import stated as stated_probability


def num(x: Any, digits: int = 2) -> str:
    """A number to ``digits`` decimals; '-' for None or NaN; text unchanged."""
    if x is None:
        return "-"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return "-"
    return f"{v:.{digits}f}"


def prob(x: Any) -> str:
    """A probability to 3 decimals, '> 0.999' and '< 0.001' at the ends; '-' for None."""
    return "-" if x is None else probability_text(float(x))


def pval(x: Any) -> str:
    """A p-value to 3 decimals, '< 0.001' below."""
    if x is None:
        return "-"
    v = float(x)
    return "< 0.001" if v < 0.001 else f"{v:.3f}"


def stated(statement: str, p: Any) -> str:
    """'P(HR < 0.7) = 0.912', or 'P(HR < 1) > 0.999' at the ends."""
    return f"{statement} = -" if p is None else stated_probability(statement, float(p))


def slope_interval(median: Any, lo: Any, hi: Any) -> str:
    """A slope and its interval to three significant digits of the interval's width, at least 3 decimals:
    '0.0012 (-0.0063 to 0.0087)' for a slope per year, where 3 fixed decimals would print 0.001 (-0.006 to 0.009)."""
    if median is None or lo is None or hi is None:
        return interval(median, lo, hi, 3)
    width = abs(float(hi) - float(lo))
    digits = 3 if not (math.isfinite(width) and width > 0) else max(3, 2 - math.floor(math.log10(width)))
    return interval(median, lo, hi, digits)


def interval(median: Any, lo: Any, hi: Any, digits: int = 2) -> str:
    """'0.52 (0.48 to 0.58)'."""
    if median is None:
        return "-"
    return f"{num(median, digits)} ({num(lo, digits)} to {num(hi, digits)})"
