"""The report's multiple meta-regression of each outcome's plan formula (``outcomes.<name>.formula`` or ``[covariates] formula``), in sentences and a table per
outcome, from summary.json's ``outcomes.<name>.formula_regression``
(:class:`bayesmeta.reanalysis.formula_regression.FormulaRegression`)."""

from __future__ import annotations

from typing import Any

from bayesmeta.reanalysis.statements import probability_words
from bayesmeta.report.formatting import num, prob, pval, slope_interval, stated
from bayesmeta.scales import is_ratio, reported_float


def _studies(r: dict[str, Any]) -> str:
    left = r["omitted"]
    if not left:
        return f"k = {r['k']} studies, none left out"
    return (f"k = {r['k']} studies; {len(left)} stud{'y' if len(left) == 1 else 'ies'} without a value of every "
            f"formula column left out (as metafor does): {', '.join(left)}")


def _coding(r: dict[str, Any]) -> str:
    parts = []
    if r["references"]:
        parts.append("factors against their reference level (" + ", ".join(
            f"{c}: {lv}" for c, lv in r["references"].items()) + ")")
    if r["centers"]:
        parts.append("numeric columns centred at their mean over the studies used (" + ", ".join(
            f"{c} at {num(v)}" for c, v in r["centers"].items()) + "; slopes per unit, unchanged by centring)")
    at = " and ".join(x for x, on in (("the reference levels", r["references"]),
                                      ("the numeric columns' means", r["centers"])) if on)
    return "; ".join(parts) + f"; the intercept is the effect at {at}"


def _omnibus(f: dict[str, Any], k: int) -> str:
    p = len(f["coefficients"])
    if f["test"] == "knha":
        return f"Knapp-Hartung F = {num(f['qm'])} on {f['qm_df']} and {k - p} df, p = {pval(f['qm_p'])}"
    return f"QM = {num(f['qm'])} on {f['qm_df']} df, p = {pval(f['qm_p'])}"


def formula_blocks(label: str, r: dict[str, Any]) -> list[Any]:
    """The sentences and the coefficient table of one outcome's formula meta-regression."""
    from bayesmeta.report.sections import Bullets, Paragraph, Table

    measure, ratio = r["measure"], is_ratio(r["measure"])
    scale = "ratio of ratios (exp(beta))" if ratio else f"difference in {measure} per unit or against the reference"
    freq, knha = r["frequentist"], r["frequentist_knha"]
    tau = r["tau"]
    blocks: list[Any] = [Paragraph(
        f"{label}: multiple meta-regression on {r['formula']} (the plan's formula for this outcome; exact engine, main "
        f"prior), {_studies(r)}. Coding: {_coding(r)}. Residual heterogeneity tau {num(tau['median'])} "
        f"({num(tau['ci_lower'])} to {num(tau['ci_upper'])}); REML tau^2 = {num(freq['tau2'], 4)}. REML omnibus "
        f"test of the {freq['qm_df']} coefficients besides the intercept: {_omnibus(freq, r['k'])}"
        + ("" if knha is None else f"; {_omnibus(knha, r['k'])}") + ".")]
    rows, sentences = [], []
    z = {c["name"]: c for c in freq["coefficients"]}
    kh = {} if knha is None else {c["name"]: c for c in knha["coefficients"]}
    for c in r["coefficients"]:
        f = z[c["name"]]
        est, lo, hi = (reported_float(f[x], measure) for x in ("estimate", "ci_lower", "ci_upper"))
        rows.append([c["name"], slope_interval(c["reported_median"], c["reported_ci_lower"], c["reported_ci_upper"]),
                     stated(c["benefit_statement"], c["prob_benefit"]), slope_interval(est, lo, hi), pval(f["pval"]),
                     pval(kh[c["name"]]["pval"]) if c["name"] in kh else "-"])
        sentences.append(f"{c['name']}: {stated(c['benefit_statement'], c['prob_benefit'])}, that it goes with more "
                         f"benefit is {probability_words(c['prob_benefit'])} (P(beta < 0) = {prob(c['prob_below_0'])}, "
                         f"P(beta > 0) = {prob(c['prob_above_0'])}); REML two-sided p = {pval(f['pval'])}.")
    blocks.append(Table(["Coefficient", f"posterior median (CrI), {scale}", "P(beta on the benefit side)",
                         "REML estimate (CI)", "REML p (z)", "REML p (Knapp-Hartung)"], rows,
                        f"{label}: meta-regression on {r['formula']}"))
    blocks.append(Bullets(sentences))
    return blocks
