"""`bayesmeta tsa`: trial sequential analysis of a binary (RR, OR, RD), continuous (MD) or time-to-event (HR)
outcome from any reported form of a CSV, or a group-sequential design at given information fractions."""

from __future__ import annotations

import math
from enum import Enum
from typing import Annotated

import typer

from bayesmeta.cli import app
from bayesmeta.cli.options import (DEFAULT_ADD, AddOption, Drop00Option, FiguresOption, JsonOption, MeasureOption,
                                   OutcomeOption, ToOption, VType, VTypeOption, ZeroCellsTo, dropped_studies, finite,
                                   json_text, measure_value, read_table, zero_cell_rule)
from bayesmeta.errors import InputError
from bayesmeta.scales import BINARY_MEASURES


class Method(str, Enum):
    DL = "DL"
    HKSJ = "HKSJ"
    FE = "FE"


class SpendingConvention(str, Enum):
    two_sided = "two-sided"
    per_side = "per-side"


class Spending(str, Enum):
    obf = "obf"
    pocock = "pocock"


class Futility(str, Enum):
    none = "none"
    non_binding = "non-binding"
    binding = "binding"


class FutilityRule(str, Enum):
    auto = "auto"
    rtsa = "rtsa"
    rpact = "rpact"


class Heterogeneity(str, Enum):
    D2 = "D2"
    D2_HKSJ = "D2-HKSJ"
    I2 = "I2"
    none = "none"


class Rounding(str, Enum):
    tsa = "tsa"
    rtsa = "rtsa"


def _parse_diversity(text: str) -> float | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"--diversity '{text}' is not a number or 'auto'", column="--diversity",
                         valid="'auto' or a D^2 in [0, 1)") from None
    return value


def _parse_fractions(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(part) for part in text.replace(";", ",").split(",") if part.strip()]
    except ValueError:
        raise InputError(f"--fractions '{text}' is not a comma-separated list of numbers", column="--fractions",
                         valid="increasing information fractions ending at 1, e.g. 0.25,0.5,0.75,1") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise InputError(f"--fractions '{text}' has no finite numbers", column="--fractions",
                         valid="increasing information fractions ending at 1, e.g. 0.25,0.5,0.75,1")
    return values


def _participants(path: str, table, outcome: str | None = None) -> list[float] | None:
    """Participants per study: the arm totals of the counts, else the file's total_treatment + total_control (of
    the rows of ``outcome`` in a table with an outcome column)."""
    import pandas as pd

    if table.counts is not None:
        counts = table.counts.loc[list(table.study)]
        return (counts["total_treatment"] + counts["total_control"]).astype(float).tolist()
    frame = pd.read_csv(path, encoding="utf-8-sig")
    frame.columns = [str(c).strip() for c in frame.columns]
    if outcome is not None and "outcome" in frame.columns:
        frame = frame[frame["outcome"].astype(str).str.strip() == outcome]
    key = next((c for c in ("study", "study_id") if c in frame.columns), None)
    if key is None or not {"total_treatment", "total_control"} <= set(frame.columns):
        return None
    sizes = frame.set_index(frame[key].astype(str).str.strip())
    total = pd.to_numeric(sizes["total_treatment"], errors="coerce") + pd.to_numeric(sizes["total_control"],
                                                                                      errors="coerce")
    values = total.reindex(list(table.study))
    if values.isna().any() or (values <= 0).any():
        bad = values.index[values.isna() | (values <= 0)][0]
        raise InputError(f"study {bad}: total_treatment + total_control is not a positive number", file=path,
                         column="total_treatment", valid="participants per arm, > 0")
    return values.astype(float).tolist()


@app.command("tsa")
def tsa_command(
    data: Annotated[str | None, typer.Argument(
        help="CSV in any reported form (study + yi,sei | estimate,ci_lower,ci_upper | means,SDs,sizes | "
             "o_minus_e,var_o_minus_e | counts), optional year (default: none: the design at --fractions)")] = None,
    outcome: OutcomeOption = None,
    vtype: VTypeOption = VType.LS,
    add: AddOption = DEFAULT_ADD,
    to: ToOption = ZeroCellsTo.only0,
    drop00: Drop00Option = None,
    mcid: Annotated[float | None, typer.Option(
        "--mcid", help="anticipated effect the information size is powered for, reported scale: a ratio for RR, "
                       "OR, HR (0.8 = a 20% relative reduction), a difference for RD, MD (default: none; required)",
        callback=finite)] = None,
    measure: MeasureOption = None,
    p_control: Annotated[float | None, typer.Option(
        "--p-control", help="control-arm event proportion (RR, OR, RD) (default: pooled control arms of the data)",
        callback=finite)] = None,
    sd: Annotated[float | None, typer.Option(
        "--sd", help="standard deviation of the outcome (MD: information size 4 z^2 sd^2 / mcid^2; an SMD is in "
                     "units of the SD, sd 1) (default: none; required for MD)",
        callback=finite)] = None,
    allocation: Annotated[float, typer.Option(
        "--allocation", help="share of participants randomised to the intervention (HR: required events "
                             "z^2 / (a (1 - a) log(HR)^2))", callback=finite)] = 0.5,
    alpha: Annotated[float, typer.Option("--alpha", help="type I error (both sides together when --sides 2)",
                                         callback=finite)] = 0.05,
    power: Annotated[float, typer.Option("--power", help="power (1 - beta)", callback=finite)] = 0.80,
    sides: Annotated[int, typer.Option("--sides", help="1 or 2 sided test", min=1, max=2)] = 2,
    spending: Annotated[Spending, typer.Option(
        "--spending", help="Lan-DeMets alpha (and beta) spending: O'Brien-Fleming or Pocock type")] = Spending.obf,
    futility: Annotated[Futility, typer.Option(
        "--futility", help="beta-spending futility boundaries: none, non-binding, or binding")
    ] = Futility.non_binding,
    futility_rule: Annotated[FutilityRule, typer.Option(
        "--futility-rule", help="two-sided futility: RTSA's (beta on P(Z <= f), non-binding only) or rpact's inner "
                                "region -f < Z < f (binding or not); auto: rpact when binding, else rtsa")
    ] = FutilityRule.auto,
    beta_adjustment: Annotated[bool, typer.Option(
        "--beta-adjustment/--no-beta-adjustment", help="rpact rule: rescale the beta spending after looks without "
                                                       "a futility region (rpact's betaAdjustment)")] = True,
    two_sided_power: Annotated[bool, typer.Option(
        "--two-sided-power/--one-sided-power", help="rpact rule: the inflation factor counts rejections on both "
                                                    "sides as power (rpact's twoSidedPower)")] = False,
    heterogeneity: Annotated[Heterogeneity, typer.Option(
        "--heterogeneity", help="correction of the information size: D^2 from the DerSimonian-Laird (D2) or the "
                                "Hartung-Knapp-Sidik-Jonkman variance (D2-HKSJ, RTSA's default), I^2, or none")
    ] = Heterogeneity.D2,
    diversity: Annotated[str, typer.Option(
        "--diversity", help="a given D^2 in [0, 1) instead of --heterogeneity, or 'auto'")] = "auto",
    method: Annotated[Method, typer.Option(
        "--method", help="pooling of the cumulative Z-curve: DerSimonian-Laird, DL with the HKSJ variance, or "
                         "common effect")] = Method.DL,
    convention: Annotated[SpendingConvention, typer.Option(
        "--convention", help="two-sided alpha spending: total of both sides (TSA program) or per side (gsDesign "
                             "sfLDOF, rpact, RTSA)")] = SpendingConvention.two_sided,
    inflate: Annotated[bool, typer.Option(
        "--inflate/--no-inflate", help="multiply the information size by the inflation factor of the sequential "
                                       "design (RTSA)")] = False,
    fractions: Annotated[str | None, typer.Option(
        "--fractions", help="information fractions of a planned design, comma-separated and ending at 1 (the "
                            "design printed without DATA; with DATA and --inflate, the design of the inflation) "
                            "(default: none: the looks of the data)")
    ] = None,
    rounding: Annotated[Rounding, typer.Option(
        "--rounding", help="information size rounded up once (TSA program) or as RTSA: to an even number before "
                           "and after the heterogeneity correction")] = Rounding.tsa,
    figures: FiguresOption = None,
    as_json: JsonOption = False,
) -> None:
    """Required information size, cumulative Z-curve and its monitoring boundaries (Wetterslev 2008; RTSA), or
    the boundaries and inflation factor of a design at --fractions."""
    planned = _parse_fractions(fractions)
    if data is None:
        _design(planned, mcid, measure_value(measure), p_control, sd, allocation, alpha, power, sides, spending,
                futility, diversity, convention, rounding, as_json, _rpact_options(futility_rule, beta_adjustment,
                                                                                   two_sided_power))
        return
    from bayesmeta.scales import TSA_INPUT_MEASURES
    from bayesmeta.tsa import tsa

    table = read_table(data, measure_value(measure), outcome=outcome, vtype=vtype,
                       zero_cells=zero_cell_rule(add, to, drop00))
    if table.measure not in TSA_INPUT_MEASURES:
        raise InputError(f"a trial sequential analysis of measure {table.measure} is not defined", file=data,
                         column="measure", valid="--measure RR, OR or RD with arm counts; MD; SMD; or HR")
    if mcid is None:
        raise InputError("the anticipated effect is needed", column="--mcid",
                         valid="--mcid, e.g. 0.8 for RR, OR, HR or a difference for RD, MD")
    if table.measure == "MD" and sd is None:
        raise InputError("an MD information size needs the outcome's standard deviation", column="--sd",
                         valid="--sd, the SD of the outcome in one arm, in the outcome's units (e.g. from the "
                               "studies' sd_treatment and sd_control)")
    sizes = _participants(data, table, outcome)
    if sizes is None and table.measure in BINARY_MEASURES:
        raise InputError("a binary TSA needs the participants of each study", file=data,
                         column="events_treatment",
                         valid="arm counts (events_treatment, total_treatment, events_control, total_control) or "
                               "total_treatment and total_control columns")
    order = None
    if table.covariates is not None and "year" in table.covariates.columns:
        years = table.covariates.loc[list(table.study), "year"]
        if years.isna().any():
            raise InputError("blank year", file=data, column="year", valid="a year for every study, or no year column")
        order = years.to_numpy()
    result = tsa(table, sample_sizes=sizes, p_control=p_control, mcid=mcid, alpha=alpha, power=power,
                 diversity=_parse_diversity(diversity), order=order, method=method.value,
                 convention=convention.value, futility=futility.value, sd=sd, allocation=allocation,
                 heterogeneity=heterogeneity.value, sides=sides, spending=spending.value, inflate=inflate,
                 design_fractions=planned, rounding=rounding.value,
                 **_rpact_options(futility_rule, beta_adjustment, two_sided_power))
    if figures:
        from pathlib import Path

        from bayesmeta.plots.saving import save_png
        from bayesmeta.plots.tsa import plot_tsa

        folder = Path(figures)
        folder.mkdir(parents=True, exist_ok=True)
        save_png(plot_tsa(result), folder / "tsa.png", 150)
    if as_json:
        typer.echo(json_text({**result.as_dict(), "k": len(table.study),
                                   "dropped": dropped_studies(table)}))
        return
    _print(result)


def _rpact_options(rule: FutilityRule, beta_adjustment: bool, two_sided_power: bool) -> dict:
    return dict(futility_rule=None if rule is FutilityRule.auto else rule.value, beta_adjustment=beta_adjustment,
                two_sided_power=two_sided_power)


def _design(planned, mcid, measure, p_control, sd, allocation, alpha, power, sides, spending, futility, diversity,
            convention, rounding, as_json, options) -> None:
    from bayesmeta.tsa import design, fixed_information_size, rtsa_rounded

    if planned is None:
        raise InputError("no data and no design", column="--fractions",
                         valid="a CSV to analyse, or --fractions for a design, e.g. --fractions 0.5,0.75,1")
    d = design(planned, alpha=alpha, beta=1.0 - power, spending=spending.value, convention=convention.value,
               sides=sides, futility=futility.value, **options)
    out = d.as_dict()
    if mcid is not None:
        d2 = _parse_diversity(diversity)
        d2 = 0.0 if d2 == "auto" else float(d2)
        if not 0.0 <= d2 < 1.0:
            raise InputError(f"--diversity {d2:g} is outside [0, 1)", column="--diversity", valid="0 <= D^2 < 1")
        kind = measure or "RR"
        fixed = fixed_information_size(kind, mcid, p_control=p_control, sd=sd, alpha=alpha, power=power,
                                       sides=sides, allocation=allocation)
        if rounding is Rounding.rtsa:
            base = rtsa_rounded(rtsa_rounded(fixed) / (1.0 - d2))
            total = rtsa_rounded(base * d.inflation_factor)
        else:
            base = math.ceil(fixed / (1.0 - d2) - 1e-9)
            total = math.ceil(fixed / (1.0 - d2) * d.inflation_factor - 1e-9)
        out.update(measure=kind, mcid=mcid, unit="events" if kind == "HR" else "participants", diversity=d2,
                   information_fixed=fixed, information_size=base, information_size_sequential=total)
    if as_json:
        typer.echo(json_text(out))
        return
    from rich.console import Console
    from rich.table import Table
    from bayesmeta.printing import print_table

    console = Console(soft_wrap=True)  # sentences are not broken at the terminal's width
    b = d.boundaries
    table = Table(title=f"Design: {b.spending} spending, {sides}-sided, alpha {alpha:g}, power {power:g}, "
                        f"futility {d.futility}{_rule(b.futility_rule, sides)}")
    for col in ("look", "fraction", "efficacy Z", "futility Z", "alpha spent", "beta spent"):
        table.add_column(col, justify="right")
    for k, t in enumerate(b.fractions):
        fut = "-" if b.futility is None else _fmt(b.futility[k])
        spent = "-" if b.beta_spent is None else f"{b.beta_spent[k]:.4g}"
        table.add_row(str(k + 1), f"{t:.4g}", _fmt(b.efficacy[k]), fut, f"{b.alpha_spent[k]:.4g}", spent)
    print_table(table, console)
    console.print(f"Inflation factor {d.inflation_factor:.4f} (drift {d.drift:.4f} at information fraction 1).")
    if mcid is not None:
        console.print(f"Information size: {out['information_fixed']:.1f} {out['unit']} (fixed design), "
                      f"{out['information_size']} after D^2 = {out['diversity']:g}, "
                      f"{out['information_size_sequential']} "
                      "for the sequential design.")


def _rule(rule: str | None, sides: int) -> str:
    return f" ({rule})" if rule and sides == 2 else ""


def _fmt(value: float, digits: int = 3) -> str:
    return "-" if not math.isfinite(value) else f"{value:.{digits}f}"


def _decimals(values: tuple[float, ...], significant: int = 4) -> int:
    """One number of decimals for an estimate and its intervals: ``significant`` digits of the largest finite
    absolute value (-24.03 to -3.93; 0.8923, 0.8320 to 0.9571)."""
    finite = [abs(v) for v in values if math.isfinite(v) and v != 0.0]
    if not finite:
        return 2
    return max(0, significant - 1 - math.floor(math.log10(max(finite))))


def _print(result) -> None:
    from rich.console import Console
    from rich.table import Table
    from bayesmeta.printing import print_table

    console = Console(soft_wrap=True)  # sentences are not broken at the terminal's width
    unit = result.unit
    inflated = f", x {result.inflation_factor:.4f} for the sequential design" if result.inflation_factor != 1.0 else ""
    console.print(
        f"RIS (fixed effect) {result.ris_fixed:.1f} {unit}; D^2 = {result.diversity:.4f} ({result.diversity_source})"
        f"{inflated}; required information size = {result.ris_rounded} {unit} "
        f"({'' if result.ris_rtsa is None else f'RTSA rounding: {result.ris_rtsa}; '}"
        f"{result.measure} {result.effect:g}, alpha {result.alpha:g}, power {result.power:g}, {result.sides}-sided)"
    )
    console.print(f"Further {unit} needed: {result.further_information:.0f}.")
    if result.minimum_trials is not None and result.minimum_trials["trials"] > 0:
        rows = result.minimum_trials["table"]
        console.print(f"Minimum number of further trials (tau^2 = {result.minimum_trials['tau2']:.4g}): "
                      f"{result.minimum_trials['trials']}, of {rows[0][1]} participants each (RTSA).")
    title = (f"Cumulative Z-curve ({result.method}; {result.boundaries.spending} spending, {result.convention}, "
             f"futility {result.futility}{_rule(result.futility_rule, result.sides)})")
    table = Table(title=title)
    for col in ("look", "study", unit, "fraction of RIS", "Z", "boundary Z", "futility Z"):
        table.add_column(col, justify="left" if col == "study" else "right")
    for row in result.curve.itertuples():
        table.add_row(str(row.look), str(row.study), f"{row.n_cumulative:.0f}", _fmt(row.fraction),
                      _fmt(row.z), _fmt(row.efficacy), _fmt(row.futility))
    print_table(table, console)
    if result.measure == "HR":
        console.print("events: not counted but inferred from each study's standard error, the events-equivalent "
                      "1 / (a (1 - a) se^2) of a log HR (4 / se^2 with equal arms, a the intervention share).")
    level = 1.0 - result.alpha
    values = (result.estimate, *result.ci, *result.adjusted_ci)
    d = _decimals(values)
    console.print(f"Pooled {result.measure} at the last look {values[0]:.{d}f}; naive {level:.0%} CI "
                  f"{values[1]:.{d}f} to {values[2]:.{d}f}; TSA-adjusted CI {values[3]:.{d}f} to {values[4]:.{d}f}.")
    if result.crossed_efficacy:
        console.print(f"The Z-curve crosses the monitoring boundary at look {result.crossed_efficacy_at} "
                      f"({result.crossed_efficacy_side} side).")
    else:
        console.print("The Z-curve does not cross the monitoring boundary.")
    if result.crossed_futility_at is not None:
        console.print(f"It enters the futility region at look {result.crossed_futility_at}.")
    console.print(f"The RIS is {'reached at look ' + str(result.reached_ris_at) if result.reached_ris else 'not reached'}.")
