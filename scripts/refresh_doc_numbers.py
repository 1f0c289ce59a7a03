"""Rewrite each tagged number in the docs (`<!-- r: reports/FILE.json > key ... [*scale] -->`, checked by
tests/test_docs_numbers.py) from its report, keeping its places and thousands separators; prints each
change, so the prose around a changed number can be read again. Run after re-measuring a report.

    python scripts/refresh_doc_numbers.py README.md docs/*.md
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TAG = re.compile(r"<!-- r: (reports/[^\s>]+\.json)((?: > [^>*]+?)+)(?: \*([0-9.e+-]+))? -->")
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def value_of(report: str, keys: list[str]) -> float:
    value = json.loads((REPO / report).read_text())
    for key in keys:
        value = value[key]
    return float(value)


def formatted(value: float, like: str) -> str:
    places = len(like.split(".")[1]) if "." in like else 0
    text = f"{value:,.{places}f}" if "," in like else f"{value:.{places}f}"
    return text


def refresh_line(line: str) -> str:
    out, start = [], 0
    for tag in TAG.finditer(line):
        before = line[start:tag.start()]
        numbers = list(NUMBER.finditer(before))
        if numbers:
            last = numbers[-1]
            keys = [k.strip() for k in tag.group(2).split(" > ") if k.strip()]
            value = value_of(tag.group(1), keys) * float(tag.group(3) or 1)
            before = before[:last.start()] + formatted(value, last.group(0)) + before[last.end():]
        out.append(before + tag.group(0))
        start = tag.end()
    out.append(line[start:])
    return "".join(out)


def main() -> int:
    for name in sys.argv[1:]:
        path = Path(name)
        lines = path.read_text().split("\n")
        new = [refresh_line(line) for line in lines]
        for number, (old, fresh) in enumerate(zip(lines, new), 1):
            if old != fresh:
                print(f"{name}:{number}: {TAG.sub('', old).strip()[:160]}\n  -> {TAG.sub('', fresh).strip()[:160]}")
        path.write_text("\n".join(new))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
