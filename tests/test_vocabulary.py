"""The one vocabulary, checked structurally: every verb takes an EffectData and gives the numbers it gives for the
same arrays; no module keeps its own list of measures; no public signature uses the retired names; every
command spells the shared options one way."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesmeta.benefit import Benefit
from bayesmeta.effect_data import COUNT_COLUMNS, EffectData
from bayesmeta.scales import MEASURES

PACKAGE = Path(__file__).resolve().parents[1] / "bayesmeta"
MU, TAU = "normal(0, 4)", "halfnormal(0.5)"

STUDY = ("s1", "s2", "s3", "s4", "s5", "s6")
COUNTS = pd.DataFrame(
    {"events_treatment": [12, 20, 9, 30, 15, 22], "total_treatment": [100, 150, 80, 210, 120, 160],
     "events_control": [20, 26, 15, 41, 18, 30], "total_control": [100, 148, 82, 205, 118, 165]},
    index=pd.Index(STUDY, name="study"),
)


def _log_rr() -> tuple[np.ndarray, np.ndarray]:
    a, n1, c, n2 = (COUNTS[col].to_numpy(float) for col in COUNT_COLUMNS)
    return np.log((a / n1) / (c / n2)), np.sqrt(1 / a - 1 / n1 + 1 / c - 1 / n2)


YI, SEI = _log_rr()
YEAR = np.array([2016, 2015, 2019, 2018, 2020, 2017])
DATA = EffectData(study=STUDY, yi=YI, sei=SEI, measure="RR", benefit=Benefit.BELOW, counts=COUNTS,
                  covariates=pd.DataFrame({"year": YEAR, "arm": list("xxyyxy")}, index=pd.Index(STUDY, name="study")))
ARRAYS = {"study": STUDY, "measure": "RR"}


def same(left, right) -> None:
    """The same numbers (tables, result objects, marginals) from an EffectData and from the arrays."""
    if isinstance(left, pd.DataFrame):
        pd.testing.assert_frame_equal(left, right, rtol=1e-12, atol=0)
    elif dataclasses.is_dataclass(left) and hasattr(left, "as_dict"):
        assert json.dumps(left.as_dict(), sort_keys=True, default=str) == \
            json.dumps(right.as_dict(), sort_keys=True, default=str)
    else:
        raise TypeError(type(left))


# -- every verb takes the EffectData ------------------------------------------------------------------------
def test_exact_fits_take_effect_data():
    from bayesmeta.exact import fit_exact, fit_exact_batch, fit_exact_priors

    one, other = fit_exact(DATA, mu_prior=MU, tau_prior=TAU), fit_exact(YI, SEI, mu_prior=MU, tau_prior=TAU, **ARRAYS)
    assert one.study == other.study == STUDY and one.measure == "RR" and one.likelihood == "normal"
    same(one.summary(), other.summary())
    mask = ~np.eye(6, dtype=bool)
    b1 = fit_exact_batch(DATA, mask=mask, mu_prior=MU, tau_prior=TAU)
    b2 = fit_exact_batch(np.tile(YI, (6, 1)), np.tile(SEI, (6, 1)), mask=mask, mu_prior=MU, tau_prior=TAU, **ARRAYS)
    np.testing.assert_array_equal(b1.interval(0.95, "predictive"), b2.interval(0.95, "predictive"))
    p1 = fit_exact_priors(DATA, priors=[(MU, TAU), ("flat", "halfcauchy(0.3)")])
    p2 = fit_exact_priors(YI, vi=SEI**2, priors=[(MU, TAU), ("flat", "halfcauchy(0.3)")], **ARRAYS)
    np.testing.assert_allclose(p1.ppf(0.5, "tau"), p2.ppf(0.5, "tau"), rtol=1e-12)
    with pytest.raises(TypeError, match="carries its own"):
        fit_exact(DATA, SEI)


def test_frequentist_verbs_take_effect_data():
    from bayesmeta import frequentist as f

    v = SEI**2
    same(f.rma(DATA), f.rma(YI, v))
    same(f.rma(DATA, method="DL", test="knha"), f.rma(YI, sei=SEI, method="DL", test="knha"))
    same(f.leave_one_out(DATA), f.leave_one_out(YI, v, study=STUDY))
    same(f.cumulative(DATA, order=YEAR), f.cumulative(YI, v, order=YEAR, study=STUDY))
    same(f.egger_test(DATA), f.egger_test(YI, v))
    same(f.paper_rule(DATA), f.paper_rule(YI, v))
    same(f.subgroup_analysis(DATA, groups="arm"), f.subgroup_analysis(YI, v, groups=list("xxyyxy")))
    assert f.tau2_ci_qprofile(DATA) == f.tau2_ci_qprofile(YI, v)
    same(f.mantel_haenszel(DATA), f.mantel_haenszel({c: COUNTS[c].to_numpy() for c in COUNT_COLUMNS}, "RR"))


def test_sequential_sensitivity_influence_and_tsa_take_effect_data():
    from bayesmeta.influence import leave_one_out
    from bayesmeta.sensitivity import power_scaling, power_scaling_distances, prior_grid
    from bayesmeta.sequential import monitor, operating_characteristics
    from bayesmeta.tsa import cumulative_z, tsa

    n = (COUNTS["total_treatment"] + COUNTS["total_control"]).to_numpy(float)
    same(monitor(DATA, order=YEAR, mu_prior=MU, tau_prior=TAU).table,
         monitor(YI, SEI, YEAR, mu_prior=MU, tau_prior=TAU, sample_sizes=n, **ARRAYS).table)
    oc = dict(true_ratio=(1.0,), tau_values=(0.1,), n_sim=20, seed=3, mu_prior=MU, tau_prior=TAU)
    same(operating_characteristics(4, DATA, **oc), operating_characteristics(4, SEI, measure="RR", **oc))
    same(prior_grid(DATA, tau_scales=(0.5,)), prior_grid(YI, SEI, tau_scales=(0.5,), measure="RR"))
    same(power_scaling(DATA, mu_prior=MU, tau_prior=TAU), power_scaling((YI, SEI), mu_prior=MU, tau_prior=TAU))
    np.testing.assert_array_equal(power_scaling_distances(DATA, mu_prior=MU, tau_prior=TAU)[1],
                                  power_scaling_distances(YI, SEI, mu_prior=MU, tau_prior=TAU)[1])
    same(leave_one_out(DATA, mu_prior=MU, tau_prior=TAU), leave_one_out(YI, SEI, mu_prior=MU, tau_prior=TAU, **ARRAYS))
    same(cumulative_z(DATA, order=YEAR), cumulative_z(YI, SEI**2, order=YEAR, sample_sizes=n, study=STUDY))
    p_control = COUNTS["events_control"].sum() / COUNTS["total_control"].sum()
    same(tsa(DATA, relative_risk_reduction=0.2, order=YEAR),
         tsa(YI, SEI**2, n, p_control, 0.2, order=YEAR, study=STUDY))


def test_predictive_checks_and_influence_of_a_posterior_of_effect_data():
    from bayesmeta import ppc
    from bayesmeta.exact import fit_exact
    from bayesmeta.influence import influence

    one, other = fit_exact(DATA, mu_prior=MU, tau_prior=TAU), fit_exact(YI, SEI, mu_prior=MU, tau_prior=TAU, **ARRAYS)
    same(ppc.study_predictive_pvalues(one), ppc.study_predictive_pvalues(other))
    same(influence(one), influence(other))


@pytest.mark.slow
def test_nuts_fits_take_effect_data():
    from bayesmeta.mcmc import fit_binomial_nuts, fit_nuts

    settings = dict(draws=200, tune=200, chains=2, seed=4)
    one, other = fit_nuts(DATA, **settings), fit_nuts(YI, SEI, **ARRAYS, **settings)
    np.testing.assert_array_equal(one.draws["mu"], other.draws["mu"])
    assert one.study == STUDY
    table = {c: COUNTS[c].to_numpy() for c in COUNT_COLUMNS}
    b1, b2 = fit_binomial_nuts(DATA, measure="OR", **settings), fit_binomial_nuts(table, study=STUDY, **settings)
    np.testing.assert_array_equal(b1.draws["theta"], b2.draws["theta"])
    assert b1.likelihood == b2.likelihood == "binomial"


# -- one home for the measures -------------------------------------------------------------------------------
def test_no_module_but_scales_lists_measures():
    """A tuple, list or set literal of two or more measure codes outside scales.py is a second measure list."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "scales.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and len(node.elts) >= 2:
                values = [e.value for e in node.elts if isinstance(e, ast.Constant)]
                if len(values) == len(node.elts) and set(values) <= set(MEASURES):
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {values}")
    assert offenders == []


# -- no retired names in the public signatures ---------------------------------------------------------------
RETIRED = {"study_ids", "benefit_below", "benefit_above", "direction"}
RETIRED_IN_VERBS = RETIRED | {"y", "a", "n1", "c", "n2"}
VERB_MODULES = ("bayesmeta.exact.engine", "bayesmeta.mcmc.fit", "bayesmeta.mcmc.binomial", "bayesmeta.mcmc.inputs",
                "bayesmeta.frequentist.rma", "bayesmeta.frequentist.leave_one_out", "bayesmeta.frequentist.cumulative",
                "bayesmeta.frequentist.egger", "bayesmeta.frequentist.subgroups", "bayesmeta.frequentist.paper_rule",
                "bayesmeta.frequentist.qprofile", "bayesmeta.frequentist.mantel_haenszel", "bayesmeta.sequential",
                "bayesmeta.sensitivity", "bayesmeta.influence", "bayesmeta.ppc", "bayesmeta.tsa.analysis", "bayesmeta.tsa.size",
                "bayesmeta.tsa.groupseq", "bayesmeta.reinterpret", "bayesmeta.posterior", "bayesmeta.effect_data", "bayesmeta.benefit", "bayesmeta.scales",
                "bayesmeta.tables", "bayesmeta.plots.funnel", "bayesmeta.plots.forest", "bayesmeta.plots.density")


def _signatures(module_name: str):
    """(qualified name, parameter names) of the public functions, classes and methods defined in a module."""
    module = importlib.import_module(module_name)
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module_name:
            continue
        members = [(name, obj)] if inspect.isfunction(obj) else []
        if inspect.isclass(obj):
            members = [(f"{name}.{k}", v) for k, v in vars(obj).items()
                       if inspect.isfunction(v) and (not k.startswith("_") or k == "__init__")]
            if dataclasses.is_dataclass(obj):
                members.append((name, obj))
        for qualified, fn in members:
            yield f"{module_name}.{qualified}", set(inspect.signature(fn).parameters)


def test_no_public_signature_in_the_package_uses_a_retired_name():
    import pkgutil

    import bayesmeta

    found = []
    for info in pkgutil.walk_packages(bayesmeta.__path__, "bayesmeta."):
        if info.name.endswith("__main__"):  # running it is the command line
            continue
        for qualified, params in _signatures(info.name):
            found += [f"{qualified}({p})" for p in sorted(params & RETIRED)]
    assert found == []


def test_verb_signatures_use_yi_study_and_the_arm_count_names():
    found = []
    for module_name in VERB_MODULES:
        for qualified, params in _signatures(module_name):
            found += [f"{qualified}({p})" for p in sorted(params & RETIRED_IN_VERBS)]
    assert found == []


def test_posterior_fields_are_the_vocabulary():
    from bayesmeta.posterior import Posterior

    fields = {f.name for f in dataclasses.fields(Posterior)}
    assert {"study", "yi", "sei", "measure", "likelihood"} <= fields and not fields & RETIRED_IN_VERBS


# -- one spelling per command-line option ---------------------------------------------------------------------
SHARED = {"measure": "--measure", "mu_prior": "--mu-prior", "tau_prior": "--tau-prior", "threshold": "--threshold",
          "benefit": "--benefit", "mcid": "--mcid", "level": "--level", "seed": "--seed", "figures": "--figures",
          "likelihood": "--likelihood", "as_json": "--json"}
RETIRED_OPTIONS = {"--below", "--above", "--benefit-above", "--direction", "--plot", "--hr", "--study-ids", "--y"}


@pytest.fixture(scope="module")
def commands():
    """Each command's parameters as (name, option spellings, choices), read in a fresh interpreter."""
    code = """
import enum, json, typing, typer
from bayesmeta.cli import app, _register
_register()
group = typer.main.get_command(app)

def choices(hints, name):
    hint = hints.get(name)
    base = typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint
    for arg in typing.get_args(base) or (base,):
        if isinstance(arg, type) and issubclass(arg, enum.Enum):
            return [m.value for m in arg]
    return []

out = {}
for name, cmd in group.commands.items():
    hints = typing.get_type_hints(cmd.callback, include_extras=True)
    out[name] = [[p.name, [o for o in p.opts if o.startswith("--")], choices(hints, p.name)] for p in cmd.params]
print(json.dumps(out))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])


def test_every_command_spells_the_shared_options_one_way(commands):
    assert {"fit", "frequentist", "ppc", "sensitivity", "reinterpret", "tsa", "monitor"} <= set(commands)
    for command, params in commands.items():
        for name, opts, _ in params:
            assert not set(opts) & RETIRED_OPTIONS, f"{command}: {opts}"
            if name in SHARED:
                assert opts == [SHARED[name]], f"{command} --{name}: {opts}"
            for opt in opts:  # a shared spelling always means the shared concept
                assert opt not in SHARED.values() or SHARED.get(name) == opt, f"{command}: {opt} is {name}"


def test_measure_options_offer_every_measure_and_benefit_its_two_sides(commands):
    seen = {"measure": 0, "benefit": 0}
    for command, params in commands.items():
        for name, _, choices in params:
            if name == "measure":
                assert choices == list(MEASURES), command
            if name == "benefit":
                assert choices == [b.value for b in Benefit], command
            seen[name] = seen.get(name, 0) + 1
    assert seen["measure"] >= 4 and seen["benefit"] >= 4 and seen["likelihood"] == 1


# -- the zero-cell rule of arm counts on every command that reads them ------------------------------------------
ZERO_CELL_OPTIONS = {"add": ["--add"], "to": ["--to"], "drop00": ["--drop00", "--no-drop00"]}


@pytest.fixture(scope="module")
def zero_cell_options():
    """Per command: whether its callback reads a user's table (read_table), and its zero-cell options as
    (spellings, default, help, choices), read in a fresh interpreter."""
    code = """
import enum, inspect, json, typing, typer
from bayesmeta.cli import app, _register
_register()
group = typer.main.get_command(app)

def choices(hints, name):
    base = typing.get_args(hints[name])[0]
    return [m.value for m in base] if isinstance(base, type) and issubclass(base, enum.Enum) else []

out = {}
for name, cmd in group.commands.items():
    hints = typing.get_type_hints(cmd.callback, include_extras=True)
    params = {p.name: [[*p.opts, *p.secondary_opts], p.default.value if isinstance(p.default, enum.Enum) else p.default,
                       p.help, choices(hints, p.name)]
              for p in cmd.params if p.name in ("add", "to", "drop00")}
    out[name] = {"reads_table": "read_table(" in inspect.getsource(cmd.callback), "options": params}
print(json.dumps(out))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])


def test_every_command_reading_arm_counts_offers_the_zero_cell_rule_one_way(zero_cell_options):
    """--add, --to and --drop00/--no-drop00 (escalc's add, to, drop00): on every command that reads a user's table
    (which may hold arm counts), all three, spelled, defaulted and explained as fit's."""
    readers = {name for name, c in zero_cell_options.items() if c["reads_table"]}
    assert {"fit", "frequentist", "ppc", "sensitivity", "monitor", "tsa", "bias"} <= readers
    reference = zero_cell_options["fit"]["options"]
    assert {name: spec[0] for name, spec in reference.items()} == ZERO_CELL_OPTIONS
    assert reference["add"][1] == 0.5 and reference["to"][1] == "only0" and reference["drop00"][1] is None
    assert reference["to"][3] == ["only0", "all", "if0all", "none"]
    for name, command in zero_cell_options.items():
        if name in readers or command["options"]:
            assert command["options"] == reference, name
