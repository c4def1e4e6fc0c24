"""The plan's [subgroups] section: each outcome's published subgroup rows analysed one characteristic at a time.

Under the main prior set, the full analysis (:func:`bayesmeta.subgroups.analyse_subgroups`: partial pooling and
unpooled, contrasts, the test of subgroup differences); under each sensitivity prior set, the partially pooled
probabilities only (the same exact normal-normal model, :func:`bayesmeta.exact.fit_exact` on the levels' yi/sei,
and :func:`bayesmeta.subgroups.contrast.pooled_difference`): each level's P(benefit) and P(beyond the MCID) and
each contrast's P(level better). Prior sets are oriented to the outcome's benefit as for the pooled analyses."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from bayesmeta.benefit import Benefit
from bayesmeta.plan import Plan
from bayesmeta.reanalysis.result import to_json
from bayesmeta.scales import to_analysis
from bayesmeta.subgroups import SubgroupAnalysis, SubgroupTable, analyse_subgroups, read_subgroup_table


@dataclass(frozen=True)
class LevelProbabilities:
    """One level under one prior set: P(benefit) and P(beyond the MCID) (None without an MCID); partially pooled
    (unpooled for a characteristic with one level)."""

    prob_benefit: float
    prob_mcid: float | None


@dataclass
class SubgroupReanalysis:
    """One outcome's subgroup analyses: ``analysis`` under the main prior set (``main``); ``levels`` and
    ``contrasts`` by prior set name (every set, the main one included): (characteristic, level) ->
    :class:`LevelProbabilities` and (characteristic, level, reference) -> P(level better)."""

    outcome: str
    main: str
    analysis: SubgroupAnalysis
    levels: dict[str, dict[tuple[str, str], LevelProbabilities]]
    contrasts: dict[str, dict[tuple[str, str, str], float]]

    def summary(self) -> dict[str, Any]:
        by_prior = {name: {
            "levels": [{"characteristic": c, "level": lv, "prob_benefit": p.prob_benefit, "prob_mcid": p.prob_mcid}
                       for (c, lv), p in self.levels[name].items()],
            "contrasts": [{"characteristic": c, "level": lv, "reference": ref, "prob_level_better": p}
                          for (c, lv, ref), p in self.contrasts[name].items()]}
            for name in self.levels}
        return {"main_prior": self.main, "analysis": to_json(self.analysis.as_dict()), "by_prior": to_json(by_prior)}


def _beyond(cdf: Any, cut: float, benefit: Benefit) -> float:
    p = float(np.clip(cdf(cut), 0.0, 1.0))
    return p if benefit.below else 1.0 - p


def _from_analysis(a: SubgroupAnalysis) -> tuple[dict[tuple[str, str], LevelProbabilities],
                                                 dict[tuple[str, str, str], float]]:
    levels, contrasts = {}, {}
    for c in a.characteristics:
        for e in c.effects:
            pooled = e.pooled is not None
            levels[(c.characteristic, e.level)] = LevelProbabilities(
                e.prob_benefit_pooled if pooled else e.prob_benefit_unpooled,
                e.prob_mcid_pooled if pooled else e.prob_mcid_unpooled)
        for k in c.contrasts:
            if k.model == "hierarchical":
                contrasts[(c.characteristic, k.level, k.reference)] = k.prob_level_better
    return levels, contrasts


def pooled_probabilities(table: SubgroupTable, characteristics: tuple[str, ...], benefit: Benefit,
                         mcid: float | None, mu_prior: Any, tau_prior: Any, single: dict[tuple[str, str], Any]
                         ) -> tuple[dict[tuple[str, str], LevelProbabilities], dict[tuple[str, str, str], float]]:
    """The partially pooled probabilities of every level and contrast under one prior set (module docstring);
    ``single``: the probabilities of one-level characteristics, which do not depend on the prior set."""
    from bayesmeta.exact import fit_exact
    from bayesmeta.subgroups.contrast import pooled_difference

    cut = None if mcid is None else to_analysis(mcid, table.measure)
    levels: dict[tuple[str, str], LevelProbabilities] = {}
    contrasts: dict[tuple[str, str, str], float] = {}
    for name in characteristics:
        rows = table.levels(name)
        if len(rows) == 1:
            levels[(name, rows[0].level)] = single[(name, rows[0].level)]
            continue
        names = [r.level for r in rows]
        post = fit_exact(np.array([r.yi for r in rows]), np.array([r.sei for r in rows]), study=names,
                         measure=table.measure, mu_prior=mu_prior, tau_prior=tau_prior)
        for r in rows:
            m = post.marginal(f"theta[{r.level}]")
            levels[(name, r.level)] = LevelProbabilities(_beyond(m.cdf, 0.0, benefit),
                                                         None if cut is None else _beyond(m.cdf, cut, benefit))
        for a, b in combinations(range(len(rows)), 2):
            contrasts[(name, names[a], names[b])] = _beyond(pooled_difference(post, a, b).cdf, 0.0, benefit)
    return levels, contrasts


def subgroup_reanalysis(plan: Plan, oriented: dict[str, dict[str, Any]]) -> dict[str, SubgroupReanalysis]:
    """Per outcome of ``plan.subgroups`` (``oriented``: outcome -> prior set name -> the set oriented to it)."""
    sp = plan.subgroups
    if not sp.enabled or plan.published is None:
        return {}
    out = {}
    for name in sp.outcomes:
        o = plan.outcome(name)
        table = read_subgroup_table(plan.published, o.measure, name)
        chosen = tuple(c for c in table.characteristics if not sp.characteristics or c in sp.characteristics)
        main = oriented[name][plan.main_prior]
        analysis = analyse_subgroups(table, benefit=o.benefit, mcid=o.mcid, mu_prior=main.mu, tau_prior=main.tau,
                                     unpooled_prior=sp.unpooled_prior, level=plan.level, characteristics=chosen)
        main_levels, main_contrasts = _from_analysis(analysis)
        levels, contrasts = {plan.main_prior: main_levels}, {plan.main_prior: main_contrasts}
        for set_name in plan.sensitivity_priors:
            ps = oriented[name][set_name]
            levels[set_name], contrasts[set_name] = pooled_probabilities(
                table, chosen, o.benefit, o.mcid, ps.mu, ps.tau, main_levels)
        out[name] = SubgroupReanalysis(name, plan.main_prior, analysis, levels, contrasts)
    return out
