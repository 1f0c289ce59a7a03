"""`edgeemo run` end to end on real video: faces, visits, the database, faults and privacy."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from tests.conftest import CLIP, CLIP_FRAMES, CLIP_IN_VIEW_S, REPO, ReadOnlyDir, db_rows, run_cli, start_cli, wait_for

INT8 = REPO / "models" / "fer_cnn_int8.tflite"


def test_the_sample_clip_finds_the_face_in_almost_every_frame_and_yields_one_visit(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    done = run_cli("run", "--source", str(CLIP), "--db", str(db), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["frames"] == CLIP_FRAMES
    in_view = (CLIP_IN_VIEW_S[1] - CLIP_IN_VIEW_S[0]) * 15 / CLIP_FRAMES  # the share of frames the face is in
    assert summary["face_rate"] >= 0.9 * in_view
    assert summary["detect_frames_with_face"] >= 0.9 * in_view * summary["detect_frames"]  # the shopper walks off
    assert summary["visits"] == 1
    [(visits,)] = db_rows(db, "SELECT COUNT(*) FROM visits")
    [(faces, aggregated_visits)] = db_rows(db, "SELECT SUM(faces_seen), SUM(visits) FROM aggregates")
    assert visits == 1 and aggregated_visits == 1 and faces >= 1


def test_each_shopper_is_one_visit_and_the_report_suppresses_small_buckets(tmp_path: Path,
                                                                              three_visits_clip: Path) -> None:
    db = tmp_path / "e.db"
    done = run_cli("run", "--source", str(three_visits_clip), "--db", str(db), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["visits"] == 3
    dwell = [row[0] for row in db_rows(db, "SELECT dwell_s FROM visits")]
    in_view = CLIP_IN_VIEW_S[1] - CLIP_IN_VIEW_S[0]  # the truth: how long the face is wholly in view
    assert len(dwell) == 3 and all(abs(d - in_view) <= 0.6 for d in dwell), (dwell, in_view)

    hidden = run_cli("report", "--db", str(db), "--out", str(tmp_path / "k5"))
    assert hidden.returncode == 0, hidden.stderr
    report = json.loads((tmp_path / "k5" / "report.json").read_text())
    assert report["visits"] == 0 and report["satisfaction_index"] is None  # three visits in an hour: held back
    assert all(b["suppressed"] and b["visits"] is None for b in report["buckets"])

    shown = run_cli("report", "--db", str(db), "--out", str(tmp_path / "k1"), "--min-visits", "1", "--bucket", "day")
    assert shown.returncode == 0, shown.stderr
    report = json.loads((tmp_path / "k1" / "report.json").read_text())
    buckets = report["buckets"]  # one day, or two when the 23 s of clip straddle UTC midnight
    assert sum(bucket["visits"] for bucket in buckets) == 3 and not any(bucket["suppressed"] for bucket in buckets)
    for bucket in buckets:
        assert sum(bucket[f"raw_share_{label}"] for label in report["labels"]) == pytest.approx(1.0)
        assert bucket["satisfaction_method"] == "corrected"  # the default model's calibration, from this run on
        assert bucket["satisfaction_imprecise"] is True  # three visits are no number
    for chart in ("satisfaction.png", "emotion_mix.png"):
        assert cv2.imread(str(tmp_path / "k1" / chart)) is not None
    assert (tmp_path / "k1" / "report.csv").read_text().count("\n") == 1 + len(buckets)


PRIVACY_PROBE = """
import importlib.abc, os, sys
BLOCKED = {"tensorflow", "tf_keras", "keras", "tensorflow_model_optimization"}
class BlockTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError("blocked by the test: " + name)
sys.meta_path.insert(0, BlockTensorFlow())
import cv2
written = []
real_imwrite, real_writer = cv2.imwrite, cv2.VideoWriter
cv2.imwrite = lambda path, *a, **k: written.append(path) or real_imwrite(path, *a, **k)
cv2.VideoWriter = lambda *a, **k: written.append(a[0] if a else "?") or real_writer(*a, **k)
from edgeemo.cli import main
code = main(sys.argv[1:])
print("PROBE", code, written, sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED))
"""


def test_run_never_imports_tensorflow_and_writes_no_image(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", PRIVACY_PROBE, "run", "--source", str(CLIP), "--db", "e.db"], check=False,
        cwd=work, capture_output=True, text=True, timeout=300, env={"PATH": "/usr/bin:/bin", "HOME": str(work),
                                                                     "TMPDIR": str(work)},
    )
    assert done.returncode == 0, done.stderr
    assert "PROBE 0 [] []" in done.stdout, done.stdout[-500:]
    created = {p.relative_to(work).as_posix() for p in work.rglob("*") if p.is_file()}
    # the database, and the highest sequence number handed out (a number: a reset database numbers on from it)
    assert created and created <= {"e.db", "e.db-wal", "e.db-shm", "e.db.seq"}, created


@pytest.mark.parametrize("damage", ["truncated", "html", "html-rehashed", "keras"])
def test_bad_model_files_are_refused_in_one_line(tmp_path: Path, damage: str) -> None:
    model = tmp_path / "m.tflite"
    sidecar = json.loads(INT8.with_suffix(".json").read_text())
    if damage == "truncated":
        model.write_bytes(INT8.read_bytes()[: 100_000])
        expected = "does not match its sidecar"
    elif damage == "html":
        model.write_text("<!DOCTYPE html><html><body>502 Bad Gateway</body></html>")
        expected = "does not match its sidecar"
    elif damage == "html-rehashed":  # someone "fixed" the hash: the runtime itself must refuse it
        import hashlib

        model.write_text("<!DOCTYPE html><html><body>502 Bad Gateway</body></html>")
        sidecar["sha256"] = hashlib.sha256(model.read_bytes()).hexdigest()
        expected = "not a loadable TFLite model"
    else:
        model = tmp_path / "m.keras"
        model.write_bytes(b"PK")
        expected = "runs .tflite models"
    model.with_suffix(".json").write_text(json.dumps(sidecar))
    done = run_cli("run", "--source", str(CLIP), "--model", str(model), "--db", str(tmp_path / "e.db"))
    assert done.returncode == 2
    assert expected in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_a_read_only_database_directory_is_reported_and_the_run_goes_on(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    with ReadOnlyDir(folder):
        done = run_cli("run", "--source", str(CLIP), "--db", str(folder / "e.db"), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["visits"] == 1
    log = done.stderr
    assert "holding aggregates in memory" in log
    assert "unwritten visit" in log and "unwritten aggregate" in log  # kept in the journal, not lost


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edgeemo.toml"
    path.write_text(text)
    return path


def _visits(db: Path) -> int:
    try:
        return db_rows(db, "SELECT COUNT(*) FROM visits")[0][0]
    except sqlite3.Error:
        return 0


def test_kill_9_mid_run_leaves_a_database_that_passes_integrity_check(tmp_path: Path,
                                                                       three_visits_clip: Path) -> None:
    db = tmp_path / "e.db"
    config = _config(tmp_path, "[store]\ncommit_every_s = 0.2\n")
    process = start_cli("run", "--source", str(three_visits_clip), "--db", str(db), "--config", str(config))
    try:
        wait_for(lambda: _visits(db) >= 1, 120, "the first visit on disk")
    finally:
        process.kill()
        process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert db_rows(db, "PRAGMA integrity_check") == [("ok",)]
    before = _visits(db)
    again = run_cli("run", "--source", str(CLIP), "--db", str(db), "--config", str(config))
    assert again.returncode == 0, again.stderr
    assert _visits(db) == before + 1 and not list(tmp_path.glob("e.db.corrupt-*"))


def test_sigterm_stops_cleanly_and_flushes_the_open_interval(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    config = _config(tmp_path, "[source]\nrealtime = true\n[store]\ncommit_every_s = 60\n")
    log = tmp_path / "run.log"
    process = start_cli("run", "--source", str(CLIP), "--db", str(db), "--config", str(config), log=log)
    wait_for(lambda: "running: source" in log.read_text(), 120, "the frame loop to start")
    time.sleep(3.5)  # mid-clip (7.5 s in real time; the face in view from 1.4 s): the visit open, nothing committed
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    output = log.read_text()
    assert process.returncode == 0, output
    assert "SIGTERM: stopping" in output
    [(intervals, visits)] = db_rows(db, "SELECT COUNT(*), SUM(visits) FROM aggregates")
    assert intervals >= 1 and visits == 1  # the open track ended as a visit and its interval was written


def test_bad_config_exits_78_naming_the_key(tmp_path: Path) -> None:
    config = _config(tmp_path, "[detector]\nevery_n_frame = 3\n")
    done = run_cli("run", "--validate-config", "--config", str(config))
    assert done.returncode == 78 and "detector.every_n_frame" in done.stderr
    done = run_cli("run", "--source", str(CLIP), "--config", str(_config(tmp_path, "[mqtt]\nport = 0\n")))
    assert done.returncode == 78 and "mqtt.port" in done.stderr
    done = run_cli("run", "--validate-config", "--config", str(REPO / "edge" / "edgeemo.example.toml"))
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("text", "args", "fragment", "code"), [
    ('[analytics]\npositive = ["joy"]\n', (), "label 'joy' is not one of the model's labels", 78),  # the bundled model
    ('[analytics]\nnegative = ["contempt"]\n', ("--model", "models/fer_cnn_int8.tflite"),
     "label 'contempt' is not one of the model's labels", 78),  # the configured model: 7 FER-2013 labels
    ('[mqtt]\nenabled = true\n', (), "[mqtt] enabled = true needs this device's store_id", 78),
    ("", ("--source", "no-such-clip.mp4"), "no-such-clip.mp4: no such file or folder", 2),
    ("", ("--model", "no-such-model.tflite"), "no-such-model.tflite", 2),
])
def test_validate_config_makes_every_check_run_makes(tmp_path: Path, text: str, args: tuple, fragment: str,
                                                     code: int) -> None:
    """What `run` would refuse, `--validate-config` refuses first, with the same line and exit status."""
    config = _config(tmp_path, text)
    checked = run_cli("run", "--validate-config", "--config", str(config), *args)
    assert checked.returncode == code and fragment in checked.stderr, checked.stderr
    assert len(checked.stderr.strip().splitlines()) == 1 and "config OK" not in checked.stdout
    ran = run_cli("run", "--config", str(config), "--db", str(tmp_path / "e.db"),
                  *(args if "--source" in args else ("--source", str(CLIP), *args)))
    assert ran.returncode == code and fragment in ran.stderr, ran.stderr


def test_validate_config_passes_what_run_accepts(tmp_path: Path) -> None:
    config = _config(tmp_path, 'store_id = "store-9"\n[analytics]\npositive = ["happy", "surprise"]\n')
    checked = run_cli("run", "--validate-config", "--config", str(config), "--source", str(CLIP))
    assert checked.returncode == 0 and "config OK" in checked.stdout and "ferplus_cnn_int8.tflite" in checked.stdout


def test_bench_measures_both_loops_on_the_clip(tmp_path: Path) -> None:
    done = run_cli("bench", "--source", str(CLIP), "--repeat", "1", "--json", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["edge"]["frames"] == result["naive"]["frames"] == CLIP_FRAMES
    assert result["per_face_inference"]["n"] == 300 and result["per_face_inference"]["median_ms"] > 0
    assert result["speedup"] == pytest.approx(result["edge"]["fps"] / result["naive"]["fps"], rel=0.05)
    assert result["peak_rss_mb"] > 0
    assert json.loads((tmp_path / "bench.json").read_text())["edge"] == result["edge"]


def test_an_edgetpu_model_without_the_edge_tpu_runs_on_the_cpu_with_one_warning(tmp_path: Path) -> None:
    model = tmp_path / "fer_cnn_int8_edgetpu.tflite"
    shutil.copy(INT8, model)
    shutil.copy(INT8.with_suffix(".json"), model.with_suffix(".json"))
    done = run_cli("run", "--source", str(CLIP), "--model", str(model), "--db", str(tmp_path / "e.db"),
                   "--max-frames", "10")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("Edge TPU unavailable") == 1 and "running on the CPU" in done.stdout
    assert "Traceback" not in done.stderr, done.stderr


def test_annotate_out_is_an_explicit_opt_in_with_a_privacy_warning(tmp_path: Path) -> None:
    video = tmp_path / "debug.mp4"
    done = run_cli("run", "--source", str(CLIP), "--db", str(tmp_path / "e.db"), "--annotate-out", str(video),
                   "--max-frames", "20")
    assert done.returncode == 0, done.stderr
    assert "PRIVACY WARNING: --annotate-out" in done.stdout
    capture = cv2.VideoCapture(str(video))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 20


def test_flip_tta_classifies_each_face_with_its_mirror_in_one_batch(tmp_path: Path, monkeypatch) -> None:
    import threading

    import numpy as np

    from edgeemo.edge.config import RunConfig
    from edgeemo.edge.inference import model as edge_model
    from edgeemo.edge.inference.classifier import TFLiteClassifier
    from edgeemo.edge.runtime import run

    batches: list[np.ndarray] = []

    class Recording(TFLiteClassifier):
        def predict(self, faces: np.ndarray) -> np.ndarray:
            batches.append(faces.copy())
            return super().predict(faces)

    monkeypatch.setattr(edge_model, "TFLiteClassifier", Recording)
    every_frame = {"per_second": 0, "uncertain_per_second": 0}  # the same crops either way, whatever confidence
    plain, _ = run(RunConfig.model_validate({"classify": every_frame}).with_paths(db=tmp_path / "p.db"), str(CLIP),
                   stop=threading.Event())
    plain_sizes = [len(batch) for batch in batches]
    batches.clear()
    config = RunConfig.model_validate({"model": {"tta": "flip"}, "classify": every_frame}).with_paths(
        db=tmp_path / "t.db")
    stats, _ = run(config, str(CLIP), stop=threading.Event())
    assert stats.faces_classified == plain.faces_classified and stats.visits == 1
    assert [len(batch) for batch in batches] == [2 * n for n in plain_sizes]  # the faces, then their mirrors
    assert all(np.array_equal(batch[len(batch) // 2:], batch[: len(batch) // 2][:, :, ::-1]) for batch in batches)
