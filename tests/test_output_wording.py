"""Small output fixes a new user found reanalysing Zelniker et al. 2019 (Lancet 393:31-39; HRs of three SGLT2
inhibitor trials) and Normand 1999: each command prints its numbers in the words and precision of the rest."""

from __future__ import annotations

import re

import numpy as np
import pytest

from bayesmeta.cli import main

# MACE per trial as printed (EMPA-REG OUTCOME, CANVAS, DECLARE-TIMI 58)
MACE = "study,measure,estimate,ci_lower,ci_upper\nEMPA-REG,HR,0.86,0.74,0.99\nCANVAS,HR,0.86,0.75,0.97\n" \
       "DECLARE,HR,0.93,0.84,1.03\n"
# the paper's published rows with trailing zeros (0.80, 1.0) and a strong subgroup effect
PUBLISHED = ("outcome,analysis,variable,level,k,measure,estimate,ci_lower,ci_upper\n"
             "MACE,subgroup,ASCVD,yes,3,HR,0.86,0.80,0.93\nMACE,subgroup,ASCVD,no,2,HR,1.0,0.87,1.16\n"
             "MACE,subgroup,age,old,3,HR,0.40,0.34,0.47\nMACE,subgroup,age,young,3,HR,0.45,0.38,0.53\n")


@pytest.fixture()
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps table cells at 80 columns off a terminal


def _text(capsys) -> str:
    return " ".join(capsys.readouterr().out.split())


def test_ppc_names_the_analysis_scale_of_a_difference(tmp_path, capsys, wide):
    data = tmp_path / "md.csv"
    data.write_text("study,yi,sei\nA,-10,4\nB,-3,2\nC,-20,6\n")
    assert main(["ppc", str(data), "--measure", "MD", "--draws", "200"]) == 0
    text = _text(capsys)
    assert "measure MD; yi on the MD scale" in text and "log scale" not in text


def test_fit_states_probabilities_with_the_measure(tmp_path, capsys):
    data = tmp_path / "mace.csv"
    data.write_text(MACE)
    assert main(["fit", str(data), "--threshold", "0.9"]) == 0
    text = _text(capsys)
    assert re.search(r"P\(HR < 0\.9\) = 0\.\d{4}", text) and "exp(mu)" not in text


def test_reinterpret_published_keeps_the_printed_digits_and_names_the_mcid(tmp_path, capsys, wide):
    published = tmp_path / "published.csv"
    published.write_text(PUBLISHED)
    assert main(["reinterpret", "--published", str(published)]) == 0
    text = _text(capsys)
    assert "HR 0.86 (0.80-0.93)" in text and "HR 1.0 (0.87-1.16)" in text and "HR 0.40 (0.34-0.47)" in text
    assert "MCID 0.8 where benefit lies below 1, 1.25 above (the default; set it with --mcid)" in text
    assert main(["reinterpret", "--published", str(published), "--mcid", "0.9"]) == 0
    assert "MCID 0.9 where benefit lies below 1" in (text := _text(capsys)) and "the default" not in text


def test_subgroup_probabilities_at_the_ends_are_printed_as_the_report_does(tmp_path, capsys, wide):
    published = tmp_path / "published.csv"
    published.write_text(PUBLISHED)
    assert main(["subgroups", str(published), "--characteristic", "age"]) == 0
    text = _text(capsys)
    assert "> 0.999 / > 0.999" in text and "1.000" not in text
