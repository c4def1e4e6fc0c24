"""A published meta-regression p-value that `compare` does not cover (reanalysis.comparison._other_covariate_rows)
counts the studies with a value of its covariate: Bangert-Drowns et al. (2004), length in weeks, missing for 2 of
48 studies, which metafor's rma(mods = ~ length) leaves out (k = 46; tests/reference/make_compare_fixtures.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesmeta.benefit import Benefit
from bayesmeta.plan import OutcomePlan
from bayesmeta.priors import load_prior_sets
from bayesmeta.reanalysis.comparison import _other_covariate_rows
from bayesmeta.reanalysis.metaregression import metaregression
from bayesmeta.reanalysis.result import OutcomeAnalysis

BD = json.loads((Path(__file__).parent / "reference" / "compare_metafor.json").read_text())["bangertdrowns2004"]


def test_the_row_counts_the_studies_with_a_value_of_its_covariate_as_metafor_does():
    vi = np.asarray(BD["vi"], float)
    effects = pd.DataFrame({"study_id": BD["study"], "yi": BD["yi"], "vi": vi, "sei": np.sqrt(vi),
                            "length": [np.nan if v is None else float(v) for v in BD["length"]]})
    o = OutcomePlan("achievement", "achievement", "SMD", Benefit.ABOVE, (0.0,))
    fit = metaregression(effects, o, load_prior_sets()["vague"], "length", 0.95, 2)
    a = OutcomeAnalysis(plan=o, rows=effects, effects=effects, k_published=48, main_prior={}, metaregression=[fit])
    published = pd.DataFrame({"outcome": ["achievement"], "analysis": ["meta_regression"], "variable": ["length"],
                              "p_value": [0.04], "p_relation": ["="]})
    rows = _other_covariate_rows({"achievement": a}, published, "meta_regression", set())
    assert len(rows) == 1 and a.k == 48
    assert rows[0]["k_used"] == BD["length_fit"]["k"] == 46  # not the outcome's 48 studies
    assert rows[0]["recomputed_value"] == pytest.approx(BD["length_fit"]["qm_p"], rel=1e-6)
    assert rows[0]["status"] == "agree"  # published p 0.04 and metafor's 0.0398 both below 0.05
    assert _other_covariate_rows({"achievement": a}, published, "meta_regression", {("achievement", "length")}) == []
