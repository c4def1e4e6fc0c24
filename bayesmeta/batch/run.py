"""A batch reanalysis on dask.distributed: the table is cut into partition files in one streaming pass
(:mod:`bayesmeta.batch.split`), each partition file is read and fitted on a worker (:func:`process_partition`),
and the driver writes each result as it arrives, so an interrupted run resumes where it stopped. The driver
holds one chunk of the table, one partition's results and a few numbers per row for the figure at a time, never
the table or the whole result (:mod:`bayesmeta.batch.results`); a few partitions per worker are in flight.

Without ``scheduler`` a :class:`distributed.LocalCluster` sized to the machine (one single-threaded worker
process per core) is started and closed, and its workers read the partition files by path; with ``scheduler``
(``tcp://HOST:8786``) the run uses that cluster and sends each partition file's bytes, so a remote cluster needs
no shared disk (workers only compute: they need the package, not the output folder).
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
from bayesmeta.batch.results import write_results
from bayesmeta.batch.split import CHUNK_ROWS, first_chunk, partition_file, read_labels, read_partition, read_split, \
    split_table
from bayesmeta.batch.store import BatchFolder, atomic_write, file_digest
from bayesmeta.batch.table import read_groups
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


def resolve_prior_sets(names: Sequence[str], benefit: str = "below") -> list[PriorSet]:
    """The named prior sets of bayesmeta/resources/priors.toml for outcomes whose benefit lies ``benefit`` of the
    null (:meth:`PriorSet.for_benefit`); InputError naming the valid ones."""
    sets = load_prior_sets()
    unknown = [n for n in names if n not in sets]
    if unknown or not names:
        raise InputError(f"unknown prior set {unknown[0]!r}" if unknown else "no prior set given",
                         column="--priors", valid=", ".join(sets))
    return [sets[n].for_benefit(Benefit.parse(benefit)) for n in names]


def process_partition(source: pd.DataFrame | str | Path | bytes, options: BatchOptions, file: str,
                      nuts_groups: frozenset[str] = frozenset()) -> pd.DataFrame:
    """Read and fit one partition (runs on a worker): its rows as text cells with ``_row``, or its partition
    file (a path or the file's bytes, :func:`bayesmeta.batch.split.read_partition`); the meta-analyses in
    ``nuts_groups`` are also fitted by NUTS (:func:`bayesmeta.batch.crosscheck.nuts_columns`)."""
    from bayesmeta.quiet import silence_known_warnings

    silence_known_warnings()
    frame = source if isinstance(source, pd.DataFrame) else read_partition(source, options.group)
    effects, errors = read_groups(frame, options.group, options.measure, file)
    prior_sets = resolve_prior_sets(options.prior_sets, options.benefit)
    out = fit_partition(effects, errors, prior_sets, options.thresholds, Benefit.parse(options.benefit),
                        options.level)
    if options.nuts_sample:
        from bayesmeta.batch.crosscheck import nuts_columns

        out = nuts_columns(out, effects, prior_sets, nuts_groups, options.level, options.seed)
    return out


def nuts_sample(labels: np.ndarray, size: int, seed: int) -> frozenset[str]:
    """``size`` meta-analyses drawn at random (seeded) from the labels (in order of first appearance) for the
    NUTS cross-check."""
    if size <= 0:
        return frozenset()
    rng = np.random.default_rng(seed)
    return frozenset(str(g) for g in rng.choice(labels, size=min(size, len(labels)), replace=False))


def _check_header(columns: Sequence[str], file: str, options: BatchOptions) -> None:
    if not any(c in columns for c in ("study", "study_id")):
        raise InputError("missing study column", file=file, column="study",
                         valid="a 'study' (or 'study_id') column beside the group column")
    form = next((f for f in FORMS if all(c in columns for c in f)), None)
    if form is None:
        raise InputError("no effect columns found", file=file, valid=f"one of: {FORMS_TEXT}")
    # a ratio measure (given, or possible from a measure column or the form) takes thresholds as ratios
    ratio = (is_ratio(options.measure) if options.measure else
             "measure" in columns or form not in FORMS[:2] and form != FORMS[3])
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
              progress: bool = True, figure: bool = True, chunk_rows: int = CHUNK_ROWS) -> BatchSummary:
    """Reanalyse every meta-analysis of ``table`` under each prior set; write ``results.parquet``,
    ``results.csv`` and ``summary.png`` into ``out`` (the table's partitions under ``out/split``, their results
    under ``out/parts``). The table is read ``chunk_rows`` rows at a time."""
    start = time.perf_counter()
    file = str(table)
    if options.partition_size < 1:
        raise InputError("the partition size must be at least 1", column="--partition-size")
    prior_sets = resolve_prior_sets(options.prior_sets, options.benefit)
    _check_level(options.level)
    folder = BatchFolder(out, (table, published))
    first, rest = first_chunk(table, options.group, chunk_rows)  # an unreadable table is refused before any work
    rest.close()
    _check_header([str(c) for c in first.columns], file, options)
    del first
    pub = read_published(published, options.group) if published is not None else None
    manifest = {"table": os.path.abspath(file), "sha256": file_digest(table), "options": asdict(options)}
    folder.open(manifest)
    try:
        split = read_split(folder.split)
        if split is None:
            split = split_table(table, options.group, options.partition_size, folder.split, chunk_rows)
        todo = [i for i in range(split.partitions) if not folder.done(i)]
        n_workers = 0
        if todo:
            client, cluster = _client(scheduler, workers, processes)
            try:
                n_workers = len(client.scheduler_info()["workers"])
                _compute(client, folder, todo, split.partitions, options, file, progress, by_path=cluster is not None)
            finally:
                client.close()
                if cluster is not None:
                    cluster.close()
        files, assembled = _write_results(folder, split.partitions, pub, prior_sets, options, figure)
    finally:
        folder.close()
    return BatchSummary(partitions=split.partitions, computed=len(todo), skipped=split.partitions - len(todo),
                        meta_analyses=assembled.meta_analyses, errors=assembled.errors, rows=assembled.rows,
                        seconds=time.perf_counter() - start, workers=n_workers, files=files)


def _compute(client, folder: BatchFolder, todo: list[int], count: int, options: BatchOptions, file: str,
             progress: bool, by_path: bool) -> None:
    """Fit the partitions ``todo`` with at most two per worker in flight (so neither the scheduler nor the
    driver holds more than a few partitions), writing each result as it arrives."""
    from distributed import as_completed
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    labels = read_labels(folder.split) if options.nuts_sample else np.array([], dtype=object)
    sample = nuts_sample(labels, options.nuts_sample, options.seed)
    rank = {str(g): r for r, g in enumerate(labels) if str(g) in sample}  # partition = rank // partition size
    size = options.partition_size
    del labels
    waiting = iter(todo)
    futures = {}
    running = as_completed()

    def submit() -> None:
        i = next(waiting, None)
        if i is None:
            return
        path = partition_file(folder.split, i)
        mine = frozenset(g for g in sample if rank[g] // size == i) if sample else frozenset()
        future = client.submit(process_partition, str(path) if by_path else path.read_bytes(), options, file, mine,
                               pure=False)
        futures[future] = i
        running.add(future)

    for _ in range(2 * max(len(client.scheduler_info()["workers"]), 1)):
        submit()
    columns = (TextColumn("batch"), BarColumn(), MofNCompleteColumn(), TextColumn("partitions"),
               TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), disable=not progress, transient=True) as bar:
        task = bar.add_task("batch", total=count, completed=count - len(todo))
        for future in running:
            index = futures.pop(future)
            folder.write_part(index, future.result())
            future.release()
            bar.advance(task)
            submit()


def _write_results(folder: BatchFolder, count: int, pub, prior_sets, options: BatchOptions, figure: bool):
    path = folder.path
    files = {"parquet": str(path / f"{RESULTS}.parquet"), "csv": str(path / f"{RESULTS}.csv")}
    parts = [folder.part_path(i) for i in range(count)]
    transform = (lambda frame: frame) if pub is None else _published(pub, prior_sets, options, parts)
    assembled = write_results(parts, Path(files["parquet"]), Path(files["csv"]), options.prior_sets, transform,
                              figure)
    if figure:
        target = path / FIGURE
        atomic_write(target, lambda p: summary_figure(assembled.figure_data, p))
        files["figure"] = str(target)
    return files, assembled


def _published(pub: pd.DataFrame, prior_sets, options: BatchOptions, parts: list[Path]):
    """The published estimates beside each partition's rows, on the table's measure (that of the first
    partition with a readable meta-analysis)."""
    import pyarrow.parquet as pq

    measure = None
    for part in parts:
        if "measure" in pq.read_schema(part).names:
            found = pd.read_parquet(part, columns=["measure"])["measure"].dropna()
            if len(found):
                measure = str(found.iloc[0])
                break
    benefit = Benefit.parse(options.benefit)
    return lambda frame: reinterpret_rows(frame, pub, prior_sets, options.thresholds, benefit, options.level,
                                          measure=measure)
