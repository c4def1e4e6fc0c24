"""Trial sequential analysis: information size, diversity, Lan-DeMets boundaries, the Z-curve and the CLI.

References used here:
- gsDesign ``sfLDOF`` / ldbounds / RTSA (alpha = 0.025 per side, i.e. the 'per-side' convention): 5 equally spaced
  looks 4.877, 3.357, 2.680, 2.290, 2.031; 3 looks 3.710, 2.511, 1.993; one-sided 0.025 at t = 0.5, 0.75, 1:
  2.963, 2.359, 2.014 (RTSA vignette).
- metafor 3.8-1 ``rma.uni`` on dat.bcg (log RR): FE -0.43028516365 (se 0.040498751711); DL -0.71411722207
  (se 0.17874208954, tau^2 0.30876026286, I^2 92.1173468546%).
- R rpact 3.3.4 ``getDesignGroupSequential`` (tests/reference/rpact_boundaries.json, written by
  tests/reference/make_rpact_boundaries.R): Lan-DeMets O'Brien-Fleming and Pocock designs, two- and one-sided.
- scipy's multivariate normal CDF (Genz): 1 - P(|Z_j| < c_j, j <= k) = A(t_k) with corr(Z_i, Z_j) = sqrt(t_i / t_j).
- Closed forms: the first boundary Phi^-1(1 - A(t_1) / sides), and at every look
  Phi^-1(1 - A(t_k) / 2) <= c_k <= Phi^-1(1 - (A(t_k) - A(t_{k-1})) / 2).
- Lu et al. 2025 (Int J Surg 111:3494), Results "TSA for ORR and DCR": RIS 2633 (ORR, RRR 30%) and 1469 (DCR,
  RRR 15%) with the control (systemic) rates 0.2519 and 0.71 printed in the Results.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, special, stats

from bayesmeta import tsa
from bayesmeta.cli import main
from bayesmeta.errors import InputError

Z975 = 1.959963984540054
Z80 = 0.8416212335729143

# dat.bcg (metafor): arm counts, year; log RR and variance as escalc computes them.
BCG = [
    ("Aronson", 4, 123, 11, 139, 1948),
    ("Ferguson & Simes", 6, 306, 29, 303, 1949),
    ("Rosenthal a", 3, 231, 11, 220, 1960),
    ("Hart & Sutherland", 62, 13598, 248, 12867, 1977),
    ("Frimodt-Moller", 33, 5069, 47, 5808, 1973),
    ("Stein & Aronson", 180, 1541, 372, 1451, 1953),
    ("Vandiviere", 8, 2545, 10, 629, 1973),
    ("TPT Madras", 505, 88391, 499, 88391, 1980),
    ("Coetzee & Berjak", 29, 7499, 45, 7277, 1968),
    ("Rosenthal b", 17, 1716, 65, 1665, 1961),
    ("Comstock a", 186, 50634, 141, 27338, 1974),
    ("Comstock & Webster", 5, 2498, 3, 2341, 1969),
    ("Comstock b", 27, 16913, 29, 17854, 1976),
]


def bcg_effects():
    a, n1, c, n2 = (np.array([row[i] for row in BCG], dtype=float) for i in range(1, 5))
    yi = np.log((a / n1) / (c / n2))
    vi = 1 / a - 1 / n1 + 1 / c - 1 / n2
    return yi, vi, n1 + n2, np.array([row[5] for row in BCG])


# -- required information size --------------------------------------------------------------------------------
def test_ris_matches_the_closed_form_by_hand():
    # p_c = 0.2, RRR 25%: p_e = 0.15, p = 0.175, delta = 0.05
    by_hand = 4 * (Z975 + Z80) ** 2 * 0.175 * 0.825 / 0.05**2
    assert tsa.required_information_size(0.2, 0.25) == pytest.approx(by_hand, rel=1e-12)
    assert by_hand == pytest.approx(1813.09, abs=0.01)
    assert tsa.required_information_size(0.2, 0.25, diversity=0.5) == pytest.approx(2 * by_hand, rel=1e-12)
    # alpha 0.01, power 0.9
    z = 2.5758293035489004 + 1.2815515655446004
    assert tsa.required_information_size(0.2, 0.25, alpha=0.01, power=0.9) == pytest.approx(
        4 * z**2 * 0.175 * 0.825 / 0.05**2, rel=1e-12)


def test_a_negative_rrr_is_a_relative_increase():
    # p_c = 0.25, +30%: p_e = 0.325, p = 0.2875, delta = -0.075
    by_hand = 4 * (Z975 + Z80) ** 2 * 0.2875 * 0.7125 / 0.075**2
    assert tsa.required_information_size(0.25, -0.30) == pytest.approx(by_hand, rel=1e-12)


@pytest.mark.parametrize(
    "p_control, rrr, published, d2",
    [(0.2519, 0.30, 2633, 0.6486), (0.71, 0.15, 1469, 0.5750)],
    ids=["ORR", "DCR"],
)
def test_published_haic_information_sizes_are_reproduced(p_control, rrr, published, d2):
    """Control = systemic arm, p_e = p_c (1 - RRR) (the TSA program's inputs), and D^2 = 64.86% (ORR), 57.5% (DCR)."""
    assert math.ceil(tsa.required_information_size(p_control, rrr, diversity=d2)) == published
    implied = tsa.implied_diversity(published, p_control, rrr)
    fixed = tsa.required_information_size(p_control, rrr)
    assert 1 - fixed / (published - 1) < d2 <= implied
    assert fixed / (1 - implied) == pytest.approx(published, rel=1e-12)


def test_published_i2_does_not_reproduce_the_haic_information_sizes():
    # The forest-plot I^2 (65%, 55%) gives 2644 and 1387, not 2633 and 1469: the program used D^2.
    assert math.ceil(tsa.required_information_size(0.2519, 0.30, diversity=0.65)) == 2644
    assert math.ceil(tsa.required_information_size(0.71, 0.15, diversity=0.55)) == 1387


def test_ris_rejects_impossible_inputs():
    with pytest.raises(InputError, match="p_control"):
        tsa.required_information_size(1.2, 0.3)
    with pytest.raises(InputError, match="outside"):
        tsa.required_information_size(0.8, -0.5)  # p_e = 1.2
    with pytest.raises(InputError, match="D\\^2"):
        tsa.required_information_size(0.2, 0.3, diversity=1.0)
    with pytest.raises(InputError, match="relative risk reduction"):
        tsa.required_information_size(0.2, 0.0)


# -- diversity ----------------------------------------------------------------------------------------------------
def test_diversity_with_equal_variances_is_tau2_over_tau2_plus_v():
    assert tsa.diversity([0.04] * 6, 0.02) == pytest.approx(0.02 / 0.06, rel=1e-12)
    assert tsa.diversity([0.04, 0.1, 0.2], 0.0) == 0.0


def test_diversity_matches_metafor_variances_and_exceeds_i2_on_bcg():
    _, vi, _, _ = bcg_effects()
    d2 = tsa.diversity(vi, 0.30876026286)
    se_fe, se_dl = 0.040498751711, 0.17874208954  # metafor rma.uni, FE and DL
    assert d2 == pytest.approx(1 - se_fe**2 / se_dl**2, abs=1e-9)
    assert d2 >= 0.921173468546  # Wetterslev 2009: D^2 >= I^2


# -- spending and boundaries -------------------------------------------------------------------------------------
def test_obf_spending_closed_forms():
    t = np.array([0.2, 0.5, 1.0, 1.5])
    two = tsa.obf_spending(t, 0.05)
    assert two[0] == pytest.approx(2 - 2 * 0.5 * math.erfc(-(Z975 / math.sqrt(0.2)) / math.sqrt(2)), rel=1e-10)
    assert two[2] == pytest.approx(0.05) and two[3] == pytest.approx(0.05)
    z_quarter = 2.241402727604947  # z_{1 - 0.05/4}
    per = tsa.obf_spending(t, 0.05, convention="per-side")
    assert per[1] == pytest.approx(2 * (2 - 2 * (1 - 0.5 * math.erfc(z_quarter / math.sqrt(0.5) / math.sqrt(2)))),
                                   rel=1e-10)
    assert per[2] == pytest.approx(0.05)


def test_per_side_boundaries_match_published_lan_demets_tables():
    five = tsa.boundaries([0.2, 0.4, 0.6, 0.8, 1.0], alpha=0.05, convention="per-side")
    assert np.round(five.efficacy, 3).tolist() == [4.877, 3.357, 2.680, 2.290, 2.031]
    three = tsa.boundaries([1 / 3, 2 / 3, 1.0], alpha=0.05, convention="per-side")
    assert np.round(three.efficacy, 3).tolist() == [3.710, 2.511, 1.993]
    one_sided = tsa.boundaries([0.5, 0.75, 1.0], alpha=0.025, sides=1)
    assert np.round(one_sided.efficacy, 3).tolist() == [2.963, 2.359, 2.014]


def test_two_sided_classic_boundaries_start_at_the_closed_form_and_differ_from_per_side():
    b = tsa.boundaries([0.2, 0.4, 0.6, 0.8, 1.0], alpha=0.05)
    assert b.convention == "two-sided"
    assert b.efficacy[0] == pytest.approx(Z975 / math.sqrt(0.2), abs=1e-6)  # all alpha(0.2) spent at look 1
    per = tsa.boundaries([0.2, 0.4, 0.6, 0.8, 1.0], alpha=0.05, convention="per-side")
    assert np.all(b.efficacy[:4] < per.efficacy[:4] - 0.03)
    assert tsa.boundaries([1.0]).efficacy[0] == pytest.approx(Z975, abs=1e-7)


def test_pocock_spending_is_linear_in_alpha_so_both_conventions_agree():
    t = [0.2, 0.4, 0.6, 0.8, 1.0]
    a = tsa.boundaries(t, spending="pocock").efficacy
    b = tsa.boundaries(t, spending="pocock", convention="per-side").efficacy
    assert np.allclose(a, b, atol=1e-8)
    assert np.all(np.diff(a) < 0) and 2.3 < a[-1] < a[0] < 2.5


RPACT = json.loads((Path(__file__).parent / "reference" / "rpact_boundaries.json").read_text())["designs"]


@pytest.mark.parametrize("design", RPACT, ids=lambda d: f"{d['spending']}-{d['sided']}-{len(d['rates'])}")
def test_boundaries_match_rpact(design):
    """rpact's sided = 2 design spends alpha / 2 per side, i.e. the 'per-side' convention."""
    b = tsa.boundaries(design["rates"], alpha=design["alpha"], sides=design["sided"], convention="per-side",
                       spending={"asOF": "obf", "asP": "pocock"}[design["spending"]])
    # rpact solves to about 1e-9 in probability, 2e-6 in z where the density is small (Z = 3.9)
    np.testing.assert_allclose(b.efficacy, design["critical_values"], rtol=0, atol=2e-6)
    np.testing.assert_allclose(b.alpha_spent, design["alpha_spent"], rtol=0, atol=2e-8)


@pytest.mark.parametrize("fractions, convention, sides", [
    ([0.2, 0.4], "two-sided", 2),
    ([0.03, 0.06], "per-side", 2),
    ([0.5, 0.5001], "two-sided", 2),  # close looks: the narrowest integrands
    ([0.001, 0.3], "two-sided", 2),
    ([0.1, 0.35], "two-sided", 1),
])
def test_two_look_boundaries_spend_exactly_by_the_bivariate_normal_cdf(fractions, convention, sides):
    b = tsa.boundaries(fractions + [1.0], alpha=0.05, convention=convention, sides=sides)
    t = np.asarray(fractions)
    rho = math.sqrt(t[0] / t[1])
    mvn = stats.multivariate_normal(np.zeros(2), [[1, rho], [rho, 1]], abseps=1e-14, releps=1e-14)
    upper = b.efficacy[:2]
    lower = -upper if sides == 2 else np.full(2, -np.inf)
    assert 1.0 - mvn.cdf(upper, lower_limit=lower) == pytest.approx(b.alpha_spent[1], abs=1e-10)


def test_close_looks_spend_exactly_where_rpact_does_not():
    """rpact 3.3.4 gives 2.962194 at the third of the looks 0.15, 0.16, 0.5 (per side); with it the crossing
    probability by look 3 exceeds the spending by 3.9e-6 (Genz's trivariate normal CDF, quasi-Monte Carlo,
    error about 1e-7 with 5e6 points)."""
    t = np.array([0.15, 0.16, 0.5])
    b = tsa.boundaries(list(t) + [0.98, 1.0], convention="per-side")
    corr = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    mvn = stats.multivariate_normal(np.zeros(3), corr, abseps=1e-12, releps=1e-12, maxpts=5_000_000, seed=1)

    def crossed(c):
        return 1.0 - mvn.cdf(c, lower_limit=-c)

    assert crossed(b.efficacy[:3]) == pytest.approx(b.alpha_spent[2], abs=5e-8)
    rpact = np.array([b.efficacy[0], b.efficacy[1], 2.96219367533922])
    assert crossed(rpact) - b.alpha_spent[2] > 3e-6


@pytest.mark.parametrize("t1", [1e-8, 1e-6, 1e-4, 1e-3, 0.004, 0.01, 0.05])
@pytest.mark.parametrize("convention, sides", [("two-sided", 2), ("per-side", 2), ("two-sided", 1)])
def test_first_boundary_is_the_closed_form_at_any_small_fraction(t1, convention, sides):
    """All of A(t_1) is spent at the first look: c_1 = Phi^-1(1 - A(t_1) / sides). Classic two-sided: A(t) =
    2 Phi(-z_{1-alpha/2} / sqrt(t)), so c_1 = z_{1-alpha/2} / sqrt(t_1): 196.0 at t = 1e-4, 19600 at 1e-8. Per side
    A = 4 Phi(-z_{1-alpha/4} / sqrt(t)); one-sided A = 2 Phi(-z_{1-alpha/2} / sqrt(t)) (gsDesign sfLDOF)."""
    alpha = 0.025 if sides == 1 else 0.05
    b = tsa.boundaries([t1, 0.5, 1.0], alpha=alpha, convention=convention, sides=sides)
    if (convention, sides) == ("two-sided", 2):
        expected = Z975 / math.sqrt(t1)
    else:
        x = stats.norm.isf(alpha / 4 if sides == 2 else alpha / 2) / math.sqrt(t1)
        expected = -special.ndtri_exp(math.log(2) + special.log_ndtr(-x))  # Phi(-c_1) = 2 Phi(-x)
    assert b.efficacy[0] == pytest.approx(expected, rel=1e-10)
    assert math.isfinite(b.log_alpha_spent[0])
    assert b.efficacy[-1] == pytest.approx(stats.norm.isf(alpha / sides), abs=0.05)


def test_first_futility_boundary_is_the_closed_form_at_a_tiny_fraction():
    """Under the drift, P(Z_1 <= f_1) = B(t_1): f_1 = drift sqrt(t_1) + Phi^-1(B(t_1)), B(t) = 2 - 2 Phi(z_{1-beta/2}
    / sqrt(t))."""
    t1 = 1e-4
    b = tsa.boundaries([t1, 0.3, 1.0], beta=0.2)
    log_b1 = math.log(2) + special.log_ndtr(-stats.norm.isf(0.1) / math.sqrt(t1))
    assert b.futility[0] == pytest.approx(b.drift * math.sqrt(t1) + special.ndtri_exp(log_b1), rel=1e-10)


def _two_sided_lower_and_upper_bounds(b):
    """Phi^-1(1 - A_k / 2) <= c_k (|Z_k| >= c_k implies a crossing by look k) and
    c_k <= Phi^-1(1 - (A_k - A_{k-1}) / 2) (a crossing at look k implies |Z_k| >= c_k)."""
    log_a = b.log_alpha_spent
    previous = np.concatenate([[-np.inf], log_a[:-1]])
    log_increment = log_a + np.log(-np.expm1(previous - log_a))
    return -special.ndtri_exp(log_a - math.log(2)), -special.ndtri_exp(log_increment - math.log(2))


@pytest.mark.parametrize("fractions", [
    [1e-4 * k for k in range(1, 11)] + [1.0],
    [0.0005, 0.001, 0.0015, 0.002, 0.0025, 0.003, 0.00373, 0.01, 1.0],
    [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0],
])
def test_boundaries_at_tiny_fractions_respect_the_closed_form_bounds(fractions):
    """The old integration cut the grid at +-10 SD and returned 20.7 where the alpha spent implies >= 32.09."""
    b = tsa.boundaries(fractions)
    lower, upper = _two_sided_lower_and_upper_bounds(b)
    assert np.all(np.isfinite(b.efficacy))
    assert np.all(b.efficacy >= lower - 1e-9) and np.all(b.efficacy <= upper + 1e-9)
    if 0.00373 in fractions:
        assert b.efficacy[fractions.index(0.00373)] >= 32.09


def _two_look_boundary_by_adaptive_quadrature(t1, t2, c1, log_increment):
    """Independent of the grid recursion: log P(|Z_1| < c_1, |Z_2| >= c) by scipy's adaptive quadrature of
    phi(z_1) P(|Z_2| >= c | z_1), scaled by its peak, and the c at which it equals the increment."""
    dt = t2 - t1

    def log_integrand(z, c):
        upper = special.log_ndtr(-(c * math.sqrt(t2) - z * math.sqrt(t1)) / math.sqrt(dt))
        lower = special.log_ndtr((-c * math.sqrt(t2) - z * math.sqrt(t1)) / math.sqrt(dt))
        return stats.norm.logpdf(z) + np.logaddexp(upper, lower)

    def log_exit(c):
        grid = np.linspace(-c1, c1, 8001)
        values = log_integrand(grid, c)
        peak, top = grid[np.argmax(values)], values.max()
        value, _ = integrate.quad(lambda z: math.exp(log_integrand(z, c) - top), -c1, c1, points=[peak],
                                  epsabs=0, epsrel=1e-12, limit=1000)
        return top + math.log(value)

    lo = -special.ndtri_exp(log_increment - math.log(2)) - 5
    return optimize.brentq(lambda c: log_exit(c) - log_increment, max(lo, 0.1), lo + 10, xtol=1e-12)


@pytest.mark.parametrize("t1, t2", [(1e-4, 2e-4), (1e-3, 1.5e-3), (0.004, 0.012), (0.02, 0.2)])
def test_second_boundary_at_small_fractions_matches_adaptive_quadrature(t1, t2):
    b = tsa.boundaries([t1, t2, 1.0])
    log_increment = b.log_alpha_spent[1] + math.log(-math.expm1(b.log_alpha_spent[0] - b.log_alpha_spent[1]))
    reference = _two_look_boundary_by_adaptive_quadrature(t1, t2, b.efficacy[0], log_increment)
    assert b.efficacy[1] == pytest.approx(reference, abs=1e-7)


def _simulate_z(fractions, n, seed, drift=0.0):
    rng = np.random.default_rng(seed)
    t = np.asarray(fractions)
    steps = rng.standard_normal((n, t.size)) * np.sqrt(np.diff(t, prepend=0.0)) + drift * np.diff(t, prepend=0.0)
    return np.cumsum(steps, axis=1) / np.sqrt(t)


@pytest.mark.parametrize("convention", ["two-sided", "per-side"])
def test_crossing_probability_under_h0_equals_spent_alpha_by_monte_carlo(convention):
    fractions = [0.12, 0.3, 0.45, 0.7, 0.85, 1.0]
    b = tsa.boundaries(fractions, alpha=0.05, convention=convention)
    n = 400_000
    z = _simulate_z(fractions, n, seed=20250101)
    crossed = np.abs(z) >= b.efficacy
    first = np.where(crossed.any(axis=1), crossed.argmax(axis=1), -1)
    cumulative = np.array([np.mean((first >= 0) & (first <= k)) for k in range(len(fractions))])
    mc_se = np.sqrt(b.alpha_spent * (1 - b.alpha_spent) / n)
    assert np.all(np.abs(cumulative - b.alpha_spent) < 4 * mc_se + 1e-5)
    assert abs(cumulative[-1] - 0.05) < 4 * math.sqrt(0.05 * 0.95 / n)


def test_futility_boundaries_spend_beta_under_the_alternative_by_monte_carlo():
    fractions = [0.2, 0.4, 0.6, 0.8, 1.0]
    b = tsa.boundaries(fractions, alpha=0.05, beta=0.2)
    assert b.drift == pytest.approx(Z975 + Z80, rel=1e-12)
    assert np.all(np.diff(b.futility) > 0) and b.futility[-1] < b.efficacy[-1]
    n = 400_000
    z = _simulate_z(fractions, n, seed=7, drift=b.drift)
    first = np.full(n, -1)
    kind = np.zeros(n, dtype=int)  # 1 efficacy (either side), 2 futility
    for k in range(len(fractions)):
        open_ = first < 0
        eff = open_ & (np.abs(z[:, k]) >= b.efficacy[k])
        fut = open_ & ~eff & (z[:, k] <= b.futility[k])
        first[eff | fut] = k
        kind[eff] = 1
        kind[fut] = 2
    cumulative = np.array([np.mean((kind == 2) & (first <= k)) for k in range(len(fractions))])
    mc_se = np.sqrt(b.beta_spent * (1 - b.beta_spent) / n)
    assert np.all(np.abs(cumulative - b.beta_spent) < 4 * mc_se + 1e-5)
    # power of the efficacy boundaries alone (futility non-binding): recursion against the same paths
    crossed = np.abs(z) >= b.efficacy
    hit = crossed.any(axis=1)
    at = crossed.argmax(axis=1)
    power_mc = np.mean(hit & (z[np.arange(n), at] > 0))
    probs = tsa.exit_probabilities(fractions, b.efficacy, drift=b.drift)
    assert probs["upper"].sum() == pytest.approx(power_mc, abs=4 * math.sqrt(0.25 / n))
    assert probs["upper"].sum() < 0.8  # a group-sequential design at the fixed-design RIS loses some power


def test_exit_probabilities_under_h0_return_the_spending_increments():
    b = tsa.boundaries([0.25, 0.5, 0.75, 1.0])
    probs = tsa.exit_probabilities(b.fractions, b.efficacy)
    assert np.allclose(probs["cumulative"], b.alpha_spent, atol=1e-9)
    assert np.allclose(probs["upper"], probs["lower"], atol=1e-12)


def test_boundaries_reject_non_increasing_fractions():
    with pytest.raises(InputError, match="does not increase"):
        tsa.boundaries([0.3, 0.3, 1.0])
    with pytest.raises(InputError, match="convention"):
        tsa.boundaries([0.5, 1.0], convention="one-sided")


# -- cumulative Z-curve and the whole analysis ----------------------------------------------------------------------
def test_cumulative_z_final_look_matches_metafor_dl_and_fe():
    yi, vi, n, year = bcg_effects()
    dl = tsa.cumulative_z(yi, vi, order=year, sample_sizes=n, method="DL")
    assert dl["estimate"].iloc[-1] == pytest.approx(-0.71411722207, abs=1e-9)
    assert dl["se"].iloc[-1] == pytest.approx(0.17874208954, abs=1e-9)
    assert dl["tau2"].iloc[-1] == pytest.approx(0.30876026286, abs=1e-9)
    fe = tsa.cumulative_z(yi, vi, method="FE")
    assert fe["estimate"].iloc[-1] == pytest.approx(-0.43028516365, abs=1e-9)
    assert fe["z"].iloc[-1] == pytest.approx(-0.43028516365 / 0.040498751711, rel=1e-8)


def test_cumulative_z_is_in_chronological_order_with_accrued_participants():
    yi, vi, n, year = bcg_effects()
    curve = tsa.cumulative_z(yi, vi, order=year, sample_sizes=n, ris=100_000, study=[r[0] for r in BCG])
    assert curve["study"].tolist()[:3] == ["Aronson", "Ferguson & Simes", "Stein & Aronson"]
    assert curve["z"].iloc[0] == pytest.approx(yi[0] / math.sqrt(vi[0]), rel=1e-12)
    assert curve["n_cumulative"].iloc[-1] == n.sum()
    assert curve["fraction"].iloc[2] == pytest.approx((262 + 609 + 2992) / 100_000)
    assert np.all(np.diff(curve["n_cumulative"]) > 0)


def _planted(effect, k=8, n_per_arm=150, se=0.2):
    yi = np.full(k, effect)
    vi = np.full(k, se**2)
    return yi, vi, np.full(k, 2.0 * n_per_arm)


def test_tsa_with_a_large_effect_crosses_the_boundary_before_the_ris():
    yi, vi, n = _planted(np.log(0.6))
    result = tsa.tsa(yi, vi, n, p_control=0.3, relative_risk_reduction=0.25, diversity=0.0)
    assert result.ris_rounded == math.ceil(tsa.required_information_size(0.3, 0.25))
    assert result.crossed_efficacy and result.crossed_efficacy_side == "lower"
    k = result.crossed_efficacy_at - 1
    assert abs(result.curve["z"].iloc[k]) >= result.curve["efficacy"].iloc[k]
    assert np.all(np.abs(result.curve["z"].iloc[:k]) < result.curve["efficacy"].iloc[:k])
    assert result.curve["fraction"].iloc[k] < 1


def test_tsa_with_no_effect_enters_the_futility_wedge_and_never_crosses():
    yi, vi, n = _planted(0.0, k=12)
    result = tsa.tsa(yi, vi, n, p_control=0.3, relative_risk_reduction=0.25, diversity=0.0)
    assert not result.crossed_efficacy
    assert result.crossed_futility_at is not None
    assert result.reached_ris and result.reached_ris_at is not None
    beyond = result.curve["fraction"] >= 1
    assert np.allclose(result.curve.loc[beyond, "efficacy"], result.boundaries.efficacy[-1])
    json.dumps(result.as_dict(), allow_nan=False)


def test_tsa_auto_diversity_is_the_dl_diversity_of_all_studies():
    yi, vi, n, year = bcg_effects()
    result = tsa.tsa(yi, vi, n, p_control=0.01, relative_risk_reduction=0.3, order=year)
    assert result.diversity == pytest.approx(tsa.diversity(vi, 0.30876026286), abs=1e-9)
    assert result.ris == pytest.approx(result.ris_fixed / (1 - result.diversity))


# -- command line -------------------------------------------------------------------------------------------------
def _counts_csv(tmp_path):
    path = tmp_path / "bcg.csv"
    lines = ["study,events_treatment,total_treatment,events_control,total_control,year"]
    lines += [f"{s},{a},{b},{c},{d},{y}" for s, a, b, c, d, y in BCG]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cli_tsa_json(tmp_path, capsys):
    path = _counts_csv(tmp_path)
    assert main(["tsa", str(path), "--p-control", "0.01", "--mcid", "0.7", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ris_rounded"] == math.ceil(out["ris"])
    assert out["diversity"] == pytest.approx(tsa.diversity(bcg_effects()[1], 0.30876026286), abs=1e-6)
    assert [row["study"] for row in out["curve"]][:2] == ["Aronson", "Ferguson & Simes"]
    assert out["crossed_efficacy"] is True


def test_cli_tsa_text_and_errors(tmp_path, capsys):
    path = _counts_csv(tmp_path)
    assert main(["tsa", str(path), "--mcid", "0.7", "--diversity", "0.5"]) == 0
    assert "RIS" in capsys.readouterr().out
    assert main(["tsa", str(path), "--mcid", "0.7", "--diversity", "lots"]) == 2
    assert "--diversity" in capsys.readouterr().err
    effects = tmp_path / "effects.csv"
    effects.write_text("study,yi,sei\nA,-0.5,0.2\nB,-0.3,0.25\n")
    assert main(["tsa", str(effects), "--mcid", "0.7"]) == 2
    assert "arm counts" in capsys.readouterr().err


def test_cli_tsa_at_tiny_information_fractions_does_not_claim_a_false_crossing(tmp_path, capsys):
    """The issue's reproduction: RRR 0.5% makes the RIS 3.76 million, so ten studies of 2000 reach fractions
    0.0005 to 0.005. The old boundary at look 7 was 20.7 (|Z| = 21.5 'crossed'); the alpha spent by then,
    A(0.00372) = 2 Phi(-32.1), implies a boundary of at least 32.1."""
    path = tmp_path / "strong.csv"
    rows = ["study,events_treatment,total_treatment,events_control,total_control,year"]
    rows += [f"S{i + 1},{100 + (i % 3) * 3},1000,{250 - (i % 2) * 4},1000,{2000 + i}" for i in range(10)]
    path.write_text("\n".join(rows) + "\n")
    args = ["tsa", str(path), "--mcid", "0.995", "--p-control", "0.25", "--diversity", "0"]
    assert main(args + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    curve = out["curve"]
    fractions = np.array([row["fraction"] for row in curve])
    efficacy = np.array([row["efficacy"] for row in curve])
    z = np.array([row["z"] for row in curve])
    log_spent = math.log(2) + special.log_ndtr(-Z975 / np.sqrt(fractions))
    at_least = -special.ndtri_exp(log_spent - math.log(2))
    assert np.all(efficacy >= at_least - 1e-9)
    assert efficacy[6] >= 32.1 > abs(z[6]) > 20.7
    assert np.all(np.abs(z) < efficacy)
    assert out["crossed_efficacy"] is False and out["crossed_efficacy_at"] is None
    assert main(args) == 0
    assert "does not cross the monitoring boundary" in capsys.readouterr().out


def test_an_smd_is_sized_as_an_md_in_units_of_the_sd(tmp_path, capsys):
    """An SMD's required information size is the MD's with sd = 1 (the SMD is in units of the SD):
    4 (z_{1-alpha/2} + z_{1-beta})^2 / delta^2 participants for equal arms; without study sizes, each study's
    information is its participants-equivalent 4 / se^2. The library and the CLI take the SMD as such."""
    from bayesmeta.effect_data import EffectData

    rng = np.random.default_rng(4)
    yi, sei = rng.normal(0.2, 0.15, 12), rng.uniform(0.1, 0.3, 12)
    study = tuple(f"s{i}" for i in range(12))
    smd = tsa.tsa(EffectData(study=study, yi=yi, sei=sei, measure="SMD"), mcid=0.2)
    md = tsa.tsa(EffectData(study=study, yi=yi, sei=sei, measure="MD"), mcid=0.2, sd=1.0)
    z = stats.norm.isf(0.025) + stats.norm.isf(0.2)
    assert smd.measure == "SMD" and smd.ris_fixed == pytest.approx(4 * z**2 / 0.2**2, rel=1e-12)
    assert (smd.ris, smd.diversity, smd.crossed_efficacy_at) == (md.ris, md.diversity, md.crossed_efficacy_at)
    np.testing.assert_allclose(smd.curve["n_cumulative"], np.cumsum(4 / sei**2))
    path = tmp_path / "smd.csv"
    pd.DataFrame({"study": study, "yi": yi, "sei": sei}).to_csv(path, index=False)
    assert main(["tsa", str(path), "--measure", "SMD", "--mcid", "0.2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ris_rounded"] == smd.ris_rounded
