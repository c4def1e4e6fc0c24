"""The report's words for the binomial-normal model beside the normal-normal one (an outcome with ``likelihood =
"binomial"``; the numbers are summary.json's ``outcomes.<name>.binomial``,
:class:`bayesmeta.reanalysis.binomial.BinomialFit`)."""

from __future__ import annotations

from typing import Any

from bayesmeta.report.formatting import interval, num, prob

CLOSE_SD, LITTLE_SD = 0.1, 0.5
"""Shifts of the pooled log OR's posterior median, in its posterior SDs, below which the two likelihoods 'agree
closely' and 'differ little'; beyond the second they 'differ materially'."""

DIAGNOSTIC_GATE = "R-hat below 1.01, bulk and tail ESS of at least 400, no divergent transitions"


def shift_words(shift_sd: float) -> str:
    """How far the two likelihoods' pooled effects lie apart, in words (:data:`CLOSE_SD`, :data:`LITTLE_SD`)."""
    size = abs(shift_sd)
    return "agree closely" if size < CLOSE_SD else "differ little" if size < LITTLE_SD else "differ materially"


def shift_sentence(o: dict[str, Any]) -> str:
    """One sentence on how far the binomial-normal posterior lies from the normal-normal one."""
    s = o["binomial"]["shift"]
    direction = "further from" if abs(s["binomial_median"]) > abs(s["normal_median"]) else "closer to"
    return (f"The two likelihoods {shift_words(s['shift_sd'])}: the binomial-normal pooled OR is {num(s['ratio'])} "
            f"times the normal-normal one ({direction} the null; a shift of {num(abs(s['shift_sd']))} posterior SDs "
            f"of the pooled log OR), and tau is {num(s['binomial_tau_median'])} against "
            f"{num(s['normal_tau_median'])}.")


def zero_cell_sentence(o: dict[str, Any]) -> str:
    """The studies with a zero cell that the normal model corrected and the binomial model takes as they are."""
    studies = o["binomial"]["zero_cells"]
    if not studies:
        return "No study has a zero cell, so the normal-normal model needed no continuity correction."
    listing = "; ".join(f"{z['study']} ({z['events_treatment']}/{z['total_treatment']} vs "
                        f"{z['events_control']}/{z['total_control']})" for z in studies)
    added = num(studies[0]["added"], 2).rstrip("0").rstrip(".")
    return (f"{len(studies)} of the {o['binomial']['k']} studies have a zero cell: {listing}. The normal-normal model "
            f"added {added} to each of their cells (the plan's zero_cells); the binomial-normal model uses their "
            f"counts as they are.")


def diagnostics_sentence(b: dict[str, Any]) -> str:
    """The NUTS settings and diagnostics, and whether they passed the gate."""
    d = b["diagnostics"]
    verdict = ("the sampler's diagnostics call for longer chains before these numbers are used (see the warnings)."
               if b["warnings"] else f"every diagnostic passed its gate ({DIAGNOSTIC_GATE}).")
    return (f"NUTS: {b['chains']} chains x {b['draws']} draws after {b['tune']} tuning steps (seed {b['seed']}); "
            f"max R-hat {num(d.get('rhat_max'), 3)}, min bulk ESS {num(d.get('ess_bulk_min'), 0)}, min tail ESS "
            f"{num(d.get('ess_tail_min'), 0)}, divergences {d.get('divergences', '-')}; {verdict}")


def model_rows(o: dict[str, Any]) -> list[dict[str, Any]]:
    """The normal-normal (exact) and binomial-normal (NUTS) posteriors side by side: pooled OR, predictive
    interval, tau and P(benefit) of the pooled OR at each threshold."""
    rows = []
    for model, fit in (("normal-normal (exact; continuity-corrected log ORs)", o["bayes"]),
                       ("binomial-normal (NUTS; arm counts)", o["binomial"])):
        r = fit["reported"]
        row = {"model": model, "mu": interval(r["mu"]["median"], r["mu"]["ci_lower"], r["mu"]["ci_upper"]),
               "predictive": f"{num(r['predictive']['ci_lower'])} to {num(r['predictive']['ci_upper'])}",
               "tau": interval(r["tau"]["median"], r["tau"]["ci_lower"], r["tau"]["ci_upper"])}
        for p in fit["probabilities"]:
            if p["parameter"] == "mu":
                row[p["statement"]] = prob(p["probability"])
        rows.append(row)
    return rows


def binomial_blocks(o: dict[str, Any], level: float) -> list[Any]:
    """The blocks of an outcome's binomial-normal model for the main results (a note when it was requested but
    not fitted)."""
    from bayesmeta.report.sections import Heading, Paragraph, _table, _text

    label = o["label"]
    if o.get("binomial") is None:
        why = o["skipped"].get("binomial-normal model")
        return [] if why is None else [Paragraph(f"{label}: no binomial-normal model ({why}).", "note")]
    b = o["binomial"]
    percent = f"{100 * level:g}%"
    statements = [p["statement"] for p in b["probabilities"] if p["parameter"] == "mu"]
    spec = [("model", "Model", _text), ("mu", f"pooled OR, median ({percent} CrI)", _text),
            ("predictive", f"{percent} predictive interval (new study)", _text),
            ("tau", "tau, median (CrI)", _text), *((s, s, _text) for s in statements)]
    return [
        Heading(f"{label}: binomial-normal model on the arm counts"),
        Paragraph(f"The normal-normal model takes each study's log odds ratio with a normal likelihood; the "
                  f"binomial-normal model (Smith, Spiegelhalter & Thomas 1995; Günhan, Röver & Friede 2020) takes "
                  f"the arm counts with their exact binomial likelihood and normal random effects on the log OR, under "
                  f"the same main prior (mu ~ {b['priors']['mu']}, tau ~ {b['priors']['tau']}) and on the same "
                  f"{b['k']} studies. With few events per arm the normal approximation and its continuity "
                  f"corrections are poor (Sweeting, Sutton & Lambert 2004), so where the two differ the "
                  f"binomial-normal model is the more trustworthy."),
        _table(model_rows(o), spec, f"{label}: normal-normal vs binomial-normal likelihood"),
        Paragraph(shift_sentence(o)),
        Paragraph(zero_cell_sentence(o)),
        Paragraph(diagnostics_sentence(b), "warning" if b["warnings"] else "p"),
    ]
