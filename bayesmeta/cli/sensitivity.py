"""`bayesmeta sensitivity`: prior grid, power-scaling sensitivity and leave-one-study-out influence (exact engine)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from bayesmeta.benefit import Benefit
from bayesmeta.cli import app
from bayesmeta.cli.options import (
    DEFAULT_ADD,
    DEFAULT_MU_PRIOR,
    DEFAULT_TAU_PRIOR,
    AddOption,
    BenefitOption,
    DataArgument,
    Drop00Option,
    FiguresOption,
    JsonOption,
    LevelOption,
    MeasureOption,
    MuPriorOption,
    OutcomeOption,
    TauPriorOption,
    ThresholdOption,
    ToOption,
    UisdOption,
    VType,
    VTypeOption,
    ZeroCellsTo,
    dropped_studies,
    finite,
    json_text,
    measure_value,
    note_prior_units,
    plain,
    read_table,
    table_unit,
    zero_cell_rule,
)
from bayesmeta.errors import InputError


def _records(frame, index_name: str | None = None) -> list[dict[str, object]]:
    out = []
    for idx, row in frame.iterrows():
        rec = {index_name: str(idx)} if index_name else {}
        rec.update({str(c): plain(v) for c, v in row.items()})
        out.append(rec)
    return out


@app.command("sensitivity")
def sensitivity_command(
    data: DataArgument,
    outcome: OutcomeOption = None,
    vtype: VTypeOption = VType.LS,
    add: AddOption = DEFAULT_ADD,
    to: ToOption = ZeroCellsTo.only0,
    drop00: Drop00Option = None,
    measure: MeasureOption = None,
    mu_prior: MuPriorOption = DEFAULT_MU_PRIOR,
    tau_prior: TauPriorOption = DEFAULT_TAU_PRIOR,
    priors: Annotated[str | None, typer.Option(help="TOML file of named prior sets")] = None,
    threshold: ThresholdOption = None,
    benefit: BenefitOption = Benefit.BELOW,
    mcid: Annotated[float | None, typer.Option(
        "--mcid", help="minimal clinically important difference, reported scale: the conclusion is judged there "
                       "(default: none; the most demanding threshold)", callback=finite)] = None,
    tau_scales: Annotated[str | None, typer.Option(
        "--tau-scales", help="the prior grid's half-normal tau scales, comma-separated, e.g. 1.6,3.25,6.5,13 "
        "(default: 0.25,0.5,1,2 for log ratios, SMD and RD; for MD and GEN half to four times UISD/8, the UISD from "
        "--uisd, a --tau-prior of your own or the studies' sample sizes; bayesmeta.scale_unit)")] = None,
    uisd: UisdOption = None,
    level: LevelOption = 0.95,
    figures: FiguresOption = None,
    as_json: JsonOption = False,
) -> None:
    """Refit under every named prior set and half-normal tau scale, flag conclusions that change, compute
    power-scaling prior/likelihood sensitivity (Kallioinen et al. 2024) and leave-one-study-out influence. The
    conclusion is judged at the MCID when given (it joins the thresholds), else at the most demanding threshold."""
    from bayesmeta.influence import leave_one_out
    from bayesmeta.priors import load_prior_sets, parse_prior
    from bayesmeta.sensitivity import conclusion_changes, power_scaling, prior_grid

    from bayesmeta.scales import is_ratio, null_value

    table = read_table(data, measure_value(measure), benefit, outcome=outcome, vtype=vtype,
                       zero_cells=zero_cell_rule(add, to, drop00))
    note_prior_units(table, mu_prior, tau_prior)
    mu, tau = parse_prior(mu_prior, "mu"), parse_prior(tau_prior, "tau")
    null = null_value(table.measure)
    if threshold:
        thresholds = tuple(threshold)
    elif is_ratio(table.measure):
        thresholds = (1.0, 0.8, 0.7) if benefit.below else (1.0, 1.25, 1.4286)
    else:
        thresholds = (null,)
    if mcid is not None:
        if not benefit.favours(mcid, null) or (is_ratio(table.measure) and mcid <= 0):
            raise InputError(f"--mcid {mcid:g} is not on the benefit side of {null:g} (benefit {benefit.value})",
                             column="--mcid", valid=f"a {table.measure} {benefit.sign} {null:g}")
        thresholds = tuple(sorted(set(thresholds) | {float(mcid)}))
    decisive = benefit.most_demanding(thresholds) if mcid is None else float(mcid)
    sets = load_prior_sets(priors)
    scales = _tau_scales(tau_scales) if tau_scales else table_unit(table, uisd, tau_prior).tau_scales()
    grid = prior_grid(table, prior_sets=sets, tau_scales=scales, thresholds=thresholds, level=level)
    changes = conclusion_changes(grid, threshold=decisive)
    power = power_scaling(table, mu_prior=mu, tau_prior=tau)
    loo = leave_one_out(
        table,
        mu_prior=mu,
        tau_prior=tau,
        thresholds=(null, decisive) if decisive != null else (null,),
        level=level,
    )
    if figures:
        _write_figures(Path(figures), grid, power, loo, table.measure, decisive, null_value(table.measure))
    if as_json:
        out = {
            "measure": table.measure,
            "k": len(table.study),
            "dropped": dropped_studies(table),
            "priors": {"mu": mu.text, "tau": tau.text},
            "prior_grid": _records(grid),
            "conclusion": {
                "column": changes.attrs["column"],
                "cuts": list(changes.attrs["cuts"]),
                "robust": bool(changes.attrs["robust"]),
                "changes": [bool(v) for v in changes["changes"]],
            },
            "power_scaling": _records(power),
            "influence": {
                "full": {k: plain(v) for k, v in loo.attrs["full"].items()},
                "omitted": _records(loo, "omitted"),
            },
        }
        typer.echo(json_text(out))
        return
    _print(table.measure, grid, changes, power, loo, level)


def _tau_scales(text: str) -> tuple[float, ...]:
    """The positive numbers of a comma-separated ``--tau-scales``."""
    values = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"--tau-scales {text!r}: {part.strip()!r} is not a positive number", column="--tau-scales",
                             valid="positive numbers separated by commas, e.g. 0.25,0.5,1,2")
        values.append(value)
    return tuple(values)


def _print(measure: str, grid, changes, power, loo, level: float) -> None:
    from rich.console import Console
    from rich.table import Table
    from bayesmeta.printing import print_table, probability_header

    console = Console()
    pct = f"{100 * level:g}%"
    prob_cols = [c for c in grid.columns if str(c).startswith("prob_")]
    t = Table(title=f"Prior grid ({measure}; median and {pct} CrI of the pooled effect)")
    for col in ("prior set", "tau prior", "median", f"{pct} CrI", "tau median", f"{pct} predictive",
                *(probability_header(c, measure) for c in prob_cols), "changes"):
        t.add_column(col, justify="left" if col in ("prior set", "tau prior") else "right")
    for (_, r), changed in zip(grid.iterrows(), changes["changes"]):
        t.add_row(
            str(r["prior_set"]),
            str(r["tau_prior"]),
            f"{r['median']:.3f}",
            f"[{r['ci_lower']:.3f}, {r['ci_upper']:.3f}]",
            f"{r['tau_median']:.3f}",
            f"[{r['pred_lower']:.3f}, {r['pred_upper']:.3f}]",
            *[f"{r[c]:.3f}" for c in prob_cols],
            "yes" if changed else "",
        )
    print_table(t, console)
    verdict = "does not change" if changes.attrs["robust"] else "changes"
    console.print(f"{probability_header(changes.attrs['column'], measure)} {verdict} band (cuts {changes.attrs['cuts']}) across these priors")

    p = Table(title="Power-scaling sensitivity (Kallioinen et al. 2024; threshold 0.05)")
    for col in ("parameter", "prior", "likelihood", "diagnosis"):
        p.add_column(col, justify="left" if col in ("parameter", "diagnosis") else "right")
    for _, r in power.iterrows():
        p.add_row(str(r["parameter"]), f"{r['prior']:.4f}", f"{r['likelihood']:.4f}", str(r["diagnosis"]))
    print_table(p, console)

    loo_probs = [c for c in loo.columns if str(c).startswith("prob_")]
    i = Table(title="Leave one study out")
    for col in ("omitted", "median", f"{pct} CrI", *(probability_header(c, measure) for c in loo_probs),
                "tau median", "shift (sd)", "KL"):
        i.add_column(col, justify="left" if col == "omitted" else "right")
    for sid, r in loo.iterrows():
        i.add_row(
            str(sid),
            f"{r['median']:.3f}",
            f"[{r['ci_lower']:.3f}, {r['ci_upper']:.3f}]",
            *[f"{r[c]:.3f}" for c in loo_probs],
            f"{r['tau_median']:.3f}",
            f"{r['shift_sd']:+.2f}",
            f"{r['kl']:.3f}",
        )
    print_table(i, console)
    full = loo.attrs["full"]
    console.print(
        f"all studies: median {full['median']:.3f} [{full['ci_lower']:.3f}, {full['ci_upper']:.3f}]; "
        f"most influential: {loo['kl'].idxmax()} (KL {loo['kl'].max():.3f})"
    )


def _write_figures(folder: Path, grid, power, loo, measure: str, decisive: float, null: float) -> None:
    from bayesmeta.plots.sensitivity import (
        plot_influence,
        plot_power_scaling,
        plot_prior_grid,
    )
    from bayesmeta.plots.saving import save_png

    folder.mkdir(parents=True, exist_ok=True)
    lines = tuple(sorted({null, decisive}))
    column = next(c for c in grid.columns if str(c).startswith("prob_") and str(c).endswith(f"_{decisive:g}"))
    save_png(plot_prior_grid(grid, measure=measure, lines=lines, probability_column=column),
             folder / "sensitivity_prior_grid.png", 150)
    save_png(plot_power_scaling(power), folder / "sensitivity_power_scaling.png", 150)
    save_png(plot_influence(loo, loo.attrs["full"], measure=measure, lines=lines),
             folder / "sensitivity_influence.png", 150)
