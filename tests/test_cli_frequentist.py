"""`bayesmeta frequentist` in-process: JSON against metafor fixtures, the readable table, exit 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesmeta.cli import main

FIX = json.loads((Path(__file__).parent / "reference" / "metafor_fixtures.json").read_text())
BCG = FIX["datasets"]["bcg"]


def _fit(dataset: str, method: str, test: str) -> dict:
    return next(
        c
        for c in FIX["fits"]
        if c["dataset"] == dataset and c["method"] == method and c["test"] == test and c["level"] == 0.95
    )


@pytest.fixture()
def bcg_counts(tmp_path: Path) -> Path:
    path = tmp_path / "bcg_counts.csv"
    pd.DataFrame(
        {
            "study": BCG["study"],
            "events_treatment": BCG["ai"],
            "total_treatment": BCG["n1i"],
            "events_control": BCG["ci"],
            "total_control": BCG["n2i"],
        }
    ).to_csv(path, index=False)
    return path


@pytest.fixture()
def bcg_yivi(tmp_path: Path) -> Path:
    path = tmp_path / "bcg_yivi.csv"
    pd.DataFrame({"study": BCG["study"], "yi": BCG["yi"], "vi": BCG["vi"]}).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("method,hksj", [("REML", False), ("DL", True), ("PM", False), ("FE", False), ("ML", True)])
def test_json_matches_metafor(bcg_counts, capsys, method, hksj):
    args = ["frequentist", str(bcg_counts), "--method", method, "--json"] + (["--hksj"] if hksj else [])
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    ref = _fit("bcg", method, "knha" if hksj else "z")
    assert out["k"] == 13 and out["method"] == method and out["measure"] == "RR"
    for key in ("estimate", "se", "ci_lower", "ci_upper", "tau2", "i2", "h2", "q", "q_p"):
        assert out[key] == pytest.approx(ref[key], abs=1e-6), key
    assert out["reported"]["estimate"] == pytest.approx(np.exp(ref["estimate"]), rel=1e-6)
    assert out["reported"]["pi_upper"] == pytest.approx(np.exp(ref["pi_upper"]), rel=1e-6)


def test_yi_vi_input_has_no_reported_scale(bcg_yivi, capsys):
    assert main(["frequentist", str(bcg_yivi), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["estimate"] == pytest.approx(_fit("bcg", "REML", "z")["estimate"], abs=1e-6)
    assert "reported" not in out


def test_readable_table_shows_ratio_scale(bcg_counts, capsys):
    assert main(["frequentist", str(bcg_counts), "--method", "DL"]) == 0
    text = capsys.readouterr().out
    ref = _fit("bcg", "DL", "z")
    expected = f"{np.exp(ref['estimate']):.3f} [{np.exp(ref['ci_lower']):.3f}, {np.exp(ref['ci_upper']):.3f}]"
    assert expected in text
    assert "Aronson 1948" in text and "I^2" in text


def test_bad_input_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("study,yi,vi\nA,0.1,0.2\nB,0.3,-1\n")
    assert main(["frequentist", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "row 3" in err and "vi" in err


def test_knha_with_one_study_exits_2(tmp_path, capsys):
    one = tmp_path / "one.csv"
    one.write_text("study,yi,vi\nA,0.1,0.2\n")
    assert main(["frequentist", str(one), "--hksj"]) == 2
    assert "Knapp-Hartung" in capsys.readouterr().err


def test_unknown_method_is_a_usage_error(bcg_yivi):
    assert main(["frequentist", str(bcg_yivi), "--method", "SJ"]) == 2
