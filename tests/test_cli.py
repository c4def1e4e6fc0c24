"""The command-line entry point: exit status 2 and one line on stderr for user errors, no traceback."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from bayesmeta.cli import main


def test_unknown_command_is_a_usage_error(capsys):
    assert main(["no-such-command"]) == 2
    assert "No such command" in capsys.readouterr().err


def test_missing_file_exits_2_without_traceback(tmp_path):
    missing = tmp_path / "absent.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "bayesmeta.cli", "fit", str(missing)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert str(missing) in proc.stderr


def test_bad_prior_text_exits_2(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("study,yi,sei\nA,-0.5,0.2\nB,-0.3,0.25\nC,-0.1,0.3\n")
    assert main(["fit", str(data), "--tau-prior", "halfnormal(-1)"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "halfnormal" in err


def test_fit_json_has_the_documented_fields(tmp_path, capsys):
    import json

    data = tmp_path / "d.csv"
    data.write_text("study,yi,sei\nA,-0.5,0.2\nB,-0.3,0.25\nC,-0.1,0.3\n")
    assert main(["fit", str(data), "--measure", "HR", "--threshold", "0.7", "--threshold", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("mu", "tau", "predictive"):
        assert set(out[key]) >= {"mean", "sd", "median", "ci_lower", "ci_upper"}
        assert out[key]["ci_lower"] < out[key]["median"] < out[key]["ci_upper"]
    assert out["engine"] == "exact" and out["k"] == 3
    assert 0 < out["prob_below"]["0.7"] < out["prob_below"]["1.0"] < 1


def test_fit_with_covariates_reports_beta(tmp_path, capsys):
    import json

    data = tmp_path / "d.csv"
    data.write_text(
        "study,yi,sei,platinum\nA,-0.7,0.2,ox\nB,-0.6,0.25,ox\nC,-0.2,0.2,cis\nD,-0.1,0.3,cis\nE,-0.65,0.22,ox\n"
    )
    assert main(["fit", str(data), "--measure", "HR", "--covariates", "platinum", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "beta[platinum[cis]]" in out
    assert out["beta[platinum[cis]]"]["median"] > 0  # cisplatin studies have the larger log HRs
    assert main(["fit", str(data), "--measure", "HR", "--covariates", "platinum"]) == 0
    assert "platinum[cis]: ratio of HRs 1." in capsys.readouterr().out
    data.write_text("study,yi,sei,year\nA,-0.7,0.2,2001\nB,-0.6,0.25,2004\nC,-0.2,0.2,2010\nD,-0.1,0.3,2012\n")
    assert main(["fit", str(data), "--formula", "year"]) == 0
    assert "year: difference per unit 0.0" in capsys.readouterr().out  # a slope: later studies, larger effects
    assert main(["fit", str(data), "--covariates", "nope"]) == 2
    assert "column 'nope'" in capsys.readouterr().err


def test_fit_reports_exact_bayes_factors_only_for_proper_priors(tmp_path, capsys):
    import json

    from bayesmeta.exact import bayes_factor_mu0, fit_exact

    data = tmp_path / "d.csv"
    data.write_text("study,yi,sei\nA,-0.5,0.2\nB,-0.3,0.25\nC,-0.1,0.3\n")
    assert main(["fit", str(data), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    post = fit_exact([-0.5, -0.3, -0.1], [0.2, 0.25, 0.3], mu_prior="normal(0, 4)", tau_prior="halfnormal(0.5)")
    assert out["bayes_factors"]["mu_0"] == pytest.approx(bayes_factor_mu0(post), rel=1e-9)
    assert out["bayes_factors"]["tau_0"] > 0
    assert main(["fit", str(data), "--mu-prior", "flat", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["bayes_factors"]["mu_0"] is None and "proper" in out["bayes_factors"]["note"]


def test_lowercase_study_names_and_levels_survive_the_text_table(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("study,yi,sei,arm\nsmith2020,-0.5,0.2,a\njones2021,-0.3,0.25,b\nlee2019,-0.1,0.3,a\n"
                    "kim2018,-0.4,0.3,b\n")
    assert main(["fit", str(data), "--measure", "HR", "--covariates", "arm"]) == 0
    out = capsys.readouterr().out
    for name in ("theta[smith2020]", "theta[jones2021]", "theta[lee2019]", "arm[b]"):
        assert name in out


def test_bad_option_values_and_unwritable_paths_exit_2(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("study,yi,sei\nA,-0.5,0.2\nB,-0.3,0.25\nC,-0.1,0.3\n")
    assert main(["fit", str(data), "--measure", "HR", "--threshold", "-1"]) == 2
    assert "positive" in capsys.readouterr().err
    assert main(["monitor", str(data), "--measure", "HR", "--figures", str(data / "figures")]) == 2
    assert capsys.readouterr().err.startswith("error:")


def test_studies_without_events_are_named_when_excluded(tmp_path, capsys):
    import json

    data = tmp_path / "c.csv"
    data.write_text("study,events_treatment,total_treatment,events_control,total_control\n"
                    "A,10,50,20,50\nB,0,50,0,50\nC,12,60,18,60\n")
    assert main(["fit", str(data), "--measure", "RR", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["k"] == 2
    assert "excluded B" in captured.err


def test_fit_benefit_above_reports_the_upper_tail_at_the_level(tmp_path, capsys):
    import json

    from bayesmeta.exact import fit_exact

    data = tmp_path / "d.csv"
    data.write_text("study,yi,sei\nA,0.5,0.2\nB,0.3,0.25\nC,0.1,0.3\n")
    args = ["fit", str(data), "--measure", "RR", "--threshold", "1.25", "--benefit", "above", "--level", "0.9"]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    post = fit_exact([0.5, 0.3, 0.1], [0.2, 0.25, 0.3], mu_prior="normal(0, 4)", tau_prior="halfnormal(0.5)",
                     measure="RR")
    assert out["benefit"] == "above" and out["likelihood"] == "normal"
    assert out["prob_above"]["1.25"] == pytest.approx(1 - post.prob_below(1.25), abs=1e-12)
    assert (out["mu"]["ci_lower"], out["mu"]["ci_upper"]) == pytest.approx(post.marginal("mu").interval(0.9),
                                                                           abs=1e-12)
    assert main(args) == 0
    text = capsys.readouterr().out
    assert f"P(RR > 1.25) = {1 - post.prob_below(1.25):.4f}" in text and "90% CrI" in text


def test_fit_binomial_likelihood_needs_arm_counts_and_nuts(tmp_path, capsys):
    effects = tmp_path / "d.csv"
    effects.write_text("study,yi,sei\nA,-0.5,0.2\nB,-0.3,0.25\nC,-0.1,0.3\n")
    assert main(["fit", str(effects), "--likelihood", "binomial"]) == 2
    assert "arm counts" in capsys.readouterr().err
    counts = tmp_path / "c.csv"
    counts.write_text("study,events_treatment,total_treatment,events_control,total_control\n"
                      "A,10,100,20,100\nB,12,110,18,105\nC,8,90,15,95\n")
    assert main(["fit", str(counts), "--likelihood", "binomial", "--engine", "exact"]) == 2
    assert "--engine" in capsys.readouterr().err
    assert main(["fit", str(counts), "--likelihood", "binomial", "--measure", "RR"]) == 2
    assert "odds ratio" in capsys.readouterr().err


COUNTS_WITH_DOUBLE_ZERO = ("study,events_treatment,total_treatment,events_control,total_control\n"
                           "A,10,100,20,100\nB,12,110,18,105\nC,8,90,15,95\nD,0,40,0,38\nE,30,200,41,210\n")


@pytest.mark.slow
def test_fit_binomial_likelihood_on_arm_counts(tmp_path, capsys):
    """`fit --likelihood binomial` fits the binomial-normal model of the OR by NUTS on the studies a plan fits it
    to: the study without events in either arm is left out (zero_cells drop00) and named; its posterior of mu
    agrees with the library's fit of the other studies' counts."""
    import json

    from bayesmeta.mcmc import fit_binomial_nuts

    counts = tmp_path / "c.csv"
    counts.write_text(COUNTS_WITH_DOUBLE_ZERO)
    # a short run: the assertion is about plumbing (the same draws as the library's fit), not about precision
    assert main(["fit", str(counts), "--likelihood", "binomial", "--seed", "5", "--draws", "300", "--chains", "2",
                 "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert "excluded D from the normal and the binomial likelihood" in captured.err
    assert out["likelihood"] == "binomial" and out["engine"] == "nuts" and out["measure"] == "OR"
    assert out["k"] == 4 and "theta[D]" not in out
    assert out["dropped"] == [{"study": "D", "reason": "no events in either arm"}]
    others = pd.read_csv(counts).query("study != 'D'")
    post = fit_binomial_nuts(others, seed=5, draws=300, chains=2)
    assert out["mu"]["median"] == pytest.approx(post.marginal("mu").median(), abs=1e-12)


def test_fit_binomial_likelihood_drops_double_zero_studies_as_a_plan(tmp_path, capsys, monkeypatch):
    """The counts `fit --likelihood binomial` hands to the sampler (recorded, not sampled) are those of the studies
    a plan's outcome keeps under the same zero_cells rule (bayesmeta.effects.effects_for, metafor escalc's
    drop00): by default without the double-zero study D, with --no-drop00 (plan drop00 = false) with it."""
    import json

    import bayesmeta.mcmc
    from bayesmeta.data import load_outcomes
    from bayesmeta.effects import effects_for
    from bayesmeta.errors import ModelError
    from bayesmeta.escalc import ZeroCellRule

    handed = []

    def record(data, **_):
        handed.append(list(data.counts.index))
        raise ModelError("recorded")

    monkeypatch.setattr(bayesmeta.mcmc, "fit_binomial_nuts", record)
    counts = tmp_path / "c.csv"
    counts.write_text(COUNTS_WITH_DOUBLE_ZERO)
    rows = tmp_path / "outcomes.csv"  # the same studies as a plan's outcomes table
    pd.read_csv(counts).rename(columns={"study": "study_id"}).assign(outcome="x", measure="OR").to_csv(rows,
                                                                                                    index=False)
    for options, drop00 in (([], None), (["--no-drop00"], False), (["--drop00"], True)):
        assert main(["fit", str(counts), "--likelihood", "binomial", *options]) == 2
        err = capsys.readouterr().err
        planned = effects_for("x", load_outcomes(rows), zero_cells=ZeroCellRule(drop00=drop00))["study_id"]
        assert handed.pop() == sorted(planned) == (["A", "B", "C", "E"] if drop00 is not False else list("ABCDE"))
        assert ("excluded D" in err) == (drop00 is not False)
    assert main(["fit", str(counts), "--measure", "OR", "--no-drop00", "--add", "0.25", "--to", "all",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["k"] == 5 and out["dropped"] == [] and "theta[D]" in out
    # the reader took escalc(measure = "OR", add = 0.25, to = "all", drop00 = FALSE)'s variances, 1/a + 1/b + 1/c +
    # 1/d of every cell + 0.25, as R's uisd() from the arms' totals shows: sqrt(sum n_i / sum 1/v_i)
    c = pd.read_csv(counts)
    a, n1, e, n2 = (c[k].to_numpy(float) for k in ("events_treatment", "total_treatment", "events_control",
                                                    "total_control"))
    vi = 1 / (a + 0.25) + 1 / (n1 - a + 0.25) + 1 / (e + 0.25) + 1 / (n2 - e + 0.25)
    assert out["uisd"] == pytest.approx(np.sqrt((n1 + n2).sum() / np.sum(1 / vi)), rel=1e-12)
    assert main(["fit", str(counts), "--add", "-1"]) == 2
