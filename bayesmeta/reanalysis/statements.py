"""Probability statements in words: the direction of benefit, thresholds, and a calibrated verbal scale."""

from __future__ import annotations

from typing import Any

import numpy as np

from bayesmeta.plan import OutcomePlan



def probability_words(p: float) -> str:
    """A plain-language reading of a posterior probability (the IPCC calibrated-language scale,
    Mastrandrea et al. 2010): >= 0.99 virtually certain, >= 0.90 very likely, >= 0.66 likely, > 0.33 about as
    likely as not, > 0.10 unlikely, > 0.01 very unlikely, else exceptionally unlikely."""
    if p >= 0.99:
        return "virtually certain"
    if p >= 0.90:
        return "very likely"
    if p >= 0.66:
        return "likely"
    if p > 0.33:
        return "about as likely as not"
    if p > 0.10:
        return "unlikely"
    if p > 0.01:
        return "very unlikely"
    return "exceptionally unlikely"

def probability_text(p: float) -> str:
    """A probability to 3 decimals, '> 0.999' and '< 0.001' at the ends."""
    if p > 0.999:
        return "> 0.999"
    if p < 0.001:
        return "< 0.001"
    return f"{p:.3f}"

def stated(statement: str, p: float) -> str:
    """'P(HR < 0.7) = 0.912', or 'P(HR < 1) > 0.999' at the ends."""
    text = probability_text(p)
    return f"{statement} {text}" if text[0] in "<>" else f"{statement} = {text}"

def benefit_statement(o: OutcomePlan, threshold: float) -> str:
    """'HR < 0.7' for outcomes where benefit is below, 'RR > 1.25' where it is above."""
    sign = o.benefit.sign
    return f"{o.measure} {sign} {threshold:g}"

def harm_statement(measure: str, benefit: Any, threshold: float) -> str:
    """'P(HR > 1)': the effect beyond ``threshold`` on the side opposite to benefit (1 - P(benefit beyond it))."""
    return f"P({measure} {benefit.opposite_sign} {threshold:g})"

def clinical_threshold(o: OutcomePlan) -> float:
    """The threshold of a clinically important benefit: the outcome's MCID where the plan gives one (the plan
    adds it to the thresholds), else its most demanding threshold (the smallest for benefit below 1, the largest
    above)."""
    mcid = getattr(o, "mcid", None)
    return mcid if mcid is not None else o.benefit.most_demanding(o.thresholds)

def benefit_probability(post: Any, o: OutcomePlan, threshold: float, param: str = "mu") -> float:
    """P(effect beyond ``threshold`` on the benefit side) from a Posterior."""
    return o.benefit.probability(post, threshold, param)


def tau_conflict_words(parameter: str, diagnosis: str, pull: str | None) -> str:
    """For tau in prior-data conflict, which way the data pull it: ' (for tau, the data favour more heterogeneity
    than the tau prior expects)' or '... less ...' (``pull`` from :func:`bayesmeta.sensitivity.tau_pull`); ''
    otherwise."""
    if parameter != "tau" or diagnosis != "prior-data conflict" or pull not in ("more", "less"):
        return ""
    return f" (for tau, the data favour {pull} heterogeneity than the tau prior expects)"
