"""Leave-one-study-out influence: each row equals a fit without the study; the KL divergence against its
closed form; the planted and the published influential study."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from conftest import haic_effects_for
from bayesmeta.exact import fit_exact
from bayesmeta.influence import influence, leave_one_out

Y = np.array([-0.51, 0.01, -1.05, -0.67, -0.65, -1.27, -0.84])
SEI = np.array([0.24, 0.16, 0.16, 0.26, 0.19, 0.32, 0.26])
IDS = ["A", "B", "C", "D", "E", "F", "G"]
MU, TAU = "normal(0, 4)", "halfnormal(0.5)"


@pytest.fixture(scope="module")
def table():
    return leave_one_out(Y, SEI, mu_prior=MU, tau_prior=TAU, study=IDS, measure="HR", thresholds=(1.0, 0.7))


def test_omitting_a_study_equals_a_fit_on_the_rest(table):
    for i in (0, 1, 5):
        keep = np.arange(Y.size) != i
        post = fit_exact(Y[keep], SEI[keep], mu_prior=MU, tau_prior=TAU, measure="HR")
        row = table.loc[IDS[i]]
        lo, hi = post.marginal("mu").interval(0.95)
        assert row["median"] == pytest.approx(np.exp(post.marginal("mu").median()), abs=1e-8)
        assert row["ci_lower"] == pytest.approx(np.exp(lo), abs=1e-8)
        assert row["ci_upper"] == pytest.approx(np.exp(hi), abs=1e-8)
        assert row["tau_median"] == pytest.approx(post.marginal("tau").median(), abs=1e-8)
        assert row["prob_below_1"] == pytest.approx(post.prob_below(1.0), abs=1e-8)
        assert row["prob_below_0.7"] == pytest.approx(post.prob_below(0.7), abs=1e-8)


def test_full_posterior_and_shift(table):
    full = fit_exact(Y, SEI, mu_prior=MU, tau_prior=TAU, measure="HR")
    f = table.attrs["full"]
    assert f["median"] == pytest.approx(np.exp(full.marginal("mu").median()), abs=1e-8)
    assert f["sd_mu"] == pytest.approx(full.marginal("mu").std(), abs=1e-8)
    expected = (np.log(table["median"]) - np.log(f["median"])) / f["sd_mu"]
    assert np.allclose(table["shift_sd"], expected, atol=1e-10)
    # Omitting the study with the largest effect (B, log HR ~ 0) moves the pooled HR down the most.
    assert table["shift_sd"].idxmin() == "B"
    assert table["kl"].idxmax() == "B"
    assert (table["kl"] >= 0).all()


def test_kl_matches_the_normal_closed_form():
    """tau prior concentrated at 0, flat mu prior: mu | y ~ N(m, v) and mu | y_{-i} ~ N(m_i, v_i), so
    KL = log(sqrt(v_i / v)) + (v + (m - m_i)^2) / (2 v_i) - 1/2."""
    t = leave_one_out(Y, SEI, mu_prior="flat", tau_prior="halfnormal(0.0001)", study=IDS, measure="HR")
    w = 1 / SEI**2
    m, v = np.sum(w * Y) / w.sum(), 1 / w.sum()
    for i in range(Y.size):
        keep = np.arange(Y.size) != i
        mi, vi = np.sum(w[keep] * Y[keep]) / w[keep].sum(), 1 / w[keep].sum()
        kl = 0.5 * np.log(vi / v) + (v + (m - mi) ** 2) / (2 * vi) - 0.5
        assert t.loc[IDS[i], "kl"] == pytest.approx(kl, rel=1e-3, abs=1e-6)


def test_influence_of_a_posterior_and_the_figure(table):
    from bayesmeta.plots.sensitivity import plot_influence

    post = fit_exact(Y, SEI, mu_prior=MU, tau_prior=TAU, study=IDS, measure="HR")
    t = influence(post, thresholds=(1.0, 0.7))
    assert np.allclose(t["median"], table["median"], atol=1e-12)
    fig = plot_influence(t, t.attrs["full"], measure="HR")
    assert isinstance(fig, Figure)


def test_kudo_2018_is_the_most_influential_overall_survival_study():
    """Lu et al. 2025 report that the SILIUS trial (Kudo 2018) influenced the pooled OS HR."""
    from bayesmeta.effects import effects_for

    os_ = haic_effects_for("OS")
    t = leave_one_out(os_["yi"], os_["sei"], mu_prior=MU, tau_prior=TAU, study=os_["study_id"], measure="HR")
    assert t["kl"].idxmax() == "Kudo2018"
    assert t["shift_sd"].abs().idxmax() == "Kudo2018"
    assert t.loc["Kudo2018", "tau_median"] < t.attrs["full"]["tau_median"]


def test_too_few_studies():
    from bayesmeta.errors import ModelError

    with pytest.raises(ModelError, match="at least 3"):
        leave_one_out(Y[:2], SEI[:2], mu_prior=MU, tau_prior=TAU)
