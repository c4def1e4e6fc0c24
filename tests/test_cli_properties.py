"""Property tests over the command line itself (in-process ``bayesmeta.cli.main``, output captured): random tables
of every accepted form, and random corruptions of them, give a result or a clean error. Asserted for every run:
exit status 0 or 2, no exception escaping ``main`` and no traceback text, no numeric warning (overflow, invalid
value) reaching the user, no NaN or infinity in a successful JSON output (parsed and walked) or as a number in a
printed table, and an error that is one line on stderr naming the file, with nothing on stdout.

Each example writes its own table in its own temporary folder; nothing is shared between examples."""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import tempfile
import traceback
import warnings
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bayesmeta.cli import main

NON_FINITE = re.compile(r"(?<![A-Za-z])(nan|inf|infinity)(?![A-Za-z])", re.IGNORECASE)
FORMS = ("yi_sei", "yi_vi", "ci", "means", "logrank", "counts")
MEASURES = {
    "yi_sei": (None, "HR", "OR", "MD", "GEN"),
    "yi_vi": (None, "RR", "SMD"),
    "ci": ("HR", "RR", "OR", "MD", "SMD", "RD"),
    "means": (None, "MD", "SMD"),
    "logrank": (None, "HR"),
    "counts": (None, "RR", "OR", "RD"),
}
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
Z975 = 1.959964


def _cell(draw, value: float) -> str:
    """A number as people type it: 2 to 6 significant digits, sometimes in full."""
    digits = draw(st.sampled_from([2, 3, 4, 6, None]))
    return repr(float(value)) if digits is None else f"{value:.{digits}g}"


@st.composite
def valid_tables(draw, forms: tuple[str, ...] = FORMS):
    """A table of one accepted form (k = 1 to 8 studies) with its measure given by --measure, by a measure
    column, or left to the form's default."""
    form = draw(st.sampled_from(forms))
    measure = draw(st.sampled_from(MEASURES[form]))
    k = draw(st.integers(3, 8)) if draw(st.integers(0, 3)) else draw(st.integers(1, 2))  # mostly k >= 3
    rows = []
    for i in range(k):
        if form in ("yi_sei", "yi_vi", "ci"):
            small = measure == "RD"
            y = draw(st.floats(-0.4, 0.4) if small else st.floats(-3, 3))
            s = draw(st.floats(0.01, 0.2) if small else st.floats(0.02, 2))
            if form == "yi_sei":
                cells = [_cell(draw, y), _cell(draw, s)]
            elif form == "yi_vi":
                cells = [_cell(draw, y), _cell(draw, s * s)]
            else:
                ratio = measure in ("HR", "RR", "OR")
                to = math.exp if ratio else (lambda v: v)
                cells = [_cell(draw, to(v)) for v in (y, y - Z975 * s, y + Z975 * s)]
                if draw(st.booleans()):
                    p = math.erfc(abs(y) / s / math.sqrt(2))  # two-sided p of the z test, accurate in the tail
                    cells.append(f"{p:.3g}" if p > 0 else "")
        elif form == "means":
            n1, n2 = draw(st.integers(2, 300)), draw(st.integers(2, 300))
            cells = [_cell(draw, draw(st.floats(-10, 10))), _cell(draw, draw(st.floats(1, 20))),
                     _cell(draw, draw(st.floats(-10, 10))), _cell(draw, draw(st.floats(1, 20))), str(n1), str(n2)]
        elif form == "logrank":
            cells = [_cell(draw, draw(st.floats(-30, 30))), _cell(draw, draw(st.floats(2, 80)))]
        else:
            n1, n2 = draw(st.integers(1, 400)), draw(st.integers(1, 400))
            cells = [str(draw(st.integers(0, n1))), str(n1), str(draw(st.integers(0, n2))), str(n2)]
        rows.append([f"S{i + 1}", *cells])
    header = {
        "yi_sei": ["study", "yi", "sei"],
        "yi_vi": ["study", "yi", "vi"],
        "ci": ["study", "estimate", "ci_lower", "ci_upper"],
        "means": ["study", "mean_treatment", "sd_treatment", "mean_control", "sd_control", "total_treatment",
                  "total_control"],
        "logrank": ["study", "o_minus_e", "var_o_minus_e"],
        "counts": ["study", "events_treatment", "total_treatment", "events_control", "total_control"],
    }[form]
    if form == "ci" and any(len(r) == 5 for r in rows):
        header = [*header, "p_value"]
        rows = [r if len(r) == 5 else [*r, ""] for r in rows]
    options: list[str] = []
    if measure is not None:
        if measure != "GEN" and draw(st.booleans()):  # GEN is a column value, not a --measure choice
            options = ["--measure", measure]
        else:
            header = [*header, "measure"]
            rows = [[*r, measure] for r in rows]
    if draw(st.integers(0, 4)) == 0:  # a study-level covariate such as the monitor's ordering year
        header = [*header, "year"]
        rows = [[*r, str(draw(st.integers(1990, 2024)))] for r in rows]
    return {"form": form, "header": header, "rows": rows, "options": options, "valid": True}


CORRUPTIONS = ("text", "blank", "negative", "outside", "swap", "huge", "tiny", "nonfinite", "duplicate",
               "drop_column", "ragged", "no_rows", "first_rows")


@st.composite
def corrupted_tables(draw, forms: tuple[str, ...] = FORMS):
    """A valid table with one or two corruptions: text in a numeric cell, a blank, a negative value, an estimate
    outside its CI, swapped bounds, huge, tiny or non-finite numbers, a duplicate study, a missing column, a
    ragged row, no data rows, or only the first one or two studies."""
    table = draw(valid_tables(forms))
    header, rows = list(table["header"]), [list(r) for r in table["rows"]]
    for kind in draw(st.lists(st.sampled_from(CORRUPTIONS), min_size=1, max_size=2)):
        if not rows or len(header) < 2:
            break
        r = draw(st.integers(0, len(rows) - 1))
        c = draw(st.integers(1, len(header) - 1))
        if c >= len(rows[r]):
            continue
        if kind == "text":
            rows[r][c] = draw(st.sampled_from(["abc", "1,5", "NA", "--", "0x10", "1e", "½", "TRUE", " "]))
        elif kind == "blank":
            rows[r][c] = ""
        elif kind == "negative":
            rows[r][c] = "-" + rows[r][c].lstrip("-") if rows[r][c] else "-1"
        elif kind in ("outside", "swap") and {"ci_lower", "ci_upper", "estimate"} <= set(header):
            lo, hi, est = header.index("ci_lower"), header.index("ci_upper"), header.index("estimate")
            if kind == "swap":
                rows[r][lo], rows[r][hi] = rows[r][hi], rows[r][lo]
            else:
                try:
                    rows[r][est] = f"{float(rows[r][hi]) * 1.5 + 0.1:.4g}"
                except ValueError:
                    rows[r][est] = "2"
        elif kind in ("huge", "outside", "swap"):
            rows[r][c] = draw(st.sampled_from(["1e300", "1e12", "-1e12", "1e6", "-1e6", "1e308", "9e307", "4e4"]))
        elif kind == "tiny":
            rows[r][c] = draw(st.sampled_from(["1e-12", "1e-300", "5e-324", "0", "-0", "1e-9"]))
        elif kind == "nonfinite":
            rows[r][c] = draw(st.sampled_from(["inf", "-inf", "nan", "NaN", "Infinity"]))
        elif kind == "duplicate" and len(rows) > 1:
            rows[r][0] = rows[(r + 1) % len(rows)][0]
        elif kind == "drop_column":
            del header[c]
            rows = [row[:c] + row[c + 1:] for row in rows]
        elif kind == "ragged":
            rows[r].append("1")
        elif kind == "no_rows":
            rows = []
        elif kind == "first_rows":
            rows = rows[: draw(st.integers(1, 2))]
    return {**table, "header": header, "rows": rows, "valid": False}


def _always_fits(table: dict) -> bool:
    """Valid tables whose every study is analysable whatever the rounding of the cells (an estimate with its CI
    may round to equal bounds, arm counts may have no events at all): the pooling commands must succeed."""
    return table["valid"] and table["form"] not in ("ci", "counts")


def _walk(value, where: str = "") -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _walk(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _walk(item, f"{where}[{i}]")
    elif isinstance(value, float):
        assert math.isfinite(value), f"{value} at {where}"


def _reject_constant(name: str):
    raise AssertionError(f"{name} in the JSON output")


def run_cli(table: dict, command: list[str], as_json: bool = True) -> int:
    """Write the table, run the command on it and check every property; the exit status."""
    # a relative path: a random folder name may hold "inf" and a long path is wrapped in printed titles
    with tempfile.TemporaryDirectory() as folder, contextlib.chdir(folder):
        path = "table.csv"
        lines = [",".join(table["header"]), *(",".join(r) for r in table["rows"])]
        Path(path).write_text("\n".join(lines) + "\n")
        args = [command[0], path, *command[1:], *table["options"], *(["--json"] if as_json else [])]
        out, err = io.StringIO(), io.StringIO()
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err):
            warnings.simplefilter("always")
            try:
                status = main(args)
            except BaseException:  # what escapes main is the traceback a user would see
                raise AssertionError(f"{args}\n{Path(path).read_text()}\n{traceback.format_exc()}") from None
        stdout, stderr = out.getvalue(), err.getvalue()
        context = f"{args}\n{Path(path).read_text()}\nstdout: {stdout[:2000]}\nstderr: {stderr}"
        numeric = [w for w in caught if issubclass(w.category, RuntimeWarning)]
        assert not numeric, f"{[str(w.message) for w in numeric]}\n{context}"
        assert status in (0, 2), context
        assert "Traceback" not in stdout + stderr, context
        if status == 2:
            errors = [line for line in stderr.splitlines() if line.startswith("error:")]
            assert len(errors) == 1 and path in errors[0], context
            assert stdout == "", context
        elif as_json:
            _walk(json.loads(stdout, parse_constant=_reject_constant))
        else:
            assert not NON_FINITE.search(stdout), context
        event(f"{'valid' if table['valid'] else 'corrupted'} {table['form']}: exit {status}")
        return status


@settings(max_examples=30, **SETTINGS)
@given(st.one_of(valid_tables(), corrupted_tables()), st.booleans())
def test_fit_exact(table, as_json):
    status = run_cli(table, ["fit", "--engine", "exact"], as_json)
    assert status == 0 or not _always_fits(table)


@settings(max_examples=30, **SETTINGS)
@given(st.one_of(valid_tables(), corrupted_tables()), st.booleans())
def test_frequentist(table, as_json):
    status = run_cli(table, ["frequentist"], as_json)
    assert status == 0 or not _always_fits(table)


@settings(max_examples=20, **SETTINGS)
@given(st.one_of(valid_tables(), corrupted_tables()))
def test_ppc(table):
    run_cli(table, ["ppc", "--draws", "200"])


@settings(max_examples=15, **SETTINGS)
@given(st.one_of(valid_tables(), corrupted_tables()))
def test_sensitivity(table):
    run_cli(table, ["sensitivity"])


@settings(max_examples=20, **SETTINGS)
@given(st.one_of(valid_tables(), corrupted_tables()))
def test_monitor(table):
    run_cli(table, ["monitor"])


@settings(max_examples=20, **SETTINGS)
@given(st.one_of(valid_tables(("counts",)), corrupted_tables(("counts",))), st.floats(-0.5, 0.6))
def test_tsa_on_arm_counts(table, rrr):
    table = {**table, "options": []}  # tsa reads counts as RR by default
    run_cli(table, ["tsa", "--mcid", f"{1 - rrr:.3g}"])
