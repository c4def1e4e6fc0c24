"""The plan's [bias] section and the per-outcome bias analysis of the reanalysis: defaults, one-line errors naming
the key for bad values, and bayesmeta.reanalysis.bias.bias_analysis against a direct bayesmeta.bias.fit_bias call
(signs flipped where benefit lies below the null, kept where it lies above). The report's section, figures and
summary.json are checked on the synthetic reanalysis in tests/test_report.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bayesmeta.benefit import Benefit
from bayesmeta.bias import fit_bias
from bayesmeta.effect_data import EffectData
from bayesmeta.errors import InputError
from bayesmeta.plan import BiasPlan, load_plan
from bayesmeta.reanalysis.bias import bias_analysis, bias_ensemble

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = ROOT / "tests" / "reference" / "reanalysis_synthetic"
# dat.bcg (metafor): log RR and its standard error of the 13 BCG trials
BCG = np.array([[-0.8893, 0.5706], [-1.5854, 0.4411], [-1.3481, 0.4158], [-1.4416, 0.1413], [-0.2175, 0.2267],
                [-0.7861, 0.0841], [-1.6209, 0.2238], [0.0120, 0.0630], [-0.4694, 0.2367], [-1.3713, 0.2703],
                [-0.3394, 0.1119], [0.4459, 0.7276], [-0.0173, 0.2668]])


def small_plan(folder: Path, bias: str) -> Path:
    """The synthetic plan's AE and ORR outcomes with the given [bias] section."""
    files = {key: SYNTHETIC / f"{key}.{ext}" for key, ext in
             (("studies", "csv"), ("outcomes", "csv"), ("published", "csv"), ("priors", "toml"))}
    path = folder / "plan.toml"
    path.write_text(f"""title = "Bias section test"
[data]
studies = "{files['studies']}"
outcomes = "{files['outcomes']}"
published = "{files['published']}"
priors = "{files['priors']}"
[priors]
main = "weakly_informative"
[outcomes.AE]
measure = "RR"
benefit = "below"
thresholds = [1.0]
[outcomes.ORR]
measure = "RR"
benefit = "above"
thresholds = [1.0]
{bias}
""")
    return path


def test_defaults_and_choices(tmp_path):
    plan = load_plan(small_plan(tmp_path, ""))
    assert plan.bias == BiasPlan(enabled=True, outcomes=("AE", "ORR"), min_k=10, ensemble="pet-peese")
    chosen = load_plan(small_plan(tmp_path, '[bias]\nenabled = false\noutcomes = ["AE"]\nmin_k = 3\n'
                                            'ensemble = "psma"'))
    assert chosen.bias == BiasPlan(enabled=False, outcomes=("AE",), min_k=3, ensemble="psma")


@pytest.mark.parametrize("section, key", [
    ('ensemble = "robma"', "bias.ensemble"),
    ("min_k = 2", "bias.min_k"),
    ("min_k = 5.5", "bias.min_k"),
    ('enabled = "yes"', "bias.enabled"),
    ('outcomes = ["OS"]', "bias.outcomes[0]"),
    ("prior = 1", "bias.prior"),
])
def test_bad_bias_values_give_a_one_line_error_naming_the_key(tmp_path, section, key):
    with pytest.raises(InputError) as err:
        load_plan(small_plan(tmp_path, f"[bias]\n{section}"))
    text = str(err.value)
    assert f"key '{key}'" in text and "\n" not in text


def test_the_pet_peese_ensemble_is_psma_without_its_selection_models():
    ens = bias_ensemble("pet-peese")
    prior = dict(zip((m.name for m in ens.models), ens.prior_probabilities()))
    assert len(prior) == 12 and sum(prior.values()) == pytest.approx(1.0)
    assert prior["H1 RE none"] == pytest.approx(1 / 8) and prior["H0 FE PET"] == pytest.approx(1 / 16)
    assert sum(p for name, p in prior.items() if not name.endswith("none")) == pytest.approx(0.5)


@pytest.mark.parametrize("benefit", [Benefit.BELOW, Benefit.ABOVE])
def test_bias_analysis_equals_a_direct_fit_with_the_direction_of_benefit(benefit):
    yi, sei = BCG[:, 0], BCG[:, 1]
    data = EffectData(study=tuple(f"s{i}" for i in range(len(yi))), yi=yi, sei=sei, measure="RR", benefit=benefit)
    out = bias_analysis(data, BiasPlan(ensemble="pet-peese"), 0.95)
    sign = -1.0 if benefit.below else 1.0
    direct = fit_bias(sign * yi, sei, measure="RR", ensemble=bias_ensemble("pet-peese"))
    assert out["flipped"] is benefit.below and out["ensemble"] == "pet-peese" and out["k"] == 13
    np.testing.assert_allclose([m["post_prob"] for m in out["models"]], [m.post_prob for m in direct.models],
                               rtol=1e-12, atol=1e-300)
    assert out["inclusion"]["bias"]["bf"] == pytest.approx(direct.inclusion["bias"].bf, rel=1e-12)
    lo, hi = direct.mu.interval(0.95)
    mu = out["mu"]["analysis"]
    assert mu["median"] == pytest.approx(sign * direct.mu.median(), abs=1e-12)
    assert [mu["ci_lower"], mu["ci_upper"]] == pytest.approx(sorted([sign * lo, sign * hi]), abs=1e-12)
    assert mu["mean"] == pytest.approx(sign * direct.mu.mean()) and mu["sd"] == pytest.approx(direct.mu.std())
    for key in ("median", "ci_lower", "ci_upper"):
        assert out["mu"]["reported"][key] == pytest.approx(np.exp(mu[key]))
    unadj = out["mu_unadjusted"]["analysis"]
    assert unadj["median"] == pytest.approx(sign * direct.mu_unadjusted.median(), abs=1e-12)
    h1re = next(m for m in out["models"] if m["model"] == "H1 RE none")["mu"]["analysis"]
    assert h1re["median"] == pytest.approx(sign * direct.models[3].mu.median(), abs=1e-12)


def test_the_model_probability_figure_draws_each_models_prior_and_posterior():
    from bayesmeta.plots.bias import plot_model_probabilities

    models = [{"model": "H0 FE none", "prior_prob": 0.25, "post_prob": 0.05},
              {"model": "H1 RE PET", "prior_prob": 0.75, "post_prob": 0.95}]
    fig = plot_model_probabilities(models, notes=["inclusion BF bias: 6.33"], title="t")
    (ax,) = fig.axes
    widths = sorted(round(p.get_width(), 12) for p in ax.patches)
    assert widths == [0.05, 0.25, 0.75, 0.95]
    top_down = sorted(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels())), reverse=True)
    assert [label for _, label in top_down] == ["H0 FE none", "H1 RE PET"]  # the ensemble's order from the top
