"""Figures: each module draws one kind of figure from tables the analysis modules computed.

Plot functions take plain data (DataFrames, arrays, result objects' tables) and return a matplotlib Figure;
they compute no statistics.
"""

import matplotlib

matplotlib.use("Agg")
