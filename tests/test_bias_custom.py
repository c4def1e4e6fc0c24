"""User-defined bias ensembles: the plan's [[bias.models]] and `bayesmeta bias --models FILE.toml` give the same
posterior model probabilities and inclusion Bayes factors as bayesmeta.bias.fit_bias with the same mappings; the
named psma and metabma ensembles written out model by model reproduce the named ones (and metaBMA's published
effect BF for the power-pose data, Gronau et al. 2017); each bad table gives a one-line error naming its key."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bayesmeta.benefit import Benefit
from bayesmeta.bias import fit_bias, get_ensemble, psma_ensemble
from bayesmeta.cli import main
from bayesmeta.effect_data import EffectData
from bayesmeta.errors import InputError
from bayesmeta.plan import load_bias_models, load_plan
from bayesmeta.reanalysis.bias import bias_analysis
from bayesmeta.report.sections import Paragraph, _bias
from tests.test_report_bias import BCG, small_plan

ROOT = Path(__file__).resolve().parents[1]
POWER_POSE = ROOT / "tests" / "reference" / "power_pose.csv"
MAPPINGS = [
    {"effect": False, "heterogeneity": True},
    {"effect": True, "heterogeneity": True, "prior_weight": 2},
    {"effect": True, "heterogeneity": False, "bias": "PET", "prior_weight": 0.5},
    {"effect": True, "heterogeneity": True, "bias": "PEESE"},
    {"effect": True, "heterogeneity": True, "bias": "selection", "sided": "one", "cutoffs": [0.025, 0.05],
     "prior_weight": 1.5},
]


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return repr(v)


def _tables(prefix: str, mappings: list[dict]) -> str:
    return "".join(f"\n[[{prefix}]]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in m.items())
                   for m in mappings)


def _spec_mapping(m) -> dict:
    out = {"effect": m.effect, "heterogeneity": m.heterogeneity, "bias": m.bias, "prior_weight": m.prior_weight}
    if m.weights is not None:
        out.update(sided=m.weights.sided, cutoffs=list(m.weights.cutoffs), alpha=list(m.weights.alpha))
    return out


def test_a_custom_plan_ensemble_equals_fit_bias_with_the_same_mappings(tmp_path):
    plan = load_plan(small_plan(tmp_path, "[bias]\nmin_k = 3" + _tables("bias.models", MAPPINGS)))
    assert plan.bias.ensemble == "custom" and len(plan.bias.models) == 5
    yi, sei = BCG[:, 0], BCG[:, 1]
    data = EffectData(study=tuple(f"s{i}" for i in range(len(yi))), yi=yi, sei=sei, measure="RR",
                      benefit=Benefit.ABOVE)
    out = bias_analysis(data, plan.bias, 0.95)
    direct = fit_bias(yi, sei, measure="RR", ensemble=MAPPINGS)
    assert out["ensemble"] == "custom" and [m["model"] for m in out["models"]] == [m.name for m in direct.models]
    assert [m["model"] for m in out["models"]] == ["H0 RE none", "H1 RE none", "H1 FE PET", "H1 RE PEESE",
                                                   "H1 RE one-sided (0.025, 0.05)"]
    # prior probabilities: the weights 1, 2, 0.5, 1 (missing), 1.5 normalised by their sum 6
    np.testing.assert_allclose([m["prior_prob"] for m in out["models"]], np.array([1, 2, 0.5, 1, 1.5]) / 6,
                               rtol=1e-15)
    np.testing.assert_allclose([m["post_prob"] for m in out["models"]], [m.post_prob for m in direct.models],
                               rtol=1e-12, atol=1e-300)
    for comp, inc in direct.inclusion.items():
        assert out["inclusion"][comp]["bf"] == pytest.approx(inc.bf, rel=1e-12)
    # the report's section names the ensemble and lists its models in the model table
    summary = {"level": 0.95, "outcomes": {"ORR": {"label": "ORR", "measure": "RR", "skipped": {},
                                                   "bias": out}}}
    blocks = _bias(summary)
    assert any(isinstance(b, Paragraph) and "custom ensemble of 5 models" in b.text for b in blocks)
    assert "H1 RE one-sided (0.025, 0.05)" in repr(blocks)


def test_psma_written_out_as_a_models_file_reproduces_the_named_psma(tmp_path):
    path = tmp_path / "psma.toml"
    path.write_text(_tables("models", [_spec_mapping(m) for m in psma_ensemble().models]))
    models = load_bias_models(path)
    assert models == psma_ensemble().models
    yi, sei = BCG[:8, 0], BCG[:8, 1]
    custom = fit_bias(yi, sei, measure="RR", ensemble=get_ensemble(list(models)))
    named = fit_bias(yi, sei, measure="RR", ensemble="psma")
    np.testing.assert_allclose([m.post_prob for m in custom.models], [m.post_prob for m in named.models],
                               rtol=1e-12, atol=1e-300)
    for comp, inc in named.inclusion.items():
        assert custom.inclusion[comp].bf == pytest.approx(inc.bf, rel=1e-12)


def test_metabma_as_four_user_models_reproduces_the_named_ensemble(tmp_path, capsys):
    path = tmp_path / "metabma.toml"
    path.write_text(_tables("models", [{"effect": e, "heterogeneity": h} for e in (False, True)
                                       for h in (False, True)]))
    priors = ["--mu-prior", "cauchy(0, 0.7071067811865476)+", "--tau-prior", "invgamma(1, 0.15)"]
    runs = []
    for choice in (["--models", str(path)], ["--ensemble", "metabma"]):
        assert main(["bias", str(POWER_POSE), "--measure", "SMD", "--benefit", "above", "--json", *choice,
                     *priors]) == 0
        runs.append(json.loads(capsys.readouterr().out))
    user, named = runs
    assert user["ensemble"] == "custom" and named["ensemble"] == "metabma"
    assert [m["model"] for m in user["models"]] == [m["model"] for m in named["models"]]
    np.testing.assert_allclose([m["post_prob"] for m in user["models"]], [m["post_prob"] for m in named["models"]],
                               rtol=1e-12)
    for comp in ("effect", "heterogeneity"):
        assert user["inclusion"][comp]["bf"] == pytest.approx(named["inclusion"][comp]["bf"], rel=1e-12)
    assert user["inclusion"]["effect"]["bf"] == pytest.approx(33.136, rel=2e-4)  # Gronau et al. 2017


def test_a_model_of_prior_weight_zero_takes_no_mass():
    yi, sei = BCG[:, 0], BCG[:, 1]
    with_zero = fit_bias(yi, sei, measure="RR", ensemble=MAPPINGS[:4] + [{"bias": "PET", "prior_weight": 0}])
    without = fit_bias(yi, sei, measure="RR", ensemble=MAPPINGS[:4])
    assert with_zero.models[-1].prior_prob == 0.0 and with_zero.models[-1].post_prob == 0.0
    np.testing.assert_allclose([m.post_prob for m in with_zero.models[:4]], [m.post_prob for m in without.models],
                               rtol=1e-12)


@pytest.mark.parametrize("tables, key, words", [
    ('[[bias.models]]\nefect = true', "bias.models[0].efect", "unknown key"),
    ('[[bias.models]]\n[[bias.models]]\nprior_weight = -1', "bias.models[1].prior_weight", "negative"),
    ('[[bias.models]]\nbias = "selection"\ncutoffs = [0.05, 0.025]', "bias.models[0].cutoffs", "increasing"),
    ('[[bias.models]]\nbias = "selection"\ncutoffs = [0.05, 1.5]', "bias.models[0].cutoffs", "(0, 1)"),
    ('[[bias.models]]\nbias = "selection"\ncutoffs = []', "bias.models[0].cutoffs", "increasing"),
    ('[[bias.models]]\nbias = "funnel"', "bias.models[0].bias", "PEESE"),
    ('[[bias.models]]\nbias = "PET"\ncutoffs = [0.05]', "bias.models[0].cutoffs", "selection"),
    ('[[bias.models]]\nbias = "selection"\ncutoffs = [0.05]\nalpha = [1, 1, 1]', "bias.models[0].alpha",
     "2 positive"),
    ('[[bias.models]]\neffect = "yes"', "bias.models[0].effect", "true or false"),
    ('[[bias.models]]\nprior_weight = 0\n[[bias.models]]\neffect = false\nprior_weight = 0',
     "bias.models[*].prior_weight", "0"),
    ('[[bias.models]]\n[[bias.models]]\nprior_weight = 3', "bias.models[1]", "same model as bias.models[0]"),
    ("models = []", "bias.models", "empty list"),
    ('ensemble = "custom"', "bias.models", "missing"),
    ('ensemble = "psma"\n[[bias.models]]', "bias.models", "custom"),
])
def test_bad_models_give_a_one_line_error_naming_the_key(tmp_path, tables, key, words):
    with pytest.raises(InputError) as err:
        load_plan(small_plan(tmp_path, f"[bias]\n{tables}"))
    text = str(err.value)
    assert f"key '{key}'" in text and words in text and "\n" not in text


def test_the_cli_reports_a_bad_models_file_in_one_line_with_exit_2(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[[models]]\nbias = "selection"\ncutoffs = [0.5, 0.05]\n')
    assert main(["bias", str(POWER_POSE), "--measure", "SMD", "--models", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "key 'models[0].cutoffs'" in err and str(path) in err
    assert err.count("\n") == 1
    assert main(["bias", str(POWER_POSE), "--measure", "SMD", "--models", str(path), "--ensemble", "psma"]) == 2
    assert "exclude each other" in capsys.readouterr().err


def test_a_component_every_model_has_gets_no_inclusion_bayes_factor():
    # every model has heterogeneity (as in the README's example): no heterogeneity BF; the bias BF is the posterior
    # odds of the bias models over their prior odds (weights PEESE 1 + selection 1.5 against 1 + 2)
    mappings = [m for m in MAPPINGS if m["heterogeneity"]]
    fit = fit_bias(BCG[:, 0], BCG[:, 1], measure="RR", ensemble=mappings)
    assert "heterogeneity" not in fit.inclusion
    post = {m.name: m.post_prob for m in fit.models}
    biased = post["H1 RE PEESE"] + post["H1 RE one-sided (0.025, 0.05)"]
    expected = (biased / (1 - biased)) / ((1 + 1.5) / (1 + 2))
    assert fit.inclusion["bias"].bf == pytest.approx(expected, rel=1e-9)
