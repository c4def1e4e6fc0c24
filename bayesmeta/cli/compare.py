"""`bayesmeta compare`: the paper's published pooled results beside those recomputed from the available data."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Annotated

import typer

from bayesmeta.cli import app
from bayesmeta.cli.options import (
    DEFAULT_ADD,
    AddOption,
    Drop00Option,
    ToOption,
    VType,
    ZeroCellsTo,
    json_text,
    zero_cell_rule,
)


NO_PLAN = "- (needs a plan's priors: --plan)"
"""The Bayesian cell of a pooled row without a plan: the report's priors are the plan's main prior set."""


def _missing(x: object) -> bool:
    import pandas as pd

    return x is None or (not isinstance(x, str) and bool(pd.isna(x)))


def _num(x: object, digits: int = 2) -> str:
    if _missing(x):
        return "-"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def _ci(est: object, lo: object, hi: object) -> str:
    """'0.52 [0.48, 0.58]'; the estimate alone where no interval was printed."""
    if _missing(est):
        return "-"
    return f"{est:.2f}" if _missing(lo) or _missing(hi) else f"{est:.2f} [{lo:.2f}, {hi:.2f}]"


def _coefficient(est: object, lo: object, hi: object) -> str:
    """A meta-regression coefficient with its CI (3 significant digits), before its p; '' for a p-value row."""
    if _missing(est):
        return ""
    return f"{est:.3g} [{lo:.3g}, {hi:.3g}], " if not _missing(lo) and not _missing(hi) else f"{est:.3g}, "


def _formula_term(r: dict) -> str:
    """A published coefficient of a multiple meta-regression: 'imag[yes] vs no in grade + imag'."""
    name = f"{r['variable']}[{r['level']}]" if r.get("level") else r["variable"]
    return name + (f" vs {r['reference']}" if r.get("reference") else "") + f" in {r['formula']}"


@app.command("compare")
def compare_command(
    ctx: typer.Context,
    published: Annotated[str | None, typer.Argument(
        help="the paper's published results (CSV, the README's format; default: the plan's data.published)")] = None,
    outcomes: Annotated[str | None, typer.Option(help="outcomes CSV of the studies (default: the plan's)")] = None,
    studies: Annotated[str | None, typer.Option(help="studies CSV with the covariates (default: the plan's)")] = None,
    plan: Annotated[str | None, typer.Option(help="a plan TOML: its data files, pooling and named subsets")] = None,
    pooling: Annotated[str | None, typer.Option(help="how the paper pooled: I2_rule, FE, DL, REML, PM, ML "
                                                     "(default: the plan's, else DL)")] = None,
    vtype: Annotated[VType | None, typer.Option(
        "--vtype", help="variance of an MD from means and SDs for every outcome: LS (per-arm SDs) or HO (the pooled "
                        "SD), as metafor escalc's vtype (default: the plan's outcomes.<name>.vtype, else LS)")] = None,
    add: AddOption = DEFAULT_ADD,
    to: ToOption = ZeroCellsTo.only0,
    drop00: Drop00Option = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object with the tables")] = False,
) -> None:
    """Published pooled estimates, meta-regression and subgroup p-values and correlations between outcomes
    against the recomputation from the available studies (each published row with its own pooling; REML in the
    JSON), and the internal consistency of every printed ratio with its CI and p-value. Zero cells of arm counts
    follow --add, --to and --drop00 when any is given (for every outcome), else the plan's
    outcomes.<name>.zero_cells, else escalc's defaults (add 0.5 to studies with a zero cell)."""
    from bayesmeta.compare import (
        compare_correlations,
        compare_metaregression,
        compare_pooled,
        compare_subgroups,
        records,
    )
    from bayesmeta.consistency import check_published
    from bayesmeta.data import load_outcomes, load_published, load_studies
    from bayesmeta.effects import derive_effects
    from bayesmeta.errors import InputError
    from bayesmeta.plan import load_plan
    from bayesmeta.strata import compare_subgroup_rows, plan_strata, strata_as_columns

    chosen = load_plan(plan) if plan is not None else None
    zero_rule = None
    if any(ctx.get_parameter_source(name).name == "COMMANDLINE" for name in ("add", "to", "drop00")):
        zero_rule = zero_cell_rule(add, to, drop00)
        if chosen is not None:  # the plan's analyses (Bayesian cells, interactions) read the same counts
            chosen = replace(chosen, outcomes=tuple(replace(o, zero_cells=zero_rule) for o in chosen.outcomes))
    published = published or (str(chosen.published) if chosen and chosen.published else None)
    if published is None:
        raise InputError("no published results given",
                         valid="a PUBLISHED.csv argument, or --plan PLAN.toml whose [data] names published")
    outcomes_file = outcomes or (str(chosen.outcomes_file) if chosen else None)
    if outcomes_file is None:
        raise InputError("no outcomes table given", valid="--outcomes FILE, or --plan PLAN.toml")
    studies_file = studies or (str(chosen.studies) if chosen and chosen.studies else None)
    levels = chosen.covariate_levels if chosen else None
    study_table = load_studies(studies_file, levels) if studies_file else None
    rows = load_outcomes(outcomes_file, studies=study_table)
    vtypes = vtype.value if vtype else {o.name: o.vtype for o in chosen.outcomes} if chosen else "LS"
    zero_cells = {o.name: o.zero_cells for o in chosen.outcomes} if chosen else zero_rule or {}
    effects = derive_effects(rows, study_table, vtypes=vtypes, zero_cells=zero_cells)
    effects = effects[effects["usable"]].reset_index(drop=True)
    table = load_published(published)
    rule = pooling or (chosen.pooling if chosen else "DL")
    pooled = compare_pooled(effects, table, rule)
    metareg = compare_metaregression(effects, table)
    subgroups = compare_subgroups(strata_as_columns(effects, table, plan_strata(chosen)), table)
    correlations = compare_correlations(effects, table, chosen.subsets if chosen else None)
    subgroup_rows, subgroup_tests = compare_subgroup_rows(effects, table, rule, plan_strata(chosen),
                                                          chosen.level if chosen else 0.95)
    consistency = check_published(published)
    interactions = []
    if chosen is not None:  # the report's Bayesian cells and within-trial interactions, from the plan's priors
        from bayesmeta.reanalysis.compare_plan import (
            plan_analyses,
            pooled_bayesian_columns,
            subgroup_bayesian_columns,
        )
        from bayesmeta.reanalysis.interactions import strata_interactions

        analyses, oriented = plan_analyses(chosen, rows, study_table, vtypes)
        pooled = pooled_bayesian_columns(chosen, analyses, pooled)
        subgroup_rows = subgroup_bayesian_columns(chosen, analyses, oriented, table, subgroup_rows)
        interactions = strata_interactions(replace(chosen, pooling=rule), analyses, table, oriented)
    else:
        pooled = pooled.assign(bayesian=NO_PLAN, bayesian_value=None, bayesian_statement="")
        subgroup_rows = subgroup_rows.assign(bayesian=NO_PLAN, bayesian_value=None, bayesian_statement="")
    if as_json:
        from bayesmeta.reanalysis.result import to_json

        out = {
            "pooled": records(pooled),
            "meta_regression": records(metareg),
            "subgroups": records(subgroups),
            "correlations": records(correlations),
            "subgroup_rows": records(subgroup_rows),
            "subgroup_tests": records(subgroup_tests),
            "subgroup_interactions": [to_json(i.as_dict()) for i in interactions],  # as summary.json's
            "consistency": records(consistency),
        }
        typer.echo(json_text(out, indent=None))
        return
    from rich.console import Console
    from rich.table import Table
    from bayesmeta.printing import print_table

    # piped output gets a fixed width wide enough for the tables (rich assumes 80 columns off a terminal)
    console = Console() if sys.stdout.isatty() else Console(width=160)
    table = Table(title="Pooled results: published vs recomputed from the available studies")
    for column in (
        "outcome",
        "k used/published",
        "published [95% CI]",
        "I^2 pub",
        "paper rule [95% CI]",
        "I^2",
        "status",
        *(("bayesian",) if chosen is not None else ()),
    ):
        table.add_column(column)
    for r in records(pooled):
        table.add_row(
            r["outcome"],
            f"{r['k_used']}/{_num(r['k_published'])}",
            _ci(r["published_estimate"], r["published_ci_lower"], r["published_ci_upper"]),
            _num(r["published_i2"], 0),
            _ci(r["rule_estimate"], r["rule_ci_lower"], r["rule_ci_upper"])
            + (f" {r['rule_model']}" if r["rule_model"] else ""),
            _num(r["i2"], 0),
            r["status"],
            *((r["bayesian"],) if chosen is not None else ()),
        )
    print_table(table, console)
    if chosen is None and records(pooled):
        console.print("bayesian: needs a plan's priors (--plan PLAN.toml): the report's Bayesian cells use the "
                      "plan's main prior set", soft_wrap=True, markup=False)
    for r in records(pooled):
        console.print(f"{r['outcome']}: {r['note']}", soft_wrap=True)
    for title, frame in (("Meta-regression coefficients and p-values", metareg),
                         ("Subgroup-difference p-values", subgroups)):
        if not records(frame):
            continue  # the paper published none
        t = Table(title=f"{title}: published vs recomputed")
        for column in ("outcome", "variable", "k", "levels", "published", "recomputed", "status"):
            t.add_column(column)
        for r in records(frame):
            t.add_row(
                r["outcome"],
                _formula_term(r) if r.get("formula") else
                r["variable"] + (f" {r['level']} vs {r['reference']}" if r.get("reference") else "")
                + (" (omnibus)" if r.get("kind") == "omnibus" else ""),
                str(r["k_used"]),
                r["levels"],
                _coefficient(r.get("published_estimate"), r.get("published_ci_lower"), r.get("published_ci_upper"))
                + ("" if r["published_p"] is None else
                   f"p {'<' if r['published_p_relation'] == '<' else '='} {r['published_p']:g}"),
                "-" if r["p"] is None else _coefficient(r.get("estimate"), r.get("ci_lower"), r.get("ci_upper"))
                + f"p {r['p']:.3g} ({r['method']})",
                r["status"],
            )
        print_table(t, console)
        for r in records(frame):  # why a published multiple meta-regression coefficient was not recomputed
            if r.get("formula") and r["status"] == "not estimable":
                console.print(f"{r['outcome']}, {_formula_term(r)}: {r['note']}", soft_wrap=True, markup=False)
    _print_subgroup_rows(console, subgroup_rows, subgroup_tests, bayesian=chosen is not None)
    _print_interactions(console, interactions)
    t = Table(title="Spearman correlations of study effects: published vs recomputed")
    for column in ("pair", "subset", "n used/published", "published", "recomputed", "status"):
        t.add_column(column)
    for r in records(correlations):
        published_p = "" if r["published_p"] is None else (
            f", p {'<' if r['published_p_relation'] == '<' else '='} {r['published_p']:g}"
        )
        t.add_row(
            r["pair"],
            r["subset"],
            f"{r['n_used']}/{_num(r['n_published'])}",
            f"rho {r['published_r']:.2f}{published_p}",
            "-" if r["r"] is None else f"rho {r['r']:.2f}, p {r['p']:.3g}",
            r["status"],
        )
    if records(correlations):
        print_table(t, console)
    for r in records(correlations):
        console.print(f"{r['pair']} ({r['subset']}): {r['note']}", soft_wrap=True)


def _print_subgroup_rows(console: object, rows: object, tests: object, bayesian: bool = False) -> None:
    """Every published subgroup row: recomputed from the studies of its level (a study-level column, or the
    plan's within-trial strata), with the report's Bayesian cell when a plan gives the priors (``bayesian``), or
    listed with the reason it is not."""
    from rich.table import Table

    from bayesmeta.compare import records
    from bayesmeta.printing import print_table

    done = [r for r in records(rows) if r["status"] != "not recomputed"]
    unreached: dict[tuple[str, str, str], list[str]] = {}
    for r in records(rows):
        if r["status"] == "not recomputed":
            unreached.setdefault((r["outcome"], r["variable"], r["note"]), []).append(r["level"])
    for (outcome, variable, note), levels in unreached.items():
        console.print(f"{outcome}, {variable} ({', '.join(levels)}): published subgroup rows not recomputed: {note}",
                      soft_wrap=True)
    if not done:
        return
    t = Table(title="Published subgroup rows: published vs recomputed from the studies of each level")
    for column in ("outcome", "subgroup", "k used/published", "published [95% CI]", "recomputed [95% CI]", "status",
                   *(("bayesian",) if bayesian else ())):
        t.add_column(column)
    for r in done:
        t.add_row(r["outcome"], f"{r['variable']} = {r['level']}", f"{r['k_used']}/{_num(r['k_published'])}",
                  _ci(r["published_estimate"], r["published_ci_lower"], r["published_ci_upper"]),
                  _ci(r["rule_estimate"], r["rule_ci_lower"], r["rule_ci_upper"])
                  + (f" {r['rule_model']}" if r["rule_model"] else ""), r["status"],
                  *((r["bayesian"],) if bayesian else ()))
    print_table(t, console)
    for r in done:
        console.print(f"{r['outcome']}, {r['variable']} = {r['level']}: {r['note']}", soft_wrap=True)
    for r in records(tests):
        console.print(f"{r['outcome']}, {r['variable']}: test for subgroup differences ({r['method']}, "
                      f"{r['source']}): Q_between = {r['q_between']:.2f} on {r['df_between']} df, "
                      f"p = {r['p_between']:.3g}", soft_wrap=True)


def _print_interactions(console: object, interactions: list) -> None:
    """The declared strata's within-trial interactions (summary.json ``subgroup_interactions``): each level
    against the reference level, pooled over the trials with both by common effect and REML, and the trials that
    do not contribute."""
    from rich.table import Table

    from bayesmeta.printing import print_table
    from bayesmeta.scales import is_ratio

    if not interactions:
        return
    joint = any(i.joint is not None for i in interactions)
    t = Table(title="Within-trial interactions (each trial's own strata compared, then pooled)")
    for column in ("outcome", "interaction", "trials", "common effect [95% CI], p", "REML [95% CI], p, tau^2",
                   *(("all levels jointly, common effect [95% CI], p; joint test",) if joint else ()),
                   "not contributing (pairwise)" if joint else "not contributing"):
        t.add_column(column)
    for i in interactions:
        what = "ratio of ratios" if is_ratio(i.measure) else "difference"
        pooled = ["-" if p is None else
                  f"{_ci(p.reported['estimate'], p.reported['ci_lower'], p.reported['ci_upper'])}, p {p.pval:.3g}"
                  for p in (i.common, i.random)]
        if i.random is not None:
            pooled[1] += f", tau^2 {i.random.tau2:.3g}"
        if joint:
            j = i.joint
            pooled.append("-" if j is None else
                          f"{_ci(j['reported']['estimate'], j['reported']['ci_lower'], j['reported']['ci_upper'])}, "
                          f"p {j['pval']:.3g}; Q {j['qm']:.3g} on {j['qm_df']} df, p {j['qm_p']:.3g} "
                          f"({j['k']} trials)")
        t.add_row(i.outcome, f"{i.variable} {i.level} / {i.reference} ({what})", str(i.k), *pooled,
                  "; ".join(f"{trial} ({why})" for trial, why in i.not_contributing.items()) or "-")
    print_table(t, console)
