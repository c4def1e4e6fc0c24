"""`bayesmeta batch`: many meta-analyses of a long table under several prior sets, on Dask."""

from __future__ import annotations

from typing import Annotated

import typer

from bayesmeta.cli import app
from bayesmeta.cli.options import (
    BenefitOption,
    LevelOption,
    MeasureOption,
    SeedOption,
    ThresholdOption,
    measure_value,
)
from bayesmeta.benefit import Benefit


@app.command("batch")
def batch_command(
    table: Annotated[str, typer.Argument(help="long CSV or Parquet: a group column, study, and one reported form "
                                              "(yi,sei | yi,vi | estimate,ci_lower,ci_upper | means | counts ...)")],
    out: Annotated[str, typer.Option("--out", help="output folder (results.parquet, results.csv, summary.png, "
                                                   "parts/); a re-run skips the partitions already written")],
    group: Annotated[str, typer.Option("--group", help="column naming each row's meta-analysis")] = "meta_id",
    priors: Annotated[str, typer.Option("--priors", help="prior sets of priors.toml, comma-separated")]
    = "weakly_informative",
    threshold: ThresholdOption = None,
    benefit: BenefitOption = Benefit.BELOW,
    level: LevelOption = 0.95,
    measure: MeasureOption = None,
    published: Annotated[str | None, typer.Option("--published", help="CSV: group, estimate, ci_lower, ci_upper "
                                                  "(the published pooled estimates, reported scale)")] = None,
    scheduler: Annotated[str | None, typer.Option("--scheduler", help="address of a running Dask scheduler, "
                                                  "e.g. tcp://HOST:8786 (default: a local cluster)")] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="workers of the local cluster "
                                                "(default: one per core)")] = None,
    partition_size: Annotated[int, typer.Option("--partition-size", min=1,
                                                help="meta-analyses per partition")] = 1000,
    chunk_rows: Annotated[int, typer.Option("--chunk-rows", min=1, help="rows of TABLE read at a time while it is "
                                            "cut into partitions (the driver's memory)")] = 50_000,
    nuts_sample: Annotated[int, typer.Option("--nuts-sample", min=0, help="cross-check N meta-analyses drawn at "
                                             "random with the NUTS engine (nuts_* columns)")] = 0,
    seed: SeedOption = 0,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="show a progress bar")] = True,
) -> None:
    """Reanalyse every meta-analysis of TABLE: one row per meta-analysis x prior set (exact posterior of mu, tau
    and the predictive effect, P(effect beyond each threshold), Bayes factors, DL/REML/Hartung-Knapp beside)."""
    from bayesmeta.batch import BatchOptions, run_batch

    options = BatchOptions(
        group=group,
        prior_sets=tuple(p.strip() for p in priors.split(",") if p.strip()),
        thresholds=tuple(threshold or ()),
        benefit=benefit.value,
        level=level,
        measure=measure_value(measure),
        partition_size=partition_size,
        nuts_sample=nuts_sample,
        seed=seed,
    )
    summary = run_batch(table, out, options, published=published, scheduler=scheduler, workers=workers,
                        progress=progress, chunk_rows=chunk_rows)
    typer.echo(f"{summary.meta_analyses} meta-analyses x {len(options.prior_sets)} prior set(s): {summary.rows} rows "
               f"({summary.errors} unreadable) in {summary.seconds:.1f} s; partitions computed {summary.computed}, "
               f"skipped {summary.skipped}")
    for kind, path in summary.files.items():
        typer.echo(f"{kind}: {path}")
