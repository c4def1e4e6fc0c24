"""The paper's conclusions, tested (bayesmeta.reanalysis.claims, the plan's [[claims]], [subgroups] and
[surrogacy]): plan errors name the file, the claim and the key with what is valid; the verdict rule on its
thresholds; each kind of claim on constructed inputs whose answer is known in closed form; the reports of the
synthetic plan and of the HAIC plan (conftest's session fixtures: no new fits here) carry one row per claim, in
report.md, tables/ and report.docx, equal to summary.json."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayesmeta.benefit import Benefit
from bayesmeta.errors import InputError
from bayesmeta.plan import load_plan
from bayesmeta.plan_claims import ClaimPlan
from bayesmeta.reanalysis import claims as C
from bayesmeta.reanalysis.claims import Verdict, verdict

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = ROOT / "tests" / "reference" / "reanalysis_synthetic"
Z = stats.norm.ppf(0.975)


# -- plan validation -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A copy of the synthetic plan's folder, its plan without claims (the tests append their own)."""
    out = tmp_path_factory.mktemp("claims_plan") / "plan"
    shutil.copytree(SYNTHETIC, out)
    text = (out / "plan.toml").read_text()
    (out / "base.toml").write_text(text[:text.index("# The paper's conclusions, tested")])
    return out


def _load(folder: Path, extra: str) -> InputError:
    path = folder / "edited.toml"
    path.write_text((folder / "base.toml").read_text() + "\n" + extra)
    with pytest.raises(InputError) as info:
        load_plan(path)
    assert str(path) in str(info.value)
    return info.value


def _claim(body: str, cid: str = "c1") -> str:
    return f'[[claims]]\nid = "{cid}"\ntext = "As printed."\nwhere = "Abstract"\n{body}\n'


PLANTED = [
    ("unknown kind", _claim('kind = "correlation"\noutcome = "AE"'), "claims[0] ('c1').kind",
     ["pooled", "subgroup", "surrogacy", "sequential", "bias", "other"]),
    ("no outcome", _claim('kind = "pooled"'), "claims[0] ('c1').outcome", ["AE", "PFS", "ORR"]),
    ("unknown outcome", _claim('kind = "pooled"\noutcome = "OS"'), "claims[0] ('c1').outcome", ["AE", "PFS"]),
    ("key of another kind", _claim('kind = "pooled"\noutcome = "AE"\nsurrogate = "ORR"'),
     "claims[0] ('c1').surrogate", ["outcome", "asserts"]),
    ("unknown asserts", _claim('kind = "pooled"\noutcome = "AE"\nasserts = "risk"'), "claims[0] ('c1').asserts",
     ["benefit", "important_benefit", "no_benefit", "harm"]),
    ("no_benefit without an mcid", _claim('kind = "pooled"\noutcome = "PFS"\nasserts = "no_benefit"'),
     "claims[0] ('c1').asserts", ["outcomes.PFS.mcid"]),
    ("subgroup outcome not analysed", _claim('kind = "subgroup"\noutcome = "AE"\ncharacteristic = "age"'),
     "claims[0] ('c1').outcome", ["enable [subgroups]"]),
    ("unknown subgroup level", '[subgroups]\noutcomes = ["AE"]\n' + _claim(
        'kind = "subgroup"\noutcome = "AE"\ncharacteristic = "age"\nlevel = ">=50"'), "claims[0] ('c1').level",
     ["<50"]),
    ("pair not in [surrogacy]", _claim('kind = "surrogacy"\noutcome = "AE"\nsurrogate = "ORR"'),
     "claims[0] ('c1').surrogate", ["[surrogacy] pairs"]),
    ("sequential without TSA", _claim('kind = "sequential"\noutcome = "AE"'), "claims[0] ('c1').outcome", ["ORR"]),
    ("estimate without a row", _claim('kind = "estimate"\noutcome = "AE"\nanalysis = "pooled"\nvariable = "dose"'),
     "claims[0] ('c1').variable", ["pooled / all"]),
    ("other without a reason", _claim('kind = "other"'), "claims[0] ('c1').reason", ["why"]),
    ("duplicate id", _claim('kind = "pooled"\noutcome = "AE"') + _claim('kind = "pooled"\noutcome = "AE"'),
     "claims[1] ('c1').id", ["an id used once"]),
    ("bad surrogacy pair", '[surrogacy]\npairs = [["ORR", "OS"]]\n', "surrogacy.pairs[0]", ["AE", "PFS", "ORR"]),
    ("subgroups of an outcome without rows", '[subgroups]\noutcomes = ["ORR"]\n', "subgroups.outcomes[0]", ["AE"]),
    ("within out of range", '[surrogacy]\nwithin = 1.5\n', "surrogacy.within", ["(-1.0, 1.0)"]),
]


@pytest.mark.parametrize("description,extra,key,valid", PLANTED, ids=[p[0] for p in PLANTED])
def test_plan_errors_name_the_claim_the_key_and_what_is_valid(folder, description, extra, key, valid):
    error = _load(folder, extra)
    assert f"key '{key}'" in str(error)
    assert all(v in (error.valid or "") for v in valid), error.valid


def test_a_harm_claim_needs_no_mcid(folder):
    path = folder / "harm.toml"
    path.write_text((folder / "base.toml").read_text() + "\n" + _claim('kind = "pooled"\noutcome = "PFS"\n'
                                                                      'asserts = "harm"'))
    assert [c.asserts for c in load_plan(path).claims] == ["harm"]


def test_a_plan_without_claims_has_none_and_the_synthetic_plan_has_three(folder):
    assert load_plan(folder / "base.toml").claims == ()
    plan = load_plan(SYNTHETIC / "plan.toml")
    assert [c.id for c in plan.claims] == ["ae-benefit", "young-no-benefit", "safety"]
    assert plan.subgroups.outcomes == ("AE",) and plan.surrogacy.pairs == ()


def test_the_haic_plan_lists_every_abstract_and_highlight_claim():
    plan = load_plan(ROOT / "models" / "haic.toml")
    paper = (Path("/work/shared/lu2025_haic_meta_analysis.txt").read_text()
             if Path("/work/shared/lu2025_haic_meta_analysis.txt").exists() else None)
    wheres = [c.where for c in plan.claims]
    assert sum(w.startswith("Highlights") for w in wheres) >= 5  # the paper's five highlights
    assert {c.kind for c in plan.claims} >= {"pooled", "subgroup", "contrast", "estimate", "surrogacy", "sequential",
                                             "bias", "other"}
    if paper is not None:  # every sentence (less the bracketed words added for context) is printed in the paper
        flat = " ".join(paper.split()).replace("\\geq ", "≥").replace("*P*-value", "P-value")
        for c in plan.claims:
            for piece in c.text.split("[")[0], c.text.split("]")[-1]:
                words = " ".join(piece.split()).strip()
                # its start and its end (the text file breaks one sentence around a table)
                assert words[:40] in flat and words[-30:] in flat, c.id


# -- the verdict rule ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("p,low,caps,expected,limits", [
    (0.95, 0.90, (), Verdict.SUPPORTED, ()),
    (0.999, None, (), Verdict.SUPPORTED, ()),
    (0.9499, 0.93, (), Verdict.WEAKER, ("uncertain",)),
    (0.97, 0.8999, (), Verdict.WEAKER, ("prior-dependent",)),
    (0.99, 0.99, ("tsa-inconclusive",), Verdict.WEAKER, ("tsa-inconclusive",)),
    (0.80, 0.5, (), Verdict.WEAKER, ("uncertain", "prior-dependent")),
    (0.7999, 0.7, (), Verdict.NOT_SUPPORTED, ()),
    (0.01, None, ("weak-surrogate",), Verdict.NOT_SUPPORTED, ()),
])
def test_verdict_thresholds(p, low, caps, expected, limits):
    assert verdict(p, low, caps) == (expected, limits)


def test_verdict_rejects_a_probability_outside_0_1():
    with pytest.raises(ValueError):
        verdict(1.2)


# -- each kind on constructed inputs ------------------------------------------------------------------------------
def _plan_claim(**kw) -> ClaimPlan:
    return ClaimPlan(**{"id": "c", "text": "t", "where": "w", "kind": "pooled", "outcome": "X", **kw})


def _analysis(benefit: str, prob_below: dict, grid: pd.DataFrame, mcid: float | None = None, **kw):
    plan = SimpleNamespace(name="X", label="Outcome X", measure="HR" if benefit == "below" else "RR",
                           benefit=Benefit(benefit), mcid=mcid)
    return SimpleNamespace(plan=plan, bayes={"prob_below": prob_below, "reported": {"mu": {
        "median": 0.7, "ci_lower": 0.5, "ci_upper": 0.9}}}, sensitivity={"grid": grid}, skipped={}, k=6,
        frequentist={}, **kw)


def test_pooled_benefit_below_and_above_the_null():
    grid = pd.DataFrame({"prob_below_1": [0.98, 0.85], "prob_below_0.8": [0.6, 0.4]})
    a = _analysis("below", {"1.0": 0.98, "0.8": 0.6}, grid, mcid=0.8)
    r = C._pooled(_plan_claim(), a)
    assert (r.event, r.probability, r.probability_low, r.verdict, r.limits) == (
        "P(HR < 1)", 0.98, 0.85, Verdict.WEAKER, ("prior-dependent",))
    no = C._pooled(_plan_claim(asserts="no_benefit"), a)
    assert no.event == "P(HR >= 0.8)" and no.probability == pytest.approx(0.4)
    assert no.probability_high == pytest.approx(0.6) and no.verdict is Verdict.NOT_SUPPORTED
    up = _analysis("above", {"1.0": 0.01, "1.25": 0.3}, pd.DataFrame({"prob_above_1": [0.99, 0.97]}), mcid=1.25)
    r = C._pooled(_plan_claim(), up)
    assert (r.event, r.verdict) == ("P(RR > 1)", Verdict.SUPPORTED) and r.probability == pytest.approx(0.99)
    important = C._pooled(_plan_claim(asserts="important_benefit"), up)
    assert important.event == "P(RR > 1.25)" and important.probability == pytest.approx(0.7)


def test_harm_is_the_other_side_of_the_null():
    grid = pd.DataFrame({"prob_below_1": [0.98, 0.85]})
    harm = C._pooled(_plan_claim(asserts="harm"), _analysis("below", {"1.0": 0.98}, grid))
    assert (harm.event, harm.verdict) == ("P(HR > 1)", Verdict.NOT_SUPPORTED)
    assert (harm.probability, harm.probability_low, harm.probability_high) == pytest.approx((0.02, 0.02, 0.15))
    up = _analysis("above", {"1.0": 0.97}, pd.DataFrame({"prob_above_1": [0.01, 0.02]}))
    r = C._pooled(_plan_claim(asserts="harm"), up)
    assert (r.event, r.verdict) == ("P(RR < 1)", Verdict.SUPPORTED) and r.probability == pytest.approx(0.97)


def test_a_skipped_posterior_cannot_be_tested():
    a = _analysis("below", {}, pd.DataFrame())
    a.bayes = {}
    a.skipped = {"all": "no study has usable data for this outcome"}
    r = C._pooled(_plan_claim(), a)
    assert r.verdict is Verdict.UNTESTABLE and r.probability is None and "no study" in r.untestable


def test_sequential_needs_the_recomputed_tsa_to_be_conclusive():
    grid = pd.DataFrame({"prob_below_0.8": [0.99, 0.98]})
    curve = pd.DataFrame({"n_cumulative": [100.0, 900.0]})
    tsa = SimpleNamespace(crossed_efficacy_at=None, reached_ris_at=None, ris_rounded=2000, curve=curve,
                          final_z=3.1, heterogeneity="D2", diversity=0.6)
    a = _analysis("below", {"1.0": 0.999, "0.8": 0.99}, grid, mcid=0.8, tsa=tsa, tsa_settings={"published_ris": 900})
    r = C._sequential(_plan_claim(kind="sequential"), a)
    assert (r.event, r.verdict, r.limits) == ("P(HR < 0.8)", Verdict.WEAKER, ("tsa-inconclusive",))
    assert r.facts["information"] == 900.0 and r.facts["ris"] == 2000
    a.tsa = SimpleNamespace(**{**vars(tsa), "crossed_efficacy_at": 2})
    assert C._sequential(_plan_claim(kind="sequential"), a).verdict is Verdict.SUPPORTED


def test_bias_claim_reads_the_inclusion_probability_of_the_bias_models():
    a = _analysis("below", {"1.0": 0.99}, pd.DataFrame())
    a.bias = {"inclusion": {"bias": {"prior_prob": 0.5, "post_prob": 0.84, "bf": 5.25}}, "ensemble": "pet-peese"}
    r = C._bias(_plan_claim(kind="bias"), a)
    assert r.probability == pytest.approx(0.16) and r.verdict is Verdict.NOT_SUPPORTED
    a.bias = {"inclusion": {"effect": {"prior_prob": 0.5, "post_prob": 0.9, "bf": 9.0}}, "ensemble": "custom"}
    assert "custom ensemble does not weigh" in C._bias(_plan_claim(kind="bias"), a).untestable
    a.bias = None
    a.skipped = {"publication bias and model averaging": "fewer than bias.min_k = 10 studies (k = 5)"}
    assert C._bias(_plan_claim(kind="bias"), a).untestable.startswith("fewer than")


def _surrogacy_fit(p_negative: float, lo: float, hi: float):
    summary = SimpleNamespace(median=(lo + hi) / 2, ci_lower=lo, ci_upper=hi)
    return SimpleNamespace(prob_rho_negative=p_negative, rho=summary, k=8,
                           prior_vs_posterior=SimpleNamespace(width_ratio=0.6),
                           rank_correlation=SimpleNamespace(recomputed=-0.7, recomputed_p=0.05, published=-0.54,
                                                            published_p=0.031))


def test_surrogacy_claim_takes_the_sign_from_the_benefits_and_iqwig_bound():
    outcomes = {"ORR": SimpleNamespace(benefit=Benefit.ABOVE), "OS": SimpleNamespace(benefit=Benefit.BELOW),
                "PFS": SimpleNamespace(benefit=Benefit.BELOW)}
    plan = SimpleNamespace(outcome=lambda name: outcomes[name])
    c = _plan_claim(kind="surrogacy", surrogate="ORR", outcome="OS")
    strong = C._surrogacy(c, plan, {"ORR~OS": _surrogacy_fit(0.999, -0.98, -0.88)}, {})
    assert (strong.event, strong.verdict) == ("P(rho < 0)", Verdict.SUPPORTED)
    weak = C._surrogacy(c, plan, {"ORR~OS": _surrogacy_fit(0.97, -0.96, -0.1)}, {})
    assert (weak.verdict, weak.limits) == (Verdict.WEAKER, ("weak-surrogate",))
    same_side = C._surrogacy(_plan_claim(kind="surrogacy", surrogate="PFS", outcome="OS"), plan,
                             {"PFS~OS": _surrogacy_fit(0.3, -0.5, 0.9)}, {})
    assert same_side.event == "P(rho > 0)" and same_side.probability == pytest.approx(0.7)
    missing = C._surrogacy(c, plan, {}, {"ORR~OS": "quick run"})
    assert missing.verdict is Verdict.UNTESTABLE and missing.untestable == "quick run"


@pytest.mark.parametrize("prior", ["normal(-0.2, 0.3)", "flat"])
def test_estimate_probability_against_quadrature(prior):
    from bayesmeta.priors import parse_prior

    y, se, cut = math.log(0.73), (math.log(1.10) - math.log(0.49)) / (2 * Z), math.log(0.8)
    p = parse_prior(prior, for_param="mu")
    lo, hi = y - 12 * se, y + 12 * se

    def mass(a: float, b: float) -> float:  # trapezoid rule on 200 001 nodes between a and b
        grid = np.linspace(a, b, 200_001)
        weight = stats.norm.pdf(y, grid, se) * (np.exp(p.logpdf(grid)) if prior != "flat" else 1.0)
        return float(np.trapezoid(weight, grid))

    reference = mass(lo, cut) / (mass(lo, cut) + mass(cut, hi))
    assert C.estimate_probability(y, se, p, cut, Benefit.BELOW) == pytest.approx(reference, abs=1e-7)
    assert C.estimate_probability(y, se, p, cut, Benefit.ABOVE) == pytest.approx(1 - reference, abs=1e-7)
    assert C.estimate_probability(y, se, parse_prior("halfnormal(1)"), cut, Benefit.BELOW) is None


def _subgroups(tmp_path: Path, rows: str, outcome_mcid: float = 0.8):
    from bayesmeta.reanalysis.subgroups import SubgroupReanalysis, _from_analysis
    from bayesmeta.subgroups import analyse_subgroups, read_subgroup_table

    path = tmp_path / "subgroups.csv"
    path.write_text("characteristic,level,measure,estimate,ci_lower,ci_upper\n" + rows)
    table = read_subgroup_table(path)
    analysis = analyse_subgroups(table, mcid=outcome_mcid)
    levels, contrasts = _from_analysis(analysis)
    return table, analysis, SubgroupReanalysis("X", "main", analysis, {"main": levels}, {"main": contrasts})


def test_might_not_benefit_of_one_published_subgroup_is_the_closed_form(tmp_path):
    """One level: the flat-prior posterior is the published CI; P(HR >= 0.8) = 1 - Phi((ln 0.8 - ln 0.74) / se)."""
    _, _, s = _subgroups(tmp_path, "PVTT,Vp0,HR,0.74,0.53,1.03\n")
    o = SimpleNamespace(name="OS", measure="HR", benefit=Benefit.BELOW, mcid=0.8)
    se = (math.log(1.03) - math.log(0.53)) / (2 * Z)
    c = _plan_claim(kind="subgroup", characteristic="PVTT", level="Vp0", asserts="no_benefit")
    r = C._subgroup(c, s, o)
    assert r.probability == pytest.approx(1 - stats.norm.cdf((math.log(0.8) - math.log(0.74)) / se), abs=1e-10)
    assert r.others["P(HR < 1)"] == pytest.approx(stats.norm.cdf(-math.log(0.74) / se), abs=1e-10)
    assert r.verdict is Verdict.NOT_SUPPORTED
    harm = C._subgroup(_plan_claim(kind="subgroup", characteristic="PVTT", level="Vp0", asserts="harm"), s, o)
    assert harm.event == "P(HR > 1)"
    assert harm.probability == pytest.approx(stats.norm.sf(-math.log(0.74) / se), abs=1e-10)


def test_the_sensitivity_path_equals_the_full_subgroup_analysis(tmp_path):
    """Under the same priors, the light path of the sensitivity prior sets (pooled_probabilities) gives the full
    analysis's probabilities (analyse_subgroups); every-level claims take the smallest of them."""
    from bayesmeta.reanalysis.subgroups import pooled_probabilities

    table, analysis, s = _subgroups(tmp_path, "PVTT,Vp0,HR,0.74,0.53,1.03\nPVTT,Vp3,HR,0.39,0.29,0.52\n"
                                    "PVTT,Vp4,HR,0.48,0.39,0.60\nsex,male,HR,0.38,0.21,0.68\n")
    levels, contrasts = pooled_probabilities(table, table.characteristics, Benefit.BELOW, 0.8, "normal(0, 4)",
                                             "halfnormal(0.5)", s.levels["main"])
    for key, p in s.levels["main"].items():
        assert levels[key].prob_benefit == pytest.approx(p.prob_benefit, abs=1e-12)
        assert levels[key].prob_mcid == pytest.approx(p.prob_mcid, abs=1e-12)
    assert contrasts == pytest.approx(s.contrasts["main"], abs=1e-12)
    o = SimpleNamespace(name="OS", measure="HR", benefit=Benefit.BELOW, mcid=0.8)
    every = C._subgroup(_plan_claim(kind="subgroup", exclude=(("PVTT", "Vp0"),)), s, o)
    assert every.probability == min(p.prob_benefit for k, p in s.levels["main"].items() if k != ("PVTT", "Vp0"))
    assert every.facts["levels"] == 3
    contrast = C._contrast(_plan_claim(kind="contrast", characteristic="PVTT", level="Vp4", reference="Vp0"), s, o)
    back = C._contrast(_plan_claim(kind="contrast", characteristic="PVTT", level="Vp0", reference="Vp4"), s, o)
    assert contrast.probability == pytest.approx(1 - back.probability, abs=1e-12)
    assert contrast.facts["median"] == pytest.approx(1 / back.facts["median"], rel=1e-12)


# -- the reports ------------------------------------------------------------------------------------------------
def test_the_synthetic_report_tests_its_three_claims(synthetic_report):
    out = synthetic_report[0]
    s = json.loads((out / "summary.json").read_text())
    claims = {c["id"]: c for c in s["claims"]}
    assert list(claims) == ["ae-benefit", "young-no-benefit", "safety"]
    assert claims["ae-benefit"]["probability"] == pytest.approx(s["outcomes"]["AE"]["bayes"]["prob_below"]["1.0"],
                                                                abs=1e-12)  # benefit below: P(RR < 1)
    se = (math.log(0.83) - math.log(0.30)) / (2 * Z)
    assert claims["young-no-benefit"]["probability"] == pytest.approx(
        1 - stats.norm.cdf((math.log(0.8) - math.log(0.5)) / se), abs=1e-10)
    assert claims["safety"]["verdict"] == "cannot be tested with the data here"
    with (out / "tables" / "claims_1_the_paper_s_conclusions_tested.csv").open() as f:
        table = list(csv.reader(f))
    assert [r[0] for r in table[1:]] == list(claims) and [r[7] for r in table[1:]] == [c["verdict"] for c in
                                                                                          claims.values()]


@pytest.mark.slow
def test_the_haic_report_has_one_claim_row_per_plan_claim_in_every_output(haic_report):
    import docx

    from bayesmeta.report.claims import CLAIMS_COLUMNS, answer

    plan, files = haic_report
    s = json.loads(files.summary.read_text())
    assert [c["id"] for c in s["claims"]] == [c.id for c in plan.claims] and len(plan.claims) >= 20
    assert {c["verdict"] for c in s["claims"]} == {"supported", "weaker than stated", "not supported",
                                                   "cannot be tested with the data here"}
    html = files.html.read_text()
    assert html.index('id="summary"') < html.index('id="claims"') < html.index('id="overview"')
    assert 'id="subgroups"' in html and 'id="surrogacy"' in html
    document = docx.Document(str(files.folder / "report.docx"))
    table = next(t for t in document.tables if [c.text for c in t.rows[0].cells] == CLAIMS_COLUMNS)
    rows = [[c.text for c in r.cells] for r in table.rows[1:]]
    assert [r[0] for r in rows] == [c["id"] for c in s["claims"]]
    assert [r[7] for r in rows] == [c["verdict"] for c in s["claims"]]
    assert [r[5] for r in rows] == [answer(c) for c in s["claims"]]
    assert [r[2] for r in rows] == [c.text for c in plan.claims]
    pvtt = next(c for c in s["claims"] if c["id"] == "no-pvtt")
    assert pvtt["verdict"] == "not supported" and pvtt["others"]["P(HR < 1)"] > 0.95
    assert set(s["subgroups"]) == {"OS", "PFS"} and set(s["surrogacy"]) == {"ORR~OS", "ORR~PFS"}
    assert not s.get("surrogacy_skipped")
    association = next(c for c in s["claims"] if c["id"] == "orr-os-association")
    rho = s["surrogacy"]["ORR~OS"]
    assert association["verdict"] == "weaker than stated"  # k = 7: rho's interval reaches far into (-1, 1)
    assert rho["rho"]["ci_upper"] > 0 > rho["rho"]["ci_lower"]


def test_the_surrogacy_section_reads_a_surrogacy_record():
    """A SurrogacyResult built by hand (no sampling) through summary.json's form into the report's table."""
    from bayesmeta.reanalysis.result import to_json
    from bayesmeta.report.claims import surrogacy_blocks
    from bayesmeta.summaries import Summary
    from bayesmeta.surrogacy import Prediction, PriorVsPosterior, RankCorrelation, SurrogacyResult

    rho = Summary(-0.6, -0.5, 0.3, -0.96, 0.24)
    other = Summary(0.1, 0.1, 0.1, -0.1, 0.3)
    fit = SurrogacyResult(
        x_outcome="ORR", y_outcome="OS", x_measure="RR", y_measure="HR", study=("a", "b", "c"), unpaired=(),
        level=0.95, priors={}, rho=rho, slope=other, intercept=other, conditional_sd=other, mu_x=other, mu_y=other,
        tau_x=other, tau_y=other, prob_rho_negative=0.93,
        prior_vs_posterior=PriorVsPosterior(3, (-0.95, 0.95), (-0.96, 0.24), 0.63, ""),
        rank_correlation=RankCorrelation(3, -0.71, 0.05, -0.54, 0.031),
        prediction=Prediction(2.2, 0.0, other, {"median": 0.6, "ci_lower": 0.4, "ci_upper": 0.9}, 0.98),
        diagnostics={})
    s = {"surrogacy": {"ORR~OS": to_json(fit.as_dict())}, "surrogacy_skipped": {"ORR~PFS": "quick run"}}
    blocks = surrogacy_blocks(s)
    table = next(b for b in blocks if hasattr(b, "rows"))
    cells = {r[0]: r[1] for r in table.rows}
    assert cells["correlation rho of the true effects"] == "-0.60 (-0.96 to 0.24)"
    assert cells["Spearman r as published"] == "-0.54 (p = 0.031)" and cells["P(rho < 0)"] == "0.930"
    assert cells["HR predicted for a new trial with RR 2.2"] == "0.60 (0.40 to 0.90)"
    assert any("63% as wide" in getattr(b, "text", "") for b in blocks)
    assert any("ORR for PFS: not fitted (quick run)" in getattr(b, "text", "") for b in blocks)


def test_an_outcome_label_that_already_names_the_outcome_is_not_repeated():
    """'Catheter-related bloodstream infection (CRBSI)' for outcome CRBSI, not '... (CRBSI) (CRBSI)'."""
    from types import SimpleNamespace

    from bayesmeta.reanalysis.claims import outcome_words

    assert outcome_words(SimpleNamespace(label="Catheter-related bloodstream infection (CRBSI)", name="CRBSI")) == \
        "Catheter-related bloodstream infection (CRBSI)"
    assert outcome_words(SimpleNamespace(label="Overall survival", name="OS")) == "Overall survival (OS)"
    assert outcome_words(SimpleNamespace(label="OS", name="OS")) == "OS"


def test_a_claim_of_bias_reads_the_probability_of_the_bias_models(folder):
    """A paper that warns of an overestimated effect (Niel-Weise 2007: "strong arguments in favor of a systematic
    overestimation") asserts bias: P(publication bias) is the inclusion probability itself, and the plan accepts
    asserts = "bias" (or the default "no_bias") for a bias claim, nothing else."""
    a = _analysis("below", {"1.0": 0.99}, pd.DataFrame())
    a.bias = {"inclusion": {"bias": {"prior_prob": 0.5, "post_prob": 0.84, "bf": 5.25}}, "ensemble": "pet-peese"}
    r = C._bias(_plan_claim(kind="bias", asserts="bias"), a)
    assert (r.event, r.probability, r.verdict) == ("P(publication bias)", pytest.approx(0.84), Verdict.WEAKER)
    path = folder / "bias_claim.toml"
    path.write_text((folder / "base.toml").read_text() + "\n" +
                    _claim('kind = "bias"\noutcome = "AE"\nasserts = "bias"'))
    assert [c.asserts for c in load_plan(path).claims] == ["bias"]
    error = _load(folder, _claim('kind = "bias"\noutcome = "AE"\nasserts = "benefit"'))
    assert "claims[0] ('c1').asserts" in str(error) and "no_bias, bias" in str(error)
