import math

import numpy as np

from bayesmeta.cli.options import Measure, measure_value, plain


def test_plain_turns_non_finite_numbers_into_none():
    assert plain(float("nan")) is None
    assert plain(math.inf) is None
    assert plain(np.float64(-np.inf)) is None


def test_plain_unwraps_numpy_scalars():
    out = plain(np.int64(3))
    assert out == 3 and type(out) is int
    out = plain(np.float32(0.5))
    assert out == 0.5 and type(out) is float
    assert plain(np.bool_(True)) is True
    assert plain("HR") == "HR"


def test_measure_value_is_the_name_or_none():
    assert measure_value(Measure.RR) == "RR"
    assert measure_value(None) is None
    assert [m.value for m in Measure] == ["HR", "RR", "OR", "IRR", "ROM", "MD", "SMD", "RD", "GEN"]



# -- non-finite numbers in and out --------------------------------------------------------------------------------
import json  # noqa: E402

import pytest  # noqa: E402

from bayesmeta.cli import main  # noqa: E402
from bayesmeta.cli.options import json_text  # noqa: E402

EFFECTS = "study,yi,sei\nA,-0.5,0.2\nB,-0.3,0.25\nC,-0.1,0.3\nD,-0.6,0.22\n"
COUNTS = ("study,events_treatment,total_treatment,events_control,total_control\n"
          "A,10,100,20,100\nB,12,110,18,105\nC,8,90,15,95\n")


@pytest.fixture
def effects(tmp_path):
    path = tmp_path / "effects.csv"
    path.write_text(EFFECTS)
    return str(path)


@pytest.fixture
def counts(tmp_path):
    path = tmp_path / "counts.csv"
    path.write_text(COUNTS)
    return str(path)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "infinity"])
@pytest.mark.parametrize("option, args", [
    ("--threshold", ["fit", "{effects}", "--measure", "HR", "--threshold", "{v}"]),
    ("--threshold", ["fit", "{effects}", "--measure", "HR", "--threshold", "0.8", "--threshold", "{v}"]),
    ("--mcid", ["monitor", "{effects}", "--measure", "HR", "--mcid", "{v}"]),
    ("--threshold", ["monitor", "{effects}", "--measure", "HR", "--threshold", "{v}"]),
    ("--benefit-prob", ["monitor", "{effects}", "--measure", "HR", "--benefit-prob", "{v}"]),
    ("--futility-prob", ["monitor", "{effects}", "--measure", "HR", "--futility-prob", "{v}"]),
    ("--threshold", ["sensitivity", "{effects}", "--measure", "HR", "--threshold", "{v}"]),
    ("--estimate", ["reinterpret", "--estimate", "{v}", "--ci", "0.6", "1.0"]),
    ("--ci", ["reinterpret", "--estimate", "0.8", "--ci", "0.6", "{v}"]),
    ("--mcid", ["reinterpret", "--estimate", "0.8", "--ci", "0.6", "1.0", "--mcid", "{v}"]),
    ("--rope", ["reinterpret", "--estimate", "0.8", "--ci", "0.6", "1.0", "--rope", "0.9", "{v}"]),
    ("--level", ["reinterpret", "--estimate", "0.8", "--ci", "0.6", "1.0", "--level", "{v}"]),
    ("--level", ["frequentist", "{effects}", "--measure", "HR", "--level", "{v}"]),
    ("--level", ["ppc", "{effects}", "--measure", "HR", "--level", "{v}"]),
    ("--mcid", ["tsa", "{counts}", "--mcid", "{v}"]),
    ("--p-control", ["tsa", "{counts}", "--mcid", "0.8", "--p-control", "{v}"]),
    ("--alpha", ["tsa", "{counts}", "--mcid", "0.8", "--alpha", "{v}"]),
    ("--power", ["tsa", "{counts}", "--mcid", "0.8", "--power", "{v}"]),
    ("--sd", ["tsa", "{counts}", "--mcid", "0.8", "--sd", "{v}"]),
], ids=lambda a: a[0] if isinstance(a, list) else a)
def test_non_finite_thresholds_are_refused_with_exit_2(option, args, value, effects, counts, capsys):
    """`fit --threshold nan` would print P(exp(mu) < nan) = nan with exit 0."""
    assert main([a.format(effects=effects, counts=counts, v=value) for a in args]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"error: {option} ") and "is not a finite number" in captured.err
    assert len(captured.err.strip().splitlines()) == 1 and "Traceback" not in captured.err
    assert captured.out == ""


def test_json_text_writes_null_for_non_finite_numbers_and_says_what_they_were():
    out = json.loads(json_text({"a": float("nan"), "b": {"c": [1.0, np.float64(np.inf)], "d": -math.inf},
                                "e": np.int64(2), "f": None}))
    assert out["a"] is None and out["b"] == {"c": [1.0, None], "d": None} and out["e"] == 2 and out["f"] is None
    assert out["null_values"] == [{"path": "a", "value": "NaN (undefined)"},
                                  {"path": "b.c[1]", "value": "+infinity"},
                                  {"path": "b.d", "value": "-infinity"}]
    assert "null_values" not in json.loads(json_text({"a": 1.0, "f": None}))
    assert json.loads(json_text([{"x": float("nan")}])) == [{"x": None}]


def test_fit_json_with_an_undefined_diagnostic_is_valid_json_and_exit_0(effects, capsys, monkeypatch):
    """NUTS with one chain has no R-hat (NaN); --json used to stop with 'Out of range float values are not JSON
    compliant' as a user error (exit 2). Simulated here on the exact engine's summary to stay fast."""
    from bayesmeta.posterior import Posterior

    original = Posterior.to_dict

    def one_chain(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        out["diagnostics"] = {**out["diagnostics"], "r_hat": {"mu": float("nan"), "tau": float("nan")}}
        return out

    monkeypatch.setattr(Posterior, "to_dict", one_chain)
    assert main(["fit", effects, "--measure", "HR", "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["diagnostics"]["r_hat"] == {"mu": None, "tau": None}
    assert {"path": "diagnostics.r_hat.mu", "value": "NaN (undefined)"} in out["null_values"]
    assert "NaN" not in captured.out.replace("NaN (undefined)", "")


def test_fit_text_table_with_a_lognormal_tau2_prior(effects, capsys):
    """The documented Turner et al. prior has zero density at tau = 0: the tau Bayes factor is undefined; the table
    used to crash formatting None after printing the posterior (exit 0 with a traceback)."""
    assert main(["fit", effects, "--measure", "HR", "--tau-prior", "lognormal_tau2(-2.56, 1.74)"]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert "effect vs mu = 0:" in captured.out and "heterogeneity vs tau = 0" not in captured.out
    assert "Bayes factor is undefined" in captured.out.replace("\n", " ")
    assert main(["fit", effects, "--measure", "HR", "--tau-prior", "lognormal_tau2(-2.56, 1.74)", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["bayes_factors"]["tau_0"] is None and out["bayes_factors"]["mu_0"] > 0
    assert "zero" in out["bayes_factors"]["note"]
