"""A user's own effect table (the command line's input) read into an :class:`~bayesmeta.effect_data.EffectData`.

Accepted forms, besides a ``study`` (or ``study_id``) column, tried in this order:
1. ``yi, sei`` -- effects on the analysis scale with their standard errors;
2. ``yi, vi`` -- effects with their sampling variances;
3. ``estimate, ci_lower, ci_upper`` -- a ratio (HR, RR, OR, IRR, ROM; logged) or a difference (MD, SMD, RD) with a
   95% CI, se = (U - L) / (2 * 1.959964) on the analysis scale (Tierney et al. 2007);
4. ``mean_treatment, sd_treatment, mean_control, sd_control, total_treatment, total_control`` -- means, SDs and
   arm sizes: MD by default, SMD (Hedges' g) with measure SMD or the log ratio of means with measure ROM (means
   > 0) (metafor ``escalc``, :mod:`bayesmeta.escalc`; the MD's variance from per-arm SDs, or with
   ``vtype="HO"`` from the pooled SD);
5. ``o_minus_e, var_o_minus_e`` -- the log-rank O - E and its variance V: log HR = (O - E)/V, variance 1/V;
6. ``events_treatment, person_time_treatment, events_control, person_time_control`` -- events over person-time,
   the log incidence rate ratio (IRR; escalc ``"IRR"``, 0.5 added to both counts of a study with a zero count,
   a study with no events in either arm dropped and listed in ``dropped``); when the arm counts' totals are
   there too, measure IRR (the default) reads this form and RR, OR or RD the arm counts;
7. ``events_treatment, total_treatment, events_control, total_control`` -- arm counts, log RR by default, log
   OR with measure OR or RD with measure RD (metafor ``escalc`` conventions, :class:`ZeroCellRule`: 0.5 added to
   the cells of studies with a zero cell; for RR and OR, studies with no events (or only events) in both arms
   dropped and listed in ``dropped``; kept for RD).
Arm counts given alongside another form are validated and kept in ``counts``; every other column becomes a
covariate.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from bayesmeta.data import (
    COUNT_COLUMNS,
    PERSON_TIME_FORM,
    check_arm_counts,
    check_interval,
    check_p_values,
    check_unique,
    numeric_column,
    read_text_csv,
    spreadsheet_row,
)
from bayesmeta.benefit import Benefit
from bayesmeta.effect_data import EffectData
from bayesmeta.effects import MEAN_FUNCTIONS, counts_effect, log_ratio_from_ci, person_time_effect
from bayesmeta.consistency import apply_checks, reported_problems
from bayesmeta.errors import InputError, ReportedValueWarning
from bayesmeta.escalc import MD_VTYPES, ZeroCellRule, log_hr_from_logrank
from bayesmeta.plausible import table_problems
from bayesmeta.scales import (
    COUNT_MEASURES,
    MEAN_MEASURES,
    MEASURES,
    PERSON_TIME_MEASURES,
    RATIO_MEASURES,
    is_ratio,
)

MEANS_FORM: tuple[str, ...] = (
    "mean_treatment", "sd_treatment", "mean_control", "sd_control", "total_treatment", "total_control",
)
LOGRANK_FORM: tuple[str, ...] = ("o_minus_e", "var_o_minus_e")
FORMS: tuple[tuple[str, ...], ...] = (
    ("yi", "sei"),
    ("yi", "vi"),
    ("estimate", "ci_lower", "ci_upper"),
    MEANS_FORM,
    LOGRANK_FORM,
    PERSON_TIME_FORM,
    COUNT_COLUMNS,
)
# The columns an effect and its standard error come from, per form (where an implausible value is reported).
_SOURCE_COLUMNS: dict[tuple[str, ...], tuple[str, str]] = {
    ("yi", "sei"): ("yi", "sei"),
    ("yi", "vi"): ("yi", "vi"),
    ("estimate", "ci_lower", "ci_upper"): ("estimate", "ci_upper"),
    MEANS_FORM: ("mean_treatment", "sd_treatment"),
    LOGRANK_FORM: ("o_minus_e", "var_o_minus_e"),
    PERSON_TIME_FORM: ("events_treatment", "person_time_treatment"),
    COUNT_COLUMNS: ("events_treatment", "total_treatment"),
}
REPORTED_P_COLUMNS: tuple[str, ...] = ("p_value", "p_relation")
"""Optional columns of the estimate-with-CI form: the two-sided p-value as printed and its relation ('=', '<')."""
FORMS_TEXT = "; ".join(", ".join(form) for form in FORMS)
# Columns of an effects frame (bayesmeta.effects.derive_effects) that describe the derivation, not the study.
_BOOKKEEPING = ("outcome", "measure", "vi", "method", "usable", "reason")
_Z975 = 1.959963984540054


def _normalise_measure(measure: str | None, file: str) -> str | None:
    if measure is None:
        return None
    upper = str(measure).strip().upper()
    if upper not in MEASURES:
        raise InputError(f"unknown measure '{measure}'", file=file, column="measure",
                         valid=", ".join(MEASURES))
    return upper


def _measure_from_column(frame: pd.DataFrame, file: str) -> str | None:
    """The one value of a ``measure`` column (blank cells ignored), used when no measure is passed."""
    if "measure" not in frame.columns:
        return None
    first: str | None = None
    for position, value in enumerate(frame["measure"].astype(str)):
        if value == "":
            continue
        if value.upper() not in MEASURES:
            raise InputError(f"unknown measure '{value}'", file=file, row=spreadsheet_row(position),
                             column="measure", valid=", ".join(MEASURES))
        if first is not None and value.upper() != first:
            raise InputError(f"measure '{value}' differs from '{first}' on an earlier row", file=file,
                             row=spreadsheet_row(position), column="measure", valid="one measure per table")
        first = first or value.upper()
    return first


def _study_column(frame: pd.DataFrame, file: str) -> str:
    for name in ("study", "study_id"):
        if name in frame.columns:
            return name
    raise InputError("missing study column", file=file, column="study",
                     valid=f"a 'study' (or 'study_id') column and one of: {FORMS_TEXT}")


def _text_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """In-memory frames to the text form the validators read: blanks for missing values."""
    text = pd.DataFrame(index=range(len(frame)))
    for column in frame.columns:
        values = frame[column].to_numpy(dtype=object)
        text[str(column)] = ["" if (v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)))
                             else repr(float(v)) if isinstance(v, (float, np.floating)) else str(v).strip()
                             for v in values]
    return text


def _covariate(values: pd.Series, file: str) -> pd.Series:
    """Numeric when every non-blank cell is a number, else text; blanks are missing. A numeric column with an
    infinite value is refused, naming its row."""
    blank = values == ""
    numbers = pd.to_numeric(values.where(~blank, None), errors="coerce")
    if numbers[~blank].notna().all():
        infinite = np.flatnonzero(np.isinf(numbers.to_numpy(dtype=float)))
        if infinite.size:
            position = int(infinite[0])
            raise InputError(f"covariate value {values.iloc[position]!r} is not finite", file=file,
                             row=spreadsheet_row(position), column=str(values.name), valid="a finite number")
        if not blank.any() and np.all(numbers == np.round(numbers)):
            return numbers.astype("int64")
        return numbers.astype(float)
    return values.where(~blank, None).astype(object)


def _from_means(frame: pd.DataFrame, measure: str, file: str, vtype: str = "LS") -> tuple[np.ndarray, np.ndarray]:
    if measure not in MEAN_FUNCTIONS:
        raise InputError(f"means and SDs give an {', '.join(MEAN_MEASURES)}, not {measure}", file=file,
                         column="measure", valid=f"{MEAN_MEASURES[0]} (default), " + ", ".join(MEAN_MEASURES[1:]))
    values = {}
    for column in MEANS_FORM:
        size, sd = column.startswith("total_"), column.startswith("sd_")
        values[column] = numeric_column(frame, column, file, required=True, integer=size,
                                        positive=size or sd).to_numpy()
        if column.startswith("mean_") and is_ratio(measure) and np.any(values[column] <= 0):
            position = int(np.flatnonzero(values[column] <= 0)[0])
            raise InputError(f"mean {values[column][position]:g} is not positive: a ratio of means ({measure}) is "
                             "defined for positive means only", file=file, row=spreadsheet_row(position),
                             column=column, valid="a mean > 0 (an outcome on a ratio scale), or measure MD or SMD")
    if vtype != "LS" and measure != "MD":
        raise InputError(f"vtype {vtype} is a variance of the MD, not of the {measure}", file=file,
                         column="measure", valid=f"vtype LS (default) with a {measure}")
    arms = [values[c] for c in (
        "mean_treatment", "sd_treatment", "total_treatment", "mean_control", "sd_control", "total_control")]
    yi, vi = MEAN_FUNCTIONS[measure](*arms, vtype=vtype) if measure == "MD" else MEAN_FUNCTIONS[measure](*arms)
    yi, vi = np.atleast_1d(yi), np.atleast_1d(vi)
    if not np.all(np.isfinite(vi)):
        position = int(np.flatnonzero(~np.isfinite(vi))[0])
        raise InputError(f"the {measure} needs more than 3 patients in all", file=file,
                         row=spreadsheet_row(position), column="total_control",
                         valid="total_treatment + total_control > 3")
    return yi, np.sqrt(vi)


def _from_logrank(frame: pd.DataFrame, measure: str, file: str) -> tuple[np.ndarray, np.ndarray]:
    if measure != "HR":
        raise InputError(f"log-rank O - E and V give a log HR, not {measure}", file=file, column="measure",
                         valid="HR (default)")
    oe = numeric_column(frame, "o_minus_e", file, required=True).to_numpy()
    v = numeric_column(frame, "var_o_minus_e", file, required=True, positive=True).to_numpy()
    yi, vi = log_hr_from_logrank(oe, v)
    return np.atleast_1d(yi), np.sqrt(np.atleast_1d(vi))


def _from_person_time(frame: pd.DataFrame, measure: str, file: str, zero_cells: ZeroCellRule
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(yi, sei, corrected, dropped) of events over person-time; InputError at the first bad cell."""
    if measure not in PERSON_TIME_MEASURES:
        raise InputError(f"events over person-time give an {', '.join(PERSON_TIME_MEASURES)}, not {measure}",
                         file=file, column="measure", valid=f"{PERSON_TIME_MEASURES[0]} (default), or arm counts "
                         "(total_treatment, total_control) for " + ", ".join(COUNT_MEASURES))
    values = {}
    for column in PERSON_TIME_FORM:
        events = column.startswith("events_")
        values[column] = numeric_column(frame, column, file, required=True, integer=events, nonnegative=events,
                                        positive=not events).to_numpy()
    yi, vi, corrected, dropped = person_time_effect(measure, *(values[c] for c in PERSON_TIME_FORM), zero_cells)
    bad = ~dropped & ~(np.isfinite(vi) & (vi > 0))
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise InputError(f"the {measure} is not finite under the zero-count rule add={zero_cells.add:g}, "
                         f"to='{zero_cells.to}'", file=file, row=spreadsheet_row(position),
                         column=PERSON_TIME_FORM[0], valid="a zero-count rule that corrects zero counts (to='only0')")
    return yi, np.sqrt(vi), corrected, dropped


def _form_of(frame: pd.DataFrame, measure: str | None) -> tuple[str, ...] | None:
    """The first form whose columns the table has; events with both person-time and arm totals are read as
    arm counts when the measure is one of the counts' (RR, OR, RD)."""
    forms = [f for f in FORMS if all(c in frame.columns for c in f)]
    if forms and forms[0] == PERSON_TIME_FORM and COUNT_COLUMNS in forms and measure in COUNT_MEASURES:
        return COUNT_COLUMNS
    return forms[0] if forms else None


def _missing_column(frame: pd.DataFrame, file: str) -> None:
    """When the table holds most of one form's columns but not all (the form with the largest share, at least
    two of its columns), InputError naming the first column it lacks."""
    share = {f: sum(c in frame.columns for c in f) for f in FORMS}
    partial = [f for f in FORMS if 2 <= share[f] < len(f)]
    if partial:
        form = max(partial, key=lambda f: share[f] / len(f))
        missing = next(c for c in form if c not in frame.columns)
        raise InputError("missing column", file=file, column=missing,
                         valid=f"all of {', '.join(form)} (or one of the other forms: {FORMS_TEXT})")


def _effect_table(frame: pd.DataFrame, measure: str | None, file: str,
                  methods: pd.Series | None = None, zero_cells: ZeroCellRule = ZeroCellRule(),
                  benefit: Benefit | str = Benefit.BELOW, checks: str = "warn",
                  rows: np.ndarray | None = None, vtype: str = "LS") -> EffectData:
    if frame.empty:
        raise InputError("the table has no data rows", file=file)
    study_column = _study_column(frame, file)
    for position, cell in enumerate(frame[study_column]):
        if cell == "":
            raise InputError("blank study name", file=file, row=spreadsheet_row(position), column=study_column,
                             valid="a non-empty study label")
    check_unique(frame, [study_column], file, "study")
    measure = _normalise_measure(measure, file) or _measure_from_column(frame, file)
    form = _form_of(frame, measure)
    if form is None or (form == COUNT_COLUMNS and measure in PERSON_TIME_MEASURES):
        _missing_column(frame, file)
    if form is None:
        raise InputError("no effect columns found", file=file,
                         valid=f"a '{study_column}' column and one of: {FORMS_TEXT}")
    if vtype not in MD_VTYPES:
        raise InputError(f"unknown vtype '{vtype}'", file=file, valid=", ".join(MD_VTYPES))
    if vtype != "LS" and form != MEANS_FORM:
        raise InputError(f"vtype {vtype} is the variance of an MD from means and SDs; this table gives "
                         f"{', '.join(form)}", file=file, valid="vtype LS (default) for other forms")
    has_counts = all(c in frame.columns for c in COUNT_COLUMNS)
    counts = None
    if has_counts:
        counts = pd.DataFrame({c: numeric_column(frame, c, file, integer=True) for c in COUNT_COLUMNS})
        check_arm_counts(counts, file)
        given = counts.notna().all(axis=1)
        if form == COUNT_COLUMNS and not given.all():
            position = int(np.flatnonzero(~given.to_numpy())[0])
            raise InputError("blank arm counts", file=file, row=spreadsheet_row(position),
                             column=COUNT_COLUMNS[0], valid="all four arm counts for every study")
        if given.any() and not given.all():
            position = int(np.flatnonzero(~given.to_numpy())[0])
            raise InputError("arm counts given for some studies only", file=file, row=spreadsheet_row(position),
                             column=COUNT_COLUMNS[0], valid="arm counts for every study or for none")
        if not given.any():
            counts = None

    studies = frame[study_column].astype(str)
    keep = np.ones(len(frame), dtype=bool)
    if form == ("yi", "sei"):
        yi = numeric_column(frame, "yi", file, required=True).to_numpy()
        sei = numeric_column(frame, "sei", file, required=True, positive=True).to_numpy()
        method = np.array(["given"] * len(frame), dtype=object)
        measure = measure or "GEN"
    elif form == ("yi", "vi"):
        yi = numeric_column(frame, "yi", file, required=True).to_numpy()
        sei = np.sqrt(numeric_column(frame, "vi", file, required=True, positive=True).to_numpy())
        method = np.array(["given"] * len(frame), dtype=object)
        measure = measure or "GEN"
    elif form == ("estimate", "ci_lower", "ci_upper"):
        if measure in (None, "GEN"):
            raise InputError("an estimate with a CI needs its measure", file=file, column="measure",
                             valid=f"{', '.join(RATIO_MEASURES)} (ratio scale, analysed as logs) or "
                                   f"{', '.join(m for m in MEASURES if not is_ratio(m) and m != 'GEN')} "
                                   "(raw scale)")
        values = pd.DataFrame({c: numeric_column(frame, c, file, required=True) for c in form})
        check_interval(values, pd.Series([measure] * len(frame)), file)
        if "p_value" in frame.columns:
            relations = frame["p_relation"] if "p_relation" in frame.columns else pd.Series([""] * len(frame))
            check_p_values(numeric_column(frame, "p_value", file), relations, file)
        problems = reported_problems(frame, measure)
        if rows is not None:  # one outcome's rows of a longer file: locate them in the file
            problems = [dataclasses.replace(p, position=int(rows[p.position])) for p in problems]
        for message in apply_checks(problems, checks, file):
            warnings.warn(message, ReportedValueWarning, stacklevel=3)
        est, lower, upper = (values[c].to_numpy() for c in form)
        if not is_ratio(measure):
            yi, sei = est, (upper - lower) / (2 * _Z975)
        else:
            yi, sei = log_ratio_from_ci(est, lower, upper)
        method = np.array(["ci"] * len(frame), dtype=object)
    elif form == MEANS_FORM:
        measure = measure or "MD"
        yi, sei = _from_means(frame, measure, file, vtype)
        method = np.array(["means"] * len(frame), dtype=object)
    elif form == LOGRANK_FORM:
        measure = measure or "HR"
        yi, sei = _from_logrank(frame, measure, file)
        method = np.array(["logrank"] * len(frame), dtype=object)
    elif form == PERSON_TIME_FORM:
        measure = measure or PERSON_TIME_MEASURES[0]
        yi, sei, corrected, dropped = _from_person_time(frame, measure, file, zero_cells)
        keep = ~dropped
        method = np.where(corrected, "person_time_cc", "person_time").astype(object)
    else:
        measure = measure or "RR"
        if measure not in COUNT_MEASURES:
            raise InputError(f"arm counts give a log RR, log OR or RD, not {measure}", file=file,
                             column="measure", valid=f"RR (default), OR or RD; or {', '.join(PERSON_TIME_MEASURES)} "
                                                     "from events over person-time")
        a, n1, c, n2 = (counts[col].to_numpy() for col in COUNT_COLUMNS)
        yi, vi, corrected, dropped = counts_effect(measure, a, n1, c, n2, zero_cells)
        keep = ~dropped
        if np.any(keep & ~(np.isfinite(vi) & (vi > 0))):
            position = int(np.flatnonzero(keep & ~(np.isfinite(vi) & (vi > 0)))[0])
            raise InputError(f"the {measure} is not finite or has variance 0 under the zero-cell rule "
                             f"add={zero_cells.add:g}, to='{zero_cells.to}'", file=file,
                             row=spreadsheet_row(position), column=COUNT_COLUMNS[0],
                             valid="a zero-cell rule that corrects zero cells (to='only0')")
        sei = np.sqrt(vi)
        method = np.where(corrected, "counts_cc", "counts").astype(object)
    yi_column, sei_column = _SOURCE_COLUMNS[form]
    implausible = table_problems(yi, sei, measure)
    if implausible:
        position, which, reason, valid = implausible[0]
        raise InputError(reason, file=file, row=spreadsheet_row(position),
                         column=yi_column if which == "yi" else sei_column, valid=valid)
    if methods is not None:
        method = methods.astype(str).to_numpy(dtype=object)

    reported_p = REPORTED_P_COLUMNS if form == ("estimate", "ci_lower", "ci_upper") else ()
    person_time = [c for c in PERSON_TIME_FORM if c in frame.columns]  # never covariates, whichever form is read
    used = {study_column, *form, *(COUNT_COLUMNS if has_counts else ()), *person_time, *reported_p, *_BOOKKEEPING}
    covariates = pd.DataFrame({c: _covariate(frame[c], file) for c in frame.columns if c not in used})
    index = pd.Index(studies, name="study")
    covariates.index = index
    if counts is not None:
        counts.index = index
        counts = counts.astype("int64")
    dropped = tuple(studies[~keep])
    if not keep.any():
        raise InputError("every study has no events in either arm (or events in every patient of both): nothing to "
                         "analyse", file=file)
    return EffectData(
        study=tuple(studies[keep]),
        yi=np.asarray(yi, dtype=float)[keep],
        sei=np.asarray(sei, dtype=float)[keep],
        measure=measure,
        method=tuple(str(m) for m in method[keep]),
        counts=counts,  # every study's, the dropped ones too: the binomial likelihood uses them
        covariates=covariates[keep],
        source=file,
        dropped=dropped,
        benefit=Benefit.parse(benefit),
    )


def outcome_names(frame: pd.DataFrame) -> list[str]:
    """The distinct names of an ``outcome`` column, in order of first appearance (none without the column)."""
    if "outcome" not in frame.columns:
        return []
    return list(dict.fromkeys(str(v) for v in frame["outcome"] if str(v) != ""))


def select_outcome(frame: pd.DataFrame, outcome: str | None, file: str) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The rows of one outcome of a table with an ``outcome`` column (the outcomes table's long format), and
    their 0-based positions in the file (None when every row is kept), without the columns that are blank in all
    of them. A table without the column is one outcome; a table with several needs ``outcome``, and an
    InputError lists their names."""
    names = outcome_names(frame)
    if "outcome" not in frame.columns:
        if outcome is not None:
            raise InputError(f"no 'outcome' column to select outcome '{outcome}' from", file=file,
                             column="outcome", valid="an 'outcome' column, or no --outcome")
        return frame, None
    blank = np.flatnonzero((frame["outcome"] == "").to_numpy())
    if blank.size:
        raise InputError("blank outcome name", file=file, row=spreadsheet_row(int(blank[0])), column="outcome",
                         valid="the outcome's name on every row, e.g. " + ", ".join(names[:3]))
    if outcome is None:
        if len(names) > 1:
            raise InputError(f"{len(names)} outcomes in one table ({', '.join(names)}): choose one", file=file,
                             column="outcome", valid="--outcome " + " | ".join(names))
        return frame, None
    if outcome not in names:
        raise InputError(f"no outcome '{outcome}'", file=file, column="outcome", valid=", ".join(names))
    check_unique(frame, [_study_column(frame, file), "outcome"], file, "study and outcome")
    keep = (frame["outcome"] == outcome).to_numpy()
    mine = frame[keep].reset_index(drop=True)
    # a long table may hold other forms for other outcomes (person-time here, means there): columns left blank in
    # every row of this outcome are not part of its form
    filled = [c for c in mine.columns if not (mine[c].astype(str).str.strip() == "").all()]
    return mine[filled], np.flatnonzero(keep)


def _relocated(error: InputError, rows: np.ndarray) -> InputError:
    """An error located on a row of one outcome's rows, moved to that row's place in the file."""
    if error.row is None:
        return error
    return InputError(error.reason, file=error.file, row=spreadsheet_row(int(rows[error.row - 2])),
                      column=error.column, valid=error.valid)


def read_effect_table(path: str | Path, measure: str | None = None, *,
                      zero_cells: ZeroCellRule = ZeroCellRule(),
                      benefit: Benefit | str = Benefit.BELOW, checks: str = "warn",
                      outcome: str | None = None, vtype: str = "LS") -> EffectData:
    """Read and validate a user's effect table (forms in the module docstring). ``measure`` is one of
    :data:`bayesmeta.scales.MEASURES`; when None it comes from a ``measure`` column, else GEN for yi forms, MD for
    means, HR for log-rank statistics, IRR for events over person-time and RR for counts. ``zero_cells`` is the
    zero-cell rule of arm counts and of events over person-time.

    Every effect must lie in its measure's plausible range (:mod:`bayesmeta.plausible`) and an estimate inside
    its CI (InputError otherwise). An estimate with a CI that is not symmetric on the analysis scale beyond
    the rounding of its printed digits, or a ``p_value`` the CI contradicts
    (:func:`bayesmeta.consistency.reported_problems`), gives a :class:`~bayesmeta.errors.ReportedValueWarning`
    with ``checks="warn"`` and an InputError with ``checks="error"``.

    A table with an ``outcome`` column may hold several outcomes (one row per study and outcome, as the
    outcomes table of a plan); ``outcome`` names the one to read, and is required when there are several
    (:func:`select_outcome`). Errors and warnings name the rows of the file. ``vtype``: the variance of an MD
    from means and SDs, escalc's ``"LS"`` (per-arm SDs, the default) or ``"HO"`` (the pooled SD)."""
    file = str(path)
    frame, rows = select_outcome(read_text_csv(path), outcome, file)
    try:
        return _effect_table(frame, measure, file, zero_cells=zero_cells, benefit=benefit, checks=checks, rows=rows,
                             vtype=vtype)
    except InputError as error:
        if rows is None:
            raise
        raise _relocated(error, rows) from None


def effect_table_from_frame(df: pd.DataFrame, measure: str | None, source: str = "<frame>",
                            benefit: Benefit | str = Benefit.BELOW, checks: str = "warn") -> EffectData:
    """An :class:`EffectData` from an in-memory frame in one of the accepted forms, e.g. the output of
    :func:`bayesmeta.effects.effects_for` (its ``method`` column is kept, its bookkeeping columns dropped);
    checks as :func:`read_effect_table`."""
    methods = None
    if "method" in df.columns and "yi" in df.columns:
        methods = df["method"].reset_index(drop=True)
    return _effect_table(_text_frame(df), measure, source, methods, benefit=benefit, checks=checks)
