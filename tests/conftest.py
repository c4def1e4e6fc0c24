"""Paths and plan-declared vocabulary of the first case (the HAIC meta-analysis in data/), shared by the tests."""

from __future__ import annotations

from pathlib import Path

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
