"""Each published pooled row beside its recomputation with its own method only (a common-effect row with metafor's
method="FE", no REML beside it), and the Bayesian model beside it named. Normand 1999 (Stat Med 18:321, Table
IX prints fixed-effect, DerSimonian-Laird and REML pooled MDs); its study variances use the pooled SD, so the
gallery plan sets ``vtype = "HO"``. The references are metafor 3.8-1's ``escalc(vtype = "HO")`` fits
(tests/reference/frequentist_cli_fixtures.json, ``vtype_ho``, from make_frequentist_cli_fixtures.R)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from bayesmeta.cli import main
from bayesmeta.compare import compare_pooled
from bayesmeta.data import load_published
from bayesmeta.errors import ReportedValueWarning
from bayesmeta.plan import load_plan
from bayesmeta.tables import read_effect_table

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "data" / "gallery" / "normand_stroke"
PLAN = load_plan(ROOT / "models" / "gallery" / "normand_stroke.toml")
HO = json.loads((ROOT / "tests" / "reference" / "frequentist_cli_fixtures.json").read_text())["vtype_ho"]
REF = {fit["method"]: fit for fit in HO["fits"]}


def _pooled() -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReportedValueWarning)
        data = read_effect_table(CASE / "outcomes.csv", "MD", vtype=PLAN.outcomes[0].vtype)
    effects = pd.DataFrame({"study_id": data.study, "outcome": "length_of_stay", "measure": "MD",
                            "yi": data.yi, "vi": data.sei ** 2})
    return compare_pooled(effects, load_published(CASE / "published.csv"), pooling="DL")


def _text(est: float, lo: float, hi: float) -> str:
    return f"{est:.2f} ({lo:.2f} to {hi:.2f})"


def test_gallery_plan_uses_the_papers_pooled_sd_and_reproduces_every_pooled_row():
    assert PLAN.outcomes[0].vtype == "HO"
    pooled = _pooled()
    assert len(pooled) == 3
    assert (pooled["status"] == "reproduced").all(), pooled[["published_model", "rule_estimate", "status"]]


def test_report_rows_show_each_published_rows_own_recomputation():
    from bayesmeta.reanalysis.comparison import _pooled_rows

    a = SimpleNamespace(plan=PLAN.outcomes[0], bayes={}, name="length_of_stay")
    rows = {r.rule_model: _pooled_rows(a, r, PLAN)[0] for r in _pooled().itertuples(index=False)}
    assert set(rows) == {"FE", "DL", "REML"}
    for method, row in rows.items():
        ref = REF[method]
        assert row["recomputed"] == _text(ref["estimate"], ref["ci_lower"], ref["ci_upper"]) + f" ({method})"
        assert row["bayesian"].startswith(f"random effects ({PLAN.main_prior}): median")


def test_compare_cli_has_no_reml_beside_a_common_effect_row(capsys):
    assert main(["compare", str(CASE / "published.csv"), "--outcomes", str(CASE / "outcomes.csv"),
                 "--vtype", "HO"]) == 0
    out = capsys.readouterr().out
    fe = REF["FE"]
    common = next(line for line in out.splitlines() if f"{fe['estimate']:.2f} [" in line)
    assert f"{fe['estimate']:.2f} [{fe['ci_lower']:.2f}, {fe['ci_upper']:.2f}] FE" in common
    assert "REML [95% CI]" not in out
    assert f"{REF['REML']['estimate']:.2f}" not in common
