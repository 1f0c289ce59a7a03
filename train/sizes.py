"""`edgeemo evaluate --sizes 48,40,32,24 [--jpeg 70]`: a model as a store camera meets it.

Each labelled face is shrunk to W px (area-averaged, as a sensor sees a smaller face), optionally
JPEG-compressed at that size, and brought back by the runtime's own `face_input`. For each width:
accuracy, every label's recall and the raw satisfaction index of the faces' answers, next to the
labels' own index: the index's drift with distance is what a store with far cameras reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from edgeemo.aggregates import DEFAULT_GROUPS
from edgeemo.train.camera import seen_at


def parse_sizes(text: str) -> tuple[int, ...]:
    """'48,40,32' -> (48, 40, 32); widths from 8 px up to the model's input are what a camera gives."""
    from edgeemo.errors import EdgeemoError

    try:
        widths = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise EdgeemoError(f"--sizes {text!r}: comma-separated face widths in pixels, e.g. 48,40,32,24") from None
    if not widths or any(not 8 <= w <= 1024 for w in widths):
        raise EdgeemoError(f"--sizes {text!r}: each width must be 8..1024 px, e.g. 48,40,32,24")
    return widths


def raw_index(answers: np.ndarray, labels: Sequence[str]) -> float:
    """Share of answers in the positive group minus share in the negative group (default groups)."""
    groups = DEFAULT_GROUPS.for_labels(labels)
    sign = np.array(groups.signs(labels))
    return float(sign[answers].mean())


def conditions(widths: Sequence[int], quality: int | None) -> list[tuple[int, int | None]]:
    """Every width sharp, then (with a quality) every width below the input behind JPEG."""
    rows: list[tuple[int, int | None]] = [(w, None) for w in widths]
    if quality is not None:
        rows += [(w, quality) for w in widths]
    return rows


def size_table(faces: np.ndarray, labels_true: np.ndarray, labels: Sequence[str],
               predict: Callable[[np.ndarray], np.ndarray], widths: Sequence[int],
               quality: int | None = None) -> dict:
    """Accuracy, recall by label and raw index at each (width, quality), and the labels' own index."""
    rows = []
    for width, q in conditions(widths, quality):
        seen = np.stack([seen_at(face, width, q) for face in faces])
        answers = predict(seen).argmax(axis=1)
        recall = {label: round(float(np.mean(answers[labels_true == k] == k)), 4)
                  for k, label in enumerate(labels) if np.any(labels_true == k)}
        rows.append({"width": width, "jpeg": q, "accuracy": round(float(np.mean(answers == labels_true)), 4),
                     "index_raw": round(raw_index(answers, labels), 4), "recall": recall})
    return {"rows": rows, "index_true": round(raw_index(labels_true, labels), 4), "n": len(labels_true)}


def render_sizes(table: dict) -> str:
    """The table as markdown: one column per condition."""
    rows = table["rows"]
    heads = [f"{r['width']} px" + (f" + JPEG q{r['jpeg']}" if r["jpeg"] is not None else "") for r in rows]
    lines = ["| | " + " | ".join(heads) + " |", "| --- |" + " ---: |" * len(rows),
             "| accuracy | " + " | ".join(f"{100 * r['accuracy']:.2f}%" for r in rows) + " |",
             f"| raw index (labels' own {table['index_true']:+.3f}) | "
             + " | ".join(f"{r['index_raw']:+.3f}" for r in rows) + " |"]
    for label in rows[0]["recall"]:
        lines.append(f"| recall {label} | " + " | ".join(f"{100 * r['recall'][label]:.1f}%" for r in rows) + " |")
    return "\n".join(lines)
