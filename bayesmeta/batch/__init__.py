"""Many meta-analyses at once: a long table (one row per study, a group column) reanalysed under several prior
sets on dask.distributed, with the frequentist fits beside, error rows for unreadable meta-analyses and resumable
partitions (:func:`run_batch`); and the calibration study of the engines (:mod:`bayesmeta.batch.calibration`)."""

from bayesmeta.batch.fit import fit_partition
from bayesmeta.batch.frequentist import fit_frequentist, tau2_dl, tau2_reml
from bayesmeta.batch.run import BatchOptions, BatchSummary, process_partition, run_batch

__all__ = [
    "BatchOptions",
    "BatchSummary",
    "fit_frequentist",
    "fit_partition",
    "process_partition",
    "run_batch",
    "tau2_dl",
    "tau2_reml",
]
