"""`fit --engine nuts` and `surrogacy --engine nuts` pass --draws, --chains, --tune and --target-accept (the plan's
[mcmc] names) to the sampler, surrogacy with its own default target acceptance (0.95). The sampler is replaced by a
recorder that returns the exact engine's posterior, so no NUTS model is compiled here (tests/test_mcmc.py,
test_cli.py and test_surrogacy.py sample the compiled models)."""

from __future__ import annotations

import json

import pytest

import bayesmeta.mcmc
import bayesmeta.surrogacy
from conftest import HAIC_OUTCOMES
from bayesmeta.cli import main
from bayesmeta.cli.options import NUTS_DEFAULTS
from bayesmeta.exact import fit_exact

DATA = "study,yi,sei\nA,-0.5,0.2\nB,-0.3,0.25\nC,-0.1,0.3\n"
COUNTS = ("study,events_treatment,total_treatment,events_control,total_control\nA,10,100,20,100\n"
          "B,15,120,22,118\nC,8,90,12,95\n")
SAMPLER = ("draws", "chains", "tune", "target_accept")


@pytest.fixture()
def recorder(monkeypatch):
    """Replace both NUTS fits by a recorder of their sampler settings that returns the exact posterior."""
    calls: list[dict] = []

    def record(table, **kwargs):
        calls.append({k: kwargs[k] for k in SAMPLER})
        return fit_exact(table, mu_prior=kwargs["mu_prior"], tau_prior=kwargs["tau_prior"])

    monkeypatch.setattr(bayesmeta.mcmc, "fit_nuts", record)
    monkeypatch.setattr(bayesmeta.mcmc, "fit_binomial_nuts", record)
    return calls


def test_sampler_options_reach_the_normal_model(tmp_path, capsys, recorder):
    data = tmp_path / "d.csv"
    data.write_text(DATA)
    assert main(["fit", str(data), "--engine", "nuts", "--tune", "1500", "--draws", "300", "--chains", "2",
                 "--target-accept", "0.95", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["k"] == 3
    assert recorder == [{"draws": 300, "chains": 2, "tune": 1500, "target_accept": 0.95}]


def test_defaults_and_the_binomial_model(tmp_path, capsys, recorder):
    data, counts = tmp_path / "d.csv", tmp_path / "c.csv"
    data.write_text(DATA)
    counts.write_text(COUNTS)
    assert main(["fit", str(data), "--engine", "nuts", "--json"]) == 0
    assert main(["fit", str(counts), "--likelihood", "binomial", "--target-accept", "0.99", "--json"]) == 0
    capsys.readouterr()
    assert recorder[0] == {"draws": 1000, "chains": 4, "tune": 1000, "target_accept": 0.9} == NUTS_DEFAULTS
    assert recorder[1] == {**NUTS_DEFAULTS, "target_accept": 0.99}


@pytest.mark.parametrize("args,message", [
    (["--tune", "500"], "--tune sets the NUTS sampler"),
    (["--engine", "nuts", "--target-accept", "1.5"], "--target-accept 1.5 is not usable"),
    (["--engine", "nuts", "--chains", "0"], "--chains 0 is not usable"),
])
def test_unusable_sampler_options_exit_2(tmp_path, capsys, recorder, args, message):
    data = tmp_path / "d.csv"
    data.write_text(DATA)
    assert main(["fit", str(data), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and recorder == []


@pytest.fixture()
def surrogacy_recorder(monkeypatch):
    """Replace the surrogacy fit by a recorder of its sampler settings that fits the exact engine instead."""
    calls: list[dict] = []
    real = bayesmeta.surrogacy.fit_surrogacy

    def record(pairs, **kwargs):
        calls.append({k: kwargs[k] for k in ("engine", *SAMPLER)})
        return real(pairs, **{**{k: v for k, v in kwargs.items() if k not in SAMPLER}, "engine": "exact"})

    monkeypatch.setattr(bayesmeta.surrogacy, "fit_surrogacy", record)
    return calls


SURROGACY = ["surrogacy", str(HAIC_OUTCOMES), "--surrogate", "ORR", "--final", "OS", "--json"]


def test_surrogacy_takes_the_shared_sampler_options_with_its_own_target_accept(capsys, surrogacy_recorder):
    for args in (["--engine", "nuts", "--tune", "300", "--draws", "200", "--chains", "2"],
                 ["--engine", "nuts", "--target-accept", "0.99"], []):
        assert main([*SURROGACY, *args]) == 0
        assert json.loads(capsys.readouterr().out)["engine"] == "exact"  # the recorder's fit
    assert surrogacy_recorder[0] == {"engine": "nuts", "draws": 200, "chains": 2, "tune": 300, "target_accept": 0.95}
    assert surrogacy_recorder[1] == {"engine": "nuts", **NUTS_DEFAULTS, "target_accept": 0.99}
    assert surrogacy_recorder[2]["engine"] == "exact"


@pytest.mark.parametrize("args,message", [
    (["--draws", "200"], "--draws sets the NUTS sampler"),
    (["--engine", "nuts", "--target-accept", "0.95", "--tune", "0"], "--tune 0 is not usable"),
])
def test_surrogacy_unusable_sampler_options_exit_2(capsys, surrogacy_recorder, args, message):
    assert main([*SURROGACY, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and surrogacy_recorder == []
