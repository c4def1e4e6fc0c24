"""Batch reanalysis on a LocalCluster: each row against a single exact fit, the exact Bayes factors and metafor-
equivalent rma (DL, REML, Hartung-Knapp); error rows; resuming; the command line's exit status on bad input.
The table is unsorted and read in chunks of 4 rows into partitions of 2 meta-analyses, so groups straddle chunks
and partitions collect rows from several chunks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bayesmeta.batch import BatchOptions, run_batch
from bayesmeta.cli import main
from bayesmeta.errors import InputError
from bayesmeta.exact import bayes_factor_mu0, bayes_factor_tau0, fit_exact
from bayesmeta.frequentist import rma
from bayesmeta.priors import load_prior_sets

PRIOR_SETS = ("weakly_informative", "skeptical")


CHUNK_ROWS = 4


def _table(path, shuffle: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(12)
    rows = []
    for g, k in enumerate([1, 2, 3, 5, 8, 4, 6]):
        se = rng.uniform(0.1, 0.5, k)
        y = rng.normal(-0.2, np.sqrt(0.2**2 + se**2))
        rows += [(f"m{g}", f"s{j}", y[j], se[j]) for j in range(k)]
    frame = pd.DataFrame(rows, columns=["meta_id", "study", "yi", "sei"])
    frame.loc[frame.index[frame.meta_id == "m5"][2], "sei"] = -0.3  # malformed: one negative standard error
    if shuffle:  # an unsorted table: the rows of a meta-analysis anywhere in the file
        frame = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
    frame.to_csv(path, index=False)
    return frame


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batch")
    table = folder / "table.csv"
    frame = _table(table, shuffle=True)
    chunk = np.arange(len(frame)) // CHUNK_ROWS
    assert (frame.meta_id != frame.meta_id.shift()).sum() > frame.meta_id.nunique()  # groups not contiguous
    assert (pd.Series(chunk).groupby(frame.meta_id.to_numpy()).nunique() > 1).sum() >= 3  # straddling chunks
    options = BatchOptions(group="meta_id", prior_sets=PRIOR_SETS, thresholds=(1.0, 0.8), measure="HR",
                           partition_size=2)
    summary = run_batch(table, folder / "out", options, workers=2, processes=False, progress=False, figure=False,
                        chunk_rows=CHUNK_ROWS)
    return folder, table, frame, options, summary


def test_each_row_matches_a_single_exact_fit_and_rma(batch):
    _, _, frame, _, summary = batch
    results = pd.read_parquet(summary.files["parquet"])
    sets = load_prior_sets()
    ok = results[results.status == "ok"]
    assert len(ok) == 6 * len(PRIOR_SETS) and summary.workers == 2
    for row in ok.to_dict("records"):
        sub = frame[frame.meta_id == row["group"]]
        post = fit_exact(sub.yi.to_numpy(), sub.sei.to_numpy(), mu_prior=sets[row["prior_set"]].mu,
                         tau_prior=sets[row["prior_set"]].tau)
        assert row["k"] == len(sub)
        for param in ("mu", "tau", "predictive"):
            m = post.marginal(param)
            lo, hi = m.interval(0.95)
            assert row[f"{param}_median"] == pytest.approx(m.median(), abs=1e-8)
            assert row[f"{param}_ci_lower"] == pytest.approx(lo, abs=1e-8)
            assert row[f"{param}_ci_upper"] == pytest.approx(hi, abs=1e-8)
        assert row["prob_below_0.8"] == pytest.approx(float(post.marginal("mu").cdf(np.log(0.8))), abs=1e-10)
        assert row["prob_below_1"] == pytest.approx(float(post.marginal("mu").cdf(0.0)), abs=1e-10)
        assert row["bf10_tau"] == pytest.approx(bayes_factor_tau0(post), rel=1e-8)
        assert row["bf10_mu"] == pytest.approx(bayes_factor_mu0(post), rel=1e-8)
        for method in ("DL", "REML"):
            ref = rma(sub.yi.to_numpy(), sub.sei.to_numpy() ** 2, method=method)
            key = method.lower()
            assert row[f"{key}_estimate"] == pytest.approx(ref.estimate, abs=1e-9)
            assert row[f"{key}_ci_upper"] == pytest.approx(ref.ci_upper, abs=1e-9)
            assert row[f"{key}_tau"] == pytest.approx(np.sqrt(ref.tau2), abs=1e-7)
            assert row[f"{key}_pi_lower"] == pytest.approx(ref.pi_lower, abs=1e-9)
        if len(sub) > 1:
            hk = rma(sub.yi.to_numpy(), sub.sei.to_numpy() ** 2, method="REML", test="knha")
            assert (row["hk_ci_lower"], row["hk_ci_upper"]) == pytest.approx((hk.ci_lower, hk.ci_upper), abs=1e-9)
        else:
            assert np.isnan(row["hk_ci_lower"])


def test_a_malformed_meta_analysis_is_an_error_row_naming_group_row_and_column(batch):
    _, _, frame, _, summary = batch
    results = pd.read_parquet(summary.files["parquet"])
    errors = results[results.status == "error"]
    assert sorted(errors.prior_set) == sorted(PRIOR_SETS) and set(errors.group) == {"m5"}
    bad = int(np.flatnonzero(frame.sei.to_numpy() < 0)[0]) + 2  # spreadsheet row: header is row 1
    assert set(errors.error_row) == {bad} and set(errors.error_column) == {"sei"}
    assert summary.errors == 1 and summary.meta_analyses == 7


def test_a_rerun_skips_the_partitions_already_written(batch):
    folder, table, _, options, first = batch
    parts = sorted((folder / "out" / "parts").glob("part-*.parquet"))
    assert first.partitions == len(parts) == 4 and first.computed == 4
    parts[1].unlink()
    kept = {p: p.stat().st_mtime_ns for p in parts if p != parts[1]}
    split = {p: p.stat().st_mtime_ns for p in (folder / "out" / "split").iterdir()}
    again = run_batch(table, folder / "out", options, workers=1, processes=False, progress=False, figure=False,
                      chunk_rows=CHUNK_ROWS)
    assert (again.computed, again.skipped) == (1, 3)
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())
    assert {p: p.stat().st_mtime_ns for p in (folder / "out" / "split").iterdir()} == split  # the split reused
    results = pd.read_parquet(again.files["parquet"])
    assert len(results) == 7 * len(PRIOR_SETS)
    assert not list((folder / "out" / "parts").glob(".*tmp*"))


def test_cli_exits_2_on_bad_input(tmp_path, capsys):
    table = tmp_path / "t.csv"
    _table(table)
    assert main(["batch", str(table), "--group", "review", "--out", str(tmp_path / "o")]) == 2
    assert "column 'review'" in capsys.readouterr().err
    assert main(["batch", str(table), "--priors", "nonsense", "--out", str(tmp_path / "o")]) == 2
    assert "unknown prior set 'nonsense'" in capsys.readouterr().err
    assert main(["batch", str(table), "--measure", "HR", "--threshold", "0", "--out", str(tmp_path / "o")]) == 2
    assert "--threshold 0 is not a ratio" in capsys.readouterr().err
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("mine")
    assert main(["batch", str(table), "--out", str(tmp_path / "other")]) == 2
    assert not (tmp_path / "o").exists()


def test_published_estimates_are_reinterpreted_by_the_conjugate_normal_formula(tmp_path):
    from bayesmeta.batch.published import read_published, reinterpret_rows
    from bayesmeta.benefit import Benefit

    path = tmp_path / "published.csv"
    path.write_text("meta_id,estimate,ci_lower,ci_upper\nm0,0.8,0.64,1.0\n")
    sets = load_prior_sets()
    results = pd.DataFrame({"group": ["m0", "m0"], "prior_set": ["weakly_informative", "skeptical"],
                            "measure": ["HR", "HR"]})
    out = reinterpret_rows(results, read_published(path, "meta_id"), [sets["weakly_informative"], sets["skeptical"]],
                           (1.0,), Benefit.BELOW)
    y, se = np.log(0.8), (np.log(1.0) - np.log(0.64)) / (2 * 1.959963984540054)
    for row in out.to_dict("records"):
        s0 = sets[row["prior_set"]].mu.sd  # both priors centred at 0
        prec = 1 / se**2 + 1 / s0**2
        mean = (y / se**2) / prec
        assert row["reinterpreted_median"] == pytest.approx(mean, rel=1e-12)
        assert row["reinterpreted_ci_upper"] == pytest.approx(mean + 1.959963984540054 / np.sqrt(prec), rel=1e-9)
        assert row["reinterpreted_prob_below_1"] == pytest.approx(
            0.5 * (1 + math.erf(-mean * np.sqrt(prec) / np.sqrt(2))), rel=1e-9)
    path.write_text("meta_id,estimate,ci_lower,ci_upper\nm0,1.2,0.64,1.0\n")
    with pytest.raises(InputError, match="row 2.*estimate"):
        read_published(path, "meta_id")


def test_reml_where_fisher_scoring_is_slow_matches_rma():
    from bayesmeta.batch.frequentist import tau2_reml

    # a k = 3 data set of the calibration study whose REML tau^2 (6e-4) Fisher scoring approaches too slowly
    y = np.array([[-0.5590272363686626, -0.09426513677647755, 0.6916860546720683]])
    sei = np.array([[0.36815147709714224, 0.1361356383335169, 0.5486604767046361]])
    assert tau2_reml(y, sei**2, np.ones((1, 3), dtype=bool))[0] == pytest.approx(
        rma(y[0], sei=sei[0], method="REML").tau2, rel=1e-8)


def test_other_reported_forms_are_read_group_by_group_with_rows_of_the_whole_table(tmp_path):
    from bayesmeta.batch import BatchOptions, process_partition
    from bayesmeta.batch.table import read_long_table
    from bayesmeta.tables import read_effect_table

    lines = ["meta_id,study,events_treatment,total_treatment,events_control,total_control",
             "a,s1,10,100,20,100", "a,s2,5,50,9,50", "a,s3,12,80,15,82",
             "b,s1,7,60,7,61", "b,s2,30,20,8,40"]  # b: more events than patients on row 6
    table = tmp_path / "counts.csv"
    table.write_text("\n".join(lines) + "\n")
    frame = read_long_table(table, "meta_id")
    out = process_partition(frame, BatchOptions(group="meta_id", measure="OR"), str(table)).set_index("group")
    single = tmp_path / "a.csv"
    single.write_text("\n".join([lines[0].replace("meta_id,", "")] + [l[2:] for l in lines[1:4]]) + "\n")
    data = read_effect_table(single, "OR")
    assert out.loc["a", "reml_estimate"] == pytest.approx(rma(data, method="REML").estimate, abs=1e-10)
    assert out.loc["a", "measure"] == "OR" and out.loc["a", "k"] == 3
    assert out.loc["b", "status"] == "error" and out.loc["b", "error_row"] == 6
