"""The bad and extreme inputs of issue 13, one by one: log ratios of 1e6, standard errors of 1e12 and 1e-12, an
estimate outside its CI, an asymmetric CI, a p-value the CI contradicts, and posterior predictive checks of
2000 studies. Each gives a correct result or one line on stderr naming file, row and column, exit status 2."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bayesmeta.cli import main
from bayesmeta.consistency import reported_problems
from bayesmeta.data import read_text_csv
from bayesmeta.errors import InputError, ReportedValueWarning
from bayesmeta.exact import fit_exact
from bayesmeta.plausible import MAX_Z_FROM_MEDIAN, RANGES
from bayesmeta.scales import MEASURES
from bayesmeta.tables import read_effect_table

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = ROOT / "tests" / "reference" / "reanalysis_synthetic"
BASE = [("S1", -0.2, 0.15), ("S2", -0.1, 0.2), ("S3", 0.05, 0.25), ("S4", -0.3, 0.18), ("S5", -0.15, 0.3)]
# every command that reads a table of effects (--draws keeps the Q-discrepancy step short)
COMMANDS = {"fit": [], "frequentist": [], "ppc": ["--draws", "200"], "sensitivity": [], "monitor": []}
NON_FINITE = re.compile(r"(?<![A-Za-z])(nan|inf|infinity)(?![A-Za-z])", re.IGNORECASE)


def write(path: Path, header: str, rows: list[tuple]) -> str:
    path.write_text(header + "\n" + "".join(",".join(str(v) for v in row) + "\n" for row in rows))
    return str(path)


def run(capsys, *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def one_error_line(err: str, path: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}"), err
    assert "Traceback" not in err
    return lines[0]


def with_row(index: int, yi: float, sei: float) -> list[tuple]:
    rows = list(BASE)
    rows[index] = (rows[index][0], yi, sei)
    return rows


# -- extreme values ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("value", [1e6, -1e6])
def test_a_log_ratio_of_1e6_is_refused_with_its_row_and_the_range(tmp_path, capsys, command, value):
    path = write(tmp_path / "d.csv", "study,yi,sei", with_row(2, value, 0.2))
    status, out, err = run(capsys, command, path, "--measure", "HR", *COMMANDS[command])
    line = one_error_line(err, path)
    assert status == 2 and out == ""
    assert "row 4, column 'yi'" in line and "|log HR| <= 30" in line and "1.1e+13" in line


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("sei", [1e12, 1e-12])
def test_standard_errors_of_1e12_and_1e_12_are_refused_for_a_ratio(tmp_path, capsys, command, sei):
    path = write(tmp_path / "d.csv", "study,yi,sei", with_row(2, 0.1, sei))
    status, out, err = run(capsys, command, path, "--measure", "OR", *COMMANDS[command])
    line = one_error_line(err, path)
    assert status == 2 and out == ""
    assert "row 4, column 'sei'" in line and "standard error 1e-08 to 10" in line


def test_a_generic_effect_with_an_se_of_1e12_counts_for_nothing(tmp_path, capsys):
    """Generic effects have the user's units, so an SE of 1e12 is accepted: it must weigh nothing, i.e. give the
    results without that study (metafor's rma and the exact engine alike)."""
    with_huge = write(tmp_path / "huge.csv", "study,yi,sei", with_row(2, 0.1, 1e12))
    without = write(tmp_path / "without.csv", "study,yi,sei", [r for i, r in enumerate(BASE) if i != 2])
    results = []
    for path in (with_huge, without):
        status, out, _ = run(capsys, "frequentist", path, "--json")
        assert status == 0
        results.append(json.loads(out))
    assert results[0]["estimate"] == pytest.approx(results[1]["estimate"], rel=1e-9)
    assert results[0]["tau2"] == pytest.approx(results[1]["tau2"], rel=1e-6, abs=1e-12)
    fits = []
    for path in (with_huge, without):
        status, out, _ = run(capsys, "fit", path, "--json")
        assert status == 0
        fits.append(json.loads(out))
    for key in ("median", "ci_lower", "ci_upper"):
        assert fits[0]["mu"][key] == pytest.approx(fits[1]["mu"][key], rel=1e-6)


def test_a_generic_effect_with_an_se_of_1e_12_off_the_median_is_refused(tmp_path, capsys):
    path = write(tmp_path / "d.csv", "study,yi,sei", with_row(2, 0.05, 1e-12))
    status, _, err = run(capsys, "fit", path)
    line = one_error_line(err, path)
    assert status == 2 and "row 4, column 'yi'" in line and "standard errors from the median" in line


@pytest.mark.parametrize("value", [1e4, -1e4])
def test_a_generic_effect_far_out_but_plausible_is_analysed(tmp_path, capsys, value):
    """An effect 4e4 of its SEs from the others (GEN accepts it): every command gives finite JSON."""
    path = write(tmp_path / "d.csv", "study,yi,sei", with_row(2, value, 0.25))
    for command, extra in (("fit", []), ("frequentist", []), ("ppc", ["--draws", "200"]), ("sensitivity", [])):
        status, out, err = run(capsys, command, path, "--json", *extra)
        assert status == 0, err
        json.loads(out, parse_constant=lambda c: pytest.fail(f"{command}: {c} in the JSON"))


def test_the_exact_engine_is_scale_invariant_for_an_outlier_of_1e6():
    """An effect of 1e6 among effects near 0 (it used to stop the quadrature with an IndexError): the posterior of
    (y, s) with priors N(0, 4), HN(0.5) is that of (y/c, s/c) with priors N(0, 4/c), HN(0.5/c), scaled by c."""
    y = np.array([-0.2, -0.1, 1e6, -0.3, -0.15])
    sei = np.array([0.15, 0.2, 0.2, 0.18, 0.3])
    c = 1e3
    post = fit_exact(y, sei, mu_prior="normal(0, 4)", tau_prior="halfnormal(0.5)")
    scaled = fit_exact(y / c, sei / c, mu_prior=f"normal(0, {4 / c})", tau_prior=f"halfnormal({0.5 / c})")
    for name in ("mu", "tau"):
        a, b = post.summary().loc[name], scaled.summary().loc[name]
        for key in ("median", "ci_lower", "ci_upper"):
            assert math.isfinite(a[key]) and a[key] == pytest.approx(c * b[key], rel=1e-6)


def test_frequentist_prints_no_infinity_for_the_most_extreme_plausible_ratios(tmp_path, capsys, monkeypatch):
    # a relative path: the temporary folder is named after this test ("...no_inf0"), and a long one is wrapped
    # in the printed table title
    monkeypatch.chdir(tmp_path)
    path = write(Path("d.csv"), "study,yi,sei", [("A", 30, 10), ("B", -30, 10), ("C", 0.1, 0.02)])
    status, out, err = run(capsys, "frequentist", path, "--measure", "HR", "--level", "0.999")
    assert status == 0, err
    assert not NON_FINITE.search(out), out
    assert "e+" in out  # ratios beyond a million in scientific notation
    status, out, _ = run(capsys, "frequentist", path, "--measure", "HR", "--json")
    assert status == 0 and not NON_FINITE.search(out)


def test_every_measure_has_a_range_and_counts_extremes_lie_inside_it():
    assert set(RANGES) == set(MEASURES)
    from bayesmeta.escalc import log_odds_ratio, log_risk_ratio, risk_difference

    # one patient an arm with a zero cell (0.5 added): the largest SEs arm counts give; all events against none
    # with a million patients an arm: the largest ratios
    for fn, measure in ((log_odds_ratio, "OR"), (log_risk_ratio, "RR"), (risk_difference, "RD")):
        for cells in ((0, 1, 1, 1), (10**6, 10**6, 0, 10**6)):
            yi, vi = fn(*cells)
            r = RANGES[measure]
            assert abs(yi) <= r.max_abs_yi and r.min_sei <= math.sqrt(vi) <= r.max_sei, (measure, cells, yi, vi)


# -- an estimate with its CI ---------------------------------------------------------------------------------
CI_HEADER = "study,estimate,ci_lower,ci_upper"
CI_ROWS = [("A", 0.62, 0.45, 0.85), ("B", 0.8, 0.6, 1.07), ("C", 0.7, 0.5, 0.98), ("D", 1.1, 0.7, 1.73)]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_estimate_outside_its_ci_is_an_error_in_every_command(tmp_path, capsys, command):
    rows = list(CI_ROWS)
    rows[1] = ("B", 0.5, 0.6, 1.07)
    path = write(tmp_path / "d.csv", CI_HEADER, rows)
    status, out, err = run(capsys, "--checks", "warn", command, path, "--measure", "HR", *COMMANDS[command])
    line = one_error_line(err, path)
    assert status == 2 and out == "" and "row 3, column 'estimate'" in line and "outside its interval" in line


def test_swapped_bounds_are_an_error(tmp_path, capsys):
    rows = list(CI_ROWS)
    rows[2] = ("C", 0.7, 0.98, 0.5)
    path = write(tmp_path / "d.csv", CI_HEADER, rows)
    status, _, err = run(capsys, "frequentist", path, "--measure", "RR")
    assert status == 2 and "row 4, column 'ci_lower'" in one_error_line(err, path)


def test_an_asymmetric_ci_warns_on_stderr_and_stops_with_checks_error(tmp_path, capsys):
    rows = list(CI_ROWS)
    rows[0] = ("A", 0.5, 0.45, 0.9)  # ln 0.5 = -0.69, midpoint of the logs -0.45: not rounding
    path = write(tmp_path / "d.csv", CI_HEADER, rows)
    status, out, err = run(capsys, "fit", path, "--measure", "HR", "--json")
    assert status == 0 and json.loads(out)["k"] == 4
    warning = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and f"{path}, row 2, column 'ci_upper'" in warning[0]
    assert "not symmetric" in warning[0] and "log HR" in warning[0]
    status, out, err = run(capsys, "--checks", "error", "fit", path, "--measure", "HR", "--json")
    assert status == 2 and out == "" and "row 2, column 'ci_upper'" in one_error_line(err, path)


def test_a_ci_asymmetric_only_by_rounding_gives_no_warning(tmp_path, capsys):
    # 0.52 (0.48, 0.58): the log midpoint is 0.5276, but 0.525^2 >= 0.475 * 0.575, so rounding explains it
    path = write(tmp_path / "d.csv", CI_HEADER, [*CI_ROWS[1:], ("E", 0.52, 0.48, 0.58)])
    status, _, err = run(capsys, "frequentist", path, "--measure", "HR")
    assert status == 0 and "warning" not in err


def test_a_p_value_the_ci_contradicts_warns_for_ratios_and_differences(tmp_path, capsys):
    header = CI_HEADER + ",p_value,p_relation"
    ratio = [(*r, "", "") for r in CI_ROWS]
    ratio[2] = ("C", 0.7, 0.5, 0.98, 0.5, "=")  # the CI implies p near 0.04
    path = write(tmp_path / "hr.csv", header, ratio)
    status, _, err = run(capsys, "frequentist", path, "--measure", "HR")
    assert status == 0 and re.search(rf"warning: {re.escape(path)}, row 4, column 'p_value': p = 0.5 contradicts", err)
    difference = [("A", 1.2, 0.2, 2.2, 0.9, "="), ("B", 0.5, -0.5, 1.5, 0.33, "="), ("C", 2.0, 1.0, 3.0, 0.001, "<")]
    path = write(tmp_path / "md.csv", header, difference)
    status, _, err = run(capsys, "frequentist", path, "--measure", "MD")
    lines = [line for line in err.splitlines() if line.startswith("warning:")]
    # row 2: z = 1.2 / (2 / 3.92) = 2.35, p = 0.019, not 0.9; row 3 agrees (p = 0.327); row 4: p = 8.8e-5 < 0.001
    assert status == 0 and len(lines) == 1 and "row 2, column 'p_value'" in lines[0]
    status, _, err = run(capsys, "--checks", "error", "frequentist", path, "--measure", "MD")
    assert status == 2 and "row 2, column 'p_value'" in one_error_line(err, path)


def test_the_reader_warns_or_raises_as_asked(tmp_path):
    path = write(tmp_path / "d.csv", CI_HEADER, [("A", 0.5, 0.45, 0.9), *CI_ROWS[1:]])
    with pytest.warns(ReportedValueWarning, match=r"row 2, column 'ci_upper'"):
        table = read_effect_table(path, "HR")
    assert table.yi[0] == pytest.approx(math.log(0.5))  # the analysis goes on with the numbers as given
    with pytest.raises(InputError, match=r"row 2, column 'ci_upper'"):
        read_effect_table(path, "HR", checks="error")
    with pytest.raises(InputError, match="unknown checks mode"):
        read_effect_table(path, "HR", checks="strict")


def test_rows_printed_from_true_values_never_warn():
    """Estimates, CIs and p-values computed from (y, se) and rounded as papers print them (2 to 4 decimals, p to
    3) never warn, for ratios and differences; given p = 0.5 instead, the rows with a true p below 0.01 do."""
    import pandas as pd
    from scipy import stats

    rng = np.random.default_rng(13)
    rows, true_p = [], []
    for _ in range(400):
        y, se, d = rng.uniform(-2, 2), rng.uniform(0.03, 1.0), int(rng.integers(2, 5))
        p = 2 * stats.norm.sf(abs(y) / se)
        p_cell, relation = (f"{p:.3f}", "=") if p >= 0.001 else ("0.001", "<")
        for ratio in (True, False):
            to = np.exp if ratio else (lambda v: v)
            cells = [f"{to(v):.{d}f}" for v in (y, y - 1.959964 * se, y + 1.959964 * se)]
            rows.append({"estimate": cells[0], "ci_lower": cells[1], "ci_upper": cells[2], "p_value": p_cell,
                         "p_relation": relation, "measure": "HR" if ratio else "MD"})
            true_p.append(p)
    frame = pd.DataFrame(rows)
    assert reported_problems(frame, frame["measure"]) == []
    frame["p_value"], frame["p_relation"] = "0.500", "="
    flagged = {p.position for p in reported_problems(frame, frame["measure"]) if p.column == "p_value"}
    small = {i for i, p in enumerate(true_p) if p < 0.01}
    assert len(small) > 200 and len(small & flagged) >= 0.95 * len(small)


# -- the plan's outcomes -------------------------------------------------------------------------------------
def _plan_copy(tmp_path: Path, checks: str) -> Path:
    folder = tmp_path / "plan"
    shutil.copytree(SYNTHETIC, folder)
    outcomes = folder / "outcomes.csv"
    text = outcomes.read_text().replace("C2Gibelli2004,PFS,OR,0.631579155397,", "C2Gibelli2004,PFS,OR,0.3,")
    outcomes.write_text(text)
    plan = (folder / "plan_one_outcome.toml").read_text()
    plan = plan.replace('[outcomes.AE]', f'[outcomes.PFS]\nlabel = "Crins"\nmeasure = "OR"\nbenefit = "below"\n'
                        f'thresholds = [1.0]\nchecks = "{checks}"\n\n[outcomes.AE]')
    (folder / "plan.toml").write_text(plan)
    return folder / "plan.toml"


def test_the_plan_key_checks_is_read_and_validated(tmp_path):
    from bayesmeta.plan import load_plan

    plan = load_plan(_plan_copy(tmp_path, "error"))
    assert plan.outcome("PFS").checks == "error" and plan.outcome("AE").checks == "warn"
    bad = _plan_copy(tmp_path / "bad", "strict")
    with pytest.raises(InputError, match=r"outcomes\.PFS\.checks.*unknown value 'strict'"):
        load_plan(bad)


def test_a_reanalysis_reports_the_warning_or_stops(tmp_path):
    from bayesmeta.plan import load_plan
    from bayesmeta.reanalysis import run_plan

    with pytest.raises(InputError, match=r"outcomes\.csv, row 16, column 'ci_upper'.*not symmetric"):
        run_plan(load_plan(_plan_copy(tmp_path / "stop", "error")), parallel=False)
    result = run_plan(load_plan(_plan_copy(tmp_path / "go", "warn")), parallel=False)
    notes = [w for w in result.outcomes["PFS"].warnings if w.startswith("reported numbers:")]
    assert len(notes) == 1 and "row 16, column 'ci_upper'" in notes[0]
    assert {"outcome": "PFS", "message": notes[0]} in result.warnings  # what the report lists
    assert not [w for w in result.outcomes["AE"].warnings if w.startswith("reported numbers:")]


def test_a_plans_implausible_effect_is_excluded_with_the_reason(tmp_path):
    from bayesmeta.data import load_outcomes
    from bayesmeta.effects import derive_effects

    folder = tmp_path / "data"
    shutil.copytree(SYNTHETIC, folder)
    outcomes = folder / "outcomes.csv"
    # an OR with CI 1e-9 to 1e9: SE 10.6 on the log scale
    outcomes.write_text(outcomes.read_text().replace(
        "C2Gibelli2004,PFS,OR,0.631579155397,0.212237760458,1.87945928506", "C2Gibelli2004,PFS,OR,1,1e-9,1e9"))
    effects = derive_effects(load_outcomes(outcomes))
    row = effects[(effects.study_id == "C2Gibelli2004") & (effects.outcome == "PFS")].iloc[0]
    assert not row.usable and row.reason.startswith("implausible: standard error 10.6")
    assert effects[(effects.outcome == "PFS") & (effects.study_id != "C2Gibelli2004")].usable.all()


# -- many studies --------------------------------------------------------------------------------------------
PEAK_RSS = """
import resource, sys
from bayesmeta.cli import main
status = main(sys.argv[1:])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)  # kB on Linux
sys.exit(status)
"""


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in kB on Linux only")
def test_ppc_of_2000_studies_completes_within_bounded_memory(tmp_path):
    """k = 2000 in a fresh process: the leave-one-out step used to need about 13 GB (k x k x tau nodes) and the
    sampler 2 GB; now the whole run peaks near 0.5 GB."""
    rng = np.random.default_rng(2000)
    k = 2000
    sei = rng.uniform(0.1, 0.4, k)
    y = rng.normal(-0.2, np.sqrt(sei**2 + 0.1**2))
    path = write(tmp_path / "k2000.csv", "study,yi,sei", [(f"S{i}", f"{a:.4f}", f"{b:.4f}") for i, (a, b) in
                                                          enumerate(zip(y, sei))])
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PEAK_RSS, "ppc", path, "--measure", "HR", "--json"],
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    peak_gb = int(proc.stderr.strip().splitlines()[-1]) / 1e6
    result = json.loads(proc.stdout, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    assert result["k"] == k and len(result["studies"]) == k
    pit = np.array([s["loo_pit"] for s in result["studies"]])
    assert np.all((pit > 0) & (pit < 1))
    assert peak_gb < 1.5, f"peak resident memory {peak_gb:.2f} GB"
    assert elapsed < 300, f"{elapsed:.0f} s"


def test_subprocess_end_to_end(tmp_path):
    """Two cases in fresh processes: a log ratio of 1e6 (exit 2, no traceback) and an asymmetric CI (exit 0)."""
    bad = write(tmp_path / "bad.csv", "study,yi,sei", with_row(2, 1e6, 0.2))
    proc = subprocess.run([sys.executable, "-m", "bayesmeta.cli", "ppc", bad, "--measure", "HR"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"error: {bad}, row 4, column 'yi'")
    asym = write(tmp_path / "asym.csv", CI_HEADER, [("A", 0.5, 0.45, 0.9), *CI_ROWS[1:]])
    proc = subprocess.run([sys.executable, "-m", "bayesmeta.cli", "monitor", asym, "--measure", "HR", "--json"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr and "not symmetric" in proc.stderr
    json.loads(proc.stdout)


def test_many_effects_far_apart_are_limited_by_the_median_rule():
    from bayesmeta.plausible import table_problems

    yi = np.array([0.0, 0.1, -0.1, 0.2])
    sei = np.array([0.1, 0.1, 0.1, 0.1])
    assert table_problems(yi, sei, "GEN") == []
    yi[3] = 1.01 * MAX_Z_FROM_MEDIAN * 0.1
    problems = table_problems(yi, sei, "GEN")
    assert [(p[0], p[1]) for p in problems] == [(3, "yi")]


def test_the_blocked_gaussian_conditional_equals_the_whole(monkeypatch):
    """GaussianModel.conditional takes tau values in blocks when datasets x values x studies is large: the moments
    and likelihood must be those of the whole computation, for a batch with absent studies and a regression."""
    from bayesmeta.exact import gaussian

    rng = np.random.default_rng(5)
    n, k, m = 4, 9, 37
    y, s2 = rng.normal(size=(n, k)), rng.uniform(0.01, 0.2, (n, k))
    mask = rng.uniform(size=(n, k)) > 0.2
    tau = rng.uniform(0.0, 1.0, (n, m))
    for design in (np.ones((k, 1)), np.column_stack([np.ones(k), rng.normal(size=k)])):
        p = design.shape[1]
        model = gaussian.GaussianModel(y, s2, mask, design, np.zeros((n, p)), np.full((n, p), 0.25))
        whole = model.conditional(tau)
        monkeypatch.setattr(gaussian, "BLOCK_CELLS", n * k * 5)  # blocks of 5 tau values
        blocked = model.conditional(tau)
        monkeypatch.undo()
        for name in ("mean", "cov", "loglik"):
            np.testing.assert_allclose(getattr(blocked, name), getattr(whole, name), rtol=1e-13, atol=0)
