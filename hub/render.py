"""The dashboard's numbers as files: CSV (and JSON) for the API and `edgeemo hub export`.

Its own module so the export command renders without importing the web stack.
"""

from __future__ import annotations

import csv
import io
import json


def to_csv(rows: list[dict]) -> str:
    """Flat rows as CSV (nested values as JSON), the columns of the first row first."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else ("" if v is None else v)
                         for k, v in row.items()})
    return out.getvalue()
