"""The model space: RoBMA-PSMA's 36 models and prior probabilities, metaBMA's 4, user ensembles, and the priors
rescaled to the measure (Bartos et al. 2022; RoBMA's set_default_priors)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bayesmeta.bias import ModelSpec, WeightFunction, default_priors, get_ensemble, psma_ensemble
from bayesmeta.bias.selection import log_weight_prior
from bayesmeta.errors import ModelError


def test_psma_has_36_models_with_robma_prior_probabilities():
    ens = psma_ensemble()
    probs = dict(zip((m.name for m in ens.models), ens.prior_probabilities()))
    assert len(ens.models) == 36
    assert sum(probs.values()) == pytest.approx(1.0)
    no_bias = sum(p for m, p in zip(ens.models, probs.values()) if m.bias == "none")
    sel = [p for m, p in zip(ens.models, probs.values()) if m.bias == "selection"]
    pet = [p for m, p in zip(ens.models, probs.values()) if m.bias == "PET"]
    assert no_bias == pytest.approx(0.5)
    assert sum(sel) == pytest.approx(0.25) and len(sel) == 24 and max(sel) == pytest.approx(1 / 96)
    assert sum(pet) == pytest.approx(0.125)
    assert sum(p for m, p in zip(ens.models, probs.values()) if m.effect) == pytest.approx(0.5)


def test_metabma_and_user_ensembles():
    assert [m.name for m in get_ensemble("metabma").models] == ["H0 FE none", "H0 RE none", "H1 FE none",
                                                                 "H1 RE none"]
    ens = get_ensemble([{"effect": True, "heterogeneity": True},
                        {"bias": "selection", "sided": "one", "cutoffs": [0.025, 0.05], "prior_weight": 2}])
    assert ens.prior_probabilities() == pytest.approx([1 / 3, 2 / 3])
    assert ens.models[1].weights == WeightFunction("one", (0.025, 0.05))
    with pytest.raises(ModelError, match="unknown model key"):
        get_ensemble([{"efect": True}])
    with pytest.raises(ModelError, match="increasing"):
        WeightFunction("one", (0.5, 0.05))


def test_priors_scale_to_log_odds_ratio():
    d, lor = default_priors("SMD"), default_priors("OR")
    f = math.pi / math.sqrt(3)
    assert lor.mu.scale == pytest.approx(f * d.mu.scale)
    assert lor.tau.scale_ == pytest.approx(0.15 * f)
    assert lor.pet.scale == d.pet.scale == 1.0
    assert lor.peese.scale == pytest.approx(5.0 / f)
    with pytest.raises(ModelError, match="unit-information SD"):  # an MD without its unit is not guessed
        default_priors("MD")
    assert default_priors("RD").note


def test_cumulative_dirichlet_prior_is_a_density_on_the_unit_cube():
    import numpy as np

    wf = WeightFunction("one", (0.025, 0.05, 0.5), alpha=(1.0, 2.0, 3.0, 1.5))
    x, w = np.polynomial.legendre.leggauss(60)
    x, w = (x + 1) / 2, w / 2
    grid = np.meshgrid(x, x, x, indexing="ij")
    dens = np.exp(log_weight_prior(wf, grid))
    total = float(np.einsum("ijk,i,j,k->", dens, w, w, w))
    assert total == pytest.approx(1.0, abs=1e-4)  # the alpha = 1.5 factor has a sqrt singularity at the edge
    assert ModelSpec(True, False).name == "H1 FE none"


def test_grid_marginal_atom_is_a_jump_at_zero():
    """An atom of 0.3 at 0 with 0.7 N(0.5, 1): the CDF jumps by exactly 0.3 at 0 (not over a grid cell), levels
    within the jump give the quantile 0, and the others those of the normal part (closed form)."""
    from scipy import stats

    from bayesmeta.bias.marginals import GridMarginal

    x = np.linspace(-8.0, 9.0, 3401)
    g = GridMarginal(x, stats.norm.pdf(x, 0.5, 1.0), 0.3)
    below = 0.7 * stats.norm.cdf(0.0, 0.5, 1.0)
    assert float(g.cdf(-1e-12)) == pytest.approx(below, abs=1e-6)
    assert float(g.cdf(0.0)) == pytest.approx(below + 0.3, abs=1e-6)
    assert g.ppf(np.array([below + 0.01, below + 0.15, below + 0.29])).tolist() == [0.0, 0.0, 0.0]
    assert g.median() == 0.0
    for q in (0.05, 0.9):
        cont = q / 0.7 if q < below else (q - 0.3) / 0.7
        assert float(g.ppf(q)) == pytest.approx(stats.norm.ppf(cont, 0.5, 1.0), abs=1e-4)
