"""The dashboard's numbers as files: CSV (and JSON) for the API and `edgeemo hub export`.

Its own module so the export command renders without importing the web stack.
"""

from __future__ import annotations

import csv
import io
import json

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would run as a formula


def cell(value) -> str | int | float:
    """One CSV cell: numbers as they are, nested values as JSON, and text a spreadsheet would read
    as a formula (=, +, -, @ first) behind a quote, so an export opened in Excel runs nothing."""
    if value is None:
        return ""
    if isinstance(value, (bool, int, float)):
        return value
    text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def to_csv(rows: list[dict]) -> str:
    """Flat rows as CSV (nested values as JSON, formulas neutralised), the columns of the first row first."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: cell(value) for key, value in row.items()})
    return out.getvalue()
