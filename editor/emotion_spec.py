"""Parsing ``--emotion`` values: one emotion, or a blend such as ``joy:0.6,surprise:0.4``.

A blend is a mood between the six target emotions (continuous control, as in GANimation /
MoodGANimation). Weights mean what they say: a weight is the share of that emotion's full strength,
from 0 to 1, and the weights of a blend add up to at most 1 (one full strength shared out).
``joy:0.5`` is half as strong as ``joy``; ``joy:0.6,surprise:0.4`` is as strong as ``joy`` alone.
A bare name has weight 1 and names without a weight in a list share equally (``joy,surprise`` =
``joy:0.5,surprise:0.5``). A weight above 1 (``joy:2.5``) or weights adding up to more than 1 are
refused with one line: more than full strength is ``--intensity``'s job. Names are validated
against :data:`directions.emotions.TARGET_EMOTIONS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from directions.emotions import TARGET_EMOTIONS
from inversion.common.errors import FaceLatentError


class EmotionSpecError(FaceLatentError):
    """An ``--emotion`` value that names an unknown emotion or has malformed weights."""


#: Slack for weights given as decimals that add up to 1 (``0.7,0.2,0.1``).
SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class EmotionSpec:
    """An emotion blend: ``names`` (distinct, in the order given), ``weights`` (the blend's mix, sum 1)
    and ``amount`` (the sum of the weights given, in (0, 1]: how strong the blend is as a whole)."""

    names: tuple[str, ...]
    weights: tuple[float, ...]
    amount: float = 1.0

    @property
    def given(self) -> tuple[float, ...]:
        """The weights as given: ``weights`` times ``amount``."""
        return tuple(w * self.amount for w in self.weights)

    def as_dict(self) -> dict[str, float]:
        """``{name: weight}`` in the order given."""
        return dict(zip(self.names, self.weights))

    @property
    def dominant(self) -> str:
        """The emotion with the largest weight (the first one on a tie)."""
        return self.names[max(range(len(self.weights)), key=lambda i: (self.weights[i], -i))]

    def label(self) -> str:
        """A canonical text form: ``joy`` for a single emotion at full strength, else ``joy:0.5`` or
        ``joy:0.6,surprise:0.4`` (the weights as given)."""
        if len(self.names) == 1 and self.amount == 1.0:
            return self.names[0]
        return ",".join(f"{n}:{w:.3g}" for n, w in zip(self.names, self.given))


def _valid_list() -> str:
    return ", ".join(TARGET_EMOTIONS)


def _parse_weight(name: str, text: str, whole: str) -> float:
    try:
        weight = float(text)
    except ValueError:
        raise EmotionSpecError(f"--emotion {whole!r}: weight {text!r} of {name!r} is not a number") from None
    if not math.isfinite(weight) or weight < 0:
        raise EmotionSpecError(f"--emotion {whole!r}: weight of {name!r} must be a finite number >= 0")
    if weight > 1:
        raise EmotionSpecError(f"--emotion {whole!r}: a weight is the share of an emotion's full strength, 0 to 1, "
                               f"not {text}; for a stronger emotion raise --intensity")
    return weight


def _parse_item(item: str, whole: str) -> tuple[str, float | None]:
    name, sep, weight_text = item.partition(":")
    name = name.strip().lower()
    if not name:
        raise EmotionSpecError(f"--emotion {whole!r}: empty emotion name; valid: {_valid_list()}")
    if name not in TARGET_EMOTIONS:
        raise EmotionSpecError(f"--emotion: unknown emotion {name!r}; valid: {_valid_list()}")
    if not sep:
        return name, None
    return name, _parse_weight(name, weight_text.strip(), whole)


def parse_emotion_spec(text: str) -> EmotionSpec:
    """Parse an ``--emotion`` value into an :class:`EmotionSpec` (see the module docstring).

    Accepts ``fear``, ``joy:0.5``, ``joy:0.6,surprise:0.4`` or ``joy,surprise``; case and spaces are
    ignored. Raises :class:`EmotionSpecError` (one line, listing the valid names where relevant) for
    an unknown name, a repeated name, a negative, non-numeric or above-1 weight, a mix of weighted
    and unweighted items, or weights that sum to zero or to more than 1.
    """
    whole = text
    items = [part for part in (p.strip() for p in text.split(","))]
    if not text.strip() or any(not part for part in items):
        raise EmotionSpecError(f"--emotion {whole!r}: expected a name or a blend like joy:0.6,surprise:0.4; "
                               f"valid: {_valid_list()}")
    parsed = [_parse_item(part, whole) for part in items]
    names = [name for name, _ in parsed]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise EmotionSpecError(f"--emotion {whole!r}: {', '.join(duplicates)} given more than once")
    given = [w for _, w in parsed]
    if all(w is None for w in given):
        weights = [1.0 / len(names)] * len(names)
    elif any(w is None for w in given):
        raise EmotionSpecError(f"--emotion {whole!r}: give a weight for every emotion of a blend or for none")
    else:
        weights = [float(w) for w in given]  # type: ignore[arg-type]
    total = sum(weights)
    if total <= 0:
        raise EmotionSpecError(f"--emotion {whole!r}: the weights sum to zero")
    if total > 1 + SUM_TOLERANCE:
        raise EmotionSpecError(f"--emotion {whole!r}: the weights add up to {total:g}; a blend shares one full "
                               "strength, so they add up to at most 1 (for a stronger emotion raise --intensity)")
    kept = [(n, w / total) for n, w in zip(names, weights) if w > 0]
    return EmotionSpec(names=tuple(n for n, _ in kept), weights=tuple(w for _, w in kept), amount=1.0 if total > 1 - SUM_TOLERANCE else total)
