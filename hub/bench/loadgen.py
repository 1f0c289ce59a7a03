"""Generated load data for `edgeemo hub bench`: weeks of 1-minute aggregates for many stores,
written straight into the fleet database with the roll-ups `write_batch` would have made.

GENERATED, not measured: visits follow opening hours (Poisson), emotions a fixed true mix per
store as the shipped model would report it (through the confusion in its sidecar's calibration).
Writing 13M rows through the ingest path would take the better part of an hour, so
the rows and their hourly sums are made with numpy and bulk-loaded (PostgreSQL
COPY, SQLite executemany); a test checks the sums against `write_batch`'s on a small load.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterator

import numpy as np

from edgeemo.aggregates import DEFAULT_GROUPS
from edgeemo.bundled import DEFAULT_MODEL, bundled_model
from edgeemo.hub.db import Database
from edgeemo.hub.estimating import rollup_key
from edgeemo.hub.schema import DAY, DEVICES, HOUR, HOURLY, HOURLY_EMOTIONS, INTERVALS

LABELS = ("angry", "contempt", "disgust", "fear", "happy", "neutral", "sad", "surprise")
POSITIVE = [LABELS.index(x) for x in DEFAULT_GROUPS.positive if x in LABELS]
NEGATIVE = [LABELS.index(x) for x in DEFAULT_GROUPS.negative if x in LABELS]
GROUPS = json.dumps(DEFAULT_GROUPS.for_labels(LABELS).as_dict(), separators=(",", ":"))
DEVICE, ZONE = "cam-1", "all"


def shipped_model() -> dict[str, str]:
    """The model the generated devices claim to run: the shipped default, so their estimates are corrected."""
    sidecar = json.loads(bundled_model(DEFAULT_MODEL).with_suffix(".json").read_text())
    return {"name": DEFAULT_MODEL, "sha256": sidecar["sha256"]}


def store_name(index: int) -> str:
    return f"load-{index:03d}"


@functools.cache
def _answers() -> np.ndarray:
    """P(answer | true emotion) of the shipped model, from its sidecar's calibration (labels in LABELS order)."""
    sidecar = json.loads(bundled_model(DEFAULT_MODEL).with_suffix(".json").read_text())
    order = [sidecar["calibration"]["labels"].index(label) for label in LABELS]
    counts = np.asarray(sidecar["calibration"]["counts"], dtype=float)[np.ix_(order, order)]
    return counts / counts.sum(axis=1, keepdims=True)


def _store_rows(index: int, starts: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    hour = (starts % DAY) // HOUR
    rate = np.where((hour >= 8) & (hour < 21), 0.9, 0.03)  # opening hours (UTC, for simplicity)
    visits = rng.poisson(rate)
    true_mix = rng.dirichlet(np.array([1, 0.3, 0.3, 0.5, 4, 6, 1.2, 1.0]) * 5)
    emotions = rng.multinomial(visits, true_mix @ _answers())  # what the shipped model would report
    return {"start": starts, "visits": visits, "emotions": emotions,
            "faces": visits + rng.poisson(0.3, size=len(starts)),
            "dwell": np.round(visits * rng.uniform(4, 90, size=len(starts)), 3),
            "seq": np.arange(1, len(starts) + 1)}


def _rollup(rows: dict[str, np.ndarray], width: int) -> Iterator[tuple]:
    bucket = rows["start"] - rows["start"] % width
    edges = np.flatnonzero(np.diff(bucket)) + 1
    first = np.concatenate([[0], edges])
    count = np.diff(np.concatenate([first, [len(bucket)]]))
    sums = {name: np.add.reduceat(rows[name], first, axis=0) for name in ("visits", "faces", "dwell", "emotions")}
    for i, start in enumerate(first):
        emotions = sums["emotions"][i]
        yield (int(bucket[start]), int(count[i]), int(sums["faces"][i]), int(sums["visits"][i]),
               int(emotions[POSITIVE].sum()), int(emotions[NEGATIVE].sum()), float(sums["dwell"][i]), emotions)


def generate(database: Database, stores: int, days: int, now: float | None = None, seed: int = 0) -> int:
    """Write `stores` × `days` × 1440 intervals ending at the current minute; returns the rows."""
    now = int(time.time() if now is None else now)
    end = now - now % 60
    starts = np.arange(end - days * DAY, end, 60, dtype=np.int64)
    rng = np.random.default_rng(seed)
    labels = json.dumps(LABELS)
    model = shipped_model()
    model_json = json.dumps(model, separators=(",", ":"))
    key = rollup_key(model["sha256"], GROUPS)
    json_cache: dict[tuple, str] = {}
    total = 0
    for index in range(stores):
        store = store_name(index)
        rows = _store_rows(index, starts, rng)
        emotion_rows = rows["emotions"]
        texts = []
        for counts in map(tuple, emotion_rows.tolist()):
            text = json_cache.get(counts)
            if text is None:
                text = json_cache[counts] = json.dumps(dict(zip(LABELS, counts)), separators=(",", ":"))
            texts.append(text)
        positive = emotion_rows[:, POSITIVE].sum(axis=1)
        negative = emotion_rows[:, NEGATIVE].sum(axis=1)
        intervals = zip([store] * len(starts), [DEVICE] * len(starts), [ZONE] * len(starts), rows["start"].tolist(),
                        [60] * len(starts), rows["seq"].tolist(), [labels] * len(starts), texts,
                        [GROUPS] * len(starts), rows["faces"].tolist(), rows["visits"].tolist(), positive.tolist(),
                        negative.tolist(), rows["dwell"].tolist(), [model_json] * len(starts), [now] * len(starts))
        hourly = list(_rollup(rows, HOUR))
        emotion_cells = [(store, DEVICE, ZONE, b, LABELS[i], int(n)) for b, *_, e in hourly for i, n in enumerate(e) if n]
        with database.transaction(write=True) as tx:
            tx.copy(INTERVALS.name, INTERVALS.names(), intervals)
            tx.copy(HOURLY.name, HOURLY.names(), ((store, DEVICE, ZONE, *b[:-1], key, b[0] - b[0] % DAY)
                                                  for b in hourly))  # the stores are in UTC: days are UTC's
            tx.copy(HOURLY_EMOTIONS.name, HOURLY_EMOTIONS.names(), emotion_cells)
            tx.run(f"INSERT INTO {DEVICES.name} (store, device, online, last_seen, last_start, labels, max_seq, "
                   "contiguous_seq, checked_seq, model, groups) VALUES (?,?,1,?,?,?,?,?,?,?,?)",
                   (store, DEVICE, now, int(starts[-1]), labels, len(starts), len(starts), len(starts), model_json,
                    GROUPS))
        total += len(starts)
    database.analyze()  # what an operator runs after a bulk load; the timed phases then do not race autovacuum
    return total
