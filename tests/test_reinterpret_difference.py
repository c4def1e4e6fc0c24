"""Reinterpretation of published differences (MD, SMD, RD, GEN) on their own scale: the Spiegelhalter et al. (2004)
reference priors and Matthews' (2001) critical prior in closed form, the published table, the report and the CLI.

The example is Bangert-Drowns et al. (2004), writing-to-learn: pooled SMD 0.17 (0.11 to 0.22), MCID 0.2."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayesmeta.cli import main
from bayesmeta.errors import InputError
from bayesmeta.reinterpret import critical_prior_sd, make_prior, reinterpret, reinterpret_published

Z975 = stats.norm.ppf(0.975)
Z95 = stats.norm.ppf(0.95)
EST, LOW, UP, MCID = 0.17, 0.11, 0.22, 0.2


def test_difference_likelihood_and_skeptical_posterior_match_the_closed_form():
    se = (UP - LOW) / (2 * Z975)  # (U - L) / (2 z), not (ln U - ln L) / (2 z)
    s0 = MCID / Z95  # skeptical: centred at 0, P(SMD > MCID) = 5%
    precision = 1 / se**2 + 1 / s0**2
    mean, sd = (EST / se**2) / precision, precision**-0.5
    r = reinterpret(EST, LOW, UP, prior="skeptical", mcid=MCID, measure="SMD")
    assert (r.yi, r.se) == pytest.approx((EST, se), rel=1e-12)
    assert r.benefit == "above" and r.null == 0.0
    assert (r.prior_mean, r.prior_sd) == pytest.approx((0.0, s0), rel=1e-12)
    assert (r.post_mean, r.post_sd) == pytest.approx((mean, sd), rel=1e-12)
    assert r.median == pytest.approx(mean, rel=1e-12)  # no exp: the difference scale is the reported scale
    assert (r.post_ci_lower, r.post_ci_upper) == pytest.approx((mean - Z975 * sd, mean + Z975 * sd), rel=1e-12)
    assert r.p_benefit == pytest.approx(stats.norm.sf(-mean / sd), rel=1e-12)
    assert r.p_mcid == pytest.approx(stats.norm.sf((MCID - mean) / sd), rel=1e-12)
    assert math.isnan(r.p_rope) and r.rope is None  # a difference has no default ROPE
    roped = reinterpret(EST, LOW, UP, mcid=MCID, measure="SMD", rope=(-0.05, 0.05))
    assert roped.p_rope == pytest.approx(stats.norm.cdf((0.05 - mean) / sd) - stats.norm.cdf((-0.05 - mean) / sd))


@pytest.mark.parametrize(("mcid", "measure"), [(0.2, "SMD"), (-1.0, "MD"), (-0.03, "RD")])
def test_difference_priors_put_exactly_the_stated_tail_probabilities(mcid, measure):
    sign = 1.0 if mcid > 0 else -1.0  # benefit above 0 or below 0
    sk = make_prior("skeptical", mcid, measure=measure)
    assert sk.mean == 0.0 and stats.norm.sf(sign * (mcid - sk.mean) / sk.sd) == pytest.approx(0.05, abs=1e-12)
    en = make_prior("enthusiastic", mcid, measure=measure)  # centred on the MCID, P(harm) = 5%
    assert en.mean == mcid and stats.norm.cdf(sign * (0.0 - en.mean) / en.sd) == pytest.approx(0.05, abs=1e-12)
    pe = make_prior("pessimistic", mcid, measure=measure)  # the mirror, P(benefit) = 5%
    assert pe.mean == -mcid and stats.norm.sf(sign * (0.0 - pe.mean) / pe.sd) == pytest.approx(0.05, abs=1e-12)
    dk = make_prior("diamond_kaul_50", mcid, measure=measure)  # 50% within |MCID| of 0
    assert stats.norm.cdf(abs(mcid) / dk.sd) - stats.norm.cdf(-abs(mcid) / dk.sd) == pytest.approx(0.5)
    assert make_prior("vague", mcid, measure=measure).sd == pytest.approx(10 / abs(math.log(0.8)) * abs(mcid))


def test_a_difference_gives_what_its_exponential_gives_as_a_ratio():
    """The closed forms carry over with log(ratio) replaced by the difference: the difference (y, L, U, MCID d)
    and the ratio (e^y, e^L, e^U, MCID e^d) have the same analysis-scale posterior and probabilities."""
    for prior in ("skeptical", "enthusiastic", "pessimistic", "diamond_kaul_10", "critical"):
        d = reinterpret(-0.4, -0.7, -0.1, prior=prior, mcid=-0.25, measure="GEN", rope=(-0.1, 0.1))
        r = reinterpret(math.exp(-0.4), math.exp(-0.7), math.exp(-0.1), prior=prior, mcid=math.exp(-0.25),
                        measure="HR", rope=(math.exp(-0.1), math.exp(0.1)))
        assert (d.post_mean, d.post_sd) == pytest.approx((r.post_mean, r.post_sd), rel=1e-12)
        assert (d.p_benefit, d.p_mcid, d.p_rope) == pytest.approx((r.p_benefit, r.p_mcid, r.p_rope), rel=1e-12)
        assert d.post_ci_upper == pytest.approx(math.log(r.post_ci_upper), rel=1e-12)


def test_matthews_critical_prior_makes_the_posterior_interval_touch_the_null():
    """Matthews (2001): the critical prior's 95% interval is +-CPL with CPL = (U - L)^2 / (4 sqrt(U L)); under it
    the 95% credible interval just reaches 0 (difference) or 1 (ratio)."""
    cpl = (UP - LOW) ** 2 / (4 * math.sqrt(UP * LOW))
    y, se = (UP + LOW) / 2, (UP - LOW) / (2 * Z975)  # Matthews reads the estimate as the interval's midpoint
    assert float(critical_prior_sd(y, se, Z975)) * Z975 == pytest.approx(cpl, rel=1e-12)
    r = reinterpret(y, LOW, UP, prior="critical", mcid=MCID, measure="SMD")
    assert r.prior_sd * Z975 == pytest.approx(cpl, rel=1e-12)
    assert r.post_ci_lower == pytest.approx(0.0, abs=1e-12)
    printed = reinterpret(EST, LOW, UP, prior="critical", mcid=MCID, measure="SMD")  # 0.17 is off the midpoint
    assert printed.post_ci_lower == pytest.approx(0.0, abs=1e-12)
    below = reinterpret(-3.0, -5.5, -0.5, prior="critical", mcid=-1.0, measure="MD")  # benefit below 0
    assert below.post_ci_upper == pytest.approx(0.0, abs=1e-12)
    ratio = reinterpret(0.38, 0.23, 0.62, prior="critical", mcid=0.8)  # Niel-Weise 2007, pooled OR
    assert ratio.post_ci_upper == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(InputError, match="includes the null"):
        reinterpret(0.05, -0.02, 0.12, prior="critical", mcid=MCID, measure="SMD")
    with pytest.raises(InputError, match="no default MCID"):
        reinterpret(EST, LOW, UP, measure="SMD")
    with pytest.raises(InputError, match="wrong side"):
        reinterpret(EST, LOW, UP, mcid=-0.2, benefit="above", measure="SMD")


def published_table() -> pd.DataFrame:
    return pd.DataFrame({
        "outcome": ["achievement", "achievement", "stay", "death"],
        "analysis": ["pooled", "subgroup", "pooled", "pooled"],
        "variable": ["", "grade", "", ""], "level": ["", "college", "", ""],
        "measure": ["SMD", "SMD", "MD", "OR"],
        "estimate": [0.17, 0.25, -14.1, 0.38], "ci_lower": [0.11, 0.02, -24.45, 0.23],
        "ci_upper": [0.22, 0.48, -3.75, 0.62],
    })


def test_published_table_reinterprets_difference_rows_with_their_outcome_mcid():
    table = reinterpret_published(published_table(), priors=("skeptical", "critical"),
                                  benefit={"achievement": "above", "death": "below"},
                                  difference_mcid={"achievement": 0.2})
    ok = table[table["status"] == "ok"]
    for _, row in ok[ok["measure"] != "OR"].iterrows():
        single = reinterpret(row["estimate"], row["ci_lower"], row["ci_upper"], prior=row["prior"], mcid=0.2,
                             measure=row["measure"])
        assert (row["median"], row["post_ci_lower"], row["p_mcid"]) == pytest.approx(
            (single.median, single.post_ci_lower, single.p_mcid), rel=1e-12)
        assert math.isnan(row["p_rope"])
    assert ok.loc[ok["measure"] == "OR", "p_rope"].notna().all()  # ratios keep their default ROPE
    stay = table[table["outcome"] == "stay"]  # no MCID for the MD: skipped, with the reason
    assert (stay["status"] == "skipped").all() and stay["reason"].str.contains("no default MCID").all()
    assert len(ok) == 2 * 3  # SMD pooled, SMD college, OR: under both priors (all three intervals exclude 0/1)


def test_report_reinterprets_a_difference_and_no_longer_says_it_cannot(tmp_path):
    from bayesmeta.reanalysis.run import _difference_mcids
    from bayesmeta.report.sections import _reinterpretation

    table = reinterpret_published(published_table().iloc[[0, 2]], benefit={"achievement": "above"},
                                  difference_mcid={"achievement": 0.2})
    records = table.astype(object).where(table.notna(), None).to_dict(orient="records")
    text = repr(_reinterpretation({"reinterpretation": records}))
    assert "not reinterpreted)" not in text and "differences on their own scale" in text
    assert "stay (pooled): a difference has no default MCID" in text
    assert "no default MCID" not in repr(_reinterpretation({"reinterpretation": records[:1]}))

    class Outcome:  # the plan fields _difference_mcids reads
        def __init__(self, name, measure, benefit, thresholds, mcid):
            from bayesmeta.benefit import Benefit
            self.name, self.measure, self.benefit = name, measure, Benefit.parse(benefit)
            self.thresholds, self.mcid = thresholds, mcid

    plan = type("Plan", (), {"outcomes": [Outcome("a", "SMD", "above", (0.0, 0.2, 0.4), 0.2),
                                          Outcome("b", "MD", "below", (0.0, -7.0), None),
                                          Outcome("c", "MD", "below", (0.0,), None),
                                          Outcome("d", "OR", "below", (1.0,), 0.8)]})()
    assert _difference_mcids(plan) == {"a": 0.2, "b": -7.0}


def test_cli_reinterprets_an_smd(capsys):
    argv = ["reinterpret", "--estimate", "0.17", "--ci", "0.11", "0.22", "--measure", "SMD", "--mcid", "0.2"]
    assert main([*argv, "--prior", "skeptical", "--prior", "critical", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["prior"] for r in out] == ["skeptical", "critical"]
    assert out[0]["median"] == pytest.approx(reinterpret(EST, LOW, UP, mcid=MCID, measure="SMD").median)
    assert out[1]["post_ci_lower"] == pytest.approx(0.0, abs=1e-12) and out[0]["p_rope"] is None
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "SMD 0.1700" in text and "benefit above 0" in text and "log ratio" not in text
    assert np.isfinite(out[0]["post_sd"])
