"""The model space of the bias ensembles: one typed record per model, the step weight functions, and the named
ensembles ("metabma": Gronau et al. 2017 / metaBMA; "psma": RoBMA-PSMA, Bartos et al. 2022, Res Synth Methods).

A model is effect absent/present (mu = 0 or mu ~ prior) x heterogeneity absent/present (tau = 0 or tau ~ prior) x
bias: none, PET (y_i ~ N(mu + b se_i, se_i^2 + tau^2)), PEESE (mu + b se_i^2), or a step-function selection model
on p-values (weight omega_j for a study whose p-value lies in interval j; Vevea & Hedges 1995).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bayesmeta.errors import ModelError

BIAS_KINDS = ("none", "PET", "PEESE", "selection")


@dataclass(frozen=True)
class WeightFunction:
    """A step weight function: cut-offs on one-sided p-values (p = 1 - Phi(y/se)), or on two-sided p-values
    (p = 2 (1 - Phi(|y|/se))) when ``sided == "two"``. The interval of the smallest p-values has weight 1; the
    others have weights 1 >= omega_2 >= ... >= omega_J with the cumulative Dirichlet prior of RoBMA (Maier et al.
    2022, Psychol Methods): eta ~ Dirichlet(alpha), omega_J = eta_1, omega_{J-1} = eta_1 + eta_2, ...,
    omega_1 = 1."""

    sided: str
    cutoffs: tuple[float, ...]
    alpha: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.sided not in ("one", "two"):
            raise ModelError(f"a weight function is 'one'- or 'two'-sided, got {self.sided!r}")
        cuts = tuple(float(c) for c in self.cutoffs)
        if not cuts or any(not 0 < c < 1 for c in cuts) or list(cuts) != sorted(set(cuts)):
            raise ModelError(f"weight-function cut-offs must be increasing numbers in (0, 1), got {self.cutoffs}")
        object.__setattr__(self, "cutoffs", cuts)
        alpha = tuple(float(a) for a in self.alpha) or (1.0,) * (len(cuts) + 1)
        if len(alpha) != len(cuts) + 1 or any(not a > 0 for a in alpha):
            raise ModelError(f"a weight function with {len(cuts)} cut-off(s) needs {len(cuts) + 1} positive "
                             f"Dirichlet alphas, got {self.alpha}")
        object.__setattr__(self, "alpha", alpha)

    @property
    def intervals(self) -> int:
        return len(self.cutoffs) + 1

    @property
    def label(self) -> str:
        """'one-sided (0.025, 0.05)'; a Dirichlet prior other than RoBMA's all-ones default is named too, so that
        two models of a user ensemble differing only in it keep distinct names."""
        text = f"{self.sided}-sided ({', '.join(f'{c:g}' for c in self.cutoffs)})"
        if any(a != 1.0 for a in self.alpha):
            text += f" alpha ({', '.join(f'{a:g}' for a in self.alpha)})"
        return text


# RoBMA-PSMA's six weight functions (set_default_priors("bias"))
ROBMA_WEIGHT_FUNCTIONS = (
    WeightFunction("two", (0.05,)),
    WeightFunction("two", (0.05, 0.10)),
    WeightFunction("one", (0.05,)),
    WeightFunction("one", (0.025, 0.05)),
    WeightFunction("one", (0.05, 0.5)),
    WeightFunction("one", (0.025, 0.05, 0.5)),
)


@dataclass(frozen=True)
class ModelSpec:
    """One model of an ensemble, with its prior model probability (unnormalised weight, >= 0: a model of weight 0
    is fitted and listed with posterior probability 0, as RoBMA's ``prior_weights``)."""

    effect: bool
    heterogeneity: bool
    bias: str = "none"
    weights: WeightFunction | None = None
    prior_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.bias not in BIAS_KINDS:
            raise ModelError(f"unknown bias component {self.bias!r} (valid: {', '.join(BIAS_KINDS)})")
        if (self.bias == "selection") != (self.weights is not None):
            raise ModelError("a selection model needs a weight function, and only a selection model has one")
        if not self.prior_weight >= 0 or self.prior_weight == float("inf"):
            raise ModelError(f"a prior model weight must be a finite number >= 0, got {self.prior_weight}")

    @property
    def bias_label(self) -> str:
        return self.weights.label if self.weights is not None else self.bias

    @property
    def name(self) -> str:
        return (f"{'H1' if self.effect else 'H0'} {'RE' if self.heterogeneity else 'FE'} "
                f"{self.bias_label}")


@dataclass(frozen=True)
class Ensemble:
    """A named list of models; prior model probabilities are the normalised ``prior_weight`` (RoBMA's
    ``prior_weights``: relative weights, 1 each unless given, so models without one split the mass equally)."""

    name: str
    models: tuple[ModelSpec, ...] = field(default_factory=tuple)

    def prior_probabilities(self) -> list[float]:
        total = sum(m.prior_weight for m in self.models)
        if not total > 0:
            raise ModelError("the prior model weights of an ensemble sum to 0; give at least one a positive weight")
        return [m.prior_weight / total for m in self.models]


def _crossed(bias_specs: Sequence[tuple[str, WeightFunction | None, float]]) -> tuple[ModelSpec, ...]:
    return tuple(ModelSpec(effect, het, kind, wf, w / 4.0)
                 for kind, wf, w in bias_specs for effect in (False, True) for het in (False, True))


def metabma_ensemble() -> Ensemble:
    """FE/RE x H0/H1, equal prior probabilities (Gronau et al. 2017; metaBMA's ``meta_bma``)."""
    return Ensemble("metabma", _crossed([("none", None, 1.0)]))


def psma_ensemble() -> Ensemble:
    """RoBMA-PSMA (Bartos et al. 2022): 36 models; no bias 1/2, the six weight functions 1/24 each, PET and PEESE
    1/8 each, each crossed with effect and heterogeneity absent/present at 1/2 each."""
    specs = [("none", None, 0.5)]
    specs += [("selection", wf, 0.25 / len(ROBMA_WEIGHT_FUNCTIONS)) for wf in ROBMA_WEIGHT_FUNCTIONS]
    specs += [("PET", None, 0.125), ("PEESE", None, 0.125)]
    return Ensemble("psma", _crossed(specs))


def pet_peese_ensemble() -> Ensemble:
    """Effect and heterogeneity absent/present (1/2 each) crossed with no bias (1/2), PET (1/4) and PEESE (1/4):
    RoBMA-PSMA's prior odds of bias without its selection models (Bartos et al. 2022); 12 models, all by the
    deterministic rule (the report's default, ``[bias] ensemble = "pet-peese"``)."""
    return Ensemble("pet-peese", _crossed([("none", None, 0.5), ("PET", None, 0.25), ("PEESE", None, 0.25)]))


ENSEMBLES = {"pet-peese": pet_peese_ensemble, "metabma": metabma_ensemble, "psma": psma_ensemble}


def model_from_mapping(spec: Mapping[str, object]) -> ModelSpec:
    """A ModelSpec from a plan-style table: ``effect`` and ``heterogeneity`` (bools, default true), ``bias`` (none,
    PET, PEESE, selection; default none), for selection ``sided`` (one, two; default one) and ``cutoffs`` (default
    [0.05]) and optional ``alpha``, optional ``prior_weight`` (default 1, relative; see :class:`Ensemble`).
    The plan's ``[[bias.models]]`` tables and ``bayesmeta bias --models`` are validated key by key by
    :func:`bayesmeta.plan.parse_bias_models` and then built here."""
    unknown = set(spec) - {"effect", "heterogeneity", "bias", "sided", "cutoffs", "alpha", "prior_weight"}
    if unknown:
        raise ModelError(f"unknown model key(s) {', '.join(sorted(unknown))} (valid: effect, heterogeneity, bias, "
                         "sided, cutoffs, alpha, prior_weight)")
    bias = str(spec.get("bias", "none"))
    wf = None
    if bias == "selection":
        cutoffs = tuple(spec.get("cutoffs", (0.05,)))  # type: ignore[arg-type]
        alpha = tuple(spec.get("alpha", ()))  # type: ignore[arg-type]
        wf = WeightFunction(str(spec.get("sided", "one")), cutoffs, alpha)
    return ModelSpec(bool(spec.get("effect", True)), bool(spec.get("heterogeneity", True)), bias, wf,
                     float(spec.get("prior_weight", 1.0)))  # type: ignore[arg-type]


def get_ensemble(ensemble: str | Ensemble | Sequence[ModelSpec | Mapping[str, object]]) -> Ensemble:
    """A named ensemble ("pet-peese", "metabma", "psma"), an Ensemble, or a user-defined list of ModelSpec /
    mappings."""
    if isinstance(ensemble, Ensemble):
        return ensemble
    if isinstance(ensemble, str):
        if ensemble not in ENSEMBLES:
            raise ModelError(f"unknown ensemble {ensemble!r} (valid: {', '.join(ENSEMBLES)})")
        return ENSEMBLES[ensemble]()
    models = tuple(m if isinstance(m, ModelSpec) else model_from_mapping(m) for m in ensemble)
    if not models:
        raise ModelError("a user-defined ensemble needs at least one model")
    return Ensemble("custom", models)
