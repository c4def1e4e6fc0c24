"""Shared by the tests: bayesmeta's caches (compiled models, results, figures, report notes) go to a temporary
folder for the session unless BAYESMETA_CACHE_DIR is already set, so tests neither read nor fill the user's; and
the paths and plan-declared vocabulary of the first case (the HAIC meta-analysis in data/)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

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
