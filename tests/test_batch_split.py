"""The long table cut into partition files in one streaming pass: against the table read whole
(:func:`read_long_table`, the reader the batch used before), for CSV and Parquet, an unsorted table and chunks
smaller than a meta-analysis; a partition file read by path and by its bytes gives the same fit; errors raised
mid-stream name the row of the whole file and leave no partial split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayesmeta.batch import BatchOptions, process_partition
from bayesmeta.batch.split import partition_file, read_labels, read_partition, read_split, split_table
from bayesmeta.batch.table import ROW, read_long_table
from bayesmeta.errors import InputError


def _table(path, n: int = 9, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    k = rng.integers(1, 6, n)
    group = np.repeat([f"g{i}" for i in range(n)], k)
    frame = pd.DataFrame({"meta_id": group, "study": [f"s{j}" for kk in k for j in range(kk)],
                          "yi": rng.normal(0, 0.3, k.sum()).round(6), "sei": rng.uniform(0.1, 0.4, k.sum()).round(6),
                          "note": ["a, b \"quoted\"" if j % 3 == 0 else "" for j in range(k.sum())]})
    frame = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
    if str(path).endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return frame


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_partitions_hold_whole_groups_in_order_of_first_appearance_with_the_rows_of_the_file(tmp_path, suffix):
    table = tmp_path / f"t.{suffix}"
    _table(table)
    whole = read_long_table(table, "meta_id")
    split = split_table(table, "meta_id", 2, tmp_path / "split", rows=3)
    labels = pd.unique(whole["meta_id"])
    assert (split.partitions, split.groups, split.rows) == (5, 9, len(whole))
    assert list(read_labels(tmp_path / "split")) == list(labels)
    assert read_split(tmp_path / "split") == split
    rank = {g: i for i, g in enumerate(labels)}
    parts = [read_partition(partition_file(tmp_path / "split", i), "meta_id") for i in range(split.partitions)]
    for i, part in enumerate(parts):
        assert {rank[g] // 2 for g in part["meta_id"]} == {i}  # partition = rank of first appearance // size
        assert list(pd.unique(part["meta_id"])) == sorted(pd.unique(part["meta_id"]), key=rank.get)
        assert (part.groupby("meta_id", sort=False)[ROW].apply(lambda r: r.is_monotonic_increasing)).all()
    streamed = pd.concat(parts).sort_values(ROW).reset_index(drop=True)
    pd.testing.assert_frame_equal(streamed, whole[streamed.columns].reset_index(drop=True), check_dtype=False)
    assert (streamed[ROW].to_numpy() == np.arange(len(whole))).all()


def test_a_partition_file_by_path_and_by_bytes_fits_as_its_rows_read_whole(tmp_path):
    table = tmp_path / "t.csv"
    _table(table, n=6)
    split_table(table, "meta_id", 4, tmp_path / "split", rows=5)
    path = partition_file(tmp_path / "split", 0)
    options = BatchOptions(group="meta_id", measure="MD")
    whole = read_long_table(table, "meta_id")
    mine = read_partition(path, "meta_id")["meta_id"].unique()
    reference = process_partition(whole[whole.meta_id.isin(mine)], options, str(table))
    pd.testing.assert_frame_equal(process_partition(str(path), options, str(table)), reference)
    pd.testing.assert_frame_equal(process_partition(path.read_bytes(), options, str(table)), reference)


def test_a_blank_group_after_the_first_chunk_names_its_row_and_leaves_no_split(tmp_path):
    table = tmp_path / "t.csv"
    frame = _table(table)
    frame.loc[11, "meta_id"] = ""
    frame.to_csv(table, index=False)
    with pytest.raises(InputError, match="row 13.*meta_id.*blank group"):
        split_table(table, "meta_id", 2, tmp_path / "split", rows=4)
    assert not list(tmp_path.glob("*split*"))


def test_a_malformed_csv_line_after_the_first_chunk_is_an_input_error_and_leaves_no_split(tmp_path):
    table = tmp_path / "t.csv"
    _table(table)
    with open(table, "a", encoding="utf-8") as handle:
        handle.write("g1,s9,0.1,0.2,x,surplus\n")
    with pytest.raises(InputError, match="not a readable CSV file .*Expected 5 fields") as caught:
        split_table(table, "meta_id", 2, tmp_path / "split", rows=4)
    assert not str(caught.value).endswith("\n)")
    assert not list(tmp_path.glob("*split*"))
