"""Reinterpretation of published ratios: conjugate normal closed forms, prior calibration, limits, the table, CLI."""

from __future__ import annotations

import json
import math
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayesmeta.cli import main
from bayesmeta.errors import InputError, ModelError
from bayesmeta.reinterpret import make_prior, reinterpret, reinterpret_published

PUBLISHED = Path(__file__).resolve().parents[1] / "data" / "published_results.csv"
Z975 = 1.959963984540054
Z95 = 1.6448536269514722


def ci_for(y: float, se: float) -> tuple[float, float, float]:
    return math.exp(y), math.exp(y - Z975 * se), math.exp(y + Z975 * se)


def test_conjugate_update_matches_the_hand_computed_closed_form():
    # likelihood N(0, 0.1^2); skeptical... here an enthusiastic prior for MCID exp(-0.2 * 1.6449): N(-0.329, 0.2^2)
    est, lo, hi = ci_for(0.0, 0.1)
    mcid = math.exp(-0.2 * Z95)  # s0 = |ln mcid| / z_0.95 = 0.2
    r = reinterpret(est, lo, hi, prior="enthusiastic", mcid=mcid)
    assert r.se == pytest.approx(0.1, rel=1e-12) and r.yi == pytest.approx(0.0, abs=1e-15)
    assert r.prior_sd == pytest.approx(0.2, rel=1e-12) and r.prior_mean == pytest.approx(-0.2 * Z95, rel=1e-12)
    # precision 1/0.01 + 1/0.04 = 125; mean = (0/0.01 + (-0.2 z)/0.04) / 125 = -0.2 z / 5
    assert r.post_sd == pytest.approx(math.sqrt(1 / 125), rel=1e-12)
    assert r.post_mean == pytest.approx(-0.2 * Z95 / 5, rel=1e-12)
    assert r.median == pytest.approx(math.exp(-0.2 * Z95 / 5), rel=1e-12)
    assert r.post_ci_upper == pytest.approx(math.exp(-0.2 * Z95 / 5 + Z975 * math.sqrt(1 / 125)), rel=1e-12)
    assert r.p_benefit == pytest.approx(stats.norm.cdf(0.2 * Z95 / 5 / math.sqrt(1 / 125)), rel=1e-12)


def test_published_example_by_hand():
    # HR 0.74 (0.53, 1.03), skeptical prior with MCID 0.8
    y = math.log(0.74)
    se = (math.log(1.03) - math.log(0.53)) / (2 * Z975)
    s0 = -math.log(0.8) / Z95
    precision = 1 / se**2 + 1 / s0**2
    mean = (y / se**2) / precision
    sd = precision**-0.5
    r = reinterpret(0.74, 0.53, 1.03, prior="skeptical", mcid=0.8)
    assert (r.post_mean, r.post_sd) == pytest.approx((mean, sd), rel=1e-12)
    assert r.p_mcid == pytest.approx(stats.norm.cdf((math.log(0.8) - mean) / sd), rel=1e-12)
    assert r.p_rope == pytest.approx(stats.norm.cdf((math.log(1.1) - mean) / sd)
                                     - stats.norm.cdf((math.log(0.9) - mean) / sd), rel=1e-12)
    assert r.rope == (0.9, 1.1)


@pytest.mark.parametrize("mcid", [0.8, 0.7])
def test_reference_priors_put_exactly_the_stated_tail_probability(mcid):
    sk = make_prior("skeptical", mcid)
    assert stats.norm.cdf((math.log(mcid) - sk.mean) / sk.sd) == pytest.approx(0.05, abs=1e-12)
    en = make_prior("enthusiastic", mcid)
    assert en.mean == pytest.approx(math.log(mcid))
    assert stats.norm.sf((0.0 - en.mean) / en.sd) == pytest.approx(0.05, abs=1e-12)  # P(HR > 1)
    pe = make_prior("pessimistic", mcid)
    assert pe.mean == pytest.approx(-math.log(mcid))
    assert stats.norm.cdf((0.0 - pe.mean) / pe.sd) == pytest.approx(0.05, abs=1e-12)  # P(HR < 1)
    strong = make_prior("skeptical", mcid, strength="strong")
    assert stats.norm.cdf(math.log(mcid) / strong.sd) == pytest.approx(0.025, abs=1e-12)
    assert stats.norm.cdf(math.log(mcid) / make_prior("skeptical", mcid, strength=0.2).sd) == pytest.approx(0.2)


def test_benefit_above_one_priors_and_mirror_symmetry():
    sk = make_prior("skeptical", 1.25)
    assert stats.norm.sf(math.log(1.25) / sk.sd) == pytest.approx(0.05, abs=1e-12)  # P(RR > 1.25)
    up = reinterpret(2.2, 1.77, 2.72, prior="enthusiastic", mcid=1.25)
    down = reinterpret(1 / 2.2, 1 / 2.72, 1 / 1.77, prior="enthusiastic", mcid=0.8)
    assert up.benefit == "above" and down.benefit == "below"
    assert up.p_benefit == pytest.approx(down.p_benefit, rel=1e-12)
    assert up.p_mcid == pytest.approx(down.p_mcid, rel=1e-12)
    assert up.median == pytest.approx(1 / down.median, rel=1e-12)
    assert up.p_below_1 == pytest.approx(1 - up.p_benefit)


def test_vague_prior_returns_about_the_likelihood():
    r = reinterpret(0.74, 0.53, 1.03, prior="vague")
    assert r.prior_sd == 10.0
    assert r.median == pytest.approx(0.74, rel=1e-3)
    assert (r.post_ci_lower, r.post_ci_upper) == pytest.approx((0.53, 1.03), rel=2e-3)
    # P(HR < 1) ~ 1 - one-sided p of the published estimate
    assert r.p_benefit == pytest.approx(stats.norm.cdf(-r.yi / r.se), abs=1e-3)


def test_flat_prior_is_the_limit_of_ever_wider_normal_priors():
    est, lo, hi = ci_for(math.log(0.8), 0.15)
    flat = reinterpret(est, lo, hi, prior="flat")
    assert flat.median == pytest.approx(est, rel=1e-12)
    assert (flat.post_ci_lower, flat.post_ci_upper) == pytest.approx((lo, hi), rel=1e-12)
    assert flat.p_benefit == pytest.approx(stats.norm.cdf(-math.log(0.8) / 0.15), rel=1e-12)
    # skeptical priors made ever weaker (tail probability -> 0.5, sd -> infinity) converge to the flat result
    gaps = [abs(reinterpret(est, lo, hi, prior="skeptical", strength=q).post_mean - flat.post_mean)
            for q in (0.3, 0.45, 0.49, 0.499)]
    assert all(a > b for a, b in pairwise(gaps)) and gaps[-1] < 1e-4


def test_bad_inputs_are_reported():
    with pytest.raises(InputError, match="wrong side"):
        reinterpret(0.74, 0.53, 1.03, mcid=1.25, benefit="below")
    with pytest.raises(InputError, match="no width"):
        reinterpret(1.0, 1.0, 1.0)
    with pytest.raises(InputError, match="outside its CI"):
        reinterpret(0.5, 0.6, 0.9)
    with pytest.raises(ModelError, match="unknown prior"):
        reinterpret(0.74, 0.53, 1.03, prior="optimistic")
    with pytest.raises(ModelError, match="strength"):
        reinterpret(0.74, 0.53, 1.03, strength="extreme")


def test_published_table_has_every_ratio_row_under_every_prior():
    raw = pd.read_csv(PUBLISHED)
    ratio_rows = raw[raw["measure"].isin(["HR", "RR"])]
    table = reinterpret_published(PUBLISHED, benefit={"ORR": "above", "DCR": "above"})
    assert len(table) == 4 * len(ratio_rows)
    assert set(table["prior"]) == {"skeptical", "enthusiastic", "pessimistic", "vague"}
    skipped = table[table["status"] == "skipped"]
    assert set(skipped["variable"]) == {"tumor size cm (<10 vs >=10)"} and len(skipped) == 4
    assert skipped["reason"].str.contains("degenerate").all() and skipped["median"].isna().all()
    ok = table[table["status"] == "ok"]
    assert ok[["median", "post_ci_lower", "post_ci_upper", "p_benefit", "p_mcid", "p_rope"]].notna().all().all()
    above = ok[ok["outcome"].isin(["ORR", "DCR"])]
    assert (above["benefit"] == "above").all() and np.allclose(above["mcid"], 1.25)
    assert (ok.loc[ok["measure"] == "HR", "benefit"] == "below").all()
    every_below = reinterpret_published(PUBLISHED)  # outcomes without a declared direction: benefit below 1
    assert (every_below.loc[every_below["status"] == "ok", "benefit"] == "below").all()


def test_published_table_agrees_with_one_at_a_time_reinterpretation():
    table = reinterpret_published(PUBLISHED, priors=("skeptical", "pessimistic"))
    for _, row in table[table["status"] == "ok"].sample(12, random_state=3).iterrows():
        single = reinterpret(row["estimate"], row["ci_lower"], row["ci_upper"], prior=row["prior"],
                             mcid=row["mcid"])
        assert row["median"] == pytest.approx(single.median, rel=1e-12)
        assert row["p_mcid"] == pytest.approx(single.p_mcid, rel=1e-12)
        assert row["p_rope"] == pytest.approx(single.p_rope, rel=1e-12)


def test_cli_single_estimate_json_and_text(capsys):
    assert main(["reinterpret", "--estimate", "0.74", "--ci", "0.53", "1.03", "--prior", "skeptical", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out) == 1 and out[0]["prior"] == "skeptical"
    assert out[0]["post_mean"] == pytest.approx(reinterpret(0.74, 0.53, 1.03).post_mean)
    assert main(["reinterpret", "--estimate", "0.74", "--ci", "0.53", "1.03"]) == 0
    text = capsys.readouterr().out
    assert "skeptical" in text and "pessimistic" in text


def test_cli_published_and_errors(capsys):
    assert main(["reinterpret", "--published", str(PUBLISHED), "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert any(r["status"] == "skipped" and r["median"] is None for r in records)
    assert main(["reinterpret"]) == 2
    assert "--estimate" in capsys.readouterr().err
    assert main(["reinterpret", "--estimate", "1.0", "--ci", "1.0", "1.0"]) == 2
    assert "no width" in capsys.readouterr().err


def test_the_command_reads_a_difference_on_its_own_scale_not_as_a_ratio(capsys):
    """An SMD of 0.17 (0.11 to 0.22) is not a ratio of 0.17: `--measure SMD` without an MCID is a one-line error
    (a difference has no default MCID, exit 2), and `--measure OR` gives the same posterior as no --measure."""
    from bayesmeta.cli import main

    assert main(["reinterpret", "--estimate", "0.17", "--ci", "0.11", "0.22", "--measure", "SMD"]) == 2
    assert "no default MCID" in capsys.readouterr().err
    assert main(["reinterpret", "--estimate", "0.74", "--ci", "0.53", "1.03", "--json"]) == 0
    plain = capsys.readouterr().out
    assert main(["reinterpret", "--estimate", "0.74", "--ci", "0.53", "1.03", "--measure", "OR", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{**r, "measure": "OR"} for r in json.loads(plain)]
