"""The plan's ``[[claims]]``, ``[subgroups]`` and ``[surrogacy]`` sections: the paper's conclusions to test, which
published subgroup rows to analyse, and which pairs of outcomes to model as surrogate and final outcome.

Read by :func:`bayesmeta.plan.load_plan` (errors name the plan file, the claim and the key, with the valid
choices); the README's "The paper's conclusions, tested" lists every key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bayesmeta.benefit import Benefit
from bayesmeta.scales import MEASURES

SURROGACY_ENGINES = ("exact", "nuts")  # bayesmeta.surrogacy.analysis.ENGINES (not imported: it is not needed here)
CLAIM_KINDS = ("pooled", "subgroup", "contrast", "estimate", "surrogacy", "sequential", "bias", "coefficient",
               "other")
"""What a claim rests on: a pooled effect; one subgroup's effect (or every subgroup's); the ratio of effects between
two subgroups; a published estimate without study-level data (e.g. a prognostic factor); the association of two
outcomes' effects across trials; sequential sufficiency (trial sequential analysis); a publication-bias statement;
a coefficient of the plan's [covariates] formula (a study characteristic that goes with a larger or smaller effect);
anything else (not testable with the data here, with the plan's reason)."""
CLAIM_ASSERTS = ("benefit", "important_benefit", "no_benefit", "harm")
"""For pooled, subgroup and estimate claims: benefit (an effect on the benefit side of the null), important_benefit
(an effect beyond the outcome's MCID), no_benefit (no clinically important benefit: the effect not beyond the
outcome's MCID) or harm (an effect on the other side of the null: an exposure that raises a risk, a treatment that
worsens the outcome)."""
BIAS_ASSERTS = ("no_bias", "bias")
"""For bias claims: no_bias (the default: the paper says there is no publication bias) or bias (it says the
effect is overestimated through small-study effects or selective publication)."""
COEFFICIENT_ASSERTS = ("benefit", "harm")
"""For coefficient claims: benefit (the term goes with more benefit: its coefficient lies on the outcome's benefit
side of 0, e.g. beta > 0 for an SMD whose benefit is above 0) or harm (with less benefit: the other side)."""
MCID_ASSERTS = ("important_benefit", "no_benefit")
"""The assertions that need the outcome's MCID."""
CLAIM_KEYS = ("id", "text", "where", "kind", "asserts", "outcome", "characteristic", "level", "reference",
              "exclude", "surrogate", "analysis", "variable", "benefit", "published", "reason", "term")
_NEEDS = {
    "pooled": ("outcome",),
    "subgroup": ("outcome",),
    "contrast": ("outcome", "characteristic", "level", "reference"),
    "estimate": ("outcome", "analysis", "variable"),
    "surrogacy": ("outcome", "surrogate"),
    "sequential": ("outcome",),
    "bias": ("outcome",),
    "coefficient": ("outcome", "term"),
    "other": ("reason",),
}
_ALLOWED = {
    "pooled": ("outcome", "asserts"),
    "subgroup": ("outcome", "characteristic", "level", "exclude", "asserts"),
    "contrast": ("outcome", "characteristic", "level", "reference"),
    "estimate": ("outcome", "analysis", "variable", "level", "asserts", "benefit"),
    "surrogacy": ("outcome", "surrogate"),
    "sequential": ("outcome",),
    "bias": ("outcome", "asserts"),
    "coefficient": ("outcome", "term", "asserts"),
    "other": ("reason", "outcome"),
}
_COMMON = ("id", "text", "where", "kind", "published")


@dataclass(frozen=True)
class ClaimPlan:
    """One conclusion of the paper: its sentence as printed (``text``), where it is printed, the ``kind`` of
    quantity it rests on, what it asserts, what it is about (outcome; subgroup characteristic, level and reference;
    surrogate outcome; the published row of an estimate), the published number as printed, and for claims of kind
    'other' why the data here cannot test it."""

    id: str
    text: str
    where: str
    kind: str
    asserts: str = "benefit"
    outcome: str | None = None
    characteristic: str | None = None
    level: str | None = None
    reference: str | None = None
    exclude: tuple[tuple[str, str], ...] = ()
    surrogate: str | None = None
    analysis: str | None = None
    variable: str | None = None
    benefit: Benefit | None = None
    published: str = ""
    reason: str = ""
    term: str | None = None
    """A coefficient of the plan's [covariates] formula as the report names it ('imag[yes]', 'length')."""


@dataclass(frozen=True)
class SubgroupsPlan:
    """The published subgroup rows (``analysis = "subgroup"`` of data.published) to analyse: per outcome, each
    characteristic (all, or those listed) with partial pooling across its levels under each prior set of the plan,
    and without pooling under ``unpooled_prior`` (:func:`bayesmeta.subgroups.analyse_subgroups`)."""

    enabled: bool = True
    outcomes: tuple[str, ...] = ()
    characteristics: tuple[str, ...] = ()
    unpooled_prior: str = "flat"


@dataclass(frozen=True)
class SurrogacyPlan:
    """Pairs (surrogate, final) of plan outcomes for the trial-level surrogacy model
    (:func:`bayesmeta.surrogacy.fit_surrogacy`), the engine (``exact``, the default, or ``nuts``, which a quick run
    skips), the within-study correlation (a value, or a uniform prior's bounds), an optional surrogate effect of a
    new trial (reported scale) to predict from, and the NUTS sampler's size."""

    enabled: bool = True
    pairs: tuple[tuple[str, str], ...] = ()
    within: float | tuple[float, float] = 0.0
    new_x: float | None = None
    draws: int = 1000
    chains: int = 4
    engine: str = "exact"


def _published_frame(path: Path | None) -> pd.DataFrame | None:
    if path is None:
        return None
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def subgroup_levels(published: pd.DataFrame | None, outcome: str) -> dict[str, tuple[str, ...]]:
    """Characteristic -> levels of the published 'subgroup' rows of ``outcome`` (in file order)."""
    if published is None or "analysis" not in published.columns:
        return {}
    rows = published[(published["analysis"].str.lower() == "subgroup") & (published["outcome"] == outcome)]
    out: dict[str, list[str]] = {}
    for c, level in zip(rows["variable"], rows["level"]):
        out.setdefault(c, []).append(level)
    return {c: tuple(v) for c, v in out.items()}


def load_subgroups(r: Any, t: dict[str, Any], outcomes: dict[str, Any], published: Path | None) -> SubgroupsPlan:
    """``[subgroups]``: enabled, outcomes (plan outcomes with subgroup rows; default none), characteristics,
    unpooled_prior ("flat" or "normal(mean, sd)"). The chosen rows are read here, so that a bad row is reported
    when the plan is loaded (:func:`bayesmeta.subgroups.read_subgroup_table`: file, row and column)."""
    from bayesmeta.subgroups import read_subgroup_table

    r.unknown_keys(t, "subgroups", ("enabled", "outcomes", "characteristics", "unpooled_prior"))
    frame = _published_frame(published)
    with_rows = tuple(n for n in outcomes if subgroup_levels(frame, n))
    chosen = r.str_list(t, "subgroups", "outcomes", default=[], valid=", ".join(with_rows) or
                        "none: data.published has no subgroup rows of the plan's outcomes")
    for i, name in enumerate(chosen):
        if name not in with_rows:
            raise r.fail(f"subgroups.outcomes[{i}]", f"outcome {name!r} has no 'subgroup' rows in data.published",
                         ", ".join(with_rows) or "none")
        read_subgroup_table(published, outcomes[name].measure, name)  # type: ignore[arg-type]
    known = tuple(dict.fromkeys(c for n in chosen for c in subgroup_levels(frame, n)))
    characteristics = r.str_list(t, "subgroups", "characteristics", default=[], valid=", ".join(known))
    for i, c in enumerate(characteristics):
        if c not in known:
            raise r.fail(f"subgroups.characteristics[{i}]", f"no subgroup rows of characteristic {c!r}",
                         ", ".join(known))
    unpooled = r.get(t, "subgroups", "unpooled_prior", str, default="flat", valid='"flat" or "normal(mean, sd)"')
    if unpooled != "flat" and not unpooled.replace(" ", "").startswith("normal("):
        raise r.fail("subgroups.unpooled_prior", f"unknown value {unpooled!r}", '"flat" or "normal(mean, sd)"')
    return SubgroupsPlan(enabled=r.get(t, "subgroups", "enabled", bool, default=True, valid="true or false"),
                         outcomes=chosen, characteristics=characteristics, unpooled_prior=unpooled)


def load_surrogacy(r: Any, t: dict[str, Any], names: tuple[str, ...]) -> SurrogacyPlan:
    """``[surrogacy]``: enabled, pairs = [[surrogate, final], ...], within (a value in (-1, 1) or [lower, upper]),
    new_x, draws, chains."""
    r.unknown_keys(t, "surrogacy", ("enabled", "pairs", "within", "new_x", "draws", "chains", "engine"))
    raw_pairs = r.get(t, "surrogacy", "pairs", list, default=[], valid="a list of [surrogate, final] outcome pairs")
    pairs = []
    for i, pair in enumerate(raw_pairs):
        key = f"surrogacy.pairs[{i}]"
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise r.fail(key, f"expected [surrogate, final], got {pair!r}", "two outcome names, e.g. [\"ORR\", \"OS\"]")
        for x in pair:
            if x not in names:
                raise r.fail(key, f"outcome {x!r} is not among the plan's outcomes", ", ".join(names))
        if pair[0] == pair[1]:
            raise r.fail(key, f"the surrogate and the final outcome are both {pair[0]!r}", "two different outcomes")
        pairs.append((pair[0], pair[1]))
    within_raw = r.get(t, "surrogacy", "within", (float, list), default=0.0,
                       valid="a correlation in (-1, 1), or [lower, upper] for a uniform prior")
    if isinstance(within_raw, list):
        if not (len(within_raw) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                              for x in within_raw) and -1 < within_raw[0] < within_raw[1] < 1):
            raise r.fail("surrogacy.within", f"value {within_raw!r} is not usable", "[lower, upper] with -1 < lower "
                         "< upper < 1")
        within: float | tuple[float, float] = (float(within_raw[0]), float(within_raw[1]))
    else:
        within = r.in_range(within_raw, "surrogacy.within", -1.0, 1.0)
    new_x = r.get(t, "surrogacy", "new_x", float, default=None, valid="a surrogate effect on the reported scale")
    engine = r.get(t, "surrogacy", "engine", str, default="exact", valid="exact or nuts")
    if engine not in SURROGACY_ENGINES:
        raise r.fail("surrogacy.engine", f"value {engine!r} is not valid", " or ".join(SURROGACY_ENGINES))
    return SurrogacyPlan(engine=engine, enabled=r.get(t, "surrogacy", "enabled", bool, default=True, valid="true or false"),
                         pairs=tuple(pairs), within=within, new_x=new_x,
                         draws=r.positive_int(t, "surrogacy", "draws", default=1000),
                         chains=r.positive_int(t, "surrogacy", "chains", default=4))


def load_claims(r: Any, value: Any, outcomes: dict[str, Any], published: Path | None,
                subgroups: SubgroupsPlan, surrogacy: SurrogacyPlan, tsa_outcomes: tuple[str, ...],
                formulas: dict[str, Any] | None = None,
                formula_levels: dict[str, Any] | None = None) -> tuple[ClaimPlan, ...]:
    """``[[claims]]``: one table per claim (keys in :data:`CLAIM_KEYS`; which apply depends on ``kind``).
    ``formulas``: each outcome's parsed formula (None for an outcome without one), against which a coefficient
    claim's term is checked."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(c, dict) for c in value):
        raise r.fail("claims", "expected an array of tables", "[[claims]] tables with text, where, kind")
    frame = _published_frame(published)
    names = tuple(outcomes)
    out: list[ClaimPlan] = []
    seen: set[str] = set()
    for i, spec in enumerate(value):
        cid = spec.get("id", f"claim-{i + 1}")
        p = f"claims[{i}]" if not isinstance(cid, str) else f"claims[{i}] ('{cid}')"
        r.unknown_keys(spec, p, CLAIM_KEYS)
        cid = r.get(spec, p, "id", str, default=f"claim-{i + 1}", valid="a short name")
        if cid in seen:
            raise r.fail(f"{p}.id", f"duplicate claim id {cid!r}", "an id used once")
        seen.add(cid)
        kind = r.choice(spec, p, "kind", CLAIM_KINDS)
        for key in _NEEDS[kind]:
            if key not in spec:
                raise r.fail(f"{p}.{key}", f"missing (kind {kind!r} needs {', '.join(_NEEDS[kind])})",
                             valid=_valid_for(key, kind, names, frame))
        for key in spec:
            if key not in _COMMON and key not in _ALLOWED[kind]:
                raise r.fail(f"{p}.{key}", f"not used by kind {kind!r}", ", ".join(_COMMON + _ALLOWED[kind]))
        text = r.get(spec, p, "text", str, valid="the sentence as printed")
        where = r.get(spec, p, "where", str, valid="where it is printed, e.g. \"Abstract\"")
        if not text.strip():
            raise r.fail(f"{p}.text", "empty", "the sentence as printed")
        asserts = r.choice(spec, p, "asserts", BIAS_ASSERTS, default="no_bias") if kind == "bias" else \
            r.choice(spec, p, "asserts", COEFFICIENT_ASSERTS, default="benefit") if kind == "coefficient" else \
            r.choice(spec, p, "asserts", CLAIM_ASSERTS, default="benefit")
        outcome = r.get(spec, p, "outcome", str, default=None, valid=", ".join(names))
        benefit = None
        if kind == "estimate":
            outcome, benefit = _check_estimate(r, spec, p, outcomes, frame)
        elif outcome is not None and outcome not in names:
            raise r.fail(f"{p}.outcome", f"outcome {outcome!r} is not among the plan's outcomes", ", ".join(names))
        claim = ClaimPlan(
            id=cid, text=text, where=where, kind=kind, asserts=asserts, outcome=outcome,
            characteristic=r.get(spec, p, "characteristic", str, default=None),
            level=r.get(spec, p, "level", str, default=None),
            reference=r.get(spec, p, "reference", str, default=None),
            exclude=_exclude(r, spec, p), surrogate=r.get(spec, p, "surrogate", str, default=None),
            analysis=r.get(spec, p, "analysis", str, default=None),
            variable=r.get(spec, p, "variable", str, default=None), benefit=benefit,
            published=r.get(spec, p, "published", str, default="", valid="the number as printed"),
            reason=r.get(spec, p, "reason", str, default="", valid="why the data here cannot test it"),
            term=r.get(spec, p, "term", str, default=None, valid="a coefficient of the [covariates] formula"))
        if kind == "coefficient":
            _check_term(r, p, claim.term, outcome, (formulas or {}).get(outcome),  # type: ignore[arg-type]
                        formula_levels or {})
        if asserts in MCID_ASSERTS and (outcome not in outcomes or outcomes[outcome].mcid is None):
            raise r.fail(f"{p}.asserts", f"{asserts!r} needs plan outcome {outcome!r} to have an mcid",
                         f"add outcomes.{outcome}.mcid, or asserts = \"benefit\"")
        if kind in ("subgroup", "contrast"):
            _check_subgroup(r, p, claim, frame, subgroups)
        if kind == "surrogacy" and (claim.surrogate, claim.outcome) not in surrogacy.pairs:
            raise r.fail(f"{p}.surrogate", f"the pair [{claim.surrogate!r}, {claim.outcome!r}] is not in "
                         "[surrogacy] pairs", ", ".join(f"[{a}, {b}]" for a, b in surrogacy.pairs) or
                         "add it to [surrogacy] pairs")
        if kind == "sequential":
            if outcome not in tsa_outcomes:
                raise r.fail(f"{p}.outcome", f"outcome {outcome!r} has no [tsa.{outcome}] table",
                             ", ".join(tsa_outcomes) or "add a [tsa.<outcome>] table")
            if outcomes[outcome].mcid is None:
                raise r.fail(f"{p}.outcome", f"a sequential claim needs outcome {outcome!r} to have an mcid",
                             f"add outcomes.{outcome}.mcid")
        if kind in ("pooled", "sequential") and (kind == "sequential" or asserts in MCID_ASSERTS):
            _mcid_among_thresholds(r, p, outcomes[outcome])
        out.append(claim)
    return tuple(out)


def _check_term(r: Any, p: str, term: str, outcome: str, formula: Any, levels: dict[str, Any]) -> None:
    """A coefficient claim's term must be a term of its outcome's formula (``outcomes.<name>.formula``, else the
    plan's [covariates] formula): its columns (the parts of 'grade[middle]:length' without their levels) those of
    one of the formula's terms, a factor with one of the levels of the study table and a number without
    (:func:`bayesmeta.plan_formula.check_term_levels`)."""
    from bayesmeta.plan_formula import check_term_levels, term_columns

    if formula is None:
        raise r.fail(f"{p}.kind", f"a coefficient claim needs a formula for outcome {outcome!r}",
                     f'add formula = "..." to [covariates] or to [outcomes.{outcome}], e.g. formula = "grade + imag"')
    terms = {frozenset(t): ":".join(t) for t in formula.terms}
    if frozenset(term_columns(term)) not in terms:
        raise r.fail(f"{p}.term", f"{term!r} is not a term of outcome {outcome!r}'s formula {formula.text!r}",
                     "a coefficient as the report names it, of the terms " + ", ".join(terms.values())
                     + ' (a factor with its level: "imag[yes]")')
    why = check_term_levels(term, formula, levels)
    if why is not None:
        raise r.fail(f"{p}.term", f"{term!r}: {why}", "a coefficient as the report names it")


def _valid_for(key: str, kind: str, names: tuple[str, ...], frame: pd.DataFrame | None) -> str:
    if key in ("outcome", "surrogate"):
        return ", ".join(names)
    if key == "reason":
        return "why the data here cannot test the claim"
    if key in ("analysis", "variable") and frame is not None:
        return ", ".join(dict.fromkeys(frame[key]))
    return "a name as in data.published"


def _mcid_among_thresholds(r: Any, p: str, o: Any) -> None:
    if not any(math.isclose(t, o.mcid) for t in o.thresholds):
        raise r.fail(f"{p}.outcome", f"outcome {o.name!r}: its mcid {o.mcid:g} is not among its thresholds",
                     f"add {o.mcid:g} to outcomes.{o.name}.thresholds")


def _exclude(r: Any, spec: dict[str, Any], p: str) -> tuple[tuple[str, str], ...]:
    value = r.get(spec, p, "exclude", list, default=[], valid='[["characteristic", "level"], ...]')
    out = []
    for i, item in enumerate(value):
        if not (isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise r.fail(f"{p}.exclude[{i}]", f"expected [characteristic, level], got {item!r}",
                         '["characteristic", "level"]')
        out.append((item[0], item[1]))
    return tuple(out)


def _check_subgroup(r: Any, p: str, c: ClaimPlan, frame: pd.DataFrame | None, plan: SubgroupsPlan) -> None:
    if c.outcome not in plan.outcomes or not plan.enabled:
        raise r.fail(f"{p}.outcome", f"outcome {c.outcome!r} is not analysed by [subgroups]",
                     ", ".join(plan.outcomes) if plan.enabled and plan.outcomes else "enable [subgroups] for it")
    levels = subgroup_levels(frame, c.outcome)  # type: ignore[arg-type]
    if plan.characteristics:
        levels = {k: v for k, v in levels.items() if k in plan.characteristics}
    if c.characteristic is None:
        if c.level is not None:
            raise r.fail(f"{p}.characteristic", f"missing: level {c.level!r} needs its characteristic",
                         ", ".join(levels))
        return _check_exclude(r, p, c, levels)
    if c.characteristic not in levels:
        raise r.fail(f"{p}.characteristic", f"no subgroup rows of {c.characteristic!r} for {c.outcome}",
                     ", ".join(levels))
    known = levels[c.characteristic]  # type: ignore[index]
    for key in ("level", "reference"):
        value = getattr(c, key)
        if value is not None and value not in known:
            raise r.fail(f"{p}.{key}", f"level {value!r} of {c.characteristic!r} has no subgroup row",
                         ", ".join(known))
    if c.kind == "contrast" and c.level == c.reference:
        raise r.fail(f"{p}.reference", f"the level and the reference are both {c.level!r}", ", ".join(known))
    _check_exclude(r, p, c, levels)


def _check_exclude(r: Any, p: str, c: ClaimPlan, levels: dict[str, tuple[str, ...]]) -> None:
    if c.exclude and c.level is not None:
        raise r.fail(f"{p}.exclude", "given with a level", "exclude only when the claim is about every level")
    for j, (char, level) in enumerate(c.exclude):
        if level not in levels.get(char, ()):
            raise r.fail(f"{p}.exclude[{j}]", f"no subgroup row ({char!r}, {level!r}) for {c.outcome}",
                         "a [characteristic, level] pair of the outcome's subgroup rows")


def _check_estimate(r: Any, spec: dict[str, Any], p: str, outcomes: dict[str, Any],
                    frame: pd.DataFrame | None) -> tuple[str, Benefit]:
    """An estimate claim names one published row (outcome, analysis, variable and, when needed, level) with an
    estimate and CI; its direction of benefit is the plan outcome's, or the claim's ``benefit`` key."""
    if frame is None:
        raise r.fail(f"{p}.kind", "an estimate claim needs data.published", "add data.published")
    outcome = r.get(spec, p, "outcome", str)
    rows = frame[(frame["outcome"] == outcome) & (frame["analysis"] == spec.get("analysis"))
                 & (frame["variable"] == spec.get("variable"))]
    if "level" in spec:
        rows = rows[rows["level"] == spec["level"]]
    if len(rows) != 1:
        options = frame[frame["outcome"] == outcome]
        listing = "; ".join(f"{a} / {v}" + (f" / {lv}" if lv else "")
                            for a, v, lv in zip(options["analysis"], options["variable"], options["level"]))
        found = "no" if rows.empty else f"{len(rows)}"
        raise r.fail(f"{p}.variable", f"{found} published row(s) of {outcome!r} match analysis "
                     f"{spec.get('analysis')!r}, variable {spec.get('variable')!r}"
                     + (f", level {spec['level']!r}" if "level" in spec else ""),
                     listing[:400] or "an outcome of data.published")
    row = rows.iloc[0]
    if not (row["estimate"] and row["ci_lower"] and row["ci_upper"]):
        raise r.fail(f"{p}.variable", f"the published row of {outcome!r} / {spec.get('variable')!r} has no "
                     "estimate with a CI", "a row with estimate, ci_lower and ci_upper")
    measures = tuple(m for m in MEASURES if m != "GEN")
    if row["measure"] not in measures:
        raise r.fail(f"{p}.variable", f"the published row's measure {row['measure']!r} is not an effect measure",
                     ", ".join(measures))
    if outcome in outcomes:
        if "benefit" in spec:
            raise r.fail(f"{p}.benefit", f"outcome {outcome!r} is in the plan: its benefit is taken from there",
                         "remove the key")
        return outcome, outcomes[outcome].benefit
    b = r.choice(spec, p, "benefit", tuple(x.value for x in Benefit))
    return outcome, Benefit(b)
