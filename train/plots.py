"""Matplotlib figures for training and evaluation (headless: Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def training_curves(history: dict[str, list[float]], out: Path) -> None:
    """Loss and accuracy, train vs validation, per epoch."""
    epochs = history["epoch"]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, history["loss"], label="train")
    ax_loss.plot(epochs, history["val_loss"], label="validation")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="Loss")
    ax_acc.plot(epochs, history["accuracy"], label="train (augmented)")
    ax_acc.plot(epochs, history["val_accuracy"], label="validation")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def confusion_matrix_figure(matrix: np.ndarray, labels: Sequence[str], out: Path, title: str) -> None:
    """Counts and row-normalised (recall) confusion matrices side by side."""
    totals = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, totals, out=np.zeros(matrix.shape, dtype=float), where=totals > 0)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    for ax, values, fmt, name in (
        (axes[0], matrix, "d", "counts"),
        (axes[1], normalised, ".2f", "row-normalised"),
    ):
        ax.imshow(values, cmap="Blues")
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        ax.set(xlabel="predicted", ylabel="true", title=f"{title}: {name}")
        threshold = values.max() / 2 if values.max() else 1
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                colour = "white" if values[i, j] > threshold else "black"
                ax.text(j, i, format(values[i, j], fmt), ha="center", va="center", color=colour, fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def roc_curves(curves: dict[str, tuple[np.ndarray, np.ndarray, float]], title: str, out: Path) -> None:
    """One ROC curve per run, its AUC in the legend, on one figure (the chance diagonal dashed)."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for name, (fpr, tpr, auc) in curves.items():
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.4f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate", title=title, xlim=(0, 1), ylim=(0, 1.005))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
