"""Float-vs-int8 drift: accuracy of both, top-1 agreement, per-class deltas, KL, max |dp|."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class ClassDrift:
    label: str
    n: int
    float_accuracy: float
    int8_accuracy: float
    delta_pt: float  # int8 minus float, percentage points


@dataclass
class DriftReport:
    n: int
    float_accuracy: float
    int8_accuracy: float
    accuracy_drop_pt: float  # float minus int8, percentage points (positive = int8 worse)
    agreement: float  # share of faces with the same top-1 label
    mean_kl: float  # mean KL(float || int8) in nats
    max_prob_diff: float  # largest |p_float - p_int8| over all faces and classes
    per_class: list[ClassDrift]
    max_drop_pt: float
    min_agreement: float
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


def compare(labels: np.ndarray, p_float: np.ndarray, p_int8: np.ndarray, names: Sequence[str],
            max_drop_pt: float = 1.0, min_agreement: float = 0.98) -> DriftReport:
    """Measure the drift and check it against the thresholds."""
    top_float, top_int8 = p_float.argmax(axis=1), p_int8.argmax(axis=1)
    float_acc = float(np.mean(top_float == labels))
    int8_acc = float(np.mean(top_int8 == labels))
    eps = 1e-7
    pf = np.clip(p_float, eps, 1.0)
    pq = np.clip(p_int8, eps, 1.0)
    kl = np.sum(pf * (np.log(pf) - np.log(pq)), axis=1)
    per_class = []
    for index, name in enumerate(names):
        members = labels == index
        if members.any():
            fa, qa = float(np.mean(top_float[members] == index)), float(np.mean(top_int8[members] == index))
            per_class.append(ClassDrift(name, int(members.sum()), fa, qa, (qa - fa) * 100))
    report = DriftReport(
        n=len(labels), float_accuracy=float_acc, int8_accuracy=int8_acc,
        accuracy_drop_pt=(float_acc - int8_acc) * 100, agreement=float(np.mean(top_float == top_int8)),
        mean_kl=float(kl.mean()), max_prob_diff=float(np.abs(p_float - p_int8).max()),
        per_class=per_class, max_drop_pt=max_drop_pt, min_agreement=min_agreement,
    )
    if report.accuracy_drop_pt > max_drop_pt:
        report.failures.append(f"accuracy drop {report.accuracy_drop_pt:.2f} pt > {max_drop_pt:.2f} pt")
    if report.agreement < min_agreement:
        report.failures.append(f"top-1 agreement {report.agreement:.2%} < {min_agreement:.2%}")
    return report


def to_markdown(report: DriftReport, title: str) -> str:
    verdict = "PASS" if report.passed else "FAIL: " + "; ".join(report.failures)
    lines = [
        f"# Drift report: {title}",
        "",
        f"- faces: {report.n}",
        f"- float accuracy: {report.float_accuracy:.4f}",
        f"- int8 accuracy: {report.int8_accuracy:.4f}",
        f"- accuracy drop: {report.accuracy_drop_pt:+.2f} pt (limit {report.max_drop_pt:.2f} pt)",
        f"- top-1 agreement: {report.agreement:.2%} (minimum {report.min_agreement:.2%})",
        f"- mean KL(float || int8): {report.mean_kl:.5f} nats",
        f"- largest probability difference: {report.max_prob_diff:.4f}",
        f"- gate: **{verdict}**",
        "",
        "| class | faces | float acc | int8 acc | delta (pt) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    lines += [f"| {c.label} | {c.n} | {c.float_accuracy:.4f} | {c.int8_accuracy:.4f} | {c.delta_pt:+.2f} |"
              for c in report.per_class]
    return "\n".join(lines) + "\n"


def write_reports(report: DriftReport, title: str, md: Path) -> tuple[Path, Path]:
    """The markdown report at `md` and the JSON one beside it (same name, .json)."""
    md.parent.mkdir(parents=True, exist_ok=True)
    js = md.with_suffix(".json")
    md.write_text(to_markdown(report, title))
    js.write_text(json.dumps({"title": title, **report.to_dict()}, indent=2) + "\n")
    return md, js
