"""The plan's ``[covariates] formula``: one multiple meta-regression per outcome, written in the syntax of
``bayesmeta fit --formula`` (:mod:`bayesmeta.formula`), e.g. ``formula = "grade + imag"``.

Read by :func:`bayesmeta.plan.load_plan`; errors name the key ``covariates.formula`` and what would be valid (the
formula syntax, or the columns of the study table)."""

from __future__ import annotations

from typing import Any

from bayesmeta.errors import InputError
from bayesmeta.formula import FORMULA_HELP, Formula, parse_formula


def load_covariate_formula(r: Any, cov: dict[str, Any], columns: tuple[str, ...], table: str) -> Formula | None:
    """The parsed ``covariates.formula`` (None without one). It must keep the intercept (the effect at the
    reference levels and the covariates' means, the quantity the mu prior is written for), and every column it
    names must be a column of the study table (``table``, whose ``columns`` are given)."""
    text = r.get(cov, "covariates", "formula", str, default=None, valid=FORMULA_HELP)
    if text is None:
        return None
    try:
        formula = parse_formula(text)
    except InputError as error:
        raise r.fail("covariates.formula", error.reason, FORMULA_HELP) from None
    if not formula.intercept:
        raise r.fail("covariates.formula", f"{text!r} drops the intercept",
                     'a formula with the intercept (no "0 +" or "- 1"), e.g. "grade + imag"')
    for column in formula.columns:
        if column not in columns:
            raise r.fail("covariates.formula", f"column {column!r} of {text!r} is not in {table}",
                         ", ".join(c for c in columns if c != "study_id"))
    return formula


def term_columns(term: str) -> tuple[str, ...]:
    """The columns of a coefficient name as the design writes it: 'imag[yes]' -> ('imag',),
    'grade[middle]:length' -> ('grade', 'length')."""
    return tuple(part.split("[", 1)[0].strip() for part in term.split(":"))
