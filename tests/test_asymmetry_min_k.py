"""Funnel-asymmetry results from fewer than 10 studies carry the caveat of Sterne et al. 2011 (BMJ 343:d4002:
tests for funnel-plot asymmetry should be used only with at least 10 studies): the records' ``below_min_k`` flag,
the warnings of `frequentist --bias` and `bias`, and the report's Egger table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesmeta.asymmetry import MIN_K, below_min_k
from bayesmeta.cli import main
from bayesmeta.frequentist import egger_test

ROOT = Path(__file__).resolve().parents[1]
# Zelniker et al. 2019 (Lancet 393:31-39), cardiovascular death: three trials' HRs as printed
CVD = "study,measure,estimate,ci_lower,ci_upper\nEMPA-REG,HR,0.62,0.49,0.77\nCANVAS,HR,0.87,0.72,1.06\n" \
      "DECLARE,HR,0.98,0.82,1.17\n"


def _bcg(tmp_path: Path) -> Path:
    """The 13 BCG trials (metafor's dat.bcg) as log RR with variances."""
    bcg = pd.read_csv(ROOT / "tests" / "reference" / "bcg.csv")
    path = tmp_path / "bcg.csv"
    bcg[["study", "yi", "vi"]].to_csv(path, index=False)
    return path


def _cvd(tmp_path: Path) -> Path:
    path = tmp_path / "cvd.csv"
    path.write_text(CVD)
    return path


def test_the_threshold_is_ten_studies():
    assert MIN_K == 10 and below_min_k(9) and not below_min_k(10)


def test_frequentist_bias_warns_below_ten_studies(tmp_path, capsys):
    assert main(["frequentist", str(_cvd(tmp_path)), "--bias"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "warning: only 3 studies" in text and "at least 10 studies (Sterne et al. 2011" in text
    assert main(["frequentist", str(_cvd(tmp_path)), "--bias", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["bias"]
    assert out["below_min_k"] and out["egger"]["below_min_k"] and out["min_k"] == 10

    assert main(["frequentist", str(_bcg(tmp_path)), "--bias", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["bias"]
    assert out["k"] == 13 and not out["below_min_k"] and not out["egger"]["below_min_k"]


def test_bayesian_bias_warns_below_ten_studies(tmp_path, capsys):
    assert main(["bias", str(_cvd(tmp_path))]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "inclusion BF for bias" in text and "warning: only 3 studies" in text and "Sterne et al. 2011" in text


def test_report_words_the_caveat_beside_egger_table():
    from bayesmeta.report.sections import Paragraph, Table, _funnel

    bcg = pd.read_csv(ROOT / "tests" / "reference" / "bcg.csv")
    y = np.log([0.62, 0.87, 0.98])
    se = (np.log([0.77, 1.06, 1.17]) - np.log([0.49, 0.72, 0.82])) / (2 * 1.959963984540054)
    outcomes = {
        "CVD": {"label": "Cardiovascular death", "k": 3, "bayes": True,
                "frequentist": {"egger": egger_test(y, se**2).as_dict()}},
        "TB": {"label": "Tuberculosis", "k": 13, "bayes": True,
               "frequentist": {"egger": egger_test(bcg["yi"], bcg["vi"]).as_dict()}},
    }
    blocks = _funnel({"outcomes": outcomes})
    table = next(b for b in blocks if isinstance(b, Table))
    p_cells = [row[table.columns.index("Egger p")] for row in table.rows]
    assert p_cells[0].endswith("(too few studies)") and not p_cells[1].endswith("(too few studies)")
    notes = [b.text for b in blocks if isinstance(b, Paragraph) and b.kind == "note"]
    assert len(notes) == 1
    assert "Cardiovascular death (k = 3)" in notes[0] and "Tuberculosis" not in notes[0]
    assert "at least 10 studies (Sterne et al. 2011, BMJ 343:d4002)" in notes[0]


@pytest.mark.parametrize("k,caveat", [(3, True), (13, False)])
def test_comparison_rows_of_funnel_estimates_carry_the_caveat(k, caveat):
    from types import SimpleNamespace

    from bayesmeta.frequentist import pet_peese, trimfill
    from bayesmeta.reanalysis.comparison import _bias_adjusted_rows

    bcg = pd.read_csv(ROOT / "tests" / "reference" / "bcg.csv").iloc[:k]
    y, v = bcg["yi"].to_numpy(), bcg["vi"].to_numpy()
    a = SimpleNamespace(plan=SimpleNamespace(label="Tuberculosis", measure="RR"), name="TB", k=k, bias=None,
                        frequentist={"trimfill": trimfill(y, v), "pet_peese": pet_peese(y, v)})
    rows = _bias_adjusted_rows(a)
    assert [r["analysis"] for r in rows] == ["trimfill", "pet_peese"]
    assert all(("fewer than 10 studies" in r["plain"]) is caveat for r in rows)


def test_report_funnel_panel_marks_an_egger_test_below_ten_studies():
    from types import SimpleNamespace

    from bayesmeta.frequentist import rma
    from bayesmeta.plots.funnel import plot_funnel
    from bayesmeta.report.figures import _funnel_figure

    y = np.log([0.62, 0.87, 0.98])
    se = (np.log([0.77, 1.06, 1.17]) - np.log([0.49, 0.72, 0.82])) / (2 * 1.959963984540054)
    effects = pd.DataFrame({"yi": y, "sei": se, "label": ["EMPA-REG OUTCOME", "CANVAS", "DECLARE-TIMI 58"]})
    a = SimpleNamespace(effects=effects, k=3, plan=SimpleNamespace(label="Cardiovascular death", measure="HR"),
                        frequentist={"egger": egger_test(y, se**2), "reml": rma(y, se**2, method="REML")})
    texts = [t.get_text() for t in _funnel_figure([a], 0.95, plot_funnel).axes[0].texts]
    assert any(t.startswith("Egger intercept -18.69, p = 0.049") and t.endswith("(k < 10: descriptive)")
               for t in texts), texts
