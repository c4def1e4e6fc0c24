"""Analysis-scale effects (yi = log ratio, its standard error sei) from the statistics a report gives.

Formulas (see METHODS.md):
- ratio with 95% CI, exact or bounded p-value, medians under exponential survival: Tierney JF, Stewart LA,
  Ghersi D, Burdett S, Sydes MR (2007), Practical methods for incorporating summary time-to-event data into
  meta-analysis, Trials 8:16;
- arm counts: log RR / log OR with metafor's ``escalc`` conventions (Viechtbauer 2010, J Stat Softw 36(3)):
  0.5 added to every cell of a study with a zero cell (``add=1/2, to="only0"``); studies with no events in
  either arm are excluded, as metafor's model-fitting functions do with ``drop00=TRUE`` (``escalc`` itself keeps
  them by default, ``drop00=FALSE``), since a ratio with no events carries no information about it.

The low-level functions take and return plain floats or numpy arrays; :func:`derive_effects` applies them to
an outcome table row by row with the precedence CI > exact p > p bound > medians + p > counts, and records the
method and, for rows that cannot be used, the reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from bayesmeta.data import COUNT_COLUMNS, load_outcomes, load_studies
from bayesmeta.errors import InputError
from bayesmeta.scales import is_ratio

METHODS: tuple[str, ...] = ("ci", "p_exact", "p_bound", "medians_p", "counts", "counts_cc")
COVARIATE_COLUMNS: tuple[str, ...] = ("year", "design", "platinum", "systemic", "first_author")
EFFECT_COLUMNS: tuple[str, ...] = (
    "study_id", "outcome", "measure", "yi", "sei", "vi", "method", "usable", "reason", "n_total",
    *COUNT_COLUMNS, *COVARIATE_COLUMNS,
)
CONTINUITY_CORRECTION = 0.5


def _result(value: np.ndarray) -> np.ndarray | float:
    return float(value) if np.ndim(value) == 0 else value


def log_ratio_from_ci(
    estimate: ArrayLike, lower: ArrayLike, upper: ArrayLike, level: float = 0.95
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """y = ln(estimate), se = (ln U - ln L) / (2 z), z = Phi^-1(1 - (1 - level)/2) (Tierney et al. 2007)."""
    est, lo, up = (np.asarray(v, dtype=float) for v in (estimate, lower, upper))
    if np.any(est <= 0) or np.any(lo <= 0) or np.any(up <= 0):
        raise ValueError("ratios and their confidence bounds must be positive")
    if np.any(lo >= up):
        raise ValueError("the lower confidence bound must be below the upper bound")
    if not 0 < level < 1:
        raise ValueError("level must lie in (0, 1)")
    z = stats.norm.isf((1 - level) / 2)
    return _result(np.log(est)), _result((np.log(up) - np.log(lo)) / (2 * z))


def se_from_p(y: ArrayLike, p: ArrayLike) -> np.ndarray | float:
    """se = |y| / Phi^-1(1 - p/2) from a two-sided p-value (Tierney et al. 2007).

    For a reported bound p < c pass c: the result is the largest SE consistent with the report (conservative).
    Raises ValueError when y == 0 (the SE is not identifiable from p) or p is outside (0, 1).
    """
    y_arr, p_arr = np.broadcast_arrays(np.asarray(y, dtype=float), np.asarray(p, dtype=float))
    if np.any(~np.isfinite(y_arr)) or np.any(y_arr == 0):
        raise ValueError("the SE cannot be identified from a p-value when the estimate is 0 (a ratio of 1)")
    if np.any(~((p_arr > 0) & (p_arr < 1))):
        raise ValueError("the p-value must lie strictly between 0 and 1 to give a finite SE")
    return _result(np.abs(y_arr) / stats.norm.isf(p_arr / 2))


def log_hr_from_medians(median_treatment: ArrayLike, median_control: ArrayLike) -> np.ndarray | float:
    """y = ln(median_control / median_treatment): under exponential survival the hazard is ln 2 / median, so
    HR = lambda_t / lambda_c = median_c / median_t (Tierney et al. 2007)."""
    m_t, m_c = np.asarray(median_treatment, dtype=float), np.asarray(median_control, dtype=float)
    if np.any(~(m_t > 0)) or np.any(~(m_c > 0)):
        raise ValueError("both medians must be reached and positive")
    return _result(np.log(m_c / m_t))


def min_se_log_hr(n_total: ArrayLike) -> np.ndarray | float:
    """Smallest plausible SE of a log HR: Var >= 4/D for D events (minimised by 1:1 allocation) and D <= N
    patients, so se >= sqrt(4 / N)."""
    n = np.asarray(n_total, dtype=float)
    if np.any(~(n > 0)):
        raise ValueError("the number of patients must be positive")
    return _result(np.sqrt(4.0 / n))


def _cells(a: ArrayLike, n1: ArrayLike, c: ArrayLike, n2: ArrayLike) -> tuple[np.ndarray, ...]:
    a, n1, c, n2 = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, n1, c, n2)))
    if np.any(~np.isfinite(a + n1 + c + n2)) or np.any(n1 <= 0) or np.any(n2 <= 0):
        raise ValueError("arm sizes must be positive and counts finite")
    if np.any(a < 0) or np.any(c < 0) or np.any(a > n1) or np.any(c > n2):
        raise ValueError("event counts must lie between 0 and the arm size")
    return a, n1, c, n2


def both_arms_zero(a: ArrayLike, c: ArrayLike) -> np.ndarray | bool:
    """True where neither arm has an event: no ratio is estimable and the study is excluded."""
    both = (np.asarray(a, dtype=float) == 0) & (np.asarray(c, dtype=float) == 0)
    return bool(both) if both.ndim == 0 else both


def _corrected_cells(a: ArrayLike, n1: ArrayLike, c: ArrayLike, n2: ArrayLike):
    a, n1, c, n2 = _cells(a, n1, c, n2)
    zero_cell = (a == 0) | (n1 - a == 0) | (c == 0) | (n2 - c == 0)
    add = np.where(zero_cell, CONTINUITY_CORRECTION, 0.0)
    excluded = (a == 0) & (c == 0)
    return a + add, n1 + 2 * add, c + add, n2 + 2 * add, zero_cell & ~excluded, excluded


def log_rr_from_counts(
    a: ArrayLike, n1: ArrayLike, c: ArrayLike, n2: ArrayLike
) -> tuple[np.ndarray | float, np.ndarray | float, np.ndarray | bool]:
    """Log risk ratio from arm counts (a events of n1 treated, c of n2 controls), metafor ``escalc("RR")``:
    y = ln((a/n1)/(c/n2)), var = 1/a - 1/n1 + 1/c - 1/n2, with 0.5 added to each cell (n + 1 per arm) only
    where a cell (a, n1-a, c, n2-c) is zero. Returns (y, var, corrected); studies with no events in either arm
    are excluded: y and var are NaN there (check :func:`both_arms_zero` and record a reason)."""
    a, n1, c, n2, corrected, excluded = _corrected_cells(a, n1, c, n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.log((a / n1) / (c / n2))
        var = 1 / a - 1 / n1 + 1 / c - 1 / n2
    y, var = np.where(excluded, np.nan, y), np.where(excluded, np.nan, var)
    flag = bool(corrected) if corrected.ndim == 0 else corrected
    return _result(y), _result(var), flag


def log_or_from_counts(
    a: ArrayLike, n1: ArrayLike, c: ArrayLike, n2: ArrayLike
) -> tuple[np.ndarray | float, np.ndarray | float, np.ndarray | bool]:
    """Log odds ratio from arm counts, metafor ``escalc("OR")``: y = ln(a d / (b c)) with b = n1 - a,
    d = n2 - c, var = 1/a + 1/b + 1/c + 1/d; 0.5 added to every cell only where a cell is zero; studies with no
    events in either arm excluded (y, var NaN). Returns (y, var, corrected)."""
    a, n1, c, n2, corrected, excluded = _corrected_cells(a, n1, c, n2)
    b, d = n1 - a, n2 - c
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.log((a * d) / (b * c))
        var = 1 / a + 1 / b + 1 / c + 1 / d
    y, var = np.where(excluded, np.nan, y), np.where(excluded, np.nan, var)
    flag = bool(corrected) if corrected.ndim == 0 else corrected
    return _result(y), _result(var), flag


def _is_ratio(measure: str) -> bool:
    return is_ratio(measure)


def _from_ci(row: pd.Series) -> tuple[float, float, str] | str | None:
    est, lo, up = row["estimate"], row["ci_lower"], row["ci_upper"]
    if np.isnan(lo) or np.isnan(up) or np.isnan(est):
        return None
    if _is_ratio(row["measure"]):
        y, se = log_ratio_from_ci(est, lo, up)
    else:
        y, se = float(est), float((up - lo) / (2 * stats.norm.isf(0.025)))
    return y, se, "ci"


def _from_p(row: pd.Series) -> tuple[float, float, str] | str | None:
    est, p, relation = row["estimate"], row["p_value"], row["p_relation"]
    if np.isnan(est) or np.isnan(p):
        return None
    y = float(np.log(est)) if _is_ratio(row["measure"]) else float(est)
    method = "p_bound" if relation == "<" else "p_exact"
    try:
        return y, se_from_p(y, p), method
    except ValueError as exc:
        return f"estimate with p = {p:g}: {exc}"


def _from_medians(row: pd.Series) -> tuple[float, float, str] | str | None:
    if row["measure"] != "HR":
        return None
    m_t, m_c, p = row["median_treatment"], row["median_control"], row["p_value"]
    if np.isnan(m_t) and np.isnan(m_c):
        return None
    if np.isnan(m_t) or np.isnan(m_c):
        arm = "treatment" if np.isnan(m_t) else "control"
        return f"{arm} median not reached or not reported: no HR can be derived from the medians"
    if np.isnan(p):
        return "medians without a p-value: the SE cannot be derived"
    y = log_hr_from_medians(m_t, m_c)
    try:
        return y, se_from_p(y, p), "medians_p"
    except ValueError as exc:
        return f"medians with p = {p:g}: {exc}"


def _from_counts(row: pd.Series) -> tuple[float, float, str] | str | None:
    counts = [row[c] for c in COUNT_COLUMNS]
    if any(np.isnan(v) for v in counts):
        return None
    if row["measure"] not in ("RR", "OR"):
        return f"arm counts give a risk or odds ratio, not a {row['measure']}"
    a, n1, c, n2 = counts
    if both_arms_zero(a, c):
        return "no events in either arm: the ratio is not estimable (study excluded)"
    function = log_rr_from_counts if row["measure"] == "RR" else log_or_from_counts
    y, var, corrected = function(a, n1, c, n2)
    return y, float(np.sqrt(var)), "counts_cc" if corrected else "counts"


_DERIVATIONS = (_from_ci, _from_p, _from_medians, _from_counts)


def _derive_row(row: pd.Series) -> tuple[float, float, str, str]:
    """(yi, sei, method, reason) by the first derivation that succeeds; reason '' when one did."""
    failures = []
    for derivation in _DERIVATIONS:
        outcome = derivation(row)
        if isinstance(outcome, tuple):
            y, se, method = outcome
            return float(y), float(se), method, ""
        if isinstance(outcome, str):
            failures.append(outcome)
    reason = failures[0] if failures else (
        "nothing to derive from: no estimate with a CI or p-value, no medians with a p-value, no arm counts"
    )
    return np.nan, np.nan, "", reason


def _study_sizes(outcomes: pd.DataFrame, studies: pd.DataFrame | None) -> pd.DataFrame:
    columns = ["n_total", *COVARIATE_COLUMNS]
    if studies is None:
        extra = pd.DataFrame(np.nan, index=outcomes.index, columns=columns).astype(object)
        extra["n_total"] = (outcomes["total_treatment"] + outcomes["total_control"]).astype(float)
        return extra
    table = studies.set_index("study_id")
    missing = sorted(set(outcomes["study_id"]) - set(table.index))
    if missing:
        raise InputError(f"outcome rows refer to studies missing from the study table: {', '.join(missing)}",
                         column="study_id", valid="a study_id of the study table")
    rows = table.loc[outcomes["study_id"]]
    extra = pd.DataFrame(index=outcomes.index)
    extra["n_total"] = (rows["n_treatment"].to_numpy() + rows["n_control"].to_numpy()).astype(float)
    for column in COVARIATE_COLUMNS:
        extra[column] = rows[column].to_numpy() if column in rows.columns else np.nan
    return extra


def derive_effects(outcomes: pd.DataFrame, studies: pd.DataFrame | None = None, *,
                   check_plausibility: bool = True) -> pd.DataFrame:
    """One row per outcome row: study_id, outcome, measure, yi, sei, vi, method, usable, reason, n_total, the
    arm counts and, from ``studies``, the covariates year, design, platinum, systemic, first_author.

    ``outcomes`` is a validated table (:func:`bayesmeta.data.load_outcomes`). The method is the first that
    applies of 'ci', 'p_exact', 'p_bound', 'medians_p', 'counts' / 'counts_cc' (0.5 correction); rows with
    nothing derivable stay with usable=False and a reason. With ``check_plausibility``, a log HR whose SE is
    below sqrt(4/N) (N = n_treatment + n_control of the study table, else the arm totals) is flagged
    usable=False with the reason; its yi and sei are kept for inspection.
    """
    derived = [_derive_row(row) for _, row in outcomes.iterrows()]
    effects = pd.DataFrame({
        "study_id": outcomes["study_id"].astype(str).to_numpy(),
        "outcome": outcomes["outcome"].astype(str).to_numpy(),
        "measure": outcomes["measure"].astype(str).to_numpy(),
        "yi": [d[0] for d in derived],
        "sei": [d[1] for d in derived],
        "method": [d[2] for d in derived],
        "reason": [d[3] for d in derived],
    }, index=outcomes.index)
    effects["vi"] = effects["sei"] ** 2
    effects["usable"] = effects["reason"] == ""
    extra = _study_sizes(outcomes, studies)
    effects["n_total"] = extra["n_total"]
    for column in COUNT_COLUMNS:
        effects[column] = outcomes[column].astype(float)
    for column in COVARIATE_COLUMNS:
        effects[column] = extra[column]
    if check_plausibility:
        for index, row in effects.iterrows():
            if row["usable"] and row["measure"] == "HR" and np.isfinite(row["n_total"]):
                bound = min_se_log_hr(row["n_total"])
                if row["sei"] < bound:
                    effects.loc[index, "usable"] = False
                    effects.loc[index, "reason"] = (
                        f"implausible: SE {row['sei']:.3f} ({row['method']}) is below the smallest possible SE "
                        f"of a log HR with {row['n_total']:.0f} patients, sqrt(4/N) = {bound:.3f}"
                    )
    bad = effects["usable"] & ~(np.isfinite(effects["yi"]) & np.isfinite(effects["sei"]) & (effects["sei"] > 0))
    if bad.any():
        first = effects[bad].iloc[0]
        raise InputError(f"the effect of {first['study_id']} {first['outcome']} is not finite", column="yi")
    return effects[list(EFFECT_COLUMNS)].reset_index(drop=True)


def effects_for(outcome: str, outcomes: pd.DataFrame | None = None,
                studies: pd.DataFrame | None = None) -> pd.DataFrame:
    """The usable effects of one outcome (OS, PFS, ORR, DCR, AE), sorted by year then study_id; the default
    data files are loaded when ``outcomes``/``studies`` are None."""
    if studies is None:
        studies = load_studies()
    if outcomes is None:
        outcomes = load_outcomes(studies=studies)
    known = sorted(set(outcomes["outcome"]))
    if outcome not in known:
        raise InputError(f"no rows for outcome '{outcome}'", column="outcome", valid=", ".join(known))
    effects = derive_effects(outcomes[outcomes["outcome"] == outcome], studies)
    usable = effects[effects["usable"]]
    return usable.sort_values(["year", "study_id"], kind="stable").reset_index(drop=True)
