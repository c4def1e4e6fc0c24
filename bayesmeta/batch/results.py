"""The results of a batch assembled from its partition files one partition at a time: ``results.parquet`` (a row
group per partition), ``results.csv`` and the figure, so that the driver never holds the whole result.

The rows, columns and types are those of the partitions concatenated (``pandas.concat``): the columns in order
of first appearance, each column's type the common type over the partitions (found from the partitions'
schemas, then from the partitions themselves for a column that is empty in some). The figure gets its few
columns, with the text as categories.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

FIGURE_COLUMNS = ("group", "prior_set", "status", "measure", "reml_estimate", "mu_median", "tau_median", "reml_tau")


@dataclass(frozen=True)
class Assembled:
    """Meta-analyses (groups), those unreadable (status error in their first row), rows; the figure's data."""

    meta_analyses: int
    errors: int
    rows: int
    figure_data: pd.DataFrame | None


def _template(parts: Sequence[Path]) -> pd.DataFrame:
    import pyarrow.parquet as pq

    empty = [pq.read_schema(p).empty_table().to_pandas() for p in parts]
    return pd.concat(empty, ignore_index=True)


def _frames(parts: Sequence[Path], template: pd.DataFrame, transform: Callable[[pd.DataFrame], pd.DataFrame]):
    for path in parts:
        frame = pd.concat([template, pd.read_parquet(path)], ignore_index=True)
        yield transform(frame)


def _schema(parts: Sequence[Path], template: pd.DataFrame, transform):
    """The Arrow schema of the concatenated result: each column's type from the first partition where it is
    not all empty (pandas metadata of the first), reading only the partitions that can tell."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = None
    for path in parts:
        if schema is not None:  # only a partition with values in a column still empty can change the schema
            empty = {f.name for f in schema if pa.types.is_null(f.type)}
            if not any(f.name in empty and not pa.types.is_null(f.type) for f in pq.read_schema(path)):
                continue
        frame = next(_frames([path], template, transform))
        found = pa.Schema.from_pandas(frame, preserve_index=False)
        if schema is None:
            schema = found
        for i, field in enumerate(schema):
            other = found.field(field.name)
            if pa.types.is_null(field.type) and not pa.types.is_null(other.type):
                schema = schema.set(i, pa.field(field.name, other.type))
                meta = schema.pandas_metadata  # pandas' note of the column's kind, as in the concatenated frame
                meta["columns"][i] = found.pandas_metadata["columns"][found.get_field_index(field.name)]
                schema = schema.with_metadata({b"pandas": json.dumps(meta).encode()})
        if not any(pa.types.is_null(f.type) for f in schema):
            break
    return schema


def write_results(parts: Sequence[Path], parquet: Path, csv: Path, prior_sets: Sequence[str],
                  transform: Callable[[pd.DataFrame], pd.DataFrame] = lambda f: f,
                  figure: bool = True) -> Assembled:
    """Write the partitions' rows (after ``transform``, e.g. the published estimates beside) to ``parquet``
    and ``csv``, each through a temporary file renamed into place."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    template = _template(parts)
    schema = _schema(parts, template, transform)
    tmp = [p.with_name(f".{p.stem}.tmp-{os.getpid()}{p.suffix}") for p in (parquet, csv)]
    groups = errors = rows = 0
    kept: list[pd.DataFrame] = []
    try:
        with pq.ParquetWriter(tmp[0], schema) as writer, open(tmp[1], "w", newline="", encoding="utf-8") as text:
            for frame in _frames(parts, template, transform):
                writer.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False))
                frame.to_csv(text, index=False, header=rows == 0)
                first = frame.drop_duplicates("group")  # a meta-analysis is never split across partitions
                groups += len(first)
                errors += int((first["status"] == "error").sum())
                if figure:
                    kept.append(_figure_rows(frame, groups - len(first), prior_sets))
                rows += len(frame)
        os.replace(tmp[0], parquet)
        os.replace(tmp[1], csv)
    finally:
        for path in tmp:
            path.unlink(missing_ok=True)
    data = pd.concat(kept, ignore_index=True) if kept else None
    return Assembled(groups, errors, rows, data)


def _figure_rows(frame: pd.DataFrame, start: int, prior_sets: Sequence[str]) -> pd.DataFrame:
    out = frame.reindex(columns=list(FIGURE_COLUMNS)).copy()
    out["group"] = pd.factorize(frame["group"], sort=False)[0] + start
    out["prior_set"] = pd.Categorical(frame["prior_set"], categories=list(prior_sets))
    out["status"] = pd.Categorical(frame["status"], categories=["ok", "error"])
    out["measure"] = pd.Categorical(out["measure"].astype(object))
    return out
