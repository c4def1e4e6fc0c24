"""Loading and validation of the data files (the HAIC files as the real case): the real files load; one planted
defect of each kind is reported with the right file, spreadsheet row and column; covariate levels are checked
only as the plan declares them."""

from __future__ import annotations

import csv
import itertools
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayesmeta.data import (
    OUTCOME_COLUMNS,
    STATISTIC_COLUMNS,
    STUDY_COLUMNS,
    load_outcomes,
    load_published,
    load_studies,
)
from bayesmeta.errors import InputError
from conftest import HAIC_LEVELS
from conftest import HAIC_OUTCOMES as OUTCOMES
from conftest import HAIC_PUBLISHED as PUBLISHED
from conftest import HAIC_STUDIES as STUDIES

N_OUTCOME_ROWS = 33
ALL_OUTCOME_COLUMNS = (*OUTCOME_COLUMNS, *STATISTIC_COLUMNS)
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_counter = itertools.count()


def read_cells(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def write_cells(directory: Path, name: str, header: list[str], rows: list[list[str]]) -> Path:
    path = directory / f"{next(_counter)}_{name}"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def corrupt(directory: Path, source: Path, position: int, column: str, value: str) -> Path:
    """A copy of ``source`` with the cell (data row ``position``, ``column``) replaced by ``value``."""
    header, rows = read_cells(source)
    rows[position][header.index(column)] = value
    return write_cells(directory, source.name, header, rows)


def assert_located(error: InputError, path: Path, row: int | None, column: str) -> None:
    assert error.file == str(path)
    assert error.row == row
    assert error.column == column
    message = str(error)
    assert str(path) in message and f"column '{column}'" in message
    if row is not None:
        assert f"row {row}" in message


@pytest.fixture(scope="module")
def studies() -> pd.DataFrame:
    return load_studies(STUDIES, HAIC_LEVELS)


@pytest.fixture(scope="module")
def outcome_text() -> pd.DataFrame:
    return pd.read_csv(OUTCOMES, dtype=str, keep_default_na=False)


# --- the real files -----------------------------------------------------------------------------------------


def test_study_table(studies):
    header, rows = read_cells(STUDIES)
    assert list(studies.columns) == header and len(studies) == len(rows) == 17
    assert studies.study_id.is_unique
    assert set(studies.design) == {"RCT", "retrospective"}
    assert set(studies.platinum) == {"oxaliplatin", "cisplatin"}
    assert set(studies.systemic) == {"TKI", "TKI+ICI"}
    assert str(studies.year.dtype) == "Int64" and str(studies.n_treatment.dtype) == "Int64"
    he = studies.set_index("study_id").loc["He2019"]
    assert (he.n_treatment, he.n_control, he.year, he.design) == (125, 122, 2019, "RCT")
    assert (studies.tace_both_arms == "true").sum() == 2  # Cai 2024 and Huang 2024; kept as text


def test_outcome_table(studies):
    outcomes = load_outcomes(OUTCOMES, studies=studies)
    header, rows = read_cells(OUTCOMES)
    assert list(outcomes.columns) == header and len(outcomes) == len(rows) == N_OUTCOME_ROWS
    assert set(outcomes.study_id) <= set(studies.study_id)
    assert outcomes.groupby("outcome").size().to_dict() == {"OS": 12, "PFS": 8, "ORR": 8, "DCR": 4, "AE": 1}
    only = load_outcomes(OUTCOMES, studies=studies, outcomes=["OS", "DCR"])
    assert only.groupby("outcome").size().to_dict() == {"OS": 12, "DCR": 4}
    kudo = outcomes[(outcomes.study_id == "Kudo2018") & (outcomes.outcome == "OS")].iloc[0]
    assert (kudo.estimate, kudo.ci_lower, kudo.ci_upper, kudo.p_value, kudo.p_relation) == (
        1.009, 0.743, 1.371, 0.955, "=")
    zuo = outcomes[(outcomes.study_id == "Zuo2024") & (outcomes.outcome == "OS")].iloc[0]
    assert math.isnan(zuo.median_treatment) and zuo.median_control == 19.9


def test_published_table():
    published = load_published(PUBLISHED)
    assert len(published) == 122
    pooled = published[published.analysis == "pooled"].set_index("outcome")
    assert pooled.loc["OS", ["estimate", "ci_lower", "ci_upper"]].tolist() == [0.52, 0.48, 0.58]
    assert pooled.loc["OS", "k"] == 17 and pooled.loc["PFS", "i2_percent"] == 65


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        load_studies(tmp_path / "absent.csv")


def test_empty_and_header_only_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="empty"):
        load_outcomes(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text(",".join(OUTCOME_COLUMNS) + "\n")
    with pytest.raises(InputError, match="no data rows"):
        load_outcomes(header_only)


@pytest.mark.parametrize("repeated", ["estimate", "estimate "])
def test_a_repeated_column_is_named(tmp_path, repeated):
    """A header naming a column twice, as written or once stripped of spaces, is refused naming the column."""
    header, rows = read_cells(OUTCOMES)
    path = write_cells(tmp_path, "outcomes.csv", [*header, repeated], [[*row, "0.5"] for row in rows])
    with pytest.raises(InputError, match="duplicate column name") as info:
        load_outcomes(path)
    assert info.value.column == "estimate" and info.value.file == str(path)


def test_unknown_study_in_outcomes(tmp_path, studies):
    path = corrupt(tmp_path, OUTCOMES, 4, "study_id", "Smith2020")
    with pytest.raises(InputError) as info:
        load_outcomes(path, studies=studies)
    assert_located(info.value, path, 6, "study_id")
    assert "Smith2020" in str(info.value)
    assert len(load_outcomes(path)) == N_OUTCOME_ROWS  # without a study table the id is not checked


# --- planted defects (one per table copy) --------------------------------------------------------------------


@SETTINGS
@given(data=st.data())
def test_missing_required_column(tmp_path, data):
    source, columns, loader = data.draw(st.sampled_from([
        (STUDIES, STUDY_COLUMNS, load_studies), (OUTCOMES, OUTCOME_COLUMNS, load_outcomes),
        (PUBLISHED, ("outcome", "measure", "k", "estimate", "p_value", "i2_percent"), load_published),
    ]))
    column = data.draw(st.sampled_from(columns))
    header, rows = read_cells(source)
    index = header.index(column)
    path = write_cells(tmp_path, source.name, header[:index] + header[index + 1:],
                       [r[:index] + r[index + 1:] for r in rows])
    with pytest.raises(InputError, match="missing required column") as info:
        loader(path)
    assert_located(info.value, path, None, column)


NUMERIC_OUTCOME_COLUMNS = ("estimate", "ci_lower", "ci_upper", "p_value", "median_treatment", "median_control",
                           "events_treatment", "total_treatment", "events_control", "total_control")


@SETTINGS
@given(position=st.integers(0, N_OUTCOME_ROWS - 1), column=st.sampled_from(NUMERIC_OUTCOME_COLUMNS),
       text=st.sampled_from(["abc", "0.5 (0.3-0.8)", "n/a", "1,2", "--"]))
def test_text_in_a_numeric_outcome_column(tmp_path, position, column, text):
    path = corrupt(tmp_path, OUTCOMES, position, column, text)
    with pytest.raises(InputError, match="is not a number") as info:
        load_outcomes(path)
    assert_located(info.value, path, position + 2, column)


@SETTINGS
@given(position=st.integers(0, 16), column=st.sampled_from(["year", "n_treatment", "n_control"]),
       value=st.sampled_from(["abc", "0", "-3", "12.5"]))
def test_bad_study_numbers(tmp_path, position, column, value):
    path = corrupt(tmp_path, STUDIES, position, column, value)
    with pytest.raises(InputError) as info:
        load_studies(path)
    assert_located(info.value, path, position + 2, column)


@SETTINGS
@given(position=st.integers(0, 16), column=st.sampled_from(["design", "platinum", "systemic"]),
       value=st.sampled_from(["rct", "cohort", "Oxaliplatin", "chemo"]))
def test_bad_study_categories(tmp_path, position, column, value):
    """A level outside the plan's declared levels is located; without declared levels any text is a level."""
    path = corrupt(tmp_path, STUDIES, position, column, value)
    with pytest.raises(InputError, match="is not a valid") as info:
        load_studies(path, HAIC_LEVELS)
    assert_located(info.value, path, position + 2, column)
    assert info.value.valid
    assert load_studies(path)[column].iloc[position] == value


def test_declared_covariate_column_must_exist(tmp_path):
    with pytest.raises(InputError, match="missing covariate column") as info:
        load_studies(STUDIES, {"dose": ("low", "high")})
    assert_located(info.value, STUDIES, None, "dose")


def test_minimal_tables_load(tmp_path):
    """A studies table of study_id alone, and an outcomes table of study_id, outcome, measure and arm counts."""
    studies = tmp_path / "studies.csv"
    studies.write_text("study_id\nA\nB\n")
    assert load_studies(studies).study_id.tolist() == ["A", "B"]
    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text("study_id,outcome,measure,events_treatment,total_treatment,events_control,total_control\n"
                        "A,MACE,or,3,50,7,48\nB,MACE,OR,1,40,2,41\n")
    loaded = load_outcomes(outcomes)
    assert loaded.measure.tolist() == ["OR", "OR"] and loaded.outcome.tolist() == ["MACE", "MACE"]
    assert loaded.estimate.isna().all() and loaded.events_treatment.tolist() == [3.0, 1.0]


@SETTINGS
@given(first=st.integers(0, 16), second=st.integers(0, 16))
def test_duplicate_study_ids(tmp_path, first, second):
    if first == second:
        return
    first, second = sorted((first, second))
    _, rows = read_cells(STUDIES)
    path = corrupt(tmp_path, STUDIES, second, "study_id", rows[first][0])
    with pytest.raises(InputError, match="duplicate") as info:
        load_studies(path)
    assert_located(info.value, path, second + 2, "study_id")
    assert f"row {first + 2}" in str(info.value)


@SETTINGS
@given(position=st.integers(0, N_OUTCOME_ROWS - 1), column=st.sampled_from(["measure", "p_relation"]),
       value=st.sampled_from(["HRR", ">", "<=", "ratio"]))
def test_unknown_category_in_outcomes(tmp_path, position, column, value):
    path = corrupt(tmp_path, OUTCOMES, position, column, value)
    with pytest.raises(InputError, match="is not a valid|unknown measure") as info:
        load_outcomes(path)
    assert_located(info.value, path, position + 2, column)
    expected = {"measure": "HR, RR, OR, IRR, ROM, MD, SMD, RD, GEN", "p_relation": "=, <, ''"}
    assert info.value.valid == expected[column]


def test_outcome_names_are_the_users_own(tmp_path):
    path = corrupt(tmp_path, OUTCOMES, 0, "outcome", "MACE")
    assert "MACE" in set(load_outcomes(path).outcome)
    blank = corrupt(tmp_path, OUTCOMES, 0, "outcome", "")
    with pytest.raises(InputError, match="blank cell") as info:
        load_outcomes(blank)
    assert_located(info.value, blank, 2, "outcome")


def rows_with(outcome_text: pd.DataFrame, *columns: str) -> list[int]:
    filled = np.ones(len(outcome_text), dtype=bool)
    for column in columns:
        filled &= (outcome_text[column] != "").to_numpy()
    return list(np.flatnonzero(filled))


@SETTINGS
@given(data=st.data())
def test_ratio_not_positive(tmp_path, outcome_text, data):
    column = data.draw(st.sampled_from(["estimate", "ci_lower", "ci_upper"]))
    position = data.draw(st.sampled_from(rows_with(outcome_text, "ci_lower")))
    path = corrupt(tmp_path, OUTCOMES, position, column, data.draw(st.sampled_from(["0", "-0.4"])))
    with pytest.raises(InputError, match="not positive") as info:
        load_outcomes(path)
    assert_located(info.value, path, position + 2, column)


@SETTINGS
@given(data=st.data())
def test_estimate_outside_its_interval(tmp_path, outcome_text, data):
    position = data.draw(st.sampled_from(rows_with(outcome_text, "ci_lower")))
    row = outcome_text.iloc[position]
    value = float(row.ci_upper) * 1.2 if data.draw(st.booleans()) else float(row.ci_lower) / 1.2
    path = corrupt(tmp_path, OUTCOMES, position, "estimate", f"{value:.4f}")
    with pytest.raises(InputError, match="outside its interval") as info:
        load_outcomes(path)
    assert_located(info.value, path, position + 2, "estimate")


@SETTINGS
@given(data=st.data())
def test_lower_bound_not_below_upper(tmp_path, outcome_text, data):
    position = data.draw(st.sampled_from(rows_with(outcome_text, "ci_lower")))
    upper = float(outcome_text.iloc[position].ci_upper)
    value = upper * data.draw(st.sampled_from([1.0, 1.5]))
    path = corrupt(tmp_path, OUTCOMES, position, "ci_lower", f"{value:.4f}")
    with pytest.raises(InputError, match="not below upper bound") as info:
        load_outcomes(path)
    assert_located(info.value, path, position + 2, "ci_lower")


@SETTINGS
@given(data=st.data())
def test_one_bound_only(tmp_path, outcome_text, data):
    position = data.draw(st.sampled_from(rows_with(outcome_text, "ci_lower")))
    path = corrupt(tmp_path, OUTCOMES, position, "ci_upper", "")
    with pytest.raises(InputError, match="only one confidence bound") as info:
        load_outcomes(path)
    assert_located(info.value, path, position + 2, "ci_upper")


@SETTINGS
@given(data=st.data())
def test_impossible_arm_counts(tmp_path, outcome_text, data):
    position = data.draw(st.sampled_from(rows_with(outcome_text, "events_treatment")))
    arm = data.draw(st.sampled_from(["treatment", "control"]))
    kind = data.draw(st.sampled_from(["events_above_total", "negative_events", "total_zero", "incomplete"]))
    row = outcome_text.iloc[position]
    column, value, message = {
        "events_above_total": (f"events_{arm}", str(int(row[f"total_{arm}"]) + 1), "exceeds the arm size"),
        "negative_events": (f"events_{arm}", "-1", "is negative"),
        "total_zero": (f"total_{arm}", data.draw(st.sampled_from(["0", "-5"])), "not positive"),
        "incomplete": (f"events_{arm}", "", "incomplete"),
    }[kind]
    path = corrupt(tmp_path, OUTCOMES, position, column, value)
    with pytest.raises(InputError, match=message) as info:
        load_outcomes(path)
    assert_located(info.value, path, position + 2, column)


@SETTINGS
@given(position=st.integers(0, 29), value=st.sampled_from(["0", "1.5", "-0.01", "2"]))
def test_p_value_outside_unit_interval(tmp_path, position, value):
    path = corrupt(tmp_path, OUTCOMES, position, "p_value", value)
    with pytest.raises(InputError, match=r"outside \(0, 1\]") as info:
        load_outcomes(path)
    assert_located(info.value, path, position + 2, "p_value")


@SETTINGS
@given(first=st.integers(0, N_OUTCOME_ROWS - 1), second=st.integers(0, N_OUTCOME_ROWS - 1))
def test_duplicate_study_and_outcome(tmp_path, first, second):
    if first == second:
        return
    first, second = sorted((first, second))
    header, rows = read_cells(OUTCOMES)
    rows[second] = list(rows[first])
    path = write_cells(tmp_path, OUTCOMES.name, header, rows)
    with pytest.raises(InputError, match="duplicate study and outcome") as info:
        load_outcomes(path)
    assert_located(info.value, path, second + 2, "outcome")
    assert f"already on row {first + 2}" in str(info.value)


@SETTINGS
@given(position=st.integers(0, 121), defect=st.sampled_from([
    ("k", "abc", "is not a number"), ("k", "0", "is not positive"), ("k", "2.5", "not a whole number"),
    ("i2_percent", "150", "exceeds 100"), ("i2_percent", "-2", "is negative"), ("measure", "xx", "not a valid"),
    ("outcome", "OS~QOL", "not a valid outcome"), ("p_value", "1.5", "outside"), ("p_relation", ">", "not a valid"),
]))
def test_published_defects(tmp_path, position, defect):
    column, value, message = defect
    path = corrupt(tmp_path, PUBLISHED, position, column, value)
    with pytest.raises(InputError, match=message) as info:
        load_published(path, outcomes=("OS", "PFS", "ORR", "DCR", "AE"))
    assert_located(info.value, path, position + 2, column)


def test_published_proportion_and_interval_checks(tmp_path):
    header, rows = read_cells(PUBLISHED)
    proportion = next(i for i, r in enumerate(rows) if r[header.index("measure")] == "proportion")
    path = corrupt(tmp_path, PUBLISHED, proportion, "estimate", "1.2")
    with pytest.raises(InputError, match="outside \\[0, 1\\]") as info:
        load_published(path)
    assert_located(info.value, path, proportion + 2, "estimate")
    path = corrupt(tmp_path, PUBLISHED, 0, "ci_lower", "0.6")  # OS pooled HR 0.52 (0.48-0.58)
    with pytest.raises(InputError, match="not below upper bound") as info:
        load_published(path)
    assert_located(info.value, path, 2, "ci_lower")


def test_nothing_is_half_loaded(tmp_path):
    """An error on the last row means no frame at all, not the valid rows before it."""
    path = corrupt(tmp_path, OUTCOMES, N_OUTCOME_ROWS - 1, "events_treatment", "999")
    result = None
    with pytest.raises(InputError):
        result = load_outcomes(path)
    assert result is None


def test_copy_of_the_real_files_loads_identically(tmp_path, studies):
    copy = tmp_path / "studies.csv"
    shutil.copy(STUDIES, copy)
    pd.testing.assert_frame_equal(load_studies(copy, HAIC_LEVELS), studies)


# --- random valid tables -------------------------------------------------------------------------------------


@st.composite
def valid_outcome_row(draw, study: str, outcome: str):
    measure = "HR" if outcome in ("OS", "PFS") else draw(st.sampled_from(["RR", "OR"]))
    cells = {c: "" for c in ALL_OUTCOME_COLUMNS}
    cells.update(study_id=study, outcome=outcome, measure=measure)
    if draw(st.booleans()):
        est = draw(st.floats(0.05, 10))
        cells.update(estimate=f"{est:.3f}", ci_lower=f"{est / draw(st.floats(1.05, 4)):.3f}",
                     ci_upper=f"{est * draw(st.floats(1.05, 4)):.3f}")
    if draw(st.booleans()):
        cells.update(p_value=f"{draw(st.floats(0.0001, 1.0)):.4f}", p_relation=draw(st.sampled_from(["=", "<", ""])))
    if measure == "HR" and draw(st.booleans()):
        cells.update(median_treatment=f"{draw(st.floats(0.5, 50)):.1f}",
                     median_control=f"{draw(st.floats(0.5, 50)):.1f}")
    if measure != "HR" and draw(st.booleans()):
        n1, n2 = draw(st.integers(1, 300)), draw(st.integers(1, 300))
        cells.update(events_treatment=str(draw(st.integers(0, n1))), total_treatment=str(n1),
                     events_control=str(draw(st.integers(0, n2))), total_control=str(n2))
    return [cells[c] for c in ALL_OUTCOME_COLUMNS]


@st.composite
def valid_outcome_table(draw):
    keys = draw(st.lists(st.tuples(st.sampled_from(["A", "B", "C", "D"]),
                                   st.sampled_from(["OS", "PFS", "ORR", "DCR", "AE"])),
                         min_size=1, max_size=10, unique=True))
    return [draw(valid_outcome_row(study, outcome)) for study, outcome in keys]


@SETTINGS
@given(rows=valid_outcome_table())
def test_random_valid_outcome_tables_load_without_nan(tmp_path, rows):
    path = write_cells(tmp_path, "outcomes.csv", list(ALL_OUTCOME_COLUMNS), rows)
    loaded = load_outcomes(path)
    assert len(loaded) == len(rows)
    assert list(loaded.columns) == list(ALL_OUTCOME_COLUMNS)
    for column in NUMERIC_OUTCOME_COLUMNS:
        given_cells = np.array([r[ALL_OUTCOME_COLUMNS.index(column)] != "" for r in rows])
        assert loaded[column].notna().to_numpy().tolist() == given_cells.tolist()
        np.testing.assert_allclose(loaded[column].to_numpy()[given_cells],
                                   [float(r[ALL_OUTCOME_COLUMNS.index(column)]) for r in np.array(rows)[given_cells]])
