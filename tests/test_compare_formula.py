"""Published coefficients of a multiple meta-regression (a published.csv ``meta_regression`` row with a
``formula``) against metafor's ``rma(yi, vi, mods = ~ grade + imag, method = "REML")`` on Bangert-Drowns et al.
2004 (tests/reference/formula_bd2004/, fixtures from tests/reference/make_formula_fixtures.R), with the statuses
of bayesmeta.compare.agreement, and rows that cannot be recomputed listed with their reason."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from bayesmeta.compare import compare_metaregression, published_formula_columns
from bayesmeta.data import load_published
from bayesmeta.errors import InputError

REFERENCE = Path(__file__).parent / "reference"
DATA = REFERENCE / "formula_bd2004"
FIXTURES = json.loads((REFERENCE / "formula_fixtures.json").read_text())
HEADER = ("outcome,analysis,variable,level,k,measure,estimate,ci_lower,ci_upper,p_value,p_relation,i2_percent,"
          "where,reference,formula")


def _effects() -> pd.DataFrame:
    """The 48 effects with the study table's columns as text (blank cells ''), as `bayesmeta compare` reads them."""
    effects = pd.read_csv(DATA / "outcomes.csv")[["study_id", "outcome", "measure", "yi", "vi"]]
    studies = pd.read_csv(DATA / "studies.csv", dtype=str, keep_default_na=False)
    return effects.merge(studies.drop(columns=["year"]), on="study_id")


def _published(tmp_path: Path, rows: list[str]) -> pd.DataFrame:
    path = tmp_path / "published.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return load_published(path)


def _coef(case: str, r_name: str) -> dict[str, float]:
    fit = FIXTURES[case]["z"]
    j = fit["name"].index(r_name)
    return {key: fit[key][j] for key in ("estimate", "se", "ci_lower", "ci_upper", "pval")}


def _printed(values: list[float] | dict[str, float], decimals: int = 2) -> str:
    """estimate,ci_lower,ci_upper as a paper prints them (a fixture coefficient's, or the values given)."""
    if isinstance(values, dict):
        values = [values[k] for k in ("estimate", "ci_lower", "ci_upper")]
    return ",".join(f"{v:.{decimals}f}" for v in values)


def test_coefficients_of_a_formula_against_metafor(tmp_path):
    imag = _coef("grade_imag", "imagyes")
    est, lo, hi, se = imag["estimate"], imag["ci_lower"], imag["ci_upper"], imag["se"]
    length = _coef("grade_imag_length", "length_c")
    middle = _coef("grade_meta", "grademiddle")
    published = _published(tmp_path, [
        f"achievement,meta_regression,imag,yes,48,SMD,{_printed([est, lo, hi])},,,,x,,grade + imag",
        # the same interval moved by a quarter and by 1.2 of its SE: close, then differs
        f"achievement,meta_regression,imag,yes,48,SMD,{_printed([v + 0.25 * se for v in (est, lo, hi)])},,,,x,,"
        "grade + imag",
        f"achievement,meta_regression,imag,yes,48,SMD,{_printed([v + 1.2 * se for v in (est, lo, hi)])},,,,x,,"
        "imag + grade",
        f"achievement,meta_regression,length,,46,SMD,{_printed(length, 3)}"
        ",,,,x,,grade + imag + length",
        "achievement,meta_regression,grade,middle,46,SMD,,,,0.03,=,,x,college,grade + meta",
    ])  # fmt: skip
    table = compare_metaregression(_effects(), published)
    assert list(table["status"]) == ["reproduced", "close", "differs", "reproduced", "agree"]
    assert list(table["k_used"]) == [48, 48, 48, 46, 46]
    assert list(table["kind"]) == ["coefficient"] * 3 + ["slope", "coefficient"]
    for i, ref in ((0, imag), (2, imag), (3, length), (4, middle)):
        row = table.iloc[i]
        np.testing.assert_allclose([row["estimate"], row["ci_lower"], row["ci_upper"], row["p"]],
                                   [ref["estimate"], ref["ci_lower"], ref["ci_upper"], ref["pval"]], rtol=1e-6)
    assert table.iloc[0]["reference"] == "no"
    assert table.iloc[0]["method"] == "REML" and table.iloc[0]["formula"] == "grade + imag"
    assert "grade against college; imag against no" == table.iloc[0]["levels"]
    assert "k 46 (2 left out): REML meta-regression on grade + imag + length" in table.iloc[3]["note"]
    assert "2 without a value of every formula column left out" in table.iloc[3]["levels"]
    # the p-value of grade[middle] in grade + meta (metafor 0.024) falls on the published one's side of 0.05
    assert middle["pval"] < 0.05
    # the one-moderator row of the same coefficient is another model: imag alone, not beside grade
    alone = compare_metaregression(_effects(), published.assign(formula="").iloc[:1]).iloc[0]
    assert abs(alone["estimate"] - est) > 0.01 and alone["formula"] is None


def test_rows_that_cannot_be_recomputed_are_listed_with_their_reason(tmp_path):
    published = _published(tmp_path, [
        "achievement,meta_regression,grade,middle,48,SMD,-0.37,-0.69,-0.05,,,,x,,grade + homework",
        "achievement,meta_regression,grade,college,48,SMD,-0.37,-0.69,-0.05,,,,x,,grade + imag",
        "achievement,meta_regression,grade,elementary,48,SMD,-0.37,-0.69,-0.05,,,,x,middle,grade + imag",
        "achievement,meta_regression,imag,,48,SMD,0.16,-0.25,0.56,,,,x,,grade + imag",
        "achievement,meta_regression,info,yes,46,SMD,0.16,-0.25,0.56,,,,x,,info + meta + pers + wic + grade + imag"
        " + feedback + subject",
        "retention,meta_regression,imag,yes,12,SMD,0.16,-0.25,0.56,,,,x,,grade + imag",
    ])  # fmt: skip
    table = compare_metaregression(_effects(), published)
    assert list(table["status"]) == ["not estimable"] * 6
    assert "k = 0 with a value of every column of 'grade + imag'" in table["note"].iloc[5]
    notes = list(table["note"])
    assert "column 'homework' of the formula 'grade + homework' is not in the study data" in notes[0]
    assert "has no coefficient grade[college]" in notes[1] and "'college' is the reference level of grade" in notes[1]
    assert "the formula codes grade against 'college', the row against 'middle'" in notes[2]
    assert 'factor(grade, ref = "middle")' in notes[2]
    assert "has no coefficient imag (its coefficients: grade[elementary], grade[high], grade[middle], imag[yes])" \
        in notes[3]
    assert "rank-deficient" in notes[4] or "more coefficients than studies" in notes[4]
    assert table["k_used"].iloc[0] == 0
    assert all(n.startswith("not estimable from the available studies (") for n in notes)


@pytest.mark.parametrize("row, column, message", [
    ("OS,pooled,,,5,HR,0.8,0.7,0.9,,,,x,,grade", "formula", "a formula on a 'pooled' row"),
    ("OS,meta_regression,grade,middle,5,HR,0.8,0.7,0.9,,,,x,,grade +", "formula", "cannot read formula"),
    ("OS,meta_regression,grade,middle,5,HR,0.8,0.7,0.9,,,,x,,0 + grade", "formula", "drops the intercept"),
    ("OS,meta_regression,,,5,HR,0.8,0.7,0.9,,,,x,,grade + imag", "variable", "is not named"),
])
def test_a_bad_formula_cell_names_the_file_row_and_column(tmp_path, row, column, message):
    with pytest.raises(InputError) as err:
        _published(tmp_path, ["OS,pooled,,,5,HR,0.8,0.7,0.9,,,,x,,", row])
    text = str(err.value)
    assert "published.csv" in text and "row 3" in text and f"column '{column}'" in text and message in text


def test_published_formula_columns_are_those_the_rows_name(tmp_path):
    published = _published(tmp_path, [
        "achievement,meta_regression,grade,middle,46,SMD,,,,0.03,=,,x,,grade + meta",
        "achievement,meta_regression,imag,yes,46,SMD,,,,0.03,=,,x,,factor(imag) + grade:length",
        "achievement,meta_regression,imag,yes,46,SMD,,,,0.03,=,,x,,",
    ])  # fmt: skip
    assert published_formula_columns(published) == ("grade", "meta", "imag", "length")
    assert published_formula_columns(published.drop(columns="formula")) == ()


def test_the_report_row_sets_the_posterior_of_the_plans_same_formula_beside(tmp_path):
    """The comparison table's row: the recomputed REML coefficient and, when the outcome's plan formula is the
    row's (terms in any order), the posterior of the same coefficient; else the plan key that would fit it."""
    from bayesmeta.formula import parse_formula
    from bayesmeta.plan import OutcomePlan
    from bayesmeta.priors import load_prior_sets
    from bayesmeta.reanalysis.comparison import _covariate_row
    from bayesmeta.reanalysis.formula_regression import formula_regression

    imag = _coef("grade_imag", "imagyes")
    published = _published(tmp_path, [
        f"achievement,meta_regression,imag,yes,48,SMD,{_printed(imag)}"
        ",,,,x,,imag + grade",
    ])  # fmt: skip
    row = next(compare_metaregression(_effects(), published).itertuples(index=False))
    o = OutcomePlan("achievement", "Academic achievement", "SMD", "above", (0.0,))
    effects = _effects().assign(sei=lambda d: np.sqrt(d["vi"]))
    fitted = formula_regression(effects, o, load_prior_sets(DATA / "priors.toml")["weakly_informative"],
                                parse_formula("grade + imag"), 0.95)
    out = _covariate_row(SimpleNamespace(plan=o, name="achievement", formula_regression=fitted), row,
                         "meta_regression")
    coef = fitted.coefficient("imag[yes]")
    assert out["quantity"] == "imag[yes] (against no) in imag + grade: meta-regression coefficient"
    assert out["status"] == "reproduced" and out["recomputed_value"] == pytest.approx(imag["estimate"], rel=1e-6)
    assert out["bayesian_value"] == coef.prob_benefit and out["bayesian_statement"] == "P(beta[imag[yes]] > 0)"
    assert out["bayesian"].startswith(f"imag[yes] {coef.reported_median:.2f} (")
    other = _covariate_row(SimpleNamespace(plan=o, name="achievement", formula_regression=None), row,
                           "meta_regression")
    assert other["bayesian"] == "-" and 'outcomes.achievement.formula = "imag + grade" fits it' in other["plain"]


def test_cli_compare_lists_the_formula_rows_and_why_one_is_not_recomputed(tmp_path, capsys):
    from bayesmeta.cli import main

    imag = _coef("grade_imag", "imagyes")
    (tmp_path / "published.csv").write_text("\n".join([
        HEADER, f"achievement,meta_regression,imag,yes,48,SMD,{_printed(imag)},,,,x,,grade + imag",
        "achievement,meta_regression,grade,middle,48,SMD,-0.37,-0.69,-0.05,,,,x,,grade + homework"]) + "\n")
    args = ["compare", str(tmp_path / "published.csv"), "--outcomes", str(DATA / "outcomes.csv"),
            "--studies", str(DATA / "studies.csv")]
    assert main([*args, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["meta_regression"]
    assert [(r["formula"], r["status"]) for r in rows] == [("grade + imag", "reproduced"),
                                                           ("grade + homework", "not estimable")]
    assert rows[0]["estimate"] == pytest.approx(imag["estimate"], rel=1e-6)
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "imag[yes] vs no in grade +" in text
    assert ("achievement, grade[middle] in grade + homework: not estimable from the available studies (column "
            "'homework' of the formula 'grade + homework' is not in the study data)") in text


def _with_test(case: str, test: str) -> dict[str, float]:
    fit = FIXTURES[case][test]
    j = fit["name"].index("imagyes")
    return {key: fit[key][j] for key in ("estimate", "ci_lower", "ci_upper", "pval")} | {"qm_p": fit["qm_p"]}


def test_knapp_hartung_where_the_row_says_so(tmp_path):
    """A row's optional ``test = knha`` recomputes it as metafor's rma(..., test = "knha") does (Stata metareg's
    default): the same estimate, a t-based CI and p; printed Knapp-Hartung numbers are then reproduced, and the
    same numbers taken for z tests are not. One-moderator rows (coefficient and omnibus F test) follow it too."""
    kh, z = _with_test("grade_imag", "knha"), _with_test("grade_imag", "z")
    alone = _with_test("imag", "knha")
    header = HEADER + ",test"
    path = tmp_path / "published.csv"
    path.write_text("\n".join([
        header,
        f"achievement,meta_regression,imag,yes,48,SMD,{_printed(kh)},,,,x,,grade + imag,knha",
        f"achievement,meta_regression,imag,yes,48,SMD,{_printed(kh)},,,,x,,grade + imag,",
        f"achievement,meta_regression,imag,yes,48,SMD,{_printed(alone)},,,,x,,,KNHA",
        "achievement,meta_regression,imag,,48,SMD,,,,0.6,=,,x,,,knha",
    ]) + "\n")
    table = compare_metaregression(_effects(), load_published(path))
    first, as_z, one, omnibus = (table.iloc[i] for i in range(4))
    np.testing.assert_allclose([first["estimate"], first["ci_lower"], first["ci_upper"], first["p"]],
                               [kh["estimate"], kh["ci_lower"], kh["ci_upper"], kh["pval"]], rtol=1e-6)
    assert (first["status"], first["method"]) == ("reproduced", "REML, Knapp-Hartung")
    np.testing.assert_allclose([as_z["ci_lower"], as_z["ci_upper"]], [z["ci_lower"], z["ci_upper"]], rtol=1e-6)
    assert as_z["status"] == "close" and as_z["method"] == "REML"
    np.testing.assert_allclose([one["estimate"], one["ci_lower"], one["ci_upper"], one["p"]],
                               [alone["estimate"], alone["ci_lower"], alone["ci_upper"], alone["pval"]], rtol=1e-6)
    assert (one["kind"], one["status"]) == ("coefficient", "reproduced")
    assert omnibus["kind"] == "omnibus" and omnibus["p"] == pytest.approx(alone["qm_p"], rel=1e-6)
    assert "F(1, 46) = " in omnibus["note"]
    path.write_text("\n".join([header, "achievement,meta_regression,imag,yes,48,SMD,0.16,-0.28,0.59,,,,x,,,hksj"]))
    with pytest.raises(InputError, match=r"row 2.*column 'test'.*unknown test 'hksj'.*valid: z, or knha"):
        load_published(path)
    path.write_text("\n".join([header, "achievement,pooled,,,48,SMD,0.16,-0.28,0.59,,,,x,,,knha"]))
    with pytest.raises(InputError, match=r"a test on a 'pooled' row"):
        load_published(path)


R_ROWS = {"gradeelementary": "grade,elementary", "gradehigh": "grade,high", "grademiddle": "grade,middle",
          "imagyes": "imag,yes", "length_c": "length,", "length": "length,", "metayes": "meta,yes"}


@pytest.mark.parametrize(("case", "test"), [(case, test) for case in sorted(FIXTURES) for test in ("z", "knha")
                                            if test in FIXTURES[case]])
def test_every_coefficient_of_every_fixture_formula_is_metafors(tmp_path, case, test):
    """Every coefficient but the intercept of each fixture formula, as a published row of that formula with
    ``test`` z or knha: estimate, CI and p equal metafor's (measured largest relative difference 7e-12)."""
    fit = FIXTURES[case][test]
    names = [n for n in fit["name"] if n != "intrcpt"]
    path = tmp_path / "published.csv"
    path.write_text("\n".join([HEADER + ",test", *(f"achievement,meta_regression,{R_ROWS[n]},48,SMD,,,,0.5,=,,x,,"
                                                   f"{FIXTURES[case]['formula']},{test}" for n in names)]) + "\n")
    table = compare_metaregression(_effects(), load_published(path))
    assert list(table["k_used"]) == [fit["k"]] * len(names)
    expected = [[fit[key][fit["name"].index(n)] for key in ("estimate", "ci_lower", "ci_upper", "pval")]
                for n in names]
    np.testing.assert_allclose(table[["estimate", "ci_lower", "ci_upper", "p"]].to_numpy(float), expected, rtol=1e-9)
