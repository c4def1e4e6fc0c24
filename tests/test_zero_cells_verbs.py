"""The zero-cell rule of arm counts (``--add``, ``--to``, ``--drop00/--no-drop00``: metafor escalc's add, to and
drop00) on every command that reads them: `frequentist` against R metafor 3.8.1's
``rma(measure = "OR", ai, n1i, ci, n2i, add, to, drop00)`` (tests/reference/make_frequentist_cli_fixtures.R,
``zero_cells``) on Niel-Weise et al. (2007), Intensive Care Med 33:2058-2068 (dat.nielweise2007: Yucel 2004 has no
infection in either arm), `compare`'s recomputed pooled row against the same fixtures, and each other command's
studies and its JSON ``dropped``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bayesmeta.cli import main

REF = Path(__file__).parent / "reference"
COUNTS = REF / "nielweise2007_counts.csv"
FIX = json.loads((REF / "frequentist_cli_fixtures.json").read_text())["zero_cells"]
TOL = {"rel": 1e-8, "abs": 1e-10}
DOUBLE_ZERO = [{"study": "Yucel_2004", "reason": "no events in either arm"}]


def _rule_args(ref: dict) -> list[str]:
    """The command line of one of the fixture's rules; escalc's default add and to are left to the defaults."""
    args = [] if ref["add"] == 0.5 else ["--add", str(ref["add"])]
    args += [] if ref["to"] == "only0" else ["--to", ref["to"]]
    return args + ([] if ref["drop00"] else ["--no-drop00"])  # drop00 = TRUE is the OR's default


@pytest.mark.parametrize("ref", FIX, ids=lambda r: f"add{r['add']:g}-{r['to']}-drop00={r['drop00']}-{r['method']}")
def test_frequentist_zero_cell_rule_matches_metafor_rma(capsys, ref):
    assert main(["frequentist", str(COUNTS), "--measure", "OR", "--method", ref["method"], *_rule_args(ref),
                 "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["k"] == ref["k"]
    for key in ("estimate", "se", "ci_lower", "ci_upper", "tau2", "i2", "h2", "q", "q_p"):
        assert out[key] == pytest.approx(ref[key], **TOL), key
    assert out["dropped"] == (DOUBLE_ZERO if ref["drop00"] else [])
    assert ("excluded Yucel_2004 from the fit" in captured.err) == ref["drop00"]


# Every command reading arm counts, with the options it needs besides the data (exact engine, few draws).
VERBS = {
    "frequentist": [],
    "ppc": ["--draws", "200"],
    "sensitivity": [],
    "monitor": [],
    "tsa": ["--mcid", "0.8"],
    "bias": [],
}


@pytest.mark.parametrize("verb", VERBS)
def test_every_command_reading_arm_counts_applies_the_zero_cell_rule(capsys, verb):
    """By default the OR leaves out the study without events in either arm (k 17 of 18) and names it in ``dropped``
    and on stderr; ``--no-drop00`` keeps it (k 18), here with ``--add 0.25 --to all``."""
    runs = {}
    for rule in ([], ["--no-drop00", "--add", "0.25", "--to", "all"]):
        assert main([verb, str(COUNTS), "--measure", "OR", *VERBS[verb], *rule, "--json"]) == 0, verb
        captured = capsys.readouterr()
        runs[bool(rule)] = json.loads(captured.out), captured.err
    (dropped, err_dropped), (kept, err_kept) = runs[False], runs[True]
    assert kept["k"] - dropped["k"] == 1 and kept["k"] == 18
    assert dropped["dropped"] == DOUBLE_ZERO and kept["dropped"] == []
    assert "excluded Yucel_2004 from the fit" in err_dropped and "--no-drop00 keeps them" in err_dropped
    assert "excluded" not in err_kept


@pytest.mark.parametrize("verb", VERBS)
def test_a_negative_add_or_an_unknown_to_exits_2(capsys, verb):
    assert main([verb, str(COUNTS), "--measure", "OR", *VERBS[verb], "--add", "-1"]) == 2
    assert main([verb, str(COUNTS), "--measure", "OR", *VERBS[verb], "--to", "some0"]) == 2
    capsys.readouterr()


def test_mantel_haenszel_keeps_every_study_and_says_the_double_zero_one_adds_nothing(capsys):
    """MH pools the arm counts themselves (metafor's rma.mh: k counts Yucel 2004, whose table adds nothing to the
    estimate), so nothing is dropped and the note says so instead of 'excluded'."""
    assert main(["frequentist", str(COUNTS), "--measure", "OR", "--method", "MH", "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["k"] == 18 and out["dropped"] == [] and "Yucel_2004" in out["study"]
    assert "Yucel_2004" in captured.err and "add nothing to the Mantel-Haenszel estimate" in captured.err
    assert "excluded" not in captured.err


PUBLISHED = ("outcome,analysis,variable,level,k,measure,estimate,ci_lower,ci_upper,p_value,p_relation,i2_percent,"
             "where\nCRBSI,pooled,,,18,OR,0.38,0.24,0.61,,,,Fig 2\n")


@pytest.mark.parametrize("ref", FIX, ids=lambda r: f"add{r['add']:g}-{r['to']}-drop00={r['drop00']}-{r['method']}")
def test_compare_recomputes_with_the_zero_cell_rule_as_metafor_rma(tmp_path, capsys, ref):
    """`compare` reads arm counts too: its recomputed pooled row under each rule is metafor's rma on them."""
    published = tmp_path / "published.csv"
    published.write_text(PUBLISHED)
    assert main(["compare", str(published), "--outcomes", str(COUNTS), "--pooling", ref["method"],
                 *_rule_args(ref), "--json"]) == 0
    row, = json.loads(capsys.readouterr().out)["pooled"]
    assert row["k_used"] == ref["k"] and ("Yucel_2004" in row["studies"]) != ref["drop00"]
    assert math.log(row["rule_estimate"]) == pytest.approx(ref["estimate"], **TOL)
    assert math.log(row["rule_ci_lower"]) == pytest.approx(ref["ci_lower"], **TOL)
    assert row["tau2"] == pytest.approx(ref["tau2"], **TOL) and row["i2"] == pytest.approx(ref["i2"], **TOL)


def test_compare_options_replace_the_plans_zero_cells_in_every_cell(capsys):
    """With a plan, --to all (here: 0.5 added to every study of the BCG counts, none of which has a zero cell) is
    the rule of the recomputed row and of the Bayesian cell alike: the recomputed row is the one `compare` gives
    without the plan, and both cells move from the plan's rule."""
    from conftest import ROOT

    plan = ROOT / "tests" / "reference" / "reanalysis_synthetic" / "plan.toml"
    folder = plan.parent
    runs = {}
    for args in ([], ["--to", "all"]):
        assert main(["compare", "--plan", str(plan), *args, "--json"]) == 0
        runs[bool(args)] = next(r for r in json.loads(capsys.readouterr().out)["pooled"] if r["outcome"] == "AE")
    assert main(["compare", str(folder / "published.csv"), "--outcomes", str(folder / "outcomes.csv"), "--studies",
                 str(folder / "studies.csv"), "--pooling", runs[True]["rule_model"], "--to", "all", "--json"]) == 0
    alone = next(r for r in json.loads(capsys.readouterr().out)["pooled"] if r["outcome"] == "AE")
    assert runs[True]["rule_estimate"] == alone["rule_estimate"] != runs[False]["rule_estimate"]
    assert runs[True]["bayesian_value"] != runs[False]["bayesian_value"]
