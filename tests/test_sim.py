"""`edgeemo simulate` and the chain it feeds: footage with a known truth, deterministic by seed; bad
input is one line and leaves nothing behind; the camera model fixes the face sizes; one shopper per
face goes through the device's own loop and is matched back to its truth."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeemo.bands import band_of
from edgeemo.edge.inference.model import open_edge_model
from edgeemo.sim.chain import run_chain
from edgeemo.sim.chain_score import Outcomes, compose
from edgeemo.sim.profile import FACE_WIDTH_M, load_profile
from edgeemo.sim.simulate import load_cast
from tests.conftest import REPO, run_cli, write_folder_dataset

FACES = REPO / "samples" / "faces"


def simulate(out: Path, *extra: str) -> tuple[dict, Path]:
    done = run_cli("simulate", "--faces", str(FACES), "--out", str(out), "--profile", "far", "--shoppers", "4",
                   "--seed", "5", *extra)
    assert done.returncode == 0, done.stderr
    return json.loads((out / "truth.json").read_text()), out / "footage.avi"


def test_footage_and_truth_are_the_same_for_the_same_seed(tmp_path: Path) -> None:
    first, video = simulate(tmp_path / "a")
    second, _ = simulate(tmp_path / "b")
    assert first == second
    assert len(first["shoppers"]) == 4 and first["profile"]["name"] == "far"
    capture = cv2.VideoCapture(str(video))
    frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    assert frames == first["frames"] and capture.get(cv2.CAP_PROP_FRAME_WIDTH) == 640
    for shopper in first["shoppers"]:
        assert shopper["label"] in ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
        assert shopper["boxes"], "every shopper's face is wholly in view at some point"
        for _, x, y, w, h in shopper["boxes"]:
            assert 0 <= x and x + w <= 640 and 0 <= y and y + h <= 480 and w == shopper["face_px"]
        assert 23 <= shopper["face_px"] <= 49  # the far profile: 24-48 px faces
        low, high = shopper["in_view_s"]
        assert shopper["arrive_s"] <= low < high <= shopper["leave_s"]
    third, _ = simulate(tmp_path / "c", "--seed", "6")
    assert third["shoppers"] != first["shoppers"]


def test_the_camera_model_sizes_a_face_by_its_distance() -> None:
    far = load_profile("far")
    assert far.face_px(1.48) == pytest.approx(48, abs=0.5) and far.face_px(3.1) == pytest.approx(24, abs=0.5)
    width = far.camera.width / 2 / np.tan(np.radians(far.camera.hfov_deg) / 2) * FACE_WIDTH_M / 2.4
    assert width == pytest.approx(32, abs=0.1)  # 640 px, 70 degrees, 2.4 m: the issue's 32 px
    for px in (20.0, 32.0, 60.0):
        assert far.face_px(far.distance_for(px, 1.6), 1.6) == pytest.approx(px)
    assert [band_of(w) for w in (20, 28, 35.9, 36, 48, 90, None)] == [
        "lt28", "28-36", "28-36", "36-48", "ge48", "ge48", "unsized"]


@pytest.mark.parametrize("args, fragment", [
    (("--faces", "EMPTY"), "no label folders"),
    (("--faces", "UNLABELLED"), "no label folders"),
    (("--profile", "BAD_DISTANCE"), "distance_m [-1.0, 2.0]: two positive numbers"),
    (("--profile", "BAD_FOV"), "camera.hfov_deg"),
    (("--profile", "nosuch"), "not a shipped profile (far, near)"),
    (("--background", "NOT_AN_IMAGE"), "neither an image nor a video"),
    (("--mix", "happy=2"), "--mix 'happy=2'"),
    (("--shoppers", "0"), "--shoppers 0"),
])
def test_bad_input_is_one_line_and_leaves_nothing(tmp_path: Path, args: tuple[str, ...], fragment: str) -> None:
    (tmp_path / "EMPTY").mkdir()
    (tmp_path / "UNLABELLED" / "cats").mkdir(parents=True)
    (tmp_path / "BAD_DISTANCE").write_text("[shoppers]\ndistance_m = [-1.0, 2.0]\n")
    (tmp_path / "BAD_FOV").write_text("[camera]\nhfov_deg = 180\n")
    (tmp_path / "NOT_AN_IMAGE").write_text("not a picture")
    values = {name: str(tmp_path / name) for name in ("EMPTY", "UNLABELLED", "BAD_DISTANCE", "BAD_FOV", "NOT_AN_IMAGE")}
    given = dict(zip(args[::2], args[1::2]))
    command = {"--faces": str(FACES), "--profile": "far", "--shoppers": "2", **given}
    out = tmp_path / "out"
    done = run_cli("simulate", "--out", str(out), *[x for k, v in command.items() for x in (k, values.get(v, v))])
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert fragment in done.stderr and len(done.stderr.strip().splitlines()) <= 2, done.stderr
    assert not out.exists() and not list(tmp_path.glob(".out.*")), "nothing half-written"


def test_an_output_that_exists_is_refused_untouched(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep me")
    done = run_cli("simulate", "--faces", str(FACES), "--out", str(tmp_path / "out"))
    assert done.returncode != 0 and "already exists" in done.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["mine.txt"]


def test_the_chain_finds_each_shopper_and_matches_its_visit(tmp_path: Path) -> None:
    """Oracle boxes (the true ones, jittered): every shopper walks through alone enough to be one visit,
    read by the device's loop, matched back to its truth; a store-day composed from them counts them."""
    cast = load_cast(str(FACES))
    profile = load_profile("near").model_copy(update={"shoppers": load_profile("near").shoppers.model_copy(
        update={"per_minute": 4.0})})
    chosen = np.arange(0, len(cast.labels), 3)[:8]
    model = open_edge_model(None, 1)
    run = run_chain(model, cast.images[chosen], [cast.names[cast.labels[i]] for i in chosen], profile, seed=1,
                    boxes="oracle", work=tmp_path)
    summary = run.summary()
    assert summary["simulated"] == 8 and summary["recall"] == 1.0 and summary["merged"] == 0.0, summary
    assert all(v.band in ("36-48", "ge48") for v in run.visits)  # the near profile: faces 48-96 px
    # what the device read through camera, codec, crop and smoothing is what the model reads on the sharp face
    sharp = model.classifier.predict(cast.images[chosen]).argmax(axis=1)
    read = {v.shoppers[0]: v.label for v in run.visits if v.shoppers}
    agree = [read.get(i + 1) == model.labels[k] for i, k in enumerate(sharp)]
    assert sum(agree) >= 6, (agree, read)
    outcomes = Outcomes.of([run])
    assert outcomes.shoppers == 8
    mix = np.array([len(found) > 0 for found in outcomes.by_label], float)
    counted = compose(outcomes, mix / mix.sum(), 50, np.random.default_rng(0))
    assert sum(sum(c.values()) for c in counted.values()) >= 50  # every shopper drawn left a visit or more


def test_a_folder_of_own_faces_casts_its_labels(tmp_path: Path) -> None:
    folder = write_folder_dataset(tmp_path / "faces", per_class=2)
    cast = load_cast(str(folder))
    assert len(cast.labels) == 14 and cast.votes is None and cast.keys is not None


@pytest.mark.parametrize("profile, fragment", [
    ("[camera]\nfps = 12.5\n", "a whole number of frames"),
    ("[camera]\nwidth = 641\n", "even width and height"),
    ("[camera]\ntilt_deg = -45\n[shoppers]\ndistance_m = [0.3, 2.0]\n", "behind or at the lens"),
    ("[shoppers]\ndistance_m = [2.0, 45.0]\n", "under 8 px"),
    ("[shoppers]\nper_minute = 0.01\n", "h of footage"),
])
def test_a_camera_that_cannot_film_shoppers_is_refused_before_rendering(tmp_path: Path, profile: str,
                                                                         fragment: str) -> None:
    (tmp_path / "camera.toml").write_text(profile)
    out = tmp_path / "out"
    done = run_cli("simulate", "--faces", str(FACES), "--out", str(out), "--profile", str(tmp_path / "camera.toml"),
                   "--shoppers", "20")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert fragment in done.stderr and len(done.stderr.strip().splitlines()) <= 2, done.stderr
    assert not out.exists()


def test_a_mix_asking_for_a_label_the_folder_lacks_is_refused() -> None:
    from edgeemo.errors import EdgeemoError
    from edgeemo.sim.mixes import parse_mix

    natural = np.array([0.5, 0.0, 0.5])
    with pytest.raises(EdgeemoError, match="no disgust face"):
        parse_mix("disgust=0.3", ("angry", "disgust", "happy"), natural, np.random.default_rng(0))
    assert parse_mix("disgust=0", ("angry", "disgust", "happy"), natural, np.random.default_rng(0))[1] == 0


def test_an_output_that_is_a_dangling_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").symlink_to(tmp_path / "elsewhere")
    done = run_cli("simulate", "--faces", str(FACES), "--out", str(tmp_path / "out"), "--shoppers", "2")
    assert done.returncode != 0 and "already exists" in done.stderr
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.slow
def test_evaluate_chain_reports_the_issue_s_fields_for_every_scenario_size_and_estimator() -> None:
    done = run_cli("evaluate", "--model", str(REPO / "models" / "ferplus_cnn_int8.tflite"), "--data", str(FACES),
                   "--chain", "--profile", "near", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report["visits"]) >= {"simulated", "recorded", "recall", "split", "merged", "label_accuracy"}
    assert report["visits"]["simulated"] == 35 and 0 < report["visits"]["recall"] <= 1
    rows = report["chain"]
    assert {(r["scenario"], r["n"], r["estimator"]) for r in rows} == {
        (s, n, e) for s in ("natural", "happy50", "bad30", "dirichlet", "mixshift") for n in (200, 1000)
        for e in ("count", "corrected")}
    for row in rows:
        assert row["profile"] == "near" and 0 <= row["coverage_index"] <= 1 and row["mae_index"] >= abs(row["bias_index"])
        assert 0 <= row["mae_mix"] <= 1
    assert report["chain_seconds"] > 0 and "sidecar's chain calibration" in report["chain_calibration"]


def test_a_long_folder_runs_in_chunks_of_footage_and_counts_every_shopper(tmp_path: Path) -> None:
    """Footage is rendered a chunk of shoppers at a time (a big folder once wrote one AVI past 4 GB, and
    OpenCV aborted the process); the runs' shoppers and visits add up, and folds see every chunk."""
    from edgeemo.sim.chain import run_chains, summary_of
    from edgeemo.sim.evaluate import _folds

    cast = load_cast(str(FACES))
    profile = load_profile("far").model_copy(update={"shoppers": load_profile("far").shoppers.model_copy(
        update={"per_minute": 6.0})})
    chosen = np.arange(10)
    arguments = (open_edge_model(None, 1), cast.images[chosen], [cast.names[cast.labels[i]] for i in chosen],
                 profile)
    runs = run_chains(*arguments, seed=2, boxes="oracle", chunk=4, workers=2)  # chunks side by side
    assert [len(run.truth.shoppers) for run in runs] == [4, 4, 2]
    one_by_one = run_chains(*arguments, seed=2, boxes="oracle", chunk=4, workers=1)
    assert [run.visits for run in runs] == [run.visits for run in one_by_one]  # each chunk's seed fixes it
    summary = summary_of(runs)
    assert summary["simulated"] == sum(len(run.in_view()) for run in runs) >= 8
    assert summary["recorded"] == sum(len(run.visits) for run in runs)
    plans = _folds(runs, 2, 0, None, [])
    assert len(plans) == 6 and all(sum(map(len, scored.by_label)) for scored, _ in plans)
    assert sum(scored.shoppers for scored, _ in plans[:2]) == summary["simulated"]  # one split: every shopper once
