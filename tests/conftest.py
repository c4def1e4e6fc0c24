"""Shared by the tests: bayesmeta's caches (compiled models, results, figures, report notes) go to a temporary
folder for the session unless BAYESMETA_CACHE_DIR is already set, so tests neither read nor fill the user's; the
paths and plan-declared vocabulary of the first case (the HAIC meta-analysis in data/); and reports that several
test files read, computed once (synthetic_report, haic_report)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

if not os.environ.get("BAYESMETA_CACHE_DIR"):
    _folder = tempfile.mkdtemp(prefix="bayesmeta-test-cache-")
    os.environ["BAYESMETA_CACHE_DIR"] = _folder
    atexit.register(shutil.rmtree, _folder, ignore_errors=True)

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / "data"
HAIC_STUDIES = DATA_DIR / "haic_studies.csv"
HAIC_OUTCOMES = DATA_DIR / "haic_outcomes.csv"
HAIC_PUBLISHED = DATA_DIR / "published_results.csv"
HAIC_PLAN = ROOT / "models" / "haic.toml"
HAIC_LEVELS = {
    "platinum": ("oxaliplatin", "cisplatin", "carboplatin", "none"),
    "systemic": ("TKI", "ICI", "TKI+ICI"),
    "design": ("RCT", "prospective", "retrospective"),
}


def haic_tables():
    """The validated HAIC study and outcome tables (studies with the plan's declared covariate levels)."""
    from bayesmeta.data import load_outcomes, load_studies

    studies = load_studies(HAIC_STUDIES, HAIC_LEVELS)
    return studies, load_outcomes(HAIC_OUTCOMES, studies=studies)


def haic_effects_for(outcome: str):
    """The usable HAIC effects of one outcome (bayesmeta.effects.effects_for on the HAIC files)."""
    from bayesmeta.effects import effects_for

    studies, outcomes = haic_tables()
    return effects_for(outcome, outcomes, studies)


# -- reports shared by several test files (computed once per session, or once per pytest-xdist worker) ----------
# Tests read these folders; a test that changes one works on a copy.
SYNTHETIC_PLAN = ROOT / "tests" / "reference" / "reanalysis_synthetic" / "plan.toml"


@pytest.fixture(scope="session")
def synthetic_report(tmp_path_factory):
    """`bayesmeta reanalyze` (in this process) of the synthetic plan run twice with one result cache folder: a
    fresh run, then a cached one. Returns (report folder, cache folder, the two exit codes, the two summary.json
    contents). The first run also fills the session's figure store with this plan's figures."""
    from bayesmeta.cli import main

    base = tmp_path_factory.mktemp("synthetic")
    out, cache = base / "report", base / "cache"
    codes, summaries = [], []
    for _ in range(2):
        codes.append(main(["reanalyze", str(SYNTHETIC_PLAN), "--out", str(out), "--cache-dir", str(cache),
                           "--quiet"]))
        summaries.append((out / "summary.json").read_bytes())
    return out, cache, codes, summaries


@pytest.fixture(scope="session")
def haic_report(tmp_path_factory):
    """The first case's plan (models/haic.toml) with a short NUTS cross-check (400 tuning steps and 400 draws
    per chain), run once by run_plan and written by write_report. Returns (plan, ReportFiles)."""
    from bayesmeta.plan import load_plan
    from bayesmeta.reanalysis import run_plan
    from bayesmeta.report import write_report

    plan = load_plan(HAIC_PLAN).with_mcmc(draws=400, tune=400)
    files = write_report(run_plan(plan), tmp_path_factory.mktemp("haic") / "haic")
    return plan, files
