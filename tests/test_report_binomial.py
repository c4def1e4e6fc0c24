"""The binomial-normal model in the report (plan ``outcomes.<name>.likelihood = "binomial"``) on Niel-Weise et al.
2007 (17 trials of arm counts after the double-zero trial, 5 with a zero cell;
tests/reference/nielweise2007_counts.csv): its numbers against metafor's maximum-likelihood fit of the same model
(rma.glmm, model "UM.RS": random study baselines and random log ORs with the +-1/2 coding;
tests/reference/make_binomial_fixtures.R), the report's words and tables against summary.json, the diagnostics'
gate, the zero-cell studies against the counts, and the plan's errors. One small report (one outcome, exact +
binomial, PNG figures at 72 dpi) on the binomial-normal model that the rest of the "binomial-nuts" group compiles
(tests/conftest.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
from conftest import TEST_DPI

from bayesmeta.errors import InputError
from bayesmeta.plan import LIKELIHOODS, load_plan

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "reference"
COUNTS = REFERENCE / "nielweise2007_counts.csv"
GLMM = json.loads((REFERENCE / "binomial_glmm.json").read_text())
SCHEMA = json.loads((ROOT / "bayesmeta" / "resources" / "summary.schema.json").read_text())

PLAN = """title = "Niel-Weise et al. 2007: anti-infective-treated central venous catheters"
seed = 20240101
[data]
outcomes = "nielweise2007_counts.csv"
pooling = "REML"
[priors]
main = "vague"
[outcomes.CRBSI]
label = "Catheter-related bloodstream infection"
measure = "{measure}"
benefit = "below"
thresholds = [0.5, 1.0]
likelihood = "{likelihood}"
[monitoring]
outcomes = []
[mcmc]
outcomes = []
chains = 2
draws = 1000
tune = 500
[bias]
enabled = false
"""


def write_plan(folder: Path, measure: str = "OR", likelihood: str = "binomial", counts: Path = COUNTS) -> Path:
    shutil.copy(counts, folder / "nielweise2007_counts.csv")
    path = folder / "plan.toml"
    path.write_text(PLAN.format(measure=measure, likelihood=likelihood))
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The plan run in this process (the compiled binomial-normal model of the group is reused) and written with
    PNG figures at 72 dpi. Returns (summary.json, report.md)."""
    from bayesmeta.reanalysis import run_plan
    from bayesmeta.report import write_report

    folder = tmp_path_factory.mktemp("binomial")
    files = write_report(run_plan(load_plan(write_plan(folder)), parallel=False), folder / "report",
                         figure_formats=("png",), figure_dpi=TEST_DPI)
    assert [p.name for p in files.posteriors] == ["CRBSI_exact.nc", "CRBSI_binomial.nc"]
    return json.loads(files.summary.read_text()), files.markdown.read_text()


def test_binomial_fit_agrees_with_metafor_maximum_likelihood(report):
    """Under the vague prior (mu ~ normal(0, 10), tau ~ half-normal(1), baselines normal(0, 10) and
    half-normal(2.5)) the posterior of the binomial-normal model is dominated by its likelihood, so its median and
    sd of mu sit near metafor's ML estimate and standard error, and its median of tau near the ML tau. Tolerances:
    0.2 ML standard errors for mu's median and 15% for its sd; 0.1 for tau's median (a quarter of its posterior
    sd). They hold the posterior-vs-ML difference (measured on 4 x 5000 draws: mu -1.289 vs -1.281, sd 0.342 vs
    se 0.330, tau 0.846 vs 0.852), glmer's Laplace approximation (nAGQ = 1) and the Monte Carlo error of 2 x 1000
    draws (about 0.015 for mu's median and 0.03 for tau's)."""
    summary, _ = report
    b = summary["outcomes"]["CRBSI"]["binomial"]
    assert b["k"] == GLMM["k"] == 17
    mu, tau = b["summary"]["mu"], b["summary"]["tau"]
    assert abs(mu["median"] - GLMM["mu"]) < 0.2 * GLMM["se"]
    assert abs(mu["sd"] / GLMM["se"] - 1) < 0.15
    assert abs(tau["median"] - GLMM["tau"]) < 0.1
    assert b["reported"]["mu"]["median"] == pytest.approx(np.exp(mu["median"]))
    # the normal approximation with continuity corrections does not reach the ML estimate: its pooled log OR lies
    # more than half an ML standard error closer to the null, which the binomial model corrects
    assert summary["outcomes"]["CRBSI"]["bayes"]["mu"]["median"] - GLMM["mu"] > 0.5 * GLMM["se"]


def test_the_zero_cell_studies_are_those_the_normal_model_corrected(report):
    """From the counts alone: the studies with a zero cell, less the one with no events in either arm (dropped by
    both models, as escalc's drop00 and rma.glmm drop it)."""
    summary, md = report
    counts = pd.read_csv(COUNTS)
    cells = counts[["events_treatment", "events_control"]].to_numpy()
    totals = counts[["total_treatment", "total_control"]].to_numpy()
    zero = ((cells == 0) | (cells == totals)).any(axis=1)
    double = (cells == 0).all(axis=1)
    expected = counts.loc[zero & ~double, "study_id"].tolist()
    zc = summary["outcomes"]["CRBSI"]["binomial"]["zero_cells"]
    assert [z["study"] for z in zc] == expected and len(expected) == 5
    assert all(z["added"] == 0.5 for z in zc)
    assert f"5 of the 17 studies have a zero cell: {expected[0]} (0/116 vs 3/117)" in md
    assert "the binomial-normal model uses their counts as they are" in md


def test_only_studies_with_a_zero_cell_are_listed_when_every_study_was_corrected():
    """zero_cells.to = "all" corrects every study; only those with a zero cell (none or all events in an arm) are
    the ones the binomial model takes differently."""
    from bayesmeta.reanalysis.binomial import zero_cell_studies

    effects = pd.DataFrame({"study_id": ["a", "b", "c", "d"],
                            "method": ["counts_cc", "counts_cc", "counts_cc", "counts"],
                            "events_treatment": [0, 3, 10, 0], "total_treatment": [10, 10, 10, 10],
                            "events_control": [2, 4, 5, 1], "total_control": [10, 10, 10, 10]})
    assert [z.study for z in zero_cell_studies(effects, 1.0)] == ["a", "c"]


def test_report_shows_both_likelihoods_with_summary_numbers(report):
    from bayesmeta.report.binomial import shift_words
    from bayesmeta.report.formatting import interval, num, prob

    summary, md = report
    o = summary["outcomes"]["CRBSI"]
    b = o["binomial"]
    assert "### Catheter-related bloodstream infection: binomial-normal model on the arm counts" in md
    rows = [line for line in md.splitlines() if line.startswith(("| binomial-normal", "| normal-normal"))]
    assert len(rows) == 2
    for row, fit in zip(rows, (o["bayes"], b)):
        r = fit["reported"]
        assert interval(r["mu"]["median"], r["mu"]["ci_lower"], r["mu"]["ci_upper"]) in row
        assert f"{num(r['predictive']['ci_lower'])} to {num(r['predictive']['ci_upper'])}" in row
        pooled = [p for p in fit["probabilities"] if p["parameter"] == "mu"]
        assert [p["threshold"] for p in pooled] == [0.5, 1.0]
        assert row.endswith(" | ".join(prob(p["probability"]) for p in pooled) + " |")
    s = b["shift"]
    assert s["normal_median"] == o["bayes"]["mu"]["median"] and s["binomial_median"] == b["summary"]["mu"]["median"]
    assert s["shift_sd"] == pytest.approx(s["shift"] / b["summary"]["mu"]["sd"])
    assert s["shift_sd"] < -0.5 and shift_words(s["shift_sd"]) == "differ materially"
    assert (f"The two likelihoods differ materially: the binomial-normal pooled OR is {num(s['ratio'])} times the "
            f"normal-normal one (further from the null") in md
    jsonschema.Draft202012Validator(SCHEMA).validate(summary)


def test_diagnostics_are_gated_and_their_warnings_reach_the_report(report):
    """The NUTS gate (Vehtari et al. 2021): a warning for each of R-hat >= 1.01, bulk or tail ESS < 400 and
    divergences, and each warning among the outcome's warnings and in the report's list of all warnings."""
    from bayesmeta.mcmc.diagnostics import ESS_MIN, RHAT_MAX

    summary, md = report
    o = summary["outcomes"]["CRBSI"]
    b, d = o["binomial"], o["binomial"]["diagnostics"]
    failed = (d["rhat_max"] >= RHAT_MAX) + (d["ess_bulk_min"] < ESS_MIN) + (d["ess_tail_min"] < ESS_MIN) + \
        (d["divergences"] > 0)
    assert len(b["warnings"]) == failed
    assert d["n_draws"] == b["chains"] * b["draws"] == 2000
    for w in b["warnings"]:
        assert f"binomial-normal (NUTS): {w}" in o["warnings"]
        assert f"CRBSI: binomial-normal (NUTS): {w}" in md
    assert f"max R-hat {d['rhat_max']:.3f}" in md
    assert ("call for longer chains" in md) == bool(b["warnings"])


def test_the_methods_paragraph_names_the_binomial_normal_model(report):
    from bayesmeta.report.docx import methods_paragraph

    summary, _ = report
    text = methods_paragraph(summary)
    assert ("For Catheter-related bloodstream infection, the binomial-normal model on the arm counts" in text
            and "2 chains of 500 tuning and 1000 draws" in text and "quick run" not in text)


def test_the_report_reuses_the_groups_compiled_binomial_model():
    """The plan's main prior set (vague) gives the same compiled structure as fit_binomial_nuts's default priors,
    which test_mcmc_binomial and test_mcmc_diskcache compile: only the priors' locations and scales differ, and
    those are data."""
    from bayesmeta.mcmc.models import ParamSpec, Structure, padded_size
    from bayesmeta.mcmc.prior_forms import prior_form
    from bayesmeta.priors import parse_prior

    def structure(mu: str, tau: str, k: int) -> Structure:
        spec = {n: ParamSpec.from_form(prior_form(parse_prior(t)))
                for n, t in {"mu": mu, "tau": tau, "m": "normal(0, 10)", "s": "halfnormal(2.5)"}.items()}
        return Structure("binomial", padded_size(k), spec["mu"], spec["tau"], baseline_mean=spec["m"],
                         baseline_sd=spec["s"])

    assert structure("normal(0, 10)", "halfnormal(1)", 17) == structure("normal(0, 4)", "halfnormal(0.5)", 30)


def test_a_skipped_binomial_model_is_noted():
    from bayesmeta.report.binomial import binomial_blocks

    o = {"label": "CRBSI", "binomial": None, "skipped": {"binomial-normal model": "quick run (--quick)"}}
    (block,) = binomial_blocks(o, 0.95)
    assert block.text == "CRBSI: no binomial-normal model (quick run (--quick))." and block.kind == "note"
    assert binomial_blocks({**o, "skipped": {}}, 0.95) == []


def test_plan_refuses_binomial_without_an_or_or_without_counts(tmp_path):
    from bayesmeta.cli.options import Likelihood

    assert LIKELIHOODS == tuple(v.value for v in Likelihood)  # the plan's word is fit --likelihood's
    assert load_plan(write_plan(tmp_path)).outcomes[0].likelihood == "binomial"
    assert load_plan(write_plan(tmp_path, likelihood="normal")).outcomes[0].likelihood == "normal"
    with pytest.raises(InputError, match=r"key 'outcomes.CRBSI.likelihood': the binomial-normal model is fitted on "
                                         r"the odds ratio only, and the outcome's measure is RR") as err:
        load_plan(write_plan(tmp_path, measure="RR"))
    assert 'measure = "OR"' in err.value.valid
    with pytest.raises(InputError, match="unknown value 'poisson'") as err:
        load_plan(write_plan(tmp_path, likelihood="poisson"))
    assert err.value.valid == "normal, binomial"
    rows = pd.read_csv(COUNTS)
    rows.loc[3, "events_control"] = None
    rows.to_csv(tmp_path / "holed.csv", index=False)
    with pytest.raises(InputError, match=r"study Raad_1997 \(row 5 of nielweise2007_counts.csv\) has no arm counts"):
        load_plan(write_plan(tmp_path, counts=tmp_path / "holed.csv"))


def test_init_offers_the_binomial_likelihood_for_an_or_with_arm_counts(tmp_path):
    """`bayesmeta init` writes the key commented out for an OR outcome with counts; uncommented, the plan loads."""
    from bayesmeta.plan_template import plan_text

    shutil.copy(COUNTS, tmp_path / "counts.csv")
    text = plan_text(tmp_path / "counts.csv", plan_path=tmp_path / "plan.toml")
    assert text.count('# likelihood = "binomial"') == 1
    (tmp_path / "plan.toml").write_text(text.replace('# likelihood = "binomial"', 'likelihood = "binomial"'))
    assert load_plan(tmp_path / "plan.toml").outcomes[0].likelihood == "binomial"
