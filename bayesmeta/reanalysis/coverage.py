"""Data coverage: per outcome, the studies the paper pooled against those with usable data here, and why each
missing one is missing; and the paper's own pooled numbers looked up by outcome."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bayesmeta.plan import OutcomePlan, Plan


def coverage_tables(plan: Plan, studies: pd.DataFrame | None, outcome_rows: pd.DataFrame,
                    all_effects: pd.DataFrame, published: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per outcome: k published, rows in the data, k used, and each study the paper pooled that is not used,
    with the reason; plus the studies of the study table with no outcome row at all. The studies the paper
    pooled per outcome come from the study table's optional ``outcomes_in_meta_analysis`` column
    (outcome names separated by ';')."""
    from bayesmeta.effects import study_label

    with_rows = set(outcome_rows["study_id"].astype(str))
    in_meta = {}
    if studies is not None and "outcomes_in_meta_analysis" in studies.columns:
        for sid, text in zip(studies["study_id"].astype(str), studies["outcomes_in_meta_analysis"].astype(str)):
            in_meta[sid] = {t.strip() for t in text.split(";") if t.strip()}
    records = []
    for o in plan.outcomes:
        rows = all_effects[all_effects["outcome"] == o.name]
        used = rows[rows["usable"]]
        k_pub = published_k(published, o.name)
        pooled_by_paper = [sid for sid, outs in in_meta.items() if o.name in outs]
        not_used = []
        for r in rows[~rows["usable"]].itertuples():
            not_used.append({"study": r.study_id, "reason": f"row present but not usable: {r.reason}"})
        for sid in pooled_by_paper:
            if sid in set(rows["study_id"]):
                continue
            why = (f"no row for {o.name} in {plan.outcomes_file.name}: none of the study's sources read here "
                   f"report it" if sid in with_rows else
                   f"no row in {plan.outcomes_file.name} for any outcome: the study's report was not readable")
            not_used.append({"study": sid, "reason": why})
        records.append({
            "outcome": o.name, "label": o.label, "k_published": k_pub,
            "k_in_paper_table": len(pooled_by_paper) if in_meta else None,
            "rows_in_data": int(len(rows)), "k_used": int(len(used)),
            "studies_used": used["study_id"].astype(str).tolist(),
            "methods": used["method"].value_counts().to_dict(),
            "not_used": not_used,
            "statement": _coverage_statement(o, len(used), k_pub, len(rows)),
        })
    missing = [] if studies is None else [
        {"study": str(row["study_id"]), "label": study_label(str(row["study_id"]), row),
         "reason": f"no row in {plan.outcomes_file.name}: the study's report was not readable"}
        for _, row in studies.iterrows() if str(row["study_id"]) not in with_rows]
    return pd.DataFrame(records), pd.DataFrame(missing, columns=["study", "label", "reason"])

def _coverage_statement(o: OutcomePlan, k_used: int, k_pub: int | None, n_rows: int) -> str:
    pub = f"{k_used} of the {k_pub} studies the paper pooled" if k_pub else \
        f"{k_used} studies (the paper's number is not known)"
    text = f"{o.label}: {pub} have data usable here"
    if n_rows > k_used:
        extra = n_rows - k_used
        text += (f"; {extra} more {'has a row' if extra == 1 else 'have rows'} whose numbers cannot give an effect "
                 "and its SE")
    return text + "."

def published_pooled(published: pd.DataFrame | None, outcome: str, pooling: str = "") -> dict[str, Any] | None:
    """The paper's pooled estimate of an outcome: estimate, CI, k and I^2 as printed. Of several pooled rows,
    the one whose ``model`` column matches the plan's ``pooling`` ('common' for FE, 'random' otherwise), else
    the first."""
    if published is None:
        return None
    rows = published[(published["outcome"] == outcome) & (published["analysis"] == "pooled")]
    if rows.empty:
        return None
    if len(rows) > 1 and "model" in rows.columns and pooling not in ("", "I2_rule"):
        wanted = rows[rows["model"].astype(str).str.lower() == ("common" if pooling == "FE" else "random")]
        rows = wanted if len(wanted) else rows
    r = rows.iloc[0]
    return {"estimate": float(r["estimate"]), "ci_lower": float(r["ci_lower"]), "ci_upper": float(r["ci_upper"]),
            "k": None if pd.isna(r["k"]) else int(r["k"]),
            "i2_percent": None if pd.isna(r["i2_percent"]) else float(r["i2_percent"]), "where": str(r["where"])}

def published_ris(published: pd.DataFrame | None, outcome: str) -> float | None:
    if published is None:
        return None
    rows = published[(published["outcome"] == outcome) & (published["analysis"] == "tsa_required_information_size")]
    return None if rows.empty else float(rows["estimate"].iloc[0])

def published_k(published: pd.DataFrame | None, outcome: str) -> int | None:
    if published is None:
        return None
    rows = published[(published["outcome"] == outcome) & (published["analysis"] == "pooled")]
    if rows.empty or pd.isna(rows["k"].iloc[0]):
        return None
    return int(rows["k"].iloc[0])
