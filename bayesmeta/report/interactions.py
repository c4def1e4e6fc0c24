"""The report's within-trial interactions (summary.json ``subgroup_interactions``,
:mod:`bayesmeta.interaction`), set beside the test of subgroup differences across levels of the same strata. Words
and number formats only: every number comes from the summary."""

from __future__ import annotations

from typing import Any

from bayesmeta.report.formatting import interval, num, prob, pval
from bayesmeta.scales import is_ratio

WITHIN_TRIAL_NOTE = (
    "The test of subgroup differences compares the levels' pooled effects across trials, mixing within-trial with "
    "across-trial information, so trials that differ both in their effect and in their mix of levels can confound "
    "it; the within-trial interaction is the within-trial comparison: each trial's difference between its own "
    "strata, pooled over the trials that report both levels (Fisher et al. 2017, BMJ 356:j573).")


JOINT_NOTE = (
    "With more than two levels, 'all levels jointly' fits the common-effect within-trial model of every level at once "
    "(a fixed intercept per trial and one effect per level; Godolphin et al. 2023, Res Synth Methods 14:68): every "
    "trial with two levels or more contributes, also one without the reference level, and the joint test asks "
    "whether any level's effect differs from the reference level's.")


def _joint(j: dict[str, Any] | None) -> str:
    if not j:
        return "-"
    r = j["reported"]
    p = pval(j["qm_p"])
    return (f"{interval(r['estimate'], r['ci_lower'], r['ci_upper'])}; Q = {num(j['qm'])} on {j['qm_df']} df, "
            f"p {p if p.startswith('<') else '= ' + p} ({j['k']} trials)")


def _pooled(p: dict[str, Any] | None) -> str:
    if p is None:
        return "-"
    r = p["reported"]
    return interval(r["estimate"], r["ci_lower"], r["ci_upper"])


def _across(a: dict[str, Any] | None) -> str:
    if not a:
        return "-"
    p = pval(a["p_between"])
    return f"Q = {num(a['q_between'])} on {a['df_between']} df, p {p if p.startswith('<') else '= ' + p} " \
           f"({a['method']})"


def interaction_blocks(s: dict[str, Any]) -> list[Any]:
    """A paragraph and a table of the within-trial interactions (none without declared strata)."""
    from bayesmeta.report.sections import Paragraph, Table

    found = s.get("subgroup_interactions") or []
    if not found:
        return []
    joint = any(i.get("joint") for i in found)
    rows = []
    for i in found:
        what = "ratio of ratios" if is_ratio(i["measure"]) else "difference"
        bayes = "-" if i["reported"] is None else interval(i["reported"]["median"], i["reported"]["ci_lower"],
                                                           i["reported"]["ci_upper"])
        tau2 = "-" if i["random"] is None else num(i["random"]["tau2"], 3)
        missing = "; ".join(f"{t} ({why})" for t, why in i["not_contributing"].items()) or "-"
        row = [i["outcome"], i["variable"], f"{i['level']} / {i['reference']} ({what})", str(i["k"]),
               missing, _pooled(i["common"]), f"{_pooled(i['random'])}; tau^2 = {tau2}", bayes,
               prob(i["prob_level_better"]), _across(i["across"])]
        if joint:
            row.insert(6, _joint(i.get("joint")))
        rows.append(row)
    first = found[0]
    level = f"{100 * first['ci_level']:g}%"
    return [
        Paragraph(WITHIN_TRIAL_NOTE + f" Bayesian: the exact normal-normal model on the trials' interactions, mean "
                  f"~ {first['mu_prior']} (the main prior set's prior of a contrast between levels, centred on no "
                  f"difference) and tau ~ {first['tau_prior']}; 'P(level better)' is the posterior probability "
                  f"that the level's effect lies further on the benefit side than the reference level's."),
        Table(["Outcome", "Characteristic", "Level / reference", "Trials with both",
               "Not contributing (to the pairwise pooling)" if joint else "Not contributing",
               f"Within-trial, common effect ({level} CI)",
               *([f"All levels jointly, common effect ({level} CI); joint test"] if joint else []),
               f"Within-trial, random effects (REML, {level} CI)",
               f"Within-trial, Bayesian (median, {level} CrI)", "P(level better)",
               "Across levels: test of subgroup differences"], rows,
              "Within-trial interactions beside the test of subgroup differences across levels"),
    ] + ([Paragraph(JOINT_NOTE)] if joint else [])
