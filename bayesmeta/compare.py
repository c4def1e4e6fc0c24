"""The paper's published pooled results next to those recomputed from the available study data.

For each outcome the published pooled ratio (data/published_results.csv, analysis 'pooled') is set beside the
estimate recomputed with the paper's own rule (:func:`bayesmeta.frequentist.paper_rule`: common effect if
I^2 < 50%, else DerSimonian-Laird random effects) and with REML, with the number of studies used against the
number the paper pooled. The published meta-regression and subgroup-difference p-values are set beside the
ones the available studies give, where they allow an estimate (k >= 3 with both levels present).

Agreement of a pooled result: 'reproduced' when each point estimate lies inside the other's 95% CI,
'overlapping' when only the CIs overlap, 'not reproduced' when they are disjoint. Agreement of a p-value: whether
both fall on the same side of 0.05.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesmeta.design import design_matrix, reference_level
from bayesmeta.errors import BayesmetaError, InputError
from bayesmeta.frequentist import paper_rule, rma, subgroup_analysis

OUTCOMES: tuple[str, ...] = ("OS", "PFS", "ORR", "DCR", "AE")
STUDY_VARIABLES: tuple[str, ...] = ("platinum", "systemic", "design")
ALPHA = 0.05
MIN_K_MODERATOR = 3

POOLED_COLUMNS: tuple[str, ...] = (
    "outcome", "measure", "k_published", "k_used", "studies",
    "published_estimate", "published_ci_lower", "published_ci_upper", "published_i2",
    "rule_model", "rule_estimate", "rule_ci_lower", "rule_ci_upper", "i2",
    "reml_estimate", "reml_ci_lower", "reml_ci_upper", "reml_tau2",
    "status", "note",
)  # fmt: skip
P_COLUMNS: tuple[str, ...] = (
    "outcome", "variable", "k_used", "levels", "published_p", "published_p_relation",
    "method", "p", "status", "note",
)  # fmt: skip


EFFECT_COLUMNS: tuple[str, ...] = ("study_id", "outcome", "measure", "yi", "vi")


def _load_effects(effects: pd.DataFrame | None) -> pd.DataFrame:
    if effects is not None:
        missing = [c for c in EFFECT_COLUMNS if c not in effects.columns]
        if missing:
            raise InputError(
                f"the effects table lacks column(s) {', '.join(missing)}",
                column=missing[0],
                valid="the columns of bayesmeta.effects.effects_for: " + ", ".join(EFFECT_COLUMNS),
            )
        return effects
    from bayesmeta.data import load_outcomes, load_studies
    from bayesmeta.effects import effects_for

    studies = load_studies()
    outcomes = load_outcomes(studies=studies)
    present = [o for o in OUTCOMES if o in set(outcomes["outcome"])]
    return pd.concat([effects_for(o, outcomes, studies) for o in present], ignore_index=True)


def _load_published(published: pd.DataFrame | None) -> pd.DataFrame:
    if published is not None:
        return published
    from bayesmeta.data import load_published

    return load_published()


def _rows(effects: pd.DataFrame, outcome: str) -> pd.DataFrame:
    rows = effects[effects["outcome"] == outcome]
    return rows.sort_values(["year", "study_id"], kind="stable") if "year" in rows.columns else rows


def _fmt_ratio(est: float, lo: float, hi: float) -> str:
    return f"{est:.2f} [{lo:.2f}, {hi:.2f}]"


def _agreement(pub: tuple[float, float, float], new: tuple[float, float, float]) -> str:
    (pe, pl, pu), (ne, nl, nu) = pub, new
    if pl <= ne <= pu and nl <= pe <= nu:
        return "reproduced"
    if nl <= pu and pl <= nu:
        return "overlapping"
    return "not reproduced"


_VERDICT = {
    "reproduced": "the available studies reproduce the published pooled {m}",
    "overlapping": "the available studies give a pooled {m} whose CI overlaps the published one, but the point "
    "estimates fall outside each other's CI",
    "not reproduced": "the available studies do not reproduce the published pooled {m} (disjoint CIs)",
}


def compare_pooled(effects: pd.DataFrame | None = None, published: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per outcome: the published pooled ratio, CI, I^2 and k beside the recomputation from the available
    effects (``bayesmeta.effects.effects_for`` rows: study_id, outcome, measure, yi, vi, ...), with the paper's
    rule and with REML, on the ratio scale; ``status`` and a plain ``note`` say whether they agree."""
    effects = _load_effects(effects)
    published = _load_published(published)
    pooled = published[published["analysis"] == "pooled"]
    outcomes = [o for o in OUTCOMES if o in set(pooled["outcome"]) or o in set(effects["outcome"])]
    records = []
    for outcome in outcomes:
        rows = _rows(effects, outcome)
        pub = pooled[pooled["outcome"] == outcome]
        rec: dict[str, object] = dict.fromkeys(POOLED_COLUMNS)
        rec.update(outcome=outcome, k_used=len(rows), studies=";".join(rows["study_id"].astype(str)))
        measure = rows["measure"].iloc[0] if len(rows) else None
        if len(pub):
            p = pub.iloc[0]
            measure = p["measure"]
            rec.update(
                k_published=None if pd.isna(p["k"]) else int(p["k"]),
                published_estimate=float(p["estimate"]),
                published_ci_lower=float(p["ci_lower"]),
                published_ci_upper=float(p["ci_upper"]),
                published_i2=None if pd.isna(p["i2_percent"]) else float(p["i2_percent"]),
            )
        rec["measure"] = measure
        if len(rows):
            y, v = rows["yi"].to_numpy(float), rows["vi"].to_numpy(float)
            rule = paper_rule(y, v)
            rec.update(
                rule_model=rule.method,
                rule_estimate=float(np.exp(rule.estimate)),
                rule_ci_lower=float(np.exp(rule.ci_lower)),
                rule_ci_upper=float(np.exp(rule.ci_upper)),
                i2=rma(y, v, method="FE").i2 if len(rows) > 1 else None,
            )
            if len(rows) > 1:
                reml = rma(y, v, method="REML")
                rec.update(
                    reml_estimate=float(np.exp(reml.estimate)),
                    reml_ci_lower=float(np.exp(reml.ci_lower)),
                    reml_ci_upper=float(np.exp(reml.ci_upper)),
                    reml_tau2=reml.tau2,
                )
        rec["status"], rec["note"] = _pooled_verdict(rec)
        records.append(rec)
    table = pd.DataFrame(records, columns=list(POOLED_COLUMNS))
    for column in ("k_published", "k_used"):
        table[column] = table[column].astype("Int64")
    return table


def _pooled_verdict(rec: dict) -> tuple[str, str]:
    k_used, k_pub, m = rec["k_used"], rec["k_published"], rec["measure"] or "effect"
    of = f"k {k_used} of {k_pub}" if k_pub is not None else f"k {k_used}"
    if rec["published_estimate"] is None:
        if not k_used:
            return "no data", "no published pooled result and no usable study"
        return "not published", f"{of}: the paper printed no pooled {m} for this outcome (recomputed only)"
    if not k_used:
        return "no data", f"k 0 of {k_pub}: no usable study effect to recompute from"
    pub = (rec["published_estimate"], rec["published_ci_lower"], rec["published_ci_upper"])
    new = (rec["rule_estimate"], rec["rule_ci_lower"], rec["rule_ci_upper"])
    text = f"published {_fmt_ratio(*pub)} vs recomputed {_fmt_ratio(*new)} ({rec['rule_model']})"
    if rec["i2"] is not None and rec["published_i2"] is not None:
        text += f"; I^2 {rec['i2']:.0f}% vs published {rec['published_i2']:.0f}%"
    if k_used == 1:
        return "single study", f"{of}: one usable study, not a pooled estimate; {text}"
    status = _agreement(pub, new)
    return status, f"{of}: {_VERDICT[status].format(m=m)}; {text}"


def _p_text(p: float, relation: str) -> str:
    return f"p {'<' if relation == '<' else '='} {p:g}"


def _published_p(published: pd.DataFrame, analysis: str) -> pd.DataFrame:
    rows = published[(published["analysis"] == analysis) & published["variable"].isin(STUDY_VARIABLES)]
    return rows[rows["outcome"].isin(OUTCOMES)]


def _p_verdict(published_p: float, relation: str, p: float | None) -> str:
    if p is None:
        return "not estimable"
    published_significant = published_p < ALPHA or (relation == "<" and published_p <= ALPHA)
    return "agree" if published_significant == (p < ALPHA) else "disagree"


def _compare_p(effects: pd.DataFrame, published: pd.DataFrame, analysis: str, fit) -> pd.DataFrame:
    records = []
    for _, pub in _published_p(published, analysis).iterrows():
        outcome, variable = pub["outcome"], pub["variable"]
        rows = _rows(effects, outcome)
        rows = rows[rows[variable].notna()] if variable in rows.columns else rows.iloc[0:0]
        levels = rows[variable].astype(str).value_counts() if len(rows) else pd.Series(dtype=int)
        level_text = ", ".join(f"{lv} {n}" for lv, n in sorted(levels.items()))
        rec = dict.fromkeys(P_COLUMNS)
        rec.update(
            outcome=outcome,
            variable=variable,
            k_used=len(rows),
            levels=level_text,
            published_p=float(pub["p_value"]),
            published_p_relation=pub["p_relation"] or "=",
        )
        if len(rows) < MIN_K_MODERATOR or len(levels) < 2:
            why = f"k = {len(rows)}" if len(rows) < MIN_K_MODERATOR else f"only {level_text or 'no level'}"
            rec.update(status="not estimable", note=f"not estimable from the available studies ({why})")
        else:
            try:
                method, p, detail = fit(rows, variable)
            except BayesmetaError as exc:
                rec.update(status="not estimable", note=f"not estimable: {exc}")
            else:
                rec.update(method=method, p=p)
                rec["status"] = _p_verdict(rec["published_p"], rec["published_p_relation"], p)
                pub_text = _p_text(rec["published_p"], rec["published_p_relation"])
                rec["note"] = f"k {len(rows)} ({level_text}): {detail}, p = {p:.3g}; published {pub_text}"
        records.append(rec)
    table = pd.DataFrame(records, columns=list(P_COLUMNS))
    table["k_used"] = table["k_used"].astype("Int64")
    return table


def records(table: pd.DataFrame) -> list[dict[str, object]]:
    """Rows as JSON-ready dicts (missing values as None, numpy scalars as Python numbers)."""
    out = []
    for row in table.astype(object).to_dict(orient="records"):
        clean = {}
        for key, value in row.items():
            if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
                clean[key] = None
            elif isinstance(value, np.generic):
                clean[key] = value.item()
            else:
                clean[key] = value
        out.append(clean)
    return out


def _metareg_fit(rows: pd.DataFrame, variable: str) -> tuple[str, float, str]:
    x, names = design_matrix(rows[[variable]].reset_index(drop=True), [variable])
    fit = rma(rows["yi"].to_numpy(float), rows["vi"].to_numpy(float), method="REML", mods=x, mod_names=names)
    coef = fit.coefficients[1]
    ref = reference_level(rows[variable])
    level = names[0][len(variable) + 1 : -1]
    detail = f"REML meta-regression: ratio {level}/{ref} {np.exp(coef.estimate):.2f}, residual tau^2 {fit.tau2:.3f}"
    return "REML", float(fit.qm_p), detail


def _subgroup_fit(rows: pd.DataFrame, variable: str) -> tuple[str, float, str]:
    y, v = rows["yi"].to_numpy(float), rows["vi"].to_numpy(float)
    method = paper_rule(y, v).method
    res = subgroup_analysis(y, v, rows[variable].astype(str).to_list(), method=method)
    parts = ", ".join(f"{g} {np.exp(e):.2f}" for g, e in res.groups["estimate"].items())
    return method, res.p_between, f"{res.model}-effects subgroups ({parts}), Q_between {res.q_between:.2f}"


def compare_metaregression(effects: pd.DataFrame | None = None, published: pd.DataFrame | None = None) -> pd.DataFrame:
    """Published meta-regression p-values (platinum, systemic, design) beside the p-value of the same single
    moderator in a REML mixed-effects meta-regression of the available studies (metafor's default; the omnibus
    QM test, chi^2 on 1 df). 'not estimable' unless k >= 3 and both levels are present."""
    return _compare_p(_load_effects(effects), _load_published(published), "meta_regression", _metareg_fit)


def compare_subgroups(effects: pd.DataFrame | None = None, published: pd.DataFrame | None = None) -> pd.DataFrame:
    """Published subgroup-difference p-values beside the test of subgroup differences on the available
    studies, under the model the paper's rule picks for the outcome's studies (common effect: Q_total -
    sum Q_within; random effects (DL): Wald-type Q of the subgroup estimates, separate tau^2 per subgroup, as
    R meta). 'not estimable' unless k >= 3 and both levels are present."""
    return _compare_p(_load_effects(effects), _load_published(published), "subgroup_difference", _subgroup_fit)
