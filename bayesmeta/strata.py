"""Published subgroup rows recomputed from the studies: every published ``subgroup`` row (analysis 'subgroup':
outcome, variable, level, estimate and CI) beside the pooled estimate of the studies of that level, with the
published row's pooling (:func:`bayesmeta.compare.pooling_for`), and per characteristic the test of subgroup
differences on those studies (:func:`bayesmeta.frequentist.subgroup_analysis`: common effect, Q_between = Q_total -
sum Q_within on G - 1 df, metafor's QM of ``rma(yi, vi, mods = ~ factor(g), method = "FE")``; random effects, the
Wald-type Q of the level estimates).

The studies of a level come from one of two places:

- a study-level column of the outcome's own studies named as the published ``variable`` (e.g. a drug class);
- within-trial strata: another outcome of the plan whose rows are each trial's effect within the levels of the
  characteristic, declared by ``outcomes.<name>.strata_of`` (the published outcome) and ``outcomes.<name>.subgroup``
  (the column holding each row's level). The published ``variable`` names that column, compared without regard to
  case ("ASCVD" matches the column ``ascvd``); levels likewise.

A row neither reaches is listed with its reason, never dropped. Agreement: :func:`bayesmeta.compare.agreement`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from bayesmeta.compare import agreement, printed_decimals, pooling_for, published_method
from bayesmeta.frequentist import paper_rule, subgroup_analysis
from bayesmeta.scales import reported_float

ROW_COLUMNS: tuple[str, ...] = (
    "outcome", "variable", "level", "source", "measure", "k_published", "k_used", "studies",
    "published_estimate", "published_ci_lower", "published_ci_upper", "rule_model", "rule_estimate",
    "rule_ci_lower", "rule_ci_upper", "status", "note",
)  # fmt: skip
TEST_COLUMNS: tuple[str, ...] = (
    "outcome", "variable", "source", "levels", "k_used", "method", "q_between", "df_between", "p_between",
)  # fmt: skip
NO_SOURCE = ("the subgroup is not a study-level column of the data, and no outcome of the plan holds its "
             "within-trial strata (outcomes.<name>.strata_of and .subgroup)")


@dataclass(frozen=True)
class Strata:
    """An outcome of within-trial strata: its rows (``outcome``) recompute the published subgroup rows of
    ``strata_of`` whose variable is the column ``subgroup``."""

    outcome: str
    strata_of: str
    subgroup: str


def plan_strata(plan: object | None) -> tuple[Strata, ...]:
    """The strata outcomes of a plan (:mod:`bayesmeta.plan_strata`); none without a plan."""
    return tuple(Strata(o.name, o.strata_of, o.subgroup) for o in getattr(plan, "outcomes", ())
                 if getattr(o, "strata_of", None))


def _same(a: object, b: object) -> bool:
    return str(a).strip().casefold() == str(b).strip().casefold()


def level_source(effects: pd.DataFrame, strata: tuple[Strata, ...], outcome: str,
                 variable: str) -> tuple[pd.DataFrame, str, str] | None:
    """(the studies with a level of ``variable``, the column holding it, a description) for the published
    subgroup rows of ``outcome``: its own study-level column ``variable``, else the strata outcome declared for
    it; None when neither exists."""
    own = effects[effects["outcome"] == outcome]
    if variable in own.columns and own[variable].notna().any() and (own[variable].astype(str).str.strip() != "").any():
        return own, variable, f"the {outcome} studies by column {variable}"
    for s in strata:
        if s.strata_of == outcome and _same(s.subgroup, variable):
            rows = effects[effects["outcome"] == s.outcome]
            return rows, s.subgroup, f"the within-trial strata of outcome {s.outcome} (column {s.subgroup})"
    return None


def rows_of_level(rows: pd.DataFrame, column: str, level: object) -> pd.DataFrame:
    """The rows whose ``column`` equals ``level`` (text, case and surrounding blanks ignored)."""
    text = rows[column].astype(str).str.strip().str.casefold()
    return rows[text == str(level).strip().casefold()]


def compare_subgroup_rows(effects: pd.DataFrame, published: pd.DataFrame, pooling: str = "I2_rule",
                          strata: tuple[Strata, ...] = (), level: float = 0.95
                          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every published subgroup row beside its recomputation (:data:`ROW_COLUMNS`, reported scale; ``status``
    'not recomputed' with the reason in ``note`` when no studies reach it), and per (outcome, variable) with at
    least two levels of data the test of subgroup differences (:data:`TEST_COLUMNS`), pooled as the first
    published row of that variable says (common effect for a 'common' row)."""
    rows_out, tests = [], []
    subgroup = published[published["analysis"] == "subgroup"]
    done: set[tuple[str, str]] = set()
    for _, p in subgroup.iterrows():
        outcome, variable = str(p["outcome"]), "" if pd.isna(p["variable"]) else str(p["variable"])
        model = p.get("model", "")
        model = model.strip().lower() if isinstance(model, str) else ""
        rule_pooling = pooling_for(model, pooling, published_method(p.get("method", "")))
        rec: dict[str, object] = dict.fromkeys(ROW_COLUMNS)
        rec.update(outcome=outcome, variable=variable, level=str(p["level"]), measure=str(p["measure"]),
                   k_published=None if pd.isna(p["k"]) else int(p["k"]), k_used=0,
                   published_estimate=float(p["estimate"]), published_ci_lower=float(p["ci_lower"]),
                   published_ci_upper=float(p["ci_upper"]))
        found = level_source(effects, strata, outcome, variable)
        if found is None:
            rec.update(status="not recomputed", note=NO_SOURCE)
            rows_out.append(rec)
            continue
        source_rows, column, source = found
        sel = rows_of_level(source_rows, column, p["level"])
        rec.update(source=source, k_used=len(sel), studies=";".join(sel["study_id"].astype(str)))
        if len(sel) == 0:
            rec.update(status="no data", note=f"no row of {source} has level {p['level']}")
        else:
            y, v = sel["yi"].to_numpy(float), sel["vi"].to_numpy(float)
            rule = paper_rule(y, v, rule_pooling, level=level)
            m = str(sel["measure"].iloc[0])
            new = tuple(reported_float(x, m) for x in (rule.estimate, rule.ci_lower, rule.ci_upper))
            rec.update(rule_model=rule.method, rule_estimate=new[0], rule_ci_lower=new[1], rule_ci_upper=new[2])
            pub = (rec["published_estimate"], rec["published_ci_lower"], rec["published_ci_upper"])
            if len(sel) == 1:
                rec.update(status="single study", note=f"one row of {source} has level {p['level']}")
            else:
                decimals = tuple(printed_decimals(p, c) for c in ("estimate", "ci_lower", "ci_upper"))
                rec.update(status=agreement(pub, new, decimals, m),  # type: ignore[arg-type]
                           note=f"{len(sel)} rows of {source} pooled ({rule.method})")
        rows_out.append(rec)
        if (outcome, variable) not in done:
            done.add((outcome, variable))
            tests += _test(source_rows, column, outcome, variable, source, rule_pooling, level)
    return (pd.DataFrame(rows_out, columns=list(ROW_COLUMNS)), pd.DataFrame(tests, columns=list(TEST_COLUMNS)))


def strata_as_columns(effects: pd.DataFrame, published: pd.DataFrame, strata: tuple[Strata, ...]) -> pd.DataFrame:
    """``effects`` plus, for each published subgroup or subgroup-difference variable of a ``strata_of`` outcome
    that names a strata outcome's column, that outcome's rows as rows of the published outcome with the level in a
    column named as the published variable: :func:`bayesmeta.compare.compare_subgroups` then recomputes the
    published subgroup-difference p-value from the strata."""
    rows = published[published["analysis"].isin(["subgroup", "subgroup_difference"])]
    extra = []
    for s in strata:
        mine = rows[rows["outcome"] == s.strata_of]
        for variable in dict.fromkeys(mine["variable"].dropna().astype(str)):
            if _same(variable, s.subgroup):
                copy = effects[effects["outcome"] == s.outcome].copy()
                copy[variable] = copy[s.subgroup]
                copy["outcome"] = s.strata_of
                extra.append(copy)
    return pd.concat([effects, *extra], ignore_index=True) if extra else effects


def across_level_test(rows: pd.DataFrame, column: str, pooling: str = "I2_rule",
                      level: float = 0.95) -> dict[str, object] | None:
    """The test of subgroup differences across the levels of ``column`` (``method``, ``q_between``,
    ``df_between``, ``p_between``, ``k_used``), pooled by ``pooling`` (:func:`bayesmeta.frequentist.paper_rule`'s
    choice for 'I2_rule'); None with fewer than two levels."""
    found = _test(rows, column, "", column, "", pooling, level)
    return {k: found[0][k] for k in ("method", "q_between", "df_between", "p_between", "k_used")} if found else None


def _test(rows: pd.DataFrame, column: str, outcome: str, variable: str, source: str, pooling: str,
          level: float) -> list[dict[str, object]]:
    kept = rows[rows[column].notna() & (rows[column].astype(str).str.strip() != "")]
    groups = kept[column].astype(str).str.strip().tolist()
    if len(set(groups)) < 2:
        return []
    y, v = kept["yi"].to_numpy(float), kept["vi"].to_numpy(float)
    method = paper_rule(y, v).method if pooling == "I2_rule" else pooling
    res = subgroup_analysis(y, v, groups, method=method, level=level)
    return [dict(outcome=outcome, variable=variable, source=source, levels=", ".join(dict.fromkeys(groups)),
                 k_used=len(kept), method=method, q_between=float(res.q_between), df_between=int(res.df_between),
                 p_between=float(res.p_between))]


__all__ = ["NO_SOURCE", "ROW_COLUMNS", "TEST_COLUMNS", "Strata", "across_level_test", "compare_subgroup_rows",
           "level_source", "plan_strata", "rows_of_level", "strata_as_columns"]
