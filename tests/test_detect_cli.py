"""`edgeemo detect` as an installer uses it: faces and sizes per image, JSON lines, no image written
unless --out, one-line errors for bad paths, and unreadable files skipped without losing the rest."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np

from edgeemo.edge.vision.blazeface import iou_one_to_many
from tests.conftest import REPO, real_clip, run_cli
from tests.test_cli import assert_one_line_error

ANNOTATIONS = json.loads((REPO / "scripts" / "detection_annotations.json").read_text())
FACE_0 = np.asarray(ANNOTATIONS["clips"][0]["frames"]["0"]["faces"][0], float)


def git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=REPO, capture_output=True, text=True,
                          check=False).stdout


def write_clip_frame(folder: Path) -> Path:
    capture = cv2.VideoCapture(str(real_clip()))
    ok, image = capture.read()
    capture.release()
    assert ok
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "frame0.png"
    cv2.imwrite(str(path), image)
    return path


def test_json_lines_give_each_images_faces_in_the_documented_shape(tmp_path: Path) -> None:
    images = tmp_path / "images"
    frame = write_clip_frame(images)
    cv2.imwrite(str(images / "empty.png"), np.full((240, 320, 3), 128, np.uint8))
    before = sorted(tmp_path.rglob("*"))
    repo_before = git_status()
    done = run_cli("detect", "--json", str(images))
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [Path(row["image"]).name for row in rows] == ["empty.png", "frame0.png"]
    empty, found = rows
    assert empty == {"image": str(images / "empty.png"), "width": 320, "height": 240, "detector": "blazeface/back",
                     "faces": []}
    assert (found["width"], found["height"], found["detector"]) == (596, 336, "blazeface/back")
    [face] = found["faces"]
    assert set(face) == {"box", "score"} and 0.5 <= face["score"] <= 1.0
    assert iou_one_to_many(FACE_0, np.asarray([face["box"]], float))[0] >= 0.6
    assert sorted(tmp_path.rglob("*")) == before, "detect wrote something without --out"
    assert git_status() == repo_before, "detect wrote into its working directory"
    assert frame.exists()


def test_haar_through_the_config_has_no_score_and_text_output_gives_sizes(tmp_path: Path) -> None:
    frame = write_clip_frame(tmp_path / "images")
    config = tmp_path / "haar.toml"
    config.write_text('[detector]\nkind = "haar"\n')
    done = run_cli("detect", "--config", str(config), "--json", str(frame))
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)
    assert row["detector"] == "haar" and row["faces"] and all(face["score"] is None for face in row["faces"])
    text = run_cli("detect", str(frame))
    assert text.returncode == 0 and "596x336, 1 face (blazeface/back): " in text.stdout and " px at (" in text.stdout


def test_out_draws_the_boxes_with_the_privacy_warning(tmp_path: Path) -> None:
    frame = write_clip_frame(tmp_path / "images")
    other = write_clip_frame(tmp_path / "elsewhere")  # the same name in another folder
    cv2.imwrite(str(tmp_path / "images" / "frame0.jpg"), cv2.imread(str(frame)))  # and beside it as .jpg
    done = run_cli("detect", "--out", str(tmp_path / "drawn"), str(tmp_path / "images"), str(other))
    assert done.returncode == 0, done.stderr
    assert "PRIVACY WARNING" in done.stderr
    written = sorted(p.name for p in (tmp_path / "drawn").iterdir())
    assert written == ["frame0_jpg.detected.png", "frame0_png-2.detected.png", "frame0_png.detected.png"]
    drawn = cv2.imread(str(tmp_path / "drawn" / "frame0_png.detected.png"))
    assert drawn is not None and drawn.shape == (336, 596, 3)


def test_a_face_whose_centre_is_in_an_excluded_zone_is_not_reported(tmp_path: Path) -> None:
    frame = write_clip_frame(tmp_path / "images")
    [face] = json.loads(run_cli("detect", "--json", str(frame)).stdout)["faces"]
    x, _, w, _ = face["box"]
    cx = (x + w / 2) / 596
    strip = [(cx - 0.01, 0.0), (cx + 0.01, 0.0), (cx + 0.01, 1.0), (cx - 0.01, 1.0)]  # too thin to hide the face
    config = tmp_path / "strip.toml"
    config.write_text('[[zones]]\nname = "staff"\nkind = "exclude"\npolygon = '
                      + json.dumps([list(point) for point in strip]) + "\n")
    done = run_cli("detect", "--json", "--config", str(config), str(frame))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["faces"] == []  # edgeemo run would drop it by the box-centre rule


def test_bad_paths_are_one_line_and_an_unreadable_file_is_skipped_not_fatal(tmp_path: Path) -> None:
    assert_one_line_error(run_cli("detect", str(tmp_path / "missing.png")), "missing.png", "no such image")
    (tmp_path / "nothing").mkdir()
    assert_one_line_error(run_cli("detect", str(tmp_path / "nothing")), "no images in this folder")
    images = tmp_path / "images"
    write_clip_frame(images)
    (images / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg" * 100)
    done = run_cli("detect", "--json", str(images))
    assert done.returncode == 1
    assert "broken.jpg: not a readable image, skipped" in done.stderr and "Traceback" not in done.stderr
    assert [Path(json.loads(line)["image"]).name for line in done.stdout.splitlines()] == ["frame0.png"]
    bad = tmp_path / "bad.toml"
    bad.write_text('[detector]\nkind = "yunet"\n')
    failed = run_cli("detect", "--config", str(bad), str(images))
    assert failed.returncode != 0 and "kind" in failed.stderr and "Traceback" not in failed.stderr
