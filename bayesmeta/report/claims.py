"""The report's summary, "The paper's conclusions, tested", and the subgroup and surrogacy sections, in words,
from summary.json's ``claims``, ``subgroups`` and ``surrogacy`` blocks (:mod:`bayesmeta.reanalysis.claims`)."""

from __future__ import annotations

from typing import Any

from bayesmeta.reanalysis.claims import HIGH_CORRELATION, SUPPORTED_LOW, SUPPORTED_P, WEAKER_P
from bayesmeta.report.formatting import interval, num, prob, pval, stated
from bayesmeta.scales import is_ratio, null_value

KIND_WORDS = {
    "pooled": "pooled effect", "subgroup": "subgroup effect", "contrast": "subgroup contrast",
    "estimate": "published estimate", "surrogacy": "trial-level correlation (surrogacy)",
    "sequential": "sequential sufficiency (TSA)", "bias": "publication bias",
    "coefficient": "meta-regression coefficient", "other": "-",
}
CLAIMS_CAPTION = "The paper's conclusions, tested"
CLAIMS_COLUMNS = ["Claim", "Printed in", "Sentence as printed", "Rests on", "Published", "Bayesian answer (main prior)",
                  "Range over the prior sets", "Verdict", "Why"]
SUMMARY_COLUMNS = ["Claim", "Published", "Bayesian answer (main prior)", "Range over the prior sets", "Verdict"]


def verdict_rule() -> str:
    """The verdict rule in words (the thresholds of :func:`bayesmeta.reanalysis.claims.verdict`)."""
    return (f"Verdict rule, with P the posterior probability of the claimed event under the main prior: supported "
            f"when P >= {SUPPORTED_P:g} and P stays >= {SUPPORTED_LOW:g} under every prior set; weaker than stated "
            f"when P >= {WEAKER_P:g} but either condition fails, when a sequential claim's recomputed TSA neither "
            f"crosses its efficacy boundary nor reaches its required information size, or when a surrogacy "
            f"claim's 95% interval of the trial-level correlation does not lie beyond {HIGH_CORRELATION:g} (IQWiG "
            f"2011's bound for a high correlation); not supported when P < {WEAKER_P:g}; cannot be tested when the "
            f"data here do not hold the quantity.")


def answer(c: dict[str, Any]) -> str:
    """'P(HR < 1) = 0.990', or '-' for a claim that cannot be tested."""
    return "-" if c["probability"] is None else stated(c["event"], c["probability"])


def spread(c: dict[str, Any]) -> str:
    if c["probability_low"] is None:
        return "-"
    return f"{prob(c['probability_low'])} to {prob(c['probability_high'])}"


def why(c: dict[str, Any]) -> str:
    """The reasons behind a verdict, in a sentence or two."""
    if c["verdict"].startswith("cannot"):
        return c["untestable"]
    f, parts = c["facts"], []
    if c["kind"] == "subgroup" and "levels" in f:
        parts.append(f"{f['levels_supported']} of {f['levels']} levels have P >= {SUPPORTED_P:g}; the weakest is "
                     f"{f['weakest']}")
    for code in c["limits"]:
        if code == "uncertain":
            parts.append(f"P = {prob(c['probability'])} is below {SUPPORTED_P:g}")
        elif code == "prior-dependent":
            parts.append(f"under some prior sets P falls to {prob(c['probability_low'])}")
        elif code == "tsa-inconclusive":
            parts.append(f"the recomputed TSA ({num(f['information'], 0)} of {num(f['ris'], 0)} required "
                         f"participants, {f['heterogeneity']}-adjusted; the paper printed "
                         f"{num(f['published_ris'], 0)}) neither crosses the efficacy boundary nor reaches the "
                         f"required information size")
        elif code == "weak-surrogate":
            parts.append(f"the 95% interval of rho, {num(f['rho_ci_lower'])} to {num(f['rho_ci_upper'])} from k = "
                         f"{f['k']} trials, does not lie beyond {HIGH_CORRELATION:g}")
    if c["kind"] == "surrogacy":
        parts.append(f"Spearman r recomputed {num(f['spearman_recomputed'])} (p = {pval(f['spearman_recomputed_p'])})"
                     + ("" if f["spearman_published"] is None else
                        f", published {num(f['spearman_published'])} (p = {pval(f['spearman_published_p'])})"))
    if c["kind"] == "bias":
        parts.append(f"Bayes factor for bias {num(f['bf_bias'])} ({f['ensemble']} ensemble, k = {f['k']})"
                     + ("" if f["egger_p"] is None else f"; Egger's test recomputed p = {pval(f['egger_p'])}"))
    if c["kind"] == "coefficient":
        parts.append(coefficient_facts(f))
    if c["verdict"] == "not supported":
        parts.append(f"P = {prob(c['probability'])} < {WEAKER_P:g}")
        if c["asserts"] == "no_benefit":
            benefit = next((stated(k, v) for k, v in c["others"].items() if "unpooled" not in k
                            and "flat" not in k), None)
            if benefit:
                parts.append(f"benefit is more likely than not: {benefit}")
    return "; ".join(parts) + "." if parts else "-"


def coefficient_facts(f: dict[str, Any]) -> str:
    """A coefficient claim's numbers in words: the posterior median and interval (reported scale), REML's
    estimate, interval and two-sided p-values, and the studies used."""
    left = f"; {len(f['omitted'])} left out for a blank cell" if f["omitted"] else ""
    knha = "" if f["reml_knha_p"] is None else f", Knapp-Hartung p = {pval(f['reml_knha_p'])}"
    return (f"posterior median {interval(f['median'], f['ci_lower'], f['ci_upper'], 3)}; REML "
            f"{interval(f['reml_estimate'], f['reml_ci_lower'], f['reml_ci_upper'], 3)}, "
            f"two-sided p = {pval(f['reml_p'])}{knha} ({f['formula']}, k = {f['k']}{left})")


def _rests_on(c: dict[str, Any]) -> str:
    return f"{KIND_WORDS[c['kind']]}: {c['about']}" if c["kind"] != "other" else "-"


def claims_table(s: dict[str, Any]) -> Any:
    from bayesmeta.report.sections import Table

    rows = [[c["id"], c["where"], c["text"], _rests_on(c), c["published"] or "-", answer(c), spread(c), c["verdict"],
             why(c)] for c in s.get("claims", [])]
    return Table(list(CLAIMS_COLUMNS), rows, CLAIMS_CAPTION)


def summary_claims_table(s: dict[str, Any]) -> Any:
    from bayesmeta.report.sections import Table

    rows = [[f"{c['id']} ({c['where']})", c["published"] or "-", answer(c), spread(c), c["verdict"]]
            for c in s.get("claims", [])]
    return Table(list(SUMMARY_COLUMNS), rows, "The paper's conclusions at a glance (details below)")


def summary_blocks(s: dict[str, Any], main_table: Any) -> list[Any]:
    from bayesmeta.report.sections import Paragraph

    claims = s.get("claims", [])
    blocks: list[Any] = []
    if claims:
        counts = {}
        for c in claims:
            counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
        order = ("supported", "weaker than stated", "not supported", "cannot be tested with the data here")
        blocks.append(Paragraph(f"Of the paper's {len(claims)} conclusions listed in the plan: "
                                + ", ".join(f"{counts[v]} {v}" for v in order if v in counts) + "."))
        blocks.append(summary_claims_table(s))
    else:
        blocks.append(Paragraph("The plan lists none of the paper's conclusions ([[claims]]), so none is tested."))
    blocks.append(main_table)
    return blocks


def claims_blocks(s: dict[str, Any]) -> list[Any]:
    from bayesmeta.report.sections import Bullets, Paragraph

    if not s.get("claims"):
        return [Paragraph("This section tests the paper's conclusions one by one."),
                Bullets(["The plan lists none of the paper's conclusions; add [[claims]] tables to test them "
                         "(the README's \"The paper's conclusions, tested\")."])]
    return [
        Paragraph("Each conclusion of the paper, as printed, with the quantity it rests on, the published number, "
                  "and the Bayesian answer: the posterior probability of what the sentence claims under the main "
                  "prior, and its range over the sensitivity prior sets (for subgroups, the partially pooled "
                  "model under each prior set)."),
        Paragraph(verdict_rule(), "note"),
        claims_table(s),
    ]


# -- subgroups ---------------------------------------------------------------------------------------------
def subgroup_blocks(s: dict[str, Any]) -> list[Any]:
    from bayesmeta.report.sections import Bullets, Paragraph, Table

    groups = s.get("subgroups", {})
    if not groups:
        return [Paragraph("This section reads the paper's pooled estimates per subgroup."),
                Bullets(["No published subgroup rows are analysed (the plan's [subgroups], and 'subgroup' rows in "
                         "data.published)."])]
    blocks: list[Any] = [Paragraph(
        "From the paper's pooled estimate per subgroup: each subgroup's effect partially pooled across the levels "
        "of its characteristic (the exact normal-normal model over the levels, under the main prior) and alone "
        "(flat prior: the published CI), the probability of benefit, and the ratio of effects between levels.")]
    for name, g in groups.items():
        a = g["analysis"]
        m = a["measure"]
        side = "<" if a["benefit"] == "below" else ">"
        rows = []
        for ch in a["characteristics"]:
            for e in ch["effects"]:
                pub = e["published"]
                pooled = e["pooled"]
                rows.append([ch["characteristic"], e["level"], "-" if e["k"] is None else str(e["k"]),
                             "-" if pub is None else interval(pub["estimate"], pub["ci_lower"], pub["ci_upper"]),
                             "-" if pooled is None else _reported(pooled, m), _reported(e["unpooled"], m),
                             prob(e["prob_benefit_pooled"] if pooled else e["prob_benefit_unpooled"]),
                             prob(e["prob_mcid_pooled"] if pooled else e["prob_mcid_unpooled"])])
        mcid = "-" if a["mcid"] is None else f"{a['mcid']:g}"
        null = f"{null_value(m):g}"
        blocks.append(Table(["Characteristic", "Level", "k", "Published", "Partially pooled", "Alone",
                             f"P({m} {side} {null})", f"P({m} {side} {mcid})"], rows,
                            f"{name}: subgroup effects ({m}, median and {100 * a['level']:g}% interval)"))
        crow = []
        for ch in a["characteristics"]:
            pairs: dict[tuple[str, str], dict[str, Any]] = {}
            for k in ch["contrasts"]:
                pairs.setdefault((k["level"], k["reference"]), {})[k["model"]] = k
            for (lv, ref), both in pairs.items():
                h, u = both["hierarchical"], both["unpooled"]
                crow.append([ch["characteristic"], f"{lv} / {ref}", _ratio(h["ratio"]), _ratio(u["ratio"]),
                             prob(h["prob_level_better"]), prob(u["prob_level_better"]), pval(ch["p_between"])])
        if crow:
            what = "ratio" if is_ratio(m) else "difference"
            blocks.append(Table(["Characteristic", "Level / reference", f"{what.capitalize()}, partially pooled",
                                 f"{what.capitalize()}, alone", f"P({what} {side} {null}), pooled",
                                 f"P({what} {side} {null}), alone", "Q-test p"], crow,
                                f"{name}: ratio of effects between levels"))
    blocks.append(Paragraph(f"Assumption: {next(iter(groups.values()))['analysis']['assumption']}", "note"))
    return blocks


def _reported(summary: dict[str, Any], measure: str) -> str:
    from bayesmeta.scales import to_reported

    return interval(*(float(to_reported(summary[k], measure)) for k in ("median", "ci_lower", "ci_upper")))


def _ratio(r: dict[str, Any]) -> str:
    return interval(r["median"], r["ci_lower"], r["ci_upper"])


# -- surrogacy ---------------------------------------------------------------------------------------------
def surrogacy_blocks(s: dict[str, Any]) -> list[Any]:
    from bayesmeta.report.sections import Bullets, Paragraph, Table

    fits, skipped = s.get("surrogacy", {}), s.get("surrogacy_skipped", {})
    if not fits and not skipped:
        return [Paragraph("This section models one outcome's effects as a surrogate for another's across trials."),
                Bullets(["No pair of outcomes is modelled as surrogate and final outcome (the plan's "
                         "[surrogacy] pairs)."])]
    blocks: list[Any] = [Paragraph(
        "In place of a rank correlation of the observed study effects, the trial-level surrogacy model "
        "(bivariate normal-normal model of the two treatment effects per trial; Daniels & Hughes 1997, "
        "Bujkiewicz et al. 2016) gives the correlation rho of the true effects, the slope of the final-outcome "
        "effect on the surrogate effect, and the final-outcome effect predicted for a new trial, each with its "
        "uncertainty. A trial-level correlation supports a surrogate only when its interval lies near 1 in "
        f"absolute value (|rho| >= {HIGH_CORRELATION:g}: IQWiG 2011).")]
    for key, r in fits.items():
        rc = r["rank_correlation"]
        rows = [["correlation rho of the true effects", _s(r["rho"])],
                [f"slope (log {r['y_measure']} per log {r['x_measure']})", _s(r["slope"])],
                [f"SD of true {r['y_outcome']} effects at a given {r['x_outcome']} effect", _s(r["conditional_sd"])],
                ["P(rho < 0)", prob(r["prob_rho_negative"])],
                [f"Spearman r of the observed effects, recomputed (k = {rc['k']})",
                 f"{num(rc['recomputed'])} (p = {pval(rc['recomputed_p'])})"]]
        if rc["published"] is not None:
            rows.append(["Spearman r as published", f"{num(rc['published'])} (p = {pval(rc['published_p'])})"])
        p = r["prediction"]
        if p is not None:
            rows.append([f"{r['y_measure']} predicted for a new trial with {r['x_measure']} {p['x_reported']:g}",
                         interval(p["reported"]["median"], p["reported"]["ci_lower"], p["reported"]["ci_upper"])])
            rows.append([f"P(benefit on {r['y_outcome']}) for that trial", prob(p["prob_benefit"])])
        blocks.append(Table(["Quantity", f"median ({100 * r['level']:g}% interval)"], rows,
                            f"Trial-level surrogacy of {r['x_outcome']} for {r['y_outcome']} (k = {r['k']})"))
        pv = r["prior_vs_posterior"]
        blocks.append(Paragraph(
            f"How little {pv['k']} trials can say: the {100 * r['level']:g}% interval of rho "
            f"({num(pv['posterior_interval'][0])} to {num(pv['posterior_interval'][1])}) is "
            f"{100 * pv['width_ratio']:.0f}% as wide as its prior interval ({num(pv['prior_interval'][0])} to "
            f"{num(pv['prior_interval'][1])}). Studies: {', '.join(r['study'])}."))
        if r["warnings"]:
            blocks.append(Paragraph("Sampler warnings: " + " ".join(r["warnings"]), "warning"))
    for key, reason in skipped.items():
        blocks.append(Paragraph(f"{key.replace('~', ' for ')}: not fitted ({reason}).", "warning"))
    return blocks


def _s(x: dict[str, Any]) -> str:
    return interval(x["median"], x["ci_lower"], x["ci_upper"])
