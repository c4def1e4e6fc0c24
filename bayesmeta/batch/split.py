"""The long table cut into partition files in one streaming pass, so that no process holds the whole table.

The table (CSV or Parquet) is read in chunks of ``chunk_rows`` rows; each row goes to the partition of its group,
``partition = (rank of the group's first appearance) // partition_size``, and is appended to that partition's
file (CSV text, the cells as read, with the row's 0-based position in the whole table in ``_row``). Groups stay
whole and the table need not be sorted: the rows of a group may be anywhere in the file. The driver holds one
chunk and the group index (a dict of the labels seen, about 100 bytes a meta-analysis); a worker reads one
partition file (:func:`read_partition`).

The partitions are written into a temporary folder renamed into place when complete, with ``index.json``
(partitions, meta-analyses, rows, columns) and ``groups.parquet`` (the labels in order of first appearance),
so a run interrupted during the split leaves no partial split behind and a resumed run reads no table at all.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bayesmeta.batch.table import ROW
from bayesmeta.data import iter_text_csv, spreadsheet_row
from bayesmeta.errors import InputError
from bayesmeta.tables import _text_frame

INDEX = "index.json"
GROUPS = "groups.parquet"
CHUNK_ROWS = 50_000


@dataclass(frozen=True)
class SplitIndex:
    """What a split wrote: the number of partitions, meta-analyses and rows, and the table's columns."""

    partitions: int
    groups: int
    rows: int
    columns: tuple[str, ...]


def partition_file(folder: Path, index: int) -> Path:
    return folder / f"part-{index:05d}.csv"


def iter_table(path: str | Path, rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The table as text cells (blank = ''), ``rows`` rows at a time, CSV or Parquet (by extension)."""
    file = str(path)
    if not file.lower().endswith((".parquet", ".pq")):
        yield from iter_text_csv(path, rows)
        return
    if not Path(path).is_file():
        raise InputError("file not found", file=file)
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        batches = parquet.iter_batches(batch_size=rows)
        schema = parquet.schema_arrow
        empty = True
        for batch in batches:
            empty = False
            yield _text_frame(pa.Table.from_batches([batch], schema=schema).to_pandas())
        if empty:
            yield _text_frame(schema.empty_table().to_pandas())
    except (pa.ArrowException, OSError) as exc:  # pyarrow's own types for a file that is not Parquet
        raise InputError(f"not a readable Parquet file ({exc.__class__.__name__})", file=file) from None


def first_chunk(path: str | Path, group: str, rows: int = CHUNK_ROWS) -> tuple[pd.DataFrame, Iterator[pd.DataFrame]]:
    """The first chunk, checked (the group column exists, data rows, no blank group), and the chunks after it:
    a table that is unreadable from its start is refused before anything is written."""
    chunks = iter_table(path, rows)
    first = next(chunks)
    _check_chunk(first, group, str(path), 0)
    if first.empty:
        raise InputError("the table has no data rows", file=str(path))
    return first, chunks


def _check_chunk(chunk: pd.DataFrame, group: str, file: str, offset: int) -> None:
    if group not in chunk.columns:
        raise InputError(f"no group column '{group}'", file=file, column=group,
                         valid="--group naming a column: " + ", ".join(map(str, chunk.columns)))
    blank = np.flatnonzero(chunk[group].to_numpy() == "")
    if blank.size:
        raise InputError("blank group", file=file, row=spreadsheet_row(offset + int(blank[0])), column=group,
                         valid="a group label on every row")


def split_table(path: str | Path, group: str, size: int, target: Path, rows: int = CHUNK_ROWS,
                check: Callable[[tuple[str, ...]], None] | None = None) -> SplitIndex:
    """Cut the table into partition files of ``size`` meta-analyses under ``target`` (created by renaming a
    temporary sibling when complete); ``check`` sees the columns before anything is written."""
    file = str(path)
    first, rest = first_chunk(path, group, rows)
    columns = (*map(str, first.columns), ROW)
    if check is not None:
        check(columns[:-1])
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        index: dict[str, int] = {}
        started: set[int] = set()
        offset = 0
        for chunk in _chain(first, rest):
            _check_chunk(chunk, group, file, offset)
            chunk[ROW] = np.arange(offset, offset + len(chunk))
            offset += len(chunk)
            codes, uniques = pd.factorize(chunk[group], sort=False)
            rank = np.fromiter((index.setdefault(u, len(index)) for u in uniques), dtype=np.int64,
                               count=len(uniques))
            part = rank[codes] // size
            order = np.argsort(part, kind="stable")  # rows of each partition in the order of the table
            cuts = np.flatnonzero(np.diff(part[order])) + 1
            for rows_of_part in np.split(order, cuts):
                p = int(part[rows_of_part[0]])
                _append(partition_file(tmp, p), chunk.iloc[rows_of_part], p not in started)
                started.add(p)
        split = SplitIndex(partitions=len(started), groups=len(index), rows=offset, columns=columns)
        pd.DataFrame({"group": list(index)}).to_parquet(tmp / GROUPS, index=False)
        (tmp / INDEX).write_text(json.dumps(asdict(split)) + "\n", encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return split


def _chain(first: pd.DataFrame, rest: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    yield first
    yield from rest


def _append(path: Path, rows: pd.DataFrame, header: bool) -> None:
    with open(path, "a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if header:
            writer.writerow(rows.columns)
        writer.writerows(rows.itertuples(index=False, name=None))


def read_split(target: Path) -> SplitIndex | None:
    """The index of a complete split under ``target``, or None."""
    try:
        data = json.loads((target / INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return SplitIndex(data["partitions"], data["groups"], data["rows"], tuple(data["columns"]))


def read_labels(target: Path) -> np.ndarray:
    """The group labels of a split, in order of first appearance in the table."""
    return pd.read_parquet(target / GROUPS)["group"].to_numpy(dtype=object)


def read_partition(source: str | Path | bytes, group: str) -> pd.DataFrame:
    """One partition file (a path, or its bytes for a worker without the driver's disk) as the text cells of
    its rows, groups together in order of first appearance, each group's rows in the order of the table."""
    handle = io.BytesIO(source) if isinstance(source, bytes) else source
    frame = pd.read_csv(handle, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8")
    frame[ROW] = frame[ROW].astype(np.int64)
    codes, _ = pd.factorize(frame[group], sort=False)
    return frame.iloc[np.argsort(codes, kind="stable")].reset_index(drop=True)
