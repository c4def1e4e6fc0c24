"""The plan's ``[covariates] formula`` (one multiple meta-regression per outcome) and claims of kind
``coefficient``, on Bangert-Drowns et al. 2004 (writing-to-learn, 48 Hedges' g; tests/reference/formula_bd2004/),
checked against metafor's ``rma(yi, vi, mods = ~ grade + imag [+ length], method = "REML")`` with z and
Knapp-Hartung tests (tests/reference/make_formula_fixtures.R), and the Bayesian coefficients against the closed
form: under flat mu and beta priors and tau fixed at REML's, the posterior of b is N(GLS estimate, (X'WX)^-1), so
its mean is REML's estimate and its sd REML's z-test SE."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import numpy as np
import pandas as pd
import pytest

from bayesmeta.cli import main
from bayesmeta.errors import InputError
from bayesmeta.formula import parse_formula
from bayesmeta.plan import load_plan
from bayesmeta.priors import load_prior_sets
from bayesmeta.reanalysis.formula_regression import formula_regression
from bayesmeta.report.sections import build_sections

REFERENCE = Path(__file__).parent / "reference"
DATA = REFERENCE / "formula_bd2004"
FIXTURES = json.loads((REFERENCE / "formula_fixtures.json").read_text())
SCHEMA = json.loads((Path(__file__).parents[1] / "bayesmeta" / "resources" / "summary.schema.json").read_text())
R_NAMES = {"intrcpt": "mu", "gradeelementary": "grade[elementary]", "gradehigh": "grade[high]",
           "grademiddle": "grade[middle]", "imagyes": "imag[yes]", "length_c": "length"}

PLAN = """title = "Writing-to-learn: Bangert-Drowns, Hurley & Wilkinson 2004"
[data]
outcomes = "outcomes.csv"
studies = "studies.csv"
priors = "priors.toml"
pooling = "FE"
[outcomes.achievement]
label = "Academic achievement"
measure = "SMD"
benefit = "above"
[covariates]
formula = "FORMULA"
[priors]
main = "weakly_informative"
sensitivity = ["vague", "skeptical"]
[monitoring]
outcomes = []
[bias]
enabled = false
[[claims]]
id = "imaginative"
text = "the effect was larger in studies with imaginative writing"
where = "Results"
kind = "coefficient"
outcome = "achievement"
term = "imag[yes]"
[[claims]]
id = "middle-grades"
text = "implementation in Grades 6-8 predicted reduced effects"
where = "Abstract"
kind = "coefficient"
outcome = "achievement"
term = "grade[middle]"
asserts = "harm"
"""


def _plan_folder(tmp: Path, formula: str, extra: str = "") -> Path:
    for name in ("outcomes.csv", "studies.csv", "priors.toml"):
        shutil.copy(DATA / name, tmp / name)
    (tmp / "plan.toml").write_text(PLAN.replace("FORMULA", formula) + extra)
    return tmp / "plan.toml"


COPY = """
[outcomes.achievement_copy]
label = "Academic achievement, fitted with its own formula"
measure = "SMD"
benefit = "above"
formula = "grade + imag"
"""


COPY_CLAIM = """
[[claims]]
id = "imaginative-copy"
text = "the effect was larger in studies with imaginative writing"
where = "Results"
kind = "coefficient"
outcome = "achievement_copy"
term = "imag[yes]"
"""


def _printed(case: str, r_name: str) -> str:
    fit = FIXTURES[case]["z"]
    j = fit["name"].index(r_name)
    return ",".join(f"{fit[key][j]:.2f}" for key in ("estimate", "ci_lower", "ci_upper"))


PUBLISHED = "\n".join([
    "outcome,analysis,variable,level,k,measure,estimate,ci_lower,ci_upper,p_value,p_relation,i2_percent,where,formula",
    f"achievement,meta_regression,meta,yes,46,SMD,{_printed('grade_meta', 'metayes')},,,,Table 3,grade + meta",
    f"achievement_copy,meta_regression,imag,yes,48,SMD,{_printed('grade_imag', 'imagyes')},,,,Table 3,grade + imag",
    "achievement,meta_regression,grade,middle,48,SMD,-0.37,-0.69,-0.05,,,,Table 4,grade + homework",
]) + "\n"
"""Published coefficients of multiple meta-regressions (metafor's, rounded): one on a column no plan formula
names (meta), one of achievement_copy's own formula, one naming a column the study table lacks."""


def _with_copy(plan: Path, name: str = "achievement_copy") -> Path:
    """The plan with a second outcome: the same 48 effects under another outcome name, with the formula of its
    own ``outcomes.<name>.formula`` table (COPY)."""
    import pandas as pd

    rows = pd.read_csv(plan.parent / "outcomes.csv", dtype=str, keep_default_na=False)
    pd.concat([rows, rows.assign(outcome=name)]).to_csv(plan.parent / "outcomes.csv", index=False)
    text = plan.read_text()
    plan.write_text(text.replace("[covariates]", COPY.replace("achievement_copy", name) + "[covariates]", 1)
                    + COPY_CLAIM.replace("achievement_copy", name))
    return plan


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A small plan (exact engine only: quick, no monitoring, no bias ensemble) with the [covariates] formula
    grade + imag + length for its outcome, and a second outcome (the same effects) whose
    ``outcomes.achievement_copy.formula`` is grade + imag, run as `reanalyze` runs it; its summary as
    summary.json holds it."""
    from bayesmeta.reanalysis import run_plan

    path = _with_copy(_plan_folder(tmp_path_factory.mktemp("formula"), "grade + imag + length"))
    (path.parent / "published.csv").write_text(PUBLISHED)
    path.write_text(path.read_text().replace('pooling = "FE"', 'pooling = "FE"\npublished = "published.csv"', 1))
    plan = load_plan(path).as_quick()
    result = run_plan(plan)
    summary = json.loads(json.dumps(result.to_summary()))
    return result, summary


def _check_against_metafor(fit, ref):
    names = [R_NAMES[n] for n in ref["name"]]
    assert [c.name for c in fit.coefficients] == names
    for key in ("estimate", "se", "pval", "ci_lower", "ci_upper"):
        np.testing.assert_allclose([getattr(c, key) for c in fit.coefficients], ref[key], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose([fit.tau2, fit.qm, fit.qm_p, fit.qe, fit.qe_p],
                               [ref["tau2"], ref["qm"], ref["qm_p"], ref["qe"], ref["qe_p"]], rtol=1e-6)
    assert fit.qm_df == ref["qm_df"] and fit.test == ref["test"]


@pytest.mark.parametrize("case", ["grade_imag", "grade_imag_length"])
def test_frequentist_counterpart_is_metafors_reml_with_z_and_knapp_hartung(run, case):
    result, _ = run
    a = result.outcomes["achievement"]
    ref = FIXTURES[case]
    r = a.formula_regression if case == "grade_imag_length" else formula_regression(
        a.effects, a.plan, load_prior_sets(DATA / "priors.toml")["weakly_informative"],
        parse_formula(ref["formula"]), 0.95)
    assert r.formula == ref["formula"]
    assert r.k == ref["z"]["k"] and list(r.omitted) == ref["z"]["omitted"]
    assert r.references == {"grade": "college", "imag": "no"}
    np.testing.assert_allclose(list(r.centers.values()), list(ref["center"].values()) if ref["center"] else [],
                               rtol=1e-12)
    _check_against_metafor(r.frequentist, ref["z"])
    _check_against_metafor(r.frequentist_knha, ref["knha"])


def test_flat_priors_and_tau_fixed_at_reml_give_the_gls_estimate(run):
    result, _ = run
    a = result.outcomes["achievement"]
    ref = FIXTURES["grade_imag_length"]["z"]
    tau = math.sqrt(ref["tau2"])
    fixed = SimpleNamespace(mu="flat", beta="flat", tau=f"lognormal({math.log(tau)!r}, 1e-3)")
    r = formula_regression(a.effects, a.plan, fixed, parse_formula("grade + imag + length"), 0.95)
    np.testing.assert_allclose(r.intercept["mean"], ref["estimate"][0], atol=1e-5 * ref["se"][0])
    np.testing.assert_allclose(r.intercept["sd"], ref["se"][0], rtol=1e-5)
    np.testing.assert_allclose([c.mean for c in r.coefficients], ref["estimate"][1:],
                               atol=1e-5 * min(ref["se"][1:]))
    np.testing.assert_allclose([c.sd for c in r.coefficients], ref["se"][1:], rtol=1e-5)
    # the normal posterior's P(beta > 0) is Phi(estimate / se), the one-sided z test's complement
    from scipy import stats

    np.testing.assert_allclose([c.prob_above_0 for c in r.coefficients],
                               stats.norm.cdf(np.divide(ref["estimate"][1:], ref["se"][1:])), atol=1e-4)


def test_vague_prior_coefficients_approach_remls(run):
    result, _ = run
    a = result.outcomes["achievement"]
    ref = FIXTURES["grade_imag"]["z"]
    vague = load_prior_sets(DATA / "priors.toml")["vague"]
    r = formula_regression(a.effects, a.plan, vague, parse_formula("grade + imag"), 0.95)
    for c, est, se in zip(r.coefficients, ref["estimate"][1:], ref["se"][1:]):
        assert abs(c.median - est) < 0.15 * se, c.name
        assert 0.9 * se < c.sd < 1.3 * se, c.name  # wider than REML's: tau's uncertainty is integrated over
        assert c.prob_benefit == c.prob_above_0  # an SMD whose benefit is above 0


def test_report_states_the_regression_in_sentences_and_a_table(run):
    _, summary = run
    r = summary["outcomes"]["achievement"]["formula_regression"]
    summary["figures"] = []
    jsonschema.Draft202012Validator(SCHEMA).validate(summary)
    section = next(s for s in build_sections(summary, []) if s.id == "metaregression")
    text = "\n".join(str(b) for b in section.blocks)
    assert "multiple meta-regression on grade + imag + length" in text
    assert "k = 46 studies; 2 studies without a value of every formula column left out" in text
    assert "Nieswandt1997, Radmacher1995" in text
    assert "grade: college, imag: no" in text and "length at 9.83" in text
    assert "the intercept is the effect at the reference levels and the numeric columns' means" in text
    assert "QM = 9.29 on 5 df, p = 0.098" in text
    assert "no meta-regression was run" not in text
    table = next(b for b in section.blocks if getattr(b, "caption", "").endswith("grade + imag + length"))
    assert [row[0] for row in table.rows] == ["grade[elementary]", "grade[high]", "grade[middle]", "imag[yes]",
                                              "length"]
    middle = table.rows[2]
    coef = next(c for c in r["coefficients"] if c["name"] == "grade[middle]")
    assert middle[2] == f"P(beta[grade[middle]] > 0) = {coef['prob_benefit']:.3f}"
    assert middle[3] == "-0.286 (-0.606 to 0.034)" and middle[4] == "0.080"  # metafor's, as printed


def test_coefficient_claims_are_answered_by_the_sign_probability(run):
    _, summary = run
    claims = {c["id"]: c for c in summary["claims"]}
    r = summary["outcomes"]["achievement"]["formula_regression"]
    coefs = {c["name"]: c for c in r["coefficients"]}
    imag, middle = claims["imaginative"], claims["middle-grades"]
    assert imag["event"] == "P(beta[imag[yes]] > 0)" and imag["probability"] == coefs["imag[yes]"]["prob_above_0"]
    assert middle["event"] == "P(beta[grade[middle]] < 0)"
    assert middle["probability"] == coefs["grade[middle]"]["prob_below_0"]
    ref = FIXTURES["grade_imag_length"]["z"]
    np.testing.assert_allclose([imag["facts"]["reml_p"], middle["facts"]["reml_p"]], [ref["pval"][4], ref["pval"][3]],
                               rtol=1e-6)
    assert imag["verdict"] == "not supported"  # P = 0.72 < 0.80, REML p = 0.56
    # P(beta < 0) = 0.955 under the main prior, but the skeptical set's normal(0, 0.122) on beta pulls it to 0.84:
    # the verdict rule's prior-dependence applies to a coefficient claim as to a pooled one
    by_prior = r["sensitivity"]
    assert set(by_prior) == {"weakly_informative", "vague", "skeptical"}
    assert by_prior["weakly_informative"] == {c["name"]: c["prob_benefit"] for c in r["coefficients"]}
    assert middle["probability_low"] == pytest.approx(1.0 - by_prior["skeptical"]["grade[middle]"])
    assert 0.80 < middle["probability_low"] < 0.90 < 0.95 < middle["probability"]
    assert middle["verdict"] == "weaker than stated" and middle["limits"] == ["prior-dependent"]
    from bayesmeta.report.claims import claims_table

    row = next(r for r in claims_table(summary).rows if r[0] == "middle-grades")
    assert "two-sided p = 0.080" in row[-1] and "k = 46; 2 left out" in row[-1]


@pytest.mark.parametrize("formula, key, message", [
    ("grade + imgs", "covariates.formula", "column 'imgs' of 'grade + imgs' is not in studies.csv"),
    ("grade +", "covariates.formula", "cannot read formula"),
    ("0 + grade", "covariates.formula", "drops the intercept"),
    ("grade + imgs", "outcomes.achievement_copy.formula", "column 'imgs' of 'grade + imgs' is not in studies.csv"),
    ("grade +", "outcomes.achievement_copy.formula", "cannot read formula"),
    ("0 + grade", "outcomes.achievement_copy.formula", "drops the intercept"),
])
def test_a_bad_formula_is_one_line_naming_the_key_and_the_columns(tmp_path, capsys, formula, key, message):
    if key == "covariates.formula":
        plan = _plan_folder(tmp_path, formula)
    else:  # a good [covariates] formula, and a bad one of the second outcome's own
        plan = _with_copy(_plan_folder(tmp_path, "grade + imag"))
        own, covariates = plan.read_text().split("[covariates]", 1)
        plan.write_text(own.replace('formula = "grade + imag"', f'formula = "{formula}"') + "[covariates]" + covariates)
    assert main(["reanalyze", str(plan), "--out", str(tmp_path / "report"), "--quick"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"key '{key}'" in err and message in err and "plan.toml" in err
    if "imgs" in formula:
        assert "(valid: year, label, grade, length, minutes" in err
    assert not (tmp_path / "report").exists()


def test_claim_term_must_be_a_term_of_the_formula(tmp_path):
    plan = _plan_folder(tmp_path, "grade + imag")
    plan.write_text(plan.read_text().replace('term = "imag[yes]"', 'term = "meta[yes]"'))
    with pytest.raises(InputError, match=r"claims\[0\] \('imaginative'\)\.term.*'meta\[yes\]' is not a term"):
        load_plan(plan)
    for term, why in (('imag[maybe]', "'maybe' is not a level of 'imag' (no, yes)"),
                      ('imag', "'imag' is a factor: name one of its levels, e.g. imag[yes]"),
                      ('length[3]', "'length' enters as a number")):
        plan.write_text(PLAN.replace("FORMULA", "grade + imag + length").replace('term = "imag[yes]"',
                                                                                 f'term = "{term}"'))
        with pytest.raises(InputError) as err:
            load_plan(plan)
        assert f"key 'claims[0] ('imaginative').term'" in str(err.value) and why in str(err.value)
    by_year = PLAN.replace("FORMULA", "grade + factor(year)")  # a numeric column read as a factor
    plan.write_text(by_year.replace('term = "imag[yes]"', 'term = "year[1800]"'))
    with pytest.raises(InputError, match=r"'1800' is not a level of 'year' \(1926, 1980, "):
        load_plan(plan)
    plan.write_text(by_year.replace('term = "imag[yes]"', 'term = "year[1992]"'))
    assert load_plan(plan).claims[0].term == "year[1992]"
    plan.write_text(PLAN.replace('formula = "FORMULA"', 'columns = ["imag"]'))
    with pytest.raises(InputError, match=r"a coefficient claim needs a formula for outcome 'achievement'"):
        load_plan(plan)


def test_a_coefficient_claim_is_checked_against_its_outcomes_own_formula(tmp_path):
    """A claim's term must be a term of its outcome's formula: 'length' is one of [covariates] formula's
    (achievement) but not of achievement_copy's own grade + imag; an outcome whose formula is turned off
    (``formula = ""``) has none."""
    plan = _with_copy(_plan_folder(tmp_path, "grade + imag + length"))
    text = plan.read_text()
    assert {o.name: o.formula for o in load_plan(plan).outcomes} == {"achievement": "grade + imag + length",
                                                                     "achievement_copy": "grade + imag"}
    plan.write_text(text[:text.rindex('term = "imag[yes]"')] + 'term = "length"\n')
    with pytest.raises(InputError) as err:
        load_plan(plan)
    assert "key 'claims[2] ('imaginative-copy').term'" in str(err.value)
    assert "'length' is not a term of outcome 'achievement_copy''s formula 'grade + imag'" in str(err.value)
    plan.write_text(text.replace('formula = "grade + imag"\n', 'formula = ""\n', 1))
    with pytest.raises(InputError) as err:
        load_plan(plan)
    assert "a coefficient claim needs a formula for outcome 'achievement_copy'" in str(err.value)
    assert "[outcomes.achievement_copy]" in str(err.value)
    plan.write_text(text[:text.index("[[claims]]")].replace('formula = "grade + imag"\n', 'formula = ""\n', 1))
    loaded = load_plan(plan)
    assert {o.name: o.formula for o in loaded.outcomes} == {"achievement": "grade + imag + length",
                                                            "achievement_copy": None}
    from bayesmeta.reanalysis.outcome import formula_columns

    assert formula_columns(loaded) == ("grade", "imag", "length")


def test_each_outcome_gets_the_coefficients_metafor_gives_for_its_own_formula(run):
    """Two outcomes of one plan with two formulas: achievement with [covariates] formula grade + imag + length,
    achievement_copy (the same effects) with its outcomes.achievement_copy.formula grade + imag; each outcome's
    REML fits (z and Knapp-Hartung) are metafor's for its own formula, and its coefficient claim reads its own."""
    result, summary = run
    for outcome, case in (("achievement", "grade_imag_length"), ("achievement_copy", "grade_imag")):
        r = result.outcomes[outcome].formula_regression
        ref = FIXTURES[case]
        assert r.formula == ref["formula"] == summary["outcomes"][outcome]["formula_regression"]["formula"]
        assert r.k == ref["z"]["k"] and list(r.omitted) == ref["z"]["omitted"]
        _check_against_metafor(r.frequentist, ref["z"])
        _check_against_metafor(r.frequentist_knha, ref["knha"])
    claims = {c["id"]: c for c in summary["claims"]}
    np.testing.assert_allclose([claims[c]["facts"]["reml_p"] for c in ("imaginative-copy", "imaginative")],
                               [FIXTURES["grade_imag"]["z"]["pval"][4], FIXTURES["grade_imag_length"]["z"]["pval"][4]],
                               rtol=1e-6)
    assert claims["imaginative-copy"]["facts"]["formula"] == "grade + imag"
    section = next(s for s in build_sections(summary, []) if s.id == "metaregression")
    captions = [getattr(b, "caption", "") for b in section.blocks]
    assert "Academic achievement: meta-regression on grade + imag + length" in captions
    assert "Academic achievement, fitted with its own formula: meta-regression on grade + imag" in captions


def test_plan_and_record_survive_the_result_cache(run):
    """The result cache stores plain data only (bayesmeta.plaindata): the plan keeps the formula as text, and the
    record is made of bayesmeta dataclasses, numbers and strings, so a run with a formula is cached."""
    from bayesmeta import plaindata

    result, _ = run
    for value in (result.plan, result.outcomes["achievement"].formula_regression):
        tree, arrays = plaindata.encode(value)
        assert plaindata.decode(tree, arrays) == value


def test_a_ratio_measure_reports_ratios_of_ratios_and_benefit_below():
    """BCG vaccine trials (log RR, benefit below 1) on absolute latitude against metafor's tight REML fit
    rma(yi, vi, mods = ~ ablat) (tests/reference/metafor_fixtures.json, z and Knapp-Hartung); the centred
    intercept is REML's effect at the mean latitude; the coefficient is reported as a ratio of risk ratios per
    degree, and its benefit side is P(beta < 0)."""
    import pandas as pd

    from bayesmeta.plan import OutcomePlan

    fixtures = json.loads((REFERENCE / "metafor_fixtures.json").read_text())
    bcg = pd.DataFrame(fixtures["datasets"]["bcg"])
    refs = {m["test"]: m for m in fixtures["metareg"]
            if (m["dataset"], m["mods"], m["method"]) == ("bcg", "ablat", "REML")}
    effects = pd.DataFrame({"study_id": bcg["study"], "yi": bcg["yi"], "vi": bcg["vi"], "sei": np.sqrt(bcg["vi"]),
                            "ablat": bcg["ablat"].astype(float)})
    o = OutcomePlan("TB", "tuberculosis", "RR", "below", (1.0,))
    r = formula_regression(effects, o, load_prior_sets()["weakly_informative"], parse_formula("ablat"), 0.95)
    for fit, ref in ((r.frequentist, refs["z"]), (r.frequentist_knha, refs["knha"])):
        coefs = ref["coefficients"]
        slope, intercept = fit.coefficients[1], fit.coefficients[0]
        np.testing.assert_allclose([slope.estimate, slope.se, slope.pval, fit.tau2, fit.qm, fit.qm_p],
                                   [coefs["estimate"][1], coefs["se"][1], coefs["pval"][1], ref["tau2"], ref["qm"],
                                    ref["qm_p"]], rtol=1e-6)
        np.testing.assert_allclose(intercept.estimate, coefs["estimate"][0] + coefs["estimate"][1]
                                   * bcg["ablat"].mean(), rtol=1e-6)
    c = r.coefficients[0]
    assert c.name == "ablat" and c.benefit_statement == "P(beta[ablat] < 0)" and c.prob_benefit == c.prob_below_0
    np.testing.assert_allclose([c.reported_median, c.reported_ci_lower, c.reported_ci_upper],
                               np.exp([c.median, c.ci_lower, c.ci_upper]), rtol=1e-12)
    z = refs["z"]["coefficients"]
    assert abs(c.median - z["estimate"][1]) < 0.2 * z["se"][1] and c.prob_benefit > 0.99


def test_init_offers_a_formula_that_loads_once_uncommented(tmp_path):
    assert main(["init", "--outcomes", str(DATA / "outcomes.csv"), "--studies", str(DATA / "studies.csv"),
                 "--out", str(tmp_path / "plan.toml")]) == 0
    text = (tmp_path / "plan.toml").read_text()
    assert '# formula = "grade + length"' in text
    (tmp_path / "plan.toml").write_text(text.replace('# formula = "grade + length"', 'formula = "grade + length"'))
    assert load_plan(tmp_path / "plan.toml").covariate_formula == "grade + length"


def test_a_claim_on_the_reference_level_cannot_be_tested_and_says_why(run):
    from bayesmeta.plan_claims import ClaimPlan
    from bayesmeta.reanalysis.claims import Verdict, _coefficient

    result, _ = run
    c = ClaimPlan("college", "college students gained most", "Results", "coefficient", outcome="achievement",
                  term="grade[college]")
    out = _coefficient(c, result.outcomes["achievement"])
    assert out.verdict == Verdict.UNTESTABLE and out.probability is None
    assert "college is the reference level of grade" in out.untestable
    assert "factor(grade, ref = \"...\")" in out.untestable and "grade[middle]" in out.untestable


def _fit_json(capsys, data: Path, *options: str) -> dict:
    assert main(["fit", str(data), "--measure", "SMD", "--formula", "grade + imag + length", *options,
                 "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_fit_formula_centres_as_the_plan_and_its_intercept_is_metafors_shifted(run, tmp_path, capsys):
    """`fit --formula` centres numeric columns by default, as the plan's formula does: on the same studies, formula
    and priors it gives the plan's exact posterior of the intercept and of every coefficient. The centred
    intercept is metafor's uncentred one shifted by the closed form b0 + b_length * mean(length): REML's from the
    plan, and the posterior mean under flat priors with tau fixed at REML's (the GLS estimate); `--no-center`
    gives metafor's uncentred intercept itself."""
    result, _ = run
    r = result.outcomes["achievement"].formula_regression
    studies = pd.read_csv(DATA / "studies.csv")
    table = pd.read_csv(DATA / "outcomes.csv").merge(studies[["study_id", "grade", "imag", "length"]], on="study_id")
    table = table.dropna(subset=["length"]).rename(columns={"study_id": "study"})
    table[["study", "yi", "vi", "grade", "imag", "length"]].to_csv(tmp_path / "bd.csv", index=False)
    main_set = load_prior_sets(DATA / "priors.toml")["weakly_informative"]
    out = _fit_json(capsys, tmp_path / "bd.csv", "--mu-prior", main_set.mu.text, "--tau-prior", main_set.tau.text,
                    "--beta-prior", main_set.beta.text)
    assert out["k"] == r.k == 46 and out["centers"] == pytest.approx(r.centers, rel=1e-12)
    keys = ("median", "mean", "sd", "ci_lower", "ci_upper")
    np.testing.assert_allclose([out["mu"][key] for key in keys], [r.intercept[key] for key in keys], rtol=1e-8)
    for c in r.coefficients:
        np.testing.assert_allclose([out[f"beta[{c.name}]"][key] for key in keys], [getattr(c, key) for key in keys],
                                   rtol=1e-8, atol=1e-12, err_msg=c.name)
    uncentred = FIXTURES["grade_imag_length_uncentred"]["z"]
    b0, b_length = uncentred["estimate"][0], uncentred["estimate"][-1]
    shifted = b0 + b_length * table["length"].mean()
    assert abs(shifted - b0) > uncentred["se"][0]  # two different quantities, told apart by the tolerance below
    np.testing.assert_allclose(r.frequentist.coefficients[0].estimate, shifted, rtol=1e-6)
    fixed = ["--mu-prior", "flat", "--beta-prior", "flat",
             "--tau-prior", f"lognormal({math.log(math.sqrt(uncentred['tau2']))!r}, 1e-3)"]
    centred = _fit_json(capsys, tmp_path / "bd.csv", *fixed)
    plain = _fit_json(capsys, tmp_path / "bd.csv", *fixed, "--no-center")
    assert plain["centers"] == {}
    np.testing.assert_allclose(centred["mu"]["mean"], shifted, atol=1e-5 * uncentred["se"][0])
    np.testing.assert_allclose(plain["mu"]["mean"], b0, atol=1e-5 * uncentred["se"][0])
    np.testing.assert_allclose(centred["beta[length]"]["mean"], b_length, atol=1e-5 * uncentred["se"][-1])


def test_published_coefficients_of_a_formula_in_the_reports_comparison(run):
    """The comparison table sets each published multiple meta-regression coefficient beside metafor's REML fit of
    its formula (the study table's meta column attached for it, though no plan formula names it), with the
    posterior of the same coefficient where the outcome's plan formula is the row's; a row whose formula names a
    column the study table lacks is listed, not estimable, with the reason."""
    result, summary = run
    rows = [r for r in summary["comparison"] if r["analysis"] == "meta_regression"]
    meta, imag, homework = rows
    ref = {case: dict(zip(FIXTURES[case]["z"]["name"], FIXTURES[case]["z"]["estimate"]))
           for case in ("grade_meta", "grade_imag")}
    assert meta["quantity"] == "meta[yes] (against no) in grade + meta: meta-regression coefficient"
    assert (meta["status"], meta["k_used"]) == ("reproduced", 46)
    assert meta["recomputed_value"] == pytest.approx(ref["grade_meta"]["metayes"], rel=1e-6)
    assert meta["bayesian"] == "-" and 'outcomes.achievement.formula = "grade + meta" fits it' in meta["plain"]
    assert (imag["outcome"], imag["status"]) == ("achievement_copy", "reproduced")
    assert imag["recomputed_value"] == pytest.approx(ref["grade_imag"]["imagyes"], rel=1e-6)
    coef = result.outcomes["achievement_copy"].formula_regression.coefficient("imag[yes]")
    assert imag["bayesian_value"] == coef.prob_benefit and imag["bayesian_statement"] == "P(beta[imag[yes]] > 0)"
    assert homework["status"] == "not estimable"
    assert "column 'homework' of the formula 'grade + homework' is not in the study data" in homework["plain"]
    assert not [r for r in summary["published_not_covered"] if r["analysis"] == "meta_regression"]


def test_init_writes_the_papers_own_formula_per_outcome(tmp_path):
    """`init --published` with coefficients of a multiple meta-regression (published.csv formula column) writes
    that formula as the outcome's own, so the report's comparison sets the posterior beside them; one naming a
    column the data lack stays commented out."""
    published = tmp_path / "published.csv"
    published.write_text("\n".join([
        "outcome,analysis,variable,level,k,measure,estimate,ci_lower,ci_upper,p_value,p_relation,i2_percent,where,"
        "formula",
        "achievement,meta_regression,imag,yes,48,SMD,0.16,-0.25,0.56,,,,Table 3,grade + imag",
        "achievement,meta_regression,meta,yes,46,SMD,0.26,,,0.02,=,,Table 4,grade + meta"]) + "\n")
    args = ["init", "--outcomes", str(DATA / "outcomes.csv"), "--studies", str(DATA / "studies.csv"),
            "--published", str(published)]
    assert main([*args, "--out", str(tmp_path / "plan.toml")]) == 0
    text = (tmp_path / "plan.toml").read_text()
    assert 'formula = "grade + imag"   # CHECK: the paper\'s multiple meta-regression of this outcome' in text
    assert "the paper also printed grade + meta" in text
    assert load_plan(tmp_path / "plan.toml").outcome("achievement").formula == "grade + imag"
    published.write_text(published.read_text().replace("grade + imag", "grade + homework"))
    assert main([*args, "--out", str(tmp_path / "other.toml")]) == 0
    text = (tmp_path / "other.toml").read_text()
    assert "# formula = \"grade + homework\"   # the paper's multiple meta-regression" in text
    assert "the data lack column 'homework'" in text and load_plan(tmp_path / "other.toml").outcomes[0].formula is None
