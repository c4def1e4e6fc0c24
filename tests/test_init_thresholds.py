"""`bayesmeta init`: thresholds from the paper's pooled estimates and the user's MCID, never invented values."""

from __future__ import annotations

import tomllib

import pytest

from bayesmeta.cli import main
from bayesmeta.plan import load_plan
from bayesmeta.plan_template import plan_text
from bayesmeta.reanalysis.statements import clinical_threshold

OUTCOMES = ("study_id,outcome,measure,events_treatment,total_treatment,events_control,total_control\n"
            "Bach_1996,CRBSI,OR,0,116,3,117\nMaki_1997,CRBSI,OR,2,208,9,195\nHeard_1998,CRBSI,OR,5,151,6,157\n"
            "Leon_2004,CRBSI,OR,6,187,11,180\n")
PUBLISHED = ("outcome,analysis,variable,level,k,measure,estimate,ci_lower,ci_upper,p_value,p_relation,i2_percent,"
             "where\nCRBSI,pooled,,,17,OR,0.38,0.23,0.62,,,,Table III\nCRBSI,pooled,,,18,OR,0.26,0.13,0.51,,,,Table III\n"
             "CRBSI,subgroup,type,CHX,9,OR,0.55,0.31,0.97,,,,Table II\n")


@pytest.fixture
def files(tmp_path):
    (tmp_path / "outcomes.csv").write_text(OUTCOMES)
    (tmp_path / "published.csv").write_text(PUBLISHED)
    return tmp_path


def outcome_lines(text: str, name: str) -> str:
    block = text.split(f"[outcomes.{name}]", 1)[1]
    return block.split("\n\n", 1)[0]


def test_without_an_mcid_the_null_is_the_threshold_and_the_printed_estimates_wait_on_a_comment(files):
    text = plan_text(files / "outcomes.csv", published=files / "published.csv", plan_path=files / "plan.toml")
    block = outcome_lines(text, "CRBSI")
    outcome = tomllib.loads(text)["outcomes"]["CRBSI"]
    assert outcome["thresholds"] == [1.0] and "mcid" not in outcome
    assert "# thresholds = [1.0, 0.38, 0.26]" in block  # the pooled rows, not the subgroup's 0.55
    assert "0.55" not in block and "0.8" not in block and "1.25" not in block  # no clinical value made up
    assert "# mcid = ...   # CHECK" in block and "bayesmeta init --mcid" in block
    (files / "plan.toml").write_text(text)
    assert load_plan(files / "plan.toml").outcomes[0].thresholds == (1.0,)


@pytest.mark.parametrize(("mcid", "benefit"), [(0.8, "below"), (1.25, "above")])
def test_an_mcid_joins_the_null_and_the_printed_estimates_and_sets_the_side_of_benefit(files, mcid, benefit):
    text = plan_text(files / "outcomes.csv", published=files / "published.csv", plan_path=files / "plan.toml",
                     mcid={"CRBSI": mcid})
    outcome = tomllib.loads(text)["outcomes"]["CRBSI"]
    assert outcome["thresholds"] == [1.0, 0.38, 0.26, mcid] and outcome["mcid"] == mcid
    assert outcome["benefit"] == benefit
    (files / "plan.toml").write_text(text)
    plan = load_plan(files / "plan.toml").outcomes[0]
    assert plan.thresholds == tuple(sorted({1.0, 0.38, 0.26, mcid}))
    assert clinical_threshold(plan) == mcid  # the MCID, not a printed estimate, is the clinically important one


def test_cli_mcid_for_every_outcome_or_by_name_and_its_errors(files, capsys):
    out = files / "plan.toml"
    assert main(["init", "--outcomes", str(files / "outcomes.csv"), "--published", str(files / "published.csv"),
                 "--out", str(out), "--mcid", "0.8"]) == 0
    assert tomllib.loads(out.read_text())["outcomes"]["CRBSI"]["mcid"] == 0.8
    capsys.readouterr()
    for bad, message in ((["--mcid", "OS=0.8"], "does not have"), (["--mcid", "abc"], "not a number"),
                         (["--mcid", "CRBSI=1"], "not usable"), (["--mcid", "CRBSI=-0.5"], "not usable")):
        target = files / "other.toml"
        assert main(["init", "--outcomes", str(files / "outcomes.csv"), "--out", str(target), *bad]) == 2
        assert message in capsys.readouterr().err and not target.exists()
