"""Internal consistency of published estimates: does each printed "HR (95% CI), p" hang together?

For a ratio with a 95% CI computed on the log scale (as meta-analysis software does), y = ln(est) lies midway
between ln(L) and ln(U), se = (ln U - ln L) / (2 x 1.959964), and the two-sided p-value is 2 Phi(-|y| / se)
(Altman DG & Bland JM (2011) BMJ 343:d2090, "How to obtain the P value from a confidence interval"). Printed
numbers are rounded, so each check asks whether *some* values that round to the printed ones satisfy it:

- estimate inside the CI: rounding is monotone, so the printed order must already hold;
- symmetry on the log scale: est'^2 = L' U' for some est', L', U' within half a unit of the last printed decimal
  (``decimals``, 2 by default) of the printed values;
- p-value: the range of p implied by all such values must meet the printed p (for "=", the interval of values
  that round to it at its printed number of decimals; for "<", values below the bound);
- degenerate: lower = upper, which carries no standard error.

The same checks apply to the study rows of a user's table or a plan's outcomes (:func:`reported_problems`, with
each number's own printed decimals and differences -- MD, SMD, RD -- checked on their own scale), where they warn
or, with ``checks = "error"``, refuse the row (:func:`apply_checks`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from bayesmeta.data import spreadsheet_row
from bayesmeta.errors import InputError
from bayesmeta.scales import RATIO_MEASURES

Z_975: float = float(ndtri(0.975))
_KEY_COLUMNS: tuple[str, ...] = ("outcome", "analysis", "variable", "level")


def read_published(published: pd.DataFrame | str | Path) -> tuple[pd.DataFrame, str | None]:
    """The published table as text cells (so printed decimals are kept), and its file name if read from disk."""
    if isinstance(published, pd.DataFrame):
        return published.reset_index(drop=True), None
    path = Path(published)
    if not path.is_file():
        raise InputError("file not found", file=str(path))
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise InputError("the file is empty", file=str(path)) from None
    except pd.errors.ParserError as exc:
        raise InputError(f"not a readable CSV table ({exc})", file=str(path), valid="comma-separated rows with "
                         "as many cells as the header") from None
    return frame, str(path)


def _number(frame: pd.DataFrame, position: int, column: str, file: str | None) -> float:
    """A cell as a float (blank or missing -> NaN); anything else that is not a number is an error."""
    if column not in frame.columns:
        return math.nan
    cell = frame[column].iloc[position]
    if cell is None or (isinstance(cell, str) and cell.strip() == ""):
        return math.nan
    try:
        value = float(cell)
    except (TypeError, ValueError):
        raise InputError(f"'{cell}' is not a number", file=file, row=spreadsheet_row(position), column=column,
                         valid="a number or a blank cell") from None
    return value


def _text(cell: Any) -> str:
    """A key cell as stripped text; missing values (None, NaN, NA) as ''."""
    if cell is None or cell is pd.NA or (isinstance(cell, float) and math.isnan(cell)):
        return ""
    return str(cell).strip()


def decimals_of(cell: Any) -> int:
    """Number of printed decimals of a cell: from the text when it is text, else from the shortest float repr."""
    text = cell.strip() if isinstance(cell, str) else np.format_float_positional(float(cell), trim="-")
    if "e" in text.lower():
        text = np.format_float_positional(float(text), trim="-")
    return len(text.split(".", 1)[1]) if "." in text else 0


def published_ratio_rows(published: pd.DataFrame | str | Path,
                         measures: Sequence[str] = RATIO_MEASURES) -> pd.DataFrame:
    """Every HR/RR/OR row (or every row of ``measures``) of a published-results table with its numbers, its
    spreadsheet row and printed p decimals.

    Columns kept: outcome, analysis, variable, level, measure, estimate, ci_lower, ci_upper, p_value, p_relation,
    p_decimals and ``row`` (the spreadsheet row: header = 1). Needs at least measure, estimate, ci_lower, ci_upper.
    """
    frame, file = read_published(published)
    missing = [c for c in ("measure", "estimate", "ci_lower", "ci_upper") if c not in frame.columns]
    if missing:
        raise InputError(f"missing column {missing[0]!r}", file=file, column=missing[0],
                         valid="a table with measure, estimate, ci_lower, ci_upper (and p_value, p_relation)")
    printed = frame["measure"].astype(str).str.strip()
    records = []
    for position in np.flatnonzero(printed.isin(list(measures)).to_numpy()):
        position = int(position)
        row = {key: _text(frame[key].iloc[position]) if key in frame.columns else "" for key in _KEY_COLUMNS}
        row["measure"] = printed.iloc[position]
        for column in ("estimate", "ci_lower", "ci_upper", "p_value"):
            row[column] = _number(frame, position, column, file)
            if (column != "p_value" and row["measure"] in RATIO_MEASURES and math.isfinite(row[column])
                    and row[column] <= 0):
                raise InputError(f"ratio {row[column]:g} is not positive", file=file,
                                 row=spreadsheet_row(position), column=column, valid="a ratio > 0")
        relation = _text(frame["p_relation"].iloc[position]) if "p_relation" in frame.columns else ""
        if math.isfinite(row["p_value"]) and relation not in ("=", "<", ""):
            raise InputError(f"p relation '{relation}' is not understood", file=file,
                             row=spreadsheet_row(position), column="p_relation", valid="'=', '<' or blank")
        row["p_relation"] = relation or ("=" if math.isfinite(row["p_value"]) else "")
        row["p_decimals"] = decimals_of(frame["p_value"].iloc[position]) if math.isfinite(row["p_value"]) else 0
        row["row"] = spreadsheet_row(position)
        records.append(row)
    columns = [*_KEY_COLUMNS, "measure", "estimate", "ci_lower", "ci_upper", "p_value", "p_relation", "p_decimals",
               "row"]
    return pd.DataFrame.from_records(records, columns=columns)


def _p_two_sided(z: np.ndarray) -> np.ndarray:
    return 2.0 * ndtr(-np.abs(z))


def implied_ranges(estimate: np.ndarray, lower: np.ndarray, upper: np.ndarray, h_estimate: np.ndarray | float,
                   h_lower: np.ndarray | float, h_upper: np.ndarray | float, *, ratio: bool = True
                   ) -> dict[str, np.ndarray]:
    """What printed estimates and CIs imply, allowing each printed number ``h`` (half a unit of its last decimal)
    either way: ``implied_p`` (as printed), ``p_low`` / ``p_high`` (range over the rounding box), ``asymmetry``
    (analysis-scale estimate minus the CI midpoint as printed) and ``symmetric`` (some values in the box make
    the CI symmetric about the estimate). Ratios are taken on the log scale (``ratio``), differences as they
    are. Rows without a CI of positive width give NaN (p) and False (symmetric)."""
    est, low, up = (np.asarray(v, dtype=float) for v in (estimate, lower, upper))
    he, hl, hu = (np.broadcast_to(np.asarray(h, dtype=float), est.shape) for h in (h_estimate, h_lower, h_upper))
    has_ci = np.isfinite(est) & np.isfinite(low) & np.isfinite(up)
    usable = has_ci & (up > low)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if ratio:
            scale = np.log
            e_lo, e_hi = np.maximum(est - he, 1e-300), est + he
            # est'^2 = L' U' is attainable iff [(e-h)^2, (e+h)^2] meets [(L-h)(U-h), (L+h)(U+h)]
            symmetric = (np.maximum(est - he, 0) ** 2 <= (low + hl) * (up + hu)) \
                & ((est + he) ** 2 >= np.maximum(low - hl, 0) * np.maximum(up - hu, 0))
        else:
            def scale(v):
                return v
            e_lo, e_hi = est - he, est + he
            symmetric = np.abs(2.0 * est - (low + up)) <= 2.0 * he + hl + hu
        y = scale(est)
        se = (scale(up) - scale(low)) / (2.0 * Z_975)
        implied_p = np.where(usable, _p_two_sided(y / se), np.nan)
        asymmetry = np.where(has_ci, y - (scale(low) + scale(up)) / 2.0, np.nan)
        # extremes over the rounding box: |y| smallest/largest, se largest/smallest
        y_lo, y_hi = scale(e_lo), scale(e_hi)
        abs_y_min = np.where((y_lo <= 0.0) & (y_hi >= 0.0), 0.0, np.minimum(np.abs(y_lo), np.abs(y_hi)))
        abs_y_max = np.maximum(np.abs(y_lo), np.abs(y_hi))
        low_min = np.maximum(low - hl, 1e-300) if ratio else low - hl
        se_max = (scale(up + hu) - scale(low_min)) / (2.0 * Z_975)
        up_min = np.maximum(up - hu, 1e-300) if ratio else up - hu
        se_min_width = scale(up_min) - scale(low + hl)
        se_min = np.where(se_min_width > 0, se_min_width / (2.0 * Z_975), 0.0)
        z_low = abs_y_min / se_max
        z_high = np.where(se_min > 0, abs_y_max / np.where(se_min > 0, se_min, 1.0), np.inf)
    return {
        "implied_p": implied_p,
        "p_low": np.where(usable, _p_two_sided(z_high), np.nan),
        "p_high": np.where(usable, _p_two_sided(z_low), np.nan),
        "asymmetry": asymmetry,
        "symmetric": np.where(has_ci, symmetric, False),
    }


def p_agrees(p_low: float, p_high: float, p: float, relation: str, decimals: int) -> bool:
    """A printed p (``relation`` '<': an upper bound; else a value printed to ``decimals``) against the range
    [p_low, p_high] the CI implies."""
    if relation == "<":
        return bool(p_low < p)
    half = 0.5 * 10.0 ** (-int(decimals))
    return bool(p_low <= p + half and p_high >= p - half)


def check_published(published: pd.DataFrame | str | Path, decimals: int = 2) -> pd.DataFrame:
    """Check every HR/RR/OR row with a CI of a published-results table (see the module docstring).

    ``decimals``: printed decimals of the ratios and CI limits (half a unit of the last one is the rounding
    allowance). Returns one row per ratio row with its key columns and: implied_p (from the printed numbers),
    implied_p_low / implied_p_high (range over all values that round to the printed ones), log_asymmetry
    (ln est - (ln L + ln U) / 2 as printed), estimate_inside, log_symmetric, p_consistent (NA without a printed
    p), flag ('ok', 'inconsistent', 'degenerate', or 'no CI') and a plain-language reason.
    """
    rows = published_ratio_rows(published)
    h = 0.5 * 10.0 ** (-int(decimals))
    est, low, up = (rows[c].to_numpy(dtype=float) for c in ("estimate", "ci_lower", "ci_upper"))
    has_ci = np.isfinite(est) & np.isfinite(low) & np.isfinite(up)
    degenerate = has_ci & (up <= low)
    usable = has_ci & ~degenerate
    ranges = implied_ranges(est, low, up, h, h, h, ratio=True)
    implied_p, p_low, p_high = ranges["implied_p"], ranges["p_low"], ranges["p_high"]
    asymmetry, symmetric = ranges["asymmetry"], ranges["symmetric"]
    inside = np.where(has_ci, (low <= est) & (est <= up), False)

    p_printed = rows["p_value"].to_numpy(dtype=float)
    relation = rows["p_relation"].to_numpy()
    p_decimals = rows["p_decimals"].to_numpy(dtype=int)
    p_ok: list[Any] = []
    for i in range(len(rows)):
        if not usable[i] or not math.isfinite(p_printed[i]):
            p_ok.append(pd.NA)
            continue
        p_ok.append(p_agrees(p_low[i], p_high[i], p_printed[i], relation[i], p_decimals[i]))

    flags, reasons = [], []
    for i in range(len(rows)):
        if not has_ci[i]:
            flags.append("no CI")
            reasons.append("no confidence interval printed; nothing to check")
            continue
        if degenerate[i]:
            flags.append("degenerate")
            reasons.append(f"interval {low[i]:g} to {up[i]:g} has no width: no standard error can be derived")
            continue
        problems = []
        if not inside[i]:
            problems.append(f"estimate {est[i]:g} lies outside its CI {low[i]:g} to {up[i]:g}")
        if not symmetric[i]:
            problems.append(f"CI is asymmetric on the log scale beyond rounding (ln est - midpoint = {asymmetry[i]:+.3f})")
        if p_ok[i] is False:
            problems.append(f"printed p {relation[i]} {p_printed[i]:g} but the CI implies p between "
                            f"{p_low[i]:.2g} and {p_high[i]:.2g}")
        flags.append("inconsistent" if problems else "ok")
        reasons.append("; ".join(problems) if problems else "estimate, CI and p agree within rounding")

    out = rows[[*_KEY_COLUMNS, "measure", "estimate", "ci_lower", "ci_upper", "p_value", "p_relation", "row"]].copy()
    out["implied_p"] = implied_p
    out["implied_p_low"] = p_low
    out["implied_p_high"] = p_high
    out["log_asymmetry"] = asymmetry
    out["estimate_inside"] = inside
    out["log_symmetric"] = symmetric
    out["p_consistent"] = pd.array(p_ok, dtype="boolean")
    out["flag"] = flags
    out["reason"] = reasons
    return out


CHECK_MODES: tuple[str, ...] = ("warn", "error")
"""What to do with an estimate, CI and p-value that do not hang together beyond rounding: a warning (the
analysis goes on with the numbers as given) or an InputError."""


@dataclass(frozen=True)
class ReportedProblem:
    """A study row whose printed estimate, CI and p-value disagree beyond rounding: ``position`` is the row's
    label in the frame checked (its 0-based data row for a table read from a file)."""

    position: int
    column: str
    message: str


def reported_problems(frame: pd.DataFrame, measures: pd.Series | str) -> list[ReportedProblem]:
    """Study rows (text cells as printed: estimate, ci_lower, ci_upper and optionally p_value, p_relation) whose
    CI is not symmetric about the estimate on the analysis scale beyond the rounding of each printed number, or
    whose p-value contradicts the z the CI implies (Altman & Bland 2011) beyond rounding; ratios (HR, RR, OR)
    on the log scale. Rows without a full CI, with the estimate outside it or bounds not increasing are left
    to :func:`bayesmeta.data.check_interval`."""
    if not all(c in frame.columns for c in ("estimate", "ci_lower", "ci_upper")):
        return []
    measure = (pd.Series(measures, index=frame.index) if isinstance(measures, str) else measures).astype(str)
    out: list[ReportedProblem] = []
    for label in frame.index:
        cells = {c: _text(frame.at[label, c]) for c in ("estimate", "ci_lower", "ci_upper")}
        try:
            est, low, up = (float(cells[c]) for c in ("estimate", "ci_lower", "ci_upper"))
        except ValueError:
            continue
        code = measure.loc[label].upper()
        ratio = code in RATIO_MEASURES
        if not (np.isfinite([est, low, up]).all() and low <= est <= up and low < up) or (ratio and low <= 0):
            continue
        h = [0.5 * 10.0 ** (-decimals_of(cells[c])) for c in ("estimate", "ci_lower", "ci_upper")]
        ranges = {key: float(value) for key, value in implied_ranges(
            np.array(est), np.array(low), np.array(up), *h, ratio=ratio).items()}
        scale = f"log {code}" if ratio else code
        if not ranges["symmetric"]:
            out.append(ReportedProblem(int(label), "ci_upper", (
                f"the CI {cells['ci_lower']} to {cells['ci_upper']} is not symmetric about the estimate "
                f"{cells['estimate']} on the {scale} scale beyond rounding (estimate - midpoint = "
                f"{ranges['asymmetry']:+.3g}); the standard error is taken from the CI width")))
        p_text = _text(frame.at[label, "p_value"]) if "p_value" in frame.columns else ""
        relation = _text(frame.at[label, "p_relation"]) if "p_relation" in frame.columns else ""
        try:
            p = float(p_text) if p_text else math.nan
        except ValueError:
            continue
        if 0 < p <= 1 and not p_agrees(ranges["p_low"], ranges["p_high"], p, relation, decimals_of(p_text)):
            out.append(ReportedProblem(int(label), "p_value", (
                f"p {relation or '='} {p_text} contradicts the CI, which implies p between {ranges['p_low']:.2g} "
                f"and {ranges['p_high']:.2g} (z test on the {scale} scale)")))
    return out


def apply_checks(problems: list[ReportedProblem], checks: str, file: str | None) -> list[str]:
    """The located messages of ``problems``; with ``checks`` 'error' the first is raised as an InputError."""
    if checks not in CHECK_MODES:
        raise InputError(f"unknown checks mode '{checks}'", file=file, valid=", ".join(CHECK_MODES))
    messages = [str(InputError(p.message, file=file, row=spreadsheet_row(p.position), column=p.column))
                for p in problems]
    if checks == "error" and problems:
        first = problems[0]
        raise InputError(first.message, file=file, row=spreadsheet_row(first.position), column=first.column,
                         valid="an estimate, CI and p-value that agree within rounding, or checks = 'warn'")
    return messages
