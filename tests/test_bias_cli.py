"""`bayesmeta bias`: JSON output and exit status 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bayesmeta.cli import main

DATA = Path(__file__).parent / "reference" / "power_pose.csv"


def test_bias_json_metabma(capsys):
    code = main(["bias", str(DATA), "--measure", "SMD", "--ensemble", "metabma", "--json", "--benefit", "above",
                 "--mu-prior", "cauchy(0, 0.7071067811865476)+", "--tau-prior", "invgamma(1, 0.15)"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["models"]) == 4
    assert sum(m["prior_prob"] for m in out["models"]) == pytest.approx(1.0)
    assert sum(m["post_prob"] for m in out["models"]) == pytest.approx(1.0)
    assert out["inclusion"]["effect"]["bf"] == pytest.approx(33.136, rel=2e-4)  # Gronau et al. 2017
    assert set(out["mu"]["analysis"]) == {"median", "mean", "sd", "ci_lower", "ci_upper"}


def test_bias_bad_input_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("study,yi,sei\nA,0.1,-0.2\nB,0.3,0.1\n")
    assert main(["bias", str(bad), "--measure", "SMD"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err


def test_bias_bad_prior_exits_2(capsys):
    assert main(["bias", str(DATA), "--measure", "SMD", "--ensemble", "metabma", "--mu-prior", "lognormal(1)"]) == 2
    assert "effect prior" in capsys.readouterr().err
