"""summary.json against its schema (bayesmeta/resources/summary.schema.json): the first case's summary (models/
haic.toml with its short NUTS cross-check, shared with test_report_browser.py) is valid, and summaries missing
what the schema requires are not. The gallery's summaries (quick mode) are checked in test_gallery.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "bayesmeta" / "resources" / "summary.schema.json").read_text())


@pytest.fixture(scope="module")
def summary(haic_report):
    _, files = haic_report
    return json.loads(files.summary.read_text())


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.slow
def test_the_first_case_summary_is_valid(summary):
    jsonschema.Draft202012Validator(SCHEMA).validate(summary)
    assert len(summary["outcomes"]) == 4


def _drop(path: tuple[str, ...]):
    def edit(s: dict) -> None:
        node = s
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return edit


def _set(path: tuple[str, ...], value):
    def edit(s: dict) -> None:
        node = s
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


PLANTED = [
    ("no k", _drop(("outcomes", "OS", "k"))),
    ("no pooled median", _drop(("outcomes", "PFS", "bayes", "mu", "median"))),
    ("no lower limit of tau", _drop(("outcomes", "ORR", "bayes", "tau", "ci_lower"))),
    ("no predictive", _drop(("outcomes", "DCR", "bayes", "predictive"))),
    ("old interval names", _set(("outcomes", "OS", "bayes", "mu"), {"median": -0.6, "lower": -0.7, "upper": -0.5})),
    ("negative tau", _set(("outcomes", "OS", "bayes", "tau", "ci_lower"), -0.1)),
    ("unknown measure", _set(("outcomes", "OS", "measure"), "log HR")),
    ("a probability above 1", _set(("outcomes", "OS", "bayes", "probabilities", 0, "probability"), 1.2)),
    ("no quick flag", _drop(("quick",))),
]


@pytest.mark.slow
@pytest.mark.parametrize("what, edit", PLANTED, ids=[p[0] for p in PLANTED])
def test_a_summary_missing_what_the_schema_requires_is_refused(summary, what, edit):
    broken = copy.deepcopy(summary)
    edit(broken)
    assert not jsonschema.Draft202012Validator(SCHEMA).is_valid(broken)
