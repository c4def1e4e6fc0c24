"""Trial sequential analysis against the numbers printed in the RTSA vignettes, rpact and metafor.

References (committed with their sources):
- tests/reference/rtsa_vignettes.json: RTSA 0.2.2's printed output (required-sample-size, prospective_retrospective
  and futility vignettes);
- tests/reference/rpact_tsa.json: rpact 3.3.4 designs with binding / non-binding beta-spending futility, inflation
  factors and required events of a hazard ratio (tests/reference/make_rpact_tsa.R);
- tests/reference/metafor_fixtures.json: metafor's DL fits of BCG with test "z" and "knha" (the HKSJ variance).

RTSA rounds an information size twice: the fixed size up to an even number, then the heterogeneity-adjusted size
again (``rtsa_adjusted``). Rounding once, as the TSA program and ``required_information_size`` do, gives one
participant less for the D^2 = 0.3 example (17257 against RTSA's 17258).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize, stats

from bayesmeta import tsa
from bayesmeta.cli import main
from bayesmeta.tsa.size import _minimum_trials_variance, _z_sum

REFERENCE = Path(__file__).parent / "reference"
RTSA = json.loads((REFERENCE / "rtsa_vignettes.json").read_text())
RPACT = json.loads((REFERENCE / "rpact_tsa.json").read_text())
METAFOR = json.loads((REFERENCE / "metafor_fixtures.json").read_text())


# -- required information sizes (required-sample-size vignette) ----------------------------------------------------
@pytest.mark.parametrize("case", RTSA["ris_prospective"], ids=lambda c: c["call"][:40])
def test_rtsa_prospective_information_sizes(case):
    fixed = tsa.fixed_information_size(case["measure"], case["mcid"], p_control=case["p_control"],
                                       alpha=case["alpha"], power=case["power"], sides=case["sides"])
    printed = case["printed"]
    assert tsa.rtsa_rounded(fixed) == printed["fixed"]
    for share in ("D2", "I2"):
        if share in printed:
            assert tsa.rtsa_adjusted(fixed, case[share]) == printed[share]
    if "tau2_total" in printed:
        minimum = tsa.minimum_trials(case["measure"], case["mcid"], case["tau2"], p_control=case["p_control"],
                                     alpha=case["alpha"], power=case["power"], sides=case["sides"])
        k, per_trial, total = minimum["table"][0]
        assert (minimum["trials"], k, total) == (printed["tau2_trials"], printed["tau2_trials"], printed["tau2_total"])
        assert total == k * per_trial


def test_rtsa_double_rounding_differs_by_one_from_rounding_once():
    fixed = tsa.fixed_information_size("RR", 0.9, p_control=0.2, power=0.8)
    assert math.ceil(fixed / 0.7) == 17257
    assert tsa.rtsa_adjusted(fixed, 0.3) == 17258
    # the TSA program's convention (RRR = 1 - RR) rounds once
    assert math.ceil(tsa.required_information_size(0.2, 0.1, power=0.8, diversity=0.3)) == 17257


def test_rtsa_retrospective_minimum_trials_of_perio_oxy_are_consistent_with_one_unprinted_variance():
    """perioOxy (RTSA's data/perioOxy.RData) is not available as text, and minTrial's V_R (variance of the pooled
    random-effects estimate) is not printed. V_R is fitted to one printed number (372783 participants per trial
    for 47 trials at the upper tau^2 limit); the seven other per-trial sizes and both minimum numbers of trials
    printed at the two tau^2 limits then follow."""
    case = RTSA["ris_retrospective_perioOxy"]
    p = case["printed"]
    args = dict(p_control=case["p_control"], alpha=case["alpha"], power=case["power"], sides=case["sides"])
    z2_theta2 = _z_sum(case["alpha"], case["power"], case["sides"]) ** 2 / math.log(case["mcid"]) ** 2
    var = _minimum_trials_variance("RR", case["mcid"], case["p_control"], None)

    def upper_47(inv_v):
        return 2 * var / (47 / (z2_theta2 - inv_v) - p["tau2_upper"]) - (p["upper_per_trial"][0] - 0.5)

    v_random = 1.0 / optimize.brentq(upper_47, 75.733, 75.751, xtol=1e-13)
    lower = tsa.minimum_trials("RR", case["mcid"], p["tau2_lower"], v_random=v_random, **args)
    upper = tsa.minimum_trials("RR", case["mcid"], p["tau2_upper"], v_random=v_random, **args)
    assert lower["trials"] == p["lower_trials"] and upper["trials"] == p["upper_trials"]
    assert [row[1] for row in lower["table"]] == p["lower_per_trial"]
    assert [row[2] for row in lower["table"]] == p["lower_total"]
    assert [row[1] for row in upper["table"]] == p["upper_per_trial"]
    assert [row[2] for row in upper["table"]] == p["upper_total"]


# -- designs: inflation, boundaries, futility ----------------------------------------------------------------------
def test_rtsa_prospective_md_design():
    case = RTSA["design_pma"]
    d = tsa.design(case["timing"], alpha=case["alpha"], beta=1 - case["power"], convention="per-side",
                   sides=case["sides"])
    printed = case["printed"]
    np.testing.assert_allclose(d.boundaries.efficacy, printed["upper"], atol=5e-4)
    np.testing.assert_allclose(np.array(case["timing"]) * d.inflation_factor, printed["sma_timing"], atol=5e-4)
    assert round(100 * (d.inflation_factor - 1)) == printed["inflation_percent"]
    fixed = tsa.fixed_information_size("MD", case["mcid"], sd=case["sd"], alpha=case["alpha"], power=case["power"])
    assert tsa.rtsa_rounded(fixed) == printed["fixed"]
    assert tsa.rtsa_rounded(tsa.rtsa_rounded(fixed) * d.inflation_factor) == printed["sequential"]


def _pma_effect():
    t = RTSA["analysis_pma"]["trial1"]
    yi = t["mean_treatment"] - t["mean_control"]
    vi = t["sd_treatment"] ** 2 / t["total_treatment"] + t["sd_control"] ** 2 / t["total_control"]
    return t, yi, vi


def test_rtsa_prospective_md_analysis_and_tsa_adjusted_ci():
    case, design = RTSA["analysis_pma"], RTSA["design_pma"]
    t, yi, vi = _pma_effect()
    r = tsa.tsa([yi], [vi], sample_sizes=[t["total_treatment"] + t["total_control"]], study=["trial1"],
                measure="MD", mcid=design["mcid"], sd=design["sd"], power=design["power"], convention="per-side",
                futility="none", inflate=True, design_fractions=design["timing"], rounding="rtsa")
    printed = case["printed"]
    assert r.ris_rounded == design["printed"]["sequential"]
    assert r.curve["fraction"].iloc[0] * r.inflation_factor == pytest.approx(printed["sma_timing"][0], abs=5e-4)
    assert r.curve["efficacy"].iloc[0] == pytest.approx(printed["upper"][0], abs=5e-4)
    assert r.boundaries.efficacy[-1] == pytest.approx(printed["upper"][1], abs=5e-4)
    assert r.final_z == pytest.approx(printed["z"], abs=5e-4)
    assert r.estimate == pytest.approx(printed["md"], abs=5e-4)
    np.testing.assert_allclose(r.adjusted_ci, printed["tsa_ci"], atol=5e-4)
    assert 2 * stats.norm.sf(abs(r.final_z)) == pytest.approx(printed["naive_p"], abs=5e-5)


def test_rtsa_md_analysis_from_the_command_line_reads_means_and_sds(tmp_path, capsys):
    t, _, _ = _pma_effect()
    path = tmp_path / "pma.csv"
    path.write_text("study,mean_treatment,sd_treatment,total_treatment,mean_control,sd_control,total_control\n"
                    f"trial1,{t['mean_treatment']!r},{t['sd_treatment']!r},44,{t['mean_control']!r},"
                    f"{t['sd_control']!r},44\n")
    args = ["tsa", str(path), "--measure", "MD", "--mcid", "0.5", "--sd", "1", "--power", "0.9", "--convention",
            "per-side", "--futility", "none", "--inflate", "--fractions", "0.5,0.75,1", "--rounding", "rtsa"]
    assert main(args + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    printed = RTSA["analysis_pma"]["printed"]
    assert out["ris_rounded"] == 174 and out["unit"] == "participants"
    np.testing.assert_allclose(out["adjusted_ci"], printed["tsa_ci"], atol=5e-4)
    assert out["curve"][0]["efficacy"] == pytest.approx(printed["upper"][0], abs=5e-4)
    assert main(args) == 0
    assert "TSA-adjusted CI -0.9376 to 0.2598" in capsys.readouterr().out


def test_rtsa_one_sided_non_binding_futility_design():
    case = RTSA["futility_nonbinding"]
    d = tsa.design(case["timing"], alpha=case["alpha"], beta=1 - case["power"], sides=1, futility="non-binding")
    printed = case["printed"]
    np.testing.assert_allclose(d.boundaries.efficacy, printed["upper"], atol=5e-4)
    np.testing.assert_allclose(d.boundaries.futility, printed["futility"], atol=5e-4)
    np.testing.assert_allclose(np.array(case["timing"]) * d.inflation_factor, printed["sma_timing"], atol=5e-4)


def test_rtsa_two_sided_non_binding_design_skips_a_look_without_a_wedge():
    """RTSA's two-sided futility is an inner wedge |Z| < f_k: at the first look (f_1 would be negative) it spends
    no beta and spends that share at the second look. The root is the inflation factor."""
    case = RTSA["two_sided_nonbinding_design"]
    d = tsa.design(case["timing"], alpha=case["alpha"], beta=1 - case["power"], sides=2, convention="per-side",
                   futility="non-binding")
    printed = case["printed"]
    assert d.inflation_factor == pytest.approx(printed["root"], rel=1e-6)
    np.testing.assert_allclose(d.boundaries.efficacy, printed["alpha_ubound"], atol=2e-6)
    assert d.boundaries.futility[0] == -math.inf
    np.testing.assert_allclose(d.boundaries.futility[1:], printed["beta_ubound"][1:], atol=1e-6)


@pytest.mark.parametrize("case", RPACT["designs"], ids=lambda c: f"{c['spending']}-{c['sided']}-{c['futility']}")
def test_designs_match_rpact(case):
    spending = {"asOF": "obf", "asP": "pocock"}[case["spending"]]
    d = tsa.design(case["rates"], alpha=case["alpha"], beta=case["beta"], spending=spending, convention="per-side",
                   sides=case["sided"], futility=case["futility"])
    np.testing.assert_allclose(d.boundaries.efficacy, case["critical_values"], atol=2e-6)
    assert d.inflation_factor == pytest.approx(case["inflation_factor"], rel=2e-6)
    assert d.drift == pytest.approx(case["drift"], rel=2e-6)
    if case["futility"] != "none":
        np.testing.assert_allclose(d.boundaries.futility[:-1], case["futility_bounds"], atol=2e-6)
        assert d.boundaries.futility[-1] == pytest.approx(d.boundaries.efficacy[-1], abs=1e-8)


def test_binding_futility_lowers_the_efficacy_boundaries_and_rtsa_rule_is_non_binding_only():
    t = [0.5, 0.75, 1.0]
    free = tsa.boundaries(t, alpha=0.025, sides=1, beta=0.2)
    bound = tsa.boundaries(t, alpha=0.025, sides=1, beta=0.2, binding=True)
    assert bound.efficacy[0] == pytest.approx(free.efficacy[0], abs=1e-10)
    assert np.all(bound.efficacy[1:] < free.efficacy[1:])
    with pytest.raises(tsa.groupseq.InputError):
        tsa.design(t, futility="binding", sides=2, futility_rule="rtsa")


# -- time-to-event: required events (Schoenfeld; rpact) -----------------------------------------------------------
@pytest.mark.parametrize("case", RPACT["events"], ids=lambda c: f"HR{c['hazard_ratio']}-r{c['allocation_ratio']}")
def test_required_events_match_rpact(case):
    share = case["allocation_ratio"] / (1 + case["allocation_ratio"])
    events = tsa.fixed_information_size("HR", case["hazard_ratio"], alpha=case["alpha"], power=1 - case["beta"],
                                        allocation=share)
    assert events == pytest.approx(case["events"], rel=1e-9)


def test_hr_tsa_from_estimates_and_cis_counts_events(tmp_path, capsys):
    """HR data in the estimate/CI form: information is the events-equivalent 1/(a(1-a) se^2) of each study, and
    the RIS in events is Schoenfeld's 4 z^2 / log(HR)^2 / (1 - D^2)."""
    path = tmp_path / "hr.csv"
    path.write_text("study,estimate,ci_lower,ci_upper,year\nA,0.80,0.62,1.03,2001\nB,0.91,0.75,1.10,2004\n"
                    "C,0.76,0.60,0.96,2008\nD,0.88,0.78,0.99,2012\n")
    assert main(["tsa", str(path), "--measure", "HR", "--mcid", "0.85", "--heterogeneity", "none", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["unit"] == "events" and out["diversity"] == 0.0
    z = _z_sum(0.05, 0.8, 2)
    assert out["ris_fixed"] == pytest.approx(4 * z**2 / math.log(0.85) ** 2, rel=1e-12)
    se = (math.log(1.03) - math.log(0.62)) / (2 * 1.959963984540054)
    assert out["curve"][0]["n"] == pytest.approx(4 / se**2, rel=1e-3)
    lo, hi = out["adjusted_ci"]
    assert lo < out["ci"][0] < out["estimate"] < out["ci"][1] < hi
    assert main(["tsa", str(path), "--measure", "HR", "--mcid", "0.85", "--figures", str(tmp_path / "fig")]) == 0
    png = (tmp_path / "fig" / "tsa.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_tsa_chart_draws_the_curve_and_boundaries_it_is_given():
    from bayesmeta.plots.tsa import plot_tsa

    r = tsa.tsa([-0.2, -0.1, -0.3], [0.01, 0.02, 0.015], sample_sizes=[400, 300, 500], p_control=0.2, mcid=0.8,
                study=list("ABC"))
    lines = plot_tsa(r).axes[0].get_lines()
    curve = next(line for line in lines if line.get_label() == "cumulative Z")
    np.testing.assert_allclose(curve.get_ydata()[1:], r.curve["z"], rtol=1e-12)
    boundary = next(line for line in lines if line.get_label() == "monitoring boundary")
    np.testing.assert_allclose(boundary.get_xdata(), r.boundaries.fractions * r.ris_rounded, rtol=1e-12)


# -- heterogeneity corrections against metafor ---------------------------------------------------------------------
def test_d2_i2_and_hksj_d2_match_metafor_variances_on_bcg():
    data = METAFOR["datasets"]["bcg"]
    fits = {(f["method"], f["test"]): f for f in METAFOR["fits"] if f["dataset"] == "bcg" and f["level"] == 0.95}
    h = tsa.heterogeneity(data["vi"], data["yi"])
    v_fixed = fits[("FE", "z")]["se"] ** 2
    v_random = fits[("DL", "z")]["se"] ** 2
    v_hksj = fits[("DL", "knha")]["se"] ** 2
    assert h["tau2"] == pytest.approx(fits[("DL", "z")]["tau2"], rel=1e-9)
    assert h["i2"] == pytest.approx(fits[("DL", "z")]["i2"] / 100, rel=1e-9)
    assert h["d2"] == pytest.approx(1 - v_fixed / v_random, rel=1e-9)
    assert h["d2_hksj"] == pytest.approx(1 - v_fixed / v_hksj, rel=1e-9)


def test_cli_heterogeneity_spending_and_sides_change_the_analysis_as_documented(tmp_path, capsys):
    counts = tmp_path / "bcg.csv"
    d = METAFOR["datasets"]["bcg"]
    rows = ["study,events_treatment,total_treatment,events_control,total_control,year"]
    rows += [f"{s},{a},{n1},{c},{n2},{y}" for s, a, n1, c, n2, y in
             zip(d["study"], d["ai"], d["n1i"], d["ci"], d["n2i"], d["year"])]
    counts.write_text("\n".join(rows) + "\n")
    outs = {}
    for name, extra in {"d2": [], "hksj": ["--heterogeneity", "D2-HKSJ"], "i2": ["--heterogeneity", "I2"],
                        "one": ["--spending", "pocock", "--sides", "1", "--futility", "binding"]}.items():
        assert main(["tsa", str(counts), "--mcid", "0.7", "--p-control", "0.01", "--json"] + extra) == 0
        outs[name] = json.loads(capsys.readouterr().out)
    h = tsa.heterogeneity(np.array(d["vi"]), np.array(d["yi"]))
    assert outs["hksj"]["diversity"] == pytest.approx(h["d2_hksj"], rel=1e-9)
    assert outs["i2"]["diversity"] == pytest.approx(h["i2"], rel=1e-9)
    for key in ("d2", "hksj", "i2"):
        o = outs[key]
        assert o["ris_rounded"] == math.ceil(o["ris_fixed"] / (1 - o["diversity"]) - 1e-9)
        assert o["minimum_trials"]["trials"] >= 0
    assert outs["one"]["boundaries"]["spending"] == "pocock"
    assert outs["one"]["boundaries"]["sides"] == 1 and outs["one"]["futility"] == "binding"


def test_cli_help_shows_every_option_with_its_default(capsys):
    assert main(["tsa", "--help"]) == 0
    # click's plain help: an entry starts at a two-space indent, its wrapped description lines are indented deeper
    entries: dict[str, str] = {}
    name = None
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("  ") and not line.startswith("   ") and (line.split()[0].startswith("--")
                                                                   or line.split()[0] == "data"):
            name = line.split()[0]
            entries[name] = line
        elif name and line.startswith("   "):
            entries[name] += " " + line.strip()
        else:
            name = None
    assert {"data", "--mcid", "--measure", "--p-control", "--sd", "--allocation", "--alpha", "--power", "--sides",
            "--spending", "--futility", "--heterogeneity", "--diversity", "--method", "--convention", "--inflate",
            "--fractions", "--rounding", "--json"} <= set(entries)
    missing = [name for name, text in entries.items() if name != "--help" and "default" not in text]
    assert missing == []
