"""Every benchmark number the docs quote is checked against the report file it comes from, so none can
go stale: a number is followed by its tag, `<!-- r: reports/FILE.json > key > key [*scale] -->`
(invisible when rendered), and must equal the report's value rounded as the doc writes it. In
docs/benchmarks.md every table cell that is a measurement must carry one."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import REPO

TAG = re.compile(r"<!-- r: (reports/[^\s>]+\.json)((?: > [^>*]+?)+)(?: \*([0-9.e+-]+))? -->")
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SETTINGS = {"hub processes", "report", "model", "test set"}  # columns that name a set-up, not a measurement


def tagged_numbers(text: str) -> list[tuple[str, str, list[str], float, int]]:
    """(number as written, report, key path, scale, line) of every tag: the number is the last one written
    between the previous tag (or the line's start) and this tag."""
    found = []
    for line_no, line in enumerate(text.splitlines(), 1):
        start = 0
        for tag in TAG.finditer(line):
            before = re.sub(r"`[^`]*`", "", line[start:tag.start()])
            numbers = NUMBER.findall(before)
            assert numbers, f"line {line_no}: a tag with no number before it: {tag.group(0)}"
            keys = [key.strip() for key in tag.group(2).split(" > ") if key.strip()]
            found.append((numbers[-1], tag.group(1), keys, float(tag.group(3) or 1), line_no))
            start = tag.end()
    return found


def value_of(report: str, keys: list[str]):
    value = json.loads((REPO / report).read_text())
    for key in keys:
        value = value[key]
    return value


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_tagged_number_is_its_reports(doc: Path) -> None:
    for written, report, keys, scale, line in tagged_numbers(doc.read_text()):
        assert (REPO / report).is_file(), f"{doc.name}:{line}: {report} does not exist"
        measured = value_of(report, keys) * scale
        places = len(written.split(".")[1]) if "." in written else 0
        shown = float(written.replace(",", ""))
        assert round(measured, places) == pytest.approx(shown, abs=1e-9), (
            f"{doc.name}:{line}: says {written}, {report} > {' > '.join(keys)} is {measured} "
            f"({round(measured, places)} as written): update the doc (or re-measure)")


def test_the_benchmark_tables_tag_every_measurement() -> None:
    text = (REPO / "docs" / "benchmarks.md").read_text()
    header: list[str] = []
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.startswith("|"):
            header = []
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if not header:
            header = cells
            continue
        if set(line) <= set("|-: "):
            continue
        for name, cell in list(zip(header, cells))[1:]:  # the first cell names the row
            bare = re.sub(r"`[^`]*`|\*\*", "", TAG.sub("", cell)).strip()
            if name in SETTINGS or not NUMBER.fullmatch(bare.rstrip("%x").removesuffix(" ms").strip()):
                continue
            assert TAG.search(cell), f"benchmarks.md:{line_no}: {name!r} = {cell!r} has no report tag"


def test_a_wrong_number_would_be_caught(tmp_path: Path) -> None:
    """The check can fail: a number that differs from its report is reported, with both."""
    report = "reports/hub/bench_postgresql_1hub.json"
    right = value_of(report, ["ingest_msgs_per_s"])
    [(written, *_)] = tagged_numbers(f"ingest **{right + 1:,}**<!-- r: {report} > ingest_msgs_per_s --> msg/s")
    assert float(written.replace(",", "")) != right
    assert tagged_numbers(f"{right:,}<!-- r: {report} > ingest_msgs_per_s -->")[0][0] == f"{right:,}"
    assert len([tag for doc in DOCS for tag in tagged_numbers(doc.read_text())]) >= 50  # the docs do use tags
