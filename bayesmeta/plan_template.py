"""A commented starter plan for a user's own meta-analysis (``bayesmeta init``), written from what the data files
hold: each outcome with its measure and a guessed direction of benefit, the study-level covariates with their
levels, the published results if given. :func:`plan_text` returns the TOML text; ``bayesmeta reanalyze`` runs it
unchanged, and every line the user should check says so."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bayesmeta.data import (
    GIVEN_COLUMNS,
    LOGRANK_COLUMNS,
    MEAN_COLUMNS,
    PERSON_TIME_COLUMNS,
    STATISTIC_COLUMNS,
    blank_cells,
    load_outcomes,
    load_published,
    load_studies,
    spreadsheet_row,
)
from bayesmeta.effects import EFFECT_COLUMNS, NOT_COVARIATES
from bayesmeta.errors import InputError
from bayesmeta.plan_strata import strata_lines
from bayesmeta.scales import MEASURE_INFO, OWN_UNIT_MEASURES, RATIO_MEASURES, RATIO_OF_MEANS, is_ratio, null_value

NOT_COVARIATE_COLUMNS: tuple[str, ...] = (
    *STATISTIC_COLUMNS, *MEAN_COLUMNS, *LOGRANK_COLUMNS, *GIVEN_COLUMNS, *PERSON_TIME_COLUMNS, *EFFECT_COLUMNS,
    *NOT_COVARIATES, "year", "n_treatment", "n_control", "label",
    "first_author", "outcomes_in_meta_analysis", "doi", "pmid", "reference",
)
"""Columns never offered as covariates: statistics, identifiers, sizes and provenance."""


@dataclass(frozen=True)
class Covariate:
    """A study-level column offered for meta-regression: its name and, for text columns, its levels."""

    column: str
    levels: tuple[str, ...] | None  # None: a numeric column (a slope)


def _toml_string(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(str(value), ensure_ascii=False)


def _toml_key(key: str) -> str:
    """A bare key where TOML allows one, else a quoted key."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_string(key)


def _number(value: float) -> str:
    return f"{value:g}" if value != int(value) else f"{value:.1f}"


def _relative(path: Path, plan_path: Path) -> str:
    """``path`` as the plan will resolve it: relative to the project folder (:func:`bayesmeta.plan.load_plan`)."""
    from bayesmeta.plan import _project_root

    return Path(os.path.relpath(path.resolve(), _project_root(plan_path.resolve()))).as_posix()


def covariates_of(table: pd.DataFrame, k: int) -> list[Covariate]:
    """Columns of a study-level table usable as covariates: numeric columns with three or more values (slopes),
    numeric columns with two (0/1 moderators, two-level factors), and text columns with two or more levels that
    repeat (at most k/2 levels for k rows, so a column naming each
    study is not one)."""
    out = []
    for column in table.columns:
        if column in NOT_COVARIATE_COLUMNS or column.startswith("source"):
            continue
        text = table[column].astype(str).str.strip()
        values = text[~blank_cells(table[column])]
        distinct = list(dict.fromkeys(values))
        numeric = pd.to_numeric(values, errors="coerce")
        if len(values) and numeric.notna().all():
            if len(distinct) >= 3:
                out.append(Covariate(column, None))
            elif len(distinct) == 2:  # a 0/1 moderator: a two-level factor
                out.append(Covariate(column, tuple(sorted(distinct, key=float))))
        elif 2 <= len(distinct) <= max(2, k // 2):
            out.append(Covariate(column, tuple(sorted(distinct))))
    return out


def _benefit_guess(measure: str) -> tuple[str, str]:
    """(benefit, comment): a guess from the measure alone, with what to check."""
    if measure == "HR":
        return "below", "hazard ratios usually count harms (death, progression): check"
    if measure in RATIO_OF_MEANS:
        return "below", "guessed: say \"above\" if a higher mean is better (a ratio of means above 1)"
    if is_ratio(measure) or measure == "RD":
        return "below", ("guessed for an adverse event (death, relapse); say \"above\" for a good outcome "
                         "(response, remission)")
    return "below", "guessed: say \"above\" if a higher value is better for the patient"


def _published_example(measure: str) -> str:
    """An example of a printed pooled result on the scale of ``measure`` (for the plan's comments)."""
    if is_ratio(measure):
        return f"{measure} 0.80 (0.70-0.90)"
    return f"{measure} -0.30 (-0.50 to -0.10)"


def _pooling_guess(published: pd.DataFrame | None) -> tuple[str, str]:
    """(pooling, comment) from the published pooled rows: the tau^2 estimator their ``method`` column names when
    they agree on one, else from their ``model`` column when there is one."""
    from bayesmeta.compare import published_method

    if published is not None and "method" in published.columns:
        pooled = published.loc[published["analysis"] == "pooled"]
        methods = {published_method(v) for v in pooled["method"]} - {""}
        if len(methods) == 1 and methods <= {"DL", "REML", "PM", "ML"}:
            method, = methods
            return method, f"the published file's pooled rows name {method} as their tau^2 estimator"
    if published is not None and "model" in published.columns:
        models = set(published.loc[published["analysis"] == "pooled", "model"].astype(str).str.lower())
        if "random" in models:
            return "DL", "the published file has random-effects pooled rows; check the paper's tau^2 estimator"
        if models == {"common"}:
            return "FE", "the published file's pooled rows are common-effect"
    return "DL", "check the paper's Methods"


def _likelihood_line(rows: pd.DataFrame, measure: str) -> list[str]:
    """The commented ``likelihood = "binomial"`` line for an OR outcome whose every row has the four arm counts."""
    from bayesmeta.effect_data import COUNT_COLUMNS

    if measure != "OR" or not set(COUNT_COLUMNS) <= set(rows.columns) or rows[list(COUNT_COLUMNS)].isna().any().any():
        return []
    return ['# likelihood = "binomial"   # adds the binomial-normal model on the arm counts beside the normal one '
            "(for sparse counts or zero cells)"]


def published_estimates(published: pd.DataFrame | None, outcome: str, measure: str) -> list[float]:
    """The distinct pooled estimates the paper printed for ``outcome`` on its measure (reported scale), in file
    order: thresholds at which P(effect beyond what the paper reported) is worth reading."""
    if published is None or not {"outcome", "analysis", "measure", "estimate"} <= set(published.columns):
        return []
    rows = published[(published["outcome"].astype(str) == outcome) & (published["analysis"] == "pooled")
                     & (published["measure"].astype(str).str.strip() == measure)]
    values = pd.to_numeric(rows["estimate"], errors="coerce").dropna()
    values = values[np.isfinite(values) & ((values > 0) | (not is_ratio(measure)))]
    return list(dict.fromkeys(float(v) for v in values))


def _and(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def rows_without_year(table: pd.DataFrame, studies: set[str], file: str) -> list[str]:
    """'<study_id> (<file> row <n>)' for each row of ``table`` (the file the reanalysis takes years from) of one
    of ``studies`` whose year is blank or not a number, as :func:`bayesmeta.reanalysis.outcome.study_years`
    reads it; [] when every such row has a year. A table without a year column: every row of those studies."""
    years = (pd.to_numeric(table["year"].astype(object).where(table["year"].notna(), ""), errors="coerce")
             if "year" in table.columns else pd.Series(np.nan, index=table.index))
    used = table["study_id"].astype(str).isin(studies).to_numpy()
    missing = used & ~np.isfinite(years.to_numpy(float))
    return [f"{table['study_id'].iloc[i]} ({file} row {spreadsheet_row(i)})" for i in np.flatnonzero(missing)]


def check_mcid(value: float, measure: str, outcome: str) -> float:
    """A user's MCID for ``outcome``: finite, not the null, and positive for a ratio."""
    null = null_value(measure)
    if not math.isfinite(value) or value == null or (is_ratio(measure) and value <= 0):
        raise InputError(f"MCID {value:g} of outcome '{outcome}' ({measure}) is not usable", column="--mcid",
                         valid=f"a {measure} other than {null:g}" + (" and > 0" if is_ratio(measure) else ""))
    return float(value)


def published_formula_lines(published: pd.DataFrame | None, outcome: str, columns: tuple[str, ...]) -> list[str]:
    """``formula = "..."`` for an outcome whose published meta-regression coefficients name a multiple
    meta-regression (published.csv ``formula``): the paper's model, fitted for that outcome so the report sets its
    posterior beside the printed coefficients; commented out when it names a column the data lack."""
    if published is None or "formula" not in published.columns:
        return []
    rows = published[(published["outcome"] == outcome) & (published["analysis"] == "meta_regression")]
    formulas = list(dict.fromkeys(f.strip() for f in rows["formula"] if isinstance(f, str) and f.strip()))
    if not formulas:
        return []
    from bayesmeta.formula import parse_formula

    missing = [c for c in parse_formula(formulas[0]).columns if c not in columns]
    others = f"; the paper also printed {', '.join(formulas[1:])}" if formulas[1:] else ""
    if missing:
        return [f"# formula = {_toml_string(formulas[0])}   # the paper's multiple meta-regression (published "
                f"formula column); the data lack column {missing[0]!r}{others}"]
    return [f"formula = {_toml_string(formulas[0])}   # CHECK: the paper's multiple meta-regression of this outcome "
            f"(published formula column){others}"]


def plan_text(outcomes: str | Path, studies: str | Path | None = None, published: str | Path | None = None, *,
              plan_path: str | Path = "plan.toml", mcid: Mapping[str, float] | None = None) -> str:
    """The TOML text of a starter plan for these files, to be saved at ``plan_path`` (the data paths are written
    relative to where the plan will read them from). The files are validated as ``reanalyze`` will read them;
    an outcome whose rows mix measures is refused.

    Clinical thresholds come only from the user: ``mcid`` maps outcome names to the minimal clinically important
    effect (reported scale), which becomes the outcome's ``mcid`` and sets the side of benefit; the outcome's
    thresholds are then the null, the paper's published pooled estimates (from ``published``) and the MCID.
    Without an MCID the thresholds are the null, with the published estimates on a commented line to use once an
    mcid is set (the report reads the most demanding threshold as the clinically important benefit when there is
    no mcid, so a printed estimate must not take that place), and a commented mcid line shows where it goes. No
    clinical value is invented."""
    mcid = dict(mcid or {})
    plan_path = Path(plan_path)
    study_table = load_studies(studies) if studies is not None else None
    rows = load_outcomes(outcomes, studies=study_table)
    published_table = load_published(published) if published is not None else None
    names = list(dict.fromkeys(rows["outcome"]))
    measures = {}
    for name in names:
        found = list(dict.fromkeys(rows.loc[rows["outcome"] == name, "measure"]))
        if len(found) != 1:
            raise InputError(f"outcome '{name}' has rows of several measures ({', '.join(found)})", file=str(outcomes),
                             column="measure", valid="one measure per outcome")
        measures[name] = found[0]
    unknown = sorted(set(mcid) - set(names))
    if unknown:
        raise InputError(f"--mcid names outcome '{unknown[0]}', which the outcomes file does not have",
                         file=str(outcomes), column="--mcid", valid=", ".join(names))
    mcid = {name: check_mcid(float(v), measures[name], name) for name, v in mcid.items()}
    k = max(int((rows["outcome"] == name).sum()) for name in names)
    source = study_table if study_table is not None else rows.drop_duplicates("study_id")
    covariates = covariates_of(source, k)
    has_year = "year" in source.columns
    # the reanalysis takes years from the study table when there is one, else from the outcome rows; a blank or
    # text year sends monitoring to file order (reanalysis.outcome._order_keys), so init says so here
    no_year = rows_without_year(study_table if study_table is not None else rows, set(rows["study_id"].astype(str)),
                                Path(studies if study_table is not None else outcomes).name) if has_year else []
    pooling, pooling_note = _pooling_guess(published_table)

    lines = [
        f"# Reanalysis plan written by `bayesmeta init` from {Path(outcomes).name}"
        + (f", {Path(studies).name}" if studies else "") + (f" and {Path(published).name}" if published else "")
        + ".",
        "# Every key is explained in the README (\"The plan\"). Lines marked CHECK are guesses from the data files:",
        "# put the paper's own words and choices there. Run it with:",
        f"#   bayesmeta reanalyze {plan_path.name} --out report",
        "",
        f"title = {_toml_string('Bayesian reanalysis of a published meta-analysis: ' + ', '.join(names))}"
        "   # CHECK: the paper's title",
        "seed = 20240101           # every random step derives from this",
        "level = 0.95              # credible and confidence level of every interval",
        "",
        "[data]",
        f"outcomes = {_toml_string(_relative(Path(outcomes), plan_path))}",
    ]
    if studies is not None:
        lines.append(f"studies = {_toml_string(_relative(Path(studies), plan_path))}")
    if published is not None:
        lines.append(f"published = {_toml_string(_relative(Path(published), plan_path))}   # the paper's numbers")
    lines += [
        f"pooling = {_toml_string(pooling)}   # CHECK: how the paper pooled ({pooling_note}): FE, DL, REML, PM, ML "
        "or I2_rule",
        "# priors = \"my_priors.toml\"   # your own prior sets (the packaged ones are for log ratios)",
        "",
        "# CHECK: the two arms in the paper's words (figures say \"favours <treatment>\").",
        "[arms]",
        "treatment = \"treatment\"",
        "control = \"control\"",
        "",
        "[priors]",
        "main = \"weakly_informative\"",
        "sensitivity = [\"vague\", \"skeptical\", \"enthusiastic\"]",
    ]
    if any(not is_ratio(m) for m in measures.values()):
        lines += [
            f"# CHECK: the packaged prior sets are written for log ratios ({', '.join(RATIO_MEASURES)}).",
            "# For a difference measure (MD, SMD, RD) write prior sets on its own scale in a TOML file and name it",
            "# as data.priors (see models/gallery/parkinson_offtime_priors.toml for an example in hours).",
        ]
    own_units = sorted({m for m in measures.values() if m in OWN_UNIT_MEASURES})
    if own_units:
        lines += [
            f"# tau_scales = [1.625, 3.25, 6.5, 13]   # CHECK ({', '.join(own_units)}, in the outcome's own units): the "
            "prior grid's half-normal tau scales.",
            "#   Default: sigma_u / 8 x (0.5, 1, 2, 4), sigma_u the outcome's unit-information SD (the commands' "
            "--uisd; in a plan",
            "#   8 x the scale of your own main tau prior, else from the studies' sizes); these are for sigma_u = 26 "
            "days.",
            "#   See the README, \"The outcome's scale unit\".",
        ]
    lines.append("")
    lines.append("# One table per outcome of the outcomes file. thresholds: values at which P(effect beyond threshold) "
                 "is")
    lines.append(f"# reported (reported scale: ratios for {'/'.join(RATIO_MEASURES)}); mcid: the minimal clinically "
                 "important effect.")
    for name in names:
        m = measures[name]
        benefit, note = _benefit_guess(m)
        null = null_value(m)
        if name in mcid:
            benefit = "below" if mcid[name] < null else "above"
            note = f"the side of {null:g} where your MCID lies"
        printed = published_estimates(published_table, name, m)
        with_printed = list(dict.fromkeys([null, *printed]))
        lines += [
            f"[outcomes.{_toml_key(name)}]",
            f"label = {_toml_string(name)}   # CHECK: the outcome in the paper's words",
            f"measure = {_toml_string(m)}   # {MEASURE_INFO[m].label}, as in the outcomes file",
            f"benefit = {_toml_string(benefit)}   # CHECK: {note}",
        ]
        if name in mcid:
            # with an MCID the clinically important benefit is the MCID's, so the paper's estimate can join in
            thresholds = list(dict.fromkeys([*with_printed, mcid[name]]))
            sources = ["the null"] + (["the paper's pooled estimate" + ("s" if len(printed) > 1 else "")]
                                      if printed else []) + ["your MCID"]
            lines += [
                f"thresholds = [{', '.join(_number(t) for t in thresholds)}]   # {_and(sources)}; CHECK: add the "
                "clinical thresholds the paper or its field uses (reported scale)",
                f"mcid = {_number(mcid[name])}   # the minimal clinically important effect you gave "
                "(bayesmeta init --mcid)",
            ]
        else:
            lines.append(f"thresholds = [{_number(null)}]   # the null; CHECK: add the clinical thresholds the paper "
                         "or its field uses (reported scale)")
            if printed:
                lines.append(
                    f"# thresholds = [{', '.join(_number(t) for t in with_printed)}]   # with the paper's pooled "
                    f"estimate{'s' if len(printed) > 1 else ''}: P(effect beyond what the paper reported). Without "
                    "an mcid the report reads the most demanding threshold as the clinically important benefit, so "
                    "use this line once the mcid below is set")
            lines.append(f"# mcid = ...   # CHECK: the minimal clinically important effect, on the benefit side of "
                         f"{null:g} ({'a ratio' if is_ratio(m) else 'in the outcome units'}); it adds a threshold, "
                         "the futility rule and a simulated truth. None is guessed here: give it here or with "
                         "`bayesmeta init --mcid`")
        lines += _likelihood_line(rows[rows["outcome"] == name], m)
        lines += strata_lines(rows[rows["outcome"] == name], name, published_table)
        lines += published_formula_lines(published_table, name, tuple(source.columns))
        lines.append("")
    if covariates:
        lines.append("# Study-level columns found in the data, offered for meta-regression; CHECK which the paper used.")
        lines.append("[covariates]")
        lines.append("columns = [" + ", ".join(_toml_string(c.column) for c in covariates) + "]")
        lines.append("min_per_level = 2")
        named = [c.column for c in covariates if re.fullmatch(r"[A-Za-z_.][\w.]*", c.column)]  # formula names
        if named:
            lines.append("# formula = " + _toml_string(" + ".join(named[:2]))
                         + "   # CHECK: one multiple meta-regression per outcome, as `fit --formula` reads it")
        factors = [c for c in covariates if c.levels is not None]
        if factors:
            lines.append("levels = { " + ", ".join(
                f"{_toml_key(c.column)} = [" + ", ".join(_toml_string(v) for v in c.levels) + "]"
                for c in factors) + " }")
        lines.append("")
    by_year = has_year and not no_year
    lines += ["# Sequential monitoring: studies are added " + ("by year" if by_year else "in the order of the file")
              + "."]
    if no_year:
        shown = ", ".join(no_year[:10]) + (f" and {len(no_year) - 10} more" if len(no_year) > 10 else "")
        lines.append(f"# CHECK: no year (blank or not a number) in {len(no_year)} row(s): {shown}; "
                     "fill them in to add the studies by year (order = \"year\").")
    lines += [
        "[monitoring]",
        f"order = {_toml_string('year' if by_year else 'file')}",
        "benefit_probability = 0.975",
        "futility_probability = 0.10   # used once an outcome has an mcid",
        "simulations = 100",
        "",
        "# NUTS cross-check of the exact engine (skipped by `bayesmeta reanalyze --quick`).",
        "[mcmc]",
        "chains = 2",
        "draws = 2500",
        "tune = 1000",
        "",
        "# Publication bias and model averaging (Bayesian): outcomes with at least min_k studies; ensemble",
        "# \"pet-peese\" (fast), \"metabma\" (no bias component) or \"psma\" (RoBMA-PSMA, seconds per outcome).",
        "[bias]",
        "enabled = true",
        "min_k = 10",
        "ensemble = \"pet-peese\"",
        "",
    ]
    first = _toml_string(names[0])
    subgroup_outcomes = [] if published_table is None else list(dict.fromkeys(
        published_table.loc[published_table["analysis"] == "subgroup", "outcome"]))
    if subgroup_outcomes:
        lines += [
            "# Subgroups from the published subgroup rows (analysis \"subgroup\" of the published file): partial",
            "# pooling across each characteristic's levels under every prior set, and each level alone.",
            "# [subgroups]",
            "# outcomes = [" + ", ".join(_toml_string(o) for o in subgroup_outcomes if o in names) + "]",
            "# unpooled_prior = \"flat\"   # or \"normal(mean, sd)\"",
            "",
        ]
    lines += [
        "# Trial-level surrogacy (NUTS; not in a quick run): [surrogate, final] pairs of outcomes, the within-study",
        "# correlation of their effects (a value, or [lower, upper] for a uniform prior).",
        "# [surrogacy]",
        "# pairs = [[\"ORR\", \"OS\"]]",
        "# within = 0.0",
        "",
        "# The paper's conclusions, tested: one [[claims]] table per claim of the abstract (and highlights), the",
        "# sentence as printed. kind: pooled, subgroup (characteristic, level; no level: every level, less",
        "# exclude = [[characteristic, level], ...]), contrast (characteristic, level, reference), estimate (a published",
        "# row: analysis, variable, level), surrogacy (surrogate; outcome is the final one), sequential (an outcome",
        "# with [tsa]), bias, or other (reason: why the data cannot test it). asserts: benefit, important_benefit",
        "# (beyond the outcome's mcid), no_benefit (not beyond it) or harm. The README gives the verdict rule.",
        "# [[claims]]",
        "# id = \"main\"",
        "# text = \"...\"   # CHECK: the sentence as printed",
        "# where = \"Abstract\"",
        "# kind = \"pooled\"",
        f"# outcome = {first}",
        f"# published = \"{_published_example(measures[names[0]])}\"   # the number as printed",
        "",
    ]
    return "\n".join(lines)
