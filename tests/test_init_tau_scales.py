"""`bayesmeta init` shows, commented under [priors], where the prior grid's tau scales of an outcome in its own
units (MD, GEN) are set (``priors.tau_scales``, README "The outcome's scale unit"): sigma_u / 8 x (0.5, 1, 2, 4)
(bayesmeta.scale_unit), whose example for sigma_u = 26 days the line gives. A ratio outcome keeps the packaged
grid and gets no such line; either plan loads as written, and the line uncommented sets the grid."""

from __future__ import annotations

from pathlib import Path

import pytest

from bayesmeta.plan import load_plan
from bayesmeta.plan_template import plan_text
from bayesmeta.scale_unit import scale_unit

TABLES = {
    "MD": ("study_id,outcome,measure,mean_treatment,sd_treatment,total_treatment,mean_control,sd_control,"
           "total_control\nA,stay,MD,20,10,40,25,12,42\nB,stay,MD,18,9,35,24,11,33\nC,stay,MD,30,15,50,31,14,48\n"),
    "RR": ("study_id,outcome,measure,events_treatment,total_treatment,events_control,total_control\n"
           "A,death,RR,10,100,15,100\nB,death,RR,8,120,14,118\nC,death,RR,20,200,22,190\n"),
}
LINE = "# tau_scales = [1.625, 3.25, 6.5, 13]"


@pytest.mark.parametrize("measure", ["RR", "MD"])
def test_the_tau_scales_line_is_offered_for_an_outcome_in_its_own_units_only(tmp_path: Path, measure: str):
    (tmp_path / "outcomes.csv").write_text(TABLES[measure])
    target = tmp_path / "plan.toml"
    text = plan_text(tmp_path / "outcomes.csv", plan_path=target)
    target.write_text(text)
    plan = load_plan(target)
    assert plan.outcomes[0].measure == measure and plan.tau_scales is None
    lines = [line for line in text.splitlines() if line.startswith(LINE)]
    assert len(lines) == (measure == "MD")
    if measure == "MD":
        priors = text.index("[priors]")
        assert priors < text.index(LINE) < text.index("[outcomes.")  # inside [priors] once uncommented
        target.write_text(text.replace(LINE, LINE[2:]))
        grid = load_plan(target).tau_scales
        assert grid == scale_unit("MD", uisd=26.0).tau_scales()
