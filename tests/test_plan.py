"""The reanalysis plan: models/haic.toml loads with the paper's words; each planted error names its key path."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from bayesmeta.benefit import Benefit
from bayesmeta.errors import InputError
from bayesmeta.plan import load_plan

ROOT = Path(__file__).resolve().parents[1]
HAIC = ROOT / "models" / "haic.toml"


def _absolute_copy(tmp_path: Path, text: str) -> Path:
    """The HAIC plan with its data paths made absolute, written to tmp_path."""
    for rel in ("data/haic_studies.csv", "data/haic_outcomes.csv", "data/published_results.csv"):
        text = text.replace(f'"{rel}"', f'"{ROOT / rel}"')
    path = tmp_path / "plan.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_haic_plan_loads_with_its_settings():
    plan = load_plan(HAIC)
    assert [o.name for o in plan.outcomes] == ["OS", "PFS", "ORR", "DCR"]
    assert plan.outcome("OS").measure == "HR" and plan.outcome("OS").benefit is Benefit.BELOW
    assert plan.outcome("ORR").measure == "RR" and plan.outcome("ORR").benefit is Benefit.ABOVE
    assert plan.outcome("OS").thresholds == (0.7, 0.8, 1.0)
    assert plan.covariates == ("platinum", "systemic", "design")
    assert plan.covariate_levels["systemic"] == ("TKI", "ICI", "TKI+ICI")
    assert (plan.arms.treatment, plan.arms.control) == ("HAIC + systemic", "systemic alone")
    assert plan.favours(Benefit.BELOW) == ("favours HAIC + systemic", "favours systemic alone")
    assert plan.favours(Benefit.ABOVE) == ("favours systemic alone", "favours HAIC + systemic")
    assert plan.pooling == "I2_rule" and plan.priors_file.name == "priors.toml"
    assert plan.subsets["FOLFOX"].exclude == ("Zhao2019",)
    assert plan.studies == ROOT / "data" / "haic_studies.csv"
    published = pd.read_csv(ROOT / "data" / "published_results.csv")
    rates = published[(published["analysis"] == "rate") & (published["level"] == "systemic")]
    tsa = {t.outcome: t for t in plan.tsa}
    assert set(tsa) == {"ORR", "DCR"}
    for name in ("ORR", "DCR"):
        assert tsa[name].control_rate == pytest.approx(float(rates.loc[rates["outcome"] == name, "estimate"].iloc[0]))
    assert tsa["ORR"].relative_risk_reduction == 0.30 and tsa["DCR"].relative_risk_reduction == 0.15
    assert plan.monitoring.futility_mcid == {"OS": 0.8, "PFS": 0.8, "ORR": 1.25, "DCR": 1.25}
    assert plan.monitoring.true_effects["OS"] == (1.0, 0.7)
    assert plan.mcmc.chains >= 2 and set(plan.mcmc.outcomes) <= {"OS", "PFS", "ORR", "DCR"}


def test_fingerprint_changes_with_the_plan_and_the_data(tmp_path):
    text = HAIC.read_text()
    a = load_plan(_absolute_copy(tmp_path, text)).fingerprint()
    assert a == load_plan(HAIC).fingerprint()
    b = load_plan(_absolute_copy(tmp_path, text.replace("seed = 20250417", "seed = 1"))).fingerprint()
    assert a != b
    assert load_plan(HAIC).with_mcmc(draws=50).fingerprint() != a
    fewer = load_plan(HAIC).with_monitoring(simulations=20)
    assert fewer.fingerprint() != a and fewer.monitoring.simulations == 20 != load_plan(HAIC).monitoring.simulations
    assert fewer.monitoring.true_effects == load_plan(HAIC).monitoring.true_effects


PLANTED = [
    # (description, edit of the TOML text, key path the error must name)
    ("missing key", lambda t: t.replace('[outcomes.OS]\nlabel = "Overall survival"\nmeasure = "HR"\n',
                                        '[outcomes.OS]\nlabel = "Overall survival"\n'),
     "outcomes.OS.measure"),
    ("wrong type", lambda t: t.replace("draws = 2500", 'draws = "many"'), "mcmc.draws"),
    ("wrong type in a list", lambda t: t.replace("thresholds = [0.7, 0.8, 1.0]\nmcid = 0.8\n\n[outcomes.PFS]",
                                                 'thresholds = [0.7, "0.8", 1.0]\n\n[outcomes.PFS]'),
     "outcomes.OS.thresholds[1]"),
    ("unknown prior", lambda t: t.replace('main = "', 'main = "no_such_prior_'), "priors.main"),
    ("unknown sensitivity prior", lambda t: re.sub(r"sensitivity = \[", 'sensitivity = ["nope", ', t),
     "priors.sensitivity[0]"),
    ("unknown outcome", lambda t: t.replace("[outcomes.DCR]", "[outcomes.QOL]"), "outcomes.QOL"),
    ("monitoring of an outcome not in the plan", lambda t: t.replace('outcomes = ["OS", "PFS", "ORR", "DCR"]\norder',
                                                                     'outcomes = ["OS", "AE"]\norder'),
     "monitoring.outcomes[1]"),
    ("unknown measure", lambda t: t.replace('measure = "RR"', 'measure = "RRR"', 1), "outcomes.ORR.measure"),
    ("negative threshold", lambda t: t.replace("[1.0, 1.25, 1.43]", "[1.0, -1.25]", 1),
     "outcomes.ORR.thresholds[1]"),
    ("non-finite threshold", lambda t: t.replace("[1.0, 1.25, 1.43]", "[1.0, nan]", 1),
     "outcomes.ORR.thresholds[1]"),
    ("infinite threshold", lambda t: t.replace("[1.0, 1.25, 1.43]", "[inf]", 1), "outcomes.ORR.thresholds[0]"),
    ("infinite MCID", lambda t: t.replace("mcid = 1.25\n\n[outcomes.DCR]", "mcid = inf\n\n[outcomes.DCR]"),
     "outcomes.ORR.mcid"),
    ("NaN probability", lambda t: t.replace("benefit_probability = 0.975", "benefit_probability = nan"),
     "monitoring.benefit_probability"),
    ("probability out of range", lambda t: t.replace("benefit_probability = 0.975", "benefit_probability = 1.5"),
     "monitoring.benefit_probability"),
    ("MCID on the wrong side of 1", lambda t: t.replace("thresholds = [1.0, 1.25, 1.43]   # mirrored: 1/0.8 and "
                                                        "about 1/0.7\nmcid = 1.25", "thresholds = [1.0]\nmcid = 0.8"),
     "outcomes.ORR.mcid"),
    ("true effect on the wrong side of 1", lambda t: t.replace("ORR = [1.0, 1.43]", "ORR = [1.0, 0.7]"),
     "monitoring.true_effects.ORR[1]"),
    ("unknown covariate level table", lambda t: t.replace("levels = { platinum", "levels = { country = ['x'], platinum"),
     "covariates.levels.country"),
    ("subset on an unknown column", lambda t: t.replace('where = { platinum = "oxaliplatin" }',
                                                         'where = { country = "China" }'),
     "subsets.FOLFOX.where.country"),
    ("unknown pooling", lambda t: t.replace('pooling = "I2_rule"', 'pooling = "Bayes"'), "data.pooling"),
    ("unknown covariate", lambda t: t.replace('"platinum", "systemic"', '"platinum", "country"'),
     "covariates.columns[1]"),
    ("unknown top-level key", lambda t: "colour = 'blue'\n" + t, "colour"),
    ("missing data file", lambda t: t.replace("haic_studies.csv", "no_such_file.csv"), "data.studies"),
    ("unknown control arm", lambda t: t.replace('control_arm = "systemic"', 'control_arm = "placebo"', 1),
     "data.control_arm"),
    ("published control rate without a control arm", lambda t: t.replace('control_arm = "systemic"', "", 1),
     "tsa.ORR.control_rate"),
    ("TSA effect given twice", lambda t: t.replace("relative_risk_reduction = 0.30", "relative_risk_reduction = 0.30\n"
                                                   "mcid = 0.7"), "tsa.ORR"),
    ("TSA with three sides", lambda t: t.replace("relative_risk_reduction = 0.15", "relative_risk_reduction = 0.15\n"
                                                 "sides = 3"), "tsa.DCR.sides"),
    ("unknown TSA futility", lambda t: t.replace("relative_risk_reduction = 0.15", "relative_risk_reduction = 0.15\n"
                                                 'futility = "sometimes"'), "tsa.DCR.futility"),
]


def test_tsa_design_keys_are_read(tmp_path):
    text = HAIC.read_text().replace("relative_risk_reduction = 0.15", 'mcid = 0.85\nsides = 1\nspending = "pocock"\n'
                                    'futility = "binding"\ninflate = true\nheterogeneity_dummy = 0')
    text = text.replace("heterogeneity_dummy = 0\n", "")
    plan = load_plan(_absolute_copy(tmp_path, text))
    dcr = {t.outcome: t for t in plan.tsa}["DCR"]
    assert (dcr.relative_risk_reduction, dcr.mcid, dcr.sides, dcr.spending, dcr.futility, dcr.inflate) == \
        (None, 0.85, 1, "pocock", "binding", True)


@pytest.mark.parametrize("description,edit,key", PLANTED, ids=[p[0] for p in PLANTED])
def test_planted_error_names_the_key(tmp_path, description, edit, key):
    text = HAIC.read_text()
    edited = edit(text)
    assert edited != text, f"the edit for {description!r} did not apply"
    path = _absolute_copy(tmp_path, edited)
    with pytest.raises(InputError) as info:
        load_plan(path)
    message = str(info.value)
    assert f"key '{key}'" in message
    assert str(path) in message


def test_error_says_what_is_valid(tmp_path):
    path = _absolute_copy(tmp_path, HAIC.read_text().replace('main = "', 'main = "zzz'))
    with pytest.raises(InputError) as info:
        load_plan(path)
    from bayesmeta.priors import load_prior_sets

    names = list(load_prior_sets())
    assert names and all(name in info.value.valid for name in names)


def test_invalid_toml_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("title = \n")
    with pytest.raises(InputError, match="broken.toml: not valid TOML"):
        load_plan(path)


def test_missing_plan_file(tmp_path):
    with pytest.raises(InputError, match="plan file not found"):
        load_plan(tmp_path / "absent.toml")


def test_minimal_plan_takes_the_defaults(tmp_path):
    """A plan of a title, the outcomes file and one outcome: packaged priors, all outcomes monitored and
    cross-checked, no studies table, DerSimonian-Laird as the paper's pooling."""
    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text("study_id,outcome,measure,mean_treatment,sd_treatment,total_treatment\nA,pain,MD,1,1,10\n")
    plan_path = tmp_path / "plan.toml"
    plan_path.write_text('title = "t"\n[data]\noutcomes = "outcomes.csv"\n'
                         '[outcomes.pain]\nmeasure = "MD"\nbenefit = "below"\nmcid = -1.5\n')
    plan = load_plan(plan_path)
    o = plan.outcome("pain")
    assert (o.label, o.thresholds, o.mcid) == ("pain", (-1.5, 0.0), -1.5)  # the null, and the MCID joins it
    assert plan.studies is None and plan.pooling == "DL" and plan.main_prior == "weakly_informative"
    assert plan.monitoring.outcomes == ("pain",) and plan.monitoring.true_effects["pain"] == (0.0, -1.5)
    assert plan.monitoring.futility_mcid == {"pain": -1.5} and plan.mcmc.outcomes == ("pain",)
    assert plan.arms.treatment == "treatment"


def test_zero_cell_rule_per_outcome(tmp_path):
    """metafor escalc's add/to/drop00 per outcome; the default is escalc's (add 1/2 to studies with a zero cell)."""
    from bayesmeta.escalc import ZeroCellRule

    text = HAIC.read_text().replace('mcid = 1.25\n\n[outcomes.DCR]',
                                    'mcid = 1.25\nzero_cells = { add = 0.25, to = "all", drop00 = false }\n\n'
                                    '[outcomes.DCR]')
    plan = load_plan(_absolute_copy(tmp_path, text))
    assert plan.outcome("ORR").zero_cells == ZeroCellRule(0.25, "all", False)
    assert plan.outcome("DCR").zero_cells == ZeroCellRule()
    with pytest.raises(InputError, match="outcomes.ORR.zero_cells.to"):
        load_plan(_absolute_copy(tmp_path, text.replace('to = "all"', 'to = "some"')))
