"""Gaussian algebra of the normal-normal hierarchical model for a given tau (Roever 2020, sec. 2; Roever & Friede
2022 for the meta-regression).

Model: y_i ~ N(x_i'b + u_i, s_i^2), u_i ~ N(0, tau^2), b ~ N(b0, diag(v)) with v_j = inf for flat components.
With W = diag(1 / (s_i^2 + tau^2)) and prior precision P0 = diag(1/v):

- b | tau, y ~ N(m, A^-1), A = X'WX + P0, m = A^-1 (X'Wy + P0 b0);
- log p(y | tau) = -(k - p_flat)/2 log(2 pi) - 1/2 log|S_tau| + 1/2 sum_proper log P0_j - 1/2 log|A| - Q/2,
  Q = sum_i W_ii (y_i - x_i'm)^2 + (m - b0)' P0 (m - b0): the marginal likelihood N(y; X b0, S_tau + X B0 X')
  when every component of b has a normal prior, and the restricted likelihood (up to a constant) for flat ones;
- theta_i | tau, y ~ N((1 - B_i) y_i + B_i x_i'm, s_i^2 (1 - B_i) + B_i^2 x_i'A^-1 x_i), B_i = s_i^2/(s_i^2 + tau^2).

Everything is vectorised over n datasets (rows; absent studies masked out) and M values of tau per dataset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_LOG_2PI = math.log(2.0 * math.pi)
BLOCK_CELLS = 2_000_000
"""Most numbers (datasets x tau values x studies) in one block of :meth:`GaussianModel.conditional` (16 MB each
work array)."""
STUDIES_MIDDLE_CELLS = 4_000
"""From this many numbers on, the intercept-only model's algebra runs with the studies on the middle axis (see
:meth:`GaussianModel._intercept_only_wide`); below, the fixed cost of its extra steps exceeds the saving."""
CHUNK_CELLS = 40_000
"""Numbers (datasets x tau values x studies) per chunk of :meth:`GaussianModel._intercept_only_wide`: 320 kB per
work array, within a core's cache."""
_PROD_MIN = 1e-280  # log|S_tau| as the log of a product only while the product is a normal float


@dataclass(frozen=True)
class Conditional:
    """Moments of b | tau, y at tau of shape (n, M): mean (n, M, p), cov (n, M, p, p), loglik (n, M)."""

    tau: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    loglik: np.ndarray


class GaussianModel:
    """n datasets sharing a design X (k x p, intercept first); y, s2, mask (n, k); prior mean and precision of b
    (n, p), precision 0 for a flat component."""

    def __init__(
        self,
        y: np.ndarray,
        s2: np.ndarray,
        mask: np.ndarray,
        design: np.ndarray,
        prior_mean: np.ndarray,
        prior_prec: np.ndarray,
    ) -> None:
        self.mask = np.asarray(mask, dtype=bool)
        self.y = np.where(self.mask, y, 0.0)
        self.s2 = np.where(self.mask, s2, 1.0)
        self.design = np.asarray(design, dtype=float)
        self.prior_mean = np.asarray(prior_mean, dtype=float)
        self.prior_prec = np.asarray(prior_prec, dtype=float)
        self.p = self.design.shape[1]
        self._complete = bool(self.mask.all())  # no study absent: no masking needed
        self._maskf = self.mask.astype(float)
        self._intercept_only = self.p == 1 and bool(np.all(self.design[:, 0] == 1.0))
        self.k_eff = self.mask.sum(axis=1)
        proper = self.prior_prec > 0
        self.p_flat = np.sum(~proper, axis=1)
        with np.errstate(divide="ignore"):
            self._const = -0.5 * (self.k_eff - self.p_flat) * _LOG_2PI + 0.5 * np.sum(
                np.where(proper, np.log(self.prior_prec), 0.0), axis=1
            )

    def subset(self, rows: np.ndarray) -> GaussianModel:
        return GaussianModel(
            self.y[rows], self.s2[rows], self.mask[rows], self.design, self.prior_mean[rows], self.prior_prec[rows]
        )

    def _weights(self, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        v = self.s2[:, None, :] + (tau * tau)[..., None]
        if self._complete:
            return 1.0 / v, np.log(v).sum(axis=-1)
        w = np.where(self.mask[:, None, :], 1.0 / v, 0.0)
        logdet = np.sum(np.where(self.mask[:, None, :], np.log(v), 0.0), axis=-1)
        return w, logdet

    def conditional(self, tau: np.ndarray) -> Conditional:
        """Moments of b | tau, y and log p(y | tau) for tau of shape (n, M).

        The work arrays hold n x M x k numbers; beyond :data:`BLOCK_CELLS` the tau values are taken in blocks of
        columns, so that memory stays bounded when both the number of values and of studies are large (draws of
        thousands of studies, leave-one-out batches)."""
        tau = np.asarray(tau, dtype=float)
        n, m = tau.shape
        block = max(1, BLOCK_CELLS // max(1, n * self.y.shape[1]))
        if m <= block:
            return self._conditional(tau)
        parts = [self._conditional(tau[:, j : j + block]) for j in range(0, m, block)]
        return Conditional(tau=tau, mean=np.concatenate([c.mean for c in parts], axis=1),
                           cov=np.concatenate([c.cov for c in parts], axis=1),
                           loglik=np.concatenate([c.loglik for c in parts], axis=1))

    def _conditional(self, tau: np.ndarray) -> Conditional:
        if self._intercept_only and tau.size * self.y.shape[1] >= STUDIES_MIDDLE_CELLS:
            return self._intercept_only_wide(tau)
        w, logdet_v = self._weights(tau)
        y = self.y[:, None, :]
        b0, p0 = self.prior_mean[:, None, :], self.prior_prec[:, None, :]
        if self._intercept_only:
            p0, b0 = p0[..., 0], b0[..., 0]
            a = w.sum(axis=-1) + p0
            mean = ((w * y).sum(axis=-1) + p0 * b0) / a
            resid = y - mean[..., None]
            quad = (w * resid * resid).sum(axis=-1) + p0 * (mean - b0) ** 2
            loglik = self._const[:, None] - 0.5 * (logdet_v + np.log(a) + quad)
            return Conditional(tau=tau, mean=mean[..., None], cov=(1.0 / a)[..., None, None], loglik=loglik)
        if self.p == 1:
            x = self.design[:, 0]
            a = np.sum(w * x * x, axis=-1) + p0[..., 0]
            r = np.sum(w * x * y, axis=-1) + p0[..., 0] * b0[..., 0]
            mean = (r / a)[..., None]
            cov = (1.0 / a)[..., None, None]
            logdet_a = np.log(a)
            fitted = mean * x
        else:
            x = self.design
            outer = x[:, :, None] * x[:, None, :]
            a = np.tensordot(w, outer, axes=([2], [0])) + p0[..., None] * np.eye(self.p)
            r = (w * y) @ x + p0 * b0
            chol = np.linalg.cholesky(a)
            cov = np.linalg.inv(a)
            mean = np.einsum("nmij,nmj->nmi", cov, r)
            logdet_a = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
            fitted = mean @ x.T
        quad = np.sum(w * (y - fitted) ** 2, axis=-1) + np.sum(p0 * (mean - b0) ** 2, axis=-1)
        loglik = self._const[:, None] - 0.5 * (logdet_v + logdet_a + quad)
        return Conditional(tau=tau, mean=mean, cov=cov, loglik=loglik)

    def _intercept_only_wide(self, tau: np.ndarray) -> Conditional:
        """The intercept-only branch of :meth:`_conditional` with the studies on the middle axis, (n, k, M): the
        sums over studies then add contiguous rows of M values (numpy reduces a short last axis several times
        more slowly), sum_i w_i y_i is a batched matrix product, and log|S_tau| is the log of the product of the
        variances, taking logs one by one only where that product leaves the normal range of doubles. Datasets
        are taken in chunks of about :data:`CHUNK_CELLS` numbers, so that the work arrays stay in the processor's
        cache. Same formulas; results agree with the other layout to rounding (1e-15 relative)."""
        n, m = tau.shape
        mean, a, loglik = np.empty((n, m)), np.empty((n, m)), np.empty((n, m))
        rows = max(1, CHUNK_CELLS // max(1, m * self.y.shape[1]))
        for i in range(0, n, rows):
            part = slice(i, min(n, i + rows))
            mean[part], a[part], loglik[part] = self._intercept_only_chunk(tau[part], part)
        return Conditional(tau=tau, mean=mean[..., None], cov=(1.0 / a)[..., None, None], loglik=loglik)

    def _intercept_only_chunk(self, tau: np.ndarray, part: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean, A, log p(y | tau)) of the datasets ``part`` (see :meth:`_intercept_only_wide`)."""
        s2, y, mask = self.s2[part], self.y[part], self.mask[part]
        v = s2[:, :, None] + (tau * tau)[:, None, :]
        w = 1.0 / v
        if not self._complete:
            w *= self._maskf[part, :, None]
        with np.errstate(over="ignore", under="ignore"):
            prod = np.prod(v if self._complete else np.where(mask[:, :, None], v, 1.0), axis=1)
        bad = ~((prod > _PROD_MIN) & (prod < np.inf))
        logdet_v = np.log(np.where(bad, 1.0, prod))
        if bad.any():
            rows, cols = np.nonzero(bad)
            logdet_v[rows, cols] = np.where(mask[rows], np.log(v[rows, :, cols]), 0.0).sum(axis=-1)
        p0, b0 = self.prior_prec[part, 0, None], self.prior_mean[part, 0, None]
        a = w.sum(axis=1) + p0
        mean = ((y[:, None, :] @ w)[:, 0, :] + p0 * b0) / a
        resid = y[:, :, None] - mean[:, None, :]
        w *= resid
        w *= resid
        quad = w.sum(axis=1) + p0 * (mean - b0) ** 2
        return mean, a, self._const[part, None] - 0.5 * (logdet_v + np.log(a) + quad)

    def loglik(self, tau: np.ndarray) -> np.ndarray:
        return self.conditional(tau).loglik

    def theta_moments(self, cond: Conditional) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of theta_i | tau, y (b integrated out), each (n, M, k)."""
        t2 = (cond.tau * cond.tau)[..., None]
        v = self.s2[:, None, :] + t2
        shrink = self.s2[:, None, :] / v
        if self._intercept_only:  # x_i = 1: x_i'm = m, x_i'A^-1 x_i = 1/A
            fitted, spread = cond.mean[..., :1], cond.cov[..., 0, :1]
        else:
            x = self.design
            fitted = np.einsum("ki,nmi->nmk", x, cond.mean)
            spread = np.einsum("ki,nmij,kj->nmk", x, cond.cov, x)
        mean = (t2 / v) * self.y[:, None, :] + shrink * fitted
        var = self.s2[:, None, :] * t2 / v + shrink * shrink * spread
        return mean, var
