"""`bayesmeta reinterpret`: a published ratio (or every ratio of a published-results table) under reference priors."""

from __future__ import annotations

import math
from typing import Annotated

import typer

from bayesmeta.cli import app
from bayesmeta.cli.options import finite, json_text
from bayesmeta.errors import InputError

REFERENCE_PRIORS = ("skeptical", "enthusiastic", "pessimistic", "vague")


def _strength(text: str) -> str | float:
    try:
        return float(text)
    except ValueError:
        return text


@app.command("reinterpret")
def reinterpret_command(
    estimate: Annotated[float | None, typer.Option("--hr", "--estimate", help="published ratio (HR, RR, OR)",
                                                             callback=finite)] = None,
    ci: Annotated[tuple[float, float] | None, typer.Option("--ci", help="its CI: lower upper", callback=finite)] = None,
    published: Annotated[str | None, typer.Option(help="a published-results CSV: every HR/RR row")] = None,
    prior: Annotated[list[str] | None, typer.Option("--prior", help="skeptical, enthusiastic, pessimistic, "
                                                       "vague or flat; repeatable (default: the first four)")] = None,
    mcid: Annotated[float, typer.Option(help="minimal clinically important ratio (below 1 for benefit below 1)",
                                            callback=finite)] = 0.8,
    direction: Annotated[str | None, typer.Option(help="'below' or 'above': side of 1 where benefit lies "
                                                     "(default: the MCID's side)")] = None,
    strength: Annotated[str, typer.Option(help="prior strength: weak, moderate, strong or a tail probability")] = "moderate",
    rope: Annotated[tuple[float, float], typer.Option(help="region of practical equivalence (ratios)",
                                                               callback=finite)] = (0.9, 1.1),
    level: Annotated[float, typer.Option(help="level of the published CI and of the credible interval",
                                             callback=finite)] = 0.95,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    plot: Annotated[str | None, typer.Option("--plot", help="with --published: write the reinterpretation figure "
                                                           "to this file (.png, .svg or .pdf)")] = None,
) -> None:
    """Posterior of a published ratio under skeptical, enthusiastic, pessimistic and vague priors (Zampieri 2021)."""
    from bayesmeta.reinterpret import reinterpret, reinterpret_published

    priors = tuple(prior) if prior else REFERENCE_PRIORS
    if plot is not None and published is None:
        raise InputError("--plot draws the rows of a published-results table: give --published FILE",
                         column="--plot")
    if published is not None:
        if estimate is not None or ci is not None:
            raise InputError("give either --published or --hr with --ci, not both", column="--published")
        frame = reinterpret_published(published, priors=priors, mcid=mcid, strength=_strength(strength), rope=rope,
                                      level=level)
        if plot is not None:
            _save_plot(frame, plot)
        if as_json:
            records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
            typer.echo(json_text(records))
            return
        _print_published(frame)
        return
    if estimate is None or ci is None:
        raise InputError("give --hr ESTIMATE --ci LOWER UPPER, or --published FILE", column="--hr")
    results = [reinterpret(estimate, ci[0], ci[1], prior=p, mcid=mcid, level=level, rope=rope, direction=direction,
                           strength=_strength(strength)) for p in priors]
    if as_json:
        typer.echo(json_text([r.as_dict() for r in results]))
        return
    _print_single(results)


def _save_plot(frame, path: str) -> None:
    """Draw the reinterpretation figure of ``frame`` and write it to ``path`` (format from the suffix)."""
    from pathlib import Path

    from bayesmeta.plots.reinterpret import plot_reinterpretation

    target = Path(path)
    if target.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise InputError(f"cannot write a figure to {path!r}", column="--plot", valid="a .png, .svg or .pdf file")
    if not target.parent.is_dir():
        raise InputError(f"folder {str(target.parent)!r} does not exist", column="--plot")
    fig = plot_reinterpretation(frame, title="Published ratios under reference priors")
    fig.savefig(target, dpi=110)


def _side(direction: str) -> str:
    return "<" if direction == "below" else ">"


def _print_single(results) -> None:
    from rich.console import Console
    from rich.table import Table

    first = results[0]
    s = _side(first.direction)
    console = Console()
    console.print(f"published {first.estimate:g} ({first.ci_lower:g} to {first.ci_upper:g}): log ratio "
                  f"{first.y:.4f}, se {first.se:.4f}; MCID {first.mcid:g}, benefit {first.direction} 1")
    table = Table(title="Posterior under each prior")
    for col in ("prior", "prior mean, sd (log)", "median", f"{first.level:.0%} CrI", f"P(ratio {s} 1)",
                f"P(ratio {s} {first.mcid:g})", f"P({first.rope[0]:g} < ratio < {first.rope[1]:g})"):
        if col == "prior":
            table.add_column(col, no_wrap=True, min_width=len("enthusiastic"))
        else:
            table.add_column(col, justify="right")
    for r in results:
        prior_sd = "inf" if not math.isfinite(r.prior_sd) else f"{r.prior_sd:.3f}"
        table.add_row(r.prior, f"{r.prior_mean:+.3f}, {prior_sd}", f"{r.median:.3f}",
                      f"{r.lower:.3f} to {r.upper:.3f}", f"{r.p_benefit:.3f}", f"{r.p_mcid:.3f}", f"{r.p_rope:.3f}")
    console.print(table)


def _print_published(frame) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="Published ratios under reference priors: posterior median [P(benefit beyond the MCID)]")
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
                      f"{first['measure']} {first['estimate']:g} ({first['ci_lower']:g}-{first['ci_upper']:g})",
                      *cells)
    console.print(table)
    for _, r in frame[frame["status"] != "ok"].drop_duplicates("row").iterrows():
        console.print(f"skipped row {r['row']} ({r['outcome']} {r['variable']}): {r['reason']}")
