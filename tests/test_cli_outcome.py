"""`--outcome NAME`: every verb that reads a CSV reads one outcome of a long outcomes table (a study per row and
outcome), with the fits checked against metafor on each outcome's rows alone
(tests/reference/make_frequentist_cli_fixtures.R, Zelniker et al. 2019, Lancet 393:31-39)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bayesmeta.cli import main

REF = Path(__file__).parent / "reference"
ZELNIKER = REF / "zelniker2019_outcomes.csv"
FIX = json.loads((REF / "frequentist_cli_fixtures.json").read_text())
VERBS = ("fit", "frequentist", "ppc", "sensitivity", "monitor", "tsa", "bias")


@pytest.mark.parametrize("ref", FIX["outcome"], ids=lambda r: r["outcome"])
def test_each_outcome_matches_metafor_on_its_rows(capsys, ref):
    assert main(["frequentist", str(ZELNIKER), "--outcome", ref["outcome"], "--method", ref["method"],
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["k"] == ref["k"] and out["measure"] == "HR" and out["outcome"] == ref["outcome"]
    for key in ("estimate", "se", "ci_lower", "ci_upper", "tau2", "i2", "h2", "q", "q_p"):
        assert out[key] == pytest.approx(ref[key], abs=1e-8), key


def test_several_outcomes_without_outcome_is_one_line_naming_them(capsys):
    assert main(["frequentist", str(ZELNIKER)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "4 outcomes" in err and "--outcome MACE | HHF | CVD | MACE_ASCVD" in err


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_passes_outcome_to_the_reader(capsys, verb):
    """Each verb's --outcome reaches the reader (an unknown name is refused with the file's names)."""
    extra = ["--mcid", "0.85"] if verb == "tsa" else []
    assert main([verb, str(ZELNIKER), "--outcome", "MACE_SUBGROUP", *extra]) == 2
    err = capsys.readouterr().err
    assert "no outcome 'MACE_SUBGROUP'" in err and "valid: MACE, HHF, CVD, MACE_ASCVD" in err


def test_errors_name_the_row_of_the_file(tmp_path, capsys):
    frame = pd.read_csv(ZELNIKER, dtype=str, keep_default_na=False)
    frame.loc[7, "ci_upper"] = "0.5"  # CANVAS, CVD: estimate 0.87 above its upper bound
    path = tmp_path / "long.csv"
    frame.to_csv(path, index=False)
    assert main(["frequentist", str(path), "--outcome", "CVD"]) == 2
    assert "row 9" in capsys.readouterr().err  # the 8th data row; the 2nd of outcome CVD
    assert main(["frequentist", str(path), "--outcome", "HHF", "--json"]) == 0


def test_a_study_twice_in_one_outcome_is_refused(tmp_path, capsys):
    frame = pd.read_csv(ZELNIKER, dtype=str, keep_default_na=False)
    frame.loc[5, "study_id"] = "CANVAS"  # two CANVAS rows in HHF
    path = tmp_path / "dup.csv"
    frame.to_csv(path, index=False)
    assert main(["frequentist", str(path), "--outcome", "HHF"]) == 2
    assert "duplicate study and outcome (CANVAS, HHF) already on row 6" in capsys.readouterr().err


def test_tsa_reads_the_arm_sizes_of_the_outcome(tmp_path, capsys):
    normand = pd.read_csv(REF / "normand1999_outcomes.csv")
    twice = pd.concat([normand, normand.assign(outcome="LOS_copy", total_control=normand["total_control"] * 2)])
    path = tmp_path / "two.csv"
    twice.to_csv(path, index=False)
    args = ["tsa", str(path), "--measure", "MD", "--mcid", "-7", "--sd", "30", "--json"]
    assert main([*args, "--outcome", "LOS"]) == 0
    los = json.loads(capsys.readouterr().out)
    assert main(["tsa", str(REF / "normand1999_outcomes.csv"), *args[2:]]) == 0
    alone = json.loads(capsys.readouterr().out)
    los.pop("source", None), alone.pop("source", None)
    assert los == alone  # the copy's doubled control arms are not read


def test_warnings_name_the_row_of_the_file(tmp_path, capsys):
    frame = pd.read_csv(ZELNIKER, dtype=str, keep_default_na=False)
    frame.loc[4, "ci_upper"] = "0.97"  # CANVAS, HHF: 0.67 (0.52-0.97) is far from symmetric on the log scale
    path = tmp_path / "long.csv"
    frame.to_csv(path, index=False)
    assert main(["frequentist", str(path), "--outcome", "HHF", "--json"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning:") and "row 6" in err  # the 5th data row; the 2nd of outcome HHF
