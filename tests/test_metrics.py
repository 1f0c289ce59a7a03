from __future__ import annotations

import numpy as np
import pytest

from edgeemo.train.metrics import average_ranks, classification_report, confusion_matrix, roc_auc


def test_report_matches_a_hand_computed_confusion_matrix() -> None:
    # 3 classes, 10 faces. By hand:
    #             pred a  pred b  pred c
    #   true a      2       1       0
    #   true b      1       3       0
    #   true c      0       1       2
    y_true = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 0, 1, 0, 1, 1, 1, 1, 2, 2])
    probabilities = np.eye(3)[y_pred] * 0.8 + 0.1 / 1.5
    report = classification_report(y_true, probabilities, ["a", "b", "c"])
    assert report.confusion.tolist() == [[2, 1, 0], [1, 3, 0], [0, 1, 2]]
    assert report.accuracy == pytest.approx(7 / 10)
    a, b, c = report.per_class
    assert (a.precision, a.recall) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert (b.precision, b.recall) == (pytest.approx(3 / 5), pytest.approx(3 / 4))
    assert (c.precision, c.recall) == (pytest.approx(1.0), pytest.approx(2 / 3))
    f1_b = 2 * (3 / 5) * (3 / 4) / (3 / 5 + 3 / 4)
    assert b.f1 == pytest.approx(f1_b)
    assert report.macro_f1 == pytest.approx((2 / 3 + f1_b + 0.8) / 3)
    assert [x.support for x in report.per_class] == [3, 4, 3]


def test_confusion_matrix_counts_repeated_pairs() -> None:
    assert confusion_matrix(np.array([1, 1, 1]), np.array([0, 0, 1]), 2).tolist() == [[0, 0], [2, 1]]


def test_roc_auc_by_hand_with_ties() -> None:
    # positives score 0.35 and 0.8; negatives 0.1 and 0.4: 3 of 4 pairs ordered right.
    assert roc_auc(np.array([False, False, True, True]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    # one tied pair counts a half.
    assert roc_auc(np.array([False, True]), np.array([0.5, 0.5])) == pytest.approx(0.5)
    assert roc_auc(np.array([True, True]), np.array([0.1, 0.2])) is None


def test_average_ranks_share_ties() -> None:
    assert average_ranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [3.5, 1.0, 3.5, 2.0]


def test_class_absent_from_truth_is_left_out_of_macro_f1() -> None:
    y_true = np.array([0, 0, 1, 1])
    probabilities = np.eye(3)[[0, 0, 1, 1]]
    report = classification_report(y_true, probabilities, ["a", "b", "c"])
    assert report.macro_f1 == pytest.approx(1.0)
    assert report.per_class[2].roc_auc is None
