"""A long outcomes table whose outcomes are reported in different forms (events over person-time for one, means
and SDs for another), as a user writes it for a plan: each outcome is read with --outcome as from its own file
(metafor fits of tests/reference/make_irr_rom_fixtures.R); study years missing for some outcomes leave the
sequential analyses in file order with a warning; names with brackets print as they are."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from bayesmeta.cli import main

REF = Path(__file__).parent / "reference"
FIX = json.loads((REF / "irr_rom_metafor.json").read_text())


@pytest.fixture(scope="module")
def long_table(tmp_path_factory) -> Path:
    irr = pd.read_csv(REF / "hart1999_irr.csv").assign(outcome="stroke", measure="IRR", year=1990)
    rom = pd.read_csv(REF / "curtis1998_rom.csv").assign(outcome="biomass", measure="ROM")
    both = pd.concat([irr.drop(columns=["total_treatment", "total_control"]), rom], ignore_index=True)
    path = tmp_path_factory.mktemp("long") / "outcomes.csv"
    both.rename(columns={"study": "study_id"}).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("outcome, key", [("stroke", "irr"), ("biomass", "rom")])
def test_each_outcome_of_a_mixed_long_table_reads_as_its_own_file(long_table, capsys, outcome, key):
    assert main(["frequentist", str(long_table), "--outcome", outcome, "--method", "REML", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ref = FIX[key]["fits"]["REML"]
    assert out["k"] == ref["k"]
    for name in ("estimate", "se", "ci_lower", "ci_upper", "tau2"):
        assert out[name] == pytest.approx(ref[name], abs=1e-6), name


def test_years_missing_for_some_studies_give_file_order_and_a_warning():
    from bayesmeta.reanalysis.outcome import _order_keys, study_years

    effects = pd.DataFrame({"study_id": ["A", "B", "C"], "year": ["2001", "", "1999"]})
    assert study_years(effects) == (None, ["B"])
    analysis = SimpleNamespace(warnings=[])
    assert _order_keys(analysis, effects, "monitoring") is None
    assert analysis.warnings == ["monitoring: no year for 1 of 3 studies (B), so the studies are taken in file order"]
    years, missing = study_years(effects.assign(year=["2001", "2003", "1999"]))
    assert list(years) == [2001, 2003, 1999] and missing == []


def test_bracketed_names_are_printed_not_read_as_markup():
    from rich.console import Console
    from rich.table import Table

    from bayesmeta.printing import print_table

    table = Table()
    table.add_column("coefficient")
    for name in ("beta[ablat]", "beta[year]", "Smith [b]"):
        table.add_row(name)
    out = io.StringIO()
    print_table(table, Console(file=out, width=80))
    assert all(name in out.getvalue() for name in ("beta[ablat]", "beta[year]", "Smith [b]"))
