"""Subgroups from published subgroup estimates: the unpooled contrasts against the closed form from two CIs
(to 1e-8), the hierarchical model against an independent 2-D quadrature over (mu, tau) with theta integrated
analytically (to 1e-8; measured 8e-12), the Wald test of subgroup differences, the reading of the HAIC paper's 51
printed subgroup rows, and bad input (one located error, exit 2)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import special, stats

from conftest import HAIC_PUBLISHED
from bayesmeta.cli import main
from bayesmeta.errors import InputError, ModelError
from bayesmeta.subgroups import INDEPENDENCE, analyse_characteristic, analyse_subgroups, read_subgroup_table

Z = 1.959964  # the brief's closed form: se = CI width on the log scale / (2 x 1.959964)


@pytest.fixture(scope="module")
def os_table():
    return read_subgroup_table(HAIC_PUBLISHED, outcome="OS")


@pytest.fixture(scope="module")
def os_analysis(os_table):
    return analyse_subgroups(os_table, mcid=0.8)


def test_the_haic_paper_prints_51_subgroup_rows_30_os_and_21_pfs():
    os_rows = read_subgroup_table(HAIC_PUBLISHED, outcome="OS").rows
    pfs_rows = read_subgroup_table(HAIC_PUBLISHED, outcome="PFS").rows
    assert (len(os_rows), len(pfs_rows)) == (30, 21)
    vp0 = next(r for r in os_rows if r.level == "Vp0")
    assert (vp0.estimate, vp0.ci_lower, vp0.ci_upper, vp0.k) == (0.74, 0.53, 1.03, 3)
    assert vp0.yi == pytest.approx(math.log(0.74), abs=1e-15)
    assert vp0.sei == pytest.approx((math.log(1.03) - math.log(0.53)) / (2 * Z), abs=1e-8)


def test_unpooled_contrasts_are_the_closed_form_from_two_cis(os_table, os_analysis):
    z975 = stats.norm.ppf(0.975)
    rows = {(r.characteristic, r.level): r for r in os_table.rows}
    checked = 0
    for c in os_analysis.characteristics:
        for k in c.contrasts:
            if k.model != "unpooled":
                continue
            a, b = rows[(c.characteristic, k.level)], rows[(c.characteristic, k.reference)]
            d = math.log(a.estimate) - math.log(b.estimate)
            se = math.hypot((math.log(a.ci_upper) - math.log(a.ci_lower)) / (2 * Z),
                            (math.log(b.ci_upper) - math.log(b.ci_lower)) / (2 * Z))
            s = k.summary
            assert (s.median, s.mean, s.sd) == pytest.approx((d, d, se), abs=1e-8)
            assert (s.ci_lower, s.ci_upper) == pytest.approx((d - z975 * se, d + z975 * se), abs=1e-8)
            assert k.ratio["median"] == pytest.approx(a.estimate / b.estimate, abs=1e-8)
            assert k.prob_level_better == pytest.approx(stats.norm.cdf(-d / se), abs=1e-8)
            checked += 1
    assert checked == 18  # 12 two-level characteristics, two three-level ones (3 pairs each)


def test_unpooled_effects_and_the_probabilities_of_benefit_are_the_normal_closed_form(os_analysis):
    vp0 = next(e for e in os_analysis.characteristic("main portal vein invasion").effects if e.level == "Vp0")
    se = (math.log(1.03) - math.log(0.53)) / (2 * Z)
    assert vp0.prob_benefit_unpooled == pytest.approx(stats.norm.cdf(-math.log(0.74) / se), abs=1e-8)
    assert vp0.prob_mcid_unpooled == pytest.approx(stats.norm.cdf((math.log(0.8) - math.log(0.74)) / se), abs=1e-8)
    # "might not benefit": the published 0.74 (0.53-1.03) still gives P(HR < 1) = 0.96
    assert 0.96 < vp0.prob_benefit_unpooled < 0.965


def test_a_normal_unpooled_prior_is_the_conjugate_update(os_table):
    rows = os_table.levels("age")
    result = analyse_characteristic(rows, "HR", benefit="below", mcid=None, mu_prior="normal(0, 4)",
                                    tau_prior="halfnormal(0.5)", unpooled_prior="normal(0, 1)", level=0.95)
    post = [((r.yi / r.sei**2) / (1 / r.sei**2 + 1), 1 / (1 / r.sei**2 + 1)) for r in rows]
    u = next(k for k in result.contrasts if k.model == "unpooled")
    assert u.summary.mean == pytest.approx(post[0][0] - post[1][0], abs=1e-12)
    assert u.summary.sd == pytest.approx(math.sqrt(post[0][1] + post[1][1]), abs=1e-12)


TAU_PANELS = 60


def _composite_gauss_legendre(edges: np.ndarray, nodes: int = 20):
    x, w = np.polynomial.legendre.leggauss(nodes)
    half = np.diff(edges)[:, None] / 2
    return ((edges[:-1, None] + half) + half * x).ravel(), (half * w).ravel()


def _quadrature(yi, sei, mu_sd, tau_sd, a, b, cuts):
    """Independent reference: p(mu, tau | y) on a dense 2-D grid (composite Gauss-Legendre, 20 nodes a panel),
    with theta_a - theta_b | mu, tau, y ~ N((1-B_a) y_a + B_a mu - (1-B_b) y_b - B_b mu,
    s_a^2 (1-B_a) + s_b^2 (1-B_b)) and theta_a | mu, tau, y integrated analytically. Returns E(d), E(d^2),
    P(d < c) for c in cuts, and P(theta_a < 0)."""
    yi, s2 = np.asarray(yi), np.asarray(sei) ** 2
    # tau panels graded towards 0, where P(d < c) | tau steps on the scale |c| (d -> 0 with tau)
    tau, wt = _composite_gauss_legendre(np.concatenate([[0.0], np.geomspace(1e-7, 8 * tau_sd, TAU_PANELS)]))
    # for each tau, mu nodes spanning +-12 rough posterior SDs around the precision-weighted mean (placement only:
    # the integrand below is the full joint density, with the Jacobian in the weights)
    u, wu = _composite_gauss_legendre(np.linspace(-12.0, 12.0, 25))
    t = tau[:, None, None]
    v = s2 + t * t
    centre = np.sum(yi / v, axis=-1) / np.sum(1 / v, axis=-1)
    scale = np.sqrt(1 / np.sum(1 / v, axis=-1))
    m = centre + scale * u[None, :]
    log_dens = (-0.5 * (m / mu_sd if mu_sd else 0 * m) ** 2 - 0.5 * (tau[:, None] / tau_sd) ** 2
                - 0.5 * np.sum(np.log(v) + (yi - m[..., None]) ** 2 / v, axis=-1))
    dens = np.exp(log_dens - log_dens.max()) * (wt[:, None] * scale) * wu[None, :]
    keep = t * t / v  # 1 - B_g, written without cancellation at small tau
    mean = keep * yi + (1 - keep) * m[..., None]
    var = s2 * keep
    dm, dv = mean[..., a] - mean[..., b], var[..., a] + var[..., b]
    values = [dm, dv + dm * dm, *(special.ndtr((c - dm) / np.sqrt(dv)) for c in cuts),
              special.ndtr(-mean[..., a] / np.sqrt(var[..., a]))]
    total = dens.sum()
    return [float(np.sum(dens * f) / total) for f in values]


@pytest.mark.parametrize("characteristic,pair,mu_sd,tau_sd", [
    ("main portal vein invasion", (0, 1), 4.0, 0.5), ("age", (0, 1), 4.0, 0.5), ("ECOG-PS", (0, 2), 4.0, 0.5),
    ("main portal vein invasion", (2, 1), None, 0.25)])
def test_the_hierarchical_contrast_matches_an_independent_quadrature(os_table, characteristic, pair, mu_sd, tau_sd):
    rows = os_table.levels(characteristic)
    result = analyse_characteristic(rows, "HR", benefit="below", mcid=None,
                                    mu_prior="flat" if mu_sd is None else f"normal(0, {mu_sd:g})",
                                    tau_prior=f"halfnormal({tau_sd:g})", unpooled_prior="flat", level=0.95)
    a, b = pair
    h = next(k for k in result.contrasts if k.model == "hierarchical" and {k.level, k.reference} == {rows[a].level,
                                                                                              rows[b].level})
    a, b = (a, b) if h.level == rows[a].level else (b, a)
    cuts = (h.summary.ci_lower, h.summary.median, 0.0, h.summary.ci_upper)
    ref = _quadrature([r.yi for r in rows], [r.sei for r in rows], mu_sd, tau_sd, a, b, cuts)
    mean, second, *probs, p_theta = ref
    assert h.summary.mean == pytest.approx(mean, abs=1e-8)
    assert h.summary.sd == pytest.approx(math.sqrt(second - mean * mean), abs=1e-8)
    # the reported quantiles are where the reference CDF is 0.025, 0.5, 0.975; P(d < 0) = P(level better)
    assert probs[0] == pytest.approx(0.025, abs=1e-8)
    assert probs[1] == pytest.approx(0.5, abs=1e-8)
    assert probs[2] == pytest.approx(h.prob_level_better, abs=1e-8)
    assert probs[3] == pytest.approx(0.975, abs=1e-8)
    assert result.effects[a].prob_benefit_pooled == pytest.approx(p_theta, abs=1e-8)


def test_the_test_of_subgroup_differences_is_the_wald_q_of_the_estimates(os_analysis, os_table):
    rows = os_table.levels("main portal vein invasion")
    y, w = np.array([r.yi for r in rows]), 1 / np.array([r.sei for r in rows]) ** 2
    q = float(np.sum(w * (y - np.sum(w * y) / w.sum()) ** 2))
    c = os_analysis.characteristic("main portal vein invasion")
    assert c.q_between == pytest.approx(q, rel=1e-10)
    assert c.p_between == pytest.approx(stats.chi2.sf(q, 2), rel=1e-10)


def test_the_record_states_the_independence_assumption_and_its_caveats(os_analysis):
    assert os_analysis.assumption == INDEPENDENCE
    assert "across characteristics" in os_analysis.assumption and "same trials" in os_analysis.assumption
    c = os_analysis.characteristic("extrahepatic metastasis")
    assert any("different numbers of studies (k 12, 13)" in text for text in c.caveats)
    d = json.loads(json.dumps(os_analysis.as_dict()))
    assert d["benefit"] == "below" and d["characteristics"][0]["effects"][0]["level"] == "<50"


def test_pooling_shrinks_vp0_towards_the_other_levels(os_analysis):
    c = os_analysis.characteristic("main portal vein invasion")
    vp0 = c.effects[0]
    assert vp0.pooled.median < vp0.unpooled.median  # log HR pulled down towards Vp3/Vp4
    assert vp0.prob_benefit_pooled > vp0.prob_benefit_unpooled


def test_a_single_level_gets_no_pooling_and_no_contrast():
    table = read_subgroup_table(HAIC_PUBLISHED, outcome="PFS")
    c = analyse_subgroups(table, characteristics=("main portal vein invasion",)).characteristics[0]
    assert c.mu is None and c.contrasts == () and c.effects[0].pooled is None
    assert c.caveats == ("one level only: nothing to pool or to contrast",)


def test_yi_sei_tables_and_the_benefit_above(tmp_path):
    path = tmp_path / "sub.csv"
    path.write_text("characteristic,level,yi,sei\nsex,male,0.5,0.2\nsex,female,0.1,0.25\n")
    result = analyse_subgroups(read_subgroup_table(path, measure="RR"), benefit="above", mcid=1.25)
    e = result.characteristics[0].effects[0]
    assert e.prob_benefit_unpooled == pytest.approx(stats.norm.sf(0, 0.5, 0.2), abs=1e-12)
    assert e.prob_mcid_unpooled == pytest.approx(stats.norm.sf(math.log(1.25), 0.5, 0.2), abs=1e-12)
    with pytest.raises(ModelError, match="benefit side"):
        analyse_subgroups(read_subgroup_table(path, measure="RR"), benefit="above", mcid=0.8)


@pytest.mark.parametrize("text,message", [
    ("level,yi,sei\na,0.1,0.2\n", "column 'characteristic': missing characteristic column"),
    ("characteristic,level,yi,sei\nsex,m,0.1,0.2\nsex,m,0.2,0.2\n", "row 3, column 'level': level 'm' of 'sex'"),
    ("characteristic,level,estimate,ci_lower,ci_upper\nsex,m,0.5,0.3,0.9\n", "needs its measure"),
    ("characteristic,level,measure,estimate,ci_lower,ci_upper\nsex,m,HR,0.5,0.6,0.9\n",
     "row 2, column 'estimate': estimate 0.5 lies outside"),
    ("characteristic,level,measure,estimate,ci_lower,ci_upper\nsex,m,HR,0.5,x,0.9\n",
     "row 2, column 'ci_lower': 'x' is not a number"),
    ("characteristic,level,yi,sei\nsex,m,0.1,0\n", "row 2, column 'sei': 0 is not positive"),
])
def test_bad_tables_are_refused_with_their_row_and_column(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_subgroup_table(path)


def test_cli_on_the_haic_table_json_and_errors(capsys):
    assert main(["subgroups", str(HAIC_PUBLISHED), "--outcome", "OS", "--characteristic",
                 "main portal vein invasion", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    effects = out["characteristics"][0]["effects"]
    assert out["mcid"] == 0.8 and [e["level"] for e in effects] == ["Vp0", "Vp3", "Vp4"]
    assert 0.96 < effects[0]["prob_benefit_unpooled"] < 0.965
    assert main(["subgroups", str(HAIC_PUBLISHED)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "choose one" in err and "--outcome OS | PFS" in err
    assert main(["subgroups", str(HAIC_PUBLISHED), "--outcome", "OS", "--characteristic", "eye colour"]) == 2
    assert "no characteristic 'eye colour'" in capsys.readouterr().err
    assert main(["subgroups", str(HAIC_PUBLISHED), "--outcome", "OS", "--mcid", "1.2"]) == 2
    assert "benefit side" in capsys.readouterr().err


def test_a_difference_measure_prints_differences_between_levels(tmp_path, capsys, monkeypatch):
    """For an SMD the contrast is a difference (level - reference), titled so, and intervals read "a to b"
    (not "-0.03--1.23"): male 0.5 (se 0.2) - female -0.1 (se 0.25) = 0.60, 0.60 +- 1.96 sqrt(0.2^2 + 0.25^2)."""
    monkeypatch.setenv("COLUMNS", "200")
    path = tmp_path / "sub.csv"
    path.write_text("characteristic,level,yi,sei\nsex,male,0.5,0.2\nsex,female,-0.1,0.25\n")
    assert main(["subgroups", str(path), "--measure", "SMD", "--benefit", "above"]) == 0
    out = capsys.readouterr().out
    half = 1.959964 * math.hypot(0.2, 0.25)
    assert "Difference of effects between levels (SMD of the level - SMD of the reference)" in out
    assert "Ratio of effects" not in out and "male - female" in out
    assert f"0.60 ({0.6 - half:.2f} to {0.6 + half:.2f})" in out
