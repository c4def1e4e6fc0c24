"""Analysis-scale effects (yi = log ratio or difference, its standard error sei) from the statistics reported.

Forms, in order of precedence (the first that applies to a row gives its effect; the method is recorded):
1. ``given``: ``yi`` with ``sei`` or ``vi``, already on the analysis scale;
2. ``ci``: an estimate with its 95% CI (ratios logged), Tierney JF, Stewart LA, Ghersi D, Burdett S, Sydes MR
   (2007), Practical methods for incorporating summary time-to-event data into meta-analysis, Trials 8:16;
3. ``logrank``: a HR from the log-rank ``o_minus_e`` and its variance ``var_o_minus_e`` (Peto: yi = (O-E)/V,
   vi = 1/V; Tierney et al. 2007);
4. ``p_exact`` / ``p_bound``: an estimate with its two-sided p-value, exact or an upper bound (Tierney et al. 2007);
5. ``medians_p``: HR from the medians under exponential survival with the p-value (Tierney et al. 2007);
6. ``means``: MD, SMD (Hedges' g) or ROM (log ratio of means) from ``mean_*``, ``sd_*`` and the arm sizes
   ``total_*``;
7. ``person_time`` / ``person_time_cc`` (zero-count correction applied): IRR from the events ``events_*`` over
   the person-time ``person_time_*`` of each arm;
8. ``counts`` / ``counts_cc`` (zero-cell correction applied): RR, OR or RD from the arm counts.
Forms 3, 6, 7 and 8 use metafor's ``escalc`` formulas (:mod:`bayesmeta.escalc`; Viechtbauer 2010, J Stat Softw
36(3)). Zero cells follow a :class:`~bayesmeta.escalc.ZeroCellRule` per outcome, by default escalc's: 1/2 added
to every cell of a study with a zero cell (``add=1/2, to="only0"``); for RR and OR, studies with no events in
both arms (or only events in both arms) are excluded (``drop00=TRUE``, as metafor's ``rma.mh`` and ``rma.peto``
do, since such a ratio carries no information), for RD they are kept (escalc's ``drop00=FALSE``). Events over
person-time follow the same rule: 1/2 added to both counts of a study with a zero count, and a study with no
events in either arm excluded.

The low-level functions take and return plain floats or numpy arrays; :func:`derive_effects` applies them to an
outcome table and records the method and, for rows that cannot be used, the reason.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.special import ndtri

from bayesmeta.data import (
    GIVEN_COLUMNS,
    LOGRANK_COLUMNS,
    MEAN_COLUMNS,
    PERSON_TIME_COLUMNS,
    PERSON_TIME_FORM,
    STATISTIC_COLUMNS,
)
from bayesmeta.effect_data import COUNT_COLUMNS
from bayesmeta.errors import InputError
from bayesmeta.escalc import (
    ZeroCellRule,
    adjusted_cells,
    adjusted_events,
    log_hr_from_logrank,
    log_incidence_rate_ratio,
    log_odds_ratio,
    log_ratio_of_means,
    log_risk_ratio,
    mean_difference,
    risk_difference,
    se_from_p,
    standardized_mean_difference,
)
from bayesmeta.plausible import table_problems
from bayesmeta.scales import COUNT_MEASURES, MEAN_MEASURES, PERSON_TIME_MEASURES, is_ratio

METHODS: tuple[str, ...] = (
    "given", "ci", "logrank", "p_exact", "p_bound", "medians_p", "means", "person_time", "person_time_cc", "counts",
    "counts_cc",
)
NOT_COVARIATES: tuple[str, ...] = ("source", "source_kind", "url", "location", "where", "notes", "note", "analysis",
                                   "counts_from_percent")
"""Provenance columns of an outcomes table: kept in the file, never treated as covariates."""
EFFECT_COLUMNS: tuple[str, ...] = (
    "study_id", "label", "outcome", "measure", "yi", "sei", "vi", "method", "usable", "reason", "n_total",
    *COUNT_COLUMNS,
)
"""The columns every effects frame has; the study table's other columns (year, covariates) follow them."""
MEAN_FUNCTIONS = dict(zip(MEAN_MEASURES, (mean_difference, standardized_mean_difference, log_ratio_of_means),
                          strict=True))
COUNT_FUNCTIONS = dict(zip(COUNT_MEASURES, (log_risk_ratio, log_odds_ratio, risk_difference), strict=True))
PERSON_TIME_FUNCTIONS = dict(zip(PERSON_TIME_MEASURES, (log_incidence_rate_ratio,), strict=True))


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
    z = -ndtri((1 - level) / 2)
    return _result(np.log(est)), _result((np.log(up) - np.log(lo)) / (2 * z))


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


def counts_effect(
    measure: str, a: ArrayLike, n1: ArrayLike, c: ArrayLike, n2: ArrayLike, rule: ZeroCellRule = ZeroCellRule()
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """RR (log), OR (log) or RD from arm counts (a events of n1 treated, c of n2 controls) by metafor's
    ``escalc`` with the zero-cell ``rule``: (yi, vi, corrected, dropped) as arrays; yi and vi are NaN for the
    dropped studies (double zero under ``drop00``) and wherever escalc gives no value."""
    if measure not in COUNT_FUNCTIONS:
        raise ValueError(f"arm counts give a RR, OR or RD, not a {measure}")
    drop00 = rule.drops(measure)
    cells = adjusted_cells(a, n1, c, n2, add=rule.add, to=rule.to, drop00=drop00)
    yi, vi = COUNT_FUNCTIONS[measure](a, n1, c, n2, add=rule.add, to=rule.to, drop00=drop00)
    return np.atleast_1d(yi), np.atleast_1d(vi), np.atleast_1d(cells.added), np.atleast_1d(cells.dropped)


def person_time_effect(
    measure: str, x1: ArrayLike, t1: ArrayLike, x2: ArrayLike, t2: ArrayLike, rule: ZeroCellRule = ZeroCellRule()
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """IRR (log) from x1 events in t1 person-time (treatment) and x2 in t2 (control) by metafor's ``escalc`` with
    the zero-count ``rule`` (1/2 added to both counts of a study with a zero count; a study with no events in
    either arm dropped unless ``rule.drop00`` is False): (yi, vi, corrected, dropped) as arrays, yi and vi NaN
    for the dropped studies."""
    if measure not in PERSON_TIME_FUNCTIONS:
        raise ValueError(f"events over person-time give an {', '.join(PERSON_TIME_MEASURES)}, not a {measure}")
    drop00 = rule.drops(measure)
    events = adjusted_events(x1, t1, x2, t2, add=rule.add, to=rule.to, drop00=drop00)
    yi, vi = PERSON_TIME_FUNCTIONS[measure](x1, t1, x2, t2, add=rule.add, to=rule.to, drop00=drop00)
    return np.atleast_1d(yi), np.atleast_1d(vi), np.atleast_1d(events.added), np.atleast_1d(events.dropped)


def _counts_with_flag(measure: str, a: ArrayLike, n1: ArrayLike, c: ArrayLike, n2: ArrayLike):
    yi, vi, corrected, _ = counts_effect(measure, a, n1, c, n2)
    if np.ndim(a) == 0 and np.ndim(n1) == 0 and np.ndim(c) == 0 and np.ndim(n2) == 0:
        return float(yi[0]), float(vi[0]), bool(corrected[0])
    return yi, vi, corrected


def log_rr_from_counts(
    a: ArrayLike, n1: ArrayLike, c: ArrayLike, n2: ArrayLike
) -> tuple[np.ndarray | float, np.ndarray | float, np.ndarray | bool]:
    """Log risk ratio from arm counts, metafor ``escalc("RR")``: y = ln(a/n1) - ln(c/n2),
    var = 1/a - 1/n1 + 1/c - 1/n2, with 0.5 added to each cell (n + 1 per arm) only where a cell (a, n1-a, c,
    n2-c) is zero. Returns (y, var, corrected); studies with no events (or only events) in both arms are
    excluded: y and var are NaN there (:func:`bayesmeta.escalc.double_zero`)."""
    return _counts_with_flag("RR", a, n1, c, n2)


def log_or_from_counts(
    a: ArrayLike, n1: ArrayLike, c: ArrayLike, n2: ArrayLike
) -> tuple[np.ndarray | float, np.ndarray | float, np.ndarray | bool]:
    """Log odds ratio from arm counts, metafor ``escalc("OR")``: y = ln(a d / (b c)) with b = n1 - a,
    d = n2 - c, var = 1/a + 1/b + 1/c + 1/d; 0.5 added to every cell only where a cell is zero; studies with no
    events (or only events) in both arms excluded (y, var NaN). Returns (y, var, corrected)."""
    return _counts_with_flag("OR", a, n1, c, n2)


def _from_ci(row: pd.Series) -> tuple[float, float, str] | str | None:
    est, lo, up = row["estimate"], row["ci_lower"], row["ci_upper"]
    if np.isnan(lo) or np.isnan(up) or np.isnan(est):
        return None
    if is_ratio(row["measure"]):
        y, se = log_ratio_from_ci(est, lo, up)
    else:
        y, se = float(est), float((up - lo) / (2 * -ndtri(0.025)))
    return y, se, "ci"


def _from_p(row: pd.Series) -> tuple[float, float, str] | str | None:
    est, p, relation = row["estimate"], row["p_value"], row["p_relation"]
    if np.isnan(est) or np.isnan(p):
        return None
    y = float(np.log(est)) if is_ratio(row["measure"]) else float(est)
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


def _cell(row: pd.Series, column: str) -> float:
    """A numeric cell of an optional column (NaN when the table has no such column)."""
    return float(row[column]) if column in row.index else np.nan


def _from_given(row: pd.Series) -> tuple[float, float, str] | str | None:
    y, se, v = (_cell(row, c) for c in GIVEN_COLUMNS)
    if np.isnan(y) and np.isnan(se) and np.isnan(v):
        return None
    if np.isnan(y):
        return "sei or vi given without yi"
    if np.isnan(se):
        if np.isnan(v):
            return "yi given without sei or vi"
        se = float(np.sqrt(v))
    if not (np.isfinite(y) and np.isfinite(se) and se > 0):
        return f"yi {y:g} with standard error {se:g}: a finite yi and a positive SE are needed"
    return y, se, "given"


def _from_logrank(row: pd.Series) -> tuple[float, float, str] | str | None:
    oe, v = (_cell(row, c) for c in LOGRANK_COLUMNS)
    if np.isnan(oe) and np.isnan(v):
        return None
    if row["measure"] != "HR":
        return f"log-rank O - E and V give a log HR, not a {row['measure']}"
    if np.isnan(oe) or np.isnan(v):
        return "the log-rank O - E and its variance V are both needed"
    try:
        y, var = log_hr_from_logrank(oe, v)
    except ValueError as exc:
        return f"log-rank statistics: {exc}"
    return y, float(np.sqrt(var)), "logrank"


def _from_means(row: pd.Series, vtype: str = "LS") -> tuple[float, float, str] | str | None:
    values = [_cell(row, c) for c in MEAN_COLUMNS]
    if all(np.isnan(v) for v in values):
        return None
    measure = row["measure"]
    if measure not in MEAN_FUNCTIONS:
        return f"means and SDs give an {', '.join(MEAN_MEASURES)}, not a {measure}"
    if any(np.isnan(v) for v in values):
        return "means and SDs incomplete: " + ", ".join(MEAN_COLUMNS) + " are all needed"
    n1, n2 = _cell(row, "total_treatment"), _cell(row, "total_control")
    if np.isnan(n1) or np.isnan(n2):
        return "means and SDs without the arm sizes total_treatment, total_control"
    m1, sd1, m2, sd2 = values
    try:
        if vtype != "LS" and measure != "MD":
            return f"vtype {vtype} is a variance of the MD, not of the {measure}"
        y, var = (MEAN_FUNCTIONS[measure](m1, sd1, n1, m2, sd2, n2, vtype=vtype) if measure == "MD"
                  else MEAN_FUNCTIONS[measure](m1, sd1, n1, m2, sd2, n2))
    except ValueError as exc:
        return f"means and SDs: {exc}"
    if not (np.isfinite(y) and np.isfinite(var) and var > 0):
        return f"the {measure} is not estimable from these means and SDs (metafor escalc gives NA)"
    return y, float(np.sqrt(var)), "means"


_DERIVATIONS = (_from_given, _from_ci, _from_logrank, _from_p, _from_medians, _from_means)
_NOTHING = ("nothing to derive from: no yi with its SE, no estimate with a CI or p-value, no log-rank O - E, "
            "no medians with a p-value, no means and SDs, no events over person-time, no arm counts")


def _summary_row(row: pd.Series, vtype: str = "LS") -> tuple[float, float, str] | list[str]:
    """The first derivation other than arm counts that succeeds, else the reasons the others gave; ``vtype`` the
    variance of an MD from means and SDs (escalc's LS or HO)."""
    failures = []
    for derivation in _DERIVATIONS:
        outcome = _from_means(row, vtype) if derivation is _from_means else derivation(row)
        if isinstance(outcome, tuple):
            return outcome
        if isinstance(outcome, str):
            failures.append(outcome)
    return failures


def _rule_for(outcome: str, zero_cells: ZeroCellRule | Mapping[str, ZeroCellRule]) -> ZeroCellRule:
    if isinstance(zero_cells, ZeroCellRule):
        return zero_cells
    return zero_cells.get(outcome, ZeroCellRule())


def _from_counts(rows: pd.DataFrame, rule: ZeroCellRule) -> list[tuple[float, float, str] | str]:
    """Arm counts of the rows of one outcome and measure, in one escalc call (``to="if0all"`` needs the set)."""
    measure = str(rows["measure"].iloc[0])
    if measure not in COUNT_FUNCTIONS:
        hint = (f" (an {measure} needs the person-time of each arm: "
                f"{', '.join(PERSON_TIME_COLUMNS)})") if measure in PERSON_TIME_FUNCTIONS else ""
        return [f"arm counts give a {', '.join(COUNT_MEASURES)}, not a {measure}{hint}"] * len(rows)
    a, n1, c, n2 = (rows[column].to_numpy(dtype=float) for column in COUNT_COLUMNS)
    yi, vi, corrected, dropped = counts_effect(measure, a, n1, c, n2, rule)
    which = np.where(a == 0, "no events in either arm", "events in every patient of both arms")
    return _arm_results(yi, vi, corrected, dropped, which, "counts", f"the {measure} from these counts is not "
                        f"finite or has variance 0 under the zero-cell rule add={rule.add:g}, to='{rule.to}'", measure)


def _from_person_time(rows: pd.DataFrame, rule: ZeroCellRule) -> list[tuple[float, float, str] | str]:
    """Events over person-time of the rows of one outcome and measure, in one escalc call (as arm counts)."""
    measure = str(rows["measure"].iloc[0])
    x1, t1, x2, t2 = (rows[column].to_numpy(dtype=float) for column in PERSON_TIME_FORM)
    yi, vi, corrected, dropped = person_time_effect(measure, x1, t1, x2, t2, rule)
    which = np.full(len(rows), "no events in either arm")
    return _arm_results(yi, vi, corrected, dropped, which, "person_time", f"the {measure} from these events is not "
                        f"finite under the zero-count rule add={rule.add:g}, to='{rule.to}'", measure)


def _arm_results(yi: np.ndarray, vi: np.ndarray, corrected: np.ndarray, dropped: np.ndarray, which: np.ndarray,
                 method: str, not_finite: str, measure: str) -> list[tuple[float, float, str] | str]:
    """Per study of an escalc call on arm data: (yi, sei, method, with "_cc" where a zero was corrected), or the
    reason it has none: dropped as a double zero (``which`` says which kind) or not finite (``not_finite``)."""
    results: list[tuple[float, float, str] | str] = []
    for i in range(len(yi)):
        if dropped[i]:
            results.append(f"{which[i]}: the {measure} is not estimable (study excluded, drop00)")
        elif not (np.isfinite(yi[i]) and vi[i] > 0):
            results.append(not_finite)
        else:
            results.append((float(yi[i]), float(np.sqrt(vi[i])), f"{method}_cc" if corrected[i] else method))
    return results


def _derive(outcomes: pd.DataFrame, zero_cells: ZeroCellRule | Mapping[str, ZeroCellRule],
            vtypes: str | Mapping[str, str] = "LS") -> list[tuple[float, float, str, str]]:
    """(yi, sei, method, reason) per row by the first form that succeeds (reason '' when one did); events over
    person-time (for an IRR) and arm counts last, grouped by outcome and measure so that a zero-cell rule over
    the set applies to the right studies."""
    summary = [_summary_row(row, vtypes if isinstance(vtypes, str) else vtypes.get(str(row["outcome"]), "LS"))
               for _, row in outcomes.iterrows()]
    failed = np.array([isinstance(s, list) for s in summary], dtype=bool)
    complete = outcomes[list(COUNT_COLUMNS)].notna().all(axis=1).to_numpy()
    timed = np.zeros(len(outcomes), dtype=bool)
    if all(c in outcomes.columns for c in PERSON_TIME_COLUMNS):
        timed = (outcomes[list(PERSON_TIME_FORM)].notna().all(axis=1).to_numpy()
                 & outcomes["measure"].isin(PERSON_TIME_MEASURES).to_numpy())
    counts: dict[int, tuple[float, float, str] | str] = {}
    for mask, derivation in ((failed & timed, _from_person_time), (failed & complete & ~timed, _from_counts)):
        groups: dict[tuple[str, str], list[int]] = {}
        for position in np.flatnonzero(mask):
            key = (str(outcomes["outcome"].iloc[position]), str(outcomes["measure"].iloc[position]))
            groups.setdefault(key, []).append(int(position))
        for (outcome, _), group in groups.items():
            results = derivation(outcomes.iloc[group], _rule_for(outcome, zero_cells))
            counts.update(zip(group, results, strict=True))
    derived = []
    for position, result in enumerate(summary):
        if isinstance(result, tuple):
            derived.append((float(result[0]), float(result[1]), result[2], ""))
            continue
        count = counts.get(position)
        if isinstance(count, tuple):
            derived.append((count[0], count[1], count[2], ""))
            continue
        failures = result + ([count] if isinstance(count, str) else [])
        derived.append((np.nan, np.nan, "", failures[0] if failures else _NOTHING))
    return derived


def study_label(study_id: str, row: pd.Series | None) -> str:
    """A study's label for people: the study table's ``label`` column, else ``first_author year``, else the
    study_id."""
    if row is None:
        return study_id
    label = row.get("label", "")
    if isinstance(label, str) and label:
        return label
    author, year = row.get("first_author", ""), row.get("year", None)
    if isinstance(author, str) and author and year is not None and not pd.isna(year):
        return f"{author.split()[0]} {int(year)}"
    return study_id


def _study_columns(outcomes: pd.DataFrame, studies: pd.DataFrame | None) -> pd.DataFrame:
    """n_total, label and every column of the study table (covariates) for each outcome row. Without a study
    table, n_total is the sum of the arm totals and the outcome table's own extra columns serve as covariates."""
    extra = pd.DataFrame(index=outcomes.index)
    totals = (outcomes["total_treatment"] + outcomes["total_control"]).astype(float)
    if studies is None:
        extra["n_total"] = totals
        extra["label"] = outcomes["study_id"].astype(str)
        return extra
    table = studies.set_index("study_id")
    missing = sorted(set(outcomes["study_id"]) - set(table.index))
    if missing:
        raise InputError(f"outcome rows refer to studies missing from the study table: {', '.join(missing)}",
                         column="study_id", valid="a study_id of the study table")
    rows = table.loc[outcomes["study_id"]]
    if "n_treatment" in rows.columns and "n_control" in rows.columns:
        sizes = (rows["n_treatment"].astype(float) + rows["n_control"].astype(float)).to_numpy()
        extra["n_total"] = np.where(np.isfinite(sizes), sizes, totals.to_numpy())
    else:
        extra["n_total"] = totals
    extra["label"] = [study_label(sid, row) for sid, (_, row) in zip(outcomes["study_id"], rows.iterrows(),
                                                                       strict=True)]
    for column in rows.columns:
        if column not in extra.columns:
            extra[column] = rows[column].to_numpy()
    return extra


def derive_effects(outcomes: pd.DataFrame, studies: pd.DataFrame | None = None, *,
                   check_plausibility: bool = True,
                   zero_cells: ZeroCellRule | Mapping[str, ZeroCellRule] = ZeroCellRule(),
                   vtypes: str | Mapping[str, str] = "LS") -> pd.DataFrame:
    """One row per outcome row: the :data:`EFFECT_COLUMNS` (study_id, label, outcome, measure, yi, sei, vi,
    method, usable, reason, n_total, the arm counts), then every column of ``studies`` (year, covariates); without
    a study table, the outcome table's own columns that are not statistics (for example a ``year`` or a
    covariate kept beside the outcome rows).

    ``outcomes`` is a validated table (:func:`bayesmeta.data.load_outcomes`). The method is the first form
    that applies, in the order of the module docstring: 'given', 'ci', 'logrank', 'p_exact', 'p_bound',
    'medians_p', 'means', 'person_time' / 'person_time_cc', 'counts' / 'counts_cc' (zero-cell correction
    applied); rows with nothing derivable stay with usable=False and a reason. ``zero_cells`` is the rule for arm
    counts and events over person-time, one for every outcome or a mapping outcome -> rule (outcomes not in it get
    the default rule); ``vtypes`` the variance of an MD from means and SDs (escalc's ``"LS"``, per-arm SDs, or
    ``"HO"``, the pooled SD), likewise. With ``check_plausibility``, a log HR whose SE is below sqrt(4/N)
    (N = n_treatment + n_control of the study table, else the arm totals), and an
    effect outside its measure's plausible range or too far from its outcome's other effects
    (:mod:`bayesmeta.plausible`), are flagged usable=False with the reason; yi and sei are kept for inspection.
    """
    derived = _derive(outcomes, zero_cells, vtypes)
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
    extra = _study_columns(outcomes, studies)
    effects["n_total"] = extra["n_total"]
    effects["label"] = extra["label"]
    for column in COUNT_COLUMNS:
        effects[column] = outcomes[column].astype(float)
    covariates = [c for c in extra.columns if c not in ("n_total", "label")]
    if studies is None:
        statistics = (*STATISTIC_COLUMNS, *MEAN_COLUMNS, *LOGRANK_COLUMNS, *GIVEN_COLUMNS, *PERSON_TIME_COLUMNS)
        covariates = [c for c in outcomes.columns if c not in (*statistics, *EFFECT_COLUMNS, *NOT_COVARIATES)]
        extra = outcomes
    for column in covariates:
        effects[column] = extra[column].to_numpy()
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
        _flag_implausible(effects)
    bad = effects["usable"] & ~(np.isfinite(effects["yi"]) & np.isfinite(effects["sei"]) & (effects["sei"] > 0))
    if bad.any():
        first = effects[bad].iloc[0]
        raise InputError(f"the effect of {first['study_id']} {first['outcome']} is not finite", column="yi")
    return effects[[*EFFECT_COLUMNS, *covariates]].reset_index(drop=True)


def _flag_implausible(effects: pd.DataFrame) -> None:
    """Mark usable=False, with the reason, the effects outside their measure's plausible range and then those
    too many standard errors from the median of their outcome (:mod:`bayesmeta.plausible`)."""
    for _, group in effects[effects["usable"]].groupby(["outcome", "measure"], sort=False):
        remaining = group
        while len(remaining):
            problems = table_problems(remaining["yi"].to_numpy(float), remaining["sei"].to_numpy(float),
                                      str(remaining["measure"].iloc[0]))
            if not problems:
                break
            for position, _, reason, valid in problems:
                index = remaining.index[position]
                effects.loc[index, "usable"] = False
                method = effects.loc[index, "method"]
                effects.loc[index, "reason"] = f"implausible: {reason} ({method}; valid: {valid})"
            remaining = remaining.drop(index=[remaining.index[p[0]] for p in problems])


def effects_for(outcome: str, outcomes: pd.DataFrame, studies: pd.DataFrame | None = None,
                zero_cells: ZeroCellRule = ZeroCellRule(), vtype: str = "LS") -> pd.DataFrame:
    """The usable effects of one outcome (a name of the outcomes table), sorted by year then study_id when the
    data have a year, else in the order of the outcomes file (the order sequential monitoring adds them);
    ``zero_cells`` the rule for arm counts (:class:`bayesmeta.escalc.ZeroCellRule`), ``vtype`` the variance of
    an MD from means and SDs."""
    known = sorted(set(outcomes["outcome"]))
    if outcome not in known:
        raise InputError(f"no rows for outcome '{outcome}'", column="outcome", valid=", ".join(known))
    effects = derive_effects(outcomes[outcomes["outcome"] == outcome], studies, zero_cells=zero_cells,
                             vtypes=vtype)
    usable = effects[effects["usable"]]
    if "year" in usable.columns:
        usable = usable.sort_values(["year", "study_id"], kind="stable")
    return usable.reset_index(drop=True)
