"""Zones: staff areas are never analysed (not detected, tracked, cropped or classified), and each
analysed zone is counted on its own, in the database, the payload, the report and /metrics."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeemo.edge.config import RunConfig, load_config
from edgeemo.edge.inference.classifier import TFLiteClassifier
from edgeemo.edge.vision.zones import ZoneConfig, ZoneMap
from tests.conftest import CLIP, CLIP_FRAMES, REPO, db_rows, run_cli

LEFT = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]
RIGHT = [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]
WHOLE = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
LEFT_FACE = REPO / "samples" / "faces" / "happy" / "PublicTest_10130075.jpg"
RIGHT_FACE = REPO / "samples" / "faces" / "surprise" / "PublicTest_10754294.jpg"


def zones_toml(*zones: tuple[str, str, list]) -> str:
    return "".join(f'[[zones]]\nname = "{name}"\nkind = "{kind}"\npolygon = {json.dumps(polygon)}\n\n'
                   for name, kind, polygon in zones)


def write_config(folder: Path, text: str, name: str = "edgeemo.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def two_faces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An image folder: 30 frames (3 s at 10 fps) of a face left and another right, on a plain background."""
    folder = tmp_path_factory.mktemp("two_faces")
    frame = np.full((360, 640, 3), 128, np.uint8)
    for face_file, x in ((LEFT_FACE, 60), (RIGHT_FACE, 430)):
        face = cv2.resize(cv2.imread(str(face_file)), (150, 150), interpolation=cv2.INTER_CUBIC)
        frame[100:250, x:x + 150] = face
    for index in range(30):
        cv2.imwrite(str(folder / f"frame_{index:03d}.png"), frame)
    return folder


FPS10 = "[source]\nfps = 10.0\n\n"


# -- validation: every bad zone exits 78 naming it ----------------------------------------
@pytest.mark.parametrize("zones, message", [
    ((("a", "analyse", [[0, 0], [1, 0]]),), "zone 'a': a polygon needs at least 3 points"),
    ((("b", "exclude", [[0, 0], [1.2, 0], [1, 1]]),), "zone 'b': point [1.2, 0.0] is outside the frame"),
    ((("bow", "analyse", [[0, 0], [1, 1], [1, 0], [0, 1]]),), "zone 'bow': the polygon is not simple"),
    ((("c", "analyse", LEFT), ("c", "exclude", RIGHT)), "zone 'c': the name is used twice"),
    ((("d", "analyse", LEFT), ("e", "analyse", WHOLE)), "zone 'e': overlaps analyse zone 'd'"),
    ((("all", "analyse", LEFT),), "zone 'all': the name is reserved"),
])
def test_a_bad_zone_exits_78_naming_it(tmp_path: Path, zones: tuple, message: str) -> None:
    config = write_config(tmp_path, zones_toml(*zones))
    done = run_cli("run", "--validate-config", "--config", str(config))
    assert done.returncode == 78, done.stdout + done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_touching_analyse_zones_and_an_exclude_zone_overlapping_them_are_fine(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, zones_toml(("l", "analyse", LEFT), ("r", "analyse", RIGHT),
                                                           ("staff", "exclude", WHOLE))))
    assert [zone.name for zone in config.zones] == ["l", "r", "staff"]


@pytest.mark.parametrize("text, key", [
    ('store_id = "a+b"\n', "store_id"),
    ('device_id = "pi/1"\n', "device_id"),
    ('[mqtt]\ntopic_prefix = "shop/#"\n', "mqtt.topic_prefix"),
    ('[mqtt]\ntopic_prefix = "shop//x"\n', "mqtt.topic_prefix"),
    ('[analytics]\npositive = ["happy"]\nnegative = ["happy"]\n', "analytics"),
])
def test_names_that_would_break_mqtt_topics_exit_78_at_validation(tmp_path: Path, text: str, key: str) -> None:
    done = run_cli("run", "--validate-config", "--config", str(write_config(tmp_path, text)))
    assert done.returncode == 78 and f": {key}" in done.stderr, done.stderr


# -- the box-centre rule and the detector's blanking ----------------------------------------
def test_a_face_belongs_to_the_zone_holding_its_box_centre_and_exclusion_wins() -> None:
    zones = ZoneMap([ZoneConfig(name="l", kind="analyse", polygon=LEFT), ZoneConfig(name="r", kind="analyse", polygon=RIGHT),
                     ZoneConfig(name="staff", kind="exclude", polygon=[[0.8, 0.0], [1.0, 0.0], [1.0, 0.5], [0.8, 0.5]])])
    assert zones.zone_of((10, 10, 100, 100), 640, 360) == "l"
    assert zones.zone_of((300, 10, 100, 100), 640, 360) == "r"  # straddles the border; centre x 350 is right
    assert zones.zone_of((560, 10, 60, 60), 640, 360) is None  # centre in the staff area
    assert ZoneMap([ZoneConfig(name="l", kind="analyse", polygon=LEFT)]).zone_of((400, 10, 50, 50), 640, 360) is None
    assert ZoneMap([]).zone_of((400, 10, 50, 50), 640, 360) == "all"


def test_excluded_pixels_never_reach_the_detector(two_faces: Path) -> None:
    from edgeemo.edge.config import DetectorConfig
    from edgeemo.edge.vision.haar import HaarDetector

    frame = cv2.imread(str(next(two_faces.iterdir())), cv2.IMREAD_GRAYSCALE)
    seen: list[np.ndarray] = []
    detector = HaarDetector(DetectorConfig(), zones=ZoneMap([ZoneConfig(name="s", kind="exclude", polygon=LEFT)]))
    real = detector.cascade
    detector.cascade = type("Spy", (), {"detectMultiScale": lambda self, image, **kw: (
        seen.append(image.copy()) or real.detectMultiScale(image, **kw))})()
    boxes = detector.detect(frame)
    assert len(boxes) == 1 and boxes[0][0] > 320  # only the right face
    [scanned] = seen
    assert scanned[:, : scanned.shape[1] // 2 - 1].max() == 0  # the left half was black when scanned
    assert frame[:, :320].max() > 0  # and the caller's frame is untouched


# -- end to end --------------------------------------------------------------------------
class CountingClassifier(TFLiteClassifier):
    calls = 0

    def predict(self, faces: np.ndarray) -> np.ndarray:
        CountingClassifier.calls += 1
        return super().predict(faces)


def test_an_exclude_zone_over_the_whole_frame_never_invokes_the_classifier(tmp_path: Path, monkeypatch) -> None:
    from edgeemo.edge.inference import model as edge_model
    from edgeemo.edge.runtime import run

    monkeypatch.setattr(edge_model, "TFLiteClassifier", CountingClassifier)
    CountingClassifier.calls = 0
    config = RunConfig.model_validate({"zones": [{"name": "staff", "kind": "exclude", "polygon": WHOLE}]})
    stats, db = run(config.with_paths(db=tmp_path / "z.db"), str(CLIP), stop=threading.Event())
    assert stats.frames == CLIP_FRAMES and stats.faces_classified == 0 and stats.visits == 0
    assert CountingClassifier.calls == 0
    assert db_rows(db, "SELECT COUNT(*) FROM visits") == [(0,)]
    # the same run without zones does classify: the counter can count
    run(RunConfig().with_paths(db=tmp_path / "n.db"), str(CLIP), stop=threading.Event())
    assert CountingClassifier.calls > 0


def test_an_exclude_zone_over_the_whole_frame_via_the_cli_classifies_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path, zones_toml(("staff", "exclude", WHOLE)))
    done = run_cli("run", "--source", str(CLIP), "--config", str(config), "--db", str(tmp_path / "e.db"), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["faces_classified"] == 0 and summary["visits"] == 0 and summary["frames"] == CLIP_FRAMES


def _visits(db: Path) -> list[tuple]:
    return db_rows(db, "SELECT round(dwell_s, 3), dominant, shares, start, zone FROM visits ORDER BY start")


def test_one_analyse_zone_over_the_whole_frame_counts_what_no_zones_count(tmp_path: Path) -> None:
    plain, zoned = tmp_path / "plain.db", tmp_path / "zoned.db"
    config = write_config(tmp_path, zones_toml(("floor", "analyse", WHOLE)))
    assert run_cli("run", "--source", str(CLIP), "--db", str(plain)).returncode == 0
    assert run_cli("run", "--source", str(CLIP), "--db", str(zoned), "--config", str(config)).returncode == 0
    assert [row[:3] for row in _visits(plain)] == [row[:3] for row in _visits(zoned)]
    assert {row[4] for row in _visits(plain)} == {"all"} and {row[4] for row in _visits(zoned)} == {"floor"}
    def emotion_counts(db: Path) -> Counter:
        return sum((Counter(json.loads(row[0])) for row in db_rows(db, "SELECT emotions FROM aggregates")), Counter())

    assert emotion_counts(plain) == emotion_counts(zoned) and sum(emotion_counts(plain).values()) == 1


def test_faces_in_two_zones_are_counted_each_in_its_own(tmp_path: Path, two_faces: Path) -> None:
    db = tmp_path / "two.db"
    config = write_config(tmp_path, FPS10 + zones_toml(("door", "analyse", LEFT), ("till", "analyse", RIGHT)))
    done = run_cli("run", "--source", str(two_faces), "--config", str(config), "--db", str(db), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["visits"] == 2
    assert Counter(row[4] for row in _visits(db)) == {"door": 1, "till": 1}
    # one face per zone: in each interval the zone held it (3 s of frames may straddle a minute: then two)
    per_zone = dict(db_rows(db, "SELECT zone, MAX(faces_seen) FROM aggregates GROUP BY zone"))
    assert per_zone == {"door": 1, "till": 1}

    report_dir = tmp_path / "report"
    done = run_cli("report", "--db", str(db), "--out", str(report_dir), "--min-visits", "1", "--bucket", "day")
    assert done.returncode == 0, done.stderr
    report = json.loads((report_dir / "report.json").read_text())
    assert report["visits"] == 2 and {name: z["visits"] for name, z in report["zones"].items()} == {"door": 1, "till": 1}
    csv_zones = [line.split(",")[0] for line in (report_dir / "report.csv").read_text().splitlines()[1:]]
    assert csv_zones == ["(all zones)", "door", "till"]
    k2 = run_cli("report", "--db", str(db), "--out", str(tmp_path / "k2"), "--min-visits", "2", "--bucket", "day")
    assert k2.returncode == 0
    report = json.loads((tmp_path / "k2" / "report.json").read_text())
    # one visit per zone: held back, and so from the total too (all zones minus one must not give the other away)
    assert report["buckets"] == [] and report["visits"] == 0 and report["zones"] == {}

    only = run_cli("report", "--db", str(db), "--out", str(tmp_path / "till"), "--min-visits", "1", "--zone", "till")
    assert only.returncode == 0, only.stderr
    assert json.loads((tmp_path / "till" / "report.json").read_text())["visits"] == 1
    missing = run_cli("report", "--db", str(db), "--out", str(tmp_path / "x"), "--zone", "nowhere")
    assert missing.returncode != 0 and "--zone nowhere" in missing.stderr and "door, till" in missing.stderr


def test_an_excluded_face_beside_an_analysed_one_is_never_counted(tmp_path: Path, two_faces: Path) -> None:
    db = tmp_path / "staff.db"
    config = write_config(tmp_path, FPS10 + zones_toml(("staff", "exclude", LEFT)))
    done = run_cli("run", "--source", str(two_faces), "--config", str(config), "--db", str(db), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["visits"] == 1 and summary["faces_classified"] + summary["faces_held"] == 30  # one face a frame
    assert db_rows(db, "SELECT zone FROM visits") == [("all",)]


def test_zones_preview_draws_the_zones_and_writes_only_where_told(tmp_path: Path) -> None:
    config = write_config(tmp_path, zones_toml(("staff", "exclude", LEFT), ("shelf", "analyse", RIGHT)))
    out = tmp_path / "preview" / "zones.png"
    out.parent.mkdir()
    done = run_cli("zones", "preview", "--source", str(CLIP), "--config", str(config), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "PRIVACY WARNING" in done.stderr
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["edgeemo.toml", "zones.png"]
    image = cv2.imread(str(out))
    plain = cv2.VideoCapture(str(CLIP)).read()[1]
    # the excluded half is tinted red, the analysed half green
    left, right = (image[:, :250].astype(int) - plain[:, :250]).mean((0, 1)), (image[:, 350:].astype(int) - plain[:, 350:]).mean((0, 1))
    assert left[2] > left[1] and right[1] > right[2]
    bad = run_cli("zones", "preview", "--source", str(CLIP), "--config", str(config), "--out", str(tmp_path / "no" / "z.png"))
    assert bad.returncode != 0 and "does not exist" in bad.stderr


def test_prometheus_counts_carry_the_zone_and_the_payload_validates(tmp_path: Path, two_faces: Path) -> None:
    import jsonschema

    from edgeemo.edge.analytics.intervals import Aggregate

    payload = Aggregate(0.0, 60, ("a", "b", "c"), zone="door", visits_by_emotion=Counter(a=2)).payload("s", "d", 3)
    jsonschema.validate(payload, json.loads((REPO / "edgeemo" / "schemas" / "aggregate.schema.json").read_text()))
    assert payload["zone"] == "door" and payload["labels"] == ["a", "b", "c"] and payload["seq"] == 3
