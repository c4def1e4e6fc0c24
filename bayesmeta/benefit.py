"""The direction of benefit: on which side of the null a treatment effect favours the treatment arm.

One type, :class:`Benefit`, says it everywhere (plan key ``benefit``, CLI option ``--benefit``, JSON ``benefit``):
``below`` when effects below the null favour the treatment (a hazard ratio of death below 1, a mean
difference in pain below 0), ``above`` when effects above it do (a risk ratio of response above 1).
"""

from __future__ import annotations

from enum import Enum

from bayesmeta.errors import InputError


class Benefit(str, Enum):
    """Side of the null on which an effect favours the treatment arm."""

    BELOW = "below"
    ABOVE = "above"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @classmethod
    def parse(cls, value: "Benefit | str", *, where: str | None = None) -> "Benefit":
        """A Benefit from 'below'/'above' (case-insensitive) or a Benefit; InputError otherwise."""
        if isinstance(value, Benefit):
            return value
        text = str(value).strip().lower()
        for member in cls:
            if member.value == text:
                return member
        prefix = f"{where}: " if where else ""
        raise InputError(f"{prefix}unknown direction of benefit {value!r}", valid="below, above")

    @property
    def below(self) -> bool:
        """True when benefit lies below the null."""
        return self is Benefit.BELOW

    @property
    def sign(self) -> str:
        """'<' for benefit below the null, '>' above."""
        return "<" if self.below else ">"

    @property
    def opposite_sign(self) -> str:
        """'>' for benefit below the null, '<' above: the side of harm."""
        return ">" if self.below else "<"

    def favours(self, value: float, reference: float) -> bool:
        """True when ``value`` lies strictly on the benefit side of ``reference``."""
        return value < reference if self.below else value > reference

    def most_demanding(self, thresholds: tuple[float, ...] | list[float]) -> float:
        """The threshold farthest on the benefit side (the smallest below, the largest above)."""
        return min(thresholds) if self.below else max(thresholds)

    def probability(self, posterior: object, threshold: float, param: str = "mu") -> float:
        """P(effect beyond ``threshold`` on the benefit side), threshold on the reported scale, from any object
        with ``prob_below``/``prob_above`` (a :class:`~bayesmeta.posterior.Posterior`)."""
        if self.below:
            return float(posterior.prob_below(threshold, param))  # type: ignore[attr-defined]
        return float(posterior.prob_above(threshold, param))  # type: ignore[attr-defined]
