"""The pandas-free reader of plain effect tables (bayesmeta/quick_table.py) against the full reader
(bayesmeta/tables.py): the same EffectData wherever it answers, and no answer wherever the full reader would
raise or read a richer form."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bayesmeta.errors import InputError
from bayesmeta.quick_table import read_plain_effects
from bayesmeta.tables import read_effect_table

REFERENCE = Path(__file__).parent / "reference"

# (file text, measure): tables the quick reader must read exactly as the full reader does
READ_ALIKE = [
    ("study,yi,sei\nA,-0.5,0.2\nB,-0.3,0.25\nC,-0.1,0.3\n", "HR"),
    ("study,yi,sei\nA,-0.5,0.2\nB,-0.3,0.25\n", None),
    ("\ufeffstudy , yi,  sei\r\n A , -5e-1 ,.2\r\nB,+0.3,2.5E-1\r\nC,-.1,0.30000000000000004\r\n", "hr"),
    ('"study","yi","sei"\n"A",28.39,14.9\n"B",7.94,10.2\n"C, the third",-2.75,16.3\n', "MD"),
    ("study_id,yi,vi\nA,0.1,0.04\nB,0.2,0.09\nC,-0.4,0.0225\n", "OR"),
    ("study,yi,sei,measure\nA,-0.5,0.2,HR\nB,-0.3,0.25,hr\nC,-0.1,0.3,\n", None),
    ("measure,sei,yi,study\nRR,0.2,0.1,X\nRR,0.3,-0.2,Y\n", None),
    ("study,yi,sei\n1,-0.5,0.2\n2,-0.3,0.25\n3,-0.1,0.3\n", "GEN"),
    ("study,yi,sei\nA,-0.5,0.2\nB,-0.3,0.25\nC,-0.1,0.3", "HR"),  # no final line break
]

# tables it must leave to the full reader (which reads them, warns, or raises a located error)
LEFT_TO_FULL_READER = [
    "study,yi,sei\nA,-0.5,0.2\n\nB,-0.3,0.25\n",  # blank line
    "study,yi,sei\nA,-0.5,0.2\nB,-0.3\n",  # ragged
    "study,yi,sei\nA,-0.5,0.2\nB,-0.3,0.25,9\n",  # ragged
    "study,yi,sei\nA,-0.5,0.2\nA,-0.3,0.25\n",  # duplicate study
    "study,yi,sei\n,-0.5,0.2\nB,-0.3,0.25\n",  # blank study
    "study,yi,sei\nA,NA,0.2\nB,-0.3,0.25\n",  # R's missing value
    "study,yi,sei\nA,-0.5,0\nB,-0.3,0.25\n",  # SE not positive
    "study,yi,sei\nA,-0.5,-0.2\nB,-0.3,0.25\n",
    "study,yi,sei\nA,inf,0.2\nB,-0.3,0.25\n",
    "study,yi,sei\nA,1e400,0.2\nB,-0.3,0.25\n",
    "study,yi,sei\nA,1_000,0.2\nB,-0.3,0.25\n",
    "study,yi,sei\nA,0x10,0.2\nB,-0.3,0.25\n",
    "study,yi,sei\nA,40,0.2\nB,-0.3,0.25\n",  # a log ratio beyond the plausible range
    "study,yi,sei\nA,-0.5,0.2\nB,-0.3,1e-12\n",
    "study,yi,sei\nA,-0.5,0.2\nB,-0.3,0.25\nC,900,0.001\n",  # far from the median
    "study,yi,sei,year\nA,-0.5,0.2,2001\nB,-0.3,0.25,2003\n",  # a covariate
    "study,yi,sei,vi\nA,-0.5,0.2,0.04\nB,-0.3,0.25,0.0625\n",
    "study,study_id,yi,sei\nA,1,-0.5,0.2\nB,2,-0.3,0.25\n",
    "study,yi,yi,sei\nA,-0.5,-0.5,0.2\nB,-0.3,-0.3,0.25\n",
    "study,yi,sei,measure\nA,-0.5,0.2,HR\nB,-0.3,0.25,RR\n",  # two measures
    "study,yi,sei,measure\nA,-0.5,0.2,XYZ\nB,-0.3,0.25,HR\n",
    'study,yi,sei\n"A ""x""",-0.5,0.2\nB,-0.3,0.25\n',  # a quote inside a cell
    'study,yi,sei\n"A\nB",-0.5,0.2\nC,-0.3,0.25\n',  # a line break inside a cell
    "study,yi,sei\n",  # no rows
    "",
    "study,estimate,ci_lower,ci_upper\nA,0.7,0.5,0.9\nB,0.8,0.6,1.1\n",
    "study,events_treatment,total_treatment,events_control,total_control\nA,3,50,6,50\nB,4,60,7,61\n",
]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode("utf-8"))
    return path


def _assert_same(quick, full) -> None:
    assert quick.study == full.study
    assert np.array_equal(quick.yi, full.yi)  # bit for bit
    assert np.array_equal(quick.sei, full.sei)
    for field in ("measure", "benefit", "method", "dropped", "source", "outcome", "counts"):
        assert getattr(quick, field) == getattr(full, field) or (getattr(full, field) is None), field
    assert quick.counts is None and full.counts is None
    assert quick.covariates is None and full.covariate_names == ()


@pytest.mark.parametrize("text, measure", READ_ALIKE)
def test_plain_tables_read_as_the_full_reader_reads_them(tmp_path, text, measure):
    path = _write(tmp_path, text)
    for benefit in ("below", "above"):
        quick = read_plain_effects(path, measure, benefit=benefit)
        assert quick is not None
        _assert_same(quick, read_effect_table(path, measure, benefit=benefit))


@pytest.mark.parametrize("text", LEFT_TO_FULL_READER)
def test_anything_else_is_left_to_the_full_reader(tmp_path, text):
    path = _write(tmp_path, text)
    for measure in ("HR", None):
        quick = read_plain_effects(path, measure)
        try:
            full = read_effect_table(path, measure)
        except InputError:
            assert quick is None  # the full reader's located error is the answer
            continue
        if quick is not None:  # e.g. a log HR of 40 is a plausible generic effect; a given measure wins
            _assert_same(quick, full)


def test_most_unusual_tables_get_no_quick_answer(tmp_path):
    answered = [text for text in LEFT_TO_FULL_READER if read_plain_effects(_write(tmp_path, text), "HR")]
    assert answered == ["study,yi,sei,measure\nA,-0.5,0.2,HR\nB,-0.3,0.25,RR\n"]  # --measure HR wins


def test_the_left_cases_include_errors_the_full_reader_locates(tmp_path):
    raised = 0
    for text in LEFT_TO_FULL_READER:
        try:
            read_effect_table(_write(tmp_path, text), "HR")
        except InputError:
            raised += 1
    assert raised >= 15


def test_reference_tables_and_unknown_inputs(tmp_path):
    eight = REFERENCE / "eight_schools.csv"
    _assert_same(read_plain_effects(eight, "MD"), read_effect_table(eight, "MD"))
    assert read_plain_effects(REFERENCE / "bcg.csv", "RR") is None  # counts and covariates: the full reader's
    assert read_plain_effects(tmp_path / "missing.csv", "HR") is None
    assert read_plain_effects(_write(tmp_path, "study,yi,sei\nA,-0.5,0.2\n"), "ZZ") is None
    path = tmp_path / "latin1.csv"
    path.write_bytes("study,yi,sei\nM\xfcller,-0.5,0.2\nB,-0.3,0.25\n".encode("latin-1"))
    assert read_plain_effects(path, "HR") is None
