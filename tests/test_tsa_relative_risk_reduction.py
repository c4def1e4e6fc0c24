"""A relative risk reduction in a [tsa.X] table: for a hazard-ratio outcome it is the anticipated HR = 1 - RRR and
the TSA sizes required events (Schoenfeld 1983: 4 (z_{1-alpha/2} + z_{1-beta})^2 / log(HR)^2); for an outcome it
cannot size (MD) the plan is rejected when it is loaded, naming the key."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayesmeta.cli import main
from bayesmeta.effect_data import EffectData
from bayesmeta.errors import InputError
from bayesmeta.plan import load_plan

ROOT = Path(__file__).resolve().parents[1]
# Zelniker et al. 2019 (Lancet 393:31-39), MACE: EMPA-REG OUTCOME, CANVAS, DECLARE-TIMI 58 as printed
MACE = [(0.86, 0.74, 0.99), (0.86, 0.75, 0.97), (0.93, 0.84, 1.03)]


def _mace() -> EffectData:
    hr, lo, hi = np.array(MACE).T
    return EffectData(study=("EMPA-REG", "CANVAS", "DECLARE"), yi=np.log(hr),
                      sei=(np.log(hi) - np.log(lo)) / (2 * stats.norm.ppf(0.975)), measure="HR")


def _schoenfeld(hr: float) -> float:
    return 4 * (stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) ** 2 / math.log(hr) ** 2


def _gallery_plan(tmp_path: Path, case: str, extra: str) -> Path:
    text = (ROOT / "models" / "gallery" / f"{case}.toml").read_text(encoding="utf-8")
    text = text.replace('"data/', f'"{ROOT}/data/').replace('"models/', f'"{ROOT}/models/')
    path = tmp_path / "plan.toml"
    path.write_text(text + extra, encoding="utf-8")
    return path


def test_relative_risk_reduction_sizes_an_hr_outcome_by_events():
    from bayesmeta import tsa

    result = tsa.tsa(_mace(), relative_risk_reduction=0.15, diversity=0.0)
    assert (result.measure, result.unit, result.effect) == ("HR", "events", pytest.approx(0.85))
    assert result.ris_fixed == pytest.approx(_schoenfeld(0.85), rel=1e-9)  # 1188.7 events
    assert result.ris_fixed == pytest.approx(tsa.tsa(_mace(), mcid=0.85, diversity=0.0).ris_fixed, rel=1e-12)


def test_reanalysis_tsa_of_an_hr_outcome_with_a_relative_risk_reduction(tmp_path):
    from bayesmeta.reanalysis.outcome import _tsa

    plan = load_plan(_gallery_plan(tmp_path, "glp1_mace", "\n[tsa.MACE]\nrelative_risk_reduction = 0.15\n"))
    (t,) = plan.tsa
    a = SimpleNamespace(warnings=[], skipped=[])
    _tsa(a, t, pd.DataFrame({"study_id": ["EMPA-REG", "CANVAS", "DECLARE"]}), _mace(), None)
    assert a.tsa.measure == "HR" and a.tsa.unit == "events"
    assert a.tsa.ris_fixed == pytest.approx(_schoenfeld(0.85), rel=1e-9)


def test_relative_risk_reduction_on_an_md_outcome_is_rejected_at_load(tmp_path, capsys):
    path = _gallery_plan(tmp_path, "parkinson_offtime", "\n[tsa.off_time]\nrelative_risk_reduction = 0.15\n")
    with pytest.raises(InputError) as info:
        load_plan(path)
    assert "tsa.off_time.relative_risk_reduction" in str(info.value)
    assert "mcid" in str(info.value)
    assert main(["reanalyze", str(path), "--out", str(tmp_path / "out"), "--quick"]) == 2
    err = capsys.readouterr().err
    assert "tsa.off_time.relative_risk_reduction" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra,key", [
    ("mcid = -1.0\n", "tsa.off_time.sd"),
    ("mcid = -1.0\nsd = 2.0\ncontrol_rate = 0.2\n", "tsa.off_time.control_rate"),
])
def test_md_tsa_that_cannot_be_sized_is_rejected_at_load(tmp_path, extra, key):
    with pytest.raises(InputError, match=key.replace(".", r"\.")):
        load_plan(_gallery_plan(tmp_path, "parkinson_offtime", f"\n[tsa.off_time]\n{extra}"))


def test_binary_tsa_without_a_control_rate_needs_control_arm_counts(tmp_path):
    # Hackshaw 1997: odds ratios with CIs, no arm counts: the control-arm event rate must come from the plan
    with pytest.raises(InputError, match=r"tsa\.lung_cancer\.control_rate"):
        load_plan(_gallery_plan(tmp_path, "hackshaw_ets", "\n[tsa.lung_cancer]\nrelative_risk_reduction = -0.2\n"))
    plan = load_plan(_gallery_plan(tmp_path, "hackshaw_ets", "\n[tsa.lung_cancer]\nrelative_risk_reduction = -0.2\n"
                                   "control_rate = 0.01\n"))
    assert plan.tsa[0].control_rate == 0.01
    # Li 2007 (magnesium): arm counts in every row, so the rate is pooled from the control arms
    text = (ROOT / "models" / "gallery" / "magnesium_mi.toml").read_text(encoding="utf-8")
    assert "control_rate = 0.082\n" in text
    path = _gallery_plan(tmp_path, "magnesium_mi", "")
    path.write_text(path.read_text(encoding="utf-8").replace("control_rate = 0.082\n", ""), encoding="utf-8")
    assert load_plan(path).tsa[0].control_rate is None
