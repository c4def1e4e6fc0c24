"""The paper's published pooled results next to those recomputed from the available study data.

The published numbers come from a published-results table (the README's "published results" format: outcome,
analysis, variable, level, k, measure, estimate, ci_lower, ci_upper, p_value, p_relation, i2_percent, where).
For each outcome the published pooled estimate (analysis 'pooled') is set beside the
estimate recomputed with the paper's own rule (:func:`bayesmeta.frequentist.paper_rule`: common effect if
I^2 < 50%, else DerSimonian-Laird random effects) and with REML, with the number of studies used against the
number the paper pooled. The published meta-regression rows and subgroup-difference p-values are set beside the
ones the available studies give, where they allow an estimate (k >= 3 with the levels present).

Published Spearman correlations between two outcomes' study effects (analysis 'correlation', outcome 'A~B',
level naming a subset of studies or blank for all) are set beside the correlation of the available studies that
report both outcomes; a subset is one the plan declares (:class:`bayesmeta.plan.StudySubset`).

Agreement of a pooled result (or of a meta-regression coefficient printed with its CI), graded
(:func:`agreement`): 'reproduced' when the recomputed estimate and both CI limits, each rounded to the decimals
printed in the published cell, equal the printed numbers within one unit of the last printed digit (rounding of
the inputs); 'close' when each of the three is within half a published standard error of its printed value (SE =
CI width / (2 x 1.96), on the analysis scale: log for ratios); 'differs' when not, but each point estimate lies
inside the other's CI; 'overlapping' when only the CIs overlap; 'disjoint' when they do not. Agreement of a
p-value: whether both fall on the same side of 0.05. Agreement of a correlation: 'agree' with the same sign and
p-values on the same side of 0.05, 'same direction' with the same sign only, 'opposite direction' otherwise.

A published meta-regression row names its moderator (``variable``) and what it printed: a factor ``level`` ->
that level's coefficient against the reference level; a blank level of a numeric column -> the slope; a blank
level of a factor -> the omnibus QM test (:func:`compare_metaregression`). A row with a ``formula`` (an optional
column) printed a coefficient of a multiple meta-regression: ``variable[level]`` (or ``variable`` for a numeric
column) of the REML fit of that formula (:func:`formula_record`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from bayesmeta.consistency import Z_975, decimals_of
from bayesmeta.data import blank_cells
from bayesmeta.design import reference_level
from bayesmeta.errors import BayesmetaError, InputError
from bayesmeta.frequentist import paper_rule, rma, spearman_correlation, subgroup_analysis
from bayesmeta.plan import StudySubset
from bayesmeta.scales import is_ratio, reported_float

ALPHA = 0.05
MIN_K_MODERATOR = 3

POOLED_COLUMNS: tuple[str, ...] = (
    "outcome", "measure", "published_model", "k_published", "k_used", "studies",
    "published_estimate", "published_ci_lower", "published_ci_upper", "published_i2",
    "rule_model", "rule_estimate", "rule_ci_lower", "rule_ci_upper", "i2", "tau2", "h2",
    "reml_estimate", "reml_ci_lower", "reml_ci_upper", "reml_tau2",
    "status", "note",
)  # fmt: skip
P_COLUMNS: tuple[str, ...] = (
    "outcome", "variable", "k_used", "levels", "published_p", "published_p_relation",
    "method", "p", "status", "note",
)  # fmt: skip
METAREG_COLUMNS: tuple[str, ...] = (
    "outcome", "variable", "kind", "level", "reference", "k_used", "levels", "published_estimate",
    "published_ci_lower", "published_ci_upper", "published_p", "published_p_relation", "method", "estimate",
    "ci_lower", "ci_upper", "p", "status", "note", "formula",
)  # fmt: skip
CORRELATION_COLUMNS: tuple[str, ...] = (
    "pair", "x_outcome", "y_outcome", "subset", "n_published", "n_used", "studies",
    "published_r", "published_p", "published_p_relation", "r", "p", "status", "note",
)  # fmt: skip
MIN_PAIRS = 3


EFFECT_COLUMNS: tuple[str, ...] = ("study_id", "outcome", "measure", "yi", "vi")


def _load_effects(effects: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in EFFECT_COLUMNS if c not in effects.columns]
    if missing:
        raise InputError(
            f"the effects table lacks column(s) {', '.join(missing)}",
            column=missing[0],
            valid="the columns of bayesmeta.effects.derive_effects: " + ", ".join(EFFECT_COLUMNS),
        )
    return effects


def _outcome_order(*frames: pd.Series) -> list[str]:
    """Outcome names in order of first appearance across the given columns."""
    return list(dict.fromkeys(str(o) for frame in frames for o in frame))


def _rows(effects: pd.DataFrame, outcome: str) -> pd.DataFrame:
    rows = effects[effects["outcome"] == outcome]
    return rows.sort_values(["year", "study_id"], kind="stable") if "year" in rows.columns else rows


def _fmt_ratio(est: float, lo: float, hi: float) -> str:
    return f"{est:.2f} [{lo:.2f}, {hi:.2f}]" if np.isfinite(lo) and np.isfinite(hi) else f"{est:.2f} (no CI)"


CLOSE_SE = 0.5
STATUSES: tuple[str, ...] = ("reproduced", "close", "differs", "overlapping", "disjoint")


def printed_decimals(row: pd.Series, column: str) -> int:
    """Decimals printed in a published cell: the ``<column>_decimals`` that :func:`bayesmeta.data.load_published`
    reads from the text, else those of the number's shortest repr (a table read as numbers: 0.60 gives 1)."""
    value = row.get(f"{column}_decimals")
    if value is not None and not pd.isna(value):
        return int(value)
    return decimals_of(row[column])


def agreement(published: tuple[float, float, float], recomputed: tuple[float, float, float],
              decimals: tuple[int, int, int], measure: str) -> str:
    """Graded agreement of a recomputed (estimate, lower, upper) with the printed one, all on the reported scale
    (:data:`STATUSES`, best first). 'reproduced': each recomputed number rounded to its printed decimals d is
    within 10^-d of the printed one; 'close': each within ``CLOSE_SE`` published SEs (SE = (upper - lower) /
    (2 x 1.96) on the analysis scale); 'differs': each point estimate inside the other's CI; 'overlapping': the
    CIs overlap; else 'disjoint'. A published estimate printed without its CI is 'reproduced' or, inside the
    recomputed CI, 'differs', else 'disjoint'."""
    def as_printed(p: float, n: float, d: int) -> bool:  # n rounded to d decimals within one unit of p's last digit
        return abs(round(n, d) - p) <= 10.0 ** -d + 1e-9

    if not (np.isfinite(published[1]) and np.isfinite(published[2])):
        (pe, _, _), (ne, nl, nu) = published, recomputed
        if as_printed(pe, ne, decimals[0]):
            return "reproduced"
        return "differs" if nl <= pe <= nu else "disjoint"
    if all(as_printed(p, n, d) for p, n, d in zip(published, recomputed, decimals, strict=True)):
        return "reproduced"
    to_analysis = np.log if is_ratio(measure) else (lambda x: x)
    with np.errstate(divide="ignore"):
        pub, new = to_analysis(np.asarray(published, float)), to_analysis(np.asarray(recomputed, float))
    se = (pub[2] - pub[1]) / (2 * Z_975)
    if np.isfinite(se) and se > 0 and np.all(np.abs(new - pub) <= CLOSE_SE * se):
        return "close"
    (pe, pl, pu), (ne, nl, nu) = published, recomputed
    if pl <= ne <= pu and nl <= pe <= nu:
        return "differs"
    if nl <= pu and pl <= nu:
        return "overlapping"
    return "disjoint"


STATUS_NOTE = (
    "A pooled result (or a meta-regression coefficient printed with its CI) is 'reproduced' when the recomputed "
    "estimate and both CI limits, rounded to the decimals printed in the paper, equal the printed numbers within "
    "one unit of the last digit; 'close' when each is within half a published standard error (CI width / 3.92, "
    "log scale for ratios); 'differs' when each point estimate lies inside the other's CI; 'overlapping' when "
    "only the CIs overlap; 'disjoint' otherwise. A p-value 'agrees' when both fall on the same side of 0.05."
)

_VERDICT = {
    "reproduced": "the available studies reproduce the published pooled {m} to the printed precision",
    "close": "the available studies give a pooled {m} close to the published one (estimate and CI limits within "
    "half a published standard error) but not equal to it at the printed precision",
    "differs": "the available studies give a different pooled {m}, though each point estimate lies inside the "
    "other's CI",
    "overlapping": "the available studies give a pooled {m} whose CI overlaps the published one, but the point "
    "estimates fall outside each other's CI",
    "disjoint": "the available studies do not reproduce the published pooled {m} (disjoint CIs)",
}


def compare_pooled(effects: pd.DataFrame, published: pd.DataFrame, pooling: str = "I2_rule") -> pd.DataFrame:
    """One row per published pooled row (one per outcome without any): the published estimate, CI, I^2 and k
    beside the recomputation from the
    available effects (``bayesmeta.effects.derive_effects`` rows: study_id, outcome, measure, yi, vi, ...), with
    the paper's pooling (``pooling``, see :func:`bayesmeta.frequentist.paper_rule`) and with REML, on the
    reported scale, with the heterogeneity (i2 in percent, tau2, h2) of the model the paper's pooling fits
    (metafor: I^2 = tau^2 / (tau^2 + s^2) from that model's tau^2, Higgins & Thompson 2002); ``status``
    (:func:`agreement`, to the decimals printed in the published cells) and a plain ``note`` say whether they
    agree. An outcome with several published
    pooled rows (a paper printing both its common-effect and its random-effects result) gets one row each, each
    recomputed with the model its ``model`` column names (:func:`pooling_for`)."""
    effects = _load_effects(effects)
    pooled = published[published["analysis"] == "pooled"]
    outcomes = _outcome_order(pooled["outcome"], effects["outcome"])
    records = []
    for outcome, p in ((o, row) for o in outcomes for row in _published_rows(pooled, o)):
        rows = _rows(effects, outcome)
        rec: dict[str, object] = dict.fromkeys(POOLED_COLUMNS)
        rec.update(outcome=outcome, k_used=len(rows), studies=";".join(rows["study_id"].astype(str)))
        measure = rows["measure"].iloc[0] if len(rows) else None
        model = "" if p is None else _model(p)
        rec["published_model"] = model
        if p is not None:
            measure = p["measure"]
            rec.update(
                k_published=None if pd.isna(p["k"]) else int(p["k"]),
                published_estimate=float(p["estimate"]),
                published_ci_lower=float(p["ci_lower"]),
                published_ci_upper=float(p["ci_upper"]),
                published_i2=None if pd.isna(p["i2_percent"]) else float(p["i2_percent"]),
            )
            decimals = tuple(printed_decimals(p, c) for c in ("estimate", "ci_lower", "ci_upper"))
        rec["measure"] = measure
        if len(rows):
            y, v = rows["yi"].to_numpy(float), rows["vi"].to_numpy(float)
            rule = paper_rule(y, v, pooling_for(model, pooling, "" if p is None else _method(p)))
            show = rows["measure"].iloc[0]
            rec.update(
                rule_model=rule.method,
                rule_estimate=reported_float(rule.estimate, show),
                rule_ci_lower=reported_float(rule.ci_lower, show),
                rule_ci_upper=reported_float(rule.ci_upper, show),
            )
            if len(rows) > 1:  # the heterogeneity of the model pooled with (metafor: I^2 from its tau^2)
                rec.update(i2=rule.i2, tau2=rule.tau2, h2=rule.h2)
            if len(rows) > 1:
                reml = rma(y, v, method="REML")
                rec.update(
                    reml_estimate=reported_float(reml.estimate, show),
                    reml_ci_lower=reported_float(reml.ci_lower, show),
                    reml_ci_upper=reported_float(reml.ci_upper, show),
                    reml_tau2=reml.tau2,
                )
        rec["status"], rec["note"] = _pooled_verdict({**rec, "printed_decimals": None if p is None else decimals})
        records.append(rec)
    table = pd.DataFrame(records, columns=list(POOLED_COLUMNS))
    for column in ("k_published", "k_used"):
        table[column] = table[column].astype("Int64")
    return table


def _published_rows(pooled: pd.DataFrame, outcome: str) -> list[pd.Series | None]:
    """The outcome's published pooled rows, or [None] when the paper printed none."""
    rows = pooled[pooled["outcome"] == outcome]
    return [r for _, r in rows.iterrows()] or [None]


def _model(row: pd.Series) -> str:
    """The published row's model ('common' or 'random') where the table has a ``model`` column, else ''."""
    value = row.get("model", "")
    return str(value).strip().lower() if isinstance(value, str) and str(value).strip() else ""


def published_method(value: object) -> str:
    """A published row's ``method`` entry (its tau^2 estimator: DL, REML, PM, ML) normalised; '' when blank or
    absent."""
    return value.strip().upper() if isinstance(value, str) else ""


def _method(row: pd.Series) -> str:
    """The published row's tau^2 estimator where the table has a ``method`` column, else ''."""
    return published_method(row.get("method", ""))


def pooling_for(model: str, pooling: str, method: str = "") -> str:
    """How to recompute a published pooled row: 'FE' for a row the paper labels 'common'; for a 'random' row
    the estimator its ``method`` names (DL, REML, PM or ML), else the plan's pooling when it is a random-effects
    estimator, else DerSimonian-Laird; for an unlabelled row the plan's pooling
    (:data:`bayesmeta.frequentist.paper_rule.POOLINGS`)."""
    if model == "common":
        return "FE"
    if method in ("DL", "REML", "PM", "ML"):
        return method
    if model == "random":
        return pooling if pooling not in ("FE", "I2_rule") else "DL"
    return pooling


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
        text += f"; I^2 {rec['i2']:.0f}% ({rec['rule_model']}) vs published {rec['published_i2']:.0f}%"
    if k_used == 1:
        return "single study", f"{of}: one usable study, not a pooled estimate; {text}"
    status = agreement(pub, new, rec["printed_decimals"], m)
    return status, f"{of}: {_VERDICT[status].format(m=m)}; {text}"


def _p_text(p: float, relation: str) -> str:
    return f"p {'<' if relation == '<' else '='} {p:g}"


def _published_p(published: pd.DataFrame, analysis: str) -> pd.DataFrame:
    """Published p-values of one analysis that name a study-level variable."""
    rows = published[published["analysis"] == analysis]
    return rows[rows["variable"].astype(str).str.len() > 0]


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
        present = with_values(rows, variable)[0].index  # a blank cell is a missing value
        rows = rows.loc[present]
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


def _subgroup_fit(rows: pd.DataFrame, variable: str) -> tuple[str, float, str]:
    y, v = rows["yi"].to_numpy(float), rows["vi"].to_numpy(float)
    method = paper_rule(y, v).method
    res = subgroup_analysis(y, v, rows[variable].astype(str).to_list(), method=method)
    measure = str(rows["measure"].iloc[0])
    parts = ", ".join(f"{g} {reported_float(e, measure):.2f}" for g, e in res.groups["estimate"].items())
    return method, res.p_between, f"{res.model}-effects subgroups ({parts}), Q_between {res.q_between:.2f}"


def with_values(rows: pd.DataFrame, variable: str) -> tuple[pd.DataFrame, bool]:
    """The rows with a value of ``variable`` (a blank cell is a missing value, left out), and whether the column
    is numeric: every value reads as a number (as :func:`bayesmeta.reanalysis.metaregression.attach_covariates`
    decides), the numbers then replacing the text."""
    if variable not in rows.columns:
        return rows.iloc[0:0], False
    text = rows[variable].astype(str).str.strip()
    present = ~blank_cells(rows[variable])
    kept = rows[present].copy()
    numbers = pd.to_numeric(text[present], errors="coerce")
    numeric = bool(len(kept)) and bool(numbers.notna().all()) and not pd.api.types.is_bool_dtype(rows[variable])
    kept[variable] = numbers.astype(float) if numeric else text[present]
    return kept, numeric


def _cell(row: pd.Series, column: str) -> str:
    value = row.get(column, "")
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value).strip()


def _number(row: pd.Series, column: str) -> float | None:
    value = row.get(column)
    return None if value is None or pd.isna(value) else float(value)


def _fmt(x: float, decimals: int) -> str:
    return f"{x:.{max(decimals, 2)}f}"


def _metareg_record(rows: pd.DataFrame, pub: pd.Series) -> dict[str, object]:
    """One published meta-regression row against the REML meta-regression of the outcome's studies on its
    variable (see :func:`compare_metaregression`), or, with a ``formula``, on that formula (:func:`formula_record`)."""
    if _cell(pub, "formula"):
        return formula_record(rows, pub)
    variable, level = str(pub["variable"]), _cell(pub, "level")
    kept, numeric = with_values(rows, variable)
    kind = "slope" if numeric else ("coefficient" if level else "omnibus")
    rec: dict[str, object] = dict.fromkeys(METAREG_COLUMNS)
    published_p = _number(pub, "p_value")
    rec.update(outcome=pub["outcome"], variable=variable, kind=kind, level=level, k_used=len(kept),
               published_estimate=_number(pub, "estimate"), published_ci_lower=_number(pub, "ci_lower"),
               published_ci_upper=_number(pub, "ci_upper"), published_p=published_p,
               published_p_relation=None if published_p is None else (_cell(pub, "p_relation") or "="))
    left_out = len(rows) - len(kept)
    if numeric:
        values = kept[variable]
        rec["levels"] = f"{values.nunique()} distinct values, {values.min():g} to {values.max():g}"
    else:
        counts = kept[variable].value_counts()
        rec["levels"] = ", ".join(f"{lv} {n}" for lv, n in sorted(counts.items()))
    if left_out:
        rec["levels"] += f"; {left_out} without a value left out"
    why = ""
    if numeric and level:
        why = f"{variable} is numeric: its row gives the slope with a blank level, not level '{level}'"
    elif len(kept) < MIN_K_MODERATOR:
        why = f"k = {len(kept)}"
    elif numeric and kept[variable].nunique() < 2:
        why = f"{variable} takes one value"
    elif not numeric and kept[variable].nunique() < 2:
        why = f"only {rec['levels'] or 'no level'}"
    reference = None
    if not numeric and not why:
        found = sorted(set(kept[variable]))
        reference = _cell(pub, "reference") or reference_level(kept[variable])
        rec["reference"] = reference if kind == "coefficient" else None
        for name, value in (("level", level), ("reference", reference)):
            if value and value not in found:
                why = f"{name} '{value}' is not a level of {variable} among these studies ({', '.join(found)})"
        if not why and level == reference:
            why = f"level '{level}' is the reference level"
    if why:
        rec.update(status="not estimable", note=f"not estimable from the available studies ({why})")
        return rec
    x, names = _single_design(kept, variable, numeric, reference if not numeric else None)
    measure = str(kept["measure"].iloc[0])
    try:
        fit = rma(kept["yi"].to_numpy(float), kept["vi"].to_numpy(float), method="REML", mods=x, mod_names=names,
                  test=published_test(pub))
    except BayesmetaError as exc:
        rec.update(status="not estimable", note=f"not estimable: {exc}")
        return rec
    of = f"k {len(kept)} ({rec['levels']}): REML meta-regression"
    pub_p = "" if published_p is None else f"published {_p_text(published_p, rec['published_p_relation'])}"
    if kind == "omnibus":
        rec.update(method=_method_words(pub), p=float(fit.qm_p))
        rec["status"] = "no published p" if published_p is None else \
            _p_verdict(published_p, rec["published_p_relation"], rec["p"])
        statistic = f"F({fit.qm_df}, {fit.df}) = {fit.qm:.2f}" if fit.test == "knha" else \
            f"QM {fit.qm:.2f} on {fit.qm_df} df"
        rec["note"] = (f"{of}, omnibus test of {variable} ({statistic}), p = {rec['p']:.3g}"
                       + (f"; {pub_p}" if pub_p else ""))
        return rec
    name = variable if numeric else f"{variable}[{level}]"
    coef = fit.coefficients[1 + names.index(name)]
    what = (f"slope per unit of {variable}" if numeric else
            f"{'ratio' if is_ratio(measure) else 'difference'} {level} vs {rec['reference']}")
    return _graded(rec, pub, coef, measure, what, of)


def published_test(row: pd.Series) -> str:
    """A published meta-regression row's tests: ``knha`` (Knapp & Hartung 2003: t on k - p df and F, metafor's
    ``test = "knha"``, Stata ``metareg``'s default) where its optional ``test`` column says so, else ``z``."""
    return "knha" if _cell(row, "test").lower() == "knha" else "z"


def _method_words(row: pd.Series) -> str:
    return "REML, Knapp-Hartung" if published_test(row) == "knha" else "REML"


def _graded(rec: dict[str, object], pub: pd.Series, coef: object, measure: str, what: str,
            of: str) -> dict[str, object]:
    """A recomputed coefficient (``coef``, analysis scale) set beside the published row: estimate and CI graded
    by :func:`agreement`, a p-value alone by its side of 0.05."""
    published_p = rec["published_p"]
    pub_p = "" if published_p is None else f"published {_p_text(published_p, rec['published_p_relation'])}"
    est, lo, hi = (reported_float(c, measure) for c in (coef.estimate, coef.ci_lower, coef.ci_upper))
    rec.update(method=_method_words(pub), estimate=est, ci_lower=lo, ci_upper=hi, p=float(coef.pval))
    published = (rec["published_estimate"], rec["published_ci_lower"], rec["published_ci_upper"])
    decimals = tuple(printed_decimals(pub, c) if v is not None else 2
                     for c, v in zip(("estimate", "ci_lower", "ci_upper"), published, strict=True))
    text = f"{what} {_fmt(est, decimals[0])} [{_fmt(lo, decimals[1])}, {_fmt(hi, decimals[2])}], p = {coef.pval:.3g}"
    if None not in published:
        rec["status"] = agreement(published, (est, lo, hi), decimals, measure)
        text += f"; published {published[0]:.{decimals[0]}f} [{published[1]:.{decimals[1]}f}, " \
                f"{published[2]:.{decimals[2]}f}]" + (f", {_p_text(published_p, rec['published_p_relation'])}"
                                                    if published_p is not None else "")
    elif published_p is not None:
        rec["status"] = _p_verdict(published_p, rec["published_p_relation"], rec["p"])
        text += f"; {pub_p}"
    else:
        rec["status"] = "no published value"
    rec["note"] = f"{of}, {text}"
    return rec


def formula_record(rows: pd.DataFrame, pub: pd.Series) -> dict[str, object]:
    """A published coefficient of a multiple meta-regression (a meta_regression row with a ``formula``, e.g.
    ``grade + imag``) beside the same coefficient of metafor's ``rma(yi, vi, mods = ~ grade + imag, method =
    "REML")`` on the outcome's studies with a value of every formula column (the others left out, as metafor's
    ``na.action``). The coefficient is ``variable[level]``, or ``variable`` for a numeric column (or the name of an
    interaction, ``grade[middle]:length``), coded as ``bayesmeta fit --formula`` codes it
    (:func:`bayesmeta.formula.build_design`: a factor against its most frequent level, or
    ``factor(x, ref = "level")``). 'not estimable', with the reason, for a formula column the studies lack, a
    design they cannot support, a coefficient the formula does not have, or a ``reference`` cell other than the
    formula's."""
    from bayesmeta.formula import build_design, parse_formula

    text = _cell(pub, "formula")
    formula = parse_formula(text)
    variable, level = str(pub["variable"]), _cell(pub, "level")
    name = f"{variable}[{level}]" if level else variable
    rec: dict[str, object] = dict.fromkeys(METAREG_COLUMNS)
    published_p = _number(pub, "p_value")
    rec.update(outcome=pub["outcome"], variable=variable, kind="coefficient" if "[" in name else "slope",
               level=level, formula=text, k_used=0, published_estimate=_number(pub, "estimate"),
               published_ci_lower=_number(pub, "ci_lower"), published_ci_upper=_number(pub, "ci_upper"),
               published_p=published_p,
               published_p_relation=None if published_p is None else (_cell(pub, "p_relation") or "="))

    def not_estimable(why: str) -> dict[str, object]:
        rec.update(status="not estimable", note=f"not estimable from the available studies ({why})")
        return rec

    absent = [c for c in formula.columns if c not in rows.columns]
    if absent:
        return not_estimable(f"column {absent[0]!r} of the formula {text!r} is not in the study data")
    kept = rows
    for column in formula.columns:
        kept, _ = with_values(kept, column)
    kept = kept.reset_index(drop=True)
    rec["k_used"] = len(kept)
    left_out = len(rows) - len(kept)
    if len(kept) < MIN_K_MODERATOR:
        return not_estimable(f"k = {len(kept)} with a value of every column of {text!r}")
    try:
        design = build_design(formula, kept, center=True)
    except InputError as exc:
        return not_estimable(f"{exc.reason}; k = {len(kept)}")
    references = {c: v.reference for c, v in design.variables.items() if v.factor}
    rec["levels"] = "; ".join([*(f"{c} against {r}" for c, r in references.items()),
                               *([f"{left_out} without a value of every formula column left out"] if left_out else [])])
    if level and variable in references:
        rec["reference"] = references[variable]
        wanted = _cell(pub, "reference")
        if wanted and wanted != references[variable]:
            return not_estimable(f"the formula codes {variable} against {references[variable]!r}, the row against "
                                 f"{wanted!r}: write factor({variable}, ref = \"{wanted}\") in the formula")
    names = list(design.covariate_names)
    if name not in names:
        why = f"the formula {text!r} has no coefficient {name} (its coefficients: {', '.join(names)})"
        if level and references.get(variable) == level:
            why += f"; {level!r} is the reference level of {variable}"
        return not_estimable(why)
    try:
        fit = rma(kept["yi"].to_numpy(float), kept["vi"].to_numpy(float), method="REML",
                  mods=design.covariate_matrix, mod_names=names, test=published_test(pub))
    except BayesmetaError as exc:
        return not_estimable(str(exc))
    measure = str(kept["measure"].iloc[0])
    of = f"k {len(kept)}" + (f" ({left_out} left out)" if left_out else "") + f": REML meta-regression on {text}"
    return _graded(rec, pub, fit.coefficients[1 + names.index(name)], measure, f"coefficient {name}"
                   + (f" (against {rec['reference']})" if rec["reference"] else ""), of)


def published_formula_columns(published: pd.DataFrame | None) -> tuple[str, ...]:
    """The columns named by the published table's ``formula`` cells (the study-level columns their multiple
    meta-regressions need), in order of first appearance."""
    if published is None or "formula" not in published.columns:
        return ()
    from bayesmeta.formula import parse_formula

    cells = [str(c).strip() for c in published["formula"] if isinstance(c, str) and c.strip()]
    return tuple(dict.fromkeys(c for text in cells for c in parse_formula(text).columns))


def _single_design(kept: pd.DataFrame, variable: str, numeric: bool,
                   reference: str | None) -> tuple[np.ndarray, list[str]]:
    """X of one moderator: the numeric column, or treatment-coded indicators of every level but ``reference``
    (metafor ``mods = ~ relevel(factor(x), ref)``), named ``variable[level]``."""
    values = kept[variable].to_numpy()
    if numeric:
        return values.astype(float)[:, None], [variable]
    others = [lv for lv in sorted(set(values)) if lv != reference]
    return np.column_stack([(values == lv).astype(float) for lv in others]), [f"{variable}[{lv}]" for lv in others]


def compare_metaregression(effects: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """Published meta-regression rows beside a REML mixed-effects meta-regression (metafor's default) of the
    available studies on the row's single moderator, the studies with no value of it left out (k_used).

    The row says what it is: a ``level`` of a factor -> that level's coefficient against the reference level
    (the ``reference`` column where the table has one, else the most frequent level, as
    :mod:`bayesmeta.design`), metafor ``rma(yi, vi, mods = ~ relevel(factor(x), ref))``; a numeric variable
    (every value a number) with a blank level -> its slope, ``mods = ~ x``; a factor with a blank level -> the
    omnibus QM test of all its levels (chi^2 on levels - 1 df). A coefficient or slope printed with its CI gets
    the graded :func:`agreement` of estimate and CI (reported scale: a ratio for HR/RR/OR); one printed with a p
    only, and the omnibus test, whether the p-values fall on the same side of 0.05. 'not estimable' unless
    k >= 3 and the levels are present."""
    effects = _load_effects(effects)
    records = [_metareg_record(_rows(effects, pub["outcome"]), pub)
               for _, pub in _published_p(published, "meta_regression").iterrows()]
    table = pd.DataFrame(records, columns=list(METAREG_COLUMNS))
    table["k_used"] = table["k_used"].astype("Int64")
    return table


def compare_subgroups(effects: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """Published subgroup-difference p-values beside the test of subgroup differences on the available
    studies, under the model the paper's rule picks for the outcome's studies (common effect: Q_total -
    sum Q_within; random effects (DL): Wald-type Q of the subgroup estimates, separate tau^2 per subgroup, as
    R meta). 'not estimable' unless k >= 3 and both levels are present."""
    return _compare_p(_load_effects(effects), published, "subgroup_difference", _subgroup_fit)


def _effects_by_outcome(effects_by_outcome: Mapping[str, pd.DataFrame] | pd.DataFrame) -> dict[str, pd.DataFrame]:
    if isinstance(effects_by_outcome, pd.DataFrame):
        effects = _load_effects(effects_by_outcome)
        return {str(o): rows for o, rows in effects.groupby("outcome", sort=False)}
    out = {}
    for outcome, rows in effects_by_outcome.items():
        missing = [c for c in ("study_id", "yi") if c not in rows.columns]
        if missing:
            raise InputError(f"the {outcome} effects lack column(s) {', '.join(missing)}", column=missing[0],
                             valid="the columns of bayesmeta.effects.derive_effects")  # fmt: skip
        out[str(outcome)] = rows
    return out


def _pair(name: str) -> tuple[str, str]:
    parts = str(name).split("~")
    if len(parts) != 2 or not all(parts):
        raise InputError(f"a correlation row names '{name}', not a pair of outcomes", column="outcome",
                         valid="two outcomes joined by '~', e.g. ORR~OS")  # fmt: skip
    return parts[0], parts[1]


def _paired(effects: dict[str, pd.DataFrame], x: str, y: str) -> pd.DataFrame:
    """One row per study with both outcomes (its first row of each), in the order of the x outcome's rows."""
    if x not in effects or y not in effects:
        return pd.DataFrame(columns=["study_id", "yi_x", "yi_y"])
    left = effects[x].drop_duplicates("study_id")
    right = effects[y].drop_duplicates("study_id")[["study_id", "yi"]]
    return left.merge(right, on="study_id", suffixes=("_x", "_y"))


def compare_correlations(
    effects_by_outcome: Mapping[str, pd.DataFrame] | pd.DataFrame,
    published: pd.DataFrame,
    subsets: Mapping[str, StudySubset] | None = None,
) -> pd.DataFrame:
    """Published Spearman correlations (analysis 'correlation', outcome 'X~Y', level the name of a subset of
    studies or blank for all) beside Spearman's rho of the available studies' effects.

    ``effects_by_outcome`` maps an outcome to its effects (``bayesmeta.effects.effects_for`` rows: study_id, yi
    and the columns the subsets select on), or is one long table with an 'outcome' column. ``subsets`` are the
    plan's named subsets. A pair 'X~Y' correlates the studies reporting both X and Y: their effects on the
    analysis scale (log ratios rank as the ratios do). rho and p as :func:`bayesmeta.frequentist.spearman_correlation`
    (t approximation on n - 2 df). 'not estimable' with fewer than 3 pairs; n_published is the published k when
    the table gives one (the paper does not print the number of studies in each correlation).
    """
    rows = published[published["analysis"] == "correlation"]
    pairs = [_pair(name) for name in rows["outcome"]]
    effects = _effects_by_outcome(effects_by_outcome)
    subsets = dict(subsets or {})
    records = []
    for (x, y), (_, pub) in zip(pairs, rows.iterrows(), strict=True):
        level = pub["level"]
        subset = "all" if pd.isna(level) or str(level) == "" else str(level)
        rec: dict[str, object] = dict.fromkeys(CORRELATION_COLUMNS)
        rec.update(
            pair=f"{x}~{y}",
            x_outcome=x,
            y_outcome=y,
            subset=subset,
            n_published=None if pd.isna(pub["k"]) else int(pub["k"]),
            published_r=float(pub["estimate"]),
            published_p=None if pd.isna(pub["p_value"]) else float(pub["p_value"]),
            published_p_relation=None if pd.isna(pub["p_value"]) else _relation(pub["p_relation"]),
        )
        both = _paired(effects, x, y)
        try:
            if subset != "all" and subset not in subsets:
                known = ", ".join(["all", *subsets])
                raise InputError(f"the subset '{subset}' is not defined in the plan's [subsets]", column="level",
                                 valid=known)
            if subset != "all" and len(both):
                both = both[subsets[subset].mask(both).to_numpy(bool)]
        except InputError as exc:
            rec.update(n_used=0, studies="", status="not estimable", note=f"not estimable: {exc}")
        else:
            rec.update(n_used=len(both), studies=";".join(both["study_id"].astype(str)))
            rec["status"], rec["note"] = _correlation_verdict(rec, both)
        records.append(rec)
    table = pd.DataFrame(records, columns=list(CORRELATION_COLUMNS))
    for column in ("n_published", "n_used"):
        table[column] = table[column].astype("Int64")
    return table


def _relation(value: object) -> str:
    return "<" if value == "<" else "="


def _correlation_verdict(rec: dict, both: pd.DataFrame) -> tuple[str, str]:
    n, n_pub = rec["n_used"], rec["n_published"]
    of = f"n {n} of {n_pub}" if n_pub is not None else f"n {n}"
    published_p = rec["published_p"]
    pub_text = f"published rho {rec['published_r']:.2f}" + (
        "" if published_p is None else f" ({_p_text(published_p, rec['published_p_relation'])})"
    )
    if n < MIN_PAIRS:
        both_outcomes = f"{rec['x_outcome']} and {rec['y_outcome']}"
        return "not estimable", f"{of}: fewer than {MIN_PAIRS} studies report both {both_outcomes}; {pub_text}"
    try:
        r, p = spearman_correlation(both["yi_x"].to_numpy(float), both["yi_y"].to_numpy(float))
    except BayesmetaError as exc:
        return "not estimable", f"{of}: {exc}; {pub_text}"
    rec.update(r=r, p=p)
    text = f"{of}: rho {r:.2f} (p = {p:.3g}) vs {pub_text}"
    if np.sign(r) != np.sign(rec["published_r"]):
        return "opposite direction", text
    if published_p is None or _p_verdict(published_p, rec["published_p_relation"], p) == "agree":
        return "agree", text
    return "same direction", f"{text}; the p-values fall on different sides of {ALPHA:g}"
