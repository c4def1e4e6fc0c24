"""The gallery: each published meta-analysis of data/gallery/ reanalysed by its plan in models/gallery/ (quick
mode), its recomputed pooled numbers checked against the paper's printed ones (data/gallery/<case>/published.csv)
to the printed precision, and its report checked for the paper's words and none of the first case's."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from bayesmeta.cli import main
from bayesmeta.plan import load_plan
from bayesmeta.scales import reported_float
from conftest import TEST_FIGURES

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "bayesmeta" / "resources" / "summary.schema.json"
CASES = {  # case -> the number of studies its README says the data hold for the outcome
    "magnesium_mi": 22,
    "parkinson_offtime": 30,
    "glp1_mace": 7,
}
FIRST_CASE_WORDS = re.compile(r"\bHAIC\b|platinum|sorafenib", re.IGNORECASE)
FIRST_CASE_CODES = re.compile(r"\bOS\b|\bPFS\b")  # the first case's outcome codes, as written there
SUBGROUPS = {  # case -> published subgroup rows on a study-level column of the data, and known differences
    "magnesium_mi": {},  # its two subgroups (thrombolysis, dose) are not columns of the data
    "parkinson_offtime": {"DA": 0.014, "COMTI": 0.0, "MAOBI": 0.0},  # DA: 0.014 h/day off (case README)
    "glp1_mace": {},
}


@pytest.fixture(scope="module", params=list(CASES))
def case(request, tmp_path_factory):
    """One quick reanalysis per case, shared by the tests of that case: (name, plan, summary, report text)."""
    name = request.param
    plan_file = ROOT / "models" / "gallery" / f"{name}.toml"
    out = tmp_path_factory.mktemp(name) / "report"
    code = main(["reanalyze", str(plan_file), "--out", str(out), "--quick", "--no-cache", "--quiet", *TEST_FIGURES])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    html = re.sub(r"data:[^\"')]+", "", (out / "report.html").read_text())  # the text, not embedded images
    text = (out / "report.md").read_text() + "\n" + html
    return name, load_plan(plan_file), summary, text


def _printed(frame: pd.DataFrame, column: str) -> list[tuple[float, int]]:
    """(value, decimals printed) of each cell of a text column."""
    out = []
    for cell in frame[column]:
        text = str(cell).strip()
        out.append((float(text), len(text.split(".")[1]) if "." in text else 0))
    return out


def _published(name: str) -> pd.DataFrame:
    return pd.read_csv(ROOT / "data" / "gallery" / name / "published.csv", dtype=str, keep_default_na=False)


def test_quick_run_is_recorded_and_uses_every_study(case):
    name, plan, summary, _ = case
    assert summary["quick"] is True and summary["pooling"] == plan.pooling
    assert summary["monitoring_settings"]["simulations"] <= 20
    for o in plan.outcomes:
        result = summary["outcomes"][o.name]
        assert result["k"] == CASES[name]
        assert result["mcmc"] is None and "quick" in result["skipped"]["NUTS cross-check"]
        assert result["bayes"]["mu"]["ci_lower"] < result["bayes"]["mu"]["median"] < result["bayes"]["mu"]["ci_upper"]


def test_pooled_result_matches_the_paper_to_the_printed_precision(case):
    """The published pooled row of the plan's pooling (the 'model' column says which, where the paper printed
    both) is reproduced from the study rows: estimate and CI limits equal when rounded as printed."""
    name, plan, summary, _ = case
    rows = _published(name)
    rows = rows[rows["analysis"] == "pooled"]
    wanted = "common" if plan.pooling == "FE" else "random"
    checked = 0
    for o in plan.outcomes:
        mine = rows[(rows["outcome"] == o.name) & rows["model"].isin(["", wanted])]
        assert len(mine) == 1
        rule = summary["outcomes"][o.name]["frequentist"]["paper_rule"]
        assert rule["method"] == plan.pooling
        for column, key in (("estimate", "estimate"), ("ci_lower", "ci_lower"), ("ci_upper", "ci_upper")):
            (value, decimals), = _printed(mine, column)
            recomputed = reported_float(rule[key], o.measure)
            assert round(recomputed, decimals) == pytest.approx(value), (name, column, recomputed, value)
            checked += 1
    assert checked == 3 * len(plan.outcomes)


def test_every_published_pooled_row_is_compared(case):
    """Each printed pooled row of an analysed outcome has its row in the comparison table, recomputed with its
    own model; the magnesium review's common-effect row (Mantel-Haenszel in the review, inverse variance here)
    still agrees within the CIs."""
    name, plan, summary, _ = case
    rows = _published(name)
    names = {o.name for o in plan.outcomes}
    pooled = rows[(rows["analysis"] == "pooled") & rows["outcome"].isin(names)]
    compared = [r for r in summary["comparison"] if r["analysis"] == "pooled" and r["quantity"].startswith("pooled")]
    assert len(compared) == len(pooled)
    assert {r["status"] for r in compared} == {"reproduced"}


def test_subgroups_on_a_study_column_against_the_printed_estimates(case):
    """Published subgroup estimates of a study-level column (the Parkinson review's drug classes, printed
    without CIs) recomputed with the paper's pooling on that subgroup's studies: to the printed precision,
    except the DA figure, 0.014 h/day off as the case README documents."""
    name, plan, summary, _ = case
    rows = _published(name)
    rows = rows[(rows["analysis"] == "subgroup") & rows["level"].isin(list(SUBGROUPS[name]))]
    recomputed = {r["quantity"].split(" = ")[1]: r["recomputed_value"] for r in summary["comparison"]
                  if r["analysis"] == "subgroup"}
    assert set(recomputed) == set(SUBGROUPS[name])
    for (value, decimals), level in zip(_printed(rows, "estimate"), rows["level"]):
        off = SUBGROUPS[name][level]
        if off:
            assert abs(recomputed[level] - value) == pytest.approx(off, abs=0.001)
        else:
            assert round(recomputed[level], decimals) == pytest.approx(value)


def test_report_speaks_the_papers_words_only(case):
    name, plan, _, text = case
    for word in (plan.arms.treatment, plan.arms.control, *(o.label for o in plan.outcomes)):
        assert word in text, (name, word)
    for pattern in (FIRST_CASE_WORDS, FIRST_CASE_CODES):
        found = pattern.findall(text)
        assert not found, (name, sorted(set(found)))


def test_summary_follows_the_schema(case):
    import jsonschema

    _, _, summary, _ = case
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(summary)


def test_an_unlikely_benefit_is_stated_beside_its_likely_opposite(case):
    """Where P(benefit beyond a threshold) < 0.5 the report's probability statements also give the opposite event
    (the effect on the other side of the threshold, probability 1 - P), which is then the likely one: what a
    reader of an exposure, or of a treatment that does harm, asks about. Where P >= 0.5 they do not."""
    from bayesmeta.reanalysis.statements import stated

    name, plan, summary, text = case
    unlikely = 0
    for o in plan.outcomes:
        for p in summary["outcomes"][o.name]["bayes"]["probabilities"]:
            assert p["opposite_probability"] == pytest.approx(1.0 - p["probability"], abs=1e-12)
            assert p["opposite_statement"] == p["statement"].replace(o.benefit.sign, o.benefit.opposite_sign)
            said = f"{stated(p['statement'], p['probability'])}, so that it is "
            if p["probability"] < 0.5:
                unlikely += 1
                assert f"{said}{'above' if o.benefit.below else 'below'} {p['threshold']:g} is " \
                       f"{p['opposite_words']}: {stated(p['opposite_statement'], p['opposite_probability'])}" in text
            else:
                assert said not in text
    assert unlikely > 0 or name == "magnesium_mi"  # magnesium's benefit is likely beyond every threshold
