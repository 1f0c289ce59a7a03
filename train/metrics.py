"""Classification metrics as pure numpy functions (no TensorFlow, no scikit-learn)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """matrix[i, j] = how many faces of true class i were predicted as j."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros(numerator.shape, dtype=float), where=denominator > 0)


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks; tied values share the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(ordered)) + 1])
    ends = np.concatenate([starts[1:], [len(values)]])
    ranks = np.empty(len(values), dtype=float)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def roc_auc(is_positive: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney U); None when a class has no positives or no negatives."""
    n_pos = int(is_positive.sum())
    n_neg = len(is_positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = average_ranks(scores)
    return float((ranks[is_positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_curve(is_positive: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rates, true-positive rates) at every distinct threshold, from (0, 0) to (1, 1).

    Tied scores form one step, so the trapezoid area under these points equals `roc_auc`.
    """
    is_positive = np.asarray(is_positive, dtype=bool)
    n_pos = int(is_positive.sum())
    n_neg = len(is_positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("an ROC curve needs positives and negatives")
    order = np.argsort(-np.asarray(scores), kind="mergesort")
    ordered, positives = np.asarray(scores)[order], is_positive[order]
    last_of_tie = np.concatenate([np.flatnonzero(np.diff(ordered)), [len(ordered) - 1]])
    true_pos = np.cumsum(positives)[last_of_tie]
    false_pos = (last_of_tie + 1) - true_pos
    return (np.concatenate([[0.0], false_pos / n_neg]), np.concatenate([[0.0], true_pos / n_pos]))


@dataclass
class ClassMetrics:
    label: str
    precision: float
    recall: float
    f1: float
    support: int
    roc_auc: float | None


@dataclass
class Report:
    n: int
    accuracy: float
    macro_f1: float
    per_class: list[ClassMetrics]
    confusion: np.ndarray
    # accuracy on the faces with no pixel-identical copy in the training data (when it was given)
    unseen_accuracy: float | None = None
    unseen_n: int | None = None
    quantification: dict | None = None  # `evaluate --quantify`: simulated store-days (train/quantify.py)
    sizes: dict | None = None  # `evaluate --sizes`: the faces as a store camera shows them (train/sizes.py)
    chain: dict | None = None  # `evaluate --chain`: the whole device chain on simulated footage (sim/chain.py)

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "per_class": {c.label: {k: v for k, v in vars(c).items() if k != "label"} for c in self.per_class},
            "confusion_matrix": self.confusion.tolist(),
            **({"unseen_accuracy": self.unseen_accuracy, "unseen_n": self.unseen_n}
               if self.unseen_n is not None else {}),
            **({"quantification": self.quantification["rows"], "quantification_note": self.quantification["note"],
                "quantification_calibration": self.quantification["calibration"]}
               if self.quantification is not None else {}),
            **({"sizes": self.sizes} if self.sizes is not None else {}),
            **(self.chain if self.chain is not None else {}),
        }

    def table(self) -> str:
        """Per-class precision/recall/F1/AUC as a markdown table."""
        lines = ["| class | precision | recall | F1 | ROC-AUC | support |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for c in self.per_class:
            auc = f"{c.roc_auc:.3f}" if c.roc_auc is not None else "n/a"
            lines.append(f"| {c.label} | {c.precision:.3f} | {c.recall:.3f} | {c.f1:.3f} | {auc} | {c.support} |")
        return "\n".join(lines)


def classification_report(y_true: np.ndarray, probabilities: np.ndarray, labels: list[str] | tuple[str, ...]) -> Report:
    """Accuracy, macro-F1, per-class precision/recall/F1/ROC-AUC and the confusion matrix."""
    if len(y_true) == 0:
        raise ValueError("cannot evaluate on zero faces")
    y_pred = probabilities.argmax(axis=1)
    matrix = confusion_matrix(y_true, y_pred, len(labels))
    true_pos = np.diag(matrix).astype(float)
    precision = _safe_ratio(true_pos, matrix.sum(axis=0).astype(float))
    recall = _safe_ratio(true_pos, matrix.sum(axis=1).astype(float))
    f1 = _safe_ratio(2 * precision * recall, precision + recall)
    support = matrix.sum(axis=1)
    per_class = [
        ClassMetrics(label, float(precision[i]), float(recall[i]), float(f1[i]), int(support[i]),
                     roc_auc(y_true == i, probabilities[:, i]))
        for i, label in enumerate(labels)
    ]
    present = support > 0
    return Report(
        n=len(y_true),
        accuracy=float(true_pos.sum() / len(y_true)),
        macro_f1=float(f1[present].mean()),
        per_class=per_class,
        confusion=matrix,
    )


def error_calibration(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str] | tuple[str, ...],
                      source: str) -> dict:
    """A model's calibration for its sidecar (edgeemo.estimates): its confusion on labelled faces it
    never trained on, with the satisfaction index's correction for the default groups written out
    (weights on the predicted positive / negative / other shares, and their covariance)."""
    from edgeemo.aggregates import DEFAULT_GROUPS
    from edgeemo.estimates import Calibration

    counts = confusion_matrix(y_true, y_pred, len(labels))
    groups = DEFAULT_GROUPS.for_labels(labels)
    record = {"source": source, "faces": int(counts.sum()), "labels": list(labels), "counts": counts.tolist(),
              "temperature": None}
    found = Calibration(tuple(labels), counts.astype(float)).group_matrix(groups)
    if found is not None:
        matrix, faces = found
        inverse = np.linalg.inv(matrix)
        weights = np.array([1.0, -1.0, 0.0]) @ inverse
        per_group = (weights**2 @ matrix) - (weights @ matrix) ** 2  # Var(w . one face's predicted group)
        covariance = sum(per_group[j] / faces[j] * np.outer(inverse[j], inverse[j]) for j in range(3))
        record["index"] = {"groups": groups.as_dict(), "order": ["positive", "negative", "other"],
                           "weights": [round(float(x), 6) for x in weights],
                           "covariance": [[round(float(x), 8) for x in row] for row in covariance]}
    return record
