"""`bayesmeta init`: the starter plan it writes for a user's files runs unchanged with `bayesmeta reanalyze`
(the three gallery cases' files and a minimal table of arm counts), says what to check, and never overwrites."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pandas as pd
import pytest

import bayesmeta.report.writer as writer
from bayesmeta.cli import main
from bayesmeta.plan import load_plan
from bayesmeta.plan_template import covariates_of, plan_text
from conftest import TEST_FIGURES

ROOT = Path(__file__).resolve().parents[1]
GALLERY = ROOT / "data" / "gallery"


def _init_and_run(folder: Path, *files: str) -> tuple[dict, dict]:
    """init with the named files of ``folder`` (outcomes first, then published), reanalyze --quick; the plan
    as TOML and the summary; the report folder holds the full report."""
    args = ["init", "--outcomes", str(folder / files[0]), "--out", str(folder / "plan.toml")]
    if len(files) > 1:
        args += ["--published", str(folder / files[1])]
    assert main(args) == 0
    assert main(["reanalyze", str(folder / "plan.toml"), "--out", str(folder / "report"), "--quick", "--no-cache",
                 "--quiet", *TEST_FIGURES]) == 0
    plan = tomllib.loads((folder / "plan.toml").read_text())
    return plan, json.loads((folder / "report" / "summary.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("case", ["magnesium_mi", "parkinson_offtime", "glp1_mace"])
def test_init_plan_of_each_gallery_case_runs_unchanged(case, tmp_path, monkeypatch):
    for name in ("outcomes.csv", "published.csv"):
        shutil.copy(GALLERY / case / name, tmp_path / name)
    if case != "glp1_mace":
        # figures of these data are drawn by test_gallery.py; here the numbers and the report's text suffice
        monkeypatch.setattr(writer, "figure_specs", lambda result: [])
    plan, summary = _init_and_run(tmp_path, "outcomes.csv", "published.csv")
    figures = list((tmp_path / "report" / "figures").glob("*.png"))
    assert (tmp_path / "report" / "report.html").is_file() and (len(figures) > 3) == (case == "glp1_mace")
    rows = pd.read_csv(tmp_path / "outcomes.csv")
    for outcome, group in rows.groupby("outcome"):
        assert plan["outcomes"][outcome]["measure"] == group["measure"].iloc[0]
        assert summary["outcomes"][outcome]["k"] == len(group)
    assert plan["data"] == {**plan["data"], "outcomes": "outcomes.csv", "published": "published.csv"}
    assert summary["quick"] is True and summary["comparison"]
    # the guessed thresholds are the null only: one probability of benefit, not the same one again as "important"
    report = (tmp_path / "report" / "report.md").read_text()
    assert "a benefit beyond" not in report and "benefit is " in report
    if case == "parkinson_offtime":  # the review's subgroup column, offered for meta-regression with its levels
        assert plan["covariates"]["levels"] == {"drug_class": ["COMTI", "DA", "MAOBI"]}
        assert plan["data"]["pooling"] == "DL"  # the published file does not say the model
    if case == "glp1_mace":  # dosing interval offered; the trial names and agents (one per trial) are not
        assert plan["covariates"]["columns"] == ["dosing_interval"]
        assert plan["data"]["pooling"] == "DL"  # the published rows say 'random'


@pytest.mark.slow
def test_init_plan_of_a_minimal_count_table_runs_unchanged(tmp_path):
    (tmp_path / "outcomes.csv").write_text(
        "study_id,outcome,measure,events_treatment,total_treatment,events_control,total_control\n"
        "A,death,RR,10,100,15,100\nB,death,RR,8,120,14,118\nC,death,RR,20,200,22,190\nD,death,RR,5,60,9,61\n")
    plan, summary = _init_and_run(tmp_path, "outcomes.csv")
    assert plan["outcomes"]["death"]["benefit"] == "below" and plan["outcomes"]["death"]["thresholds"] == [1.0]
    assert "covariates" not in plan and plan["monitoring"]["order"] == "file"
    assert summary["outcomes"]["death"]["k"] == 4 and summary["outcomes"]["death"]["bayes"]["mu"]["median"] < 0
    assert (tmp_path / "plan.toml").read_text().count("# CHECK") >= 3


def test_a_plan_without_published_numbers_says_so_instead_of_an_empty_comparison(tmp_path, capsys):
    import docx

    from bayesmeta.cli.reanalyze import _print_pooled_comparison

    (tmp_path / "outcomes.csv").write_text(
        "study_id,outcome,measure,yi,vi\nA,iq,SMD,0.03,0.0156\nB,iq,SMD,0.12,0.0216\nC,iq,SMD,-0.14,0.0279\n")
    _init_and_run(tmp_path, "outcomes.csv")
    report = (tmp_path / "report" / "report.md").read_text()
    comparison = report[report.index('<a id="comparison">'):report.index('<a id="forest">')]
    assert "names no file of published numbers (data.published)" in comparison and "|" not in comparison
    document = docx.Document(str(tmp_path / "report" / "report.docx"))
    captions = [p.text for p in document.paragraphs if p.text.startswith("Table ")]
    assert len(document.tables) == 1 and captions == [captions[0]] and captions[0].startswith("Table 1.")
    capsys.readouterr()
    _print_pooled_comparison(tmp_path / "report" / "summary.json")
    assert "No pooled result to compare: the plan names no published numbers" in capsys.readouterr().out


def test_init_never_overwrites_a_plan(tmp_path, capsys):
    shutil.copy(GALLERY / "glp1_mace" / "outcomes.csv", tmp_path / "outcomes.csv")
    target = tmp_path / "plan.toml"
    target.write_text("# my plan\n")
    assert main(["init", "--outcomes", str(tmp_path / "outcomes.csv"), "--out", str(target)]) == 2
    assert target.read_text() == "# my plan\n"
    assert "already exists" in capsys.readouterr().err
    assert not list(tmp_path.glob(".*init-check*"))


def test_init_refuses_an_outcome_of_two_measures(tmp_path, capsys):
    (tmp_path / "outcomes.csv").write_text(
        "study_id,outcome,measure,estimate,ci_lower,ci_upper\nA,death,HR,0.8,0.6,1.1\nB,death,RR,0.9,0.7,1.2\n")
    assert main(["init", "--outcomes", str(tmp_path / "outcomes.csv"), "--out", str(tmp_path / "plan.toml")]) == 2
    assert "several measures" in capsys.readouterr().err and not (tmp_path / "plan.toml").exists()


def test_plan_text_paths_are_relative_to_where_the_plan_reads_them(tmp_path):
    """A plan written into models/ reads data paths from the project folder (load_plan's rule)."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(GALLERY / "magnesium_mi" / "outcomes.csv", data / "outcomes.csv")
    (tmp_path / "models").mkdir()
    target = tmp_path / "models" / "mine.toml"
    target.write_text(plan_text(data / "outcomes.csv", plan_path=target))
    assert tomllib.loads(target.read_text())["data"]["outcomes"] == "data/outcomes.csv"
    assert load_plan(target).outcomes_file == data / "outcomes.csv"


def test_covariates_are_repeated_levels_or_numeric_columns():
    table = pd.DataFrame({
        "study_id": list("ABCDEF"), "year": [2001, 2002, 2003, 2004, 2005, 2006],
        "drug": ["x", "x", "y", "y", "z", "z"], "dose": ["1", "2", "2.5", "3", "1", "2"],
        "name": list("uvwxyz"), "source": ["p"] * 6, "blank": [""] * 6, "sex": ["m", "m", "m", "f", "", "f"],
    })
    found = {c.column: c.levels for c in covariates_of(table, k=6)}
    assert found == {"drug": ("x", "y", "z"), "dose": None, "sex": ("f", "m")}


@pytest.mark.parametrize("measure,example", [("OR", "OR 0.80 (0.70-0.90)"), ("MD", "MD -0.30 (-0.50 to -0.10)")])
def test_the_claims_example_is_on_the_outcomes_scale(tmp_path, measure, example):
    (tmp_path / "outcomes.csv").write_text(
        f"study_id,outcome,measure,yi,sei\nA,pain,{measure},-0.2,0.1\nB,pain,{measure},-0.1,0.2\n")
    text = plan_text(tmp_path / "outcomes.csv", plan_path=tmp_path / "plan.toml")
    assert f'# published = "{example}"' in text and "HR 0.80" not in text


@pytest.mark.parametrize("methods, pooling", [(("REML", "reml"), "REML"), (("PM", ""), "PM"), (("REML", "DL"), "DL"),
                                              (("", ""), "DL")])
def test_the_pooling_follows_the_estimator_the_published_pooled_rows_name(tmp_path, methods, pooling):
    """Pooled rows that agree on their tau^2 estimator (the `method` column) give the plan's pooling; rows that
    disagree, or name none, leave the random-effects default (DL) with a comment to check."""
    shutil.copy(GALLERY / "magnesium_mi" / "outcomes.csv", tmp_path / "outcomes.csv")
    rows = pd.DataFrame({"outcome": "mortality", "analysis": "pooled", "variable": "all", "level": "all",
                         "k": [22, 21], "measure": "OR", "estimate": [0.62, 0.64], "ci_lower": [0.53, 0.5],
                         "ci_upper": [0.72, 0.8], "p_value": "", "p_relation": "", "i2_percent": "",
                         "where": "Abstract", "model": "random", "method": list(methods)})
    rows.to_csv(tmp_path / "published.csv", index=False)
    text = plan_text(tmp_path / "outcomes.csv", published=tmp_path / "published.csv",
                     plan_path=tmp_path / "plan.toml")
    assert tomllib.loads(text)["data"]["pooling"] == pooling


def _monitoring_order(tmp_path: Path, outcomes: str, studies: str | None = None) -> tuple[str, str]:
    """The plan init writes for these tables: (its [monitoring] order, its text)."""
    (tmp_path / "outcomes.csv").write_text(outcomes)
    if studies is not None:
        (tmp_path / "studies.csv").write_text(studies)
    text = plan_text(tmp_path / "outcomes.csv", tmp_path / "studies.csv" if studies is not None else None,
                     plan_path=tmp_path / "plan.toml")
    return tomllib.loads(text)["monitoring"]["order"], text


def test_init_orders_monitoring_by_year_only_when_every_study_has_one(tmp_path):
    """A blank or non-numeric year sends the reanalysis' monitoring to file order (with a warning): init then
    writes order = "file" and names the rows without a year, the same studies as the reanalysis finds."""
    from bayesmeta.data import load_outcomes, load_studies
    from bayesmeta.effects import effects_for
    from bayesmeta.reanalysis.outcome import study_years

    head = "study_id,outcome,measure,yi,sei,year\n"
    full = head + "A,death,HR,-0.2,0.1,2001\nB,death,HR,-0.1,0.2,1999\nC,death,HR,0.1,0.15,2005\n"
    order, text = _monitoring_order(tmp_path, full)
    assert order == "year" and "no year" not in text
    gaps = head + "A,death,HR,-0.2,0.1,2001\nB,death,HR,-0.1,0.2,\nC,death,HR,0.1,0.15,n.d.\n"
    order, text = _monitoring_order(tmp_path, gaps)
    assert order == "file"
    assert "# CHECK: no year (blank or not a number) in 2 row(s): B (outcomes.csv row 3), C (outcomes.csv row 4)" \
        in text
    _, missing = study_years(effects_for("death", load_outcomes(tmp_path / "outcomes.csv")))
    assert sorted(missing) == ["B", "C"]
    # with a study table the years are its own (the outcome rows' are not read): a blank one of a study the
    # outcomes use sends monitoring to file order, one of a study they do not use does not
    rows = "study_id,outcome,measure,yi,sei\nA,death,HR,-0.2,0.1\nB,death,HR,-0.1,0.2\n"
    order, text = _monitoring_order(tmp_path, rows, "study_id,year\nA,2001\nB,\nZ,1990\n")
    assert order == "file" and "in 1 row(s): B (studies.csv row 3);" in text
    studies = load_studies(tmp_path / "studies.csv")
    _, missing = study_years(effects_for("death", load_outcomes(tmp_path / "outcomes.csv"), studies))
    assert missing == ["B"]
    order, text = _monitoring_order(tmp_path, rows, "study_id,year\nA,2001\nB,1999\nZ,\n")
    assert order == "year" and "no year" not in text
