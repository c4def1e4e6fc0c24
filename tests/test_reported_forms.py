"""The reported forms beyond CI, p-values, medians and RR/OR counts -- means and SDs (MD, SMD), RD from counts,
log-rank O - E and V, effects given as yi with sei or vi -- from outcome rows (``derive_effects``), outcome files
(``load_outcomes``), plain CSVs (``read_effect_table``) and the command line, against metafor 3.8-1 ``escalc``
fixtures (tests/reference/make_metafor_fixtures.R) to 1e-8."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesmeta.cli import main
from bayesmeta.data import OUTCOME_COLUMNS, STATISTIC_COLUMNS, load_outcomes
from bayesmeta.effects import derive_effects
from bayesmeta.errors import InputError
from bayesmeta.escalc import ZeroCellRule
from bayesmeta.tables import read_effect_table

FIX = json.loads((Path(__file__).resolve().parent / "reference" / "metafor_fixtures.json").read_text())
RTOL, ATOL = 1e-8, 1e-12
COUNTS = ("events_treatment", "total_treatment", "events_control", "total_control")
MEANS = ("mean_treatment", "sd_treatment", "mean_control", "sd_control")


def escalc_case(name: str, measure: str, *, add: float = 0.5, to: str = "only0", drop00: bool = False) -> dict:
    return next(c for c in FIX["escalc"] if (c["name"], c["measure"], c["add"], c["to"], c["drop00"])
                == (name, measure, add, to, drop00))


def ref(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def rows(n: int, **columns) -> pd.DataFrame:
    """n outcome rows: blank statistics except ``columns`` (scalars or sequences of length n)."""
    base = {c: [np.nan] * n for c in (*OUTCOME_COLUMNS, *STATISTIC_COLUMNS)}
    base.update(study_id=[f"S{i + 1}" for i in range(n)], outcome=["OS"] * n, measure=["HR"] * n,
                p_relation=[""] * n)
    for column, values in columns.items():
        base[column] = list(values) if isinstance(values, (list, tuple, np.ndarray)) else [values] * n
    return pd.DataFrame(base)


def means_rows(case: dict, measure: str) -> pd.DataFrame:
    x = case["inputs"]
    return rows(len(x["n1i"]), measure=measure, mean_treatment=x["m1i"], sd_treatment=x["sd1i"],
                total_treatment=x["n1i"], mean_control=x["m2i"], sd_control=x["sd2i"], total_control=x["n2i"])


def count_rows(case: dict, measure: str, outcome: str = "ORR") -> pd.DataFrame:
    x = case["inputs"]
    return rows(len(x["ai"]), measure=measure, outcome=outcome, events_treatment=x["ai"], total_treatment=x["n1i"],
                events_control=x["ci"], total_control=x["n2i"])


# --- derive_effects: each form against escalc ----------------------------------------------------------------------


@pytest.mark.parametrize("measure", ["MD", "SMD"])
def test_means_rows_match_escalc_on_normand1999(measure):
    case = escalc_case("normand1999", measure)
    effects = derive_effects(means_rows(case, measure))
    assert (effects.method == "means").all() and effects.usable.all()
    np.testing.assert_allclose(effects.yi, ref(case["yi"]), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(effects.vi, ref(case["vi"]), rtol=RTOL, atol=ATOL)
    assert (effects.n_total == np.add(case["inputs"]["n1i"], case["inputs"]["n2i"])).all()


def test_smd_rows_that_escalc_cannot_compute_keep_a_reason():
    case = escalc_case("means_edges", "SMD")
    effects = derive_effects(means_rows(case, "SMD"))
    missing = np.isnan(ref(case["yi"]))
    assert missing.tolist() == [False, True, False, False, False, True, False, False]
    assert (~effects.usable[missing]).all() and effects.reason[missing].str.contains("not estimable").all()
    np.testing.assert_allclose(effects.yi[~missing], ref(case["yi"])[~missing], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(effects.vi[~missing], ref(case["vi"])[~missing], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("measure, drop00", [("RD", False), ("RR", True), ("OR", True)])
def test_counts_rows_follow_metafor_under_the_default_rule(measure, drop00):
    """Default rule: 1/2 added to studies with a zero cell; double-zero studies kept for RD, dropped for RR/OR."""
    case = escalc_case("zero_cells", measure, drop00=drop00)
    effects = derive_effects(count_rows(case, measure))
    expected = ref(case["yi"])
    dropped = np.isnan(expected)
    assert dropped.tolist() == ([False] * 8 if measure == "RD" else [False, False, True, False, True] + [False] * 3)
    assert (~effects.usable[dropped]).all() and effects.reason[dropped].str.contains("drop00").all()
    np.testing.assert_allclose(effects.yi[~dropped], expected[~dropped], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(effects.vi[~dropped], ref(case["vi"])[~dropped], rtol=RTOL, atol=ATOL)
    corrected = [True, True, True, True, True, False, True, True]
    assert (effects.method[~dropped] == np.where(corrected, "counts_cc", "counts")[~dropped]).all()


def test_zero_cell_rule_per_outcome_with_if0all():
    """The same counts under two outcomes with different rules; if0all's set is the outcome's count rows."""
    case_keep = escalc_case("only_double_zero", "RR", to="if0all", drop00=False)
    case_drop = escalc_case("only_double_zero", "RR", to="if0all", drop00=True)
    frame = pd.concat([count_rows(case_keep, "RR", "ORR"), count_rows(case_drop, "RR", "DCR")], ignore_index=True)
    rules = {"ORR": ZeroCellRule(to="if0all", drop00=False), "DCR": ZeroCellRule(to="if0all")}
    effects = derive_effects(frame, zero_cells=rules)
    orr, dcr = effects[effects.outcome == "ORR"], effects[effects.outcome == "DCR"]
    np.testing.assert_allclose(orr.yi, ref(case_keep["yi"]), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(orr.vi, ref(case_keep["vi"]), rtol=RTOL, atol=ATOL)
    assert (orr.method == "counts_cc").all()
    np.testing.assert_allclose(dcr.yi[1:], ref(case_drop["yi"])[1:], rtol=RTOL, atol=ATOL)
    assert dcr.method.tolist() == ["", "counts", "counts"] and not dcr.usable.iloc[0]


def test_the_zero_cell_rule_none_leaves_zero_cells_unusable():
    case = escalc_case("zero_cells", "RD", to="none")
    effects = derive_effects(count_rows(case, "RD"), zero_cells=ZeroCellRule(to="none"))
    variance_zero = ref(case["vi"]) == 0  # a double-zero (or double-all) RD without correction: vi = 0
    assert variance_zero.tolist() == [False, False, True, False, True, False, True, True]
    assert (~effects.usable[variance_zero]).all()
    assert effects.reason[variance_zero].str.contains("variance 0").all()
    np.testing.assert_allclose(effects.yi[~variance_zero], ref(case["yi"])[~variance_zero], rtol=RTOL)
    case = escalc_case("zero_cells", "OR", to="none")
    effects = derive_effects(count_rows(case, "OR"), zero_cells=ZeroCellRule(to="none", drop00=False))
    assert effects.usable.tolist() == (~np.isnan(ref(case["yi"]))).tolist() == [False] * 5 + [True] + [False] * 2


@pytest.mark.parametrize("case", FIX["logrank"], ids=lambda c: c["name"])
def test_logrank_rows_match_peto_and_survdiff(case):
    oe, v = case["o_minus_e"], case["v"]
    effects = derive_effects(rows(len(oe), o_minus_e=oe, var_o_minus_e=v), check_plausibility=False)
    assert (effects.method == "logrank").all() and effects.usable.all()
    np.testing.assert_allclose(effects.yi, ref(case["yi"]), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(effects.vi, ref(case["vi"]), rtol=RTOL, atol=ATOL)


def test_given_rows_keep_yi_and_their_se():
    effects = derive_effects(rows(3, measure=["HR", "MD", "SMD"], yi=[-0.5, 2.0, 0.3], sei=[0.2, np.nan, np.nan],
                                  vi=[np.nan, 0.81, 0.04]), check_plausibility=False)
    assert effects.method.tolist() == ["given"] * 3 and effects.usable.all()
    assert effects.yi.tolist() == [-0.5, 2.0, 0.3]
    np.testing.assert_allclose(effects.sei, [0.2, 0.9, 0.2], rtol=1e-15)


ALL_FORMS = dict(yi=-0.1, sei=0.3, estimate=0.6, ci_lower=0.4, ci_upper=0.9, o_minus_e=-8.0, var_o_minus_e=16.0,
                 p_value=0.01, p_relation="=", median_treatment=10.0, median_control=6.0)


@pytest.mark.parametrize("drop, method, expected", [
    ((), "given", (-0.1, 0.3)),
    (("yi", "sei"), "ci", (math.log(0.6), (math.log(0.9) - math.log(0.4)) / (2 * 1.959963984540054))),
    (("yi", "sei", "ci_lower", "ci_upper"), "logrank", (-0.5, 0.25)),
    (("yi", "sei", "ci_lower", "ci_upper", "o_minus_e", "var_o_minus_e"), "p_exact",
     (math.log(0.6), abs(math.log(0.6)) / 2.5758293035489004)),
])
def test_precedence_given_ci_logrank_p(drop, method, expected):
    cells = {k: v for k, v in ALL_FORMS.items() if k not in drop}
    effect = derive_effects(rows(1, **cells), check_plausibility=False).iloc[0]
    assert effect.method == method and effect.usable
    assert (effect.yi, effect.sei) == pytest.approx(expected, rel=1e-12)


def test_means_come_after_p_values_and_before_counts():
    cells = dict(measure="MD", mean_treatment=10.0, sd_treatment=2.0, mean_control=8.0, sd_control=3.0,
                 total_treatment=20, total_control=25)
    with_p = derive_effects(rows(1, estimate=2.0, p_value=0.05, p_relation="=", **cells)).iloc[0]
    assert with_p.method == "p_exact"
    with_counts = derive_effects(rows(1, events_treatment=3, events_control=4, **cells)).iloc[0]
    assert with_counts.method == "means"
    assert with_counts.vi == pytest.approx(4 / 20 + 9 / 25, rel=1e-14)


@pytest.mark.parametrize("cells, reason", [
    (dict(o_minus_e=-3.0, var_o_minus_e=5.0, measure="RR"), "not a RR"),
    (dict(o_minus_e=-3.0), "both needed"),
    (dict(o_minus_e=-3.0, var_o_minus_e=0.0), "positive"),
    (dict(mean_treatment=1.0, sd_treatment=1.0, mean_control=0.0, sd_control=1.0, total_treatment=9,
          total_control=9), "not a HR"),
    (dict(measure="SMD", mean_treatment=1.0, sd_treatment=1.0, mean_control=0.0, total_treatment=9,
          total_control=9), "incomplete"),
    (dict(measure="MD", mean_treatment=1.0, sd_treatment=1.0, mean_control=0.0, sd_control=1.0), "arm sizes"),
    (dict(measure="SMD", mean_treatment=1.0, sd_treatment=1.0, mean_control=0.0, sd_control=1.0,
          total_treatment=1, total_control=2), "not estimable"),
    (dict(measure="MD", events_treatment=3, total_treatment=10, events_control=2, total_control=10), "not a MD"),
    (dict(sei=0.2), "without yi"),
    (dict(yi=0.2), "without sei or vi"),
])
def test_rows_of_the_new_forms_without_an_effect_keep_a_reason(cells, reason):
    effect = derive_effects(rows(1, **cells)).iloc[0]
    assert not effect.usable and reason in effect.reason, effect.reason
    assert np.isnan(effect.yi) and np.isnan(effect.sei)


# --- outcome files: the new columns are validated and located ------------------------------------------------------


def write_outcomes(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "outcomes.csv"
    frame.to_csv(path, index=False)
    return path


def outcome_file_frame() -> pd.DataFrame:
    """Four valid rows: MD from means, SMD from means, HR from log-rank, RD from counts."""
    frame = rows(4, outcome=["OS", "PFS", "OS", "ORR"], measure=["MD", "SMD", "HR", "RD"],
                 study_id=["A", "A", "B", "B"], p_relation="")
    for column, values in dict(mean_treatment=[10.0, 5.0, np.nan, np.nan], sd_treatment=[2.0, 1.5, np.nan, np.nan],
                               mean_control=[8.0, 4.0, np.nan, np.nan], sd_control=[3.0, 1.0, np.nan, np.nan],
                               total_treatment=[20, 20, np.nan, 30], total_control=[25, 25, np.nan, 30],
                               events_treatment=[np.nan, np.nan, np.nan, 0],
                               events_control=[np.nan, np.nan, np.nan, 0],
                               o_minus_e=[np.nan, np.nan, -8.0, np.nan],
                               var_o_minus_e=[np.nan, np.nan, 16.0, np.nan]).items():
        frame[column] = values
    return frame.astype({c: "Int64" for c in COUNTS})


def test_an_outcome_file_with_the_new_forms_loads_and_derives(tmp_path):
    outcomes = load_outcomes(write_outcomes(tmp_path, outcome_file_frame()))
    effects = derive_effects(outcomes, check_plausibility=False)
    assert effects.method.tolist() == ["means", "means", "logrank", "counts_cc"] and effects.usable.all()
    assert effects.yi.iloc[0] == 2.0 and effects.vi.iloc[0] == pytest.approx(4 / 20 + 9 / 25, rel=1e-14)
    assert effects.yi.iloc[3] == 0.0  # double-zero RD kept: (0.5/31) - (0.5/31)
    assert effects.vi.iloc[3] == pytest.approx(2 * (0.5 / 31) * (30.5 / 31) / 31, rel=1e-14)


@pytest.mark.parametrize("row, column, value, message", [
    (0, "sd_treatment", "0", "not positive"),
    (1, "sd_control", "-1.2", "not positive"),
    (0, "mean_control", "abc", "not a number"),
    (1, "mean_control", "", "incomplete"),
    (0, "total_control", "", "only one arm size"),
    (1, "total_treatment", "20.5", "not a whole number"),
    (0, "total_treatment", "0", "not positive"),
    (2, "var_o_minus_e", "0", "not positive"),
    (2, "var_o_minus_e", "", "given together"),
    (2, "o_minus_e", "inf", "not finite"),
])
def test_bad_cells_of_the_new_columns_are_located(tmp_path, row, column, value, message):
    frame = outcome_file_frame().astype(object)
    frame.loc[row, column] = value
    path = write_outcomes(tmp_path, frame)
    with pytest.raises(InputError, match=message) as info:
        load_outcomes(path)
    assert (info.value.file, info.value.row, info.value.column) == (str(path), row + 2, column)
    assert f"row {row + 2}" in str(info.value) and f"column '{column}'" in str(info.value)


@pytest.mark.parametrize("cells, row, column, message", [
    (dict(yi=["0.2", "", "", ""], sei=["", "", "", ""]), 2, "sei", "without its standard error"),
    (dict(yi=["", "", "", ""], sei=["", "0.3", "", ""]), 3, "yi", "standard error without yi"),
    (dict(yi=["0.2", "", "", ""], sei=["-0.3", "", "", ""]), 2, "sei", "not positive"),
    (dict(yi=["0.2", "", "", ""], vi=["0", "", "", ""]), 2, "vi", "not positive"),
    (dict(yi=["0.2", "", "", ""], sei=["0.3", "", "", ""], vi=["0.1", "", "", ""]), 2, "vi", "differs"),
])
def test_bad_given_effects_are_located(tmp_path, cells, row, column, message):
    frame = outcome_file_frame()
    for name, values in cells.items():
        frame[name] = values
    path = write_outcomes(tmp_path, frame)
    with pytest.raises(InputError, match=message) as info:
        load_outcomes(path)
    assert (info.value.file, info.value.row, info.value.column) == (str(path), row, column)


def test_means_without_either_arm_size_are_located(tmp_path):
    frame = outcome_file_frame().astype(object)
    frame.loc[1, ["total_treatment", "total_control"]] = ""
    path = write_outcomes(tmp_path, frame)
    with pytest.raises(InputError, match="without the arm size") as info:
        load_outcomes(path)
    assert (info.value.file, info.value.row, info.value.column) == (str(path), 3, "total_treatment")


@pytest.mark.parametrize("dropped, missing", [("sd_control", "sd_control"), ("var_o_minus_e", "var_o_minus_e"),
                                              ("mean_treatment", "mean_treatment")])
def test_a_header_with_half_a_form_names_the_missing_column(tmp_path, dropped, missing):
    path = write_outcomes(tmp_path, outcome_file_frame().drop(columns=[dropped]))
    with pytest.raises(InputError, match="missing column") as info:
        load_outcomes(path)
    assert (info.value.file, info.value.row, info.value.column) == (str(path), None, missing)


def test_consistent_sei_and_vi_are_accepted(tmp_path):
    frame = outcome_file_frame()
    frame["yi"] = [0.2, np.nan, np.nan, np.nan]
    frame["sei"] = [0.3, np.nan, np.nan, np.nan]
    frame["vi"] = [0.09, np.nan, np.nan, np.nan]
    effects = derive_effects(load_outcomes(write_outcomes(tmp_path, frame)), check_plausibility=False)
    assert effects.method.iloc[0] == "given" and effects.sei.iloc[0] == pytest.approx(0.3)


# --- plain CSVs and the command line -------------------------------------------------------------------------------


def normand_csv(tmp_path: Path) -> Path:
    x = escalc_case("normand1999", "MD")["inputs"]
    path = tmp_path / "normand.csv"
    pd.DataFrame({"study": FIX["datasets"]["normand1999"]["study"], "mean_treatment": x["m1i"],
                  "sd_treatment": x["sd1i"], "total_treatment": x["n1i"], "mean_control": x["m2i"],
                  "sd_control": x["sd2i"], "total_control": x["n2i"]}).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("measure", [None, "MD", "SMD"])
def test_plain_csv_of_means_matches_escalc(tmp_path, measure):
    table = read_effect_table(normand_csv(tmp_path), measure)
    case = escalc_case("normand1999", measure or "MD")
    assert table.measure == (measure or "MD") and table.method == ("means",) * 9
    np.testing.assert_allclose(table.yi, ref(case["yi"]), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(table.vi, ref(case["vi"]), rtol=RTOL, atol=ATOL)
    assert table.covariates.empty


def test_plain_csv_of_counts_with_rd_keeps_double_zero_studies(tmp_path):
    case = escalc_case("zero_cells", "RD")
    x = case["inputs"]
    path = tmp_path / "zeros.csv"
    pd.DataFrame({"study": list("abcdefgh"), "events_treatment": x["ai"], "total_treatment": x["n1i"],
                  "events_control": x["ci"], "total_control": x["n2i"]}).astype(
        {c: int for c in COUNTS}).to_csv(path, index=False)
    table = read_effect_table(path, "RD")
    assert table.k == 8 and table.dropped == ()
    np.testing.assert_allclose(table.yi, ref(case["yi"]), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(table.vi, ref(case["vi"]), rtol=RTOL, atol=ATOL)
    rr = read_effect_table(path, "RR")
    assert rr.dropped == ("c", "e")  # no events in both arms; events in every patient of both arms
    case = escalc_case("zero_cells", "RR", drop00=True)
    np.testing.assert_allclose(rr.yi, ref(case["yi"])[~np.isnan(ref(case["yi"]))], rtol=RTOL, atol=ATOL)


def test_plain_csv_of_logrank_statistics(tmp_path):
    case = FIX["logrank"][0]
    path = tmp_path / "logrank.csv"
    pd.DataFrame({"study": FIX["datasets"]["bcg"]["study"], "o_minus_e": case["o_minus_e"],
                  "var_o_minus_e": case["v"]}).to_csv(path, index=False)
    table = read_effect_table(path)
    assert table.measure == "HR" and table.method == ("logrank",) * 13
    np.testing.assert_allclose(table.yi, ref(case["yi"]), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(table.vi, ref(case["vi"]), rtol=RTOL, atol=ATOL)
    with pytest.raises(InputError, match="not RR"):
        read_effect_table(path, "RR")


@pytest.mark.parametrize("column, value, message, located", [
    ("sd_control", "0", "not positive", "sd_control"),
    ("total_treatment", "3.5", "not a whole number", "total_treatment"),
    ("mean_treatment", "", "blank cell", "mean_treatment"),
])
def test_bad_cells_of_a_plain_csv_of_means_are_located(tmp_path, column, value, message, located):
    path = normand_csv(tmp_path)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[4, column] = value
    frame.to_csv(path, index=False)
    with pytest.raises(InputError, match=message) as info:
        read_effect_table(path, "SMD")
    assert (info.value.file, info.value.row, info.value.column) == (str(path), 6, located)


def test_plain_csv_of_means_too_small_for_an_smd(tmp_path):
    path = tmp_path / "small.csv"
    path.write_text("study,mean_treatment,sd_treatment,total_treatment,mean_control,sd_control,total_control\n"
                    "a,1,1,10,0,1,10\nb,1,1,1,0,1,2\n")
    assert read_effect_table(path, "MD").k == 2
    with pytest.raises(InputError, match="more than 3 patients") as info:
        read_effect_table(path, "SMD")
    assert info.value.row == 3


def test_cli_fits_a_plain_csv_of_means_as_md_and_smd(tmp_path, capsys):
    path = normand_csv(tmp_path)
    assert main(["frequentist", str(path), "--measure", "MD", "--method", "REML", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    fit = next(f for f in FIX["fits"] if (f["dataset"], f["method"], f["test"], f["level"])
               == ("normand1999", "REML", "z", 0.95))
    assert out["measure"] == "MD" and out["k"] == 9
    assert out["estimate"] == pytest.approx(fit["estimate"], abs=1e-6)
    assert out["tau2"] == pytest.approx(fit["tau2"], rel=1e-6)
    assert main(["frequentist", str(path), "--measure", "SMD", "--method", "FE", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    case = escalc_case("normand1999", "SMD")
    w = 1 / ref(case["vi"])
    assert out["measure"] == "SMD" and out["estimate"] == pytest.approx(np.sum(w * ref(case["yi"])) / w.sum(),
                                                                          rel=1e-10)
    assert "natural_scale" not in out
    assert main(["frequentist", str(path), "--measure", "SMD", "--json"]) == 0
    bad = tmp_path / "bad.csv"
    bad.write_text(path.read_text().replace(",64,156", ",-64,156"))
    assert main(["frequentist", str(bad), "--measure", "SMD"]) == 2
    err = capsys.readouterr().err
    assert "row 2" in err and "sd_control" in err
