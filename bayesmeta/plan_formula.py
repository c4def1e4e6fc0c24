"""The plan's ``[covariates] formula``: one multiple meta-regression per outcome, written in the syntax of
``bayesmeta fit --formula`` (:mod:`bayesmeta.formula`), e.g. ``formula = "grade + imag"``; an outcome's own
``outcomes.<name>.formula`` replaces it for that outcome (a paper fitting other moderators per outcome), and
``formula = ""`` there fits none for it.

Read by :func:`bayesmeta.plan.load_plan`; errors name the key (``covariates.formula`` or
``outcomes.<name>.formula``) and what would be valid (the formula syntax, or the columns of the study table)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bayesmeta.errors import InputError
from bayesmeta.formula import FORMULA_HELP, Formula, parse_formula


def load_covariate_formula(r: Any, cov: dict[str, Any], columns: tuple[str, ...], table: str) -> Formula | None:
    """The parsed ``covariates.formula`` (None without one). It must keep the intercept (the effect at the
    reference levels and the covariates' means, the quantity the mu prior is written for), and every column it
    names must be a column of the study table (``table``, whose ``columns`` are given)."""
    text = r.get(cov, "covariates", "formula", str, default=None, valid=FORMULA_HELP)
    return None if text is None else check_formula(r, "covariates.formula", text, columns, table)


def check_formula(r: Any, key: str, text: str, columns: tuple[str, ...], table: str) -> Formula:
    """``text`` parsed as a plan formula: it must keep the intercept and name only columns of ``table``; an error
    names ``key``."""
    try:
        formula = parse_formula(text)
    except InputError as error:
        raise r.fail(key, error.reason, FORMULA_HELP) from None
    if not formula.intercept:
        raise r.fail(key, f"{text!r} drops the intercept",
                     'a formula with the intercept (no "0 +" or "- 1"), e.g. "grade + imag"')
    for column in formula.columns:
        if column not in columns:
            raise r.fail(key, f"column {column!r} of {text!r} is not in {table}",
                         ", ".join(c for c in columns if c != "study_id"))
    return formula


OUTCOME_FORMULA_OFF = ""
"""``outcomes.<name>.formula = ""``: no multiple meta-regression for that outcome, whatever ``[covariates]`` says."""


def load_outcome_formulas(r: Any, outcomes: dict[str, Any], default: Formula | None, columns: tuple[str, ...],
                          table: str) -> dict[str, Formula | None]:
    """Each outcome's formula: its own ``outcomes.<name>.formula`` (checked as ``[covariates] formula`` is, errors
    naming that key), ``""`` for none, else the ``[covariates] formula`` (``default``; None without one)."""
    out: dict[str, Formula | None] = {}
    for name, spec in outcomes.items():
        key = f"outcomes.{name}"
        text = r.get(spec, key, "formula", str, default=None,
                     valid=f'{FORMULA_HELP}; or "" for no meta-regression of this outcome')
        if text is None:
            out[name] = default
        elif not text.strip():
            out[name] = None
        else:
            out[name] = check_formula(r, f"{key}.formula", text, columns, table)
    return out


def term_columns(term: str) -> tuple[str, ...]:
    """The columns of a coefficient name as the design writes it: 'imag[yes]' -> ('imag',),
    'grade[middle]:length' -> ('grade', 'length')."""
    return tuple(part.split("[", 1)[0].strip() for part in term.split(":"))


def column_levels(path: Path, columns: tuple[str, ...]) -> dict[str, tuple[str, ...] | None]:
    """The values of each column of a table as a formula codes them: None for a numeric column (every non-blank
    cell a number), else its distinct non-blank cells in sorted order; a numeric column read as a factor
    (``factor(x)``) has its numbers written as the design names them (1, not 1.0)."""
    import pandas as pd

    from bayesmeta.data import blank_cells
    from bayesmeta.reanalysis.metaregression import factor_labels

    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", usecols=list(columns))
    out: dict[str, tuple[str, ...] | None] = {}
    for c in columns:
        cells = frame[c].str.strip()
        cells = cells[~blank_cells(cells)]
        numbers = pd.to_numeric(cells, errors="coerce")
        numeric = bool(len(cells)) and bool(numbers.notna().all())
        out[c] = None if numeric else tuple(sorted(set(cells)))
        if numeric:
            out[f"factor({c})"] = tuple(sorted(set(factor_labels(numbers.astype(float)))))
    return out


def check_term_levels(term: str, formula: Formula, levels: dict[str, tuple[str, ...] | None]) -> str | None:
    """Why ``term`` names no coefficient the formula can have (None if it can): a level of a column that is a
    number in the formula, a factor without its level, or a level the column does not hold."""
    for part in term.split(":"):
        column, _, rest = part.strip().partition("[")
        level = rest[:-1] if rest.endswith("]") else None
        if column not in levels:
            continue
        factor = levels[column] is not None or column in formula.forced
        known = levels[column] if levels[column] is not None else levels.get(f"factor({column})", ())
        if level is None and factor:
            return f"{column!r} is a factor: name one of its levels, e.g. {column}[{known[-1]}]"
        if level is not None and not factor:
            return f"{column!r} enters as a number: its coefficient is {column!r} (or write factor({column}))"
        if level is not None and level not in known:
            return f"{level!r} is not a level of {column!r} ({', '.join(known)})"
    return None
