"""The report's "Publication bias and model averaging" section (the plan's [bias] section): its numbers equal a
direct bayesmeta.bias.fit_bias call on the same effects (signs flipped where benefit lies below the null), its
figures exist, summary.json validates against the schema, the comparison table's Egger row carries the Bayesian
counterpart, and bad [bias] values give a one-line error naming the key."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from bayesmeta.bias import fit_bias
from bayesmeta.cli import main
from bayesmeta.errors import InputError
from bayesmeta.plan import load_plan
from bayesmeta.reanalysis.bias import bias_ensemble
from bayesmeta.report.formatting import interval, prob

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = ROOT / "tests" / "reference" / "reanalysis_synthetic"
SCHEMA = json.loads((ROOT / "bayesmeta" / "resources" / "summary.schema.json").read_text())


def small_plan(folder: Path, bias: str) -> Path:
    """The synthetic plan's AE (BCG, RR, benefit below 1, k = 13) and ORR (RR, benefit above 1, k = 5) outcomes
    with nothing but the per-outcome essentials, and the given [bias] section."""
    files = {key: SYNTHETIC / f"{key}.{ext}" for key, ext in
             (("studies", "csv"), ("outcomes", "csv"), ("published", "csv"), ("priors", "toml"))}
    text = f"""title = "Bias section test"
seed = 7
[data]
studies = "{files['studies']}"
outcomes = "{files['outcomes']}"
published = "{files['published']}"
priors = "{files['priors']}"
control_arm = "control"
pooling = "I2_rule"
[priors]
main = "weakly_informative"
[outcomes.AE]
label = "BCG trials"
measure = "RR"
benefit = "below"
thresholds = [1.0]
[outcomes.ORR]
label = "Response rate"
measure = "RR"
benefit = "above"
thresholds = [1.0]
[monitoring]
outcomes = []
[mcmc]
outcomes = []
{bias}
"""
    path = folder / "plan.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("bias_report")
    plan = small_plan(base, '[bias]\nmin_k = 5\nensemble = "pet-peese"')
    out = base / "report"
    assert main(["reanalyze", str(plan), "--out", str(out), "--quick", "--no-cache", "--quiet"]) == 0
    return out, json.loads((out / "summary.json").read_text())


@pytest.mark.parametrize("name, flipped", [("AE", True), ("ORR", False)])
def test_the_section_numbers_equal_a_direct_fit(built, name, flipped):
    _, summary = built
    o = summary["outcomes"][name]
    b = o["bias"]
    yi = np.array([e["yi"] for e in o["effects"]])
    sei = np.array([e["sei"] for e in o["effects"]])
    direct = fit_bias(-yi if flipped else yi, sei, measure="RR", ensemble=bias_ensemble("pet-peese"))
    sign = -1.0 if flipped else 1.0
    assert b["flipped"] is flipped and b["k"] == len(yi) == o["k"]
    assert [m["model"] for m in b["models"]] == [m.name for m in direct.models]
    np.testing.assert_allclose([m["post_prob"] for m in b["models"]], [m.post_prob for m in direct.models],
                               rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose([m["prior_prob"] for m in b["models"]], [m.prior_prob for m in direct.models])
    for component in ("effect", "heterogeneity", "bias"):
        assert b["inclusion"][component]["bf"] == pytest.approx(direct.inclusion[component].bf, rel=1e-9)
        assert b["inclusion"][component]["post_prob"] == pytest.approx(direct.inclusion[component].post_prob)
    lo, hi = direct.mu.interval(0.95)
    mu = b["mu"]["analysis"]
    assert mu["median"] == pytest.approx(sign * direct.mu.median(), abs=1e-12)
    assert (mu["ci_lower"], mu["ci_upper"]) == pytest.approx(sorted([sign * lo, sign * hi]), abs=1e-12)
    assert b["mu_atom_at_0"] == pytest.approx(direct.mu.atom)
    assert b["mu_unadjusted"]["analysis"]["median"] == pytest.approx(sign * direct.mu_unadjusted.median(), abs=1e-12)
    for key in ("median", "ci_lower", "ci_upper"):
        assert b["mu"]["reported"][key] == pytest.approx(np.exp(mu[key]))
    # the unadjusted effect lies near the exact engine's random-effects posterior (different priors: RoBMA's
    # N(0, (pi/sqrt(3))^2) and InvGamma(1, 0.15 * pi/sqrt(3)) against the plan's normal(0, 4), half-normal(0.5))
    assert abs(b["mu_unadjusted"]["analysis"]["median"] - o["bayes"]["mu"]["median"]) < 0.1


def test_the_report_writes_the_section_and_its_figures(built):
    out, summary = built
    md = (out / "report.md").read_text()
    section = md.split("## Publication bias and model averaging", 1)[1].split("\n## ", 1)[0]
    for name in ("AE", "ORR"):
        b = summary["outcomes"][name]["bias"]
        mu, un = b["mu"]["reported"], b["mu_unadjusted"]["reported"]
        assert interval(mu["median"], mu["ci_lower"], mu["ci_upper"]) in section
        assert interval(un["median"], un["ci_lower"], un["ci_upper"]) in section
        assert f"bias {b['inclusion']['bias']['bf']:.3g} (posterior probability " \
               f"{prob(b['inclusion']['bias']['post_prob'])})" in section
    figures = {f["id"]: f for f in summary["figures"]}
    for fid in ("bias_funnel_AE", "bias_models_AE", "bias_funnel_ORR", "bias_models_ORR"):
        assert figures[fid]["section"] == "bias"
        assert (out / figures[fid]["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({figures[fid]['png']})" in section


def test_the_summary_validates_and_the_egger_row_has_its_bayesian_counterpart(built):
    _, summary = built
    jsonschema.Draft202012Validator(SCHEMA).validate(summary)
    egger = [r for r in summary["comparison"] if r["outcome"] == "AE" and r["analysis"] == "egger"]
    inc = summary["outcomes"]["AE"]["bias"]["inclusion"]["bias"]
    assert len(egger) == 1 and egger[0]["bayesian_value"] == pytest.approx(inc["post_prob"])
    assert f"P(bias) = {inc['post_prob']:.2f}" in egger[0]["bayesian"]
    assert f"inclusion BF {inc['bf']:.2f}" in egger[0]["bayesian"]


def test_outcomes_below_min_k_or_disabled_are_skipped_with_the_reason(tmp_path):
    plan = load_plan(small_plan(tmp_path, ""))
    assert plan.bias.enabled and plan.bias.min_k == 10 and plan.bias.ensemble == "pet-peese"
    assert plan.bias.outcomes == ("AE", "ORR")
    off = load_plan(small_plan(tmp_path, "[bias]\nenabled = false\noutcomes = [\"AE\"]"))
    assert not off.bias.enabled and off.bias.outcomes == ("AE",)


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
