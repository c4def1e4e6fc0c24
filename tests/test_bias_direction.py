"""`bayesmeta bias --benefit`: the command line orients the effects as the report's bias section does (fitted to -yi
where benefit lies below the null, bayesmeta.bias.direction) and offers the plan's ensembles with the plan's
default. Data: Niel-Weise et al. (2007), anti-infective-treated central venous catheters and catheter-related
bloodstream infection, log odds ratios of metafor's escalc (tests/reference/make_nielweise2007.R; metafor's
dat.nielweise2007), where benefit lies below OR 1 and the small trials show the largest benefit."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from bayesmeta.benefit import Benefit
from bayesmeta.bias import fit_bias, get_ensemble
from bayesmeta.cli import main
from bayesmeta.cli.bias import DEFAULT_ENSEMBLE, EnsembleName
from bayesmeta.effect_data import EffectData
from bayesmeta.plan import BIAS_ENSEMBLES, BiasPlan
from bayesmeta.reanalysis.bias import bias_analysis

NIELWEISE = Path(__file__).parent / "reference" / "nielweise2007_or.csv"


def _effects() -> tuple[list[str], np.ndarray, np.ndarray]:
    with NIELWEISE.open() as f:
        rows = list(csv.DictReader(f))
    return [r["study"] for r in rows], np.array([float(r["yi"]) for r in rows]), np.array([float(r["sei"])
                                                                                          for r in rows])


def _cli(capsys, path: Path, *options: str) -> dict:
    assert main(["bias", str(path), "--measure", "OR", "--json", *options]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def report_path() -> dict:
    """The report's bias section of the outcome (benefit below, the plan's default ensemble, seed 7)."""
    study, yi, sei = _effects()
    data = EffectData(study=tuple(study), yi=yi, sei=sei, measure="OR", benefit=Benefit.BELOW)
    return bias_analysis(data, BiasPlan(), 0.95, seed=7)


def test_the_cli_defaults_reproduce_the_reports_bias_section(capsys, report_path):
    out = _cli(capsys, NIELWEISE, "--seed", "7")
    assert out["ensemble"] == report_path["ensemble"] == "pet-peese" and out["benefit"] == "below"
    assert out["flipped"] is True and report_path["flipped"] is True and out["k"] == 17
    assert [m["model"] for m in out["models"]] == [m["model"] for m in report_path["models"]]
    np.testing.assert_allclose([m["post_prob"] for m in out["models"]],
                               [m["post_prob"] for m in report_path["models"]], rtol=1e-12, atol=1e-300)
    for comp, inc in report_path["inclusion"].items():
        assert out["inclusion"][comp]["bf"] == pytest.approx(inc["bf"], rel=1e-12)
    for key in ("mu", "mu_conditional", "mu_unadjusted", "predictive"):
        for side in ("analysis", "reported"):
            assert out[key][side] == pytest.approx(report_path[key][side], rel=1e-12, abs=1e-15)
    for table in ("estimates", "estimates_conditional"):
        assert set(out[table]) == set(report_path[table]) == {"tau", "PET", "PEESE"}
        for name, e in report_path[table].items():
            assert out[table][name] == pytest.approx(e, rel=1e-12, abs=1e-15)


def test_the_cli_equals_a_direct_fit_to_minus_yi_turned_back_to_odds_ratios(capsys):
    """Against bayesmeta.bias.fit_bias on -yi with no orientation code in between: the averaged OR is exp(-mu)
    of that fit, its interval's ends swapped; PET's slope changes sign."""
    _, yi, sei = _effects()
    direct = fit_bias(-yi, sei, measure="OR", ensemble=get_ensemble("pet-peese"))
    out = _cli(capsys, NIELWEISE)
    lo, hi = direct.mu.interval(0.95)
    assert out["mu"]["reported"]["median"] == pytest.approx(np.exp(-direct.mu.median()), rel=1e-12)
    assert out["mu"]["reported"]["ci_lower"] == pytest.approx(np.exp(-hi), rel=1e-12)
    assert out["mu"]["reported"]["ci_upper"] == pytest.approx(np.exp(-lo), rel=1e-12)
    unadj = out["mu_unadjusted"]["reported"]
    assert unadj["median"] == pytest.approx(np.exp(-direct.mu_unadjusted.median()), rel=1e-12) and unadj["median"] < 1
    pet = direct.estimates(0.95)[1]["PET"].as_dict()
    assert out["estimates_conditional"]["PET"]["mean"] == pytest.approx(-pet["mean"], rel=1e-12)
    assert out["estimates_conditional"]["PET"]["ci_upper"] == pytest.approx(-pet["ci_lower"], rel=1e-12)
    assert out["inclusion"]["bias"]["bf"] == pytest.approx(direct.inclusion["bias"].bf, rel=1e-12)


def test_small_studies_with_larger_benefit_below_the_null_count_as_bias(capsys):
    """The small trials of this outcome report the lowest odds ratios (Egger-type asymmetry towards benefit), so
    with benefit below 1 the bias models must gain (BF > 1) and the averaged OR move towards 1 from the unadjusted
    one; with the wrong side (--benefit above) they look for larger ORs in small trials and lose (BF < 1)."""
    below = _cli(capsys, NIELWEISE, "--benefit", "below")
    above = _cli(capsys, NIELWEISE, "--benefit", "above")
    assert below["inclusion"]["bias"]["bf"] > 3 and above["inclusion"]["bias"]["bf"] < 1
    assert below["mu"]["reported"]["median"] > below["mu_unadjusted"]["reported"]["median"]
    # the no-bias models' prior on mu is symmetric: their OR does not depend on the side
    assert below["mu_unadjusted"]["reported"]["median"] == pytest.approx(above["mu_unadjusted"]["reported"]["median"],
                                                                         rel=1e-9)
    assert below["estimates_conditional"]["PET"]["ci_upper"] < 0  # smaller trials: ORs further below 1


def test_benefit_above_on_the_flipped_file_gives_the_same_bayes_factors(tmp_path, capsys):
    study, yi, sei = _effects()
    flipped = tmp_path / "flipped.csv"
    flipped.write_text("study,yi,sei\n" + "".join(f"{s},{-y:.6f},{e:.6f}\n" for s, y, e in zip(study, yi, sei)))
    for ensemble in ("pet-peese", "metabma"):
        below = _cli(capsys, NIELWEISE, "--ensemble", ensemble)
        above = _cli(capsys, flipped, "--ensemble", ensemble, "--benefit", "above")
        assert above["flipped"] is False and above["ensemble"] == ensemble
        for comp, inc in below["inclusion"].items():
            assert above["inclusion"][comp]["bf"] == pytest.approx(inc["bf"], rel=1e-12)
        for key in ("median", "ci_lower", "ci_upper"):  # the OR of the mirrored file is the reciprocal
            mirrored = {"median": "median", "ci_lower": "ci_upper", "ci_upper": "ci_lower"}[key]
            assert above["mu_conditional"]["reported"][key] == pytest.approx(
                1 / below["mu_conditional"]["reported"][mirrored], rel=1e-9)


def test_the_ensembles_are_the_plans_with_the_plans_default(tmp_path, capsys):
    assert {e.value for e in EnsembleName} == set(BIAS_ENSEMBLES) - {"custom"}
    assert DEFAULT_ENSEMBLE.value == BiasPlan().ensemble
    for name in BIAS_ENSEMBLES[:-1]:
        assert get_ensemble(name).name == name
    assert main(["bias", str(NIELWEISE), "--measure", "OR", "--ensemble", "robma"]) == 2
    assert main(["bias", str(NIELWEISE), "--measure", "OR", "--benefit", "left"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "below" in err


def test_the_printed_table_says_which_side_the_bias_models_looked_on(capsys):
    assert main(["bias", str(NIELWEISE), "--measure", "OR"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "model-averaged OR:" in text
    assert "benefit below the null (fitted to -yi" in text and "a negative PET or PEESE slope" in text
