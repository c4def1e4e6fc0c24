"""results.parquet and results.csv written one partition at a time equal the partitions concatenated whole
(pandas.concat, what the batch wrote before), with a partition of error rows only (columns missing) and one
whose error columns are empty; the counts of meta-analyses and unreadable ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from bayesmeta.batch.results import write_results


def _parts(tmp_path):
    ok = pd.DataFrame({"group": ["a", "a", "b", "b"], "prior_set": ["p", "q"] * 2, "status": "ok",
                       "k": pd.array([3, 3, 5, 5], dtype="Int64"), "measure": "HR",
                       "mu_median": [0.1, 0.2, -0.3, np.nan], "reml_estimate": [0.1, 0.1, -0.2, -0.2],
                       "tau_median": [0.2, 0.3, 0.1, 0.1], "reml_tau": [0.0, 0.0, 0.4, 0.4],
                       "error_row": pd.array([None] * 4, dtype="Int64"),
                       "error_column": pd.Series([None] * 4, dtype=object),
                       "error_message": pd.Series([None] * 4, dtype=object)})
    errors = pd.DataFrame({"group": ["c", "c"], "prior_set": ["p", "q"], "status": "error",
                           "error_row": pd.array([7, 7], dtype="Int64"),
                           "error_column": pd.Series(["sei"] * 2, dtype=object),
                           "error_message": pd.Series(["sei must be positive"] * 2, dtype=object),
                           "k": pd.array([None, None], dtype="Int64")})
    mixed = pd.concat([ok.assign(group=ok.group + "2"), errors.assign(group="d")], ignore_index=True)
    frames = [ok, errors, mixed]
    paths = []
    for i, frame in enumerate(frames):
        paths.append(tmp_path / f"part-{i}.parquet")
        frame.to_parquet(paths[-1], index=False)
    return paths


def test_written_partition_by_partition_equals_the_concatenation(tmp_path):
    paths = _parts(tmp_path)
    whole = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
    whole.to_parquet(tmp_path / "reference.parquet", index=False)
    got = write_results(paths, tmp_path / "r.parquet", tmp_path / "r.csv", ("p", "q"))
    reference = pd.read_parquet(tmp_path / "reference.parquet")  # what the whole result written at once reads as
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "r.parquet"), reference)
    assert pq.read_schema(tmp_path / "r.parquet").equals(pq.read_schema(tmp_path / "reference.parquet"),
                                                         check_metadata=True)
    assert (tmp_path / "r.csv").read_text() == whole.to_csv(index=False)
    assert (got.meta_analyses, got.errors, got.rows) == (6, 2, 12)
    assert list(got.figure_data["mu_median"].isna()) == list(whole["mu_median"].isna())
    assert not list(tmp_path.glob(".*tmp*"))


def test_the_first_partition_without_errors_takes_its_error_columns_types_from_a_later_one(tmp_path):
    paths = _parts(tmp_path)
    order = [paths[0], paths[2]]  # the first has its error columns all empty (stored as null)
    pd.concat([pd.read_parquet(p) for p in order], ignore_index=True).to_parquet(tmp_path / "ref.parquet", index=False)
    write_results(order, tmp_path / "r.parquet", tmp_path / "r.csv", ("p", "q"), figure=False)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "r.parquet"), pd.read_parquet(tmp_path / "ref.parquet"))
    assert str(pq.read_schema(tmp_path / "r.parquet").field("error_column").type) == "string"
