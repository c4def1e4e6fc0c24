"""What each entry point imports (structural, not timed): the CLI's help loads no numerical library, the exact
engine's path neither pandas nor scipy.stats nor the MCMC and plotting stack."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("numpy", "scipy", "pandas", "arviz", "pymc", "pytensor", "matplotlib", "xarray")
OFF_EXACT_PATH = ("pandas", "scipy.stats", "scipy.optimize", "arviz", "pymc", "pytensor", "matplotlib", "xarray")


def _run(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON object as its last line."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])


def test_help_of_every_command_loads_no_numerical_library():
    code = f"""
import contextlib, io, json, sys
import typer
from bayesmeta.cli import main, app, _register
_register()
group = typer.main.get_command(app)
helps, loaded = {{}}, set()
for argv in [["--help"], *([name, "--help"] for name in group.commands)]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(argv) == 0
    helps[" ".join(argv)] = buf.getvalue()
options = {{name: [opt for p in cmd.params for opt in p.opts if opt.startswith("--")]
           for name, cmd in group.commands.items()}}
print(json.dumps({{"helps": helps, "options": options,
                  "loaded": sorted(m for m in {HEAVY!r} if m in sys.modules)}}))
"""
    result = _run(code)
    assert result["loaded"] == []
    commands = result["options"]
    assert {"fit", "frequentist", "compare", "ppc", "sensitivity", "reinterpret", "tsa", "monitor"} <= set(commands)
    root = result["helps"]["--help"]
    for name, options in commands.items():
        assert name in root
        text = result["helps"][f"{name} --help"]
        for option in options:
            assert option in text, f"{name}: {option} missing from its help"


def test_exact_fit_and_its_summaries_leave_pandas_and_scipy_stats_unloaded():
    code = f"""
import json, sys
from bayesmeta.exact import bayes_factor_mu0, bayes_factor_tau0, fit_exact
post = fit_exact([-0.5, -0.3, -0.1, -0.6, 0.1], [0.2, 0.25, 0.3, 0.2, 0.3], mu_prior="normal(0, 4)",
                 tau_prior="halfnormal(0.5)", measure="HR")
summary = post.to_dict(thresholds=(1.0,))
for name in ("mu", "tau", "predictive"):
    post.marginal(name).interval(0.95, "shortest")
text = repr(post)
bf = bayes_factor_mu0(post), bayes_factor_tau0(post)
print(json.dumps({{"loaded": sorted(m for m in {OFF_EXACT_PATH!r} if m in sys.modules), "k": summary["k"]}}))
"""
    result = _run(code)
    assert result["k"] == 5
    assert result["loaded"] == []


def test_cli_exact_fit_of_a_plain_table_loads_neither_pandas_nor_mcmc_or_plotting_libraries(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("study,yi,sei\nA,-0.5,0.2\nB,-0.3,0.25\nC,-0.1,0.3\n")
    code = f"""
import contextlib, io, json, sys
from bayesmeta.cli import main
for extra in ([], ["--json"]):
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["fit", {str(data)!r}, "--measure", "HR", "--engine", "exact", *extra]) == 0
print(json.dumps({{"loaded": sorted(m for m in {OFF_EXACT_PATH!r} if m in sys.modules)}}))
"""
    assert _run(code)["loaded"] == []
