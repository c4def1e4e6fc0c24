"""The reanalysis plan: one TOML file that says what to compute and in the paper's own words (its outcomes,
their measures and direction of benefit, the two arms' names, the covariates and their levels, named subsets of
studies, priors, thresholds, monitoring, trial sequential analysis, MCMC cross-check).

:func:`load_plan` reads it with :mod:`tomllib`, checks every key and value, resolves relative paths against the
plan's folder, and raises :class:`~bayesmeta.errors.InputError` naming the file, the key path (for example
``outcomes.<name>.thresholds``) and what would be valid. ``bayesmeta init`` writes a commented starter plan
for a user's files.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from bayesmeta.benefit import Benefit
from bayesmeta.consistency import CHECK_MODES
from bayesmeta.errors import InputError
from bayesmeta.escalc import MD_VTYPES, ZERO_CELL_TO, ZeroCellRule
from bayesmeta.plan_claims import ClaimPlan, SubgroupsPlan, SurrogacyPlan, load_claims, load_subgroups, load_surrogacy
from bayesmeta.plan_formula import column_levels, load_covariate_formula, load_outcome_formulas
from bayesmeta.plan_strata import STRATA_KEYS, check_strata_targets, load_strata
from bayesmeta.priors import DEFAULT_PRIOR_FILE
from bayesmeta.scales import BINARY_MEASURES, MEASURES, TSA_INPUT_MEASURES, is_ratio, null_value

PLAN_MEASURES = tuple(m for m in MEASURES if m != "GEN")
BENEFITS = tuple(b.value for b in Benefit)
MONITOR_ORDERS = ("year", "file")
QUICK_SIMULATIONS = 20
"""Simulations per true effect and tau of the monitoring rule's operating characteristics in a quick run."""
TSA_HETEROGENEITY = ("D2", "D2-HKSJ", "I2", "none")
TSA_SPENDING = ("obf", "pocock")
TSA_FUTILITY = ("none", "non-binding", "binding")
LIKELIHOODS = ("normal", "binomial")
"""An outcome's within-study likelihood (plan ``outcomes.<name>.likelihood``, as ``bayesmeta fit --likelihood``):
``normal`` on the effects, or ``binomial`` on the arm counts (the binomial-normal model of the OR, fitted by
NUTS beside the exact normal-normal model)."""


@dataclass(frozen=True)
class OutcomePlan:
    """One outcome to analyse: its label, measure, the direction of benefit, the thresholds at which posterior
    probabilities are reported and the minimal clinically important difference (both on the reported scale:
    ratios for HR/RR/OR, raw differences for MD/SMD/RD)."""

    name: str
    label: str
    measure: str
    benefit: Benefit
    thresholds: tuple[float, ...]
    mcid: float | None = None
    zero_cells: ZeroCellRule = field(default_factory=ZeroCellRule)
    checks: str = "warn"
    """What an estimate, CI and p-value of a study row that disagree beyond rounding do: 'warn' (a warning in
    the report) or 'error' (:func:`bayesmeta.consistency.reported_problems`)."""
    likelihood: str = "normal"
    """'binomial' adds the binomial-normal model on the arm counts beside the normal-normal one (:data:`LIKELIHOODS`;
    an OR outcome with arm counts in every row only)."""
    vtype: str = "LS"
    """The variance of an MD from means and SDs: metafor escalc's 'LS' (per-arm SDs) or 'HO' (the pooled SD)."""
    strata_of: str | None = None
    """The outcome whose published subgroup rows this outcome's rows (a row per trial and stratum) recompute
    (:mod:`bayesmeta.plan_strata`); None for an outcome of whole trials."""
    subgroup: str | None = None
    """With ``strata_of``: the column of the outcomes table holding each row's stratum (level)."""
    formula: str | None = None
    """The multiple meta-regression fitted for this outcome (:mod:`bayesmeta.reanalysis.formula_regression`), as
    written: ``outcomes.<name>.formula``, else ``[covariates] formula``; None for none (or ``formula = ""``)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "benefit", Benefit.parse(self.benefit))
        object.__setattr__(self, "thresholds", tuple(float(t) for t in self.thresholds))


@dataclass(frozen=True)
class Arms:
    """The names of the two compared arms, as the paper words them (for labels such as 'favours ...')."""

    treatment: str = "treatment"
    control: str = "control"


@dataclass(frozen=True)
class StudySubset:
    """A named set of studies the paper refers to (a regimen, a subgroup used in a correlation): the studies
    whose study-table columns take the listed values, minus the listed exclusions."""

    name: str
    where: tuple[tuple[str, tuple[str, ...]], ...]
    exclude: tuple[str, ...] = ()
    note: str = ""

    def mask(self, rows: pd.DataFrame) -> pd.Series:
        """True for the rows (an effects frame: study_id and covariate columns) that belong to the subset."""
        keep = pd.Series(True, index=rows.index)
        for column, values in self.where:
            if column not in rows.columns:
                raise InputError(f"subset '{self.name}' selects on column '{column}', which the data lack",
                                 column=column, valid=", ".join(map(str, rows.columns)))
            keep &= rows[column].astype(str).isin(values)
        return keep & ~rows["study_id"].astype(str).isin(self.exclude)


@dataclass(frozen=True)
class TSAPlan:
    """Trial sequential analysis (Wetterslev et al. 2008; RTSA) of a binary, continuous or time-to-event outcome:
    the anticipated effect (a relative risk reduction, negative for an increase, or ``mcid`` on the reported scale
    of the outcome's measure), error rates, the control-arm event rate (binary outcomes), the outcome's SD (MD),
    the heterogeneity correction of the information size, and the design (sides, spending, futility, inflation)."""

    outcome: str
    relative_risk_reduction: float | None
    alpha: float
    power: float
    control_rate: float | None
    control_rate_source: str
    heterogeneity: str
    mcid: float | None = None
    sd: float | None = None
    sides: int = 2
    spending: str = "obf"
    futility: str = "non-binding"
    inflate: bool = False
    futility_rule: str | None = None  # two-sided futility: 'rtsa' or 'rpact'; None: rpact when binding, else rtsa
    beta_adjustment: bool = True
    two_sided_power: bool = False


@dataclass(frozen=True)
class MonitoringPlan:
    """Sequential posterior monitoring (:func:`bayesmeta.sequential.monitor`): studies enter in ``order``; the
    rule stops for benefit when P(benefit side of the null) > ``benefit_probability`` and for futility when
    P(benefit beyond the outcome's MCID) < ``futility_probability``. The operating characteristics of the rule
    are simulated ``simulations`` times per true effect (reported scale) and heterogeneity value."""

    outcomes: tuple[str, ...]
    order: str
    benefit_probability: float
    futility_mcid: dict[str, float]
    futility_probability: float
    simulations: int
    true_effects: dict[str, tuple[float, ...]]
    tau_values: tuple[float, ...] | None
    """None: each outcome's (:meth:`bayesmeta.scale_unit.ScaleUnit.monitoring_tau_values`)."""


BIAS_ENSEMBLES = ("pet-peese", "metabma", "psma", "custom")
"""Ensembles of the report's publication-bias section (:func:`bayesmeta.reanalysis.bias.bias_ensemble`); "custom":
the plan's own ``[[bias.models]]`` tables (:func:`parse_bias_models`)."""
BIAS_MODEL_KEYS = ("effect", "heterogeneity", "bias", "sided", "cutoffs", "alpha", "prior_weight")
"""The keys of one ``[[bias.models]]`` table (and of ``bayesmeta bias --models``), as
:func:`bayesmeta.bias.models.model_from_mapping` reads them."""


@dataclass(frozen=True)
class BiasPlan:
    """Bayesian model averaging over effect, heterogeneity and publication bias (:func:`bayesmeta.bias.fit_bias`)
    for the chosen outcomes that have at least ``min_k`` studies (default 10: funnel-asymmetry methods are
    not advised with fewer; Sterne et al. 2011, BMJ 343:d4002)."""

    enabled: bool = True
    outcomes: tuple[str, ...] = ()
    min_k: int = 10
    ensemble: str = "pet-peese"
    informed: str | None = None
    """A medical subfield whose Cochrane-informed mu and tau priors replace RoBMA's defaults
    (:func:`bayesmeta.bias.informed.informed_priors`)."""
    models: tuple[Any, ...] = ()
    """The :class:`bayesmeta.bias.models.ModelSpec` of ``ensemble = "custom"`` (empty for the named ones)."""


@dataclass(frozen=True)
class MCMCPlan:
    """The NUTS cross-check of the exact engine's main models."""

    outcomes: tuple[str, ...]
    chains: int
    draws: int
    tune: int
    target_accept: float
    cores: int


@dataclass(frozen=True)
class Plan:
    """A validated reanalysis plan (paths absolute)."""

    path: Path
    title: str
    seed: int
    level: float
    studies: Path | None
    outcomes_file: Path
    published: Path | None
    priors_file: Path
    control_arm: str | None
    main_prior: str
    sensitivity_priors: tuple[str, ...]
    outcomes: tuple[OutcomePlan, ...]
    covariates: tuple[str, ...]
    min_per_level: int
    monitoring: MonitoringPlan
    tsa: tuple[TSAPlan, ...]
    mcmc: MCMCPlan
    arms: Arms = field(default_factory=Arms)
    pooling: str = "DL"
    covariate_levels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    subsets: dict[str, StudySubset] = field(default_factory=dict)
    quick: bool = False
    bias: BiasPlan = field(default_factory=BiasPlan)
    claims: tuple[ClaimPlan, ...] = ()
    subgroups: SubgroupsPlan = field(default_factory=SubgroupsPlan)
    surrogacy: SurrogacyPlan = field(default_factory=SurrogacyPlan)
    covariate_formula: str | None = None
    """The ``[covariates] formula`` as written (checked by :func:`bayesmeta.plan_formula.load_covariate_formula`):
    one multiple meta-regression per outcome (:mod:`bayesmeta.reanalysis.formula_regression`) that has no
    ``outcomes.<name>.formula`` of its own; None without one. Each outcome's formula is ``OutcomePlan.formula``."""
    tau_scales: tuple[float, ...] | None = None
    """``priors.tau_scales``: the prior grid's half-normal tau scales; None: each outcome's
    (:meth:`bayesmeta.scale_unit.ScaleUnit.tau_scales`)."""
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    def favours(self, benefit: Benefit) -> tuple[str, str]:
        """Labels for the two sides of the null, left (below) then right (above): 'favours <arm>'."""
        treatment, control = f"favours {self.arms.treatment}", f"favours {self.arms.control}"
        return (treatment, control) if benefit.below else (control, treatment)

    def outcome(self, name: str) -> OutcomePlan:
        for o in self.outcomes:
            if o.name == name:
                return o
        raise KeyError(f"outcome {name!r} is not in the plan ({', '.join(o.name for o in self.outcomes)})")

    def with_mcmc(self, **changes: Any) -> "Plan":
        """A copy with some MCMC settings changed (for quick runs)."""
        return replace(self, mcmc=replace(self.mcmc, **changes))

    def with_monitoring(self, **changes: Any) -> "Plan":
        """A copy with some [monitoring] settings changed (e.g. fewer ``simulations``)."""
        return replace(self, monitoring=replace(self.monitoring, **changes))

    def with_surrogacy(self, **changes: Any) -> "Plan":
        """A copy with some [surrogacy] settings changed (e.g. ``enabled=False``: no NUTS fits)."""
        return replace(self, surrogacy=replace(self.surrogacy, **changes))

    def as_quick(self) -> "Plan":
        """A copy for a quick run (``bayesmeta reanalyze --quick``): no NUTS cross-check and at most
        :data:`QUICK_SIMULATIONS` simulations per operating characteristic; every exact analysis is unchanged."""
        monitoring = replace(self.monitoring, simulations=min(self.monitoring.simulations, QUICK_SIMULATIONS))
        return replace(self, mcmc=replace(self.mcmc, outcomes=()), monitoring=monitoring, quick=True)

    def fingerprint(self) -> str:
        """SHA-256 of the plan's settings and the bytes of every input file it names."""
        h = hashlib.sha256()
        h.update(json.dumps(_plain(self), sort_keys=True, default=str).encode())
        for p in (self.studies, self.outcomes_file, self.published, self.priors_file):
            if p is not None:
                h.update(str(p.name).encode())
                h.update(Path(p).read_bytes())
        return h.hexdigest()


def _plain(plan: Plan) -> dict[str, Any]:
    from dataclasses import asdict

    d = asdict(plan)
    d.pop("raw", None)
    d.pop("path", None)
    for key in ("studies", "outcomes_file", "published", "priors_file"):
        d[key] = None if d[key] is None else Path(d[key]).name
    return d


# -- validation helpers -------------------------------------------------------------------------------------
class _Reader:
    """Typed access to a TOML table that reports errors by key path."""

    def __init__(self, file: Path) -> None:
        self.file = str(file)

    def fail(self, key: str, message: str, valid: str | None = None) -> InputError:
        return InputError(f"key '{key}': {message}", file=self.file, valid=valid)

    def get(self, table: dict[str, Any], path: str, key: str, kind: type | tuple[type, ...], *,
            default: Any = ..., valid: str | None = None) -> Any:
        full = f"{path}.{key}" if path else key
        if key not in table:
            if default is ...:
                raise self.fail(full, "missing", valid)
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # TOML integers are acceptable where a float is expected; booleans are never numbers
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(full, f"expected {_kind_name(kinds)}, got a boolean", valid)
        if not isinstance(value, kinds):
            raise self.fail(full, f"expected {_kind_name(kinds)}, got {type(value).__name__} {value!r}", valid)
        if isinstance(value, float) and not math.isfinite(value):  # TOML has nan and inf literals
            raise self.fail(full, f"{value} is not a finite number", valid)
        return value

    def table(self, table: dict[str, Any], path: str, key: str, *, default: Any = ...) -> dict[str, Any]:
        return self.get(table, path, key, dict, default=default, valid="a table")

    def str_list(self, table: dict[str, Any], path: str, key: str, *, default: Any = ...,
                 valid: str | None = None) -> tuple[str, ...]:
        value = self.get(table, path, key, list, default=default, valid=valid)
        full = f"{path}.{key}" if path else key
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.fail(f"{full}[{i}]", f"expected a string, got {item!r}", valid)
        return tuple(value)

    def float_list(self, table: dict[str, Any], path: str, key: str, *, default: Any = ...) -> tuple[float, ...]:
        value = self.get(table, path, key, list, default=default, valid="a list of numbers")
        full = f"{path}.{key}"
        out = []
        for i, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                raise self.fail(f"{full}[{i}]", f"expected a number, got {item!r}", "a number")
            if not math.isfinite(item):
                raise self.fail(f"{full}[{i}]", f"{item} is not a finite number", "a finite number")
            out.append(float(item))
        return tuple(out)

    def choice(self, table: dict[str, Any], path: str, key: str, options: tuple[str, ...], *,
               default: Any = ...) -> str:
        value = self.get(table, path, key, str, default=default, valid=", ".join(options))
        if value not in options:
            raise self.fail(f"{path}.{key}" if path else key, f"unknown value {value!r}", ", ".join(options))
        return value

    def in_range(self, value: float, full: str, lo: float, hi: float, *, closed: bool = False) -> float:
        ok = lo <= value <= hi if closed else lo < value < hi
        if not ok:
            bounds = f"[{lo}, {hi}]" if closed else f"({lo}, {hi})"
            raise self.fail(full, f"value {value} out of range", f"a number in {bounds}")
        return value

    def positive_int(self, table: dict[str, Any], path: str, key: str, *, default: Any = ...) -> int:
        value = self.get(table, path, key, int, default=default, valid="a positive integer")
        if value < 1:
            raise self.fail(f"{path}.{key}", f"value {value} is not positive", "a positive integer")
        return int(value)

    def unknown_keys(self, table: dict[str, Any], path: str, allowed: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                full = f"{path}.{key}" if path else key
                raise self.fail(full, "unknown key", ", ".join(allowed))


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", list: "a list", dict: "a table",
             bool: "true or false"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _resolve(base: Path, value: str) -> Path:
    p = Path(value)
    return p if p.is_absolute() else (base / p).resolve()


def _project_root(plan_path: Path) -> Path:
    """Relative data paths are taken from the folder holding the plan's ``models/`` folder when the plan lives
    in one or in a subfolder of one (so ``models/<name>.toml`` and ``models/gallery/<name>.toml`` can say
    ``data/<file>.csv``), else from the plan's own folder."""
    for folder in list(plan_path.parents)[:2]:
        if folder.name == "models":
            return folder.parent
    return plan_path.parent


# -- loading -----------------------------------------------------------------------------------------------
def _level_list(r: Any, table: dict[str, Any], column: str) -> tuple[str, ...]:
    """A column's allowed levels: text, or numbers (a 0/1 moderator: [0, 1]) read as the cells write them."""
    value = r.get(table, "covariates.levels", column, list, valid="a list of the column's allowed values")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise r.fail(f"covariates.levels.{column}[{i}]", f"expected a text or a number, got {item!r}",
                         "a list of the column's allowed values, e.g. [0, 1] or [\"no\", \"yes\"]")
        out.append(item if isinstance(item, str) else
                   str(int(item)) if float(item).is_integer() else f"{item:g}")
    return tuple(out)


TOP_KEYS = ("title", "seed", "level", "data", "arms", "priors", "outcomes", "covariates", "subsets", "monitoring",
            "tsa", "mcmc", "bias", "claims", "subgroups", "surrogacy")
OUTCOME_KEYS = ("label", "measure", "benefit", "thresholds", "mcid", "zero_cells", "checks", "likelihood",
                "vtype", "formula", *STRATA_KEYS)


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan TOML file (the README's "The plan" lists every key; ``bayesmeta init`` writes a
    commented one)."""
    path = Path(path).resolve()
    if not path.is_file():
        raise InputError("plan file not found", file=str(path), valid="a path to a .toml plan")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid TOML: {exc}", file=str(path)) from None
    r = _Reader(path)
    r.unknown_keys(raw, "", TOP_KEYS)
    root = _project_root(path)

    title = r.get(raw, "", "title", str)
    seed = r.get(raw, "", "seed", int, default=20240101, valid="a non-negative integer")
    if seed < 0:
        raise r.fail("seed", f"value {seed} is negative", "a non-negative integer")
    level = r.in_range(r.get(raw, "", "level", float, default=0.95), "level", 0.0, 1.0)

    data = r.table(raw, "", "data")
    r.unknown_keys(data, "data", ("studies", "outcomes", "published", "priors", "control_arm", "pooling"))
    from bayesmeta.frequentist.paper_rule import POOLINGS

    pooling = r.choice(data, "data", "pooling", POOLINGS, default="DL")
    files: dict[str, Path | None] = {}
    for key in ("studies", "outcomes", "published", "priors"):
        value = r.get(data, "data", key, str, default=... if key == "outcomes" else None,
                      valid="a path relative to the plan's folder")
        if value is None:
            files[key] = None
            continue
        p = _resolve(root, value)
        if not p.is_file():
            raise r.fail(f"data.{key}", f"file {str(p)!r} not found", "an existing file")
        files[key] = p
    priors_file = files["priors"] or DEFAULT_PRIOR_FILE

    control_arm = r.get(data, "data", "control_arm", str, default=None,
                        valid="the 'level' naming the control arm in the published 'rate' rows")
    if control_arm is not None:
        if files["published"] is None:
            raise r.fail("data.control_arm", "given without data.published", "remove it, or add data.published")
        arms_published = _published_arms(files["published"])
        if control_arm not in arms_published:
            raise r.fail("data.control_arm", f"no 'rate' row of {files['published'].name} has level {control_arm!r}",
                         ", ".join(arms_published) or "no rate rows in the file")
    outcome_names = _outcomes_in_file(files["outcomes"])  # type: ignore[arg-type]
    study_columns = _columns_of(files["studies"] or files["outcomes"])  # type: ignore[arg-type]
    prior_names = _prior_set_names(priors_file)

    arms_table = r.table(raw, "", "arms", default={})
    r.unknown_keys(arms_table, "arms", ("treatment", "control"))
    arms = Arms(r.get(arms_table, "arms", "treatment", str, default="treatment"),
                r.get(arms_table, "arms", "control", str, default="control"))

    priors = r.table(raw, "", "priors", default={})
    r.unknown_keys(priors, "priors", ("main", "sensitivity", "tau_scales"))
    main_prior = r.get(priors, "priors", "main", str, default="weakly_informative", valid=", ".join(prior_names))
    if main_prior not in prior_names:
        raise r.fail("priors.main", f"unknown prior set {main_prior!r} in {priors_file.name}", ", ".join(prior_names))
    sens = r.str_list(priors, "priors", "sensitivity", default=[], valid=", ".join(prior_names))
    for i, name in enumerate(sens):
        if name not in prior_names:
            raise r.fail(f"priors.sensitivity[{i}]", f"unknown prior set {name!r} in {priors_file.name}",
                         ", ".join(prior_names))
    tau_scales = _positive_list(r, priors, "priors", "tau_scales")

    out_table = r.table(raw, "", "outcomes")
    if not out_table:
        raise r.fail("outcomes", "no outcome given", "one table per outcome, e.g. [outcomes.mortality]")
    outcomes = [_load_outcome(r, name, spec, outcome_names, files["outcomes"]) for name, spec in out_table.items()]
    names = tuple(o.name for o in outcomes)
    check_strata_targets(r, tuple(outcomes))

    cov = r.table(raw, "", "covariates", default={})
    r.unknown_keys(cov, "covariates", ("columns", "min_per_level", "levels", "formula"))
    covariates = r.str_list(cov, "covariates", "columns", default=[], valid=", ".join(study_columns))
    for i, c in enumerate(covariates):
        if c not in study_columns:
            table_name = (files["studies"] or files["outcomes"]).name  # type: ignore[union-attr]
            raise r.fail(f"covariates.columns[{i}]", f"column {c!r} is not in {table_name}", ", ".join(study_columns))
    min_per_level = r.positive_int(cov, "covariates", "min_per_level", default=2)
    levels_table = r.table(cov, "covariates", "levels", default={})
    levels = {c: _level_list(r, levels_table, c) for c in levels_table}
    for c in levels:
        if c not in study_columns:
            raise r.fail(f"covariates.levels.{c}", f"column {c!r} is not in the study table", ", ".join(study_columns))
    covariate_formula = load_covariate_formula(r, cov, study_columns,
                                               (files["studies"] or files["outcomes"]).name)  # type: ignore[union-attr]
    formulas = load_outcome_formulas(r, out_table, covariate_formula, study_columns,
                                     (files["studies"] or files["outcomes"]).name)  # type: ignore[union-attr]
    outcomes = [replace(o, formula=None if formulas[o.name] is None else formulas[o.name].text) for o in outcomes]

    subsets = _load_subsets(r, r.table(raw, "", "subsets", default={}), study_columns)
    monitoring = _load_monitoring(r, r.table(raw, "", "monitoring", default={}), outcomes)
    tsa = _load_tsa(r, r.table(raw, "", "tsa", default={}), names, files["published"], control_arm,
                    {o.name: o.measure for o in outcomes}, files["outcomes"])
    mcmc = _load_mcmc(r, r.table(raw, "", "mcmc", default={}), names)
    bias = _load_bias(r, r.table(raw, "", "bias", default={}), names)
    subgroups = load_subgroups(r, r.table(raw, "", "subgroups", default={}), {o.name: o for o in outcomes},
                               files["published"])
    surrogacy = load_surrogacy(r, r.table(raw, "", "surrogacy", default={}), names)
    formula_columns = tuple(dict.fromkeys(c for f in formulas.values() if f is not None for c in f.columns))
    formula_levels = column_levels(files["studies"] or files["outcomes"],  # type: ignore[arg-type]
                                   formula_columns) if formula_columns else None
    claims = load_claims(r, raw.get("claims"), {o.name: o for o in outcomes}, files["published"], subgroups,
                         surrogacy, tuple(t.outcome for t in tsa), formulas, formula_levels)

    return Plan(
        path=path, title=title, seed=int(seed), level=float(level),
        studies=files["studies"], outcomes_file=files["outcomes"], published=files["published"],  # type: ignore
        priors_file=priors_file, control_arm=control_arm, main_prior=main_prior, sensitivity_priors=sens,
        tau_scales=tau_scales,
        outcomes=tuple(outcomes), covariates=covariates, min_per_level=min_per_level,
        monitoring=monitoring, tsa=tsa, mcmc=mcmc, arms=arms, pooling=pooling, covariate_levels=levels,
        subsets=subsets, bias=bias, claims=claims, subgroups=subgroups, surrogacy=surrogacy,
        covariate_formula=None if covariate_formula is None else covariate_formula.text, raw=raw,
    )


def _positive_list(r: _Reader, t: dict[str, Any], path: str, key: str) -> tuple[float, ...] | None:
    """An optional non-empty list of positive numbers (None when the key is absent)."""
    if key not in t:
        return None
    values = r.float_list(t, path, key)
    if not values:
        raise r.fail(f"{path}.{key}", "the list is empty", "one or more positive numbers")
    for i, v in enumerate(values):
        if v <= 0:
            raise r.fail(f"{path}.{key}[{i}]", f"value {v} is not positive", "a number > 0")
    return values


def _side_check(r: _Reader, key: str, value: float, measure: str, benefit: Benefit, *, allow_null: bool) -> None:
    """``value`` (reported scale) must be a valid value of the measure on the benefit side of the null."""
    null = null_value(measure)
    if is_ratio(measure) and value <= 0:
        raise r.fail(key, f"value {value} is not a positive ratio", "a ratio > 0")
    on_side = benefit.favours(value, null) or (allow_null and value == null)
    if not on_side:
        side = f"{'at most' if allow_null else 'below'} {null:g}" if benefit.below else \
            f"{'at least' if allow_null else 'above'} {null:g}"
        raise r.fail(key, f"value {value} is not on the benefit side of {null:g} (benefit {benefit.value})",
                     f"a {measure} {side}")


def _load_outcome(r: _Reader, name: str, spec: Any, outcome_names: tuple[str, ...], file: Path) -> OutcomePlan:
    p = f"outcomes.{name}"
    if name not in outcome_names:
        raise r.fail(p, f"outcome {name!r} has no rows in {file.name}", ", ".join(outcome_names))
    if not isinstance(spec, dict):
        raise r.fail(p, f"expected a table, got {spec!r}", "a table with label, measure, benefit, thresholds")
    r.unknown_keys(spec, p, OUTCOME_KEYS)
    measure = r.choice(spec, p, "measure", PLAN_MEASURES)
    benefit = Benefit(r.choice(spec, p, "benefit", BENEFITS))
    null = null_value(measure)
    thresholds = r.float_list(spec, p, "thresholds", default=[null])
    if not thresholds:
        raise r.fail(f"{p}.thresholds", "empty list", "a list of numbers on the reported scale")
    for i, t in enumerate(thresholds):
        if not math.isfinite(t) or (is_ratio(measure) and t <= 0):
            raise r.fail(f"{p}.thresholds[{i}]", f"value {t} is not usable",
                         "a positive ratio" if is_ratio(measure) else "a finite number")
    mcid = r.get(spec, p, "mcid", float, default=None, valid=f"a {measure} on the benefit side of {null:g}")
    if mcid is not None:
        if not math.isfinite(mcid):
            raise r.fail(f"{p}.mcid", f"value {mcid} is not finite", "a finite number")
        _side_check(r, f"{p}.mcid", mcid, measure, benefit, allow_null=False)
        thresholds = [*thresholds, mcid]  # P(benefit beyond the MCID) is the clinically important benefit
    vtype = r.choice(spec, p, "vtype", MD_VTYPES, default="LS")
    if vtype != "LS" and measure != "MD":
        raise r.fail(f"{p}.vtype", f"vtype {vtype} is a variance of an MD, not of an {measure}", '"LS" (default)')
    strata_of, subgroup = load_strata(r, spec, p, name, outcome_names, file)
    return OutcomePlan(name, r.get(spec, p, "label", str, default=name), measure, benefit,
                       tuple(sorted(set(thresholds))), mcid, _load_zero_cells(r, spec, p),
                       r.choice(spec, p, "checks", CHECK_MODES, default="warn"),
                       _load_likelihood(r, spec, p, name, measure, file), vtype, strata_of, subgroup)


def _load_likelihood(r: _Reader, spec: dict[str, Any], p: str, name: str, measure: str, file: Path) -> str:
    """``likelihood = "binomial"``: only for an odds ratio (the binomial-normal model is the log OR's; Smith,
    Spiegelhalter & Thomas 1995) whose every row in the outcomes file has the four arm counts."""
    from bayesmeta.data import first_blank_row, outcome_rows
    from bayesmeta.effect_data import COUNT_COLUMNS

    likelihood = r.choice(spec, p, "likelihood", LIKELIHOODS, default="normal")
    if likelihood == "normal":
        return likelihood
    valid = (f'likelihood = "normal", or "binomial" for measure = "OR" with the columns {", ".join(COUNT_COLUMNS)} '
             f"filled in every row of outcome {name}")
    if measure != "OR":
        raise r.fail(f"{p}.likelihood", f"the binomial-normal model is fitted on the odds ratio only, and the "
                     f"outcome's measure is {measure}", valid)
    rows = outcome_rows(file, name)
    missing = [c for c in COUNT_COLUMNS if c not in rows.columns]
    if missing:
        raise r.fail(f"{p}.likelihood", f"{file.name} has no column {missing[0]}", valid)
    blank = first_blank_row(rows, COUNT_COLUMNS)
    if blank is not None:
        raise r.fail(f"{p}.likelihood", f"study {blank[0]} (row {blank[1]} of {file.name}) has no arm counts", valid)
    return likelihood


def _load_zero_cells(r: _Reader, spec: dict[str, Any], p: str) -> ZeroCellRule:
    """``zero_cells = { add = 0.5, to = "only0", drop00 = true }`` with metafor escalc's names (Viechtbauer 2010);
    absent keys keep escalc's defaults (drop00 true for RR/OR, false for RD)."""
    table = r.table(spec, p, "zero_cells", default={})
    r.unknown_keys(table, f"{p}.zero_cells", ("add", "to", "drop00"))
    add = r.get(table, f"{p}.zero_cells", "add", float, default=0.5, valid="a number >= 0")
    if not math.isfinite(add) or add < 0:
        raise r.fail(f"{p}.zero_cells.add", f"value {add} is not usable", "a finite number >= 0")
    to = r.choice(table, f"{p}.zero_cells", "to", ZERO_CELL_TO, default="only0")
    drop00 = r.get(table, f"{p}.zero_cells", "drop00", bool, default=None, valid="true or false")
    return ZeroCellRule(add, to, drop00)


def _load_subsets(r: _Reader, t: dict[str, Any], columns: tuple[str, ...]) -> dict[str, StudySubset]:
    out = {}
    for name, spec in t.items():
        p = f"subsets.{name}"
        if not isinstance(spec, dict):
            raise r.fail(p, f"expected a table, got {spec!r}", "a table with where, exclude, note")
        r.unknown_keys(spec, p, ("where", "exclude", "note"))
        where = r.table(spec, p, "where", default={})
        selected = []
        for column, values in where.items():
            if column not in columns:
                raise r.fail(f"{p}.where.{column}", f"column {column!r} is not in the study table", ", ".join(columns))
            values = [values] if isinstance(values, str) else values
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise r.fail(f"{p}.where.{column}", f"expected a string or a list of strings, got {values!r}")
            selected.append((column, tuple(values)))
        out[name] = StudySubset(name, tuple(selected), r.str_list(spec, p, "exclude", default=[]),
                                r.get(spec, p, "note", str, default=""))
    return out


def _known(r: _Reader, key: str, values: tuple[str, ...], names: tuple[str, ...]) -> None:
    for i, v in enumerate(values):
        if v not in names:
            raise r.fail(f"{key}[{i}]", f"outcome {v!r} is not among the plan's outcomes", ", ".join(names))


def _load_monitoring(r: _Reader, t: dict[str, Any], outcomes: list[OutcomePlan]) -> MonitoringPlan:
    """Monitoring of the chosen outcomes (default: all). The futility MCID is each outcome's ``mcid`` (no
    futility rule without one); the simulated true effects default to the null and the MCID."""
    names = tuple(o.name for o in outcomes)
    r.unknown_keys(t, "monitoring", ("outcomes", "order", "benefit_probability", "futility_probability",
                                     "simulations", "true_effects", "tau_values"))
    chosen = r.str_list(t, "monitoring", "outcomes", default=list(names), valid=", ".join(names))
    _known(r, "monitoring.outcomes", chosen, names)
    order = r.choice(t, "monitoring", "order", MONITOR_ORDERS, default="year")
    benefit_p = r.in_range(r.get(t, "monitoring", "benefit_probability", float, default=0.975),
                           "monitoring.benefit_probability", 0.0, 1.0)
    futility_p = r.in_range(r.get(t, "monitoring", "futility_probability", float, default=0.10),
                            "monitoring.futility_probability", 0.0, 1.0)
    taus = r.float_list(t, "monitoring", "tau_values") if "tau_values" in t else None
    for i, v in enumerate(taus or ()):
        if not math.isfinite(v) or v < 0:
            raise r.fail(f"monitoring.tau_values[{i}]", f"value {v} is not usable", "a number >= 0")
    truths_table = r.table(t, "monitoring", "true_effects", default={})
    r.unknown_keys(truths_table, "monitoring.true_effects", chosen)
    truths: dict[str, tuple[float, ...]] = {}
    for o in outcomes:
        if o.name not in chosen:
            continue
        null = null_value(o.measure)
        default = [null] if o.mcid is None else [null, o.mcid]
        values = r.float_list(truths_table, "monitoring.true_effects", o.name, default=default)
        for i, v in enumerate(values):
            _side_check(r, f"monitoring.true_effects.{o.name}[{i}]", v, o.measure, o.benefit, allow_null=True)
        truths[o.name] = tuple(values)
    return MonitoringPlan(
        outcomes=chosen, order=order, benefit_probability=benefit_p,
        futility_mcid={o.name: o.mcid for o in outcomes if o.name in chosen and o.mcid is not None},
        futility_probability=futility_p,
        simulations=r.positive_int(t, "monitoring", "simulations", default=200),
        true_effects=truths,
        tau_values=taus,
    )


def _tsa_futility_rule(r: _Reader, spec: dict[str, Any], p: str, sides: int) -> dict[str, Any]:
    """``futility_rule`` ('auto', 'rtsa', 'rpact'), ``beta_adjustment`` and ``two_sided_power`` of a [tsa.X] table,
    checked against its futility and sides (:func:`bayesmeta.tsa.groupseq.futility_rule_for`)."""
    from bayesmeta.tsa.groupseq import FUTILITY_RULES, futility_rule_for

    rule = r.choice(spec, p, "futility_rule", ("auto",) + FUTILITY_RULES, default="auto")
    options = dict(futility_rule=None if rule == "auto" else rule,
                   beta_adjustment=r.get(spec, p, "beta_adjustment", bool, default=True, valid="true or false"),
                   two_sided_power=r.get(spec, p, "two_sided_power", bool, default=False, valid="true or false"))
    futility = spec.get("futility", "non-binding")
    try:
        futility_rule_for(futility, options["futility_rule"], sides, options["beta_adjustment"],
                          options["two_sided_power"])
    except InputError as error:
        raise r.fail(f"{p}.futility_rule", error.reason,
                     "'rpact' for binding two-sided futility; rpact's options with 'rpact' only") from None
    return options


def _load_tsa(r: _Reader, t: dict[str, Any], names: tuple[str, ...], published: Path | None,
              control_arm: str | None, measures: dict[str, str] | None = None,
              outcomes_file: Path | None = None) -> tuple[TSAPlan, ...]:
    out = []
    for name, spec in t.items():
        p = f"tsa.{name}"
        if name not in names:
            raise r.fail(p, f"outcome {name!r} is not among the plan's outcomes", ", ".join(names))
        if measures is not None and measures[name] not in TSA_INPUT_MEASURES:
            raise r.fail(p, f"no trial sequential analysis for outcome {name!r} of measure {measures[name]}",
                         "an outcome of measure " + ", ".join(TSA_INPUT_MEASURES) + ", or no [tsa] table for it")
        if not isinstance(spec, dict):
            raise r.fail(p, f"expected a table, got {spec!r}", "a table")
        r.unknown_keys(spec, p, ("relative_risk_reduction", "mcid", "alpha", "power", "control_rate", "heterogeneity",
                                 "sd", "sides", "spending", "futility", "inflate", "futility_rule",
                                 "beta_adjustment", "two_sided_power"))
        mcid = r.get(spec, p, "mcid", float, default=None, valid="the anticipated effect, reported scale")
        change = r.get(spec, p, "relative_risk_reduction", float, default=None,
                       valid="a relative risk reduction such as 0.30")
        if (change is None) == (mcid is None):
            raise r.fail(p, "give the anticipated effect once", "relative_risk_reduction or mcid")
        if change is not None and (change == 0 or not -1 < change < 1):
            raise r.fail(f"{p}.relative_risk_reduction", f"value {change} is not usable",
                         "a non-zero number in (-1, 1)")
        sd = r.get(spec, p, "sd", float, default=None, valid="the outcome's standard deviation (MD)")
        if sd is not None and not sd > 0:
            raise r.fail(f"{p}.sd", f"value {sd} is not usable", "a standard deviation > 0")
        measure = (measures or {}).get(name)
        if measure is not None:
            _check_tsa_measure(r, spec, p, measure, change, sd)
            if measure in BINARY_MEASURES and "control_rate" not in spec and outcomes_file is not None \
                    and not _has_control_counts(outcomes_file, name):
                raise r.fail(f"{p}.control_rate", f"a {measure} information size needs the control-arm event "
                             f"rate, and {outcomes_file.name} has no control-arm counts for every {name} row",
                             "a proportion, \"published\", or events_control and total_control in every row")
        sides = r.get(spec, p, "sides", int, default=2, valid="1 or 2")
        if sides not in (1, 2):
            raise r.fail(f"{p}.sides", f"value {sides} is not usable", "1 or 2")
        alpha = r.in_range(r.get(spec, p, "alpha", float, default=0.05), f"{p}.alpha", 0.0, 1.0)
        power = r.in_range(r.get(spec, p, "power", float, default=0.80), f"{p}.power", 0.0, 1.0)
        rate = r.get(spec, p, "control_rate", (float, str), default=None, valid="a proportion, or \"published\"")
        if rate is None:
            value, source = None, "pooled control arms"
        elif isinstance(rate, str):
            if rate != "published":
                raise r.fail(f"{p}.control_rate", f"unknown value {rate!r}", "a proportion, or \"published\"")
            if published is None or control_arm is None:
                raise r.fail(f"{p}.control_rate", "\"published\" needs data.published and data.control_arm",
                             "a proportion")
            value = _published_control_rate(published, name, control_arm)
            source = f"{published.name}: {name} rate in arm '{control_arm}'"
            if value is None:
                raise r.fail(f"{p}.control_rate", f"{published.name} has no row (outcome {name}, analysis rate, "
                             f"level {control_arm!r})", "a proportion, or a published rate of the control arm")
        else:
            value, source = rate, "plan"
        if value is not None:
            r.in_range(value, f"{p}.control_rate", 0.0, 1.0)
        out.append(TSAPlan(name, None if change is None else float(change), float(alpha), float(power),
                           None if value is None else float(value), source,
                           r.choice(spec, p, "heterogeneity", TSA_HETEROGENEITY, default="D2"), mcid=mcid, sd=sd,
                           sides=sides, spending=r.choice(spec, p, "spending", TSA_SPENDING, default="obf"),
                           futility=r.choice(spec, p, "futility", TSA_FUTILITY, default="non-binding"),
                           inflate=r.get(spec, p, "inflate", bool, default=False, valid="true or false"),
                           **_tsa_futility_rule(r, spec, p, sides)))
    return tuple(out)


def _check_tsa_measure(r: _Reader, spec: dict[str, Any], p: str, measure: str, change: float | None,
                       sd: float | None) -> None:
    """A [tsa.X] table that its outcome's measure (one the TSA takes) can use: a relative risk reduction sizes a binary outcome (as
    an RR, as the TSA program does) or an HR (HR = 1 - RRR, by events); an MD needs the outcome's sd; a control
    rate is for binary outcomes only."""
    binary = BINARY_MEASURES
    if change is not None and measure not in binary + ("HR",):
        raise r.fail(f"{p}.relative_risk_reduction", f"a relative risk reduction does not size a {measure} outcome",
                     f"mcid, the anticipated {measure} (relative_risk_reduction is for {', '.join(binary)} and HR)")
    if measure == "MD" and sd is None:
        raise r.fail(f"{p}.sd", "an MD information size needs the outcome's standard deviation",
                     "sd, the SD of the outcome in one arm, in the outcome's units")
    if "control_rate" in spec and measure not in binary:
        raise r.fail(f"{p}.control_rate", f"a control-arm event rate does not size a {measure} outcome",
                     f"no control_rate (it is for {', '.join(binary)} outcomes)")


def _load_mcmc(r: _Reader, t: dict[str, Any], names: tuple[str, ...]) -> MCMCPlan:
    r.unknown_keys(t, "mcmc", ("outcomes", "chains", "draws", "tune", "target_accept", "cores"))
    chosen = r.str_list(t, "mcmc", "outcomes", default=list(names), valid=", ".join(names))
    _known(r, "mcmc.outcomes", chosen, names)
    return MCMCPlan(
        outcomes=chosen,
        chains=r.positive_int(t, "mcmc", "chains", default=2),
        draws=r.positive_int(t, "mcmc", "draws", default=2500),
        tune=r.positive_int(t, "mcmc", "tune", default=1000),
        target_accept=r.in_range(r.get(t, "mcmc", "target_accept", float, default=0.9), "mcmc.target_accept",
                                 0.0, 1.0),
        cores=r.positive_int(t, "mcmc", "cores", default=1),
    )


def _load_bias(r: _Reader, t: dict[str, Any], names: tuple[str, ...]) -> BiasPlan:
    r.unknown_keys(t, "bias", ("enabled", "outcomes", "min_k", "ensemble", "informed", "models"))
    chosen = r.str_list(t, "bias", "outcomes", default=list(names), valid=", ".join(names))
    _known(r, "bias.outcomes", chosen, names)
    min_k = r.get(t, "bias", "min_k", int, default=10, valid="an integer >= 3")
    if min_k < 3:
        raise r.fail("bias.min_k", f"value {min_k} is below 3", "an integer >= 3")
    from bayesmeta.bias.informed import all_subfields, known_subfield

    informed = r.get(t, "bias", "informed", str, default=None, valid="a Cochrane review group, e.g. 'Oral Health'")
    if informed is not None and not known_subfield(informed):
        raise r.fail("bias.informed", f"unknown subfield {informed!r}", "; ".join(all_subfields()))
    ensemble = r.choice(t, "bias", "ensemble", BIAS_ENSEMBLES, default="custom" if "models" in t else "pet-peese")
    models: tuple[Any, ...] = ()
    if ensemble == "custom":
        items = r.get(t, "bias", "models", list, valid="one or more [[bias.models]] tables")
        models = parse_bias_models(r, items, "bias.models")
    elif "models" in t:
        raise r.fail("bias.models", f"given with bias.ensemble = {ensemble!r}",
                     'ensemble = "custom" (or no ensemble key) with [[bias.models]], or a named ensemble alone')
    return BiasPlan(enabled=r.get(t, "bias", "enabled", bool, default=True, valid="true or false"),
                    outcomes=chosen, min_k=int(min_k), ensemble=ensemble, informed=informed, models=models)


def load_bias_models(path: str | Path) -> tuple[Any, ...]:
    """The models of a TOML file of ``[[models]]`` tables (``bayesmeta bias --models``), read by
    :func:`parse_bias_models` as the plan's ``[[bias.models]]``; errors name the file and ``models[i].key``."""
    file = Path(path)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no such file", file=str(file), valid="a TOML file of [[models]] tables") from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not a readable TOML file ({exc})", file=str(file)) from None
    r = _Reader(file)
    r.unknown_keys(raw, "", ("models",))
    return parse_bias_models(r, r.get(raw, "", "models", list, valid="one or more [[models]] tables"), "models")


def parse_bias_models(r: _Reader, items: Any, path: str) -> tuple[Any, ...]:
    """The models of a user-defined bias ensemble from a list of TOML tables (the plan's ``[[bias.models]]``,
    ``bayesmeta bias --models FILE.toml``'s ``[[models]]``), each checked key by key with errors naming
    ``path[i].key`` (i from 0), then built by :func:`bayesmeta.bias.models.model_from_mapping`.

    Keys: ``effect``, ``heterogeneity`` (booleans, default true); ``bias`` (none, PET, PEESE, selection; default
    none); for selection only ``sided`` (one, two; default one), ``cutoffs`` (increasing p-values in (0, 1),
    default [0.05]) and ``alpha`` (the cumulative Dirichlet's len(cutoffs) + 1 positive parameters, default all
    1); ``prior_weight`` (a number >= 0, default 1). Prior model probabilities are the weights normalised to sum
    to 1, as RoBMA's ``prior_weights`` (default 1 for each prior, normalised over the ensemble; Bartos et al.
    2022): models without a weight count 1 each, so an ensemble without weights splits the prior mass equally."""
    from bayesmeta.bias.models import BIAS_KINDS, model_from_mapping
    from bayesmeta.errors import ModelError

    if not isinstance(items, list) or not items:
        raise r.fail(path, "empty list" if isinstance(items, list) else f"expected tables, got {items!r}",
                     f"one or more [[{path}]] tables with keys {', '.join(BIAS_MODEL_KEYS)}")
    models, seen = [], {}
    for i, item in enumerate(items):
        at = f"{path}[{i}]"
        if not isinstance(item, dict):
            raise r.fail(at, f"expected a table, got {item!r}", f"a [[{path}]] table")
        r.unknown_keys(item, at, BIAS_MODEL_KEYS)
        spec: dict[str, Any] = {"effect": r.get(item, at, "effect", bool, default=True, valid="true or false"),
                                "heterogeneity": r.get(item, at, "heterogeneity", bool, default=True,
                                                       valid="true or false"),
                                "bias": r.choice(item, at, "bias", BIAS_KINDS, default="none")}
        if spec["bias"] == "selection":
            spec["sided"] = r.choice(item, at, "sided", ("one", "two"), default="one")
            cutoffs = r.float_list(item, at, "cutoffs", default=[0.05])
            if not cutoffs or any(not 0 < c < 1 for c in cutoffs) or list(cutoffs) != sorted(set(cutoffs)):
                raise r.fail(f"{at}.cutoffs", f"cut-offs {list(cutoffs)} are not increasing numbers in (0, 1)",
                             "strictly increasing p-values in (0, 1), e.g. [0.025, 0.05, 0.5]")
            spec["cutoffs"] = cutoffs
            alpha = r.float_list(item, at, "alpha", default=[1.0] * (len(cutoffs) + 1))
            if len(alpha) != len(cutoffs) + 1 or any(not a > 0 for a in alpha):
                raise r.fail(f"{at}.alpha", f"{list(alpha)} for {len(cutoffs)} cut-off(s)",
                             f"{len(cutoffs) + 1} positive numbers (one per interval of p-values)")
            spec["alpha"] = alpha
        else:
            for key in ("sided", "cutoffs", "alpha"):
                if key in item:
                    raise r.fail(f"{at}.{key}", f"only a selection model has a weight function (bias is "
                                 f"{spec['bias']!r})", 'bias = "selection", or remove the key')
        if "prior_weight" in item:
            weight = r.get(item, at, "prior_weight", float, valid="a number >= 0")
            if weight < 0:
                raise r.fail(f"{at}.prior_weight", f"value {weight} is negative",
                             "a number >= 0, relative to the other models' weights")
            spec["prior_weight"] = weight
        try:
            model = model_from_mapping(spec)
        except ModelError as exc:
            raise r.fail(at, str(exc)) from None
        twin = seen.setdefault(model.name, i)
        if twin != i:
            raise r.fail(at, f"the same model as {path}[{twin}] ({model.name})", "each model once")
        models.append(model)
    if not sum(m.prior_weight for m in models) > 0:
        raise r.fail(f"{path}[*].prior_weight", "every prior weight is 0", "at least one positive prior_weight")
    return tuple(models)


# -- peeks at the input files needed to validate names ----------------------------------------------------
def _outcomes_in_file(path: Path) -> tuple[str, ...]:
    try:
        frame = pd.read_csv(path, usecols=["outcome"], dtype=str, encoding="utf-8-sig")
    except (ValueError, UnicodeDecodeError):
        raise InputError("no 'outcome' column", file=str(path), column="outcome",
                         valid="an outcomes table with study_id, outcome, measure and the reported statistics") from None
    return tuple(dict.fromkeys(frame["outcome"].dropna().str.strip()))


def _has_control_counts(path: Path, outcome: str) -> bool:
    """Every row of ``outcome`` in the outcomes table has events_control and total_control (the TSA pools its
    control-arm event rate from them)."""
    from bayesmeta.data import first_blank_row, outcome_rows

    columns = ("events_control", "total_control")
    rows = outcome_rows(path, outcome)
    return bool(len(rows)) and set(columns) <= set(rows.columns) and first_blank_row(rows, columns) is None


def _columns_of(path: Path) -> tuple[str, ...]:
    try:
        return tuple(str(c).strip() for c in pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"not a readable CSV file ({exc})", file=str(path)) from None


def _prior_set_names(path: Path) -> tuple[str, ...]:
    from bayesmeta.priors import load_prior_sets

    return tuple(load_prior_sets(path))


def _published_arms(path: Path) -> tuple[str, ...]:
    frame = pd.read_csv(path, dtype={"level": str})
    return tuple(dict.fromkeys(frame.loc[frame["analysis"] == "rate", "level"].dropna()))


def _published_control_rate(path: Path, outcome: str, arm: str) -> float | None:
    frame = pd.read_csv(path, dtype={"level": str})
    rows = frame[(frame["outcome"] == outcome) & (frame["analysis"] == "rate") & (frame["level"] == arm)]
    return None if rows.empty else float(rows["estimate"].iloc[0])
