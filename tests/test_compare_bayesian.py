"""`bayesmeta compare --plan`: the report's Bayesian cell beside each published pooled row and the declared strata's
within-trial interactions (bayesmeta/reanalysis/compare_plan.py). The common-effect cell against the report's own
cell built by the library (Li et al. 2007 magnesium gallery plan, whose review printed a common-effect and a
random-effects OR) and against the conjugate normal update of its prior by hand; with a flat mu prior against
metafor 3.8-1's method="FE" (tests/reference/bcg_metafor.json, dat.bcg log RR); the interactions of the Zelniker
et al. 2019 strata against metafor's rma(yi = d, vi = v) (tests/reference/strata_metafor.json, as
tests/test_subgroup_interaction.py). Exact engine only."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayesmeta.cli import main

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "tests" / "reference"
MAGNESIUM = ROOT / "models" / "gallery" / "magnesium_mi.toml"
FIELDS = ("estimate", "se", "ci_lower", "ci_upper", "pval", "tau2")


def _json(capsys, *args: str) -> dict:
    assert main(["compare", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _report_cells() -> tuple[dict[str, dict], np.ndarray, np.ndarray, float, float]:
    """The report's comparison rows of the magnesium plan's pooled rows, built as bayesmeta.reanalysis builds them
    (effects_for, the oriented main prior set, fit_exact, posterior_record, _pooled_rows), with the studies'
    log ORs, their variances and the main set's normal mu prior."""
    from bayesmeta.compare import compare_pooled
    from bayesmeta.data import load_outcomes, load_published
    from bayesmeta.effects import effects_for
    from bayesmeta.exact import fit_exact
    from bayesmeta.plan import load_plan
    from bayesmeta.priors import load_prior_sets
    from bayesmeta.reanalysis.comparison import _pooled_rows
    from bayesmeta.reanalysis.outcome import derived_seed, oriented_prior_set, outcome_data, posterior_record

    plan = load_plan(MAGNESIUM)
    o = plan.outcomes[0]
    main_set = oriented_prior_set(load_prior_sets(plan.priors_file)[plan.main_prior], o)
    effects = effects_for(o.name, load_outcomes(plan.outcomes_file), None, o.zero_cells, o.vtype)
    data = outcome_data(effects, o)
    seed = derived_seed(plan.seed, "exact", o.name)
    post = fit_exact(data, mu_prior=main_set.mu, tau_prior=main_set.tau, seed=seed)
    a = SimpleNamespace(plan=o, name=o.name, bayes=posterior_record(post, data, main_set.mu, o, plan.level, seed))
    pooled = compare_pooled(effects, load_published(str(plan.published)), plan.pooling)
    rows = {r.published_model: _pooled_rows(a, r, plan)[0] for r in pooled.itertuples(index=False)}
    return rows, data.yi, data.sei**2, main_set.mu.mean, main_set.mu.sd


def test_the_common_effect_cell_is_the_reports_and_the_conjugate_update(capsys):
    out = _json(capsys, str(ROOT / "data" / "gallery" / "magnesium_mi" / "published.csv"), "--plan", str(MAGNESIUM))
    mine = {r["published_model"]: r for r in out["pooled"]}
    report, y, v, m0, s0 = _report_cells()
    assert set(mine) == set(report) == {"common", "random"}
    for model in ("common", "random"):
        for column in ("bayesian", "bayesian_value", "bayesian_statement"):
            assert mine[model][column] == report[model][column], (model, column)
    # the conjugate normal update of the main set's mu prior (Spiegelhalter et al. 2004, 3.6), by hand
    precision = 1 / s0**2 + np.sum(1 / v)
    mean = (m0 / s0**2 + np.sum(y / v)) / precision
    assert mine["common"]["bayesian_value"] == pytest.approx(np.exp(mean), rel=1e-12)
    z = stats.norm.ppf(0.975)
    lo, hi = np.exp(mean - z * precision**-0.5), np.exp(mean + z * precision**-0.5)
    assert mine["common"]["bayesian"].startswith(
        f"common effect (weakly_informative): median {np.exp(mean):.2f} ({lo:.2f} to {hi:.2f}); P(OR < 0.9) ")
    # the random-effects row keeps the random-effects posterior, whose interval is the wider one here
    assert mine["random"]["bayesian"].startswith("random effects (weakly_informative): median ")
    assert mine["random"]["bayesian_value"] < 0.7 < mine["common"]["bayesian_value"]


def _bcg_folder(tmp_path: Path) -> Path:
    """dat.bcg's log RRs as an outcome, a published common-effect row, and a main prior set with a flat mu."""
    bcg = pd.read_csv(REF / "bcg.csv")
    pd.DataFrame({"study_id": bcg["study"], "outcome": "TB", "measure": "RR", "yi": bcg["yi"], "vi": bcg["vi"]}) \
        .to_csv(tmp_path / "outcomes.csv", index=False)
    (tmp_path / "published.csv").write_text(
        "outcome,analysis,variable,level,k,measure,estimate,ci_lower,ci_upper,p_value,p_relation,i2_percent,where,"
        "model\nTB,pooled,all,all,13,RR,0.65,0.60,0.70,,,,Table 1,common\n")
    (tmp_path / "priors.toml").write_text('[flat_mu]\nmu = "flat"\ntau = "halfnormal(0.5)"\nbeta = "normal(0, 1)"\n')
    (tmp_path / "plan.toml").write_text(
        'title = "BCG"\n[data]\noutcomes = "outcomes.csv"\npublished = "published.csv"\npriors = "priors.toml"\n'
        'pooling = "FE"\n[priors]\nmain = "flat_mu"\nsensitivity = []\n'
        '[outcomes.TB]\nmeasure = "RR"\nbenefit = "below"\nthresholds = [1.0]\n')
    return tmp_path


def test_with_a_flat_prior_the_common_effect_cell_is_metafors_fe(tmp_path, capsys):
    folder = _bcg_folder(tmp_path)
    fe = json.loads((REF / "bcg_metafor.json").read_text())["FE"]
    (row,) = _json(capsys, str(folder / "published.csv"), "--plan", str(folder / "plan.toml"))["pooled"]
    assert row["bayesian_value"] == pytest.approx(np.exp(fe["estimate"]), rel=1e-9)
    cell = f"{np.exp(fe['estimate']):.2f} ({np.exp(fe['ci_lower']):.2f} to {np.exp(fe['ci_upper']):.2f})"
    assert row["bayesian"].startswith(f"common effect (flat_mu): median {cell}; P(RR < 1) ")
    assert row["rule_estimate"] == pytest.approx(row["bayesian_value"], rel=1e-9)  # metafor's FE, two ways round


def test_without_a_plan_the_column_says_it_needs_one(tmp_path, capsys):
    folder = _bcg_folder(tmp_path)
    args = [str(folder / "published.csv"), "--outcomes", str(folder / "outcomes.csv")]
    (row,) = _json(capsys, *args)["pooled"]
    assert (row["bayesian"], row["bayesian_value"]) == ("- (needs a plan's priors: --plan)", None)
    assert main(["compare", *args]) == 0
    text = capsys.readouterr().out
    assert ("bayesian: needs a plan's priors (--plan PLAN.toml): the report's Bayesian cells use the plan's main prior "
            "set") in text
    assert "┃ bayesian" not in text  # no column of dashes


def _zelniker(tmp_path: Path) -> Path:
    shutil.copy(REF / "zelniker2019_outcomes.csv", tmp_path / "outcomes.csv")
    shutil.copy(REF / "zelniker2019_published.csv", tmp_path / "published.csv")
    (tmp_path / "plan.toml").write_text(
        'title = "Zelniker 2019"\n[data]\noutcomes = "outcomes.csv"\npublished = "published.csv"\npooling = "FE"\n'
        '[outcomes.MACE]\nmeasure = "HR"\nbenefit = "below"\n'
        '[outcomes.MACE_ASCVD]\nmeasure = "HR"\nbenefit = "below"\nstrata_of = "MACE"\nsubgroup = "ascvd"\n')
    return tmp_path


def test_the_within_trial_interactions_are_metafors(tmp_path, capsys):
    folder = _zelniker(tmp_path)
    args = [str(folder / "published.csv"), "--plan", str(folder / "plan.toml")]
    (found,) = _json(capsys, *args)["subgroup_interactions"]
    ref = json.loads((REF / "strata_metafor.json").read_text())["interaction"]
    assert (found["outcome"], found["strata"], found["level"], found["reference"]) == \
        ("MACE", "MACE_ASCVD", ref["level"], ref["reference"])
    assert found["trials"] == ref["trials"] and found["k"] == 2
    assert list(found["not_contributing"]) == ref["not_contributing"]
    for model in ("common", "random"):
        for f in FIELDS:
            assert found[model][f] == pytest.approx(ref[model][f], abs=1e-6), (model, f)
    assert found["across"]["q_between"] == pytest.approx(3.27, abs=0.005)  # the test for subgroup differences
    assert main(["compare", *args]) == 0
    text = capsys.readouterr().out
    after = text[text.index("Published subgroup rows"):]  # printed after the subgroup rows
    assert "Within-trial interactions" in after
    est, lo, hi = (np.exp(ref["common"][f]) for f in ("estimate", "ci_lower", "ci_upper"))
    assert f"{est:.2f} [{lo:.2f}, {hi:.2f}], p {ref['common']['pval']:.3g}" in after
    assert f"p {ref['random']['pval']:.3g}, tau^2 {ref['random']['tau2']:.3g}" in after
    assert "EMPA-REG OUTCOME (only level yes)" in after


def test_without_strata_there_are_no_interactions(tmp_path, capsys):
    folder = _bcg_folder(tmp_path)
    out = _json(capsys, str(folder / "published.csv"), "--plan", str(folder / "plan.toml"))
    assert out["subgroup_interactions"] == []
