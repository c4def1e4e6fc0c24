"""`bayesmeta frequentist`: common- or random-effects meta-analysis of a CSV, as R metafor ``rma`` computes it."""

from __future__ import annotations

import dataclasses
import math
from enum import Enum
from typing import Annotated, Any

import typer

from bayesmeta.cli import app
from bayesmeta.benefit import Benefit
from bayesmeta.cli.options import (
    DEFAULT_ADD,
    AddOption,
    BenefitOption,
    DataArgument,
    Drop00Option,
    FiguresOption,
    FormulaOption,
    JsonOption,
    LevelOption,
    MeasureOption,
    OutcomeOption,
    ToOption,
    VType,
    VTypeOption,
    ZeroCellsTo,
    dropped_studies,
    json_text,
    measure_value,
    read_table,
    zero_cell_rule,
)
from bayesmeta.errors import InputError


class Method(str, Enum):
    FE = "FE"
    DL = "DL"
    REML = "REML"
    PM = "PM"
    ML = "ML"
    MH = "MH"


def _exp(x: float | None) -> float | None:
    """exp(x) on the ratio scale, None where there is no value or it exceeds double precision (never inf)."""
    if x is None or not math.isfinite(x) or x > 709.0:
        return None
    return math.exp(x)


def _reported(result: dict[str, Any], measure: str) -> dict[str, float | None]:
    """Estimate, CI and prediction interval on the reported scale (exp for ratios, guarded against overflow)."""
    from bayesmeta.scales import is_ratio

    keys = ("estimate", "ci_lower", "ci_upper", "pi_lower", "pi_upper")
    if is_ratio(measure):
        return {k: _exp(result[k]) for k in keys}
    return {k: result[k] for k in keys}


def _fmt(x: float | None, digits: int = 4) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.{digits}f}" if abs(x) < 1e6 else f"{x:.{digits}e}"


def _p(x: float | None) -> str:
    return "-" if x is None else (f"{x:.4f}" if x >= 1e-4 else f"{x:.2e}")


@app.command("frequentist")
def frequentist_command(
    data: DataArgument,
    outcome: OutcomeOption = None,
    vtype: VTypeOption = VType.LS,
    add: AddOption = DEFAULT_ADD,
    to: ToOption = ZeroCellsTo.only0,
    drop00: Drop00Option = None,
    method: Annotated[Method, typer.Option(
        help="tau^2 estimator (FE: common effect; MH: Mantel-Haenszel common effect from arm counts, RR or OR, as "
             "metafor's rma.mh)")] = Method.REML,
    hksj: Annotated[bool, typer.Option("--hksj", help="Knapp-Hartung (HKSJ) t-based inference")] = False,
    measure: MeasureOption = None,
    level: LevelOption = 0.95,
    bias: Annotated[bool, typer.Option("--bias", help="add publication-bias analyses as metafor computes them: "
                                       "Egger, Begg's rank test, trim-and-fill, PET-PEESE and a step-function "
                                       "selection model")] = False,
    steps: Annotated[str | None, typer.Option("--steps", help="one-sided p-value cut-offs of the selection model "
                                              "(with --bias), comma-separated, e.g. 0.025,0.05,0.5; default 0.025; "
                                              "p-values are one-sided towards --benefit")] = None,
    leave_one_out: Annotated[bool, typer.Option("--leave-one-out", help="refit without each study in turn "
                                                "(metafor leave1out)")] = False,
    cumulative: Annotated[bool, typer.Option("--cumulative", help="refit as the studies are added one by one "
                                             "(metafor cumul), in --order")] = False,
    order: Annotated[str | None, typer.Option("--order", help="column the studies are added in by --cumulative "
                                              "(a stable sort; default: year when the file has it, else the "
                                              "file's order)")] = None,
    formula: FormulaOption = None,
    subgroup: Annotated[str | None, typer.Option(
        "--subgroup", help="a study-level column: the pooled effect per level, the test of subgroup differences of "
                           "the separate fits (RevMan's) and the moderator test of mods = ~ factor(COLUMN)")] = None,
    within_trial: Annotated[bool, typer.Option(
        "--within-trial", help="with --subgroup, the rows are strata of trials (a row per trial and level; a "
                               "trial's rows share its 'trial' column, else its study label up to a trailing "
                               "'(...)'): also each level's within-trial interaction against the most frequent "
                               "level, pooled with --method (Fisher et al. 2017)")] = False,
    benefit: BenefitOption = Benefit.BELOW,
    figures: FiguresOption = None,
    as_json: JsonOption = False,
    fisher: Annotated[bool, typer.Option("--fisher-scoring", help="ML/REML tau^2 by metafor's default Fisher "
                                         "scoring (stops when tau^2 changes by < 1e-5), to match a default rma() "
                                         "output; default: the exact root, as rma() with a tight threshold")] = False,
) -> None:
    """Pool the studies with metafor's conventions: estimate, CI, tau^2, I^2, H^2, Q and the prediction interval,
    with Q-profile intervals of tau^2, tau, I^2 and H^2 (random effects); a meta-regression with --formula;
    leave-one-out and cumulative refits; subgroups; with --bias also the publication-bias analyses (and with
    --figures DIR their funnel plot, funnel.png)."""
    from bayesmeta.frequentist import heterogeneity_ci, publication_bias, rma
    from bayesmeta.frequentist.publication_bias import DEFAULT_STEPS

    if steps is not None and not bias:
        raise InputError("--steps sets the selection model of --bias; add --bias", column="--steps")
    if figures is not None and not bias:
        raise InputError("--figures writes the funnel plot of --bias; add --bias", column="--figures")
    if order is not None and not cumulative:
        raise InputError("--order sets the order of --cumulative; add --cumulative", column="--order")
    cutoffs = DEFAULT_STEPS if steps is None else parse_steps(steps)
    table = read_table(data, measure_value(measure), benefit, outcome=outcome, vtype=vtype,
                       zero_cells=zero_cell_rule(add, to, drop00), counts_pooled=method is Method.MH)
    if method is Method.MH:
        if leave_one_out or cumulative or formula or subgroup:
            raise InputError("--leave-one-out, --cumulative, --formula and --subgroup fit rma models; --method MH "
                             "pools the counts once", column="--method",
                             valid="--method FE, DL, REML, PM or ML with them")
        _mantel_haenszel(table, level, hksj, bias, as_json)
        return
    test = "knha" if hksj else "z"
    if formula and (leave_one_out or cumulative or bias):
        raise InputError("--leave-one-out, --cumulative and --bias refit the model without moderators",
                         column="--formula", valid="--formula alone, or those options without it")
    mods, names = _moderators(table, formula)
    fit = rma(table, method=method.value, test=test, level=level, mods=mods, mod_names=names,
              solver="fisher" if fisher else "root")
    out = {"source": table.source, "measure": table.measure, "study": list(table.study), **fit.as_dict(),
           "dropped": dropped_studies(table)}
    if outcome is not None:
        out["outcome"] = outcome
    if formula:
        out["formula"] = formula
        out["coefficients"][0]["name"] = "mu"
    if within_trial and subgroup is None:
        raise InputError("--within-trial pairs the levels of --subgroup within trials; add --subgroup",
                         column="--within-trial")
    subgroups = None
    if subgroup is not None:
        subgroups = _subgroups(table, subgroup, method.value, test, level)
        if within_trial:
            subgroups["within_trial"] = _within_trial(table, subgroup, method.value, test, level)
        out["subgroup"] = subgroups
    ratio = table.is_ratio
    if ratio:
        out["reported"] = _reported(out, table.measure)
    heterogeneity = None
    if fit.method != "FE" and fit.q_df >= 1:
        heterogeneity = heterogeneity_ci(table, fit.tau2, level=level, mods=mods, mod_names=names)
        out["heterogeneity"] = heterogeneity.as_dict()
    refits = []
    if leave_one_out:
        from bayesmeta.frequentist import leave_one_out as loo

        rows = loo(table, method=method.value, test=test, level=level)
        refits.append(("omitted", "Leave one out", rows))
        out["leave_one_out"] = _refit_records(rows, table.measure)
    if cumulative:
        from bayesmeta.frequentist import cumulative as cumul

        column, key = _cumulative_order(table, order)
        rows = cumul(table, order=key, method=method.value, test=test, level=level)
        refits.append(("added", f"Cumulative, by {column}", rows))
        out["cumulative"] = {"order": column, "rows": _refit_records(rows, table.measure)}
    pb = None
    if bias:
        pb = publication_bias(table, method=method.value, test=test, level=level, steps=cutoffs, benefit=benefit)
        out["bias"] = _bias_dict(pb, table.measure)
        if figures is not None:
            _write_funnel(figures, table, fit, pb, level)
    if as_json:
        typer.echo(json_text(out, indent=None))
        return
    _print_tables(table, fit, out, ratio)
    if fit.has_moderators:
        _print_coefficients(out, fit, table.measure)
    if heterogeneity is not None:
        _print_heterogeneity(heterogeneity)
    for index, title, rows in refits:
        _print_refits(rows, index, title, fit, table.measure)
    if subgroups is not None:
        _print_subgroups(subgroups, table.measure, fit.level)
    if pb is not None:
        _print_bias(pb, table.measure, level)


def _mantel_haenszel(table, level: float, hksj: bool, bias: bool, as_json: bool) -> None:
    """The Mantel-Haenszel pooled RR or OR of the arm counts (:func:`bayesmeta.frequentist.mantel_haenszel`)."""
    from rich.console import Console
    from rich.table import Table
    from bayesmeta.printing import print_table

    from bayesmeta.frequentist import mantel_haenszel
    from bayesmeta.frequentist.mantel_haenszel import MEASURES

    if hksj or bias:
        raise InputError(f"--method MH is a common-effect model: {'--hksj' if hksj else '--bias'} needs a tau^2 "
                         "estimator", column="--method", valid="--method FE, DL, REML, PM or ML with it")
    if table.counts is None or table.measure not in MEASURES:
        raise InputError(f"--method MH pools arm counts as RR or OR; {table.source} gives "
                         f"{'no arm counts' if table.counts is None else table.measure}", column="--method",
                         valid="arm counts (events_treatment, total_treatment, events_control, total_control) "
                               f"with --measure {' or '.join(MEASURES)}")
    fit = mantel_haenszel(table, level=level)
    # every study's counts are pooled, those without a log ratio too
    out = {"source": table.source, "measure": table.measure, "study": [str(s) for s in table.counts.index],
           "method": "MH", **fit.as_dict(), "dropped": []}
    out["reported"] = _ratio_keys(out, table.measure)
    if as_json:
        typer.echo(json_text(out, indent=None))
        return
    pct = f"{100 * level:g}%"
    t = Table(title=f"Mantel-Haenszel common-effect model ({fit.k} studies; {table.measure} [{pct} CI])")
    for column in ("estimate", "ci", "z", "p", "Q (df)", "Q p", "I^2", "H^2"):
        t.add_column(column, justify="right")
    r = out["reported"]
    t.add_row(_fmt(r["estimate"], 4), f"[{_fmt(r['ci_lower'], 4)}, {_fmt(r['ci_upper'], 4)}]", _fmt(fit.zval, 3),
              _p(fit.pval), f"{_fmt(fit.q, 3)} ({fit.q_df})", _p(fit.q_p), f"{fit.i2:.1f}%", _fmt(fit.h2, 3))
    print_table(t)
    if fit.cmh is not None:
        typer.echo(f"Cochran-Mantel-Haenszel test (continuity corrected): {fit.cmh:.4f}, p = {_p(fit.cmh_p)}")


def _write_funnel(folder: str, table, fit, pb, level: float) -> None:
    """funnel.png: the studies, trim-and-fill's filled studies and the PET and PEESE lines."""
    from pathlib import Path

    import numpy as np

    from bayesmeta.plots.funnel import plot_funnel
    from bayesmeta.plots.saving import save_png

    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    tf, pp = pb.trimfill, pb.pet_peese
    fig = plot_funnel(table.yi, table.sei, pooled=fit.estimate, labels=list(table.study), measure=table.measure,
                      level=level, pet=tuple(c.estimate for c in pp.pet.coefficients),
                      peese=tuple(c.estimate for c in pp.peese.coefficients), filled_yi=tf.filled_yi,
                      filled_sei=np.sqrt(tf.filled_vi),
                      notes=[f"Egger p = {pb.egger.pval:.3f}", f"Begg p = {pb.rank_test.pval:.3f}",
                             f"trim-and-fill k0 = {tf.k0} ({tf.side})"])
    save_png(fig, target / "funnel.png", 150)


def parse_steps(text: str) -> tuple[float, ...]:
    """'0.025,0.05,0.5' -> (0.025, 0.05, 0.5); each cut-off must lie in (0, 1) (checked by the model)."""
    from bayesmeta.frequentist.selmodel import check_steps

    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise InputError(f"--steps {text!r} is not a comma-separated list of numbers", column="--steps",
                         valid="e.g. 0.025,0.05,0.5") from None
    return check_steps(values)[:-1]


def _ratio_keys(d: dict[str, Any], measure: str, keys=("estimate", "ci_lower", "ci_upper")) -> dict[str, Any]:
    from bayesmeta.scales import is_ratio

    return {k: (_exp(d[k]) if is_ratio(measure) else d[k]) for k in keys}


def _bias_dict(pb, measure: str) -> dict[str, Any]:
    """JSON of the publication-bias panel, with the pooled estimates also on the reported scale."""
    out = pb.as_dict()
    out["trimfill"]["reported"] = _ratio_keys(out["trimfill"]["fit"], measure)
    out["pet_peese"]["reported"] = _ratio_keys(out["pet_peese"], measure)
    out["selection_model"]["reported"] = _ratio_keys(out["selection_model"], measure)
    return out


def _print_bias(pb, measure: str, level: float) -> None:
    from rich.console import Console
    from rich.table import Table
    from bayesmeta.printing import print_table

    from bayesmeta.scales import is_ratio

    ratio = is_ratio(measure)
    show = _exp if ratio else (lambda x: x)
    scale = measure if ratio else "effect"

    def est(e, lo, hi) -> str:
        return f"{_fmt(show(e), 3)} [{_fmt(show(lo), 3)}, {_fmt(show(hi), 3)}]"

    pct = f"{100 * level:g}%"
    t = Table(title=f"Publication bias ({pb.k} studies; {scale} [{pct} CI] where pooled)")
    t.add_column("method")
    t.add_column("result", justify="right")
    t.add_column("p", justify="right")
    e = pb.egger
    t.add_row("Egger (intercept, se)", f"{e.intercept:.3f} ({e.se:.3f})", _p(e.pval))
    r = pb.rank_test
    t.add_row(f"Begg (Kendall tau, {'exact' if r.exact else 'normal'})",
              f"{r.tau:.3f}", _p(r.pval))
    tf = pb.trimfill
    k0_se = "-" if tf.k0_se is None else f"{tf.k0_se:.2f}"
    t.add_row(f"Trim-and-fill {tf.estimator}: k0 {tf.side} (se)", f"{tf.k0} ({k0_se})",
              "-" if tf.k0_pval is None else _p(tf.k0_pval))
    t.add_row(f"  filled {tf.fit.method}, k = {tf.fit.k}",
              est(tf.fit.estimate, tf.fit.ci_lower, tf.fit.ci_upper), _p(tf.fit.pval))
    pp = pb.pet_peese
    for name, fit in (("PET", pp.pet), ("PEESE", pp.peese)):
        c = fit.coefficients[0]
        t.add_row(f"{name} intercept" + (" (selected)" if pp.selected == name else ""),
                  est(c.estimate, c.ci_lower, c.ci_upper), _p(c.pval))
    s = pb.selection_model
    t.add_row(f"Selection model, p {s.alternative}: mu",
              "-" if s.ci_lower is None else est(s.estimate, s.ci_lower, s.ci_upper), _p(s.pval))
    t.add_row("  tau^2", _fmt(s.tau2), "")
    lows = (0.0,) + s.steps[:-1]
    for j, (d, se) in enumerate(zip(s.delta, s.delta_se)):
        label = f"  {lows[j]:g} < p <= {s.steps[j]:g}, k = {s.k_per_interval[j]}"
        t.add_row(label, f"{d:.3f}" + ("" if se is None else f" (se {se:.3f})"), "")
    t.add_row(f"  LRT, df {s.lrt_df}", f"{s.lrt:.3f}", _p(s.lrt_pval))
    print_table(t)
    if pb.below_min_k:
        from bayesmeta.asymmetry import few_studies_caveat

        Console(soft_wrap=True).print(f"warning: {few_studies_caveat(pb.k, pb.min_k)}")


def _print_tables(table, fit, out: dict[str, Any], ratio: bool) -> None:
    import numpy as np
    from rich.console import Console
    from rich.table import Table
    from bayesmeta.printing import print_table
    from scipy.special import ndtri

    console = Console()
    model = "common-effect" if fit.method == "FE" else f"random-effects ({fit.method})"
    test = "Knapp-Hartung t" if fit.test == "knha" else "z"
    pct = f"{100 * fit.level:g}%"

    weights = 1.0 / (table.vi + fit.tau2)
    studies = Table(title=f"{table.source}: {fit.k} studies, measure {table.measure}")
    studies.add_column("study")
    studies.add_column("yi", justify="right")
    studies.add_column("sei", justify="right")
    if ratio:
        studies.add_column(f"{table.measure} [{pct} CI]", justify="right")
    studies.add_column("weight %", justify="right")
    z = float(ndtri(1 - (1 - fit.level) / 2))
    for name, y, s, w in zip(table.study, table.yi, table.sei, weights / weights.sum()):
        row = [name, _fmt(y), _fmt(s)]
        if ratio:
            row.append(f"{_fmt(_exp(y), 2)} [{_fmt(_exp(y - z * s), 2)}, {_fmt(_exp(y + z * s), 2)}]")
        row.append(f"{100 * w:.1f}")
        studies.add_row(*row)
    print_table(studies, console)

    what = "Intercept (mu) of the meta-regression" if fit.has_moderators else "Pooled"
    summary = Table(title=f"{what} {model} estimate, {test} test")
    summary.add_column("quantity")
    summary.add_column("value", justify="right")
    if ratio:
        nat = out["reported"]
        summary.add_row(
            f"{table.measure} [{pct} CI]",
            f"{_fmt(nat['estimate'], 3)} [{_fmt(nat['ci_lower'], 3)}, {_fmt(nat['ci_upper'], 3)}]",
        )
        if not fit.has_moderators:
            summary.add_row(f"{pct} prediction interval",
                            f"[{_fmt(nat['pi_lower'], 3)}, {_fmt(nat['pi_upper'], 3)}]")
    summary.add_row("estimate (analysis scale)", f"{fit.estimate:.4f} (se {fit.se:.4f})")
    summary.add_row(f"{pct} CI (analysis scale)", f"[{fit.ci_lower:.4f}, {fit.ci_upper:.4f}]")
    if not ratio and not fit.has_moderators:
        summary.add_row(f"{pct} prediction interval", f"[{fit.pi_lower:.4f}, {fit.pi_upper:.4f}]")
    stat = "t" if fit.test == "knha" else "z"
    summary.add_row(f"{stat}, p", f"{fit.zval:.3f}, {_p(fit.pval)}")
    summary.add_row("tau^2", _fmt(fit.tau2) + ("" if fit.tau2_se is None else f" (se {fit.tau2_se:.4f})"))
    summary.add_row("I^2", f"{fit.i2:.1f}%")
    summary.add_row("H^2", f"{fit.h2:.2f}")
    summary.add_row(f"Q (df {fit.q_df}), p", f"{fit.q:.2f}, {_p(fit.q_p)}")
    print_table(summary, console)


def _print_heterogeneity(h) -> None:
    """tau^2, tau, I^2 and H^2 with their Q-profile intervals (metafor ``confint``)."""
    from rich.table import Table

    from bayesmeta.printing import print_table

    t = Table(title=f"Heterogeneity, Q-profile {100 * h.level:g}% CI (Viechtbauer 2007)")
    for column in ("quantity", "estimate", "ci_lower", "ci_upper"):
        t.add_column(column, justify="right" if column != "quantity" else "left")
    for label, (estimate, lower, upper) in (("tau^2", h.tau2), ("tau", h.tau), ("I^2 (%)", h.i2), ("H^2", h.h2)):
        t.add_row(label, _fmt(estimate), _fmt(lower), _fmt(upper))
    print_table(t)


def _cumulative_order(table, order: str | None):
    """The column ``--cumulative`` adds the studies in (default ``year`` when present) and its values; None for
    the file's order. A named column must exist and have a value for every study."""
    import pandas as pd

    covariates = table.covariates
    column = order if order is not None else ("year" if covariates is not None and "year" in covariates else None)
    if column is None:
        return "file order", None
    if covariates is None or column not in covariates.columns:
        raise InputError(f"no column '{column}' to order the studies by", file=table.source, column="--order",
                         valid=", ".join(covariates.columns) if covariates is not None and len(covariates.columns)
                         else "a study-level column of the file, e.g. year")
    values = covariates[column]
    if values.isna().any():
        study = values.index[values.isna()][0]
        raise InputError(f"study {study} has no value of '{column}' to order it by", file=table.source,
                         column=column, valid="a value for every study")
    if pd.api.types.is_numeric_dtype(values):
        return column, values.to_numpy(dtype=float)
    return column, values.astype(str).rank(method="dense").to_numpy()  # text: alphabetical order


def _refit_records(rows, measure: str) -> list[dict[str, Any]]:
    """One JSON record per refit (metafor's columns), with estimate and CI also on the reported scale."""
    from bayesmeta.frequentist.result import plain

    records = []
    for study, row in rows.iterrows():
        record = {"study": str(study), **{c: plain(row[c]) for c in rows.columns}}
        record["k"] = int(record["k"])
        record["reported"] = _ratio_keys(record, measure)
        records.append(record)
    return records


def _print_refits(rows, index: str, title: str, fit, measure: str) -> None:
    from rich.table import Table

    from bayesmeta.printing import print_table
    from bayesmeta.scales import is_ratio

    show = _exp if is_ratio(measure) else (lambda x: x)
    t = Table(title=f"{title} ({fit.method}; {measure} [{100 * fit.level:g}% CI])")
    for column in (index, "k", "estimate [CI]", "p", "tau^2", "I^2", "Q p"):
        t.add_column(column, justify="left" if column == index else "right")
    for study, r in rows.iterrows():
        t.add_row(str(study), str(int(r["k"])),
                  f"{_fmt(show(r['estimate']), 3)} [{_fmt(show(r['ci_lower']), 3)}, {_fmt(show(r['ci_upper']), 3)}]",
                  _p(r["pval"]), _fmt(r["tau2"]), f"{r['i2']:.1f}%", _p(r["q_p"]))
    print_table(t)


def _moderators(table, formula: str | None) -> tuple[Any, list[str] | None]:
    """The moderators of ``--formula`` (bayesmeta.formula, as fit codes them) without the intercept column, named
    beta[...] as the vocabulary has it; (None, None) without a formula."""
    if not formula:
        return None, None
    from bayesmeta.formula import build_design

    design = build_design(formula, table.covariates, file=table.source)
    if not design.intercept:
        raise InputError(f"the frequentist meta-regression keeps the intercept; {formula!r} drops it",
                         column="--formula", valid='a formula without "0 +" or "- 1"')
    return design.covariate_matrix, [f"beta[{n}]" for n in design.covariate_names]


def _subgroups(table, column: str, method: str, test: str, level: float) -> dict[str, Any]:
    """--subgroup: the separate fits per level with the test of subgroup differences
    (:func:`bayesmeta.frequentist.subgroup_analysis`) and the moderator test QM of mods = ~ factor(column)."""
    from bayesmeta.frequentist import rma, subgroup_analysis
    from bayesmeta.formula import build_design

    if table.covariates is None or column not in table.covariates.columns:
        raise InputError(f"no column '{column}' to form subgroups", file=table.source, column="--subgroup",
                         valid=", ".join(table.covariates.columns) if table.covariates is not None and
                         len(table.covariates.columns) else "a study-level column of the file")
    design = build_design(f"factor({column})", table.covariates, file=table.source)
    moderated = rma(table, method=method, test=test, level=level, mods=design.covariate_matrix,
                    mod_names=[f"beta[{n}]" for n in design.covariate_names])
    separate = subgroup_analysis(table, groups=column, method=method, test=test, level=level)
    groups = separate.as_dict()
    for record in groups["groups"].values():
        record["reported"] = _ratio_keys(record, table.measure)
    coefficients = [dataclasses.asdict(c) for c in moderated.coefficients]
    coefficients[0]["name"] = "mu"
    return {"column": column, "separate": groups,
            "moderator_test": {"qm": moderated.qm, "qm_df": moderated.qm_df, "qm_p": moderated.qm_p,
                               "test": "F" if test == "knha" else "chi2", "tau2": moderated.tau2,
                               "coefficients": coefficients}}


def _within_trial(table, column: str, method: str, test: str, level: float) -> list[dict[str, Any]]:
    """--within-trial: per level other than the reference (the most frequent), the trials' interactions
    d = y(level) - y(reference), v = v(level) + v(reference) (:func:`bayesmeta.interaction.pair_levels`) pooled
    with rma(d, v) under --method; trials without both levels in ``not_contributing``."""
    from bayesmeta.design import reference_level
    from bayesmeta.frequentist import rma
    from bayesmeta.interaction import pair_levels

    rows = table.to_frame().reset_index().rename(columns={"study": "study_id"})
    labels = rows[column].astype(str).str.strip()
    reference = reference_level(labels)
    out = []
    for lv in dict.fromkeys(labels):
        if lv.casefold() == reference.casefold():
            continue
        trials, d, v, missing = pair_levels(rows, column, lv, reference)
        rec: dict[str, Any] = {"level": lv, "reference": reference, "trials": trials, "d": d, "v": v,
                               "not_contributing": missing, "fit": None, "reported": None}
        if d:
            fit = rma(d, v, method=method, test=test, level=level)
            rec["fit"] = {k: x for k, x in fit.as_dict().items() if k in (
                "k", "method", "test", "estimate", "se", "zval", "pval", "ci_lower", "ci_upper", "tau2", "q", "q_p")}
            rec["reported"] = _ratio_keys(rec["fit"], table.measure)
        out.append(rec)
    return out


def _print_coefficients(out: dict[str, Any], fit, measure: str) -> None:
    from rich.table import Table

    from bayesmeta.printing import print_table

    stat = "t" if fit.test == "knha" else "z"
    t = Table(title=f"Meta-regression {out['formula']!r} ({fit.method}; analysis scale of {measure})")
    for column in ("coefficient", "estimate", "se", stat, "p", f"{100 * fit.level:g}% CI"):
        t.add_column(column, justify="left" if column == "coefficient" else "right")
    for c in out["coefficients"]:
        t.add_row(c["name"], _fmt(c["estimate"]), _fmt(c["se"]), _fmt(c["stat"], 3), _p(c["pval"]),
                  f"[{_fmt(c['ci_lower'])}, {_fmt(c['ci_upper'])}]")
    print_table(t)
    kind = f"F({fit.qm_df}, {fit.df})" if fit.test == "knha" else f"QM (df {fit.qm_df})"
    typer.echo(f"Test of moderators: {kind} = {fit.qm:.4f}, p = {_p(fit.qm_p)}; residual heterogeneity QE (df "
               f"{fit.q_df}) = {fit.q:.4f}, p = {_p(fit.q_p)}; R^2 = {fit.r2:.2f}%")


def _print_subgroups(sub: dict[str, Any], measure: str, level: float) -> None:
    from rich.table import Table

    from bayesmeta.printing import print_table
    from bayesmeta.scales import is_ratio

    sep = sub["separate"]
    scale = measure if is_ratio(measure) else "effect"
    t = Table(title=f"Subgroups by {sub['column']} (separate {sep['method']} fits; {scale} [{100 * level:g}% CI])")
    for column in ("level", "k", "estimate [CI]", "tau^2", "I^2", "Q p"):
        t.add_column(column, justify="left" if column == "level" else "right")
    for name, g in sep["groups"].items():
        r = g["reported"]
        t.add_row(name, str(g["k"]), f"{_fmt(r['estimate'], 3)} [{_fmt(r['ci_lower'], 3)}, {_fmt(r['ci_upper'], 3)}]",
                  _fmt(g["tau2"]), f"{g['i2']:.1f}%", _p(g["q_p"]))
    print_table(t)
    mt = sub["moderator_test"]
    for w in sub.get("within_trial", []):
        why = "; ".join(f"{t}: {r}" for t, r in w["not_contributing"].items())
        left = f" (not contributing: {why})" if why else ""
        if w["fit"] is None:
            typer.echo(f"Within-trial interaction {w['level']} / {w['reference']}: no trial has both levels{left}")
            continue
        f, r = w["fit"], w["reported"]
        what = "ratio of ratios" if is_ratio(measure) else "difference"
        typer.echo(f"Within-trial interaction {w['level']} / {w['reference']} ({what}, {f['method']}, "
                   f"{f['k']} trials with both levels): {_fmt(r['estimate'], 3)} [{_fmt(r['ci_lower'], 3)}, "
                   f"{_fmt(r['ci_upper'], 3)}], p = {_p(f['pval'])}, tau^2 = {_fmt(f['tau2'])}{left}")
    typer.echo(f"Test for subgroup differences ({sep['model']} effects, separate fits): Q = {sep['q_between']:.4f}, "
               f"df = {sep['df_between']}, p = {_p(sep['p_between'])}")
    typer.echo(f"Moderator test, mods = ~ factor({sub['column']}) ({sep['method']}, one tau^2): "
               f"{'F' if mt['test'] == 'F' else 'QM'} = {mt['qm']:.4f}, df = {mt['qm_df']}, p = {_p(mt['qm_p'])}")
