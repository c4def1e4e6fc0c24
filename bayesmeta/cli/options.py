"""The options of the command line, defined once with the vocabulary's spelling (see VOCABULARY.md): the data
argument, ``--measure``, ``--mu-prior``/``--tau-prior``, ``--threshold``, ``--benefit``, ``--mcid``,
``--level``, ``--seed``, ``--figures``, ``--likelihood`` and ``--json``; the check that numeric options are
finite, and the conversion of values to plain JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path
from enum import Enum
from typing import Annotated, Any

import typer

from bayesmeta.benefit import Benefit
from bayesmeta.errors import InputError
from bayesmeta.scales import MEASURES, is_ratio, null_value

DEFAULT_MU_PRIOR = "normal(0, 4)"
DEFAULT_TAU_PRIOR = "halfnormal(0.5)"
DEFAULT_MCID_BELOW = 0.8  # a ratio; above the null its mirror 1 / 0.8

Measure = Enum("Measure", [(m, m) for m in MEASURES], type=str)
Measure.__doc__ = "Effect measures a CSV may be read as (bayesmeta.scales.MEASURES)."


class Likelihood(str, Enum):
    """The within-study likelihood of ``fit``: normal on the effects, or binomial on the arm counts."""

    normal = "normal"
    binomial = "binomial"


def finite(param: typer.CallbackParam, value: Any) -> Any:
    """Option callback: a threshold, MCID, ratio, level or probability must be a finite number (NaN and +-inf
    would be carried through as nan results with exit 0). Also for repeatable and pair options."""
    values = value if isinstance(value, (list, tuple)) else (value,)
    for v in values:
        if isinstance(v, float) and not math.isfinite(v):
            name = param.opts[0] if param.opts else str(param.name)
            raise InputError(f"{name} {v} is not a finite number", valid="a finite number")
    return value


DataArgument = Annotated[
    str,
    typer.Argument(
        help="CSV: study + (yi,sei | yi,vi | estimate,ci_lower,ci_upper | means,SDs,sizes | "
        "o_minus_e,var_o_minus_e | counts)"
    ),
]
MeasureOption = Annotated[
    Measure | None,
    typer.Option("--measure", help="effect measure of the data (default: the file's measure column, else GEN for "
                 "yi/sei data, RR for counts)"),
]
MuPriorOption = Annotated[str, typer.Option("--mu-prior", help='prior of mu, e.g. "normal(0, 4)" or "flat"')]
TauPriorOption = Annotated[str, typer.Option("--tau-prior", help='prior of tau, e.g. "halfnormal(0.5)"')]
ThresholdOption = Annotated[
    list[float] | None,
    typer.Option("--threshold", help="report P(effect beyond T on the benefit side), T on the reported scale "
                 "(a ratio for HR, RR, OR); repeatable", callback=finite),
]
BenefitOption = Annotated[
    Benefit, typer.Option("--benefit", help="side of the null where an effect favours the treatment")
]
McidOption = Annotated[
    float | None,
    typer.Option("--mcid", help="minimal clinically important difference, reported scale (default for a ratio: "
                 f"{DEFAULT_MCID_BELOW:g} with benefit below 1, {1 / DEFAULT_MCID_BELOW:g} above)", callback=finite),
]
LevelOption = Annotated[float, typer.Option("--level", help="level of the intervals", callback=finite)]
SeedOption = Annotated[int, typer.Option("--seed", help="random seed (recorded in the output)")]
FiguresOption = Annotated[str | None, typer.Option("--figures", help="folder to write the figures (PNG) into "
                                                    "(default: none)")]
LikelihoodOption = Annotated[
    Likelihood,
    typer.Option("--likelihood", help="normal on the effects, or binomial on the arm counts (the binomial-normal "
                 "model for the OR; NUTS engine)"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON object (default: tables for people)")]
FormulaOption = Annotated[
    str | None,
    typer.Option("--formula", help='design of a meta-regression: terms joined by "+", a:b interactions, '
                 'a * b = a + b + a:b, factor(x), "0 +" for no intercept; e.g. "0 + group", "year", "dose * onset"'),
]
class VType(str, Enum):
    """The variance of a mean difference from means and SDs (metafor escalc's vtype)."""

    LS = "LS"
    HO = "HO"


VTypeOption = Annotated[
    VType,
    typer.Option("--vtype", help="variance of an MD from means and SDs: LS (per-arm SDs, sd1^2/n1 + sd2^2/n2) or "
                 "HO (the pooled SD, s^2 (1/n1 + 1/n2)), as metafor escalc's vtype"),
]
OutcomeOption = Annotated[
    str | None,
    typer.Option("--outcome", help="the outcome to read from a table with an outcome column (one row per study and "
                 "outcome, as a plan's outcomes table); required when it holds several (default: the table's only "
                 "outcome)"),
]


class ZeroCellsTo(str, Enum):
    """The studies whose cells get ``--add`` (metafor escalc's ``to``; bayesmeta.escalc.ZERO_CELL_TO)."""

    only0 = "only0"
    all = "all"
    if0all = "if0all"
    none = "none"


# The zero-cell rule of arm counts, spelled as the plan's outcomes.<name>.zero_cells keys (metafor escalc's names)
AddOption = Annotated[float, typer.Option("--add", help="zero cells: added to every cell of the studies --to "
                                          "selects (escalc's add; plan zero_cells.add)", min=0.0, callback=finite)]
ToOption = Annotated[ZeroCellsTo, typer.Option("--to", help="zero cells: only0 (studies with a zero cell), all, "
                                               "if0all or none (escalc's to; plan zero_cells.to)")]
Drop00Option = Annotated[
    bool | None,
    typer.Option("--drop00/--no-drop00", help="leave out studies with no events (or only events) in both arms "
                 "(with fit --likelihood binomial from both likelihoods; escalc's drop00; plan zero_cells.drop00; "
                 "default: yes for RR, OR and IRR, no for RD)"),
]


DEFAULT_ADD = 0.5
"""The default of :data:`AddOption` (escalc's add; :class:`bayesmeta.escalc.ZeroCellRule`); ``--to`` defaults to
``ZeroCellsTo.only0`` and ``--drop00/--no-drop00`` to None (the measure's default). Every command that reads arm
counts offers the three options with these defaults."""


def zero_cell_rule(add: float = DEFAULT_ADD, to: ZeroCellsTo | str = ZeroCellsTo.only0,
                   drop00: bool | None = None) -> Any:
    """The :class:`bayesmeta.escalc.ZeroCellRule` of ``--add``, ``--to`` and ``--drop00/--no-drop00``."""
    from bayesmeta.escalc import ZeroCellRule

    return ZeroCellRule(float(add), ZeroCellsTo(to).value, drop00)


def dropped_studies(table: Any) -> list[dict[str, str]]:
    """The studies the reader left out under the zero-cell rule's drop00 (``table.dropped``), {study, reason} as
    a plan's coverage table names them: the JSON key ``dropped`` of every command that reads arm counts."""
    out = []
    for study in table.dropped:
        counts = table.counts.loc[study] if table.counts is not None and study in table.counts.index else None
        reason = ("no events in either arm" if counts is None or counts["events_treatment"] == 0
                  else "events in every patient of both arms")
        out.append({"study": study, "reason": reason})
    return out


def positive(param: typer.CallbackParam, value: Any) -> Any:
    """Option callback: a count (draws, chains, tuning steps) must be a whole number >= 1 when given."""
    if value is not None and value < 1:
        name = param.opts[0] if param.opts else str(param.name)
        raise InputError(f"{name} {value} is not usable", valid="a whole number >= 1")
    return value


def open_unit(param: typer.CallbackParam, value: Any) -> Any:
    """Option callback: a probability strictly between 0 and 1 (NUTS's target acceptance rate) when given."""
    if value is not None and not (math.isfinite(value) and 0.0 < value < 1.0):
        name = param.opts[0] if param.opts else str(param.name)
        raise InputError(f"{name} {value} is not usable", valid="a number in (0, 1), e.g. 0.9")
    return value


# The NUTS sampler's settings, spelled as the plan's [mcmc] keys (chains, draws, tune, target_accept); None:
# the engine's default, so that a command can tell a given option from its default.
DrawsOption = Annotated[int | None, typer.Option("--draws", help="NUTS draws per chain after tuning "
                                                 "(default 1000; the plan's [mcmc] draws)", callback=positive)]
ChainsOption = Annotated[int | None, typer.Option("--chains", help="NUTS chains (default 4; the plan's [mcmc] chains)",
                                                  callback=positive)]
TuneOption = Annotated[int | None, typer.Option("--tune", help="NUTS tuning (warm-up) steps per chain, discarded "
                                                "(default 1000; the plan's [mcmc] tune)", callback=positive)]
TargetAcceptOption = Annotated[float | None, typer.Option(
    "--target-accept", help="NUTS target acceptance rate in (0, 1); raise it (e.g. 0.95 or 0.99) after divergences "
    "(default 0.9, surrogacy 0.95; the plan's [mcmc] target_accept)", callback=open_unit)]
NUTS_DEFAULTS = {"draws": 1000, "chains": 4, "tune": 1000, "target_accept": 0.9}
"""The defaults of :data:`DrawsOption`, :data:`ChainsOption`, :data:`TuneOption` and :data:`TargetAcceptOption`
(those of :func:`bayesmeta.mcmc.fit_nuts`)."""


def nuts_settings(*, sampling: bool = True, defaults: dict[str, Any] | None = None, **given: Any) -> dict[str, Any]:
    """The NUTS settings given on the command line, the defaults for the others: :data:`NUTS_DEFAULTS` updated
    by the command's own ``defaults`` (surrogacy's target acceptance of 0.95). ``sampling`` False (an exact
    engine): any given setting is an :class:`InputError`, since nothing is sampled."""
    named = {key: given.get(key) for key in NUTS_DEFAULTS}
    if not sampling and any(v is not None for v in named.values()):
        name = "--" + next(k for k, v in named.items() if v is not None).replace("_", "-")
        raise InputError(f"{name} sets the NUTS sampler, and the exact engine does not sample", column=name,
                         valid="--engine nuts, or no sampler options")
    base = {**NUTS_DEFAULTS, **(defaults or {})}
    return {key: base[key] if value is None else value for key, value in named.items()}
UisdOption = Annotated[float | None, typer.Option(
    "--uisd", help="MD or GEN: the outcome's unit-information SD in its own units (Röver et al. 2021; e.g. 26 for "
                   "days), which sizes the defaults (bayesmeta.scale_unit); default: from the studies' sample sizes "
                   "(an n_total column, or arm totals)", callback=finite)]


def default_mcid(mcid: float | None, measure: str, benefit: Benefit) -> float:
    """``--mcid`` as given, else 0.8 (benefit below 1) or 1.25 (above) for a ratio measure; a difference measure
    has no default."""
    if mcid is not None:
        return mcid
    if not is_ratio(measure):
        raise InputError(f"a {measure} has no default MCID", column="--mcid",
                         valid=f"--mcid with a value on the benefit side of {null_value(measure):g}")
    return DEFAULT_MCID_BELOW if benefit.below else 1.0 / DEFAULT_MCID_BELOW


def measure_value(measure: Measure | None) -> str | None:
    """The measure's name, or None to let the table decide."""
    return measure.value if measure else None


def plain(value: object) -> object:
    """JSON-ready: NaN and infinities -> None, numpy scalars -> Python."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return plain(value.item())
    return value


def _nulled(value: Any, path: str, found: list[dict[str, str]]) -> Any:
    if isinstance(value, dict):
        return {k: _nulled(v, f"{path}.{k}" if path else str(k), found) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nulled(v, f"{path}[{i}]", found) for i, v in enumerate(value)]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        found.append({"path": path, "value": "NaN (undefined)" if math.isnan(value) else
                      ("+infinity" if value > 0 else "-infinity")})
        return None
    return value


def json_text(value: Any, indent: int | None = 2) -> str:
    """The ``--json`` output: strict JSON (RFC 8259 has no NaN or infinity). A non-finite number, e.g. an R-hat
    with one chain (NaN) or a probability at an infinite bound, becomes null; when the output is an object, its
    key ``"null_values"`` lists each such path with what the number was, so an undefined quantity is told from an
    infinite one and from a missing one."""
    found: list[dict[str, str]] = []
    clean = _nulled(value, "", found)
    if found and isinstance(clean, dict):
        clean["null_values"] = found
    return json.dumps(clean, indent=indent, allow_nan=False)


class Checks(str, Enum):
    """What a command does with a reported estimate, CI and p-value that disagree beyond rounding."""

    warn = "warn"
    error = "error"


def note_prior_units(table: Any, mu_prior: str, tau_prior: str) -> None:
    """Say on stderr when an MD is fitted under a default prior, which is written for log ratios
    (:func:`bayesmeta.prior_units.log_ratio_priors_note`)."""
    if mu_prior != DEFAULT_MU_PRIOR and tau_prior != DEFAULT_TAU_PRIOR:
        return
    from bayesmeta.prior_units import log_ratio_priors_note

    note = log_ratio_priors_note(table.measure, table.sei)
    if note:
        typer.echo(f"note: {note}", err=True)


CHECKS = Checks.warn
"""The root option ``--checks`` of this run (set by the app's callback)."""
TABLE_READ: str | None = None
"""The table this run has read (named in errors of models fitted to it)."""


def read_table(path: str, measure: str | None, benefit: Benefit | str = Benefit.BELOW,
               likelihood: Likelihood = Likelihood.normal, *, quick: bool = False, outcome: str | None = None,
               vtype: VType | str = "LS", zero_cells: Any = None, counts_pooled: bool = False):
    """Read a user's effect table (:func:`bayesmeta.tables.read_effect_table`, with the run's ``--checks``) and
    say on stderr which studies have no log ratio (no events, or only events, in both arms: left out under the
    zero-cell rule's drop00, ``zero_cells``, a :class:`bayesmeta.escalc.ZeroCellRule`; escalc's default when None)
    and which reported numbers disagree, so that nothing is dropped or doubted silently. ``quick``: a plain
    ``study, yi, sei|vi`` table is read without pandas (:func:`bayesmeta.quick_table.read_plain_effects`;
    no covariates kept), any other by the full reader.
    ``outcome``: the outcome (``--outcome``) of a table with an outcome column; ``vtype`` (``--vtype``) the
    variance of an MD from means and SDs. ``counts_pooled``: the arm counts themselves are pooled (Mantel-Haenszel),
    so studies without a log ratio are kept and only said to add nothing to the estimate."""
    import warnings

    global TABLE_READ
    TABLE_READ = path
    if quick and outcome is None and VType(vtype) is VType.LS:
        from bayesmeta.quick_table import read_plain_effects

        table = read_plain_effects(path, measure, benefit=benefit)
        if table is not None:
            return table

    from bayesmeta.errors import ReportedValueWarning
    from bayesmeta.tables import read_effect_table

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ReportedValueWarning)
        rule = {} if zero_cells is None else {"zero_cells": zero_cells}
        table = read_effect_table(path, measure, benefit=benefit, checks=CHECKS.value, outcome=outcome,
                                  vtype=VType(vtype).value, **rule)
    for w in caught:
        if issubclass(w.category, ReportedValueWarning):
            typer.echo(f"warning: {w.message}", err=True)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if table.dropped and counts_pooled:
        typer.echo(f"note: {path}: {', '.join(table.dropped)} (no events in either arm, or events in every patient "
                   "of both) add nothing to the Mantel-Haenszel estimate and count in k, as in metafor's rma.mh",
                   err=True)
    elif table.dropped:
        names = ", ".join(table.dropped)
        likelihoods = "the normal and the binomial likelihood" if likelihood is Likelihood.binomial else "the fit"
        typer.echo(
            f"note: {path}: excluded {names} from {likelihoods} (no events in either arm, or events in every patient "
            "of both: no ratio can be estimated; zero_cells drop00, as a plan and metafor's escalc"
            + ("; --no-drop00 keeps them)" if zero_cells is not None else ")"),
            err=True,
        )
    return table


def table_unit(table: Any, uisd: float | None = None, tau_prior: str | None = None) -> Any:
    """The scale unit of a table read by :func:`read_table` (:func:`bayesmeta.scale_unit.scale_unit`): ``--uisd``;
    else a ``--tau-prior`` other than the default; else the studies' sizes (an ``n_total`` column, or the arm
    totals of counts, or of a means-and-SDs file) with their standard errors."""
    from bayesmeta.priors import parse_prior
    from bayesmeta.scale_unit import scale_unit

    sizes = None
    covariates = getattr(table, "covariates", None)
    if covariates is not None and "n_total" in covariates.columns:
        sizes = covariates["n_total"].to_numpy(dtype=float)
    elif getattr(table, "counts", None) is not None and len(table.counts) == len(table.sei):
        sizes = (table.counts["total_treatment"] + table.counts["total_control"]).to_numpy(dtype=float)
    elif table.measure == "MD" and Path(str(table.source)).is_file():
        sizes = _arm_totals(table.source, len(table.sei))
    own = parse_prior(tau_prior, "tau") if tau_prior and tau_prior != DEFAULT_TAU_PRIOR else None
    return scale_unit(table.measure, uisd=uisd, tau_prior=own, sample_sizes=sizes, sei=table.sei)


def _arm_totals(path: str, k: int) -> Any:
    """total_treatment + total_control of a means-and-SDs table (the reader turns them into the MD and keeps no
    sizes), when the file has both columns and one row per study; else None."""
    import pandas as pd

    from bayesmeta.tables import read_text_csv

    frame = read_text_csv(path)
    if not {"total_treatment", "total_control"} <= set(frame.columns) or len(frame) != k:
        return None
    sizes = pd.to_numeric(frame["total_treatment"], errors="coerce") + pd.to_numeric(frame["total_control"],
                                                                                    errors="coerce")
    return sizes.to_numpy(dtype=float)
