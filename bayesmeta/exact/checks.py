"""Input validation and the propriety of the posterior (refuse what cannot be fitted, never return a number)."""

from __future__ import annotations

import math

import numpy as np

from bayesmeta.errors import InputError, ModelError
from bayesmeta.priors import Prior


def check_data(y: np.ndarray, sei: np.ndarray, mask: np.ndarray) -> None:
    """y and sei finite and sei > 0 wherever a study is present (rows of a batch are datasets)."""
    if y.shape != sei.shape or y.shape != mask.shape:
        raise InputError(f"y, sei and mask must have one shape, got {y.shape}, {sei.shape} and {mask.shape}")
    for name, values, ok in (
        ("yi", y, np.isfinite(y)),
        ("sei", sei, np.isfinite(sei) & (sei > 0)),
    ):
        bad = mask & ~ok
        if bad.any():
            row, col = np.argwhere(bad)[0]
            where = f"dataset {row + 1}, " if y.shape[0] > 1 else ""
            valid = "a finite number" if name == "yi" else "a positive finite number"
            raise InputError(
                f"{where}study {col + 1}: {name} is {values[row, col]!r}", row=int(col) + 2, column=name, valid=valid
            )
    empty = np.flatnonzero(mask.sum(axis=1) == 0)
    if empty.size:
        raise InputError(f"dataset {empty[0] + 1} has no studies")


def check_proper(k: int, n_flat: int, tau_prior: Prior, mu_prior: Prior) -> None:
    """Refuse an improper posterior.

    As tau -> inf the (restricted) likelihood p(y | tau) behaves like tau^-(k - p_flat), p_flat the number of
    coefficients with a flat prior, and is bounded as tau -> 0. With a tau prior decaying like tau^-a the posterior
    of tau is proper iff a + k - p_flat > 1. So: any proper tau prior works for k >= p_flat; the improper
    uniform(0, inf) (a = 0) needs k >= p_flat + 2, e.g. k >= 3 with a flat prior on mu (the condition Gelman 2006,
    Bayesian Anal 1:515, states for the uniform prior on the group-level sd); the Jeffreys prior (a = 1) needs
    k >= p_flat + 1. R bayesmeta accepts improper priors and leaves propriety to the user (its documentation:
    the posterior "may or may not be a proper probability distribution"); here such fits are refused."""
    if k < n_flat:
        raise ModelError(
            f"{n_flat} coefficient(s) have flat priors but there are only {k} studies; give them normal priors "
            "or drop covariates"
        )
    if tau_prior.proper:
        return
    a = tau_prior.tail_exponent()
    if a + k - n_flat > 1:
        return
    k_min = math.floor(1 - a + n_flat) + 1
    flat_note = "a flat prior on mu" if mu_prior.text == "flat" else f"{n_flat} flat coefficient(s)"
    raise ModelError(
        f"improper posterior: with the improper tau prior {tau_prior.text} and {flat_note}, the posterior is "
        f"proper only for k >= {k_min} studies (here k = {k}); use a proper tau prior such as halfnormal(0.5)"
        + (" or a normal prior on mu" if n_flat else "")
    )
