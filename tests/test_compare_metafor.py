"""`bayesmeta compare` against R metafor 3.8-1 (tests/reference/make_compare_fixtures.R): the heterogeneity beside
each pooling (Niel-Weise 2007), the graded agreement at the printed precision, and meta-regression rows
(Bangert-Drowns 2004): a factor level's coefficient, a numeric slope on the studies with a value, the QM test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesmeta.compare import compare_metaregression, compare_pooled
from bayesmeta.data import load_published

FIX = json.loads((Path(__file__).parent / "reference" / "compare_metafor.json").read_text())
NW = FIX["nielweise2007"]
BD = FIX["bangertdrowns2004"]
HEADER = "outcome,analysis,variable,level,k,measure,estimate,ci_lower,ci_upper,p_value,p_relation,i2_percent,where"


def _nielweise() -> pd.DataFrame:
    return pd.DataFrame({"study_id": NW["study"], "outcome": "CRBSI", "measure": "OR", "yi": NW["yi"],
                         "vi": NW["vi"]})


def _published(tmp_path: Path, rows: list[str]) -> pd.DataFrame:
    """A published file as a user writes it (the text keeps the printed decimals)."""
    path = tmp_path / "published.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return load_published(path)


@pytest.mark.parametrize("pooling", ["REML", "DL", "PM", "FE"])
def test_the_heterogeneity_beside_a_pooling_is_that_models(tmp_path, pooling):
    # REML: I^2 3.46% from tau^2 0.0356 (metafor); DerSimonian-Laird's I^2 (0%) was shown beside REML before
    published = _published(tmp_path, ["CRBSI,pooled,,,17,OR,0.38,0.23,0.62,,,,Stijnen 2010"])
    row = compare_pooled(_nielweise(), published, pooling).iloc[0]
    ref = NW["fits"][pooling]
    assert row["rule_model"] == pooling
    assert row["rule_estimate"] == pytest.approx(np.exp(ref["estimate"]), rel=1e-6)
    assert row["i2"] == pytest.approx(ref["i2"], abs=1e-4)
    assert row["tau2"] == pytest.approx(ref["tau2"], abs=1e-6)
    assert row["h2"] == pytest.approx(ref["h2"], rel=1e-5)
    if pooling == "REML":
        assert row["i2"] == pytest.approx(3.46, abs=0.005)


def test_the_i2_note_names_the_model_it_belongs_to(tmp_path):
    published = _published(tmp_path, ["CRBSI,pooled,,,17,OR,0.38,0.23,0.60,,,3,x"])
    row = compare_pooled(_nielweise(), published, "REML").iloc[0]
    assert f"I^2 {NW['fits']['REML']['i2']:.0f}% (REML) vs published 3%" in row["note"]


# metafor REML: OR 0.3752 [0.2328, 0.6046]
STATUS_ROWS = {
    "0.38,0.23,0.60": "reproduced",
    "0.38,0.23,0.61": "reproduced",  # one unit in the last printed digit: rounding of the inputs
    "0.375,0.233,0.605": "reproduced",
    "0.374,0.232,0.605": "reproduced",
    "0.4,0.2,0.6": "reproduced",  # printed to one decimal
    "0.38,0.23,0.62": "close",  # Stijnen 2010's normal-normal row: 2 units off in the upper limit
    "0.372,0.233,0.605": "close",  # 3 units off in the third decimal
    "0.40,0.20,0.60": "differs",  # the same numbers printed to two decimals are not reproduced
    "0.26,0.13,0.51": "differs",  # Stijnen 2010's conditional logistic model (18 trials)
    "0.60,0.40,0.90": "overlapping",
    "0.10,0.05,0.20": "disjoint",
}


def test_reproduced_means_equal_at_the_printed_precision(tmp_path):
    published = _published(tmp_path, [f"CRBSI,pooled,,,17,OR,{cells},,,,x" for cells in STATUS_ROWS])
    table = compare_pooled(_nielweise(), published, "REML")
    assert dict(zip(STATUS_ROWS, table["status"], strict=True)) == STATUS_ROWS
    notes = dict(zip(STATUS_ROWS, table["note"], strict=True))
    assert "reproduce the published pooled OR to the printed precision" in notes["0.38,0.23,0.60"]
    assert "reproduce" not in notes["0.26,0.13,0.51"].split(";")[0]
    assert "close to the published one" in notes["0.38,0.23,0.62"]


def _bangertdrowns(blank: object = "") -> pd.DataFrame:
    """The 48 studies as `compare` gets them from a studies table read as text: length missing for two."""
    length = [blank if v is None else str(v) for v in BD["length"]]
    return pd.DataFrame({"study_id": BD["study"], "outcome": "achievement", "measure": "SMD", "yi": BD["yi"],
                         "vi": BD["vi"], "grade": BD["grade"], "length": length})


def _coefficient(fit: dict, name: str) -> dict:
    return next(c for c in fit["coefficients"] if c["name"] == name)


METAREG_HEADER = HEADER + ",reference"


def _metareg(tmp_path: Path, rows: list[str]) -> pd.DataFrame:
    path = tmp_path / "published.csv"
    path.write_text("\n".join([METAREG_HEADER, *rows]) + "\n")
    return load_published(path)


@pytest.mark.parametrize("blank", ["", np.nan])
def test_meta_regression_rows_against_metafor(tmp_path, blank):
    published = _metareg(tmp_path, [
        "achievement,meta_regression,grade,middle,48,SMD,-0.36,-0.68,-0.04,0.028,=,,x,",
        "achievement,meta_regression,grade,elementary,48,SMD,,,,0.89,=,,x,college",
        "achievement,meta_regression,grade,,48,SMD,,,,0.113,=,,x,",
        "achievement,meta_regression,length,,46,SMD,0.015,0.001,0.029,0.040,=,,x,",
    ])  # fmt: skip
    table = compare_metaregression(_bangertdrowns(blank), published)
    middle, elementary, omnibus, length = (table.iloc[i] for i in range(4))
    grade_fit, length_fit = BD["grade_fit"], BD["length_fit"]

    # a level's coefficient against the reference (college, the most frequent level): metafor -0.357, p 0.028
    ref = _coefficient(grade_fit, "grade_factormiddle")
    assert (middle["kind"], middle["reference"], middle["k_used"]) == ("coefficient", "college", 48)
    for ours, theirs in (("estimate", "estimate"), ("ci_lower", "ci_lower"), ("ci_upper", "ci_upper"), ("p", "p")):
        assert middle[ours] == pytest.approx(ref[theirs], rel=1e-5), ours
    assert middle["status"] == "reproduced"
    ref = _coefficient(grade_fit, "grade_factorelementary")
    assert elementary["estimate"] == pytest.approx(ref["estimate"], rel=1e-5)
    assert elementary["p"] == pytest.approx(ref["p"], rel=1e-5) and elementary["status"] == "agree"

    # a blank level of a factor: the omnibus QM test on 3 df (p 0.113)
    assert omnibus["kind"] == "omnibus" and omnibus["p"] == pytest.approx(grade_fit["qm_p"], rel=1e-5)
    assert omnibus["status"] == "agree" and f"QM {grade_fit['qm']:.2f} on 3 df" in omnibus["note"]

    # a numeric column: its slope on the 46 studies with a value (metafor 0.0149 per week, p 0.0398)
    ref = _coefficient(length_fit, "length")
    assert (length["kind"], length["k_used"]) == ("slope", length_fit["k"])
    for ours in ("estimate", "ci_lower", "ci_upper", "p"):
        assert length[ours] == pytest.approx(ref[ours], rel=1e-5), ours
    assert length["status"] == "reproduced" and "2 without a value left out" in length["levels"]


def test_meta_regression_rows_that_cannot_be_estimated_say_why(tmp_path):
    published = _metareg(tmp_path, [
        "achievement,meta_regression,grade,graduate,48,SMD,-0.36,-0.68,-0.04,0.028,=,,x,",
        "achievement,meta_regression,grade,middle,48,SMD,-0.36,-0.68,-0.04,0.028,=,,x,adult",
        "achievement,meta_regression,length,10,48,SMD,0.015,0.001,0.029,0.040,=,,x,",
    ])  # fmt: skip
    table = compare_metaregression(_bangertdrowns(), published)
    assert set(table["status"]) == {"not estimable"}
    assert "level 'graduate' is not a level of grade" in table.iloc[0]["note"]
    assert "reference 'adult' is not a level of grade" in table.iloc[1]["note"]
    assert "length is numeric" in table.iloc[2]["note"]


def test_cli_compare_meta_regression_from_a_studies_table_read_as_text(tmp_path, capsys):
    """The Bangert-Drowns rows through `bayesmeta compare`: the studies table's blank lengths are missing values
    (k 46), not a level, and the coefficient row is set beside the coefficient."""
    from bayesmeta.cli import main

    frame = _bangertdrowns()
    frame[["study_id", "outcome", "measure", "yi", "vi"]].to_csv(tmp_path / "outcomes.csv", index=False)
    frame[["study_id", "grade", "length"]].to_csv(tmp_path / "studies.csv", index=False)
    (tmp_path / "published.csv").write_text("\n".join([
        HEADER, "achievement,meta_regression,grade,middle,48,SMD,-0.36,-0.68,-0.04,0.028,=,,x",
        "achievement,meta_regression,length,,46,SMD,0.015,0.001,0.029,0.040,=,,x"]) + "\n")
    args = ["compare", str(tmp_path / "published.csv"), "--outcomes", str(tmp_path / "outcomes.csv"),
            "--studies", str(tmp_path / "studies.csv")]
    assert main([*args, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["meta_regression"]
    assert [(r["kind"], r["k_used"], r["status"]) for r in rows] == [("coefficient", 48, "reproduced"),
                                                                     ("slope", 46, "reproduced")]
    assert rows[1]["p"] == pytest.approx(BD["length_fit"]["qm_p"], rel=1e-5)
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "grade middle vs college" in text and "-0.357 [-0.676, -0.0386]" in text


def test_the_report_row_of_a_coefficient_shows_the_coefficient_and_its_bayesian_contrast(tmp_path):
    """The reanalysis comparison table (bayesmeta.reanalysis.comparison) sets a coefficient row beside the
    recomputed coefficient with its CI and the Bayesian contrast of the same level (not the first one)."""
    from types import SimpleNamespace

    from bayesmeta.reanalysis.comparison import _covariate_row

    published = _metareg(tmp_path, ["achievement,meta_regression,grade,middle,48,SMD,-0.36,-0.68,-0.04,0.028,=,,x,"])
    row = next(compare_metaregression(_bangertdrowns(), published).itertuples(index=False))

    def contrast(level: str, median: float) -> dict:
        return {"level": level, "reference": "college", "reported_median": median, "reported_ci_lower": median - 0.3,
                "reported_ci_upper": median + 0.3, "p_ratio_below_1": 0.9,
                "statement": f"P(SMD difference {level} - college < 0)"}

    bayes = {"covariate": "grade", "fitted": True, "kind": "factor",
             "contrasts": [contrast("elementary", 0.02), contrast("high", 0.04), contrast("middle", -0.34)]}
    analysis = SimpleNamespace(plan=SimpleNamespace(name="achievement", label="Achievement", measure="SMD"),
                               metaregression=[bayes])
    out = _covariate_row(analysis, row, "meta_regression")
    ref = _coefficient(BD["grade_fit"], "grade_factormiddle")
    assert out["quantity"] == "grade middle vs college: meta-regression coefficient"
    assert out["published"] == "-0.36 (-0.68 to -0.04), p = 0.028"
    assert out["recomputed"] == (f"{ref['estimate']:.3g} ({ref['ci_lower']:.3g} to {ref['ci_upper']:.3g}), "
                                 f"p = {ref['p']:.3g}")
    assert out["recomputed_value"] == pytest.approx(ref["estimate"], rel=1e-5) and out["status"] == "reproduced"
    assert out["bayesian"].startswith("difference middle - college -0.34")


def test_a_slope_printed_with_its_p_only_is_compared_by_its_p(tmp_path):
    from types import SimpleNamespace

    from bayesmeta.reanalysis.comparison import _covariate_row

    published = _metareg(tmp_path, ["achievement,meta_regression,length,,46,SMD,,,,0.04,=,,x,"])
    row = next(compare_metaregression(_bangertdrowns(), published).itertuples(index=False))
    assert (row.kind, row.status) == ("slope", "agree")
    analysis = SimpleNamespace(plan=SimpleNamespace(name="achievement", label="Achievement", measure="SMD"),
                               metaregression=[])
    out = _covariate_row(analysis, row, "meta_regression")
    assert out["published"] == "p = 0.04" and out["published_value"] == 0.04
    assert out["recomputed_value"] == pytest.approx(BD["length_fit"]["qm_p"], rel=1e-5)
    assert out["recomputed"].startswith(f"{_coefficient(BD['length_fit'], 'length')['estimate']:.3g} (")


def test_a_pooled_estimate_printed_without_its_ci(tmp_path):
    # metafor REML: 0.3752 [0.2328, 0.6046]
    published = _published(tmp_path, [f"CRBSI,pooled,,,17,OR,{e},,,,,,x" for e in ("0.38", "0.50", "0.70")])
    table = compare_pooled(_nielweise(), published, "REML")
    assert list(table["status"]) == ["reproduced", "differs", "disjoint"]
    assert "published 0.38 (no CI) vs recomputed 0.38 [0.23, 0.60]" in table["note"].iloc[0]


def test_the_report_states_the_status_rule():
    from bayesmeta.compare import STATUSES
    from bayesmeta.report.sections import _comparison

    uncovered = [{"outcome": "OS", "analysis": "pooled", "rows": 1, "reason": "no study has data"}]
    note = _comparison({"comparison": [], "published_not_covered": uncovered})[0].text
    assert "rounded to the decimals printed in the paper" in note
    assert all(f"'{status}'" in note for status in STATUSES)
