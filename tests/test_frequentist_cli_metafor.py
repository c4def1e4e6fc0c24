"""`bayesmeta frequentist` options against R metafor 3.8.1 (tests/reference/make_frequentist_cli_fixtures.R) on
two users' tables: Normand 1999 (length of stay, means and SDs) and Zelniker et al. 2019 (hazard ratios, a long
table of four outcomes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bayesmeta.cli import main

REF = Path(__file__).parent / "reference"
NORMAND = REF / "normand1999_outcomes.csv"
ZELNIKER = REF / "zelniker2019_outcomes.csv"
FIX = json.loads((REF / "frequentist_cli_fixtures.json").read_text())
TOL = {"rel": 1e-8, "abs": 1e-10}


def _run(capsys, *args: str) -> dict:
    assert main(["frequentist", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _data(ref: dict) -> list[str]:
    return [str(NORMAND)] if ref["dataset"] == "normand" else [str(ZELNIKER), "--outcome", ref["outcome"]]


@pytest.mark.parametrize("ref", FIX["confint"], ids=lambda r: f"{r['dataset']}-{r['outcome']}-{r['method']}-{r['level']}")
def test_qprofile_intervals_match_metafor_confint(capsys, ref):
    out = _run(capsys, *_data(ref), "--method", ref["method"], "--level", str(ref["level"]))
    h = out["heterogeneity"]
    assert h["method"] == "Q-profile" and h["level"] == ref["level"]
    for name in ("tau2", "tau", "i2", "h2"):
        for key in ("estimate", "ci_lower", "ci_upper"):
            assert h[name][key] == pytest.approx(ref[name][key], **TOL), (name, key)


def test_qprofile_interval_is_printed_for_people(capsys):
    assert main(["frequentist", str(NORMAND)]) == 0
    text = capsys.readouterr().out
    assert "Q-profile 95% CI" in text
    assert "292.9181" in text and "2889.4513" in text  # Normand, REML, per-arm variances (metafor confint)


def test_common_effect_has_no_heterogeneity_interval(capsys):
    assert "heterogeneity" not in _run(capsys, str(NORMAND), "--method", "FE")
