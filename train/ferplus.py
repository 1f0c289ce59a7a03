"""FER+ crowd votes (10 annotators per FER-2013 image): majority labels and vote distributions.

The protocol is FER+'s own (`src/ferplus.py`, mode `majority`): a class with one vote or
fewer is set to zero (outlier removal); if the top class then holds more than half of the
remaining votes it is the label, otherwise the image is "unknown". Images whose label is
unknown or not-a-face (NF) are dropped. The distribution (soft target) is the vote counts
after outlier removal over the eight emotions, normalised.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from edgeemo.errors import EdgeemoError
from edgeemo.labels import FERPLUS_LABELS

# Column order of the FER+ vote file, and the contract's name for each emotion column.
VOTE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt",
                "unknown", "NF")
COLUMN_LABEL = {"neutral": "neutral", "happiness": "happy", "surprise": "surprise", "sadness": "sad",
                "anger": "angry", "disgust": "disgust", "fear": "fear", "contempt": "contempt"}
EMOTION_COLUMNS = VOTE_COLUMNS[:8]
# votes[EMOTION_ORDER] puts the eight emotion columns in FERPLUS_LABELS order
EMOTION_ORDER = np.array([VOTE_COLUMNS.index(c) for label in FERPLUS_LABELS
                          for c, name in COLUMN_LABEL.items() if name == label])


def image_key(path: str | Path) -> str:
    """`<label folder>/<file name>`: unique across the FER-2013 tree (a file name alone is not)."""
    parts = Path(path).parts
    return "/".join(parts[-2:])


def read_votes(path: Path) -> dict[str, np.ndarray]:
    """{image key: the 10 vote counts in VOTE_COLUMNS order} from a ferplus_votes.csv."""
    if not path.is_file():
        raise EdgeemoError(f"--votes {path}: no such file; pass the FER+ ferplus_votes.csv")
    votes: dict[str, np.ndarray] = {}
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in ("file", *VOTE_COLUMNS) if c not in (reader.fieldnames or [])]
            if missing:
                raise EdgeemoError(f"{path}:1: missing column(s) {', '.join(missing)}; expected "
                                   f"file,usage,{','.join(VOTE_COLUMNS)}")
            for row in reader:
                try:
                    counts = np.array([int(row[c] or "") for c in VOTE_COLUMNS], dtype=np.int64)
                except (TypeError, ValueError):
                    raise EdgeemoError(f"{path}:{reader.line_num}: vote counts must be integers") from None
                if counts.min() < 0:
                    raise EdgeemoError(f"{path}:{reader.line_num}: negative vote count")
                votes[image_key(row["file"])] = counts
    except UnicodeDecodeError as exc:
        raise EdgeemoError(f"{path}: not a UTF-8 CSV ({exc.reason})") from exc
    except csv.Error as exc:
        raise EdgeemoError(f"{path}: malformed CSV ({exc})") from exc
    if not votes:
        raise EdgeemoError(f"{path}: no vote rows")
    return votes


def _without_outliers(votes: np.ndarray) -> np.ndarray:
    kept = votes.astype(np.float64).copy()
    kept[kept <= 1] = 0.0
    return kept


def majority_label(votes: np.ndarray) -> int | None:
    """Index into FERPLUS_LABELS, or None when the image is unknown or not a face."""
    kept = _without_outliers(votes)
    total = kept.sum()
    top = int(np.argmax(kept))
    if total == 0 or kept[top] <= 0.5 * total or top >= len(EMOTION_COLUMNS):
        return None
    return FERPLUS_LABELS.index(COLUMN_LABEL[VOTE_COLUMNS[top]])


def vote_distribution(votes: np.ndarray) -> np.ndarray:
    """The emotion votes after outlier removal, normalised, in FERPLUS_LABELS order."""
    emotions = _without_outliers(votes)[EMOTION_ORDER]
    total = emotions.sum()
    if total == 0:
        raise ValueError("no emotion votes left after outlier removal")
    return (emotions / total).astype(np.float32)
