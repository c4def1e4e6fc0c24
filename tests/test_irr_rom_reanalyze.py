"""`bayesmeta reanalyze` on a plan with an incidence-rate-ratio outcome (dat.hart1999), end to end: its pooling
against R metafor (tests/reference/make_irr_rom_fixtures.R), its posterior against dense quadrature, its report
in ratios. Apart from tests/test_irr_rom.py so that each file stays within the suite's per-file time."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_irr_rom import REF, _cli, _dense_mu, _reference

ROOT = Path(__file__).resolve().parents[1]


def test_reanalyze_runs_a_plan_with_an_irr_outcome(tmp_path, monkeypatch):
    """A small plan (hart1999, no bias section, 10 simulations, --quick, no figures: the figures of a ratio are
    drawn by the report tests): exit 0, summary.json's REML equal to metafor's, its posterior of mu to the dense
    quadrature, reported as ratios, and the report's sentences naming the IRR."""
    import bayesmeta.report.writer as writer

    monkeypatch.setattr(writer, "figure_specs", lambda result: [])
    rows = pd.read_csv(ROOT / "tests" / "reference" / "hart1999_irr.csv").rename(columns={"study": "study_id"})
    rows.insert(1, "outcome", "stroke")
    rows.insert(2, "measure", "IRR")
    rows.to_csv(tmp_path / "outcomes.csv", index=False)
    (tmp_path / "plan.toml").write_text('title = "Warfarin and stroke"\n[data]\noutcomes = "outcomes.csv"\n'
                                        'pooling = "REML"\n[outcomes.stroke]\nmeasure = "IRR"\nbenefit = "below"\n'
                                        '[monitoring]\nsimulations = 10\n[bias]\nenabled = false\n')
    status, _, err = _cli(["reanalyze", tmp_path / "plan.toml", "--out", tmp_path / "report", "--quick",
                           "--no-cache", "--quiet"])
    assert status == 0, err
    outcome = json.loads((tmp_path / "report" / "summary.json").read_text())["outcomes"]["stroke"]
    assert outcome["measure"] == "IRR" and outcome["k"] == 6
    reml, want = outcome["frequentist"]["reml"], REF["irr"]["fits"]["REML"]
    for key in ("estimate", "ci_lower", "ci_upper", "tau2"):
        assert reml[key] == pytest.approx(want[key], abs=1e-6), key
    dense = _dense_mu(_reference("irr"), np.sqrt(_reference("irr", "vi")))
    for key in ("median", "ci_lower", "ci_upper"):
        assert outcome["bayes"]["reported"]["mu"][key] == pytest.approx(math.exp(dense[key]), rel=1e-4), key
    report = (tmp_path / "report" / "report.md").read_text()
    assert "| stroke (IRR) | 6 | 0.37 (0.25 to 0.55) |" in report and "P(IRR < 1) > 0.999" in report
