"""compare_pooled / compare_metaregression / compare_subgroups on synthetic published tables with known numbers
(metafor fixtures), the HAIC table's structure, and `bayesmeta compare`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesmeta.cli import main
from scipy import stats

from bayesmeta.compare import (
    compare_correlations,
    compare_metaregression,
    compare_pooled,
    compare_subgroups,
)
from bayesmeta.errors import InputError
from bayesmeta.plan import StudySubset, load_plan
from conftest import HAIC_LEVELS, HAIC_OUTCOMES, HAIC_PLAN, HAIC_PUBLISHED, HAIC_STUDIES, ROOT

FOLFOX = {"FOLFOX": StudySubset("FOLFOX", (("platinum", ("oxaliplatin",)),), ("Zhao2019",))}

FIX = json.loads((Path(__file__).parent / "reference" / "metafor_fixtures.json").read_text())
DATA = FIX["datasets"]
PUBLISHED_COLUMNS = ["outcome", "analysis", "variable", "level", "k", "measure", "estimate", "ci_lower",
                     "ci_upper", "p_value", "p_relation", "i2_percent"]  # fmt: skip


def _fit(dataset, method):
    return next(
        c for c in FIX["fits"] if c["dataset"] == dataset and c["method"] == method and c["test"] == "z"
        and c["level"] == 0.95
    )  # fmt: skip


def _effects(dataset: str, outcome: str, measure: str, **covariates) -> pd.DataFrame:
    d = DATA[dataset]
    k = len(d["yi"])
    frame = pd.DataFrame({
        "study_id": [f"{outcome}-{s}" for s in d["study"]], "outcome": outcome, "measure": measure,
        "yi": d["yi"], "sei": np.sqrt(d["vi"]), "vi": d["vi"], "method": "ci", "year": range(2000, 2000 + k),
        "design": "RCT", "platinum": "oxaliplatin", "systemic": "TKI",
    })  # fmt: skip
    for name, values in covariates.items():
        frame[name] = values
    return frame


def _row(**values) -> dict:
    return values


def _published(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for column in PUBLISHED_COLUMNS:
        if column not in frame.columns:
            frame[column] = (
                np.nan if column in ("k", "estimate", "ci_lower", "ci_upper", "p_value", "i2_percent") else ""
            )
    return frame[PUBLISHED_COLUMNS]


@pytest.fixture()
def synthetic():
    fe = _fit("k3_homogeneous", "FE")
    effects = pd.concat([
        _effects("k3_homogeneous", "OS", "HR"),
        _effects("bcg", "PFS", "HR"),
        _effects("bcg", "ORR", "RR"),
        _effects("k3_homogeneous", "AE", "RR").iloc[:1],
    ], ignore_index=True)  # fmt: skip
    published = _published([
        # the common-effect result of the three studies, printed to two decimals -> reproduced
        _row(outcome="OS", analysis="pooled", k=5, measure="HR", estimate=round(np.exp(fe["estimate"]), 2),
             ci_lower=round(np.exp(fe["ci_lower"]), 2), ci_upper=round(np.exp(fe["ci_upper"]), 2), i2_percent=0.0),
        # far from the BCG DL result 0.49 [0.345, 0.695] -> disjoint CIs
        _row(outcome="PFS", analysis="pooled", k=20, measure="HR", estimate=3.0, ci_lower=2.5, ci_upper=3.6,
             i2_percent=40.0),
        # CIs overlap (0.345 < 0.36) but neither estimate is inside the other CI
        _row(outcome="ORR", analysis="pooled", k=13, measure="RR", estimate=0.30, ci_lower=0.25, ci_upper=0.36,
             i2_percent=92.0),
        # published but nothing to recompute from
        _row(outcome="DCR", analysis="pooled", k=15, measure="RR", estimate=1.2, ci_lower=1.1, ci_upper=1.3,
             i2_percent=55.0),
    ])  # fmt: skip
    return effects, published


def test_compare_pooled_synthetic(synthetic):
    effects, published = synthetic
    table = compare_pooled(effects, published).set_index("outcome")
    assert list(table.index) == ["OS", "PFS", "ORR", "DCR", "AE"]
    assert table["status"].to_dict() == {
        "OS": "reproduced",
        "PFS": "disjoint",
        "ORR": "overlapping",
        "DCR": "no data",
        "AE": "not published",
    }
    assert table.loc["OS", "k_used"] == 3 and table.loc["OS", "k_published"] == 5
    assert table.loc["OS", "note"].startswith("k 3 of 5: the available studies reproduce")
    assert "do not reproduce" in table.loc["PFS", "note"]
    # the paper's rule: I^2 = 0 -> common effect; BCG I^2 = 92% -> DerSimonian-Laird (metafor values)
    fe, dl, reml = _fit("k3_homogeneous", "FE"), _fit("bcg", "DL"), _fit("bcg", "REML")
    assert table.loc["OS", "rule_model"] == "FE"
    assert table.loc["OS", "rule_estimate"] == pytest.approx(np.exp(fe["estimate"]), rel=1e-6)
    assert table.loc["PFS", "rule_model"] == "DL"
    assert table.loc["PFS", "rule_ci_lower"] == pytest.approx(np.exp(dl["ci_lower"]), rel=1e-6)
    assert table.loc["PFS", "reml_estimate"] == pytest.approx(np.exp(reml["estimate"]), rel=1e-6)
    assert table.loc["PFS", "reml_tau2"] == pytest.approx(reml["tau2"], abs=1e-6)
    assert table.loc["PFS", "i2"] == pytest.approx(_fit("bcg", "FE")["i2"], abs=1e-6)
    assert table.loc["DCR", "k_used"] == 0
    assert table.loc["AE", "rule_model"] == "FE" and table.loc["AE", "k_used"] == 1


def test_compare_moderators_synthetic():
    d = DATA["haic_os"]
    effects = _effects("haic_os", "OS", "HR", platinum=d["platinum"])
    published = _published([
        _row(outcome="OS", analysis="meta_regression", variable="platinum", measure="p", p_value=0.0001,
             p_relation="<"),
        _row(outcome="OS", analysis="meta_regression", variable="design", measure="p", p_value=0.46,
             p_relation="="),
        _row(outcome="OS", analysis="subgroup_difference", variable="platinum", measure="p", p_value=0.06,
             p_relation="="),
    ])  # fmt: skip
    metareg = compare_metaregression(effects, published).set_index("variable")
    ref = next(
        c for c in FIX["metareg"]
        if c["dataset"] == "haic_os" and c["method"] == "REML" and c["mods"] == "platinum_oxaliplatin"
    )  # fmt: skip
    assert metareg.loc["platinum", "p"] == pytest.approx(ref["qm_p"], abs=1e-6)
    assert metareg.loc["platinum", "k_used"] == 7
    assert metareg.loc["platinum", "levels"] == "cisplatin 2, oxaliplatin 5"
    assert metareg.loc["platinum", "status"] == ("agree" if ref["qm_p"] < 0.05 else "disagree")
    assert metareg.loc["design", "status"] == "not estimable"
    assert "only RCT 7" in metareg.loc["design", "note"]

    subgroups = compare_subgroups(effects, published)
    row = subgroups.iloc[0]
    method = "FE" if _fit("haic_os", "FE")["i2"] < 50 else "DL"
    ref = next(c for c in FIX["subgroups"] if c["dataset"] == "haic_os" and c["method"] == method)
    assert row["method"] == method
    assert row["p"] == pytest.approx(ref["p_between"], abs=1e-6)
    # published p = 0.06: not significant, so the two agree when the recomputed p is >= 0.05
    assert row["status"] == ("agree" if ref["p_between"] >= 0.05 else "disagree")


def test_too_few_studies_is_not_estimable():
    effects = _effects("k3_homogeneous", "PFS", "HR").iloc[:2].assign(design=["RCT", "retrospective"])
    published = _published([
        _row(outcome="PFS", analysis="meta_regression", variable="design", measure="p", p_value=0.03, p_relation="=")
    ])  # fmt: skip
    row = compare_metaregression(effects, published).iloc[0]
    assert row["status"] == "not estimable" and row["k_used"] == 2 and pd.isna(row["p"])


def test_effects_without_required_columns():
    with pytest.raises(InputError, match="vi"):
        compare_pooled(pd.DataFrame({"study_id": ["a"], "outcome": ["OS"], "measure": ["HR"], "yi": [0.1]}),
                       _published([]))  # fmt: skip


def _outcome_rows(outcome: str, values: dict[str, float], platinum: dict[str, str]) -> pd.DataFrame:
    ids = list(values)
    return pd.DataFrame({
        "study_id": ids, "outcome": outcome, "measure": "RR" if outcome == "ORR" else "HR",
        "yi": [values[i] for i in ids], "vi": 0.04, "platinum": [platinum[i] for i in ids],
    })  # fmt: skip


PLATINUM = {"S1": "oxaliplatin", "S2": "oxaliplatin", "S3": "oxaliplatin", "S4": "oxaliplatin", "S5": "cisplatin",
            "Zhao2019": "oxaliplatin", "S6": "oxaliplatin", "S7": "cisplatin"}  # fmt: skip
# log RR of ORR and log HR of OS; S6 has no OS, S7 no ORR, PFS pairs with ORR in two studies only
ORR = {"S1": 0.1, "S2": 0.5, "S3": 0.3, "S4": 0.9, "S5": 0.7, "Zhao2019": 1.5, "S6": 2.0}
OS = {"S1": -0.2, "S2": -0.6, "S3": -0.1, "S4": -0.4, "S5": -0.3, "Zhao2019": -0.05, "S7": -0.9}
PFS = {"S1": -0.3, "S2": -0.1, "S7": -0.5}


def _spearman_p(r: float, n: int) -> float:
    """Two-sided p of the t approximation t = r sqrt((n - 2) / (1 - r^2)) on n - 2 df."""
    t = r * np.sqrt((n - 2) / (1 - r * r))
    return float(2 * stats.t.sf(abs(t), n - 2))


def test_compare_correlations_synthetic():
    effects = {o: _outcome_rows(o, v, PLATINUM) for o, v in (("ORR", ORR), ("OS", OS), ("PFS", PFS))}
    published = _published([
        _row(outcome="ORR~OS", analysis="correlation", variable="all", level="all", k=16, measure="spearman_r",
             estimate=0.10, p_value=0.85, p_relation="="),
        _row(outcome="ORR~PFS", analysis="correlation", variable="all", level="all", measure="spearman_r",
             estimate=-0.52, p_value=0.069, p_relation="="),
        _row(outcome="ORR~OS", analysis="correlation", variable="FOLFOX", level="FOLFOX", measure="spearman_r",
             estimate=-0.79, p_value=0.0013, p_relation="="),
        _row(outcome="ORR~OS", analysis="correlation", variable="FOLFOX", level="FOLFOX", measure="spearman_r",
             estimate=0.5, p_value=0.01, p_relation="<"),
        _row(outcome="ORR~OS", analysis="correlation", variable="cisplatin", level="cisplatin",
             measure="spearman_r", estimate=0.3, p_value=0.2, p_relation="="),
        # rows of other analyses are ignored
        _row(outcome="OS", analysis="pooled", k=5, measure="HR", estimate=0.5, ci_lower=0.4, ci_upper=0.6),
    ])  # fmt: skip
    table = compare_correlations(effects, published, FOLFOX)
    assert list(table["pair"]) == ["ORR~OS", "ORR~PFS", "ORR~OS", "ORR~OS", "ORR~OS"]

    # all six studies with both: ORR ranks S1 1, S3 2, S2 3, S5 4, S4 5, Zhao 6; OS ranks S2 1, S4 2, S5 3,
    # S1 4, S3 5, Zhao 6; sum d^2 = 9 + 4 + 9 + 9 + 1 + 0 = 32, rho = 1 - 6 * 32 / (6 * 35) = 3/35
    overall = table.iloc[0]
    assert overall["n_used"] == 6 and overall["n_published"] == 16
    assert overall["studies"] == "S1;S2;S3;S4;S5;Zhao2019"
    assert overall["r"] == pytest.approx(3 / 35, abs=1e-12)
    assert overall["p"] == pytest.approx(_spearman_p(3 / 35, 6), rel=1e-9)
    assert overall["status"] == "agree"  # same sign, both p >= 0.05
    assert overall["note"].startswith("n 6 of 16: rho 0.09")

    pfs = table.iloc[1]
    assert pfs["status"] == "not estimable" and pfs["n_used"] == 2 and pd.isna(pfs["r"])
    assert "fewer than 3 studies report both ORR and PFS" in pfs["note"]

    # FOLFOX: oxaliplatin without Zhao 2019 (oxaliplatin alone): S1..S4, ORR ranks 1 3 2 4, OS ranks 3 1 4 2,
    # sum d^2 = 16, rho = 1 - 6 * 16 / (4 * 15) = -0.6 (with Zhao 2019 it would be +0.2)
    folfox = table.iloc[2]
    assert folfox["n_used"] == 4 and folfox["studies"] == "S1;S2;S3;S4"
    assert folfox["r"] == pytest.approx(-0.6, abs=1e-12)
    assert folfox["p"] == pytest.approx(_spearman_p(-0.6, 4), rel=1e-9)
    assert folfox["status"] == "same direction"  # published p = 0.0013, recomputed p about 0.4
    assert "different sides of 0.05" in folfox["note"]
    assert table.iloc[3]["status"] == "opposite direction" and table.iloc[3]["published_p_relation"] == "<"

    unknown = table.iloc[4]
    assert unknown["status"] == "not estimable" and "'cisplatin' is not defined" in unknown["note"]

    # one long effects table gives the same comparison
    long = pd.concat(effects.values(), ignore_index=True)
    pd.testing.assert_frame_equal(compare_correlations(long, published, FOLFOX), table)


def _haic_effects():
    from bayesmeta.data import load_outcomes, load_published, load_studies
    from bayesmeta.effects import derive_effects

    studies = load_studies(HAIC_STUDIES, HAIC_LEVELS)
    outcomes = load_outcomes(HAIC_OUTCOMES, studies=studies)
    effects = derive_effects(outcomes, studies)
    return studies, outcomes, effects[effects["usable"]].reset_index(drop=True), load_published(HAIC_PUBLISHED)


def test_haic_table_structure():
    studies, outcomes, effects, published_table = _haic_effects()
    plan = load_plan(HAIC_PLAN)
    pooled = compare_pooled(effects, published_table, plan.pooling)
    assert {"OS", "PFS", "ORR", "DCR"} <= set(pooled["outcome"])
    assert set(pooled["outcome"]) <= {"OS", "PFS", "ORR", "DCR", "AE"}
    published = pooled.dropna(subset=["k_published"])
    assert (published["k_used"] <= published["k_published"]).all()
    assert set(pooled["status"]) <= {"reproduced", "close", "differs", "overlapping", "disjoint", "no data",
                                     "not published", "single study"}  # fmt: skip
    # 10 of the 17 studies give a wider CI: the estimates agree, the CIs do not (not 'reproduced')
    assert pooled.set_index("outcome").loc["OS", "status"] == "differs"
    for _, row in published.iterrows():
        assert row["note"].startswith(f"k {row['k_used']} of {row['k_published']}")
    correlations = compare_correlations(effects, published_table, plan.subsets)
    assert list(zip(correlations["pair"], correlations["subset"], strict=True)) == [
        ("ORR~OS", "all"), ("ORR~PFS", "all"), ("ORR~OS", "FOLFOX"), ("ORR~PFS", "FOLFOX")
    ]  # fmt: skip
    from bayesmeta.effects import effects_for

    orr = effects_for("ORR", outcomes, studies).set_index("study_id")["platinum"]
    for row in correlations.itertuples():
        paired = set(orr.index) & set(effects_for(row.y_outcome, outcomes, studies)["study_id"])
        if row.subset == "FOLFOX":  # oxaliplatin-based except Zhao 2019, which infused oxaliplatin alone
            paired = {s for s in paired if orr[s] == "oxaliplatin" and s != "Zhao2019"}
        assert row.n_used == len(paired)
        assert (row.status == "not estimable") == (row.n_used < 3)
        assert row.status == "not estimable" or -1 <= row.r <= 1 and 0 <= row.p <= 1
    for frame in (compare_metaregression(effects, published_table), compare_subgroups(effects, published_table)):
        assert len(frame) == 12  # OS, PFS, ORR, DCR x platinum, systemic, design
        estimable = frame["status"] != "not estimable"
        assert frame.loc[estimable, "p"].between(0, 1).all()
        assert (frame.loc[estimable, "k_used"] >= 3).all()
        assert frame.loc[~estimable, "p"].isna().all()


HAIC_COMPARE = ["compare", str(HAIC_PUBLISHED), "--plan", str(HAIC_PLAN)]


def test_cli_compare_json(capsys):
    assert main([*HAIC_COMPARE, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"pooled", "meta_regression", "subgroups", "correlations", "consistency", "subgroup_rows",
                        "subgroup_tests", "subgroup_interactions"}
    assert [r["pair"] for r in out["correlations"]] == ["ORR~OS", "ORR~PFS", "ORR~OS", "ORR~PFS"]
    assert [r["outcome"] for r in out["pooled"]][:4] == ["OS", "PFS", "ORR", "DCR"]
    assert all(isinstance(r["k_used"], int) for r in out["pooled"])


def test_cli_compare_without_outcomes_is_a_user_error(capsys):
    assert main(["compare", str(HAIC_PUBLISHED)]) == 2
    assert "--outcomes" in capsys.readouterr().err
    assert main(["compare"]) == 2
    assert "no published results given" in capsys.readouterr().err


def test_cli_compare_reads_the_plans_published_file_when_none_is_given(capsys):
    """`compare --plan PLAN` compares the paper's results the plan names (data.published), as the report does."""
    assert load_plan(HAIC_PLAN).published == HAIC_PUBLISHED
    outputs = []
    for args in (["compare", "--plan", str(HAIC_PLAN), "--json"],
                 ["compare", str(HAIC_PUBLISHED), "--plan", str(HAIC_PLAN), "--json"]):
        assert main(args) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    assert outputs[0] == outputs[1] and len(outputs[0]["pooled"]) > 4


def test_cli_compare_files_without_a_plan(capsys):
    """Without a plan the paper's pooling defaults to DL and no named subset is known."""
    assert main(["compare", str(HAIC_PUBLISHED), "--outcomes", str(HAIC_OUTCOMES), "--studies", str(HAIC_STUDIES),
                 "--pooling", "REML", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    os_row = next(r for r in out["pooled"] if r["outcome"] == "OS")
    assert os_row["rule_model"] == "REML"
    folfox = [r for r in out["correlations"] if r["subset"] == "FOLFOX"]
    assert folfox and all(r["status"] == "not estimable" for r in folfox)


def test_cli_compare_table(capsys):
    assert main(HAIC_COMPARE) == 0
    text = capsys.readouterr().out
    assert "published" in text and "OS" in text and "Subgroup-difference" in text
    assert "Spearman correlations" in text and "ORR~PFS (FOLFOX)" in text


def test_cli_compare_prints_no_empty_tables(capsys):
    """A paper with pooled results only (Hackshaw 1997): no meta-regression, subgroup or correlation tables."""
    case = ROOT / "data" / "gallery" / "hackshaw_ets"
    assert main(["compare", str(case / "published.csv"), "--outcomes", str(case / "outcomes.csv")]) == 0
    text = capsys.readouterr().out
    assert "Pooled results" in text and "lung_cancer" in text
    assert "Meta-regression" not in text and "Subgroup-difference" not in text and "Spearman" not in text


PARKINSON = ROOT / "models" / "gallery" / "parkinson_offtime.toml"


def test_cli_compare_gives_each_subgroup_row_the_reports_bayesian_cell(capsys):
    """With a plan, a published subgroup row recomputed from the studies of its level (the Parkinson review's
    drug classes: a study-level column) carries the exact posterior of those studies under the plan's main prior,
    as the report's comparison table does; the text table prints it, and an estimate printed without an interval
    is shown alone (it crashed the table before)."""
    from bayesmeta.data import load_outcomes
    from bayesmeta.effects import effects_for
    from bayesmeta.exact import fit_exact
    from bayesmeta.priors import load_prior_sets
    from bayesmeta.reanalysis.outcome import oriented_prior_set

    assert main(["compare", "--plan", str(PARKINSON), "--json"]) == 0
    rows = [r for r in json.loads(capsys.readouterr().out)["subgroup_rows"] if r["k_used"] >= 2]
    assert {r["level"] for r in rows} == {"DA", "COMTI", "MAOBI"}
    plan = load_plan(PARKINSON)
    o = plan.outcomes[0]
    main_prior = oriented_prior_set(load_prior_sets(plan.priors_file)[plan.main_prior], o)
    effects = effects_for(o.name, load_outcomes(plan.outcomes_file, studies=None), None, o.zero_cells, o.vtype)
    for r in rows:
        level = effects[effects["drug_class"] == r["level"]]
        assert len(level) == r["k_used"]
        post = fit_exact(level["yi"].to_numpy(), level["sei"].to_numpy(), mu_prior=main_prior.mu,
                         tau_prior=main_prior.tau, measure="MD")
        assert r["bayesian_value"] == pytest.approx(post.marginal("mu").median(), rel=1e-9)
        assert r["bayesian"].startswith(f"median {r['bayesian_value']:.2f} (") and "P(MD < 0)" in r["bayesian"]
    assert main(["compare", "--plan", str(PARKINSON)]) == 0
    printed = capsys.readouterr().out
    assert "Published subgroup rows" in printed and f"{rows[0]['published_estimate']:.2f}" in printed
    assert "median" in printed.split("Published subgroup rows")[1]


def test_cli_compare_without_a_plan_says_the_subgroup_rows_need_its_priors(capsys):
    folder = ROOT / "data" / "gallery" / "parkinson_offtime"
    assert main(["compare", str(folder / "published.csv"), "--outcomes", str(folder / "outcomes.csv"),
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["subgroup_rows"]
    assert rows and all(r["bayesian"].startswith("- (needs a plan's priors") and r["bayesian_value"] is None
                        for r in rows)
