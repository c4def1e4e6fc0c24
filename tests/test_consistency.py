"""Internal consistency of printed ratio estimates, CIs and p-values, with planted errors and clean rows."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from bayesmeta.consistency import check_published, decimals_of
from bayesmeta.errors import InputError

PUBLISHED = Path(__file__).resolve().parents[1] / "data" / "published_results.csv"
Z975 = 1.959963984540054


def frame(rows):
    columns = ["outcome", "analysis", "variable", "level", "measure", "estimate", "ci_lower", "ci_upper",
               "p_value", "p_relation"]
    return pd.DataFrame([dict(zip(columns, r)) for r in rows], columns=columns)


def clean_row(y: float, se: float, label: str):
    """A row printed from true values: ratio and CI to 2 decimals, p to 3 decimals."""
    p = 2 * stats.norm.sf(abs(y) / se)
    return ("OS", "subgroup", label, "x", "HR", round(math.exp(y), 2), round(math.exp(y - Z975 * se), 2),
            round(math.exp(y + Z975 * se), 2), round(p, 3), "=")


def test_rows_printed_from_true_values_are_ok():
    rows = [clean_row(math.log(0.6), 0.15, "a"), clean_row(math.log(0.9), 0.2, "b"),
            clean_row(math.log(1.3), 0.08, "c"), clean_row(math.log(0.45), 0.3, "d")]
    out = check_published(frame(rows))
    assert (out["flag"] == "ok").all(), out["reason"].tolist()
    assert out["p_consistent"].all()


def test_planted_inconsistencies_are_flagged_with_a_reason():
    rows = [
        ("OS", "subgroup", "outside", "x", "HR", 0.50, 0.55, 0.90, "", ""),
        ("OS", "subgroup", "asymmetric", "x", "HR", 0.50, 0.45, 0.90, "", ""),
        ("OS", "subgroup", "wrong p", "x", "HR", 0.50, 0.40, 0.62, 0.20, "="),
        ("OS", "subgroup", "wrong bound", "x", "HR", 0.59, 0.37, 0.93, 0.01, "<"),
        ("OS", "prognostic_factor", "degenerate", "", "HR", 1.0, 1.0, 1.0, 0.97, "="),
    ]
    out = check_published(frame(rows)).set_index("variable")
    assert out.loc["outside", "flag"] == "inconsistent" and "outside its CI" in out.loc["outside", "reason"]
    assert out.loc["asymmetric", "flag"] == "inconsistent" and "asymmetric" in out.loc["asymmetric", "reason"]
    assert out.loc["wrong p", "flag"] == "inconsistent" and "printed p = 0.2" in out.loc["wrong p", "reason"]
    assert out.loc["wrong bound", "flag"] == "inconsistent"  # CI implies p ~ 0.025, printed p < 0.01
    assert out.loc["wrong bound", "implied_p"] == pytest.approx(
        2 * stats.norm.sf(abs(math.log(0.59)) / ((math.log(0.93) - math.log(0.37)) / (2 * Z975))), rel=1e-12)
    assert out.loc["degenerate", "flag"] == "degenerate" and "no width" in out.loc["degenerate", "reason"]


def test_rounding_is_allowed_for_but_not_more():
    # 0.52 (0.48, 0.58): ln-midpoint is 0.5276 but 0.525^2 >= 0.475 * 0.575, so rounding explains it
    ok, bad = check_published(frame([
        ("OS", "pooled", "all", "all", "HR", 0.52, 0.48, 0.58, "", ""),
        ("OS", "pooled", "all", "more", "HR", 0.52, 0.48, 0.60, "", ""),
    ])).itertuples()
    assert ok.flag == "ok" and ok.log_asymmetry < -0.01
    assert bad.flag == "inconsistent"  # 0.525^2 < 0.475 * 0.595: beyond rounding
    # p = 0.07 printed for an implied 0.0757: within rounding of the inputs
    out = check_published(frame([("OS", "subgroup", "Vp0", "x", "HR", 0.74, 0.53, 1.03, 0.07, "=")]))
    assert out["implied_p"].iloc[0] == pytest.approx(0.0757, abs=5e-4)
    assert out["flag"].iloc[0] == "ok" and out["implied_p_low"].iloc[0] < 0.075 < out["implied_p_high"].iloc[0]


def test_the_haic_paper_has_one_inconsistent_and_one_degenerate_row():
    out = check_published(PUBLISHED)
    raw = pd.read_csv(PUBLISHED)
    assert len(out) == raw["measure"].isin(["HR", "RR"]).sum()
    flagged = out[out["flag"] != "ok"]
    assert flagged[["variable", "level", "flag"]].values.tolist() == [
        ["BCLC stage", "B", "inconsistent"],
        ["tumor size cm (<10 vs >=10)", "", "degenerate"],
    ]
    assert flagged["row"].tolist() == [raw.index[(raw["variable"] == "BCLC stage") & (raw["level"] == "B")
                                                 & (raw["outcome"] == "OS")][0] + 2, 108]


def test_decimals_are_read_from_the_printed_text():
    assert decimals_of("0.0013") == 4 and decimals_of("0.07") == 2 and decimals_of("1.0") == 1
    assert decimals_of(0.07) == 2 and decimals_of(0.0001) == 4 and decimals_of(1.0) == 0


def test_bad_cells_are_located(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("outcome,analysis,measure,estimate,ci_lower,ci_upper\nOS,pooled,HR,0.5,0.4,0.6\n"
                    "OS,pooled,HR,half,0.4,0.6\n")
    with pytest.raises(InputError) as err:
        check_published(path)
    assert err.value.row == 3 and err.value.column == "estimate" and str(path) in str(err.value)
    path.write_text("outcome,measure,estimate\nOS,HR,0.5\n")
    with pytest.raises(InputError, match="ci_lower"):
        check_published(path)


def test_a_frame_read_with_default_pandas_types_gives_the_same_flags():
    as_text = check_published(PUBLISHED)
    as_numbers = check_published(pd.read_csv(PUBLISHED))
    assert as_numbers["flag"].tolist() == as_text["flag"].tolist()
    assert as_numbers["level"].tolist() == as_text["level"].tolist()
    assert "nan" not in as_numbers["level"].tolist()
