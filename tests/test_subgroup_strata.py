"""Published subgroup rows recomputed from within-trial strata (plan ``outcomes.<name>.strata_of`` and
``.subgroup``), against metafor 3.8.1 (tests/reference/make_strata_fixtures.R, strata_metafor.json) and the printed
rows of Zelniker et al. 2019 (Lancet 393:31; PMC6685897 Table 1): MACE with ASCVD 0.86 (0.80-0.93), without
1.00 (0.87-1.16); the strata rows from PMC8010211 Table 3 (tests/reference/zelniker2019_outcomes.csv)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from bayesmeta.cli import main
from bayesmeta.data import load_outcomes, load_published
from bayesmeta.effects import derive_effects
from bayesmeta.plan import load_plan
from bayesmeta.report import writer
from bayesmeta.strata import NO_SOURCE, compare_subgroup_rows, plan_strata

REF = Path(__file__).parent / "reference"
FIXTURE = json.loads((REF / "strata_metafor.json").read_text())
PRINTED = {"yes": (0.86, 0.80, 0.93), "no": (1.00, 0.87, 1.16)}  # PMC6685897 Table 1

STRATA = '\nstrata_of = "MACE"\nsubgroup = "ascvd"\n'


def _folder(tmp_path: Path, strata: str = STRATA, outcomes: tuple[str, ...] = ("MACE", "MACE_ASCVD")) -> Path:
    shutil.copy(REF / "zelniker2019_outcomes.csv", tmp_path / "outcomes.csv")
    shutil.copy(REF / "zelniker2019_published.csv", tmp_path / "published.csv")
    text = ('title = "Zelniker 2019"\n[data]\noutcomes = "outcomes.csv"\npublished = "published.csv"\n'
            'pooling = "FE"\n[bias]\nenabled = false\n')
    for name in outcomes:
        text += f'[outcomes.{name}]\nmeasure = "HR"\nbenefit = "below"\n'
        if name == "MACE_ASCVD":
            text += strata
    (tmp_path / "plan.toml").write_text(text)
    return tmp_path / "plan.toml"


def _compare(plan_path: Path):
    plan = load_plan(plan_path)
    effects = derive_effects(load_outcomes(str(plan.outcomes_file)), None)
    return compare_subgroup_rows(effects, load_published(str(plan.published)), plan.pooling, plan_strata(plan))


def test_the_strata_reproduce_metafor_and_the_printed_subgroup_rows(tmp_path):
    rows, tests = _compare(_folder(tmp_path))
    assert list(rows["level"]) == ["yes", "no"]
    for ref in FIXTURE["levels"]:
        r = rows[rows["level"] == ref["level"]].iloc[0]
        assert r["k_used"] == ref["k"] and r["rule_model"] == "FE"
        for ours, theirs in (("rule_estimate", "hr"), ("rule_ci_lower", "hr_ci_lower"),
                             ("rule_ci_upper", "hr_ci_upper")):
            assert math.log(r[ours]) == pytest.approx(math.log(ref[theirs]), abs=1e-6)
        assert tuple(round(r[c], 2) for c in ("rule_estimate", "rule_ci_lower", "rule_ci_upper")) \
            == PRINTED[ref["level"]]
        assert r["status"] == "reproduced"
    t = tests.iloc[0]
    assert (t["outcome"], t["variable"], t["method"], t["df_between"]) == ("MACE", "ASCVD", "FE", FIXTURE["qm_df"])
    assert t["q_between"] == pytest.approx(FIXTURE["qm"], abs=1e-6)
    assert t["p_between"] == pytest.approx(FIXTURE["qm_p"], abs=1e-6)


def test_compare_lists_every_subgroup_row_with_or_without_the_plan(tmp_path, capsys):
    plan = _folder(tmp_path)
    assert main(["compare", str(tmp_path / "published.csv"), "--plan", str(plan), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(r["level"], r["status"]) for r in out["subgroup_rows"]] == [("yes", "reproduced"), ("no", "reproduced")]
    assert out["subgroup_tests"][0]["q_between"] == pytest.approx(FIXTURE["qm"], abs=1e-6)
    # without the plan's strata the rows are listed, with the reason they are not recomputed
    assert main(["compare", str(tmp_path / "published.csv"), "--outcomes", str(tmp_path / "outcomes.csv"),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(r["level"], r["status"], r["note"]) for r in out["subgroup_rows"]] \
        == [("yes", "not recomputed", NO_SOURCE), ("no", "not recomputed", NO_SOURCE)]
    assert out["subgroup_tests"] == []


@pytest.mark.parametrize("strata, key, message", [
    ('\nstrata_of = "MACE_X"\nsubgroup = "ascvd"\n', "strata_of", "outcome 'MACE_X' has no rows in outcomes.csv"),
    ('\nstrata_of = "MACE"\nsubgroup = "asvd"\n', "subgroup", "column 'asvd' is not in outcomes.csv"),
    ('\nstrata_of = "MACE"\n', "subgroup", "missing"),
    ('\nstrata_of = "HHF"\nsubgroup = "ascvd"\n', "strata_of", "outcome 'HHF' is not in the plan"),
])
def test_a_plan_naming_a_missing_outcome_or_column_is_one_line(tmp_path, capsys, strata, key, message):
    plan = _folder(tmp_path, strata)
    assert main(["reanalyze", str(plan), "--out", str(tmp_path / "report"), "--quick"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"key 'outcomes.MACE_ASCVD.{key}'" in err and message in err and "plan.toml" in err
    assert not (tmp_path / "report").exists()


def test_the_report_shows_the_subgroup_rows_instead_of_dropping_them(tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "figure_specs", lambda result: [])
    plan = _folder(tmp_path)
    assert main(["reanalyze", str(plan), "--out", str(tmp_path / "report"), "--quick", "--no-cache",
                 "--quiet"]) == 0
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    rows = {r["quantity"]: r for r in summary["comparison"] if r["outcome"] == "MACE"}
    for ref in FIXTURE["levels"]:
        r = rows[f"ASCVD = {ref['level']}"]
        est, lo, hi = PRINTED[ref["level"]]
        assert r["analysis"] == "subgroup" and r["k_used"] == ref["k"] and r["status"] == "reproduced"
        assert r["recomputed"] == f"{est:.2f} ({lo:.2f} to {hi:.2f})"
        assert r["recomputed_value"] == pytest.approx(ref["hr"], rel=1e-6)
        assert r["bayesian"].startswith("median ") and "P(HR < 1)" in r["bayesian"]
    diff = rows["ASCVD: subgroup difference p"]
    assert diff["recomputed_value"] == pytest.approx(FIXTURE["qm_p"], abs=1e-6)
    assert diff["status"] == "not reported by the paper"
    assert not [r for r in summary["published_not_covered"] if r["analysis"] == "subgroup"]
    # the within-trial interaction (bayesmeta.interaction) beside the across-level test, in summary.json and report
    import jsonschema

    from bayesmeta.report.interactions import WITHIN_TRIAL_NOTE

    schema = json.loads((Path(writer.__file__).parents[1] / "resources" / "summary.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(summary)
    (inter,) = summary["subgroup_interactions"]
    ref = FIXTURE["interaction"]
    assert (inter["outcome"], inter["strata"], inter["variable"], inter["level"], inter["reference"]) \
        == ("MACE", "MACE_ASCVD", "ASCVD", "no", "yes")
    assert inter["trials"] == ref["trials"] and list(inter["not_contributing"]) == ref["not_contributing"]
    for model in ("common", "random"):
        for key in ("estimate", "se", "tau2"):
            assert inter[model][key] == pytest.approx(ref[model][key], abs=1e-6)
    assert inter["mu_prior"] == "normal(0, 4)" and inter["tau_prior"] == "halfnormal(0.5)"  # weakly_informative
    assert inter["across"]["p_between"] == pytest.approx(FIXTURE["qm_p"], abs=1e-6)
    report = (tmp_path / "report" / "report.md").read_text()
    assert WITHIN_TRIAL_NOTE in report
    assert "| MACE | ASCVD | no / yes (ratio of ratios) | 2 | EMPA-REG OUTCOME (only level yes) | 1.14 (0.96 to 1.36)" \
        in report and "Q = 3.27 on 1 df, p = 0.070 (FE)" in report


def test_a_published_subgroup_difference_row_is_recomputed_from_the_strata(tmp_path):
    """compare's subgroup-difference table reaches the strata too (its p beside the row's; the row's p here is a
    test input, not a printed number: the paper's interaction p is not in the committed published rows)."""
    from bayesmeta.compare import compare_subgroups
    from bayesmeta.strata import strata_as_columns

    plan = load_plan(_folder(tmp_path))
    effects = derive_effects(load_outcomes(str(plan.outcomes_file)), None)
    published = load_published(str(plan.published))
    row = published[published["analysis"] == "subgroup"].iloc[[0]].assign(
        analysis="subgroup_difference", level="", p_value=0.5, p_relation="=")
    published = pd.concat([published, row], ignore_index=True)
    assert compare_subgroups(effects, published)["status"].tolist() == ["not estimable"]
    out = compare_subgroups(strata_as_columns(effects, published, plan_strata(plan)), published).iloc[0]
    assert (out["outcome"], out["variable"], out["k_used"], out["method"]) == ("MACE", "ASCVD", 5, "FE")
    assert out["p"] == pytest.approx(FIXTURE["qm_p"], abs=1e-6)


def test_init_offers_the_strata_keys_and_the_plan_loads(tmp_path):
    shutil.copy(REF / "zelniker2019_outcomes.csv", tmp_path / "outcomes.csv")
    shutil.copy(REF / "zelniker2019_published.csv", tmp_path / "published.csv")
    assert main(["init", "--outcomes", str(tmp_path / "outcomes.csv"), "--published", str(tmp_path / "published.csv"),
                 "--out", str(tmp_path / "plan.toml")]) == 0
    plan = load_plan(tmp_path / "plan.toml")
    strata = [(o.name, o.strata_of, o.subgroup) for o in plan.outcomes if o.strata_of]
    assert strata == [("MACE_ASCVD", "MACE", "ascvd")]


@pytest.mark.parametrize("variable", ["ASCVD", "ascvd"])
def test_the_report_finds_the_strata_when_the_column_is_blank_for_the_outcome(tmp_path, variable):
    """The outcomes table's ascvd column is blank in the MACE rows: a published variable spelled as the column
    must still reach the strata, not the MACE trials."""
    from types import SimpleNamespace

    from bayesmeta.reanalysis.comparison import _subset_of

    plan = load_plan(_folder(tmp_path))
    effects = derive_effects(load_outcomes(str(plan.outcomes_file)), None)
    analyses = {n: SimpleNamespace(name=n, effects=effects[effects["outcome"] == n]) for n in ("MACE", "MACE_ASCVD")}
    row = SimpleNamespace(analysis="subgroup", variable=variable, level="no")
    sel = _subset_of(plan, analyses["MACE"], row, analyses)
    assert sel["study_id"].tolist() == ["CANVAS (risk factors only)", "DECLARE-TIMI 58 (risk factors only)"]
