"""How many studies a test for funnel-plot asymmetry needs: at least 10 (Sterne et al. 2011, BMJ 343:d4002,
"Recommendations for examining and interpreting funnel plot asymmetry": with fewer, the tests have too little
power to tell chance from real asymmetry). Egger's and Begg's tests, PET-PEESE, selection models and the
Bayesian bias ensemble all read the funnel, so each record carries ``below_min_k``; the report and the command
line word it with :func:`few_studies_caveat`. ``min_k`` is the name of the plan's ``[bias] min_k``."""

from __future__ import annotations

MIN_K = 10
"""Sterne et al. 2011: tests for funnel-plot asymmetry should be used only with at least 10 studies."""


def below_min_k(k: int, min_k: int = MIN_K) -> bool:
    """True when ``k`` studies are fewer than ``min_k`` (default :data:`MIN_K`)."""
    return int(k) < int(min_k)


def min_k_reason(min_k: int = MIN_K) -> str:
    """Why fewer than ``min_k`` studies make a funnel-asymmetry analysis descriptive (Sterne et al. 2011)."""
    return (f"tests for funnel-plot asymmetry should be used only with at least {min_k} studies (Sterne et al. "
            "2011, BMJ 343:d4002); with fewer they cannot tell chance from real asymmetry")


def few_studies_caveat(k: int, min_k: int = MIN_K) -> str:
    """The caveat of a funnel-asymmetry analysis of ``k`` < ``min_k`` studies, as one sentence."""
    return f"only {k} studies: {min_k_reason(min_k)}, so read these results as descriptive"
