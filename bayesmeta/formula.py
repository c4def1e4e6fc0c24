"""A small model formula for meta-regression designs (the right-hand side of an R formula).

Grammar: terms joined by ``+``; a term is a column, ``factor(column)`` (a numeric column read as a factor) or an
interaction ``a:b`` of such; ``a * b`` is ``a + b + a:b`` (``a * b * c`` all their interactions); ``0 +`` or
``- 1`` drops the intercept, ``1 +`` keeps it (the default).

- ``"year"``: intercept (``mu``) and a slope per unit of year;
- ``"0 + group"``: no intercept, one coefficient per level of group (the group means; Roever & Friede 2023, sec.
  3.2, for the network contrasts of an indirect comparison write one 0/1 or -1/0/1 column per basic contrast and
  ``"0 + AB + AC"``);
- ``"dose * onset"``: intercept, dose slope, onset level differences and the dose slope's differences by level;
- ``"factor(onset, ref = \"early\")"``: a factor with the reference level chosen (R's ``relevel``).

Coding (as R's ``model.matrix`` with treatment contrasts): a numeric column enters as it is; a factor is coded by
indicators of its levels other than the reference level (:func:`bayesmeta.design.reference_level`: the most
frequent, ties alphabetically), named ``"<column>[<level>]"``, except that in a model without intercept the first
factor gets an indicator for every level. An interaction multiplies the columns of its parts (names joined by
``:``); a factor in it gets an indicator for every level where the interaction without it is not a term of the
formula (R's marginality rule), so ``"0 + onset + onset:dose"`` has a dose slope for each onset level. A
rank-deficient design is refused with the columns that cause it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bayesmeta.design import _check_complete, _is_numeric, reference_level
from bayesmeta.errors import InputError

_NAME = re.compile(r"^(?:factor\(\s*([A-Za-z_.][\w.]*)\s*(?:,\s*(?:ref\s*=\s*)?(?:\"([^\"]*)\"|'([^']*)'))?\s*\)"
                   r"|([A-Za-z_.][\w.]*))$")
FORMULA_HELP = ('terms joined by "+": a column, factor(column) or factor(column, ref = "level"), an interaction '
                'a:b, a * b (= a + b + a:b); "0 +" drops the intercept, e.g. "0 + group", "year", "dose * onset"')


def _split_top(text: str, seps: str) -> tuple[list[str], list[str]]:
    """Split ``text`` at the characters ``seps`` outside quotes and parentheses: (pieces, separators)."""
    pieces, found, depth, quote, start = [], [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch in seps and depth == 0:
            pieces.append(text[start:i].strip())
            found.append(ch)
            start = i + 1
    pieces.append(text[start:].strip())
    return pieces, found


@dataclass(frozen=True)
class Variable:
    """One column of the data as the formula reads it: numeric, or a factor with its levels and reference."""

    column: str
    factor: bool
    levels: tuple[str, ...] = ()
    reference: str | None = None


@dataclass(frozen=True)
class Formula:
    """A parsed formula: whether it has an intercept, and its terms (tuples of column names, ``factor(x)`` kept
    as its column with ``forced`` naming the columns read as factors)."""

    text: str
    intercept: bool
    terms: tuple[tuple[str, ...], ...]
    forced: frozenset[str] = field(default_factory=frozenset)
    references: tuple[tuple[str, str], ...] = ()
    """Reference levels chosen in the formula, factor(column, ref = "level")."""

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for term in self.terms for c in term))


def _fail(text: str, why: str) -> InputError:
    return InputError(f"cannot read formula {text!r}: {why}", column="--formula", valid=FORMULA_HELP)


def parse_formula(text: str) -> Formula:
    """Parse the right-hand side of a formula (a leading ``~`` is allowed); see the module docstring."""
    body = text.strip()
    if body.startswith("~"):
        body = body[1:].strip()
    if not body:
        raise _fail(text, "it is empty")
    intercept = True
    parts_, signs = _split_top(body, "+-")
    if parts_[0] == "":
        parts_, signs = parts_[1:], signs
    else:
        signs = ["+", *signs]
    pieces: list[tuple[int, str]] = []
    for sign, piece in zip(signs, parts_):
        if not piece:
            raise _fail(text, "an empty term or a sign at its end")
        pieces.append((-1 if sign == "-" else 1, piece))
    terms: list[tuple[str, ...]] = []
    forced: set[str] = set()
    references: dict[str, str] = {}
    for sign, piece in pieces:
        if piece in ("0", "1"):
            intercept = piece == "1" if sign > 0 else piece == "0"
            continue
        if sign < 0:
            raise _fail(text, f"only the intercept can be removed ('- 1'), not {piece!r}")
        if ":" in _split_top(piece, ":")[1] and "*" in _split_top(piece, "*")[1]:
            raise _fail(text, f"mix of ':' and '*' in {piece!r}; write a * b + a:c")
        parts, _ = _split_top(piece, ":*")
        names = []
        for part in parts:
            m = _NAME.match(part)
            if not m:
                raise _fail(text, f"{part!r} is not a column name or factor(column)")
            if m.group(1):
                forced.add(m.group(1))
                ref = m.group(2) if m.group(2) is not None else m.group(3)
                if ref is not None:
                    if references.get(m.group(1), ref) != ref:
                        raise _fail(text, f"two reference levels for {m.group(1)!r}")
                    references[m.group(1)] = ref
            names.append(m.group(1) or m.group(4))
        if len(set(names)) != len(names):
            raise _fail(text, f"a column appears twice in {piece!r}")
        if "*" in piece:
            for r in range(1, len(names) + 1):
                terms.extend(itertools.combinations(names, r))
        else:
            terms.append(tuple(names))
    unique = tuple(dict.fromkeys(terms))
    if not unique and not intercept:
        raise _fail(text, "no terms and no intercept")
    return Formula(text, intercept, unique, frozenset(forced), tuple(references.items()))


@dataclass(frozen=True)
class Design:
    """The design of a formula on a table: X (k x p, with the intercept column when there is one), the
    coefficient names (``mu`` for the intercept, else the column names above), and the variables, so that rows
    for chosen covariate values (:meth:`row`) are coded as the studies were."""

    formula: Formula
    X: np.ndarray
    names: tuple[str, ...]
    variables: Mapping[str, Variable]
    full_coded: frozenset[tuple[tuple[str, ...], str]]
    centers: Mapping[str, float] = field(default_factory=dict)
    """Numeric columns centred at these values (their means over the studies; build_design's ``center``): the
    intercept is the effect there, and rows for chosen values (:meth:`row`) are centred the same way."""

    @property
    def intercept(self) -> bool:
        return self.formula.intercept

    @property
    def covariate_names(self) -> tuple[str, ...]:
        """The names without the intercept (the engine's ``covariate_names``)."""
        return self.names[1:] if self.intercept else self.names

    @property
    def covariate_matrix(self) -> np.ndarray:
        """X without its intercept column (the engine's ``X``)."""
        return self.X[:, 1:] if self.intercept else self.X

    def row(self, values: Mapping[str, object], what: str = "--mean-at") -> np.ndarray:
        """The design row (p,) for covariate values, e.g. {"year": 1990, "group": "B"}; every column of the
        formula must be given, a factor at one of its levels."""
        missing = [c for c in self.formula.columns if c not in values]
        unknown = [c for c in values if c not in self.variables]
        if unknown:
            raise InputError(f"{unknown[0]!r} is not a column of the formula {self.formula.text!r}", column=what,
                             valid=", ".join(self.formula.columns))
        if missing:
            raise InputError(f"no value for {missing[0]!r}", column=what,
                             valid=f"a value for each of {', '.join(self.formula.columns)}")
        frame = {}
        for c in self.formula.columns:
            v = self.variables[c]
            value = values[c]
            if v.factor:
                if str(value) not in v.levels:
                    raise InputError(f"{value!r} is not a level of {c!r}", column=what, valid=", ".join(v.levels))
                frame[c] = np.array([str(value)])
            else:
                try:
                    frame[c] = np.array([float(value) - self.centers.get(c, 0.0)])  # type: ignore[arg-type]
                except (TypeError, ValueError):
                    raise InputError(f"{c} = {value!r} is not a number", column=what, valid="a number") from None
        x, _ = _columns(self.formula, self.variables, frame, self.full_coded, 1)
        return x[0]


def _variable(series: pd.Series, column: str, factor: bool, reference: str | None = None) -> Variable:
    _check_complete(series, column)
    if not factor and _is_numeric(series):
        values = series.to_numpy(dtype=float)
        if not np.all(np.isfinite(values)):
            row = int(np.flatnonzero(~np.isfinite(values))[0]) + 2
            raise InputError("covariate value is not finite", row=row, column=column, valid="a finite number")
        return Variable(column, False)
    text = _as_text(series)
    levels = tuple(sorted(set(text)))
    if len(levels) < 2:
        raise InputError(f"factor has a single level ({levels[0]!r})", column=column,
                         valid="a factor with at least two levels")
    if reference is not None and reference not in levels:
        raise InputError(f"reference level {reference!r} is not a level of {column!r}", column=column,
                         valid=", ".join(levels))
    return Variable(column, True, levels, reference if reference is not None else reference_level(pd.Series(text)))


def _as_text(series: pd.Series) -> list[str]:
    """Levels as text; whole numbers read as numbers print without '.0' (factor(year))."""
    out = []
    for v in series.tolist():
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        out.append(str(v))
    return out


def _columns(formula: Formula, variables: Mapping[str, Variable], data: Mapping[str, np.ndarray],
             full_coded: frozenset[tuple[tuple[str, ...], str]], k: int) -> tuple[np.ndarray, list[str]]:
    blocks: list[np.ndarray] = [np.ones((k, 1))] if formula.intercept else []
    names: list[str] = ["mu"] if formula.intercept else []
    for term in formula.terms:
        cols: list[tuple[str, np.ndarray]] = [("", np.ones(k))]
        for c in term:
            v = variables[c]
            if v.factor:
                text = np.asarray(data[c]).astype(str)
                levels = v.levels if (term, c) in full_coded else [lv for lv in v.levels if lv != v.reference]
                parts = [(f"{c}[{lv}]", (text == lv).astype(float)) for lv in levels]
            else:
                parts = [(c, np.asarray(data[c], dtype=float))]
            cols = [(f"{a}:{b}" if a else b, x * y) for a, x in cols for b, y in parts]
        for name, x in cols:
            blocks.append(x[:, None])
            names.append(name)
    return np.hstack(blocks) if blocks else np.zeros((k, 0)), names


def _full_coded(f: Formula, variables: Mapping[str, Variable],
                first_factor: str | None) -> frozenset[tuple[tuple[str, ...], str]]:
    """The (term, factor) pairs coded by an indicator for every level, as R's model.matrix does: the first factor
    of a model without intercept, and a factor in an interaction whose remaining part is not a term itself."""
    full = {((first_factor,), first_factor)} if (not f.intercept and first_factor) else set()
    present = {frozenset(t) for t in f.terms}
    for term in f.terms:
        if len(term) > 1:
            full |= {(term, c) for c in term if variables[c].factor and frozenset(term) - {c} not in present}
    return frozenset(full)


def build_design(formula: str | Formula, table: pd.DataFrame, *, file: str | None = None,
                 center: bool = False) -> Design:
    """Code ``formula`` on the covariate columns of ``table`` (one row per study). With ``center``, every numeric
    column is centred at its mean over the studies, x - mean(x) (R's ``scale(x, scale = FALSE)``): slopes are
    unchanged, and the intercept ``mu`` (the target of the mu prior) is the effect at the means, not at x = 0."""
    f = parse_formula(formula) if isinstance(formula, str) else formula
    missing = [c for c in f.columns if c not in table.columns]
    if missing:
        raise InputError(f"no covariate column {missing[0]!r} (formula {f.text!r})", file=file, column=missing[0],
                         valid=", ".join(map(str, table.columns)) or "no other columns in this file")
    refs = dict(f.references)
    variables = {c: _variable(table[c], c, c in f.forced, refs.get(c)) for c in f.columns}
    first_factor = next((t[0] for t in f.terms if len(t) == 1 and variables[t[0]].factor), None)
    full = _full_coded(f, variables, first_factor)
    centers = {c: float(np.mean(table[c].to_numpy(dtype=float))) for c in f.columns
               if center and not variables[c].factor}
    data = {c: (np.array(_as_text(table[c])) if variables[c].factor
                else table[c].to_numpy(dtype=float) - centers.get(c, 0.0)) for c in f.columns}
    k = len(table)
    X, names = _columns(f, variables, data, full, k)
    if X.shape[1] == 0:
        raise InputError(f"formula {f.text!r} has no coefficients", column="--formula", valid=FORMULA_HELP)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        reason = "more coefficients than studies" if X.shape[1] > k else (
            "a column is constant, duplicated or a linear combination of the others")
        raise InputError(f"the design of {f.text!r} is rank-deficient ({reason}): {', '.join(names)}",
                         file=file, column=", ".join(f.columns), valid="covariates that vary independently")
    return Design(f, X, tuple(names), variables, full, centers)


def covariates_formula(covariates: str | None, table: pd.DataFrame | None) -> str | None:
    """The formula ``--covariates a,b`` stands for: "a + b", each column coded as the plan's per-covariate
    meta-regression codes it (:mod:`bayesmeta.reanalysis.metaregression`): a numeric column with two distinct
    values (a 0/1 moderator) is a two-level factor labelled by its values, ``factor(a)``; one with three or more
    is a slope; text is a factor."""
    columns = [c.strip() for c in (covariates or "").split(",") if c.strip()]
    terms = []
    for c in columns:
        values = table[c] if table is not None and c in table.columns else None
        two = values is not None and _is_numeric(values) and values.nunique() == 2
        terms.append(f"factor({c})" if two else c)
    return " + ".join(terms) or None


def centred_by_default(formula: str | Formula) -> bool:
    """Whether ``fit`` centres the numeric columns of ``formula`` when neither ``--center`` nor ``--no-center`` is
    given: when the formula has an intercept, as the plan's ``[covariates] formula`` always does
    (:mod:`bayesmeta.reanalysis.formula_regression`). Centring is then a reparametrisation (slopes unchanged,
    mu the effect at the means); without an intercept it would change the model, so it is left to ``--center``."""
    return (parse_formula(formula) if isinstance(formula, str) else formula).intercept


def far_from_zero(design: Design, table: pd.DataFrame, ratio: float = 3.0) -> dict[str, tuple[float, float]]:
    """Uncentred numeric columns of a design (with three or more values) whose mean is more than ``ratio`` SDs
    from 0: column -> (mean, sd). For them the intercept mu is the effect at x = 0, far outside the data, so a
    proper mu prior also constrains the slopes (e.g. a slope per year with the intercept at year 0)."""
    out = {}
    for c, v in design.variables.items():
        if v.factor or c in design.centers:
            continue
        x = table[c].to_numpy(dtype=float)
        if len(np.unique(x)) < 3:
            continue
        mean, sd = float(np.mean(x)), float(np.std(x, ddof=1))
        if abs(mean) > ratio * sd:
            out[c] = (mean, sd)
    return out


def parse_values(text: str, what: str = "--mean-at") -> dict[str, str]:
    """'year=1990, group=B' -> {'year': '1990', 'group': 'B'}."""
    out: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise InputError(f"{part.strip()!r} is not column=value", column=what, valid='e.g. "year=1990, group=B"')
        key, value = (s.strip() for s in part.split("=", 1))
        out[key] = value
    if not out:
        raise InputError("no covariate values given", column=what, valid='e.g. "year=1990, group=B"')
    return out
