"""User effect tables: every accepted form against metafor escalc values or closed forms; every bad input
reported with file, row and column."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import haic_effects_for
from bayesmeta.effects import effects_for
from bayesmeta.errors import InputError
from bayesmeta.effect_data import EffectData
from bayesmeta.tables import effect_table_from_frame, read_effect_table

REFERENCE = Path(__file__).resolve().parent / "reference"
BCG = REFERENCE / "bcg.csv"
CRINS = REFERENCE / "crins2014.csv"
COUNTS = ["events_treatment", "total_treatment", "events_control", "total_control"]
Z975 = 1.959963984540054
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_counter = itertools.count()


def write(directory: Path, frame: pd.DataFrame) -> Path:
    path = directory / f"table_{next(_counter)}.csv"
    frame.to_csv(path, index=False)
    return path


def assert_located(error: InputError, path: Path, row: int | None, column: str | None) -> None:
    assert error.file == str(path) and error.row == row and error.column == column
    if row is not None:
        assert f"row {row}" in str(error)


def test_yi_vi_form_keeps_counts_and_covariates():
    table = read_effect_table(BCG)
    bcg = pd.read_csv(BCG)
    assert isinstance(table, EffectData) and table.measure == "GEN" and table.k == 13
    np.testing.assert_allclose(table.yi, bcg.yi, atol=1e-15)
    np.testing.assert_allclose(table.vi, bcg.vi, rtol=1e-12)
    assert table.method == ("given",) * 13
    assert list(table.counts.columns) == COUNTS and table.counts.index.name == "study"
    assert table.counts.loc["Aronson 1948"].tolist() == [4, 123, 11, 139]
    assert list(table.covariates.columns) == ["ablat", "year"]
    assert table.covariates.loc["Aronson 1948", "ablat"] == 44 and table.source == str(BCG)


def test_counts_form_reproduces_metafor_log_rr(tmp_path):
    bcg = pd.read_csv(BCG)
    path = write(tmp_path, bcg.drop(columns=["yi", "vi"]))
    table = read_effect_table(path)
    assert table.measure == "RR" and table.method == ("counts",) * 13
    np.testing.assert_allclose(table.yi, bcg.yi, atol=1e-6)
    np.testing.assert_allclose(table.vi, bcg.vi, atol=1e-6)


def test_counts_form_reproduces_metafor_log_or_with_zero_cell_correction(tmp_path):
    crins = pd.read_csv(CRINS)
    path = write(tmp_path, crins.drop(columns=["yi", "sei"]))
    table = read_effect_table(path, measure="or")
    assert table.measure == "OR"
    np.testing.assert_allclose(table.yi, crins.yi, atol=1e-6)
    np.testing.assert_allclose(table.sei, crins.sei, atol=1e-6)
    assert table.method[-1] == "counts_cc" and set(table.method[:-1]) == {"counts"}


def test_yi_sei_form_with_a_measure():
    table = read_effect_table(CRINS, measure="OR")
    crins = pd.read_csv(CRINS)
    np.testing.assert_allclose(table.sei, crins.sei)
    assert table.measure == "OR" and table.covariates.shape == (6, 0)


def test_ci_form_on_the_ratio_and_the_raw_scale(tmp_path):
    frame = pd.DataFrame({"study": ["a", "b"], "estimate": [0.6, 1.4], "ci_lower": [0.38, 0.9],
                          "ci_upper": [0.96, 2.2], "dose": ["low", "high"]})
    path = write(tmp_path, frame)
    hr = read_effect_table(path, "HR")
    np.testing.assert_allclose(hr.yi, np.log([0.6, 1.4]))
    np.testing.assert_allclose(hr.sei, (np.log([0.96, 2.2]) - np.log([0.38, 0.9])) / (2 * Z975))
    assert hr.method == ("ci", "ci") and hr.covariates["dose"].tolist() == ["low", "high"]
    from bayesmeta.errors import ReportedValueWarning

    with pytest.warns(ReportedValueWarning, match="not symmetric about the estimate") as caught:
        md = read_effect_table(path, "MD")  # CIs written for a ratio are not symmetric on the raw scale
    assert [str(w.message).split(", row ")[1][:1] for w in caught] == ["2", "3"]
    np.testing.assert_allclose(md.yi, [0.6, 1.4])
    np.testing.assert_allclose(md.sei, (np.array([0.96, 2.2]) - [0.38, 0.9]) / (2 * Z975))
    frame["measure"] = "HR"
    assert read_effect_table(write(tmp_path, frame)).measure == "HR"


def test_studies_without_events_are_dropped_and_recorded(tmp_path):
    frame = pd.DataFrame({"study_id": ["a", "b", "c"], "events_treatment": [3, 0, 0],
                          "total_treatment": [20, 15, 10], "events_control": [5, 0, 2], "total_control": [20, 15, 12]})
    table = read_effect_table(write(tmp_path, frame))
    assert table.study == ("a", "c") and table.dropped == ("b",)
    assert table.yi[1] == pytest.approx(math.log((0.5 / 11) / (2.5 / 13)))
    assert table.method == ("counts", "counts_cc")
    # the arm counts keep the dropped study: it has no log ratio but enters a binomial likelihood
    assert table.counts.index.tolist() == ["a", "b", "c"] and table.counts.loc["b"].tolist() == [0, 15, 0, 15]


def test_all_studies_without_events_is_an_error(tmp_path):
    frame = pd.DataFrame({"study": ["a"], "events_treatment": [0], "total_treatment": [9], "events_control": [0],
                          "total_control": [9]})
    with pytest.raises(InputError, match="no events in either arm"):
        read_effect_table(write(tmp_path, frame))


def test_table_is_frozen_and_its_arrays_read_only():
    table = read_effect_table(BCG)
    with pytest.raises(AttributeError):
        table.measure = "RR"
    with pytest.raises(ValueError):
        table.yi[0] = 0.0


def test_from_effects_frame_keeps_methods_and_covariates():
    os_effects = haic_effects_for("OS")
    table = effect_table_from_frame(os_effects, None)
    assert table.measure == "HR" and table.study == tuple(os_effects.study_id)
    np.testing.assert_allclose(table.yi, os_effects.yi, rtol=0, atol=0)
    np.testing.assert_allclose(table.sei, os_effects.sei, rtol=0, atol=0)
    assert table.method == tuple(os_effects.method) and table.counts is None
    assert {"year", "design", "platinum", "systemic", "first_author", "n_total"} <= set(table.covariates.columns)
    assert not {"outcome", "measure", "vi", "method", "usable", "reason"} & set(table.covariates.columns)
    assert table.covariates.loc["He2019", "design"] == "RCT" and table.covariates.loc["He2019", "year"] == 2019
    orr = effect_table_from_frame(haic_effects_for("ORR"), "RR")
    assert orr.counts.loc["He2019"].tolist() == [51, 125, 3, 122]
    assert orr.source == "<frame>"


# --- errors --------------------------------------------------------------------------------------------------


def test_missing_columns_name_the_valid_forms(tmp_path):
    path = write(tmp_path, pd.DataFrame({"study": ["a"], "yi": [0.1], "se": [0.2]}))
    with pytest.raises(InputError, match="no effect columns") as info:
        read_effect_table(path)
    assert "yi, sei; yi, vi; estimate, ci_lower, ci_upper; mean_treatment" in str(info.value)
    assert "total_control; o_minus_e, var_o_minus_e; events_treatment" in str(info.value)
    path = write(tmp_path, pd.DataFrame({"name": ["a"], "yi": [0.1], "sei": [0.2]}))
    with pytest.raises(InputError, match="missing study column") as info:
        read_effect_table(path)
    assert_located(info.value, path, None, "study")


def test_empty_table(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("study,yi,sei\n")
    with pytest.raises(InputError, match="no data rows"):
        read_effect_table(path)


@pytest.mark.parametrize("measure, message", [(None, "needs its measure"), ("GEN", "needs its measure")])
def test_ci_form_needs_a_measure(tmp_path, measure, message):
    path = write(tmp_path, pd.DataFrame({"study": ["a"], "estimate": [0.5], "ci_lower": [0.3], "ci_upper": [0.9]}))
    with pytest.raises(InputError, match=message):
        read_effect_table(path, measure)


def test_counts_cannot_give_a_hazard_ratio(tmp_path):
    bcg = pd.read_csv(BCG).drop(columns=["yi", "vi"])
    with pytest.raises(InputError, match="not HR"):
        read_effect_table(write(tmp_path, bcg), "HR")
    with pytest.raises(InputError, match="not SMD"):
        read_effect_table(write(tmp_path, bcg), "SMD")
    with pytest.raises(InputError, match="unknown measure"):
        read_effect_table(write(tmp_path, bcg), "SMR")


def test_mixed_measure_column(tmp_path):
    path = write(tmp_path, pd.DataFrame({"study": ["a", "b"], "yi": [0.1, 0.2], "sei": [0.2, 0.3],
                                         "measure": ["HR", "RR"]}))
    with pytest.raises(InputError, match="differs") as info:
        read_effect_table(path)
    assert_located(info.value, path, 3, "measure")


def test_partial_counts_alongside_yi(tmp_path):
    bcg = pd.read_csv(BCG).astype({"events_control": object})
    bcg.loc[4, "events_control"] = ""
    path = write(tmp_path, bcg)
    with pytest.raises(InputError, match="incomplete") as info:
        read_effect_table(path)
    assert_located(info.value, path, 6, "events_control")


BAD_CELLS = [
    ("yi", "abc", "is not a number"), ("yi", "", "blank cell"), ("sei", "0", "not positive"),
    ("sei", "-0.1", "not positive"), ("sei", "inf", "not finite"), ("sei", "nan", "is not a number"),
]


@SETTINGS
@given(position=st.integers(0, 5), defect=st.sampled_from(BAD_CELLS))
def test_bad_cells_in_yi_sei(tmp_path, position, defect):
    column, value, message = defect
    frame = pd.read_csv(CRINS).astype({column: object})
    frame.loc[position, column] = value
    path = write(tmp_path, frame)
    with pytest.raises(InputError, match=message) as info:
        read_effect_table(path)
    assert_located(info.value, path, position + 2, column)


@SETTINGS
@given(position=st.integers(0, 12), value=st.sampled_from(["0", "-0.2", "x"]))
def test_bad_variances(tmp_path, position, value):
    frame = pd.read_csv(BCG).drop(columns=COUNTS).astype({"vi": object})
    frame.loc[position, "vi"] = value
    path = write(tmp_path, frame)
    with pytest.raises(InputError) as info:
        read_effect_table(path)
    assert_located(info.value, path, position + 2, "vi")


@SETTINGS
@given(first=st.integers(0, 12), second=st.integers(0, 12), column=st.sampled_from(["study", "study_id"]))
def test_duplicate_studies(tmp_path, first, second, column):
    if first == second:
        return
    first, second = sorted((first, second))
    frame = pd.read_csv(BCG).rename(columns={"study": column})
    frame.loc[second, column] = frame.loc[first, column]
    path = write(tmp_path, frame)
    with pytest.raises(InputError, match="duplicate") as info:
        read_effect_table(path)
    assert_located(info.value, path, second + 2, column)


@SETTINGS
@given(position=st.integers(0, 12), defect=st.sampled_from([
    ("events_treatment", "-1", "negative"), ("events_control", "100000", "exceeds"),
    ("total_treatment", "0", "not positive"), ("total_control", "many", "not a number"),
    ("events_treatment", "2.5", "whole number"),
]))
def test_bad_counts(tmp_path, position, defect):
    column, value, message = defect
    frame = pd.read_csv(BCG).drop(columns=["yi", "vi"]).astype({column: object})
    frame.loc[position, column] = value
    path = write(tmp_path, frame)
    with pytest.raises(InputError, match=message) as info:
        read_effect_table(path)
    assert_located(info.value, path, position + 2, column)


@SETTINGS
@given(position=st.integers(0, 1), defect=st.sampled_from([
    ("estimate", "0", "not positive"), ("ci_lower", "2.5", "not below upper"), ("estimate", "5", "outside"),
    ("ci_upper", "", "blank cell"),
]))
def test_bad_intervals(tmp_path, position, defect):
    column, value, message = defect
    frame = pd.DataFrame({"study": ["a", "b"], "estimate": [0.6, 1.4], "ci_lower": [0.38, 0.9],
                          "ci_upper": [0.96, 2.2]}).astype({column: object})
    frame.loc[position, column] = value
    path = write(tmp_path, frame)
    with pytest.raises(InputError, match=message) as info:
        read_effect_table(path, "HR")
    assert_located(info.value, path, position + 2, column)


# --- random valid tables -------------------------------------------------------------------------------------


@st.composite
def count_tables(draw):
    k = draw(st.integers(1, 8))
    rows = []
    for i in range(k):
        n1, n2 = draw(st.integers(1, 400)), draw(st.integers(1, 400))
        rows.append({"study": f"s{i}", "events_treatment": draw(st.integers(0, n1)), "total_treatment": n1,
                     "events_control": draw(st.integers(0, n2)), "total_control": n2,
                     "x": draw(st.floats(-5, 5))})
    return pd.DataFrame(rows)


@SETTINGS
@given(frame=count_tables(), measure=st.sampled_from(["RR", "OR", "RD"]))
def test_random_count_tables_load_without_nan(tmp_path, frame, measure):
    """RR and OR drop the studies with no events (or only events) in both arms, as metafor's drop00; RD keeps
    them."""
    both_zero = ((frame.events_treatment == 0) & (frame.events_control == 0)) | (
        (frame.events_treatment == frame.total_treatment) & (frame.events_control == frame.total_control))
    both_zero &= measure != "RD"
    if both_zero.all():
        return
    table = read_effect_table(write(tmp_path, frame), measure)
    assert np.all(np.isfinite(table.yi)) and np.all(np.isfinite(table.sei)) and np.all(table.sei > 0)
    assert table.dropped == tuple(frame.study[both_zero]) and table.k == int((~both_zero).sum())
    assert table.covariates.x.notna().all()


@SETTINGS
@given(yi=st.lists(st.floats(-5, 5), min_size=1, max_size=10), data=st.data())
def test_random_yi_sei_tables_round_trip(tmp_path, yi, data):
    sei = data.draw(st.lists(st.floats(0.01, 3), min_size=len(yi), max_size=len(yi)))
    frame = pd.DataFrame({"study": [f"s{i}" for i in range(len(yi))], "yi": yi, "sei": sei})
    table = read_effect_table(write(tmp_path, frame))
    np.testing.assert_allclose(table.yi, yi, rtol=1e-15)
    np.testing.assert_allclose(table.sei, sei, rtol=1e-15)


def test_an_infinite_covariate_value_is_refused_with_its_row(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("study,yi,sei,year\nA,-0.5,0.2,2019\nB,-0.3,0.25,inf\nC,-0.1,0.3,2021\n")
    with pytest.raises(InputError) as err:
        read_effect_table(path, "HR")
    assert err.value.row == 3 and err.value.column == "year" and "not finite" in str(err.value)
