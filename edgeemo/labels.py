"""The label contract shared by every stage: model outputs are in this order."""

from __future__ import annotations

# Alphabetical, as the FER-2013 Kaggle folders are named; the model's output order.
LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
NUM_CLASSES = len(LABELS)

# FER+ (Barsoum et al. 2016): the same names plus contempt, alphabetical as well.
FERPLUS_LABELS: tuple[str, ...] = ("angry", "contempt", "disgust", "fear", "happy", "neutral", "sad", "surprise")

# fer2013.csv emotion ids: 0=angry 1=disgust 2=fear 3=happy 4=sad 5=surprise 6=neutral.
FER_CSV_ID_TO_LABEL: dict[int, str] = {
    0: "angry",
    1: "disgust",
    2: "fear",
    3: "happy",
    4: "sad",
    5: "surprise",
    6: "neutral",
}


def label_index(name: str) -> int:
    """Index of a label name in the model's output order."""
    return LABELS.index(name)
