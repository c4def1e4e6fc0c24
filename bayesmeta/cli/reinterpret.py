"""`bayesmeta reinterpret`: a published ratio or difference (or every row of a published-results table) under
reference priors."""

from __future__ import annotations

import math
from typing import Annotated

import typer

from bayesmeta.benefit import Benefit
from bayesmeta.cli import app
from bayesmeta.cli.options import (
    DEFAULT_MCID_BELOW,
    FiguresOption,
    JsonOption,
    LevelOption,
    McidOption,
    MeasureOption,
    default_mcid,
    finite,
    json_text,
)
from bayesmeta.errors import InputError
from bayesmeta.scales import DIFFERENCE_MEASURES, RATIO_MEASURES

REFERENCE_PRIORS = ("skeptical", "enthusiastic", "pessimistic", "vague")


def _strength(text: str) -> str | float:
    try:
        return float(text)
    except ValueError:
        return text


@app.command("reinterpret")
def reinterpret_command(
    estimate: Annotated[float | None, typer.Option("--estimate", help=f"published estimate: a ratio "
                                                   f"({', '.join(RATIO_MEASURES)}), or a difference "
                                                   f"({', '.join(DIFFERENCE_MEASURES)}) with --measure",
                                                   callback=finite)] = None,
    ci: Annotated[tuple[float, float] | None, typer.Option("--ci", help="its CI: lower upper", callback=finite)] = None,
    published: Annotated[str | None, typer.Option(help="a published-results CSV: every row with a CI (the difference rows of the "
                                                        "--measure given, with its --mcid)")] = None,
    prior: Annotated[list[str] | None, typer.Option("--prior", help="skeptical, enthusiastic, pessimistic, "
                                                       "vague, flat, critical (Matthews 2001), or the Diamond & "
                                                       "Kaul skeptical priors "
                                                       "diamond_kaul_10/50/90 (10/50/90% within the MCID of no "
                                                       "effect); repeatable (default: the first four)")] = None,
    prior_mean: Annotated[float | None, typer.Option("--prior-mean", help="a normal prior given directly: its "
                                                     "mean on the analysis scale (log for a ratio; with "
                                                     "--prior-sd)",
                                                     callback=finite)] = None,
    prior_sd: Annotated[float | None, typer.Option("--prior-sd", help="its sd on the analysis scale",
                                                   callback=finite)] = None,
    mcid: McidOption = None,
    benefit: Annotated[
        Benefit | None,
        typer.Option("--benefit", help="side of the null (1, or 0 for a difference) where the effect favours the "
                     "treatment (default: the MCID's side, else below)"),
    ] = None,
    strength: Annotated[str, typer.Option(help="prior strength: weak, moderate, strong or a tail probability")] = "moderate",
    rope: Annotated[tuple[float, float] | None, typer.Option(help="region of practical equivalence, reported "
                                                                      "scale (default 0.9 1.1 for a ratio; none "
                                                                      "for a difference)",
                                                                      callback=finite)] = None,
    level: LevelOption = 0.95,
    as_json: JsonOption = False,
    figures: FiguresOption = None,
    measure: MeasureOption = None,
) -> None:
    """Posterior of a published ratio or difference under skeptical, enthusiastic, pessimistic and vague priors
    (Zampieri 2021; a difference on its own scale, with its --mcid)."""
    from bayesmeta.reinterpret import DEFAULT_ROPE, reinterpret, reinterpret_published
    from bayesmeta.scales import is_ratio

    code = measure.value if measure is not None else "HR"
    ratio = is_ratio(code)

    priors = tuple(prior) if prior else REFERENCE_PRIORS
    if figures is not None and published is None:
        raise InputError("--figures draws the rows of a published-results table: give --published FILE",
                         column="--figures")
    if published is not None:
        if prior_mean is not None or prior_sd is not None:
            raise InputError("--prior-mean/--prior-sd are for one --estimate, not a --published table",
                             column="--prior-mean")
        if estimate is not None or ci is not None:
            raise InputError("give either --published or --estimate with --ci, not both", column="--published")
        # a ratio MCID is given for benefit below 1 (rows whose benefit lies above use its mirror); with a
        # difference --measure, --mcid is that of the difference rows, which are skipped without one
        ratio_mcid = mcid if ratio else None
        below_mcid = DEFAULT_MCID_BELOW if ratio_mcid is None else (mcid if mcid < 1 else 1.0 / mcid)
        frame = reinterpret_published(published, priors=priors, mcid=below_mcid, strength=_strength(strength),
                                      rope=rope if ratio and rope is not None else DEFAULT_ROPE, benefit=benefit,
                                      level=level, difference_mcid=None if ratio else mcid,
                                      difference_rope=None if ratio else rope)
        if figures is not None:
            _save_figure(frame, figures)
        if as_json:
            records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
            typer.echo(json_text(records))
            return
        _print_published(frame, _printed(published))
        typer.echo(f"[P(...)]: P(benefit beyond the MCID), MCID {below_mcid:g} where benefit lies below 1, "
                   f"{1.0 / below_mcid:g} above" + (" (the default; set it with --mcid)" if mcid is None else ""))
        return
    if estimate is None or ci is None:
        raise InputError("give --estimate ESTIMATE --ci LOWER UPPER, or --published FILE", column="--estimate")
    if mcid is None:
        mcid = default_mcid(None, code, benefit or Benefit.BELOW)
    results = [reinterpret(estimate, ci[0], ci[1], prior=p, mcid=mcid, level=level, rope=rope, benefit=benefit,
                           strength=_strength(strength), measure=code)
               for p in (priors if prior or prior_mean is None else ())]
    if prior_mean is not None or prior_sd is not None:
        results.append(reinterpret(estimate, ci[0], ci[1], mcid=mcid, level=level, rope=rope, benefit=benefit,
                                   prior_mean=prior_mean, prior_sd=prior_sd, measure=code))
    if as_json:
        typer.echo(json_text([r.as_dict() for r in results]))
        return
    _print_single(results)


def _save_figure(frame, folder: str) -> None:
    """Draw the reinterpretation figure of ``frame``'s ratio rows (a log axis) into ``folder``/reinterpretation.png."""
    from pathlib import Path

    from bayesmeta.plots.reinterpret import plot_reinterpretation
    from bayesmeta.plots.saving import save_png
    from bayesmeta.scales import RATIO_MEASURES

    frame = frame[frame["measure"].isin(RATIO_MEASURES)]
    if frame.empty:
        raise InputError("--figures draws published ratios on a log axis; the table has none", column="--figures")
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    fig = plot_reinterpretation(frame, title="Published ratios under reference priors")
    save_png(fig, target / "reinterpretation.png", 110)


def _print_single(results) -> None:
    from rich.console import Console
    from rich.table import Table
    from bayesmeta.printing import print_table

    from bayesmeta.scales import is_ratio

    first = results[0]
    s = first.benefit.sign
    ratio = is_ratio(first.measure)
    name = "ratio" if ratio else first.measure
    console = Console()
    console.print(f"published {first.estimate:g} ({first.ci_lower:g} to {first.ci_upper:g}): "
                  f"{'log ratio' if ratio else first.measure} {first.yi:.4f}, se {first.se:.4f}; MCID "
                  f"{first.mcid:g}, benefit {first.benefit} {first.null:g}")
    table = Table(title="Posterior under each prior")
    rope = [] if first.rope is None else [f"P({first.rope[0]:g} < {name} < {first.rope[1]:g})"]
    for col in ("prior", f"prior mean, sd{' (log)' if ratio else ''}", "median", f"{first.level:.0%} CrI",
                f"P({name} {s} {first.null:g})", f"P({name} {s} {first.mcid:g})", *rope):
        if col == "prior":
            table.add_column(col, no_wrap=True, min_width=len("enthusiastic"))
        else:
            table.add_column(col, justify="right")
    for r in results:
        prior_sd = "inf" if not math.isfinite(r.prior_sd) else f"{r.prior_sd:.3f}"
        table.add_row(r.prior, f"{r.prior_mean:+.3f}, {prior_sd}", f"{r.median:.3f}",
                      f"{r.post_ci_lower:.3f} to {r.post_ci_upper:.3f}", f"{r.p_benefit:.3f}", f"{r.p_mcid:.3f}",
                      *([] if r.rope is None else [f"{r.p_rope:.3f}"]))
    print_table(table, console)


def _printed(published: str) -> dict[int, str]:
    """Each row's estimate and CI as printed, by spreadsheet row: the text cells keep the trailing zeros that a
    number drops (0.80, 1.0)."""
    from bayesmeta.consistency import read_published, spreadsheet_row

    frame, _ = read_published(published)
    if not {"estimate", "ci_lower", "ci_upper"} <= set(frame.columns):
        return {}
    return {spreadsheet_row(i): f"{str(r['estimate']).strip()} ({str(r['ci_lower']).strip()}-"
                                f"{str(r['ci_upper']).strip()})" for i, r in frame.iterrows()}


def _print_published(frame, printed: dict[int, str]) -> None:
    from rich.console import Console
    from rich.table import Table
    from bayesmeta.printing import print_table

    console = Console()
    table = Table(title="Published estimates under reference priors: posterior median [P(benefit beyond the MCID)]")
    for col in ("row", "outcome", "analysis", "subgroup", "published"):
        table.add_column(col)
    priors = list(dict.fromkeys(frame["prior"]))
    for p in priors:
        table.add_column(p, justify="right")
    for _, group in frame.groupby("row", sort=True):
        first = group.iloc[0]
        cells = []
        for p in priors:
            r = group[group["prior"] == p].iloc[0]
            cells.append(f"{r['median']:.2f} [{r['p_mcid']:.3f}]" if r["status"] == "ok" else "skipped")
        table.add_row(str(first["row"]), first["outcome"], first["analysis"],
                      f"{first['variable']}: {first['level']}".rstrip(": "),
                      f"{first['measure']} " + printed.get(int(first["row"]), f"{first['estimate']:g} "
                                                                f"({first['ci_lower']:g}-{first['ci_upper']:g})"),
                      *cells)
    print_table(table, console)
    for _, r in frame[frame["status"] != "ok"].drop_duplicates("row").iterrows():
        console.print(f"skipped row {r['row']} ({r['outcome']} {r['variable']}): {r['reason']}")
