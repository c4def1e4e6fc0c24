"""`bayesmeta compare` against R metafor 3.8-1 (tests/reference/make_compare_fixtures.R): the heterogeneity beside
each pooling (Niel-Weise 2007), the graded agreement at the printed precision, and meta-regression rows
(Bangert-Drowns 2004): a factor level's coefficient, a numeric slope on the studies with a value, the QM test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesmeta.compare import compare_metaregression, compare_pooled
from bayesmeta.data import load_published

FIX = json.loads((Path(__file__).parent / "reference" / "compare_metafor.json").read_text())
NW = FIX["nielweise2007"]
BD = FIX["bangertdrowns2004"]
HEADER = "outcome,analysis,variable,level,k,measure,estimate,ci_lower,ci_upper,p_value,p_relation,i2_percent,where"


def _nielweise() -> pd.DataFrame:
    return pd.DataFrame({"study_id": NW["study"], "outcome": "CRBSI", "measure": "OR", "yi": NW["yi"],
                         "vi": NW["vi"]})


def _published(tmp_path: Path, rows: list[str]) -> pd.DataFrame:
    """A published file as a user writes it (the text keeps the printed decimals)."""
    path = tmp_path / "published.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return load_published(path)


@pytest.mark.parametrize("pooling", ["REML", "DL", "PM", "FE"])
def test_the_heterogeneity_beside_a_pooling_is_that_models(tmp_path, pooling):
    # REML: I^2 3.46% from tau^2 0.0356 (metafor); DerSimonian-Laird's I^2 (0%) was shown beside REML before
    published = _published(tmp_path, ["CRBSI,pooled,,,17,OR,0.38,0.23,0.62,,,,Stijnen 2010"])
    row = compare_pooled(_nielweise(), published, pooling).iloc[0]
    ref = NW["fits"][pooling]
    assert row["rule_model"] == pooling
    assert row["rule_estimate"] == pytest.approx(np.exp(ref["estimate"]), rel=1e-6)
    assert row["i2"] == pytest.approx(ref["i2"], abs=1e-4)
    assert row["tau2"] == pytest.approx(ref["tau2"], abs=1e-6)
    assert row["h2"] == pytest.approx(ref["h2"], rel=1e-5)
    if pooling == "REML":
        assert row["i2"] == pytest.approx(3.46, abs=0.005)


def test_the_i2_note_names_the_model_it_belongs_to(tmp_path):
    published = _published(tmp_path, ["CRBSI,pooled,,,17,OR,0.38,0.23,0.60,,,3,x"])
    row = compare_pooled(_nielweise(), published, "REML").iloc[0]
    assert f"I^2 {NW['fits']['REML']['i2']:.0f}% (REML) vs published 3%" in row["note"]


# metafor REML: OR 0.3752 [0.2328, 0.6046]
STATUS_ROWS = {
    "0.38,0.23,0.60": "reproduced",
    "0.38,0.23,0.61": "reproduced",  # one unit in the last printed digit: rounding of the inputs
    "0.375,0.233,0.605": "reproduced",
    "0.374,0.232,0.605": "reproduced",
    "0.4,0.2,0.6": "reproduced",  # printed to one decimal
    "0.38,0.23,0.62": "close",  # Stijnen 2010's normal-normal row: 2 units off in the upper limit
    "0.372,0.233,0.605": "close",  # 3 units off in the third decimal
    "0.40,0.20,0.60": "differs",  # the same numbers printed to two decimals are not reproduced
    "0.26,0.13,0.51": "differs",  # Stijnen 2010's conditional logistic model (18 trials)
    "0.60,0.40,0.90": "overlapping",
    "0.10,0.05,0.20": "disjoint",
}


def test_reproduced_means_equal_at_the_printed_precision(tmp_path):
    published = _published(tmp_path, [f"CRBSI,pooled,,,17,OR,{cells},,,,x" for cells in STATUS_ROWS])
    table = compare_pooled(_nielweise(), published, "REML")
    assert dict(zip(STATUS_ROWS, table["status"], strict=True)) == STATUS_ROWS
    notes = dict(zip(STATUS_ROWS, table["note"], strict=True))
    assert "reproduce the published pooled OR to the printed precision" in notes["0.38,0.23,0.60"]
    assert "reproduce" not in notes["0.26,0.13,0.51"].split(";")[0]
    assert "close to the published one" in notes["0.38,0.23,0.62"]
