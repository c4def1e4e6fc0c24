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


def test_tsa_of_hazard_ratios_says_its_events_are_inferred_and_prints_one_precision(tmp_path, capsys, wide):
    data = tmp_path / "mace.csv"
    data.write_text(MACE)
    assert main(["tsa", str(data), "--mcid", "0.85"]) == 0
    text = _text(capsys)
    assert "required information size = 1189 events" in text  # 4 (1.96 + 0.84)^2 / log(0.85)^2 = 1188.7
    assert "events: not counted but inferred from each study's standard error" in text
    line = re.search(r"Pooled HR at the last look (\S+); naive 95% CI (\S+) to (\S+); TSA-adjusted CI (\S+) to "
                     r"(\S+)\.", text)
    assert line is not None
    assert {len(v.split(".")[1]) for v in line.groups()} == {4}  # 0.8923; 0.8320 to 0.9571


def test_monitoring_figure_lists_the_futility_wedge_only_when_it_is_drawn():
    import pandas as pd

    from bayesmeta.plots.monitoring import plot_monitoring

    table = pd.DataFrame({"look": [1, 2, 3], "study": ["a", "b", "c"], "median": [0.86, 0.86, 0.89],
                          "ci_lower": [0.3, 0.55, 0.72], "ci_upper": [2.5, 1.36, 1.09],
                          "prob_below_1": [0.71, 0.87, 0.94], "decision": ["continue"] * 3})
    tsa = {"information_fraction": [0.61, 1.39, 2.64], "z": [-2.0, -3.1, -3.2], "upper": [2.5, 2.0, 2.0]}

    def labels(futility):
        fig = plot_monitoring(table, measure="HR", tsa={**tsa, "futility": futility})
        return [ln.get_label() for ln in fig.axes[2].get_lines()]

    assert "futility wedge" not in labels([0.91, np.nan, np.nan])  # one value: no line, so no legend entry
    assert "futility wedge" in labels([0.91, 1.2, np.nan])


def test_tsa_figure_names_the_unit_of_the_information_size():
    from bayesmeta import tsa
    from bayesmeta.effect_data import EffectData
    from bayesmeta.plots.tsa import plot_tsa

    hr, lo, hi = np.array([[0.86, 0.74, 0.99], [0.86, 0.75, 0.97], [0.93, 0.84, 1.03]]).T
    data = EffectData(study=("a", "b", "c"), yi=np.log(hr), sei=np.log(hi / lo) / 3.919927969080108, measure="HR")
    result = tsa.tsa(data, mcid=0.85)
    labels = [ln.get_label() for ln in plot_tsa(result).axes[0].get_lines()]
    assert f"RIS {result.ris_rounded:,} events" in labels
