"""`bayesmeta reanalyze PLAN.toml --out DIR`: run a whole reanalysis plan and write its report."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from bayesmeta.cli import app


@app.command("reanalyze")
def reanalyze_command(
    plan_file: Annotated[str, typer.Argument(help="the plan TOML, e.g. models/gallery/magnesium_mi.toml")],
    out: Annotated[str, typer.Option("--out", help="folder for report.html, report.md, summary.json, figures; "
                                                   "replaced only if new, empty or written by bayesmeta")],
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="recompute results, figures and report even when unchanged")
    ] = False,
    cache_dir: Annotated[
        Optional[str],
        typer.Option("--cache-dir", help="result cache folder (default: results/ in the user's cache folder, or in "
                                         "$BAYESMETA_CACHE_DIR)"),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
    quick: Annotated[bool, typer.Option(
        "--quick", help="a quick check of the plan: no NUTS cross-check and few simulations (recorded in "
                        "summary.json)")] = False,
    figure_formats: Annotated[Optional[str], typer.Option(
        "--figure-formats", help="comma-separated formats of each figure: png (300 dpi, always written), svg, "
                                 "pdf [default: png,svg,pdf; with --quick png only, at 110 dpi]")] = None,
    figure_dpi: Annotated[Optional[str], typer.Option(
        "--figure-dpi", help="resolution of the PNG files, 50 to 1200 [default: 300; with --quick 110]")] = None,
) -> None:
    """Run every analysis of the plan (with a progress bar) and write the report; unchanged inputs re-use the
    cached fits, and a report folder already holding the report of unchanged inputs is kept as it is."""
    from bayesmeta.plan import load_plan

    started = time.perf_counter()
    formats = None
    if figure_formats is not None:
        from bayesmeta.report.figures import figure_formats as parse_formats

        formats = parse_formats(figure_formats)
    dpi = None
    if figure_dpi is not None:
        from bayesmeta.report.figures import figure_dpi as parse_dpi

        dpi = parse_dpi(figure_dpi)
    plan = load_plan(plan_file)
    if quick:
        plan = plan.as_quick()
    if not no_cache and _report_is_current(plan, out, formats, dpi):
        return
    from bayesmeta.cache import ResultCache
    from bayesmeta.report import ReportWriter
    from bayesmeta.report.writer import plan_inputs

    cache = None if no_cache else ResultCache(cache_dir)
    # refuses (exit 2) a folder bayesmeta did not write, or one holding the plan, its data or the cache, and
    # locks it against a concurrent run, before any work
    writer = ReportWriter(out, (*plan_inputs(plan), None if cache is None else cache.root),
                          reuse_figures=not no_cache, figure_formats=formats, figure_dpi=dpi)
    try:
        result, files = _run(plan, writer, cache, quiet)
    except BaseException:  # an error or Ctrl-C: the previous report stays as it was
        writer.abort()
        for child in multiprocessing.active_children():  # the cross-check worker: do not wait for its simulation
            child.terminate()
        raise
    elapsed = time.perf_counter() - started
    source = "cached fits" if result.cache_hit else "fresh fits"
    n_warn = len(result.warnings)
    typer.echo(f"wrote {files.html} ({len(files.figures)} figure files, {len(files.posteriors)} NetCDF posteriors) "
               f"from {source} in {elapsed:.1f} s; {n_warn} warning{'s' if n_warn != 1 else ''}")
    typer.echo(f"  {Path(files.markdown)}\n  {Path(files.summary)}")
    _print_pooled_comparison(files.summary)


def _run(plan, writer, cache, quiet: bool):
    """Run the plan with a progress bar on stderr and write the report; returns (result, files)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from bayesmeta.freshness import record_report
    from bayesmeta.reanalysis import plan_steps, run_plan

    steps = plan_steps(plan)
    with Progress(TextColumn("[bold]{task.description:<48}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), disable=quiet, transient=False) as bar:
        task = bar.add_task("starting", total=len(steps) + 1)
        seen = [0]

        def progress(description: str) -> None:
            if seen[0]:
                bar.advance(task)
            seen[0] += 1
            bar.update(task, description=description)

        # figures are drawn in the background while the NUTS fits finish
        result = run_plan(plan, progress, cache=cache, while_waiting=writer.start_figures)
        if result.cache_hit:
            bar.update(task, description="re-using cached fits", completed=len(steps))
        else:
            bar.advance(task)
        bar.update(task, description="writing the report")
        files = writer.finish(result)
        record_report(files.folder, result.cache_key)
        bar.update(task, description="done", completed=len(steps) + 1)
    return result, files


def _report_is_current(plan, out: str, formats: tuple[str, ...] | None = None, dpi: int | None = None) -> bool:
    """Print a note and return True when ``out`` holds, unchanged, the report of the plan's current inputs
    (:mod:`bayesmeta.freshness`) with its figures in ``formats`` and its PNGs at ``dpi`` (by default those of a
    quick or full run)."""
    import json

    from bayesmeta.cache import cache_key
    from bayesmeta.freshness import report_is_current
    from bayesmeta.report.figures import FORMATS, PNG_DPI, SCREEN_DPI

    folder = Path(out).resolve()
    if not report_is_current(folder, cache_key(plan)):
        return False
    wanted = formats or (("png",) if plan.quick else FORMATS)
    figures = json.loads((folder / "summary.json").read_text(encoding="utf-8")).get("figures", [])
    wanted_dpi = dpi or (SCREEN_DPI if plan.quick else PNG_DPI)
    if not all(f.get(fmt) for f in figures for fmt in wanted) or any(f.get("dpi") != wanted_dpi for f in figures):
        return False
    typer.echo(f"{folder / 'report.html'} is up to date: inputs, plan, code and libraries are unchanged since it "
               "was written (--no-cache rewrites it)")
    _print_pooled_comparison(folder / "summary.json")
    return True


def _print_pooled_comparison(summary_path: Path) -> None:
    """The pooled rows of the report's comparison table (published vs recomputed vs Bayesian) on stdout."""
    import json

    from rich.console import Console
    from rich.table import Table
    from bayesmeta.printing import print_table

    summary = json.loads(Path(summary_path).read_text())
    rows = [r for r in summary["comparison"] if r["analysis"] == "pooled"]
    if not rows:
        source = summary["inputs"]["published"]
        why = "the plan names no published numbers (data.published)" if source is None else \
            f"{source} holds no pooled estimate of the plan's outcomes"
        Console().print(f"No pooled result to compare: {why}; report.md's Main results give the posteriors.")
        return
    table = Table(title="Pooled results: published vs recomputed from the available studies vs Bayesian")
    for col in ("outcome", "quantity", "k used/published", "published", "recomputed (frequentist)", "Bayesian",
                "status"):
        table.add_column(col)
    for r in rows:
        k_pub = r.get("k_published")
        k_pub = "-" if k_pub is None else str(int(k_pub))
        table.add_row(r["outcome"], r["quantity"], f"{r['k_used']}/{k_pub}", r["published"], r["recomputed"],
                      r["bayesian"], r["status"])
    print_table(table, Console(width=200))
