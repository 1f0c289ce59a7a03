"""The licences are in order: the project's own (Apache-2.0, as pyproject.toml says), a NOTICE naming
every vendored file that exists, and the provenance and licence of every sample file."""

from __future__ import annotations

import re

from tests.conftest import REPO


def test_the_license_is_apache_2_in_full() -> None:
    text = (REPO / "LICENSE").read_text()
    assert text.strip().startswith("Apache License") and "Version 2.0, January 2004" in text
    for section in ("1. Definitions.", "9. Accepting Warranty or Additional Liability.", "END OF TERMS AND CONDITIONS"):
        assert section in text
    assert 'license = "Apache-2.0"' in (REPO / "pyproject.toml").read_text()


def test_the_notice_names_every_vendored_file_and_its_licence() -> None:
    notice = (REPO / "NOTICE").read_text()
    vendored = {
        "edge/vision/blazeface_data/face_detection_back.tflite": "Apache License 2.0",
        "edge/vision/blazeface_data/face_detection_full_range.tflite": "Apache License 2.0",
        "hub/static/chart.min.js": "MIT License",
        "samples/clip.mp4": "rendered by edgeemo itself",
    }
    for path, licence in vendored.items():
        assert (REPO / path).is_file(), path
        assert path.rsplit("/", 1)[1] in notice and licence in notice, path
    for path in re.findall(r"\b((?:edge|hub|calibration|samples|models)/[\w./-]+\.\w+)", notice):
        assert (REPO / path).exists(), f"NOTICE names {path}, which is not there"
    assert (REPO / "edge/vision/blazeface_data/LICENSE").read_text() == (REPO / "LICENSE").read_text()


def test_every_sample_file_has_its_provenance_and_licence() -> None:
    readme = (REPO / "samples" / "README.md").read_text()
    files = [p for p in (REPO / "samples").rglob("*") if p.is_file() and p.name != "README.md"]
    assert files
    for path in files:
        covered = path.name in readme or (path.parent.parent.name == "faces" and "faces/<label>/PublicTest_*.jpg"
                                          in readme and path.name.startswith("PublicTest_"))
        assert covered, f"{path.relative_to(REPO)}: not in samples/README.md"
    assert "FER-2013" in readme and "rendered by edgeemo itself" in readme  # no third-party footage ships
    assert "third-party" not in (REPO / "NOTICE").read_text().split("samples/clip.mp4", 1)[1].split("\n\n")[0]
