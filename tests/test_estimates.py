"""The estimators on the ground floor (edgeemo.estimates): the corrected index undoes a known
confusion exactly, its interval covers the truth about 95% of the time (seeded simulations, so a
run is the same every time), small buckets are not certain, differences are tested and a page of
them is Holm-corrected, and no count can make an estimate leave [-1, 1] or raise."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeemo.aggregates import DEFAULT_GROUPS
from edgeemo.estimates import (
    Calibration,
    Estimate,
    combine,
    count_index,
    difference,
    holm,
    index_estimate,
    mix_estimate,
)
from tests.conftest import REPO

LABELS = ("angry", "happy", "neutral", "sad")
GROUPS = DEFAULT_GROUPS.for_labels(LABELS)
# P(predicted | true) of a model that reads sad as neutral 30% of the time: rows true, columns predicted
CONFUSION = np.array([[0.80, 0.02, 0.13, 0.05],
                      [0.01, 0.94, 0.05, 0.00],
                      [0.04, 0.04, 0.88, 0.04],
                      [0.05, 0.02, 0.30, 0.63]])
SIGN = np.array([-1.0, 1.0, 0.0, -1.0])


def calibration_from(confusion: np.ndarray, faces_per_class: int) -> Calibration:
    return Calibration(LABELS, confusion * faces_per_class)


def expected_counts(mix: np.ndarray, visits: int) -> dict[str, float]:
    return dict(zip(LABELS, (visits * mix @ CONFUSION).tolist()))


def test_the_correction_undoes_a_known_confusion_exactly() -> None:
    """Exact when the negatives come in the calibration's own proportions (here one to one): the
    three-group correction pools each group's faces (the README's assumption)."""
    bad_day = np.array([0.25, 0.1, 0.4, 0.25])  # true index 0.1 - 0.5 = -0.4
    counts = expected_counts(bad_day, 10_000)
    raw = index_estimate(counts, GROUPS)
    corrected = index_estimate(counts, GROUPS, calibration_from(CONFUSION, 1000))
    assert raw.method == "count" and corrected.method == "corrected"
    assert raw.value - (-0.4) > 0.05  # counting makes the bad day look better
    assert corrected.value == pytest.approx(-0.4, abs=1e-9)
    mix = mix_estimate(counts, LABELS, calibration_from(CONFUSION, 1000))
    assert [mix[x].value for x in LABELS] == pytest.approx(bad_day.tolist(), abs=1e-9)


@pytest.mark.parametrize("visits", [50, 200, 1000])
def test_the_corrected_interval_covers_the_truth_about_95_percent(visits: int) -> None:
    rng = np.random.default_rng(visits)
    draws, covered, count_covered, mix_covered = 2000, 0, 0, 0
    for _ in range(draws):
        positive, negative, other = rng.dirichlet([3, 4, 4])
        true_mix = np.array([negative / 2, positive, other, negative / 2])  # angry:sad as in the calibration
        measured = np.array([rng.multinomial(100, CONFUSION[c]) for c in range(4)], dtype=float)  # 400 faces
        seen = rng.multinomial(visits, true_mix @ CONFUSION)
        counts = dict(zip(LABELS, seen.tolist()))
        truth = float(SIGN @ true_mix)
        corrected = index_estimate(counts, GROUPS, Calibration(LABELS, measured))
        covered += corrected.low <= truth <= corrected.high
        raw = index_estimate(counts, GROUPS)
        count_covered += raw.low <= truth <= raw.high
        sad = mix_estimate(counts, LABELS, Calibration(LABELS, measured))["sad"]
        mix_covered += sad.low <= true_mix[3] <= sad.high
    assert 0.92 <= covered / draws <= 0.98
    assert 0.92 <= mix_covered / draws <= 0.98
    if visits == 1000:
        assert count_covered / draws < 0.8  # the raw count's interval is around a biased figure


def test_a_small_bucket_is_never_certain() -> None:
    five_happy = count_index((1.0, 0.0, 0.0), 5)
    assert five_happy.value == 1.0 and five_happy.low < 0.6 and five_happy.imprecise()
    assert count_index((0.5, 0.2, 0.3), 2000).imprecise() is False
    assert count_index((0.5, 0.2, 0.3), 2000).imprecise(floor=0.01) is True
    empty = count_index((0, 0, 0), 0)
    assert empty.value is None and empty.imprecise() and empty.as_dict()["low"] is None


def test_a_calibration_that_cannot_correct_falls_back_to_counting() -> None:
    no_negative_faces = CONFUSION * 100
    no_negative_faces[[0, 3]] = 0
    assert index_estimate({"happy": 3, "sad": 2}, GROUPS, Calibration(LABELS, no_negative_faces)).method == "count"
    no_sad_faces = CONFUSION * 100
    no_sad_faces[3] = 0  # the negative group still has its angry faces
    assert index_estimate({"happy": 3, "sad": 2}, GROUPS, Calibration(LABELS, no_sad_faces)).method == "corrected"
    singular = np.ones((4, 4))
    assert index_estimate({"happy": 3, "sad": 2}, GROUPS, Calibration(LABELS, singular)).method == "count"
    for bad in ({"labels": LABELS, "counts": [[1, 2], [3, 4]]},
                {"labels": LABELS, "counts": (CONFUSION * -1).tolist()},
                {"labels": LABELS, "counts": [[math.nan] * 4] * 4}):
        with pytest.raises(ValueError, match="calibration"):
            Calibration.from_dict(bad)


def test_differences_and_a_page_of_them() -> None:
    a, b = count_index((0.4, 0.2, 0.4), 200), count_index((0.4, 0.2, 0.4), 200)
    same = difference(a, b)
    assert same.value == 0 and same.p_value == pytest.approx(1.0) and same.low < 0 < same.high
    far = difference(count_index((0.2, 0.4, 0.4), 500), count_index((0.6, 0.1, 0.3), 500))
    assert far.value == pytest.approx(0.7) and far.p_value < 1e-6
    assert difference(a, Estimate(None, None, None, 0, "count")).p_value is None
    # Holm at 0.05: the i-th smallest of m is compared with 0.05 / (m - i)
    assert holm([0.01, 0.02, 0.04]) == [True, True, True]
    assert holm([0.01, 0.03, 0.04]) == [True, False, False]  # 0.03 > 0.05/2 stops the steps
    assert holm([0.04, None, 0.2]) == [False, False, False]  # 0.04 > 0.05/2
    assert holm([0.04, None]) == [True, False]  # None is never significant and does not count


def test_combining_weights_by_visits_and_keeps_the_weakest_method() -> None:
    small, large = count_index((1.0, 0.0, 0.0), 10), count_index((0.0, 0.0, 1.0), 90)
    both = combine([small, large])
    assert both.visits == 100 and both.value == pytest.approx(0.1) and both.method == "count"
    corrected = index_estimate(expected_counts(np.array([0.1, 0.5, 0.3, 0.1]), 100), GROUPS,
                               calibration_from(CONFUSION, 500))
    assert combine([corrected, corrected]).method == "corrected"
    assert combine([corrected, small]).method == "count"
    assert combine([corrected, corrected]).half_width < corrected.half_width  # twice the visits


@settings(max_examples=300, deadline=None)
@given(counts=st.lists(st.integers(0, 10**6), min_size=4, max_size=4),
       faces=st.lists(st.lists(st.integers(0, 50), min_size=4, max_size=4), min_size=4, max_size=4))
def test_no_counts_make_an_estimate_leave_its_range(counts: list[int], faces: list[list[int]]) -> None:
    observed = dict(zip(LABELS, counts))
    calibration = Calibration(LABELS, np.array(faces, dtype=float))
    for used in (None, calibration):
        index = index_estimate(observed, GROUPS, used)
        if sum(counts):
            assert -1 <= index.low <= index.value <= index.high <= 1
        else:
            assert index.value is None
        for share in mix_estimate(observed, LABELS, used).values():
            assert share.value is None or 0 <= share.low <= share.value <= share.high <= 1


@pytest.mark.parametrize("name", ["fer_cnn", "fer_cnn_int8", "ferplus_cnn", "ferplus_cnn_int8"])
def test_the_shipped_models_carry_their_calibration(name: str) -> None:
    sidecar = json.loads((REPO / "models" / f"{name}.json").read_text())
    calibration = Calibration.from_dict(sidecar["calibration"])
    assert calibration.labels == tuple(sidecar["labels"])
    assert "validation" in sidecar["calibration"]["source"] and sidecar["calibration"]["faces"] > 2000
    weights = calibration.index_weights(DEFAULT_GROUPS.for_labels(calibration.labels))
    assert weights is not None
    sources = sidecar["calibration"]["sources"]  # the counts are the sum of the splits that made them
    assert calibration.counts.tolist() == pytest.approx(sum(np.asarray(s["counts"], float) for s in sources.values()))
    assert sidecar["calibration"]["faces"] == sum(s["faces"] for s in sources.values())
    assert weights[0] > 1 and weights[1] < -1  # the model under-reads both ends of the index


def test_clipping_at_the_ends_never_makes_a_figure_look_precise() -> None:
    """20 sad visits: the corrected index is past -1 before clipping; the interval shown is clipped,
    but the figure stays imprecise (its half-width is the unclipped one)."""
    sidecar = json.loads((REPO / "models" / "ferplus_cnn_int8.json").read_text())
    calibration = Calibration.from_dict(sidecar["calibration"])
    groups = DEFAULT_GROUPS.for_labels(calibration.labels)
    sad = index_estimate({"sad": 20}, groups, calibration)
    assert sad.value == -1.0 and sad.low == -1.0 and sad.high == pytest.approx(-1 + sad.half_width)
    assert sad.imprecise()
    assert sad.unclipped < -1.0 and sad.half_width > 0.15
    assert combine([sad, sad]).unclipped == pytest.approx(sad.unclipped)  # combined before clipping


def test_calibrations_that_are_not_counts_are_refused() -> None:
    for counts in ([[1e308, 0, 0, 0], [0, 1e308, 0, 0], [0, 0, 1e308, 0], [0, 0, 0, 1e308]],  # sums overflow
                   [[math.inf, 0, 0, 0]] * 4, [[-1, 0, 0, 0]] * 4):
        with pytest.raises(ValueError, match="calibration"):
            Calibration.from_dict({"labels": LABELS, "counts": counts})
    barely = np.eye(4) * 10 + 10_000  # every class read as every other almost as often as itself
    assert index_estimate({"happy": 30, "sad": 20}, GROUPS, Calibration(LABELS, barely)).method == "count"
    assert mix_estimate({"happy": 30, "sad": 20}, LABELS, Calibration(LABELS, barely))["sad"].method == "count"
    assert holm([math.nan, 0.5, None]) == [False, False, False]


def test_the_index_interval_of_a_far_band_fits_the_spread_of_its_figure() -> None:
    """At 24 px the model almost never answers contempt, so the index weighs a contempt answer -35 or more: an
    even spread of pseudo-visits (half a visit of contempt) stated twice the figure's spread (coverage 1.000 at
    n = 200). Store-days drawn from the band's own confusion: the stated error is the figure's spread, and its
    sampling interval covers about 95%."""
    from edgeemo.calibrations import band_calibrations
    from edgeemo.estimates import MixCorrection

    record = json.loads((REPO / "models" / "ferplus_cnn_int8.json").read_text())["calibration"]
    calibration = band_calibrations(record)["lt28"]
    correction = MixCorrection.of(calibration)
    assert correction is not None
    groups = DEFAULT_GROUPS.for_labels(calibration.labels)
    sign = np.array(groups.signs(calibration.labels))
    natural = np.asarray(record["counts"], float).sum(axis=1)
    natural /= natural.sum()
    answers = natural @ (calibration.counts / calibration.counts.sum(axis=1, keepdims=True))
    rng = np.random.default_rng(1)
    figures, errors = [], []
    for _ in range(1000):
        observed = rng.multinomial(200, answers)
        estimate = index_estimate(dict(zip(calibration.labels, observed.tolist())), groups, calibration)
        figures.append(estimate.value)
        errors.append(math.sqrt(estimate.standard_error**2 - estimate.calibration_error**2))  # sampling only
    spread, stated = float(np.std(figures)), float(np.mean(errors))
    assert 0.8 * spread < stated < 1.25 * spread, (spread, stated)
    covered = np.mean(np.abs(np.array(figures) - sign @ natural) <= 1.96 * np.array(errors))
    assert 0.92 <= covered <= 0.98
