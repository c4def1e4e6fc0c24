"""What ``bayesmeta fit`` is asked to fit and report, from the command line or from a fit plan (TOML), in one
form: the data, the priors (mu, tau, and the coefficients' own priors, per coefficient where needed), the design
(``formula``, :mod:`bayesmeta.formula`), the interval type (R bayesmeta's ``interval.type``: 'shortest' or
'central'), and linear combinations reported beside the coefficients: the mean effect and the new-study prediction
at chosen covariate values (R bmr's ``summary(..., X.mean=, X.prediction=)``) and contrasts of coefficients.

A fit plan is a TOML file with a ``[fit]`` table whose keys are the options' names with underscores::

    [fit]
    data = "crins2014.csv"          # relative to the plan's folder
    measure = "OR"
    mu_prior = "normal(0, 4)"
    tau_prior = "halfnormal(0.5)"
    formula = "0 + group"
    beta_prior = ["normal(0, 4)"]   # or ["year=normal(0, 0.1)", ...]
    interval = "shortest"
    level = 0.95
    mean_at = ["group=A"]
    predict_at = ["group=A"]
    contrast = ["beta[group[A]]=1, beta[group[B]]=-1"]
    thresholds = [1.0]
    ess_uisd = 2.35                 # effective sample size of the predictive for this unit-information SD
    center = false                  # numeric covariates at 0 (default: centred at their means with an intercept)
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from bayesmeta.errors import InputError

INTERVALS = ("central", "shortest")


@dataclass(frozen=True)
class ModelSpec:
    """The model and the reported combinations of one ``fit`` (see the module docstring)."""

    data: str
    measure: str | None = None
    mu_prior: str = "normal(0, 4)"
    tau_prior: str = "halfnormal(0.5)"
    formula: str | None = None
    covariates: str | None = None
    beta_prior: tuple[str, ...] = ()
    interval: str = "central"
    level: float = 0.95
    mean_at: tuple[str, ...] = ()
    predict_at: tuple[str, ...] = ()
    contrast: tuple[str, ...] = ()
    thresholds: tuple[float, ...] = field(default_factory=tuple)
    ess_uisd: float | None = None
    center: bool | None = None
    """Numeric covariates centred at their means (``--center``; :func:`bayesmeta.formula.build_design`); None:
    when the formula has an intercept (:func:`bayesmeta.formula.centred_by_default`)."""

    def formula_text(self, table: Any) -> str | None:
        """The formula, or the one ``--covariates a,b`` stands for on the covariates ``table``
        (:func:`bayesmeta.formula.covariates_formula`: "a + b", a two-valued number read as a factor)."""
        from bayesmeta.formula import covariates_formula

        if self.formula:
            return self.formula
        return covariates_formula(self.covariates, table)


_LISTS = {"beta_prior", "mean_at", "predict_at", "contrast", "thresholds"}


def load_fit_plan(path: str | Path, base: ModelSpec | None = None) -> ModelSpec:
    """Read the ``[fit]`` table of a fit plan; its keys replace those of ``base`` (the command line's)."""
    file = Path(path)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the plan: {exc}", file=str(file)) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", file=str(file)) from None
    table = raw.get("fit")
    names = [f.name for f in fields(ModelSpec)]
    if not isinstance(table, dict):
        raise InputError("no [fit] table", file=str(file), column="fit", valid=f"a [fit] table with {', '.join(names)}")
    unknown = [k for k in table if k not in names]
    if unknown:
        raise InputError(f"unknown key {unknown[0]!r}", file=str(file), column=f"fit.{unknown[0]}",
                         valid=", ".join(names))
    if "data" not in table:
        raise InputError("no data file", file=str(file), column="fit.data", valid="data = \"effects.csv\"")
    values: dict[str, Any] = {}
    for key, value in table.items():
        where = f"fit.{key}"
        if key in _LISTS:
            items = value if isinstance(value, list) else [value]
            if key == "thresholds":
                if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                           for v in items):
                    raise InputError("not a list of finite numbers", file=str(file), column=where,
                                     valid="e.g. [1.0, 0.8]")
                values[key] = tuple(float(v) for v in items)
            elif key == "beta_prior" and isinstance(value, dict):
                values[key] = tuple(f"{k}={v}" for k, v in value.items())
            else:
                if not all(isinstance(v, str) for v in items):
                    raise InputError("not a list of text", file=str(file), column=where, valid='e.g. ["year=1990"]')
                values[key] = tuple(items)
        elif key == "ess_uisd":
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
                    and math.isfinite(value)):
                raise InputError(f"ess_uisd {value!r} is not a positive number", file=str(file), column=where,
                                 valid="e.g. 2.35")
            values[key] = float(value)
        elif key == "center":
            if not isinstance(value, bool):
                raise InputError(f"center {value!r} is not true or false", file=str(file), column=where,
                                 valid="center = true")
            values[key] = value
        elif key == "level":
            if not (isinstance(value, (int, float)) and 0 < value < 1):
                raise InputError(f"level {value!r} is not between 0 and 1", file=str(file), column=where,
                                 valid="e.g. 0.95")
            values[key] = float(value)
        else:
            if not isinstance(value, str):
                raise InputError(f"{value!r} is not text", file=str(file), column=where, valid="a quoted string")
            values[key] = value
    if values.get("interval", "central") not in INTERVALS:
        raise InputError(f"interval {values['interval']!r}", file=str(file), column="fit.interval",
                         valid=", ".join(INTERVALS))
    data = Path(values["data"])
    values["data"] = str(data if data.is_absolute() else (file.parent / data))
    return replace(base or ModelSpec(data=values["data"]), **values)


def fit_spec(spec: ModelSpec):
    """Fit ``spec`` by the exact engine (the table read as ``fit`` reads it); returns (posterior, design or None).
    A ``posterior(...)`` tau prior is resolved relative to the data's folder."""
    from bayesmeta.exact import fit_exact
    from bayesmeta.formula import build_design, centred_by_default
    from bayesmeta.posterior_prior import resolve_tau_prior
    from bayesmeta.tables import read_effect_table

    table = read_effect_table(spec.data, spec.measure)
    design, X, names, intercept = None, None, (), True
    formula = spec.formula_text(table.covariates)
    if formula:
        center = centred_by_default(formula) if spec.center is None else spec.center
        design = build_design(formula, table.covariates, file=spec.data, center=center)
        X, names, intercept = design.covariate_matrix, design.covariate_names, design.intercept
    betas = coefficient_priors(spec.beta_prior, names, None)
    tau = resolve_tau_prior(spec.tau_prior, Path(spec.data).parent)
    post = fit_exact(table, mu_prior=spec.mu_prior, tau_prior=tau, X=X, covariate_names=names, beta_prior=betas,
                     intercept=intercept)
    return post, design


def coefficient_priors(items: Sequence[str], names: Sequence[str], default: str | None) -> list[str] | None:
    """The priors of the coefficients ``names`` from ``--beta-prior`` items: "prior" for every coefficient,
    "name=prior" for one (a coefficient such as ``group[B]``, or a formula column, which sets all its coded
    coefficients); later items override earlier ones. None when nothing is given (the engine's default)."""
    if not items:
        return None
    out: list[str | None] = [default] * len(names)
    for item in items:
        head, sep, tail = item.partition("=")
        target = head.strip() if sep and "(" not in head else None
        prior = tail.strip() if target is not None else item.strip()
        if target is None:
            out = [prior] * len(names)
            continue
        hits = [i for i, n in enumerate(names) if n == target or n.startswith(f"{target}[")]
        if not hits:
            raise InputError(f"no coefficient {target!r} for --beta-prior {item!r}", column="--beta-prior",
                             valid=", ".join(names) or "no coefficients besides mu")
        for i in hits:
            out[i] = prior
    if any(p is None for p in out):
        missing = [n for n, p in zip(names, out) if p is None]
        raise InputError(f"no prior for {', '.join(missing)}", column="--beta-prior",
                         valid='a prior for every coefficient, e.g. --beta-prior "normal(0, 1)"')
    return [str(p) for p in out]


def parse_weights(text: str) -> dict[str, float]:
    """'beta[group[A]]=1, beta[group[B]]=-1' -> weights by coefficient name (commas inside brackets kept)."""
    out: dict[str, float] = {}
    depth, start, parts = 0, 0, []
    for i, ch in enumerate(text):
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    for part in parts:
        if not part.strip():
            continue
        name, sep, value = part.rpartition("=")
        try:
            out[name.strip()] = float(value) if sep else math.nan
        except ValueError:
            out[name.strip()] = math.nan
        if not sep or not math.isfinite(out[name.strip()]):
            raise InputError(f"{part.strip()!r} is not coefficient=weight", column="--contrast",
                             valid='e.g. "beta[group[A]]=1, beta[group[B]]=-1"')
    return out


def marginal_summary(m: Any, level: float, kind: str) -> dict[str, float | None]:
    """{mode, median, mean, sd, ci_lower, ci_upper} of a marginal (mode None where it has no density)."""
    lo, hi = m.interval(level, kind)
    mode = float(m.mode()) if hasattr(m, "mode") else None
    return {"mode": mode, "median": float(m.median()), "mean": float(m.mean()), "sd": float(m.std()),
            "ci_lower": float(lo), "ci_upper": float(hi)}


def combinations(post: Any, design: Any, spec: ModelSpec) -> dict[str, dict[str, dict[str, float | None]]]:
    """The mean effects and new-study predictions at ``spec.mean_at``/``predict_at`` values and the contrasts,
    each summarised with the spec's interval type."""
    from bayesmeta.formula import parse_values

    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for key, items, new in (("mean_at", spec.mean_at, False), ("predict_at", spec.predict_at, True)):
        if not items:
            continue
        if design is None:
            rows = {text: [1.0] for text in items if text.strip() in ("", "mu", "intercept")}
            if len(rows) != len(items):
                raise InputError("covariate values need a --formula or --covariates", column=f"--{key.replace('_', '-')}",
                                 valid="--formula with the columns named")
        else:
            rows = {text: design.row(parse_values(text, f"--{key.replace('_', '-')}"),
                                     f"--{key.replace('_', '-')}").tolist() for text in items}
        out[key] = {}
        for text, row in rows.items():
            m = post.prediction(row) if new else post.contrast(row)
            out[key][text] = marginal_summary(m, spec.level, spec.interval)
    if spec.contrast:
        out["contrast"] = {}
        for text in spec.contrast:
            weights: Mapping[str, float] = parse_weights(text)
            try:
                m = post.contrast(weights)
            except KeyError as exc:
                raise InputError(str(exc.args[0]), column="--contrast", valid=", ".join(post.coefficients)) from None
            out["contrast"][text] = marginal_summary(m, spec.level, spec.interval)
    return out
