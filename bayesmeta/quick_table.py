"""The simplest effect table read without pandas: the command line's exact fit pays no 0.5-1 s pandas import.

:func:`read_plain_effects` reads a CSV whose header is exactly a study column (``study`` or ``study_id``), ``yi``
and ``sei`` (or ``vi``), and optionally ``measure``, every cell a plain decimal number (or label), with the
standard library's ``csv`` module. It returns the :class:`~bayesmeta.effect_data.EffectData` that
:func:`bayesmeta.tables.read_effect_table` returns for that file (with ``covariates=None`` where the full reader
holds an empty frame: such a table has no other column), or None for anything else -- another form, other
columns, a quote or line break inside a cell, a blank or ragged row, a cell that is not a plain number, a
duplicate or blank study, an effect outside its plausible range -- which the full reader then reads, or rejects
with its located error. Numbers are parsed by ``float``, which agrees bit for bit with ``pandas.to_numeric`` on
plain decimal text.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

import numpy as np

from bayesmeta.benefit import Benefit
from bayesmeta.effect_data import EffectData
from bayesmeta.plausible import table_problems
from bayesmeta.scales import MEASURES

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_HEADERS = {
    frozenset(cols) | extra
    for study in ("study", "study_id")
    for se in ("sei", "vi")
    for cols in [(study, "yi", se)]
    for extra in (frozenset(), frozenset({"measure"}))
}


def _numbers(cells: list[str]) -> list[float] | None:
    if not all(_NUMBER.fullmatch(c) for c in cells):
        return None
    values = [float(c) for c in cells]
    return values if all(math.isfinite(v) for v in values) else None


def read_plain_effects(path: str | Path, measure: str | None = None, *,
                       benefit: Benefit | str = Benefit.BELOW) -> EffectData | None:
    """The EffectData of a plain ``study, yi, sei|vi[, measure]`` table (module docstring), else None."""
    file = str(path)
    try:
        with open(file, encoding="utf-8-sig", newline="") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError):
        return None
    if "\0" in text:
        return None
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), skipinitialspace=True))
    except csv.Error:
        return None
    # whole quoted cells (as R's write.csv writes them) read alike; a quote or line break left inside a cell is
    # where CSV readers differ, so such tables go to the full reader
    if any('"' in cell or "\n" in cell or "\r" in cell for row in rows for cell in row):
        return None
    if len(rows) < 2:
        return None
    header = [c.strip() for c in rows[0]]
    if len(set(header)) != len(header) or frozenset(header) not in _HEADERS:
        return None
    if any(len(row) != len(header) for row in rows[1:]):
        return None
    columns = {name: [row[i].strip() for row in rows[1:]] for i, name in enumerate(header)}

    studies = columns["study"] if "study" in columns else columns["study_id"]
    if any(s == "" for s in studies) or len(set(studies)) != len(studies):
        return None
    if measure is not None:
        measure = str(measure).strip().upper()
        if measure not in MEASURES:
            return None
    else:
        named = {m.upper() for m in columns.get("measure", []) if m != ""}
        if len(named) > 1 or not named <= set(MEASURES):
            return None
        measure = named.pop() if named else None
    if "measure" in columns and any(m != "" and m.upper() not in MEASURES for m in columns["measure"]):
        return None
    measure = measure or "GEN"

    yi = _numbers(columns["yi"])
    spread = _numbers(columns["sei"] if "sei" in columns else columns["vi"])
    if yi is None or spread is None or any(v <= 0 for v in spread):
        return None
    yi_array = np.array(yi, dtype=float)
    sei = np.array(spread, dtype=float)
    if "vi" in columns:
        sei = np.sqrt(sei)
    if table_problems(yi_array, sei, measure):
        return None
    return EffectData(study=tuple(studies), yi=yi_array, sei=sei, measure=measure,
                      method=("given",) * len(studies), source=file, benefit=Benefit.parse(benefit))
