"""The outcome's scale unit (bayesmeta.scale_unit) on Normand 1999 (mean difference in days of hospital stay;
data/gallery/normand_stroke, prior sets in days in models/gallery/normand_stroke_priors.toml): the defaults that
were sized for log ratios -- the prior grid's tau scales, the monitoring simulations' heterogeneities, RoBMA's bias
priors and the power-scaling reading of tau -- follow the outcome's units, and stay as they were for log ratios."""

from __future__ import annotations

import contextlib
import io
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesmeta.errors import ModelError, ReportedValueWarning
from bayesmeta.plan import load_plan
from bayesmeta.priors import load_prior_sets, parse_prior
from bayesmeta.scale_unit import PACKAGED_MONITORING_TAUS, PACKAGED_TAU_SCALES, scale_unit
from bayesmeta.tables import read_effect_table

ROOT = Path(__file__).resolve().parents[1]
NORMAND = ROOT / "data" / "gallery" / "normand_stroke" / "outcomes.csv"
PLAN = ROOT / "models" / "gallery" / "normand_stroke.toml"
REF = json.loads((ROOT / "tests" / "reference" / "new_user_metafor.json").read_text())
UISD_DAYS = 26.0  # the gallery's prior file: sqrt(sum n / sum se^-2) of the 9 studies, 26.0 days


def _normand():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReportedValueWarning)
        table = read_effect_table(NORMAND, "MD")
    raw = pd.read_csv(NORMAND)
    n = (raw["total_treatment"] + raw["total_control"]).to_numpy(float)
    return table, n


def _effects(table, n) -> pd.DataFrame:
    return pd.DataFrame({"study_id": table.study, "yi": table.yi, "sei": table.sei, "n_total": n})


def test_the_rule_keeps_the_packaged_conventions_and_sizes_an_md_in_its_units():
    table, n = _normand()
    for measure in ("HR", "RR", "OR", "SMD", "RD"):
        unit = scale_unit(measure, tau_prior=parse_prior("halfnormal(3.25)"), sample_sizes=n, sei=table.sei)
        assert unit.packaged and unit.tau_scales() == PACKAGED_TAU_SCALES == (0.25, 0.5, 1.0, 2.0)
        assert unit.monitoring_tau_values() == PACKAGED_MONITORING_TAUS == (0.0, 0.3)
    # the packaged tau prior halfnormal(0.5) is sigma_u / 8 at sigma_u = 4: its grid is exactly the packaged one
    assert scale_unit("GEN", tau_prior=parse_prior("halfnormal(0.5)")).tau_scales() == PACKAGED_TAU_SCALES
    by_prior = scale_unit("MD", tau_prior=parse_prior("halfnormal(3.25)"))
    assert by_prior.uisd == pytest.approx(26.0) and by_prior.tau_scales() == (1.625, 3.25, 6.5, 13.0)
    by_sizes = scale_unit("MD", sample_sizes=n, sei=table.sei)
    assert by_sizes.uisd == pytest.approx(UISD_DAYS, abs=0.05)
    assert scale_unit("MD", uisd=10.0, tau_prior=parse_prior("halfnormal(3.25)")).uisd == 10.0  # given first
    none = scale_unit("MD", sample_sizes=np.full(9, np.nan), sei=table.sei)
    assert none.uisd is None and none.tau_scales() == PACKAGED_TAU_SCALES and none.cohens_d() is None


def test_the_prior_grid_under_the_days_priors_keeps_the_pooled_md_near_the_main_fit():
    """The report's grid (the plan's own prior sets in days, so the unit comes from the main set's tau prior):
    every tau scale keeps the pooled MD within 2 days of the main fit's, where halfnormal(0.25) days moved it from
    -13 to -5; and the main fit agrees with metafor's REML estimate within half its standard error."""
    from bayesmeta.exact import fit_exact
    from bayesmeta.reanalysis.outcome import outcome_unit
    from bayesmeta.sensitivity import prior_grid

    plan = load_plan(PLAN)
    o = plan.outcomes[0]
    main = load_prior_sets(plan.priors_file)[plan.main_prior].for_benefit(o.benefit)
    table, n = _normand()
    unit = outcome_unit(plan, o, main, _effects(table, n))
    assert unit.tau_scales() == (1.625, 3.25, 6.5, 13.0)
    fit = fit_exact(table, mu_prior=main.mu, tau_prior=main.tau)
    centre = float(fit.marginal("mu").ppf(0.5))
    reml = REF["normand_stroke"]["MD"]["REML"]
    assert abs(centre - reml["estimate"]) < 0.5 * reml["se"]
    grid = prior_grid(table, prior_sets={"main": main}, tau_scales=plan.tau_scales or unit.tau_scales(),
                      thresholds=(-7.0, 0.0))
    assert len(grid) == 4  # its own halfnormal(3.25) and three more scales
    assert np.all(np.abs(grid["median"].to_numpy() - centre) < 2.0)


def test_the_plan_and_cli_set_the_tau_scales_explicitly(tmp_path):
    from bayesmeta.cli import main
    from bayesmeta.errors import InputError

    text = PLAN.read_text().replace('main = "weakly_informative"', 'main = "weakly_informative"\ntau_scales = [2, 8]')
    (tmp_path / "plan.toml").write_text(text.replace('"data/', f'"{ROOT.as_posix()}/data/').replace(
        '"models/', f'"{ROOT.as_posix()}/models/'))
    assert load_plan(tmp_path / "plan.toml").tau_scales == (2.0, 8.0)
    (tmp_path / "bad.toml").write_text((tmp_path / "plan.toml").read_text().replace("[2, 8]", "[2, -1]"))
    with pytest.raises(InputError, match=r"priors\.tau_scales\[1\]"):
        load_plan(tmp_path / "bad.toml")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["sensitivity", str(NORMAND), "--measure", "MD", "--tau-scales", "0,1", "--json"])
    assert status == 2 and "--tau-scales" in err.getvalue()


def test_the_default_monitoring_heterogeneities_scale_with_the_unit():
    from bayesmeta.reanalysis.crosscheck import operating_jobs

    plan = load_plan(PLAN)
    assert plan.monitoring.tau_values is None  # the gallery plan leaves them to the rule
    name = plan.outcomes[0].name
    mains = {name: load_prior_sets(plan.priors_file)[plan.main_prior]}
    table, n = _normand()
    (job,) = operating_jobs(plan, {name: _effects(table, n)}, mains, {})
    assert job["tau_values"] == pytest.approx((0.0, 0.3 * 26.0 / 4))  # (0, 0.3) x sigma_u / 4, sigma_u = 8 x 3.25
    tenths = scale_unit("MD", sample_sizes=n, sei=10 * table.sei).monitoring_tau_values()
    days = scale_unit("MD", sample_sizes=n, sei=table.sei).monitoring_tau_values()
    assert tenths[1] == pytest.approx(10 * days[1], rel=1e-3) and days[1] == pytest.approx(1.95, abs=0.01)


def test_bias_priors_for_an_md_are_scale_equivariant():
    """Days -> tenths of a day (yi, sei and so the UISD x 10): RoBMA's rescaled priors make the ensemble
    equivariant (mu, tau x 10, PEESE's b / 10, PET's b unchanged), so every posterior model probability is the
    same and the model-averaged effect is 10 times as large; without a unit the defaults are refused."""
    from bayesmeta.bias import default_priors, fit_bias

    table, n = _normand()
    fits = []
    for c in (1.0, 10.0):
        y, s = -c * table.yi, c * table.sei  # benefit below: fitted to -yi, as the report does
        unit = scale_unit("MD", sample_sizes=n, sei=s)
        fits.append(fit_bias(y, s, measure="MD", ensemble="pet-peese",
                             priors=default_priors("MD", unit=unit)))
    days, tenths = fits
    assert [m.post_prob for m in tenths.models] == pytest.approx([m.post_prob for m in days.models], abs=1e-6)
    q = np.array([0.025, 0.5, 0.975])
    assert tenths.mu_unadjusted.ppf(q) == pytest.approx(10 * days.mu_unadjusted.ppf(q), rel=1e-4)
    assert tenths.mu.ppf(q) == pytest.approx(10 * days.mu.ppf(q), rel=1e-4, abs=1e-9)
    # the unscaled defaults pulled the unadjusted effect to about 0 days; scaled, it lies near the REML estimate
    assert days.mu_unadjusted.ppf(0.5) > 5.0
    pri = default_priors("MD", unit=scale_unit("MD", uisd=26.0))
    assert (pri.mu.scale, pri.tau.scale_, pri.peese.scale) == pytest.approx((13.0, 0.15 * 13, 5 / 13))
    with pytest.raises(ModelError, match="unit-information SD"):
        default_priors("MD")


def test_bias_cli_asks_for_the_unit_of_an_md_and_keeps_ratio_defaults(tmp_path):
    """A yi/sei table of an MD has no sizes: the CLI asks for --uisd; the means-and-SDs file has its arm totals,
    from which the unit comes (the same fit as --uisd with that unit-information SD)."""
    from bayesmeta.bias import default_priors
    from bayesmeta.cli import main

    table, n = _normand()
    plain = tmp_path / "normand_yi.csv"
    pd.DataFrame({"study": table.study, "yi": table.yi, "sei": table.sei}).to_csv(plain, index=False)

    def run(args: list[str]) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(["bias", *args, "--measure", "MD", "--ensemble", "metabma"])
        return status, out.getvalue(), err.getvalue()

    status, _, err = run([str(plain)])
    assert status == 2 and "--uisd" in err and "Traceback" not in err
    uisd = scale_unit("MD", sample_sizes=n, sei=table.sei).uisd
    by_sizes, by_option = run([str(NORMAND), "--json"]), run([str(plain), "--uisd", repr(uisd), "--json"])
    assert by_sizes[0] == by_option[0] == 0
    assert json.loads(by_sizes[1])["mu"] == json.loads(by_option[1])["mu"]
    f = math.pi / math.sqrt(3)
    lor = default_priors("OR", unit=scale_unit("OR", uisd=26.0))  # a unit never touches a log ratio's priors
    assert (lor.mu.scale, lor.tau.scale_, lor.peese.scale) == pytest.approx((f, 0.15 * f, 5 / f))


def test_the_power_scaling_reading_says_which_way_the_data_pull_tau():
    """Normand under halfnormal(3.25) days: the posterior median of tau (about 13 days) lies far above the prior's
    (3.25 x 0.674 days), so the data favour more heterogeneity; identical studies favour less than a wide prior."""
    from bayesmeta.exact import fit_exact
    from bayesmeta.reanalysis.statements import tau_conflict_words
    from bayesmeta.sensitivity import prior_median, tau_pull

    assert prior_median(parse_prior("halfnormal(2)")) == pytest.approx(2 * 0.6744897501960817, rel=1e-9)
    assert prior_median(parse_prior("halfcauchy(3)")) == pytest.approx(3.0, rel=1e-9)
    table, _ = _normand()
    tau = parse_prior("halfnormal(3.25)")
    post = fit_exact(table, mu_prior=parse_prior("normal(0, 26)"), tau_prior=tau)
    assert tau_pull(post, tau) == "more"
    same = fit_exact(np.zeros(6), np.ones(6), mu_prior=parse_prior("normal(0, 4)"),
                     tau_prior=parse_prior("halfnormal(2)"))
    assert tau_pull(same, parse_prior("halfnormal(2)")) == "less"
    words = tau_conflict_words("tau", "prior-data conflict", "more")
    assert "more heterogeneity" in words and "less" not in words
    assert tau_conflict_words("mu", "prior-data conflict", "more") == ""
