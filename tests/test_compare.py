"""compare_pooled / compare_metaregression / compare_subgroups on synthetic published tables with known numbers
(metafor fixtures), the HAIC table's structure, and `bayesmeta compare`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesmeta.cli import main
from bayesmeta.compare import OUTCOMES, compare_metaregression, compare_pooled, compare_subgroups
from bayesmeta.errors import InputError

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
        # exactly the common-effect result of the three studies -> reproduced
        _row(outcome="OS", analysis="pooled", k=5, measure="HR", estimate=np.exp(fe["estimate"]),
             ci_lower=np.exp(fe["ci_lower"]), ci_upper=np.exp(fe["ci_upper"]), i2_percent=0.0),
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
        "PFS": "not reproduced",
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


def test_haic_table_structure():
    pooled = compare_pooled()
    assert {"OS", "PFS", "ORR", "DCR"} <= set(pooled["outcome"])
    assert set(pooled["outcome"]) <= set(OUTCOMES)
    published = pooled.dropna(subset=["k_published"])
    assert (published["k_used"] <= published["k_published"]).all()
    assert set(pooled["status"]) <= {"reproduced", "overlapping", "not reproduced", "no data", "not published",
                                     "single study"}  # fmt: skip
    for _, row in published.iterrows():
        assert row["note"].startswith(f"k {row['k_used']} of {row['k_published']}")
    for frame in (compare_metaregression(), compare_subgroups()):
        assert len(frame) == 12  # OS, PFS, ORR, DCR x platinum, systemic, design
        estimable = frame["status"] != "not estimable"
        assert frame.loc[estimable, "p"].between(0, 1).all()
        assert (frame.loc[estimable, "k_used"] >= 3).all()
        assert frame.loc[~estimable, "p"].isna().all()


def test_cli_compare_json(capsys):
    assert main(["compare", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"pooled", "meta_regression", "subgroups"}
    assert [r["outcome"] for r in out["pooled"]][:4] == ["OS", "PFS", "ORR", "DCR"]
    assert all(isinstance(r["k_used"], int) for r in out["pooled"])


def test_cli_compare_table(capsys):
    assert main(["compare"]) == 0
    text = capsys.readouterr().out
    assert "published" in text and "OS" in text and "Subgroup-difference" in text
