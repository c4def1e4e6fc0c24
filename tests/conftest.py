"""Shared by the tests: bayesmeta's caches (compiled models, results, figures, report notes) go to a temporary
folder for the session unless BAYESMETA_CACHE_DIR is already set, so tests neither read nor fill the user's; the
paths and plan-declared vocabulary of the first case (the HAIC meta-analysis in data/); reports that several test
files read, computed once (synthetic_report, haic_report); and how pytest-xdist workers split the suite."""

from __future__ import annotations

import atexit
import gc
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

# property-based tests draw the same examples on every run (derived from each test's name), so the suite gives
# the same result on every machine, and keep no example database in the project
settings.register_profile("bayesmeta", derandomize=True, database=None)
settings.load_profile("bayesmeta")

if not os.environ.get("BAYESMETA_CACHE_DIR"):
    _folder = tempfile.mkdtemp(prefix="bayesmeta-test-cache-")
    os.environ["BAYESMETA_CACHE_DIR"] = _folder
    os.environ["BAYESMETA_TEST_CACHE_DIR"] = _folder  # ours: pytest-xdist workers each take a subfolder of it
    atexit.register(shutil.rmtree, _folder, ignore_errors=True)
elif os.environ.get("PYTEST_XDIST_WORKER") and os.environ.get("BAYESMETA_TEST_CACHE_DIR") == os.environ[
        "BAYESMETA_CACHE_DIR"]:
    # a worker of `pytest -n N` inherits the controller's folder: one subfolder per worker, so that no two
    # processes write the same result or figure entries (the controller removes the whole folder at exit); the
    # compiled NUTS models are shared (bayesmeta.mcmc.diskcache locks each entry while it compiles), so each model
    # structure is compiled once per run, by whichever worker needs it first
    _shared = os.path.join(os.environ["BAYESMETA_CACHE_DIR"], "compiled")
    _folder = os.path.join(os.environ["BAYESMETA_CACHE_DIR"], os.environ["PYTEST_XDIST_WORKER"])
    os.makedirs(_folder, exist_ok=True)
    os.makedirs(_shared, exist_ok=True)
    if not os.path.lexists(os.path.join(_folder, "compiled")):
        os.symlink(_shared, os.path.join(_folder, "compiled"))
    os.environ["BAYESMETA_CACHE_DIR"] = os.environ["BAYESMETA_TEST_CACHE_DIR"] = _folder

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
# Tests read these folders; a test that changes one works on a copy. Under pytest-xdist the files using them share
# a worker (XDIST_GROUPS below).
SYNTHETIC_PLAN = ROOT / "tests" / "reference" / "reanalysis_synthetic" / "plan.toml"
TEST_DPI = 72
TEST_FIGURES = ("--figure-formats", "png", "--figure-dpi", str(TEST_DPI))
"""How the tests' full report runs write figures: PNG only, at 72 dpi (see synthetic_report)."""


@pytest.fixture(scope="session")
def synthetic_report(tmp_path_factory):
    """`bayesmeta reanalyze` (in this process) of the synthetic plan run twice with one result cache folder: a
    fresh run, then a cached one. Returns (report folder, cache folder, the two exit codes, the two summary.json
    contents). The first run also fills the session's figure store with this plan's figures, as PNG only at
    72 dpi (TEST_FIGURES, as every full report run of the tests: SVG and PDF would add about half to the time of
    drawing, and 300 dpi a third to that of the PNG; tests/test_figure_formats.py and test_cache.py write
    those)."""
    from bayesmeta.cli import main

    base = tmp_path_factory.mktemp("synthetic")
    out, cache = base / "report", base / "cache"
    codes, summaries = [], []
    for _ in range(2):
        codes.append(main(["reanalyze", str(SYNTHETIC_PLAN), "--out", str(out), "--cache-dir", str(cache),
                           "--quiet", *TEST_FIGURES]))
        summaries.append((out / "summary.json").read_bytes())
    return out, cache, codes, summaries


@pytest.fixture(scope="session")
def haic_report(tmp_path_factory):
    """The first case's plan (models/haic.toml) with a short NUTS cross-check (400 tuning steps and 400 draws
    per chain) and a quick run's number of simulations per operating characteristic, run once by run_plan in this
    process (the test worker keeps the compiled NUTS model for test_mcmc; a second process would import everything
    again on a machine whose cores the workers already fill) and written by write_report with PNG figures at
    72 dpi (as TEST_FIGURES). Returns (plan, ReportFiles)."""
    from bayesmeta.plan import QUICK_SIMULATIONS, load_plan
    from bayesmeta.reanalysis import run_plan
    from bayesmeta.report import write_report

    plan = load_plan(HAIC_PLAN).with_mcmc(draws=400, tune=400).with_monitoring(simulations=QUICK_SIMULATIONS)
    files = write_report(run_plan(plan, parallel=False), tmp_path_factory.mktemp("haic") / "haic",
                         figure_formats=("png",), figure_dpi=TEST_DPI)
    return plan, files


# -- pytest-xdist (`make test`: `pytest -n 2 --dist loadfile --no-loadscope-reorder`) -----------------------------
# Each test file runs whole on one worker, so its module-scoped fixtures are computed once, and the files of a
# group in XDIST_GROUPS share a worker, in the order listed: they use the same session fixtures above, or NUTS models
# of the same structure (bayesmeta.mcmc.compiled keeps them in the process; the workers share the compiled folder
# above): haic_report compiles the 32-slot normal model that test_mcmc refits, and test_mcmc_diskcache compiles the
# binomial-normal model that the rest of its group fits. Units are handed out in the order of XDIST_ORDER, the
# other files after them in their usual order. The longest come first, so that no long one starts last, except
# that the binomial-normal and surrogacy models are compiled after the normal one: on a machine whose PyTensor
# cache is empty, as CI's, a model compiles PyTensor's numba code of each of its ops that is not cached yet, and the
# three models share many (the binomial-normal model's first compile took 33 s of CPU alone and 20 s after the
# normal model's). The reports group starts with a file that computes haic_report at its first test, and the
# other worker runs the next units meanwhile, none of which fits a NUTS model (about 90 s of CPU; the normal
# model's first compile and the HAIC report take 40-50 s with an empty cache).
# (pytest-xdist's own xdist_group marks are not used: pytest-xdist 3.8 records them in an attribute that pytest 9
# no longer reads.)
XDIST_GROUPS = {
    "reports": ("test_journal_outputs.py", "test_summary_schema.py", "test_claims.py", "test_cache.py",
                "test_mcmc.py", "test_report.py", "test_report_browser.py"),
    "binomial-nuts": ("test_mcmc_diskcache.py", "test_cli.py", "test_vocabulary.py", "test_mcmc_binomial.py",
                      "test_report_binomial.py"),
}
XDIST_ORDER = ("reports", "test_output_folder.py", "test_wheel.py", "test_gallery.py", "test_init.py",
               "test_reanalysis.py", "test_quiet.py", "test_notebook.py", "test_input_reliability.py", "binomial-nuts",
               "test_surrogacy.py", "test_batch.py", "test_calibration.py", "test_rbayesmeta_fixtures.py",
               "test_report_bias.py")
_GROUP_OF = {name: group for group, names in XDIST_GROUPS.items() for name in names}


def xdist_unit(nodeid: str) -> str:
    """The unit of work a test belongs to: its file's group, else its file."""
    path = nodeid.split("::", 1)[0]
    return _GROUP_OF.get(path.rsplit("/", 1)[-1], path)


def _unit_rank(unit: str) -> int:
    name = unit.rsplit("/", 1)[-1]
    return XDIST_ORDER.index(name) if name in XDIST_ORDER else len(XDIST_ORDER)


def _order(nodeid: str) -> tuple[int, int]:
    """Units in the order of XDIST_ORDER; within a group, its files in the order of XDIST_GROUPS."""
    unit, name = xdist_unit(nodeid), nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
    return _unit_rank(unit), XDIST_GROUPS[unit].index(name) if unit in XDIST_GROUPS else 0


def pytest_collection_finish(session):
    # The cyclic garbage collector took about 7% of the CPU time of the report and NUTS tests (measured with
    # gc.callbacks), mostly rescanning what lives for the whole session. The imported libraries and collected tests
    # are moved out of its reach (gc.freeze), and the youngest generation is collected after 10 000 allocations
    # instead of 700: in a run of the whole suite on two workers, 31.4 s of collector time became 17.6 s.
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def pytest_collection_modifyitems(config, items):
    # every worker collects, in the same order (and so does a run without workers, so that a group's files run in
    # its order there too)
    items.sort(key=lambda item: _order(item.nodeid))


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile` with the files of a group as one unit (see XDIST_GROUPS)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class GroupedFileScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_unit(nodeid)

    return GroupedFileScheduling(config, log)
