"""Deterministic integration of a model's un-normalised posterior over its few continuous parameters: a tensor
Gauss-Legendre rule on a box found by scanning where the integrand's slices hold more than exp(-drop) of its mass
(refined until the box settles), with the error estimated from a second, coarser rule (|I_n - I_{2n/3}|, which
bounds the error of the finer rule when the rule converges; Davis & Rabinowitz 1984, ch. 2.7)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from bayesmeta.errors import ModelError

LogIntegrand = Callable[..., np.ndarray]


@lru_cache(maxsize=64)
def _legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(n)
    return (x + 1.0) / 2.0, w / 2.0


def logsumexp(a: np.ndarray, axis: int | tuple[int, ...] | None = None) -> np.ndarray | float:
    """log sum exp(a) over ``axis`` (scipy's, without its argument handling, which dominates on small arrays)."""
    a = np.asarray(a, dtype=float)
    top = np.max(a, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - top), axis=axis, keepdims=True)) + top
    return float(out.ravel()[0]) if axis is None else np.squeeze(out, axis=axis)


@dataclass(frozen=True)
class Integral:
    """log of the integral, its error estimate (on the log scale, i.e. relative), the rule's nodes per dimension
    and log(integrand x weight) on the tensor grid (for the posterior of each coordinate)."""

    log_value: float
    log_error: float
    nodes: tuple[np.ndarray, ...]
    log_mass: np.ndarray
    log_weights: tuple[np.ndarray, ...] = ()


def _grid(bounds: Sequence[tuple[float, float]], n: Sequence[int]) -> tuple[list[np.ndarray], np.ndarray]:
    coords, logw = [], np.zeros(())
    d = len(bounds)
    for j, ((lo, hi), m) in enumerate(zip(bounds, n)):
        x, w = _legendre(int(m))
        shape = [1] * d
        shape[j] = int(m)
        coords.append((lo + (hi - lo) * x).reshape(shape))
        logw = logw + np.log(w * (hi - lo)).reshape(shape)
    return coords, logw


def _evaluate(logf: LogIntegrand, coords: list[np.ndarray]) -> np.ndarray:
    shape = np.broadcast_shapes(*(c.shape for c in coords))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        out = np.broadcast_to(np.asarray(logf(*coords), dtype=float), shape)
    return np.where(np.isnan(out), -np.inf, out)


def bracket(logf: LogIntegrand, wide: Sequence[tuple[float, float]], scan: int = 17, drop: float = 35.0,
            rounds: int = 6, trim: bool = False) -> list[tuple[float, float]]:
    """The box (within ``wide``) outside which each coordinate's slices hold less than exp(-drop) of the mass, by
    tensor scans of ``scan`` points per dimension, each inside the previous box (padded by one scan cell each
    side while it shrinks; ``trim``: the settled box without that pad, for rules whose accuracy depends on the
    box's width in units of the integrand's scale)."""
    box = [tuple(map(float, b)) for b in wide]
    d = len(box)
    for _ in range(rounds):
        coords, edges = [], []
        for j, (lo, hi) in enumerate(box):
            e = np.linspace(lo, hi, scan + 1)
            shape = [1] * d
            shape[j] = scan
            coords.append(((e[:-1] + e[1:]) / 2).reshape(shape))
            edges.append(e)
        vals = _evaluate(logf, coords)
        top = float(np.max(vals))
        if not np.isfinite(top):
            raise ModelError("the posterior density vanishes everywhere on the integration box")
        new, tight = [], []
        top = float(logsumexp(vals))
        for j in range(d):
            # the marginal mass per slice (not the profile): a long thin ridge carries no mass
            prof = logsumexp(vals, axis=tuple(a for a in range(d) if a != j))
            idx = np.flatnonzero(prof > top - drop)
            i0, i1 = max(idx[0] - 1, 0), min(idx[-1] + 2, scan)
            new.append((float(edges[j][i0]), float(edges[j][i1])))
            # the tight box keeps the pad where the edge slice itself still holds mass (the scan stopped there)
            t0 = idx[0] if idx[0] > 0 else 0
            t1 = idx[-1] + 1 if idx[-1] < scan - 1 else scan
            tight.append((float(edges[j][t0]), float(edges[j][t1])))
        settled = all((h1 - l1) > 0.9 * (h0 - l0) for (l0, h0), (l1, h1) in zip(box, new))
        box = new
        if settled:
            return tight if trim else box
    return box


def integrate(logf: LogIntegrand, wide: Sequence[tuple[float, float]], n: Sequence[int] | int = 48,
              scan: int = 17, drop: float = 35.0, box: Sequence[tuple[float, float]] | None = None,
              trim: bool = False, error: bool = True) -> Integral:
    """log int exp(logf) over the box (module docstring); ``logf`` takes one broadcastable array per dimension.
    ``box``: a box already found by :func:`bracket` for this integrand (rules of several sizes share it);
    ``error=False``: no coarser rule (log_error is NaN), for a rule wanted only for its nodes."""
    d = len(wide)
    if d == 0:
        value = float(np.asarray(logf()))
        return Integral(value, 0.0, (), np.array(value))
    nn = [int(n)] * d if np.isscalar(n) else [int(m) for m in n]  # type: ignore[arg-type]
    box = list(box) if box is not None else bracket(logf, wide, scan=scan, drop=drop, trim=trim)
    coords, logw = _grid(box, nn)
    mass = _evaluate(logf, coords) + logw
    fine = float(logsumexp(mass))
    if error:
        coarse_c, coarse_w = _grid(box, [max(2 * m // 3, 2) for m in nn])
        coarse = float(logsumexp(_evaluate(logf, coarse_c) + coarse_w))
    else:
        coarse = math.nan
    if not np.isfinite(fine):
        raise ModelError("the marginal likelihood underflows on every quadrature node")
    weights = tuple(np.log(_legendre(m)[1] * (hi - lo)) for m, (lo, hi) in zip(nn, box))
    return Integral(fine, abs(fine - coarse), tuple(c.ravel() for c in coords), mass, weights)

