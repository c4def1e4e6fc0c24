"""Every analysis built on the normal likelihood y_i ~ N(theta_i, sei_i^2) refuses a posterior of the
binomial-normal model, or uses that model's own binomial likelihood; none silently refits a normal model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bayesmeta import ppc
from bayesmeta.errors import ModelError
from bayesmeta.exact import fit_exact
from bayesmeta.influence import influence
from bayesmeta.sensitivity import power_scaling

Y = np.array([-0.4, -0.1, -0.6, 0.2, -0.3])
SEI = np.array([0.2, 0.25, 0.3, 0.22, 0.18])


@pytest.fixture(scope="module")
def normal():
    return fit_exact(Y, SEI, mu_prior="normal(0, 4)", tau_prior="halfnormal(0.5)", measure="OR")


@pytest.fixture(scope="module")
def binomial(normal):
    """The same numbers labelled as a binomial-normal posterior: what a refusal must look at is the label."""
    return replace(normal, likelihood="binomial")


def test_engines_record_the_normal_likelihood(normal):
    assert normal.likelihood == "normal"
    assert normal.to_dict()["likelihood"] == "normal"
    assert normal.to_inference_data(200, 1).attrs["likelihood"] == "normal"


@pytest.mark.parametrize(
    "analysis",
    [
        lambda post: ppc.study_predictive_pvalues(post, loo=False),
        lambda post: ppc.loo_pit(post),
        lambda post: ppc.q_discrepancy_ppp(post, n_draws=200),
        lambda post: influence(post),
        lambda post: power_scaling(post),
        lambda post: post.to_inference_data(200, 1),
    ],
    ids=["posterior predictive", "LOO-PIT", "Q discrepancy", "influence", "power-scaling (exact)", "InferenceData"],
)
def test_normal_likelihood_analyses_refuse_a_binomial_posterior(normal, binomial, analysis):
    analysis(normal)  # the same analysis runs on the normal posterior
    with pytest.raises(ModelError, match="binomial"):
        analysis(binomial)


def test_a_binomial_posterior_gives_the_inference_data_of_its_own_likelihood(binomial):
    class Fitted:  # stands in for the InferenceData the binomial-normal fit keeps
        pass

    fitted = Fitted()
    with_idata = replace(binomial, extras={**binomial.extras, "idata": fitted})
    assert with_idata.to_inference_data() is fitted
