"""`bayesmeta frequentist` options against R metafor 3.8.1 (tests/reference/make_frequentist_cli_fixtures.R) on
two users' tables: Normand 1999 (length of stay, means and SDs) and Zelniker et al. 2019 (hazard ratios, a long
table of four outcomes)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bayesmeta.cli import main

REF = Path(__file__).parent / "reference"
NORMAND = REF / "normand1999_outcomes.csv"
ZELNIKER = REF / "zelniker2019_outcomes.csv"
PUBLISHED = REF / "normand1999_published.csv"
FIX = json.loads((REF / "frequentist_cli_fixtures.json").read_text())
TOL = {"rel": 1e-8, "abs": 1e-10}


def _run(capsys, *args: str) -> dict:
    assert main(["frequentist", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _data(ref: dict) -> list[str]:
    return [str(NORMAND)] if ref["dataset"] == "normand" else [str(ZELNIKER), "--outcome", ref["outcome"]]


@pytest.mark.parametrize("ref", FIX["confint"],
                         ids=lambda r: f"{r['dataset']}-{r['outcome']}-{r['method']}-{r['level']}")
def test_qprofile_intervals_match_metafor_confint(capsys, ref):
    out = _run(capsys, *_data(ref), "--method", ref["method"], "--level", str(ref["level"]))
    h = out["heterogeneity"]
    assert h["method"] == "Q-profile" and h["level"] == ref["level"]
    for name in ("tau2", "tau", "i2", "h2"):
        for key in ("estimate", "ci_lower", "ci_upper"):
            assert h[name][key] == pytest.approx(ref[name][key], **TOL), (name, key)


def test_qprofile_interval_is_printed_for_people(capsys):
    assert main(["frequentist", str(NORMAND)]) == 0
    text = capsys.readouterr().out
    assert "Q-profile 95% CI" in text
    assert "292.9181" in text and "2889.4513" in text  # Normand, REML, per-arm variances (metafor confint)


def test_common_effect_has_no_heterogeneity_interval(capsys):
    assert "heterogeneity" not in _run(capsys, str(NORMAND), "--method", "FE")


REFIT_KEYS = ("estimate", "se", "zval", "pval", "ci_lower", "ci_upper", "q", "q_p", "tau2", "i2", "h2")


def _refit_args(ref: dict) -> list[str]:
    return [*_data(ref), "--method", ref["method"], *(["--hksj"] if ref["test"] == "knha" else [])]


def _assert_rows(rows: list[dict], table: dict, ks: list[int]) -> None:
    assert [r["study"] for r in rows] == table["study"]
    assert [r["k"] for r in rows] == ks
    for key in REFIT_KEYS:
        assert [r[key] for r in rows] == pytest.approx(table[key], **TOL), key


def _cumulative_for(loo: dict) -> dict | None:
    return next((c for c in FIX["cumulative"] if all(c[k] == loo[k] for k in ("dataset", "method", "test"))
                 and c["order"] in (None, "year")), None)


@pytest.mark.parametrize("ref", FIX["leave_one_out"], ids=lambda r: f"{r['dataset']}-{r['method']}-{r['test']}")
def test_leave_one_out_and_cumulative_match_metafor(capsys, ref):
    out = _run(capsys, *_refit_args(ref), "--leave-one-out", "--cumulative")
    k = len(ref["table"]["study"])
    _assert_rows(out["leave_one_out"], ref["table"], [k - 1] * k)  # metafor leave1out
    cumul = _cumulative_for(ref)  # metafor cumul, by year when the file has it, else in the file's order
    assert out["cumulative"]["order"] == (cumul["order"] or "file order")
    _assert_rows(out["cumulative"]["rows"], cumul["table"], list(range(1, k + 1)))


def test_cumulative_by_a_text_column_matches_metafor_cumul(capsys):
    ref = next(c for c in FIX["cumulative"] if c["order"] == "setting")
    out = _run(capsys, *_refit_args(ref), "--cumulative", "--order", "setting")["cumulative"]
    assert out["order"] == "setting"
    _assert_rows(out["rows"], ref["table"], list(range(1, len(ref["table"]["study"]) + 1)))


def test_refits_of_ratios_are_reported_as_ratios(capsys):
    row = _run(capsys, str(ZELNIKER), "--outcome", "MACE_ASCVD", "--leave-one-out")["leave_one_out"][0]
    assert row["reported"]["estimate"] == pytest.approx(math.exp(row["estimate"]), rel=1e-12)


def test_order_without_cumulative_or_an_unknown_column_exits_2(capsys):
    assert main(["frequentist", str(NORMAND), "--order", "setting"]) == 2
    assert "add --cumulative" in capsys.readouterr().err
    assert main(["frequentist", str(NORMAND), "--cumulative", "--order", "country"]) == 2
    assert "no column 'country'" in capsys.readouterr().err


def _method_args(ref: dict) -> list[str]:
    return ["--method", ref["method"], *(["--hksj"] if ref["test"] == "knha" else [])]


@pytest.mark.parametrize("ref", FIX["metareg"],
                         ids=lambda r: f"{r['dataset']}-{r['formula']}-{r['method']}-{r['test']}")
def test_formula_matches_metafor_mods(capsys, ref):
    out = _run(capsys, *_data(ref), *_method_args(ref), "--formula", ref["formula"])
    c = ref["coefficients"]
    levels = [f"beta[{ref['formula']}]"] if ref["formula"] == "year" else [
        f"beta[{ref['formula']}[{n.rsplit(')', 1)[1]}]]" for n in c["name"][1:]]
    assert [x["name"] for x in out["coefficients"]] == ["mu", *levels]
    for key in ("estimate", "se", "stat", "pval", "ci_lower", "ci_upper"):
        assert [x[key] for x in out["coefficients"]] == pytest.approx(c[key], **TOL), key
    for key in ("tau2", "i2", "h2", "q", "q_p", "qm", "qm_p", "r2"):
        assert out[key] == pytest.approx(ref[key], **TOL), key
    assert out["qm_df"] == ref["qm_df"] and out["formula"] == ref["formula"]
    if ref["method"] == "FE":
        assert "heterogeneity" not in out
    else:  # residual heterogeneity's Q-profile interval (metafor confint of the meta-regression)
        h = out["heterogeneity"]["tau2"]
        assert [h["ci_lower"], h["ci_upper"]] == pytest.approx(ref["tau2_ci"], **TOL)


@pytest.mark.parametrize("ref", FIX["subgroup"], ids=lambda r: f"{r['dataset']}-{r['method']}-{r['test']}")
def test_subgroup_matches_metafor(capsys, ref):
    sub = _run(capsys, *_data(ref), *_method_args(ref), "--subgroup", ref["column"])["subgroup"]
    sep = sub["separate"]
    assert list(sep["groups"]) == ref["levels"]
    for key in ("k", "estimate", "se", "ci_lower", "ci_upper", "tau2", "i2", "q"):
        assert [g[key] for g in sep["groups"].values()] == pytest.approx(ref[key], **TOL), key
    assert sep["q_between"] == pytest.approx(ref["q_between"], **TOL)
    assert sep["p_between"] == pytest.approx(ref["p_between"], **TOL)
    assert sep["df_between"] == ref["df_between"]
    mt = sub["moderator_test"]
    assert [mt["qm"], mt["qm_p"]] == pytest.approx([ref["qm"], ref["qm_p"]], **TOL)
    assert mt["qm_df"] == ref["qm_df"] and mt["test"] == ("F" if ref["test"] == "knha" else "chi2")


def test_subgroups_of_hazard_ratios_as_published(capsys):
    # Zelniker et al. 2019 (Lancet 393:31-39), fixed effect, as tabulated in PMC6685897 Table 1: MACE with
    # established ASCVD 0.86 (0.80-0.93), with risk factors only 1.00 (0.87-1.16)
    groups = _run(capsys, str(ZELNIKER), "--outcome", "MACE_ASCVD", "--method", "FE",
                  "--subgroup", "ascvd")["subgroup"]["separate"]["groups"]
    printed = {"yes": (0.86, 0.80, 0.93), "no": (1.00, 0.87, 1.16)}
    for level, numbers in printed.items():
        r = groups[level]["reported"]
        assert tuple(round(r[k], 2) for k in ("estimate", "ci_lower", "ci_upper")) == numbers


def test_formula_and_subgroup_errors_exit_2(capsys):
    assert main(["frequentist", str(NORMAND), "--subgroup", "country"]) == 2
    assert "no column 'country'" in capsys.readouterr().err
    assert main(["frequentist", str(NORMAND), "--formula", "0 + setting"]) == 2
    assert "keeps the intercept" in capsys.readouterr().err
    assert main(["frequentist", str(NORMAND), "--formula", "setting", "--leave-one-out"]) == 2
    assert "without moderators" in capsys.readouterr().err


HO = FIX["vtype_ho"]
# Normand 1999, Stat Med 18:321-359, Table IX (length of stay, days): the rows the paper printed
NORMAND_PRINTED = {"DL": (-14.10, -24.45, -3.75), "FE": (-3.49, -5.03, -1.96), "REML": (-15.12, -32.67, 2.43)}


def test_pooled_sd_variance_matches_escalc_ho():
    import pandas as pd

    from bayesmeta.escalc import mean_difference

    d = pd.read_csv(NORMAND)
    yi, vi = mean_difference(d.mean_treatment, d.sd_treatment, d.total_treatment, d.mean_control, d.sd_control,
                             d.total_control, vtype="HO")
    assert list(yi) == pytest.approx(HO["yi"], rel=1e-12) and list(vi) == pytest.approx(HO["vi"], rel=1e-12)


@pytest.mark.parametrize("ref", HO["fits"], ids=lambda r: r["method"])
def test_vtype_ho_matches_metafor_and_the_printed_rows(capsys, ref):
    out = _run(capsys, str(NORMAND), "--vtype", "HO", "--method", ref["method"])
    for key in ("estimate", "se", "ci_lower", "ci_upper", "tau2", "i2", "h2", "q", "q_p"):
        assert out[key] == pytest.approx(ref[key], **TOL), key
    if ref["method"] in NORMAND_PRINTED:
        assert tuple(round(out[k], 2) for k in ("estimate", "ci_lower", "ci_upper")) == NORMAND_PRINTED[ref["method"]]
        ls = _run(capsys, str(NORMAND), "--method", ref["method"])  # per-arm SDs do not give the printed row
        assert tuple(round(ls[k], 2) for k in ("estimate", "ci_lower", "ci_upper")) != NORMAND_PRINTED[ref["method"]]


def test_vtype_is_a_plan_key_per_outcome(tmp_path, capsys):
    plan = tmp_path / "plan.toml"
    body = (f'title = "Normand 1999"\n\n[data]\noutcomes = "{NORMAND}"\npublished = "{PUBLISHED}"\n\n'
            '[outcomes.LOS]\nmeasure = "MD"\nbenefit = "below"\n')
    statuses = {}
    for vtype in ("LS", "HO"):
        plan.write_text(body + f'vtype = "{vtype}"\n')
        assert main(["compare", str(PUBLISHED), "--plan", str(plan), "--json"]) == 0
        statuses[vtype] = [r["status"] for r in json.loads(capsys.readouterr().out)["pooled"]]
    assert statuses == {"LS": ["close"] * 3, "HO": ["reproduced"] * 3}  # the DL, FE and REML rows of Table IX
    assert main(["compare", str(PUBLISHED), "--outcomes", str(NORMAND), "--vtype", "HO", "--json"]) == 0
    assert [r["status"] for r in json.loads(capsys.readouterr().out)["pooled"]] == ["reproduced"] * 3
    plan.write_text(body.replace('"MD"', '"SMD"') + 'vtype = "HO"\n')
    assert main(["compare", str(PUBLISHED), "--plan", str(plan)]) == 2
    assert "outcomes.LOS.vtype" in capsys.readouterr().err


def test_vtype_ho_needs_means_and_sds(capsys):
    assert main(["frequentist", str(ZELNIKER), "--outcome", "HHF", "--vtype", "HO"]) == 2
    assert "vtype HO is the variance of an MD from means and SDs" in capsys.readouterr().err
    assert main(["frequentist", str(NORMAND), "--measure", "SMD", "--vtype", "HO"]) == 2
    assert "not of the SMD" in capsys.readouterr().err


def test_mantel_haenszel_refuses_the_rma_options(tmp_path, capsys):
    assert main(["frequentist", str(NORMAND), "--method", "MH", "--subgroup", "setting"]) == 2
    assert "--method MH pools the counts once" in capsys.readouterr().err
