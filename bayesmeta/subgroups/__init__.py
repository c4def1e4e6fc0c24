"""Subgroups from published subgroup estimates: each subgroup's effect and the ratio of effects between subgroups,
with partial pooling across the levels of a characteristic (exact normal-normal model) and without it.

- :func:`read_subgroup_table`: a table of published subgroup rows -> :class:`SubgroupTable`;
- :func:`analyse_subgroups`: -> :class:`SubgroupAnalysis` (records per characteristic, level and contrast).
"""

from bayesmeta.subgroups.analysis import (
    INDEPENDENCE,
    CharacteristicResult,
    SubgroupAnalysis,
    SubgroupContrast,
    SubgroupEffect,
    Summary,
    analyse_characteristic,
    analyse_subgroups,
)
from bayesmeta.subgroups.table import SubgroupRow, SubgroupTable, read_subgroup_table

__all__ = [
    "INDEPENDENCE",
    "CharacteristicResult",
    "SubgroupAnalysis",
    "SubgroupContrast",
    "SubgroupEffect",
    "SubgroupRow",
    "SubgroupTable",
    "Summary",
    "analyse_characteristic",
    "analyse_subgroups",
    "read_subgroup_table",
]
