"""The plan's within-trial strata: ``outcomes.<name>.strata_of`` and ``outcomes.<name>.subgroup``.

An outcome whose rows are each trial's effect within the levels of a patient characteristic (a row per trial and
stratum, e.g. MACE within ASCVD yes / no) declares the outcome whose published ``subgroup`` rows it recomputes
(``strata_of``) and the column of the outcomes table holding each row's level (``subgroup``, as the CLI's
``frequentist --subgroup``). Read by :func:`bayesmeta.plan.load_plan`; errors name the key path and what would be
valid (:class:`~bayesmeta.errors.InputError`, exit 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

STRATA_KEYS = ("strata_of", "subgroup")


def load_strata(r: Any, spec: dict[str, Any], p: str, name: str, outcome_names: tuple[str, ...],
                file: Path) -> tuple[str | None, str | None]:
    """``(strata_of, subgroup)`` of one outcome table (both None when absent). ``strata_of`` must be another
    outcome of the outcomes file and ``subgroup`` a column of it with a level in every row of this outcome."""
    strata_of = r.get(spec, p, "strata_of", str, default=None, valid="the name of an outcome of the outcomes file")
    subgroup = r.get(spec, p, "subgroup", str, default=None, valid="a column of the outcomes file")
    if strata_of is None and subgroup is None:
        return None, None
    if strata_of is None or subgroup is None:
        given, other = ("strata_of", "subgroup") if subgroup is None else ("subgroup", "strata_of")
        raise r.fail(f"{p}.{other}", f"missing: {p}.{given} needs it",
                     'both, e.g. strata_of = "MACE" and subgroup = "ascvd"')
    others = [o for o in outcome_names if o != name]
    if strata_of == name or strata_of not in outcome_names:
        why = "is this outcome" if strata_of == name else f"has no rows in {file.name}"
        raise r.fail(f"{p}.strata_of", f"outcome {strata_of!r} {why}", ", ".join(others) or "another outcome")
    from bayesmeta.data import first_blank_row, outcome_rows

    rows = outcome_rows(file, name)
    if subgroup not in rows.columns:
        raise r.fail(f"{p}.subgroup", f"column {subgroup!r} is not in {file.name}", ", ".join(rows.columns))
    blank = first_blank_row(rows, [subgroup])
    if blank is not None:
        raise r.fail(f"{p}.subgroup", f"study {blank[0]} (row {blank[1]} of {file.name}) has no {subgroup}",
                     f"a level of {subgroup} in every row of outcome {name}")
    return strata_of, subgroup


def check_strata_targets(r: Any, outcomes: tuple[Any, ...]) -> None:
    """Every ``strata_of`` names an outcome of the plan (its published subgroup rows are the plan's)."""
    names = tuple(o.name for o in outcomes)
    for o in outcomes:
        if o.strata_of is not None and o.strata_of not in names:
            raise r.fail(f"outcomes.{o.name}.strata_of", f"outcome {o.strata_of!r} is not in the plan",
                         f"an outcome of the plan ({', '.join(n for n in names if n != o.name)}), or add "
                         f"[outcomes.{o.strata_of}]")


def strata_lines(rows: pd.DataFrame, name: str, published: pd.DataFrame | None) -> list[str]:
    """``bayesmeta init``'s guess, as CHECK lines of outcome ``name``'s table: its rows are within-trial strata of
    another outcome when a published ``subgroup`` row of that outcome names (case ignored) a column of these rows
    that has a level in every row."""
    from bayesmeta.data import blank_cells

    if published is None or not len(rows):
        return []
    subgroup = published[(published["analysis"] == "subgroup") & (published["outcome"] != name)]
    for outcome, variable in dict.fromkeys(zip(subgroup["outcome"].astype(str), subgroup["variable"].astype(str))):
        column = next((c for c in rows.columns if str(c).casefold() == variable.strip().casefold()), None)
        if column is not None and not blank_cells(rows[column]).any():
            return [f'strata_of = "{outcome}"   # CHECK: rows are {outcome} within trials by {variable} (a row per '
                    f"trial and stratum): the published {variable} rows of {outcome} are recomputed from them",
                    f'subgroup = "{column}"']
    return []
