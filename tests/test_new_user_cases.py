"""Two published meta-analyses entered as a new user would, from the README alone: Hackshaw et al. 1997 (37
odds ratios with printed 95% CIs; data/gallery/hackshaw_ets) and Normand 1999 (9 studies with arm means, SDs
and sizes; data/gallery/normand_stroke). Their pooling is checked against R metafor
(tests/reference/make_new_user_fixtures.R), and each friction met on the way has a test: the packaged log-ratio
priors meeting a mean difference, a published REML row recomputed with REML, the monitoring sentence of an
outcome without an MCID, and the TSA's missing --sd."""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesmeta.cli import main
from bayesmeta.compare import compare_pooled
from bayesmeta.errors import ReportedValueWarning
from bayesmeta.frequentist import rma
from bayesmeta.plan import load_plan
from bayesmeta.tables import read_effect_table

ROOT = Path(__file__).resolve().parents[1]
GALLERY = ROOT / "data" / "gallery"
HACKSHAW = GALLERY / "hackshaw_ets" / "outcomes.csv"
NORMAND = GALLERY / "normand_stroke" / "outcomes.csv"
REF = json.loads((ROOT / "tests" / "reference" / "new_user_metafor.json").read_text())


def _read(path: Path, measure: str):
    """The table as every verb reads it; the printed-CI warnings are checked on their own below."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReportedValueWarning)
        return read_effect_table(path, measure)


def _cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(args)
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("case, path, measure", [("hackshaw_ets", HACKSHAW, "OR"), ("normand_stroke", NORMAND, "MD"),
                                                 ("normand_stroke", NORMAND, "SMD")])
@pytest.mark.parametrize("method", ["FE", "DL", "REML"])
def test_pooling_of_the_csv_as_written_matches_metafor(case, path, measure, method):
    data = _read(path, measure)
    ref = REF[case][measure][method]
    fit = rma(data.yi, data.sei ** 2, method=method)
    assert len(data.yi) == REF[case]["k"]
    for key in ("estimate", "se", "ci_lower", "ci_upper", "tau2", "i2", "q"):
        assert getattr(fit, key) == pytest.approx(ref[key], rel=1e-6, abs=1e-9), key


def test_the_three_printed_cis_that_are_not_symmetric_on_the_log_scale_are_flagged():
    # 1.20 (0.80-1.60), 1.20 (0.50-3.30) and 1.60 (0.80-3.00): no rounding of two printed decimals makes them
    # symmetric about the estimate on the log scale; the 34 others are.
    with pytest.warns(ReportedValueWarning) as caught:
        read_effect_table(HACKSHAW, "OR")
    flagged = sorted(str(w.message).split(", row ")[1].split(",")[0] for w in caught
                     if issubclass(w.category, ReportedValueWarning))
    assert flagged == ["13", "31", "5"]


def test_a_published_row_that_names_its_estimator_is_recomputed_with_it():
    # Normand 1999, Table IX prints DerSimonian-Laird and REML; the REML row was recomputed with the plan's DL
    # (-13.98) and still called "reproduced".
    data = _read(NORMAND, "MD")
    effects = pd.DataFrame({"study_id": data.study, "outcome": "length_of_stay", "measure": "MD",
                            "yi": data.yi, "vi": data.sei ** 2})
    published = pd.read_csv(GALLERY / "normand_stroke" / "published.csv", keep_default_na=False,
                            na_values=[""])
    table = compare_pooled(effects, published, pooling="DL")
    reml = table[table["published_estimate"] == -15.12].iloc[0]
    assert reml["rule_model"] == "REML"
    assert reml["rule_estimate"] == pytest.approx(REF["normand_stroke"]["MD"]["REML"]["estimate"], rel=1e-6)
    dl = table[table["published_estimate"] == -14.10].iloc[0]
    assert dl["rule_estimate"] == pytest.approx(REF["normand_stroke"]["MD"]["DL"]["estimate"], rel=1e-6)
    common = table[table["published_estimate"] == -3.49].iloc[0]
    assert common["rule_estimate"] == pytest.approx(REF["normand_stroke"]["MD"]["FE"]["estimate"], rel=1e-6)


def test_fit_says_when_a_mean_difference_meets_the_log_ratio_priors():
    status, _, err = _cli(["fit", str(NORMAND), "--measure", "MD", "--json"])
    assert status == 0
    assert "note: the packaged priors" in err and "written for log ratios" in err and "1.08 to 12.3" in err
    status, _, err = _cli(["fit", str(NORMAND), "--measure", "MD", "--mu-prior", "normal(0, 26)",
                           "--tau-prior", "halfnormal(3.25)", "--json"])
    assert status == 0 and "note:" not in err
    status, _, err = _cli(["fit", str(HACKSHAW), "--measure", "OR", "--json"])
    assert status == 0 and "note:" not in err


def test_a_plan_without_priors_for_its_mean_difference_is_warned(tmp_path):
    from bayesmeta.reanalysis.outcome import prior_units_warnings

    (tmp_path / "plan.toml").write_text(f'title = "t"\n[data]\noutcomes = "{NORMAND.as_posix()}"\n'
                                        '[outcomes.length_of_stay]\nmeasure = "MD"\nbenefit = "below"\n')
    bare = load_plan(tmp_path / "plan.toml")
    own = load_plan(ROOT / "models" / "gallery" / "normand_stroke.toml")
    sei = _read(NORMAND, "MD").sei
    warned = prior_units_warnings(bare, "MD", sei)
    assert len(warned) == 1 and warned[0].startswith("priors: ") and "log ratios" in warned[0]
    assert prior_units_warnings(own, "MD", sei) == []
    assert prior_units_warnings(bare, "OR", np.array([0.1, 0.2])) == []


def test_the_monitoring_sentence_names_a_futility_rule_only_for_outcomes_with_an_mcid():
    from bayesmeta.report.sections import _futility_words

    base = {"outcomes": ["a", "b"], "futility_probability": 0.1}
    assert "no futility rule" in _futility_words({**base, "futility_mcid": {}})
    both = _futility_words({**base, "futility_mcid": {"a": 0.8, "b": 0.8}})
    assert both.startswith("or for futility") and "below 0.1" in both
    one = _futility_words({**base, "futility_mcid": {"a": 0.8}})
    assert "outcomes with an MCID: a" in one and "the others have no futility rule" in one


def test_tsa_of_a_mean_difference_without_sd_names_the_option():
    status, _, err = _cli(["tsa", str(NORMAND), "--mcid", "-7"])
    assert status == 2
    assert "'--sd'" in err and "None" not in err and "Traceback" not in err


def test_egger_asymmetry_on_the_harm_side_is_said_beside_the_bias_ensemble():
    # Hackshaw 1997: benefit below 1, Egger intercept +0.90 (p = 0.023; metafor regtest(model = "lm"):
    # t = 2.3824, p = 0.0228): the small studies lean towards harm, which PET/PEESE fitted on the benefit side
    # cannot describe.
    from bayesmeta.report.sections import _harm_side_asymmetry

    def outcome(benefit, intercept, p):
        return {"benefit": benefit, "frequentist": {"egger": {"intercept": intercept, "pval": p}}}

    text = _harm_side_asymmetry(outcome("below", 0.9019, 0.0228))
    assert text is not None and "harm side" in text and "+0.90" in text
    assert _harm_side_asymmetry(outcome("above", -0.9, 0.01)) is not None
    assert _harm_side_asymmetry(outcome("above", 0.9019, 0.0228)) is None  # benefit-side: the ensemble's own case
    assert _harm_side_asymmetry(outcome("below", -0.9, 0.01)) is None
    assert _harm_side_asymmetry(outcome("below", 0.9019, 0.30)) is None
    assert _harm_side_asymmetry({"benefit": "below", "frequentist": {"egger": None}}) is None
