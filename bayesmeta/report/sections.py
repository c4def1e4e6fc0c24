"""The report's content as a list of sections made of simple blocks (paragraphs, tables, lists, figures), built
from the summary dict (:meth:`bayesmeta.reanalysis.ReanalysisResult.to_summary`) and the saved figures. The
Markdown and HTML writers render the same sections, so both formats carry the same numbers, and every number
shown is one of summary.json's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from bayesmeta.report.binomial import binomial_blocks
from bayesmeta.report.figures import SavedFigure
from bayesmeta.report.formatting import interval, num, prob, pval, slope_interval, stated
from bayesmeta.frequentist.paper_rule import POOLING_WORDS
from bayesmeta.scales import RATIO_MEASURES


# -- blocks ------------------------------------------------------------------------------------------------
@dataclass
class Paragraph:
    text: str
    kind: str = "p"  # 'p', 'note' or 'warning'


@dataclass
class Heading:
    text: str


@dataclass
class Bullets:
    items: list[str]
    kind: str = "ul"


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class FigureBlock:
    figure: SavedFigure


@dataclass
class Section:
    id: str
    title: str
    blocks: list[Any] = field(default_factory=list)


SECTION_TITLES = (
    ("summary", "Summary"),
    ("claims", "The paper's conclusions, tested"),
    ("overview", "Overview and data coverage"),
    ("main-results", "Main results"),
    ("comparison", "Comparison with the published results"),
    ("forest", "Forest plots with shrinkage"),
    ("densities", "Posterior densities"),
    ("metaregression", "Meta-regression"),
    ("subgroups", "Subgroups from the published subgroup estimates"),
    ("surrogacy", "Trial-level surrogacy"),
    ("ppc", "Posterior predictive checks"),
    ("sensitivity", "Prior sensitivity"),
    ("influence", "Influence of single studies"),
    ("reinterpretation", "Reinterpretation of the published estimates"),
    ("consistency", "Consistency of the printed numbers"),
    ("monitoring", "Sequential monitoring versus trial sequential analysis"),
    ("funnel", "Funnel plots and Egger's test"),
    ("bias", "Publication bias and model averaging"),
    ("diagnostics", "MCMC cross-check, diagnostics and warnings"),
    ("methods", "Methods and reproducibility"),
)


# -- number formats ----------------------------------------------------------------------------------------
def _table(records: Sequence[dict[str, Any]], spec: Sequence[tuple[str, str, Callable[[Any], str]]],
           caption: str = "") -> Table:
    rows = [[fmt(r.get(key)) for key, _, fmt in spec] for r in records]
    return Table([header for _, header, _ in spec], rows, caption)


def _text(x: Any) -> str:
    return "-" if x is None or x == "" else str(x)


def _int(x: Any) -> str:
    return "-" if x is None else f"{int(x)}"


# -- the sections ------------------------------------------------------------------------------------------
def build_sections(summary: dict[str, Any], figures: Sequence[SavedFigure]) -> list[Section]:
    """All report sections, in order (see SECTION_TITLES)."""
    from bayesmeta.report import claims

    builders = {
        "summary": lambda s: claims.summary_blocks(s, main_posterior_table(s)), "claims": claims.claims_blocks,
        "subgroups": claims.subgroup_blocks, "surrogacy": claims.surrogacy_blocks,
        "overview": _overview, "main-results": _main_results, "comparison": _comparison, "forest": _forest,
        "densities": _densities, "metaregression": _metaregression, "ppc": _ppc, "sensitivity": _sensitivity,
        "influence": _influence, "reinterpretation": _reinterpretation, "consistency": _consistency,
        "monitoring": _monitoring, "funnel": _funnel, "bias": _bias,
        "diagnostics": _diagnostics, "methods": _methods,
    }
    sections = []
    for sid, title in SECTION_TITLES:
        section = Section(sid, title)
        section.blocks = builders[sid](summary)
        for f in figures:
            if f.section == sid:
                section.blocks.append(FigureBlock(f))
        sections.append(section)
    return sections


def _outcomes(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return list(summary["outcomes"].items())


def _fitted(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(n, o) for n, o in _outcomes(summary) if o["bayes"]]


def _overview(s: dict[str, Any]) -> list[Any]:
    main = s["priors"][next(iter(s["priors"]))]
    main_name = next(iter(s["priors"]))
    names = ", ".join(f"{o['label']} ({n}, {o['measure']})" for n, o in _outcomes(s))
    files = " and ".join(f for f in (s["inputs"]["outcomes"], s["inputs"]["studies"]) if f)
    arms = s["arms"]
    fewer = [c["label"] for c in s["coverage"] if c["k_published"] and c["k_used"] < c["k_published"]]
    blocks: list[Any] = [Paragraph(
        f"Quick run (--quick): no NUTS cross-check, and {s['monitoring_settings']['simulations']} simulations per "
        f"operating characteristic; the exact analyses are complete.", "warning")] if s.get("quick") else []
    blocks += [
        Paragraph(f"{s['title']}. This report reanalyses the published meta-analysis ({arms['treatment']} versus "
                  f"{arms['control']}) from the study-level data in {files} with a Bayesian normal-normal "
                  f"hierarchical model (main prior '{main_name}': mu ~ {main['mu']}, tau ~ {main['tau']}), and "
                  f"sets every result beside the published number. Outcomes: {names}."),
        Paragraph("Data coverage: the table gives, per outcome, the number of studies the paper pooled (k "
                  "published, where the paper prints it), the rows in the data, and the studies used (k used)."
                  + (f" The paper pooled more studies than have usable results here for {', '.join(fewer)}, so "
                     f"those analyses use fewer studies than the paper." if fewer else "")),
        _table(s["coverage"], [
            ("label", "Outcome", _text), ("k_published", "k published", _int), ("rows_in_data", "rows in data", _int),
            ("k_used", "k used", _int), ("studies_used", "studies used", lambda v: ", ".join(v) if v else "none"),
            ("methods", "effect derived from", lambda d: ", ".join(f"{k}: {n}" for k, n in d.items()) or "-"),
        ], "k used vs k published per outcome"),
        Bullets([c["statement"] for c in s["coverage"]]),
    ]
    not_used = [{"outcome": c["outcome"], **n} for c in s["coverage"] for n in c["not_used"]]
    if not_used:
        blocks.append(Paragraph("Studies in the data that are not used here, and why:"))
        blocks.append(_table(not_used, [("outcome", "Outcome", _text), ("study", "Study", _text),
                                        ("reason", "Reason", _text)], "Studies without usable data"))
    if s["missing_studies"]:
        listing = ", ".join(m["label"] for m in s["missing_studies"])
        blocks.append(Paragraph(f"{len(s['missing_studies'])} included studies have no outcome row at all "
                                f"({listing}): their reports were not readable (see data/README.md).", "note"))
    return blocks


def main_posterior_table(s: dict[str, Any]) -> Table:
    """The main posterior table: per outcome with a posterior, the pooled effect, the new-study interval, tau
    and the probabilities of any and of clinically important benefit under the main prior."""
    rows = []
    for name, o in _fitted(s):
        nat = o["bayes"]["reported"]
        m = o["measure"]
        probs = {(p["parameter"], p["threshold"]): p for p in o["bayes"]["probabilities"]}
        clinical = o.get("mcid")  # the plan's MCID, else its most demanding threshold
        if clinical is None:
            clinical = min(o["thresholds"]) if o["benefit"] == "below" else max(o["thresholds"])
        null = 1.0 if o["measure"] in RATIO_MEASURES else 0.0
        rows.append({
            "outcome": f"{o['label']} ({m})", "k": o["k"],
            "mu": interval(nat["mu"]["median"], nat["mu"]["ci_lower"], nat["mu"]["ci_upper"]),
            "pred": interval(None, None, None) if nat["predictive"] is None else
            f"{num(nat['predictive']['ci_lower'])} to {num(nat['predictive']['ci_upper'])}",
            "tau": interval(nat["tau"]["median"], nat["tau"]["ci_lower"], nat["tau"]["ci_upper"]),
            "p1": stated(probs[("mu", null)]["statement"], probs[("mu", null)]["probability"])
            if ("mu", null) in probs else "-",
            "pc": "-" if clinical == null else  # no threshold beyond the null in the plan
            stated(probs[("mu", clinical)]["statement"], probs[("mu", clinical)]["probability"]),
        })
    level = f"{100 * s['level']:g}%"
    return _table(rows, [("outcome", "Outcome", _text), ("k", "k", _int),
                         ("mu", f"pooled, median ({level} CrI)", _text),
                         ("pred", f"{level} predictive interval (new study)", _text),
                         ("tau", "tau, median (CrI)", _text), ("p1", "P(any benefit)", _text),
                         ("pc", "P(clinically important benefit)", _text)],
                  f"Posterior summaries under the main prior ({_scale_words(o['measure'] for _, o in _fitted(s))})")


def _main_results(s: dict[str, Any]) -> list[Any]:
    blocks: list[Any] = [main_posterior_table(s)]
    for name, o in _fitted(s):
        blocks.append(Heading(f"{o['label']}: probability statements"))
        items = []
        side, other = ("below", "above") if o["benefit"] == "below" else ("above", "below")
        for p in o["bayes"]["probabilities"]:
            subject = "the pooled" if p["parameter"] == "mu" else "a new study's"
            opposite = ""
            if p["probability"] < 0.5 and "opposite_statement" in p:  # say the likely event too (an exposure, harm)
                opposite = (f", so that it is {other} {p['threshold']:g} is {p['opposite_words']}: "
                            f"{stated(p['opposite_statement'], p['opposite_probability'])}")
            items.append(f"That {subject} {o['measure']} is {side} {p['threshold']:g} is {p['words']}: "
                         f"{stated(p['statement'], p['probability'])}{opposite}"
                         f"{' (the pooled effect)' if p['parameter'] == 'mu' else ' (the effect in a new study)'}.")
        blocks.append(Bullets(items))
        blocks += binomial_blocks(o, s["level"])
    for name, o in _outcomes(s):
        if not o["bayes"]:
            blocks.append(Paragraph(f"{o['label']}: no posterior ({'; '.join(o['skipped'].values())}).", "warning"))
    return blocks


def _scale_words(measures: Any) -> str:
    """Which scale the summaries are on, for the outcomes' measures."""
    ratios = {m in RATIO_MEASURES for m in measures}
    if ratios == {True}:
        return "ratio scale; tau on the log scale"
    if ratios == {False}:
        return "in the units of each measure"
    return "ratios for HR, RR and OR, with tau on the log scale; differences in their own units"


COMPARISON_CAPTION = "Published vs recomputed vs Bayesian"


def _comparison(s: dict[str, Any]) -> list[Any]:
    from bayesmeta.compare import STATUS_NOTE
    from bayesmeta.report.interactions import interaction_blocks

    rows = s["comparison"]
    if not rows and not s["published_not_covered"]:
        why = ("The plan names no file of published numbers (data.published)" if s["inputs"]["published"] is None
               else f"{s['inputs']['published']} holds no number of the plan's outcomes")
        return [Paragraph(f"{why}, so there is nothing to set the recomputations beside. The Bayesian results are "
                          "in the main results; the frequentist fit under the plan's pooling is in the forest "
                          "plots and in summary.json (outcomes.<name>.frequentist).", "note")] + interaction_blocks(s)
    blocks: list[Any] = [
        Paragraph("Every published number of the paper that the data can speak to, beside its frequentist "
                  "recomputation from the studies with data and the Bayesian counterpart, with the number of "
                  "studies used against the number published. 'Status' says whether the recomputation reproduces "
                  "the published value. " + STATUS_NOTE),
        _table(rows, [("outcome", "Outcome", _text), ("quantity", "Published quantity", _text),
                      ("k_published", "k published", _int), ("k_used", "k used", _int),
                      ("published", "Published", _text), ("recomputed", "Recomputed (frequentist)", _text),
                      ("bayesian", "Bayesian", _text), ("status", "Status", _text),
                      ("plain", "In plain words", _text)], COMPARISON_CAPTION),
    ]
    if s["published_not_covered"]:
        blocks.append(Paragraph("Published numbers the data cannot speak to:"))
        blocks.append(_table(s["published_not_covered"], [("outcome", "Outcome", _text),
                                                          ("analysis", "Analysis", _text), ("rows", "rows", _int),
                                                          ("reason", "Why not", _text)]))
    return blocks + interaction_blocks(s)


def _forest(s: dict[str, Any]) -> list[Any]:
    blocks: list[Any] = [Paragraph(
        "Each study's own estimate (black) is pulled toward the pooled mean by the hierarchical model (blue, the "
        "posterior of the study's true effect); the share of the distance moved is the shrinkage. Below the "
        "studies: the Bayesian pooled effect, the predictive interval for a new study, the recomputed REML "
        "estimate and the published estimate.")]
    for name, o in _fitted(s):
        m = o["measure"]
        shrunken = f"shrunken {m}: exp(posterior mean) (CrI)" if m in RATIO_MEASURES else \
            f"shrunken {m}: posterior mean (CrI)"
        rows = [{"study": r["study"], "obs": interval(r["observed"], r["observed_lower"], r["observed_upper"]),
                 "post": interval(r["shrunken"], r["shrunken_lower"], r["shrunken_upper"]),
                 "shrink": r["shrinkage"]} for r in o["shrinkage"]]
        blocks.append(_table(rows, [("study", "Study", _text), ("obs", f"observed {m} (95% CI)", _text),
                                    ("post", shrunken, _text),
                                    ("shrink", "shrinkage share", lambda v: num(v, 2))],
                             f"{o['label']}: observed and shrunken study effects"))
    return blocks


def _densities(s: dict[str, Any]) -> list[Any]:
    items = []
    for name, o in _fitted(s):
        ps = [p for p in o["bayes"]["probabilities"] if p["parameter"] == "mu"]
        items.append(f"{o['label']}: " + "; ".join(stated(p["statement"], p["probability"]) for p in ps))
    return [Paragraph("The area under the pooled-effect curve beyond a line is the posterior probability that the "
                      "effect lies beyond it; the wider curve is the effect expected in a new study."), Bullets(items)]


def _metaregression(s: dict[str, Any]) -> list[Any]:
    blocks: list[Any] = [Paragraph(
        "One exact meta-regression per study characteristic (treatment coding, reference = the most frequent "
        "level). For a ratio measure the contrast is the pooled effect in the other level divided by that in "
        "the reference level, P(ratio < 1) the posterior probability that the other level's is the smaller; "
        "for a difference measure it is the other level's pooled effect minus the reference level's, with "
        "P(difference < 0). A "
        "covariate is analysed only when each level has enough studies with data; covariates that split the "
        "studies into the same groups cannot be told apart. A numeric covariate with two values (0/1) is a "
        "two-level factor; one with more is a slope per unit, centred at its mean over the studies used (the "
        "intercept, on which the mu prior acts, is then the effect at that mean; the slope is unchanged). Each "
        "meta-regression uses the studies with a value of its covariate.")]
    if not any(o["metaregression"] or o.get("formula_regression") or any(w.startswith("meta-regression")
                                                                         for w in o["skipped"])
               for _, o in _fitted(s)):
        blocks.append(Paragraph("The plan names no study-level covariate ([covariates] columns): no "
                                "meta-regression was run.", "note"))
    for name, o in _fitted(s):
        rows, skipped, left_out = [], [], []
        for m in o["metaregression"]:
            if not m["fitted"]:
                skipped.append(f"{m['covariate']}: {m['reason']}")
                continue
            if m.get("omitted"):
                left_out.append(f"{m['covariate']}: k = {m['k']}, {len(m['omitted'])} "
                                f"stud{'y' if len(m['omitted']) == 1 else 'ies'} without a value left out "
                                f"({', '.join(m['omitted'])})")
            for c in m["contrasts"]:
                numeric = m.get("kind") == "numeric"
                ratio = o["measure"] in RATIO_MEASURES
                rows.append({
                    "cov": m["covariate"],
                    "levels": f"numeric covariate (k = {m.get('k', o['k'])}, centred at {m['center']:.2f})"
                    if numeric and m.get("center") is not None else "numeric covariate" if numeric else
                    ", ".join(f"{lv['level']} (k = {lv['k']}): {num(lv['reported_median'])}" for lv in m["levels"]),
                    "ratio": ("per unit: " + slope_interval(c["reported_median"], c["reported_ci_lower"],
                                                            c["reported_ci_upper"])
                              if numeric else f"{c['level']} {'/' if ratio else '-'} {c['reference']}: "
                              f"{interval(c['reported_median'], c['reported_ci_lower'], c['reported_ci_upper'])}"),
                    "p": prob(c["p_ratio_below_1"]), "tau": num(m["tau_median"]),
                    "freq": pval(m["frequentist"]["qm_p"]),
                })
        for what, why in o["skipped"].items():
            if what.startswith("meta-regression"):
                skipped.append(f"{what[len('meta-regression on '):]}: {why}")
        if rows:
            what = "ratio" if o["measure"] in RATIO_MEASURES else "difference"
            blocks.append(_table(rows, [("cov", "Covariate", _text),
                                        ("levels", f"pooled {o['measure']} by level", _text),
                                        ("ratio", f"{what} (CrI)", _text),
                                        ("p", f"P({what} < {1 if what == 'ratio' else 0})", _text),
                                        ("tau", "tau (median)", _text), ("freq", "REML QM p", _text)],
                                 f"{o['label']}: meta-regression"))
        same = sorted({" and ".join(sorted([m["covariate"], *m["confounded_with"]])) for m in o["metaregression"]
                       if m.get("confounded_with")})
        for pair in same:
            blocks.append(Paragraph(f"{o['label']}: {pair} split the {o['k']} studies into the same groups; "
                                    f"their rows describe one contrast, not two.", "warning"))
        if left_out:
            blocks.append(Paragraph(f"{o['label']}, studies without a value of the covariate are left out of its "
                                    "meta-regression (as metafor does): " + "; ".join(left_out) + ".", "note"))
        if skipped:
            blocks.append(Paragraph(f"{o['label']}, not analysed: " + "; ".join(skipped) + ".", "note"))
        if o.get("formula_regression"):
            from bayesmeta.report.formula_regression import formula_blocks

            blocks += formula_blocks(o["label"], o["formula_regression"])
    return blocks


def _ppc(s: dict[str, Any]) -> list[Any]:
    blocks: list[Any] = [Paragraph(
        "Posterior predictive checks: for each study, the probability that a replicate of it falls below the "
        "observed value (PIT) under the posterior from all studies and from all other studies (leave-one-out); "
        "two-sided values near 0 mark a study the model does not expect. The heterogeneity check compares "
        "Cochran's Q of the data with that of replicated meta-analyses (ppp near 0: more spread than the model "
        "allows). The LOO-PIT figures plot the empirical CDF of the leave-one-out PIT values: for a model that "
        "predicts each study well they are uniform, so the curve stays near the diagonal and inside the band.")]
    rows = []
    for name, o in _fitted(s):
        q = o["ppc"].get("q")
        rows.append({"o": o["label"], "ppp": None if q is None else q["ppp"],
                     "se": None if q is None else q["mc_se"]})
    blocks.append(_table(rows, [("o", "Outcome", _text), ("ppp", "Q-discrepancy ppp", prob),
                                ("se", "Monte Carlo SE", lambda v: num(v, 3))], "Heterogeneity check"))
    for name, o in _fitted(s):
        table = o["ppc"].get("studies") or []
        if table:
            blocks.append(_table(table, [("study", "Study", _text), ("pit", "PIT", lambda v: num(v, 3)),
                                         ("p_two_sided", "two-sided p", lambda v: num(v, 3)),
                                         ("loo_pit", "LOO-PIT", lambda v: num(v, 3)),
                                         ("loo_p_two_sided", "LOO two-sided p", lambda v: num(v, 3)),
                                         ("pareto_k", "Pareto k", lambda v: num(v, 2))],
                                 f"{o['label']}: per-study predictive checks"))
    return blocks


def _sensitivity(s: dict[str, Any]) -> list[Any]:
    blocks: list[Any] = [Paragraph(
        "The model is refitted under each prior set of the plan, each crossed with half-normal heterogeneity "
        "priors of several scales. A conclusion is robust when the probability of a clinically important benefit "
        "stays in the same band (below 0.5, 0.5 to 0.9, 0.9 or more) under every prior. Power-scaling "
        "sensitivity (Kallioinen et al. 2024) flags parameters whose posterior moves when the prior or the "
        "likelihood is slightly strengthened or weakened (threshold 0.05); the power-scaling figures show both "
        "sensitivities of each parameter against that threshold.")]
    for name, o in _fitted(s):
        sens = o["sensitivity"]
        grid = sens.get("grid") or []
        if grid:
            pcol = next((k for k in grid[0] if k.startswith("prob_") and
                         abs(float(k.rsplit("_", 1)[1]) - sens["clinical_threshold"]) < 1e-9), None)
            pcol = pcol or next(k for k in grid[0] if k.startswith("prob_"))
            sign = "<" if pcol.startswith("prob_below") else ">"
            blocks.append(_table(grid, [("prior_set", "Prior set", _text), ("mu_prior", "mu prior", _text),
                                        ("tau_prior", "tau prior", _text),
                                        ("median", f"pooled {o['measure']}", num),
                                        ("ci_lower", "CrI lower", num), ("ci_upper", "CrI upper", num),
                                        ("tau_median", "tau median", num),
                                        (pcol, f"P({o['measure']} {sign} {pcol.rsplit('_', 1)[1]})", prob)],
                                 f"{o['label']}: posterior under each prior"))
            robust = sens.get("robust")
            blocks.append(Paragraph(
                f"{o['label']}: the conclusion about P({o['measure']} {sign} {pcol.rsplit('_', 1)[1]}) is "
                + ("robust: it stays in the same band under every prior." if robust else
                   "not robust: it changes band under some priors (see the table)."),
                "p" if robust else "warning"))
        power = sens.get("power_scaling") or []
        if power:
            blocks.append(_table(power, [("parameter", "Parameter", _text),
                                         ("prior", "prior sensitivity", lambda v: num(v, 3)),
                                         ("likelihood", "likelihood sensitivity", lambda v: num(v, 3)),
                                         ("diagnosis", "diagnosis", _text)],
                                 f"{o['label']}: power-scaling sensitivity"))
            if sens.get("tau_near_zero") and any(r["parameter"] == "tau" and r["diagnosis"] != "-" for r in power):
                from bayesmeta.reanalysis.outcome import TAU_NEAR_ZERO_READING

                blocks.append(Paragraph(f"{o['label']}: {TAU_NEAR_ZERO_READING[0].upper()}"
                                        f"{TAU_NEAR_ZERO_READING[1:]}.", "note"))
    return blocks


def _influence(s: dict[str, Any]) -> list[Any]:
    blocks: list[Any] = [Paragraph(
        "Each study is left out in turn and the exact posterior recomputed; 'shift' is the change of the "
        "posterior median of mu in posterior standard deviations and KL the information lost about mu.")]
    for name, o in _fitted(s):
        rows = o["influence"]
        if not rows:
            blocks.append(Paragraph(f"{o['label']}: {o['skipped'].get('influence', 'not computed')}.", "note"))
            continue
        pcols = [k for k in rows[0] if k.startswith("prob_")]
        spec = [("omitted", "Study left out", _text), ("median", f"pooled {o['measure']}", num),
                ("ci_lower", "CrI lower", num), ("ci_upper", "CrI upper", num)]
        spec += [(c, f"P({o['measure']} {'<' if 'below' in c else '>'} {c.rsplit('_', 1)[1]})", prob) for c in pcols]
        spec += [("shift_sd", "shift (sd)", num), ("kl", "KL", lambda v: num(v, 3))]
        blocks.append(_table(rows, spec, f"{o['label']}: leave one study out"))
    return blocks


def _reinterpretation(s: dict[str, Any]) -> list[Any]:
    rows = [r for r in s["reinterpretation"] if r.get("analysis") in ("pooled", "regimen") and r.get("status") == "ok"]
    prior_order = list(dict.fromkeys(r["prior"] for r in rows))
    rows.sort(key=lambda r: (r["row"], prior_order.index(r["prior"])))
    other = [r for r in s["reinterpretation"] if r.get("analysis") not in ("pooled", "regimen")]
    if not s["reinterpretation"]:
        return [Paragraph("The reinterpretation under reference priors works on published estimates with a CI "
                          "(ratios, and differences on their own scale); the paper prints none, so there is "
                          "nothing to reinterpret.", "note")]
    blocks: list[Any] = [Paragraph(
        "Each published pooled estimate is reinterpreted on its own (normal likelihood from its CI; ratios on "
        "the log scale, differences on their own scale) under reference priors: skeptical (centred on no effect, "
        "P(benefit beyond the MCID) = 5%), enthusiastic (centred on the MCID), pessimistic and vague (Zampieri "
        "et al. 2021; Spiegelhalter et al. 2004). ROPE: the region of practical equivalence around 1 for a "
        "ratio (none for a difference).")]
    skipped = {(r["outcome"], r["analysis"], r.get("level") or ""): r["reason"] for r in s["reinterpretation"]
               if r.get("analysis") in ("pooled", "regimen") and r.get("status") != "ok"}
    if skipped:
        blocks.append(Paragraph("Not reinterpreted: " + "; ".join(
            f"{o} ({a}{'' if level in ('', 'all') else ', ' + str(level)}): {reason}"
            for (o, a, level), reason in skipped.items()) + ".", "note"))
    if not rows:
        return blocks
    blocks += [
        _table(rows, [("outcome", "Outcome", _text), ("analysis", "Analysis", _text), ("level", "Row", _text),
                      ("prior", "Prior", _text), ("estimate", "Published", num),
                      ("median", "Posterior median", num), ("post_ci_lower", "CrI lower", num),
                      ("post_ci_upper", "CrI upper", num),
                      ("p_benefit", "P(benefit)", prob), ("p_mcid", "P(beyond MCID)", prob),
                      ("p_rope", "P(in ROPE)", prob)], "Published pooled and regimen estimates under reference priors")]
    if other:
        n_rows = len({(r["outcome"], r["analysis"], r["variable"], r["level"]) for r in other})
        kinds = " and ".join(sorted({str(r["analysis"]).replace("_", "-") for r in other}))
        text = (f"The figure below shows every published ratio, including the {n_rows} {kinds} rows, under the "
                f"same priors; summary.json holds their numbers.")
        if any(r.get("analysis") == "prognostic_factor" for r in other):
            text += (" Most prognostic-factor ratios compare patient groups, not treatments: for them P(ratio < 1) "
                     "says which group fares better, not whether the treatment helps.")
        blocks.append(Paragraph(text, "note"))
    return blocks


def _consistency(s: dict[str, Any]) -> list[Any]:
    rows = s["consistency"]
    flagged = [r for r in rows if r.get("flag") not in ("ok", "no CI")]
    ok = sum(1 for r in rows if r.get("flag") == "ok")
    if not rows:
        return [Paragraph(f"The consistency checks work on printed ratios ({', '.join(RATIO_MEASURES)}) with a CI; "
                          "the paper prints none, so there is nothing to check.", "note")]
    blocks: list[Any] = [Paragraph(
        f"Each printed ratio with a CI was checked: the estimate inside its CI, the CI symmetric on the log "
        f"scale within rounding, and the printed p-value compatible with the CI. {ok} of {len(rows)} rows are "
        f"consistent; {len(flagged)} are flagged.")]
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for r in rows:
        key = (str(r.get("outcome")), str(r.get("analysis")))
        counts.setdefault(key, {}).setdefault(str(r.get("flag")), 0)
        counts[key][str(r.get("flag"))] += 1
    blocks.append(_table([{"outcome": o, "analysis": a, "checked": sum(c.values()),
                           "flags": ", ".join(f"{flag}: {n}" for flag, n in sorted(c.items()))}
                          for (o, a), c in counts.items()],
                         [("outcome", "Outcome", _text), ("analysis", "Analysis", _text),
                          ("checked", "rows checked", _int), ("flags", "result", _text)],
                         "Published ratio rows checked, by outcome and analysis"))
    if flagged:
        blocks.append(_table(flagged, [("outcome", "Outcome", _text), ("analysis", "Analysis", _text),
                                       ("variable", "Variable", _text), ("level", "Level", _text),
                                       ("estimate", "Estimate", num), ("ci_lower", "Lower", num),
                                       ("ci_upper", "Upper", num), ("flag", "Flag", _text),
                                       ("reason", "Reason", _text)], "Flagged published rows"))
    return blocks


def _order_words(order: str) -> str:
    """The order in which monitoring adds the studies (the plan's monitoring.order)."""
    return "in publication order (year)" if order == "year" else "in the order of the outcomes file"


def _futility_words(st: dict[str, Any]) -> str:
    """The futility rule of the monitoring settings: only outcomes with an MCID have one (plan
    ``outcomes.<name>.mcid``; :class:`bayesmeta.sequential.MonitoringRule` has none without it)."""
    with_mcid = [name for name in st.get("outcomes") or [] if name in (st.get("futility_mcid") or {})]
    rule = ("or for futility when the probability of a benefit beyond the MCID falls below "
            f"{st['futility_probability']:g}")
    if not with_mcid:
        return "with no futility rule (no monitored outcome has an MCID)"
    if len(with_mcid) < len(st.get("outcomes") or []):
        return f"{rule} (outcomes with an MCID: {', '.join(with_mcid)}; the others have no futility rule)"
    return rule


def _monitoring(s: dict[str, Any]) -> list[Any]:
    st = s["monitoring_settings"]
    blocks: list[Any] = [Paragraph(
        f"Sequential posterior monitoring adds the studies {_order_words(st['order'])} and stops for benefit when "
        f"P(benefit) > {st['benefit_probability']:g}, {_futility_words(st)}. Trial sequential analysis (TSA) "
        f"monitors the cumulative Z-statistic against O'Brien-Fleming-type boundaries up to the required "
        f"information size (RIS).")]
    rows = []
    for name, o in _fitted(s):
        mon = o["monitoring"]
        if mon is None:
            continue
        stop = mon["first_stop"]
        last = mon["looks"][-1]
        tsa = o["tsa"]
        rows.append({
            "o": o["label"], "k": o["k"],
            "stop": "never" if stop is None else f"{stop['reason']} at look {stop['look']} ({stop['study']})",
            "final": interval(last["median"], last["ci_lower"], last["ci_upper"]),
            "tsa": "-" if tsa is None else
            (f"RIS {tsa['ris_rounded']} {tsa['unit']}"
             + (" (each study's events inferred from its standard error, 1 / (a (1 - a) se^2), 4 / se^2 with "
                "equal arms)" if tsa["measure"] == "HR" else "")
             + f", D^2 {num(tsa['diversity'])}; "
             + (f"efficacy boundary crossed at look {tsa['crossed_efficacy_at']}" if tsa["crossed_efficacy"]
                else "efficacy boundary not crossed")
             + ("; RIS reached" if tsa["reached_ris"] else "; RIS not reached")),
            "pub": "-" if not o.get("tsa_settings") or o["tsa_settings"].get("published_ris") is None else
            f"{o['tsa_settings']['published_ris']:.0f} (implies D^2 = "
            f"{num(o['tsa_settings']['implied_diversity_of_published_ris'])})",
        })
    blocks.append(_table(rows, [("o", "Outcome", _text), ("k", "k", _int), ("stop", "Bayesian monitoring", _text),
                                ("final", "posterior at the last look", _text), ("tsa", "TSA (recomputed)", _text),
                                ("pub", "published RIS", _text)], "Monitoring vs TSA"))
    for name, o in _fitted(s):
        oc = o["operating_characteristics"]
        if oc:
            oc = [{**r, "mcse_b": _mcse_text(r, "benefit"), "mcse_f": _mcse_text(r, "futility")} for r in oc]
            blocks.append(_table(oc, [("true_ratio", f"true {o['measure']}", num), ("tau", "tau", num),
                                      ("p_benefit", "P(stop for benefit)", lambda v: num(v, 3)),
                                      ("p_futility", "P(stop for futility)", lambda v: num(v, 3)),
                                      ("p_no_stop", "P(no stop)", lambda v: num(v, 3)),
                                      ("mean_look", "mean look at stop", lambda v: num(v, 1)),
                                      ("mcse_b", "MCSE of P(stop for benefit)", _text),
                                      ("mcse_f", "MCSE of P(stop for futility)", _text)],
                                 f"{o['label']}: operating characteristics of the monitoring rule "
                                 f"({s['monitoring_settings']['simulations']} simulations per row)"))
            if any(r["mcse_b"][0] in "<>" or r["mcse_f"][0] in "<>" for r in oc):
                blocks.append(Paragraph(
                    "MCSE: the Monte Carlo standard error sqrt(p (1 - p) / n) of each probability. Where no "
                    "simulation stopped that way its MCSE would be 0, so the cell gives instead the one-sided 95% "
                    "Clopper-Pearson upper limit of the probability ('< u', u = 1 - 0.05^(1/n), close to the rule "
                    "of three, 3/n); where every simulation did, the lower limit ('> l').", "note"))
    return blocks


def _mcse_text(row: dict[str, Any], kind: str) -> str:
    """The MCSE of P(stop for ``kind``) of an operating-characteristics row; where no simulation (or every one)
    stopped that way, its one-sided 95% Clopper-Pearson limit instead of an MCSE of 0."""
    p, mcse = row[f"p_{kind}"], row.get(f"mcse_{kind}")
    if p == 0 and row.get(f"{kind}_upper95") is not None:
        return f"< {num(row[f'{kind}_upper95'], 3)}"
    if p == 1 and row.get(f"{kind}_lower95") is not None:
        return f"> {num(row[f'{kind}_lower95'], 3)}"
    return num(mcse, 3)


def _few_studies_note(which: Sequence[str], min_k: int, what: str) -> Paragraph:
    """The caveat of funnel-asymmetry results from fewer than ``min_k`` studies (Sterne et al. 2011)."""
    from bayesmeta.asymmetry import min_k_reason

    reason = min_k_reason(min_k)
    return Paragraph(f"{'; '.join(which)}: fewer than {min_k} studies. {reason[0].upper()}{reason[1:]}, so {what} "
                     "are descriptive only.", "note")


def _funnel(s: dict[str, Any]) -> list[Any]:
    rows, few, min_k = [], [], None
    for name, o in _fitted(s):
        e = o["frequentist"].get("egger")
        if e is not None and e.get("below_min_k"):
            few.append(f"{o['label']} (k = {o['k']})")
            min_k = e["min_k"]
        rows.append({"o": o["label"], "k": o["k"], "int": None if e is None else e["intercept"],
                     "p": None if e is None else (e["pval"], bool(e.get("below_min_k"))),
                     "pub": (o.get("published") or {}).get("where", "-")})
    blocks = [Paragraph("Funnel plots show each study's estimate against its standard error; Egger's regression "
                        "tests the asymmetry (few studies give the test little power)."),
              _table(rows, [("o", "Outcome", _text), ("k", "k", _int), ("int", "Egger intercept", num),
                            ("p", "Egger p", lambda v: "-" if v is None else
                             pval(v[0]) + (" (too few studies)" if v[1] else ""))],
                     "Egger's test on the studies with data")]
    if few:
        blocks.append(_few_studies_note(few, min_k, "these Egger p-values"))
    return blocks


def _bf(x: Any) -> str:
    return "infinite" if x is None else f"{float(x):.3g}"


def _ensemble_name(b: dict[str, Any]) -> str:
    """'psma ensemble'; 'custom ensemble of 5 models' for the plan's [[bias.models]] (named in the model table)."""
    if b["ensemble"] != "custom":
        return f"{b['ensemble']} ensemble"
    return f"custom ensemble of {len(b['models'])} models"


def _ml_error(e: tuple[float | None, str]) -> str:
    """A log marginal likelihood's error: the rule's estimate, or "(MC SE)" after a sequential Monte Carlo one."""
    value, kind = e
    if value is None:
        return "-"
    return f"{float(value):.1g}" + (" (MC SE)" if kind == "monte carlo se" else "")


EGGER_ALPHA = 0.10
"""Egger's test is read at the 10% level (Egger et al. 1997; Sterne et al. 2011)."""


def _harm_side_asymmetry(o: dict[str, Any]) -> str | None:
    """A sentence when Egger's test (p < 0.10) finds the small studies' effects larger on the harm side of the
    null, which the ensemble's bias models (small studies exaggerating benefit) do not describe; else None. The
    intercept is on the analysis scale: positive means small studies with larger effects."""
    e = (o.get("frequentist") or {}).get("egger")
    if not e or e.get("pval") is None or e["pval"] >= EGGER_ALPHA or not e.get("intercept"):
        return None
    towards_larger = e["intercept"] > 0
    if towards_larger != (o.get("benefit") == "below"):
        return None
    return (f"Egger's test finds small studies with effects further on the harm side (intercept "
            f"{e['intercept']:+.2f}, p = {pval(e['pval'])}); the bias models here describe small studies that "
            f"exaggerate benefit, so the bias Bayes factor does not speak to this asymmetry.")


def _bias(s: dict[str, Any]) -> list[Any]:
    level = f"{100 * s['level']:g}%"
    blocks: list[Any] = [Paragraph(
        "Bayesian model averaging over effect (absent/present), heterogeneity (absent/present) and publication "
        "bias (none, PET, PEESE and, in the psma ensemble, step-function selection models; a custom ensemble "
        "has the models the plan's [[bias.models]] tables list, named below), with marginal "
        "likelihoods by deterministic integration (by sequential Monte Carlo for a selection model with more "
        "parameters than the deterministic rule takes; its error is then a Monte Carlo standard error, marked "
        "MC SE) and RoBMA's default priors (Bartos et al. 2022). An inclusion "
        "Bayes factor is the change from prior to posterior odds of the models with a component; the averaged "
        "effect mixes every model's posterior, the unadjusted one only those without bias. Where benefit lies "
        "below the null the effects are fitted with their signs flipped, so bias means small studies that "
        "exaggerate benefit.")]
    done = False
    for name, o in _outcomes(s):
        b = o.get("bias")
        if not b:
            why = o["skipped"].get("publication bias and model averaging")
            if why:
                blocks.append(Paragraph(f"{o['label']}: not fitted ({why}).", "note"))
            continue
        done = True
        m = o["measure"]
        mu, unadj = b["mu"]["reported"], (b["mu_unadjusted"] or {}).get("reported")
        inc = b["inclusion"]
        words = "; ".join(f"{c} {_bf(i['bf'])} (posterior probability {prob(i['post_prob'])})"
                          for c, i in inc.items())
        text = (f"{o['label']} ({_ensemble_name(b)}, k = {b['k']}): model-averaged {m} "
                f"{interval(mu['median'], mu['ci_lower'], mu['ci_upper'])} ({level} credible interval, "
                f"P(no effect) = {prob(b['mu_atom_at_0'])})")
        if unadj is not None:
            text += f" against {interval(unadj['median'], unadj['ci_lower'], unadj['ci_upper'])} unadjusted"
        blocks.append(Paragraph(text + f". Inclusion Bayes factors: {words}."))
        if b.get("below_min_k"):
            blocks.append(_few_studies_note([f"{o['label']} (k = {b['k']})"], b["min_k"],
                                            "its bias inclusion Bayes factor and adjusted estimates"))
        harm = _harm_side_asymmetry(o)
        if harm:
            blocks.append(Paragraph(f"{o['label']}: {harm}", "note"))
        rows = [{"model": r["model"], "prior": r["prior_prob"], "post": r["post_prob"], "lml": r["log_ml"],
                 "err": (r["log_ml_error"], r.get("log_ml_error_kind", "rule")),
                 "mu": None if r["mu"] is None else interval(r["mu"]["reported"]["median"],
                                                             r["mu"]["reported"]["ci_lower"],
                                                             r["mu"]["reported"]["ci_upper"])}
                for r in b["models"]]
        blocks.append(_table(rows, [("model", "Model", _text), ("prior", "Prior prob", prob),
                                    ("post", "Posterior prob", prob), ("lml", "log ML", num),
                                    ("err", "± error", _ml_error),
                                    ("mu", f"{m} given the model", _text)],
                             f"{o['label']}: models of the {_ensemble_name(b)}"))
        est, cond = b.get("estimates") or {}, b.get("estimates_conditional") or {}
        if est:
            rows = [{"parameter": k, "averaged": interval(e["median"], e["ci_lower"], e["ci_upper"], 3),
                     "mean": e["mean"], "conditional": None if k not in cond else interval(
                         cond[k]["median"], cond[k]["ci_lower"], cond[k]["ci_upper"], 3),
                     "cmean": (cond.get(k) or {}).get("mean")} for k, e in est.items()]
            blocks.append(_table(rows, [("parameter", "Parameter", _text), ("mean", "Mean", lambda x: num(x, 3)),
                                        ("averaged", f"Median ({level} CrI)", _text),
                                        ("cmean", "Conditional mean", lambda x: num(x, 3)),
                                        ("conditional", f"Conditional median ({level} CrI)", _text)],
                                 f"{o['label']}: model-averaged and conditional (models with the parameter) "
                                 f"estimates on the analysis scale; omega: publication weight per interval of "
                                 f"one-sided p-values"))
        for note in b["notes"]:
            blocks.append(Paragraph(f"{o['label']}: {note}", "note"))
    if not done:
        blocks.append(Paragraph("No outcome was fitted (see the plan's [bias] section).", "note"))
    return blocks


def _diagnostics(s: dict[str, Any]) -> list[Any]:
    blocks: list[Any] = [Paragraph(
        "The main models are refitted with NUTS (PyMC, sampled by nutpie) and compared with the exact engine: "
        "quantiles of mu and tau and the decision probabilities, with the NUTS Monte Carlo standard error and "
        "z = (NUTS - exact) / MCSE (|z| > 4 flags a disagreement).")]
    for name, o in _fitted(s):
        m = o["mcmc"]
        if m is None:
            blocks.append(Paragraph(f"{o['label']}: no NUTS cross-check ({o['skipped'].get('NUTS cross-check', '')}).",
                                    "note"))
            continue
        d = m["diagnostics"]
        blocks.append(Paragraph(
            f"{o['label']}: {m['chains']} chains x {m['draws']} draws (seed {m['seed']}); max R-hat "
            f"{num(d.get('rhat_max'), 3)}, min bulk ESS {num(d.get('ess_bulk_min'), 0)}, min tail ESS "
            f"{num(d.get('ess_tail_min'), 0)}, divergences {d.get('divergences', '-')}; "
            + ("some quantities disagree with the exact engine (see the warnings)." if not m["all_agree"] else
               "all quantities agree with the exact engine, but the sampler's diagnostics call for longer chains "
               "before these NUTS numbers are used on their own (see the warnings)." if m.get("warnings") else
               "all quantities agree with the exact engine.")))
        blocks.append(_table(m["agreement"], [("parameter", "Parameter", _text), ("quantity", "Quantity", _text),
                                              ("exact", "exact", lambda v: num(v, 4)),
                                              ("nuts", "NUTS", lambda v: num(v, 4)),
                                              ("mcse", "MCSE", lambda v: num(v, 4)),
                                              ("z", "z", lambda v: num(v, 2))],
                             f"{o['label']}: exact vs NUTS"))
    warnings = s["warnings"]
    blocks.append(Heading("All warnings"))
    if warnings:
        blocks.append(Bullets([f"{w['outcome']}: {w['message']}" for w in warnings], "warnings"))
    else:
        blocks.append(Paragraph("No warnings: every fit passed its diagnostics."))
    return blocks


def _methods(s: dict[str, Any]) -> list[Any]:
    priors = [{"name": n, **p} for n, p in s["priors"].items()]
    mc = s["mcmc_settings"]
    return [
        Paragraph(f"Effects: ratios ({', '.join(RATIO_MEASURES)}) are analysed as logs, from reported ratios with "
                  "CIs (or p-values, or medians with p under exponential survival; Tierney et al. 2007), from arm "
                  "counts, from events over person-time (IRR) or from means, SDs and arm sizes (ROM; Hedges, "
                  "Gurevitch & Curtis 1999), by metafor's escalc conventions; differences are analysed as reported "
                  "or from means, SDs and arm sizes. Frequentist pooling "
                  f"reproduces R metafor (REML, and the paper's own pooling: "
                  f"{POOLING_WORDS.get(s.get('pooling', ''), s.get('pooling', '-'))}). "
                  "Bayesian model: y_i ~ N(theta_i, s_i^2), "
                  "theta_i ~ N(mu, tau^2), posterior by numerical integration over tau (Roever 2020), cross-checked "
                  "by NUTS. Trial sequential analysis after Wetterslev et al. (2008). Prior sets are written for "
                  "outcomes where benefit lies below the null; for outcomes where it lies above, the mean of mu's "
                  "prior changes sign, so an enthusiastic prior stays enthusiastic."),
        _table(priors, [("name", "Prior set", _text), ("mu", "mu", _text), ("tau", "tau", _text),
                        ("beta", "beta", _text), ("description", "description", _text), ("source", "source", _text)],
               "Prior sets (the first is the main prior)"),
        _table([{"k": k, "v": v} for k, v in s["seeds"].items()], [("k", "Step", _text), ("v", "Seed", _text)],
               "Seeds of every random step"),
        _table([{"k": k, "v": v} for k, v in s["versions"].items()], [("k", "Package", _text),
                                                                      ("v", "Version", _text)], "Package versions"),
        _table([{"k": k, "v": v} for k, v in s["inputs"].items()] + [{"k": "plan", "v": s["plan"]}],
               [("k", "Input", _text), ("v", "File", _text)], "Inputs"),
        Paragraph(f"NUTS settings: {mc['chains']} chains, {mc['tune']} tuning and {mc['draws']} draws per chain, "
                  f"target acceptance {mc['target_accept']}. Cache key: {s['cache_key'] or 'not cached'}."),
    ]
