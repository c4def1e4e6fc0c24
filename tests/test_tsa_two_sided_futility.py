"""Two-sided beta-spending futility (the inner region -f_k < Z_k < f_k) against R rpact's getDesignGroupSequential
(sided = 2, typeBetaSpending, bindingFutility, betaAdjustment, twoSidedPower) and getDesignCharacteristics,
fixtures from tests/reference/make_rpact_tsa.R (full precision; rpact's own tolerance is 1e-8)."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from bayesmeta import tsa
from bayesmeta.cli import main
from bayesmeta.errors import InputError
from bayesmeta.tsa import inner_futility

RPACT = json.loads((Path(__file__).parent / "reference" / "rpact_tsa.json").read_text())
CASES = RPACT["two_sided_futility"]
SPENDING = {"asOF": "obf", "asP": "pocock"}


@functools.cache
def _design(index: int) -> tsa.Design:
    c = CASES[index]
    return tsa.design(c["rates"], alpha=c["alpha"], beta=c["beta"], spending=SPENDING[c["spending"]],
                      convention="per-side", sides=2, futility=c["futility"], futility_rule="rpact",
                      beta_adjustment=c["beta_adjustment"], two_sided_power=c["two_sided_power"])


def _label(index: int) -> str:
    c = CASES[index]
    return f"{c['spending']}-{len(c['rates'])}looks-{c['futility']}{'-2power' if c['two_sided_power'] else ''}"


# the designs of 3 looks (the non-binding one from the command line) and one of 5 looks whose first look has no futility region (rescaled beta spending); the
# other fixtures (5 looks binding, without beta adjustment, Pocock binding) take longer and agree as closely
# (1e-8, when the fixture was made); their spending rule is checked by test_beta_targets_follow_rpacts_adjustment
FAST = [1, 2, 6]


@pytest.mark.parametrize("index", FAST, ids=_label)
def test_two_sided_futility_designs_match_rpact(index):
    c, d = CASES[index], _design(index)
    b = d.boundaries
    np.testing.assert_allclose(b.efficacy, c["critical_values"], atol=1e-6)
    expected = np.array([-math.inf if v is None else v for v in c["futility_bounds"]])
    np.testing.assert_allclose(b.futility[:-1], expected, atol=1e-6)
    assert b.futility[-1] == b.efficacy[-1]
    np.testing.assert_allclose(b.alpha_spent, c["alpha_spent"], atol=1e-6)
    np.testing.assert_allclose(b.beta_spent, c["beta_spent"], atol=1e-6)
    assert d.inflation_factor == pytest.approx(c["inflation_factor"], abs=1e-6)
    assert d.drift == pytest.approx(c["drift"], abs=1e-6)
    assert b.futility_rule == "rpact" and d.futility == c["futility"]


@pytest.mark.parametrize("index", range(len(CASES)), ids=_label)
def test_beta_targets_follow_rpacts_adjustment(index):
    """rpact's beta spending: nothing at looks without a futility region; with betaAdjustment the later looks are
    rescaled so that beta is spent in full. Where a region exists rpact's betaSpent is the target itself."""
    c = CASES[index]
    signs = np.array([-1.0 if v is None else 1.0 for v in c["futility_bounds"]] + [1.0])
    target, open_ = inner_futility.beta_targets(np.array(c["rates"]), c["beta"], SPENDING[c["spending"]], signs,
                                                c["beta_adjustment"])
    np.testing.assert_allclose(target, c["beta_spent"], atol=1e-8)
    assert list(open_[:-1]) == [v is not None for v in c["futility_bounds"]]


def test_binding_lowers_efficacy_and_the_rules_differ():
    nb = tsa.design([0.5, 1], convention="per-side", futility="non-binding", futility_rule="rpact")
    bind = tsa.design([0.5, 1], convention="per-side", futility="binding")
    assert bind.boundaries.efficacy[0] == pytest.approx(nb.boundaries.efficacy[0], abs=1e-12)
    assert bind.boundaries.efficacy[1] < nb.boundaries.efficacy[1]
    assert bind.inflation_factor < nb.inflation_factor
    with pytest.raises(InputError, match="non-binding"):
        tsa.design([0.5, 0.75, 1], sides=2, futility="binding", futility_rule="rtsa")
    with pytest.raises(InputError, match="two-sided"):
        tsa.design([0.5, 0.75, 1], sides=1, futility="binding", futility_rule="rpact")


def test_cli_design_two_sided_futility_matches_rpact(capsys):
    """The non-binding 3-look design from the command line; binding two-sided futility takes rpact's rule."""
    c = CASES[0]
    args = ["tsa", "--fractions", "0.5,0.75,1", "--sides", "2", "--futility", "non-binding", "--futility-rule",
            "rpact", "--convention", "per-side"]
    assert main(args + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["boundaries"]["futility_rule"] == "rpact"
    np.testing.assert_allclose(out["boundaries"]["efficacy"], c["critical_values"], atol=1e-6)
    np.testing.assert_allclose(out["boundaries"]["futility"][:-1], c["futility_bounds"], atol=1e-6)
    assert out["inflation_factor"] == pytest.approx(c["inflation_factor"], abs=1e-6)
    assert main(["tsa", "--fractions", "0.5,1", "--sides", "2", "--futility", "binding"]) == 0
    assert "(rpact)" in capsys.readouterr().out


def test_cli_rejects_unsupported_combinations_in_one_line(capsys):
    code = main(["tsa", "--fractions", "0.5,1", "--sides", "2", "--futility", "binding", "--futility-rule", "rtsa"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "rpact" in err
    code = main(["tsa", "--fractions", "0.5,1", "--sides", "1", "--futility", "non-binding", "--two-sided-power"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "rpact" in err


def test_tsa_chart_draws_the_inner_futility_region():
    from bayesmeta.plots.tsa import plot_tsa

    r = tsa.tsa([-0.2, -0.1, -0.3], [0.01, 0.02, 0.015], sample_sizes=[400, 300, 500], p_control=0.2, mcid=0.8,
                study=list("ABC"), sides=2, futility="non-binding", futility_rule="rpact")
    assert r.futility_rule == "rpact" and r.boundaries.futility_rule == "rpact"
    ax = plot_tsa(r).axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    upper, lower = lines["futility region (rpact, non-binding)"], lines["_futility lower"]
    assert "futility region (rpact, non-binding)" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(ax.collections) == 1  # the shaded region between -f_k and f_k
    b = r.boundaries
    has = np.isfinite(b.futility) & (b.futility > 0)
    assert has.sum() >= 2
    np.testing.assert_allclose(upper.get_xdata(), b.fractions[has] * r.ris_rounded, rtol=1e-12)
    np.testing.assert_allclose(upper.get_ydata(), b.futility[has], rtol=1e-12)
    np.testing.assert_allclose(lower.get_ydata(), -b.futility[has], rtol=1e-12)


def _plan_with(tmp_path: Path, extra: str) -> Path:
    """The HAIC plan (data paths made absolute) with ``extra`` keys in its [tsa.DCR] table."""
    root = Path(__file__).resolve().parents[1]
    text = (root / "models" / "haic.toml").read_text()
    for rel in ("data/haic_studies.csv", "data/haic_outcomes.csv", "data/published_results.csv"):
        text = text.replace(f'"{rel}"', f'"{root / rel}"')
    edited = text.replace("relative_risk_reduction = 0.15", "relative_risk_reduction = 0.15\n" + extra)
    assert edited != text
    path = tmp_path / "plan.toml"
    path.write_text(edited, encoding="utf-8")
    return path


def test_plan_reads_the_two_sided_futility_rule(tmp_path):
    from bayesmeta.plan import load_plan

    plan = load_plan(_plan_with(tmp_path, 'futility = "non-binding"\nfutility_rule = "rpact"\n'
                                          "beta_adjustment = false\ntwo_sided_power = true"))
    dcr = {t.outcome: t for t in plan.tsa}["DCR"]
    assert (dcr.futility_rule, dcr.beta_adjustment, dcr.two_sided_power) == ("rpact", False, True)
    plan = load_plan(_plan_with(tmp_path, 'futility = "binding"'))
    assert {t.outcome: t for t in plan.tsa}["DCR"].futility_rule is None  # rpact's, the default for binding
    with pytest.raises(InputError) as info:
        load_plan(_plan_with(tmp_path, 'futility = "binding"\nfutility_rule = "rtsa"'))
    assert "tsa.DCR.futility_rule" in str(info.value) and "\n" not in str(info.value)


def test_tiny_first_fraction_under_the_tsa_programs_convention():
    """O'Brien-Fleming spending at t = 0.001 underflows; the one-sided design that decides which looks have a
    futility region spends on the log scale, so the first boundary is the closed form z_{0.975} / sqrt(t)."""
    b = tsa.boundaries([0.001, 0.5, 1.0], beta=0.2, sides=2, binding=True)
    assert b.futility_rule == "rpact"
    assert b.efficacy[0] == pytest.approx(1.959963984540054 / math.sqrt(0.001), rel=1e-9)
    assert b.futility[0] == -math.inf and 0 < b.futility[1] < b.efficacy[1]
    assert np.all(np.isfinite(b.efficacy)) and b.beta_spent[0] == 0.0
