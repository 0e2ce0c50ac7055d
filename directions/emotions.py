"""The emotion vocabulary used everywhere (CLI, files, classifier output)."""

from __future__ import annotations

#: The six emotions a face can perform, then neutral; classifier outputs use this order.
EMOTIONS: tuple[str, ...] = ("joy", "fear", "anger", "sadness", "disgust", "surprise", "neutral")

#: The emotions ``animate`` can target (all but neutral).
TARGET_EMOTIONS: tuple[str, ...] = EMOTIONS[:-1]

#: FER2013's integer labels 0..6, in its order.
FER2013_LABELS: tuple[str, ...] = ("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral")

#: FER2013 label index -> index in :data:`EMOTIONS`.
FER2013_TO_EMOTION_INDEX: tuple[int, ...] = tuple(EMOTIONS.index(name) for name in FER2013_LABELS)
