"""A batch reanalysis on dask.distributed: partitions of meta-analyses go to the workers, each is read and fitted
there (:func:`process_partition`), and the driver writes each result as it arrives, so an interrupted run resumes
where it stopped.

Without ``scheduler`` a :class:`distributed.LocalCluster` sized to the machine (one single-threaded worker
process per core) is started and closed; with ``scheduler`` (``tcp://HOST:8786``) the run uses that cluster.
Workers only compute: they need the package, not the output folder, so a remote cluster needs no shared disk.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bayesmeta.batch.figure import summary_figure
from bayesmeta.batch.fit import fit_partition
from bayesmeta.batch.published import read_published, reinterpret_rows
from bayesmeta.batch.store import BatchFolder, atomic_write, file_digest
from bayesmeta.batch.table import read_groups, read_long_table, partitions
from bayesmeta.benefit import Benefit
from bayesmeta.errors import InputError
from bayesmeta.posterior import _check_level
from bayesmeta.priors import PriorSet, load_prior_sets
from bayesmeta.scales import is_ratio
from bayesmeta.tables import FORMS, FORMS_TEXT

RESULTS = "results"
FIGURE = "summary.png"


@dataclass(frozen=True)
class BatchOptions:
    """What a batch computes (recorded in the manifest: a change means the partitions are recomputed)."""

    group: str
    prior_sets: tuple[str, ...] = ("weakly_informative",)
    thresholds: tuple[float, ...] = ()
    benefit: str = "below"
    level: float = 0.95
    measure: str | None = None
    partition_size: int = 1000
    nuts_sample: int = 0
    seed: int = 0


@dataclass
class BatchSummary:
    """What a run did: partitions in all, computed now and skipped (already written), rows, and the paths."""

    partitions: int
    computed: int
    skipped: int
    meta_analyses: int
    errors: int
    rows: int
    seconds: float
    workers: int
    files: dict[str, str] = field(default_factory=dict)


def resolve_prior_sets(names: Sequence[str]) -> list[PriorSet]:
    """The named prior sets of bayesmeta/resources/priors.toml; InputError naming the valid ones."""
    sets = load_prior_sets()
    unknown = [n for n in names if n not in sets]
    if unknown or not names:
        raise InputError(f"unknown prior set {unknown[0]!r}" if unknown else "no prior set given",
                         column="--priors", valid=", ".join(sets))
    return [sets[n] for n in names]


def process_partition(frame: pd.DataFrame, options: BatchOptions, file: str,
                      nuts_groups: frozenset[str] = frozenset()) -> pd.DataFrame:
    """Read and fit one partition (runs on a worker); the meta-analyses in ``nuts_groups`` are also fitted by NUTS
    (:func:`bayesmeta.batch.crosscheck.nuts_columns`)."""
    from bayesmeta.quiet import silence_known_warnings

    silence_known_warnings()
    effects, errors = read_groups(frame, options.group, options.measure, file)
    prior_sets = resolve_prior_sets(options.prior_sets)
    out = fit_partition(effects, errors, prior_sets, options.thresholds, Benefit.parse(options.benefit),
                        options.level)
    if options.nuts_sample:
        from bayesmeta.batch.crosscheck import nuts_columns

        out = nuts_columns(out, effects, prior_sets, nuts_groups, options.level, options.seed)
    return out


def nuts_sample(frame: pd.DataFrame, group: str, size: int, seed: int) -> frozenset[str]:
    """``size`` meta-analyses drawn at random (seeded) for the NUTS cross-check."""
    labels = pd.unique(frame[group])
    if size <= 0:
        return frozenset()
    rng = np.random.default_rng(seed)
    return frozenset(str(g) for g in rng.choice(labels, size=min(size, len(labels)), replace=False))


def _check_header(frame: pd.DataFrame, file: str, options: BatchOptions) -> None:
    if not any(c in frame.columns for c in ("study", "study_id")):
        raise InputError("missing study column", file=file, column="study",
                         valid="a 'study' (or 'study_id') column beside the group column")
    form = next((f for f in FORMS if all(c in frame.columns for c in f)), None)
    if form is None:
        raise InputError("no effect columns found", file=file, valid=f"one of: {FORMS_TEXT}")
    # a ratio measure (given, or possible from a measure column or the form) takes thresholds as ratios
    ratio = (is_ratio(options.measure) if options.measure else
             "measure" in frame.columns or form not in FORMS[:2] and form != FORMS[3])
    bad = [t for t in options.thresholds if ratio and t <= 0]
    if bad:
        raise InputError(f"--threshold {bad[0]:g} is not a ratio", column="--threshold",
                         valid="a ratio > 0 for HR, RR, OR (e.g. 1 or 0.8)")


def _client(scheduler: str | None, workers: int | None, processes: bool):
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            return Client(scheduler, timeout="20s"), None
        except OSError as exc:
            raise InputError(f"cannot reach the Dask scheduler: {exc}", column="--scheduler",
                             valid="the address of a running scheduler, e.g. tcp://HOST:8786") from None
    n = workers or os.cpu_count() or 1
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=processes, dashboard_address=None,
                           silence_logs=50)
    return Client(cluster), cluster


def run_batch(table: str | Path, out: str | Path, options: BatchOptions, *, published: str | Path | None = None,
              scheduler: str | None = None, workers: int | None = None, processes: bool = True,
              progress: bool = True, figure: bool = True) -> BatchSummary:
    """Reanalyse every meta-analysis of ``table`` under each prior set; write ``results.parquet``,
    ``results.csv`` and ``summary.png`` into ``out`` (and the partitions under ``out/parts``)."""
    start = time.perf_counter()
    file = str(table)
    if options.partition_size < 1:
        raise InputError("the partition size must be at least 1", column="--partition-size")
    prior_sets = resolve_prior_sets(options.prior_sets)
    _check_level(options.level)
    folder = BatchFolder(out, (table, published))
    frame = read_long_table(table, options.group)
    _check_header(frame, file, options)
    pub = read_published(published, options.group) if published is not None else None
    parts = partitions(frame, options.group, options.partition_size)
    manifest = {"table": os.path.abspath(file), "sha256": file_digest(table), "options": asdict(options)}
    folder.open(manifest)
    try:
        todo = [i for i in range(len(parts)) if not folder.done(i)]
        n_workers = 0
        if todo:
            client, cluster = _client(scheduler, workers, processes)
            try:
                n_workers = len(client.scheduler_info()["workers"])
                _compute(client, parts, todo, options, file, folder, progress)
            finally:
                client.close()
                if cluster is not None:
                    cluster.close()
        results = folder.read_parts(len(parts))
        if pub is not None:
            results = reinterpret_rows(results, pub, prior_sets, options.thresholds, Benefit.parse(options.benefit),
                                       options.level)
        files = _write_results(results, folder.path, figure)
    finally:
        folder.close()
    first = results.drop_duplicates("group")
    return BatchSummary(partitions=len(parts), computed=len(todo), skipped=len(parts) - len(todo),
                        meta_analyses=len(first), errors=int((first["status"] == "error").sum()), rows=len(results),
                        seconds=time.perf_counter() - start, workers=n_workers, files=files)


def _compute(client, parts, todo, options, file, folder: BatchFolder, progress: bool) -> None:
    from distributed import as_completed
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    sample = nuts_sample(pd.concat(parts) if options.nuts_sample else parts[0], options.group, options.nuts_sample,
                         options.seed)
    futures = {}
    for i in todo:
        mine = frozenset(sample & set(parts[i][options.group])) if sample else frozenset()
        futures[client.submit(process_partition, parts[i], options, file, mine, pure=False)] = i
    columns = (TextColumn("batch"), BarColumn(), MofNCompleteColumn(), TextColumn("partitions"),
               TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), disable=not progress, transient=True) as bar:
        task = bar.add_task("batch", total=len(parts), completed=len(parts) - len(todo))
        for future in as_completed(futures):
            index = futures.pop(future)
            folder.write_part(index, future.result())
            future.release()
            bar.advance(task)


def _write_results(results: pd.DataFrame, path: Path, figure: bool) -> dict[str, str]:
    files = {"parquet": str(path / f"{RESULTS}.parquet"), "csv": str(path / f"{RESULTS}.csv")}
    atomic_write(Path(files["parquet"]), lambda p: results.to_parquet(p, index=False))
    atomic_write(Path(files["csv"]), lambda p: results.to_csv(p, index=False))
    if figure:
        target = path / FIGURE
        atomic_write(target, lambda p: summary_figure(results, p))
        files["figure"] = str(target)
    return files
