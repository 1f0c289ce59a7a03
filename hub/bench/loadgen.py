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
from edgeemo.bands import UNSIZED
from edgeemo.bundled import DEFAULT_MODEL, bundled_model
from edgeemo.hub.estimating import rollup_key
from edgeemo.hub.storage.db import Database
from edgeemo.hub.storage.schema import DAY, DEVICES, DIRTY_HOURS, HOUR, HOURLY, HOURLY_BANDS, HOURLY_EMOTIONS, INTERVALS

LABELS = ("angry", "contempt", "disgust", "fear", "happy", "neutral", "sad", "surprise")
POSITIVE = [LABELS.index(x) for x in DEFAULT_GROUPS.positive if x in LABELS]
NEGATIVE = [LABELS.index(x) for x in DEFAULT_GROUPS.negative if x in LABELS]
GROUPS = json.dumps(DEFAULT_GROUPS.for_labels(LABELS).as_dict(), separators=(",", ":"))
DEVICE, ZONE = "cam-1", "all"


@functools.cache
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


def _store_rows(index: int, starts: np.ndarray, rng: np.random.Generator, offset_s: int = 0) -> dict[str, np.ndarray]:
    hour = ((starts + offset_s) % DAY) // HOUR
    rate = np.where((hour >= 8) & (hour < 21), 0.9, 0.03)  # opening hours, at a fixed offset from UTC (no DST)
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


def generate(database: Database, stores: int, days: int, now: float | None = None, seed: int = 0,
             devices: int = 1, raw_days: int | None = None, first_store: int = 0, open_offset_h: int = 0) -> int:
    """Write `stores` × `devices` × `days` × 1440 intervals ending at the current minute, with their hourly
    cells; with `raw_days`, the cells of every day but the intervals of the last `raw_days` only (what a hub
    keeps after retention). The stores are load-`first_store` on, open 8:00-21:00 at UTC+`open_offset_h` (a store
    set to a zone of that offset keeps shop hours on its pages). Returns the interval rows written."""
    now = int(time.time() if now is None else now)
    end = now - now % 60
    starts = np.arange(end - days * DAY, end, 60, dtype=np.int64)
    raw_from = 0 if raw_days is None else int(np.searchsorted(starts, end - raw_days * DAY))
    rng = np.random.default_rng(seed + first_store)
    total = 0
    for index in range(first_store, first_store + stores):
        for number in range(devices):
            device = DEVICE if number == 0 else f"cam-{number + 1}"
            rows = _store_rows(index, starts, rng, open_offset_h * HOUR)
            total += _write_device(database, store_name(index), device, rows, raw_from, now)
    database.analyze()  # what an operator runs after a bulk load; the timed phases then do not race autovacuum
    return total


def _write_device(database: Database, store: str, device: str, rows: dict[str, np.ndarray], raw_from: int,
                  now: int) -> int:
    """One device's generated minutes: its intervals from `raw_from` on, its hourly cells, its device row."""
    labels = json.dumps(LABELS)
    model_json = json.dumps(shipped_model(), separators=(",", ":"))
    key = rollup_key(shipped_model()["sha256"], GROUPS)
    emotion_rows = rows["emotions"]
    texts = [_emotions_json(tuple(counts)) for counts in emotion_rows[raw_from:].tolist()]
    positive = emotion_rows[:, POSITIVE].sum(axis=1)
    negative = emotion_rows[:, NEGATIVE].sum(axis=1)
    n = len(texts)
    intervals = zip([store] * n, [device] * n, [ZONE] * n, rows["start"][raw_from:].tolist(), [60] * n,
                    rows["seq"][raw_from:].tolist(), [labels] * n, texts, [GROUPS] * n,
                    rows["faces"][raw_from:].tolist(), rows["visits"][raw_from:].tolist(),
                    positive[raw_from:].tolist(), negative[raw_from:].tolist(), rows["dwell"][raw_from:].tolist(),
                    [model_json] * n, [None] * n, [now] * n)  # bands: none (generated visits have no size)
    hourly = list(_rollup(rows, HOUR))
    emotion_cells = [(store, device, ZONE, b, LABELS[i], int(c)) for b, *_, e in hourly for i, c in enumerate(e) if c]
    starts = rows["start"]
    with database.transaction(write=True) as tx:
        tx.copy(INTERVALS.name, INTERVALS.names(), intervals)
        tx.copy(HOURLY.name, HOURLY.names(), ((store, device, ZONE, *b[:-1], key, b[0] - b[0] % DAY)
                                              for b in hourly))  # the stores are in UTC: days are UTC's
        tx.copy(HOURLY_EMOTIONS.name, HOURLY_EMOTIONS.names(), emotion_cells)
        tx.copy(HOURLY_BANDS.name, HOURLY_BANDS.names(), ((*cell[:4], UNSIZED, *cell[4:]) for cell in emotion_cells))
        tx.run(f"INSERT INTO {DIRTY_HOURS.name} (store, day, bucket) SELECT DISTINCT store, day, bucket FROM hourly "
               "WHERE store = ? AND device = ? ON CONFLICT (store, day, bucket) DO NOTHING", (store, device))
        tx.run(f"INSERT INTO {DEVICES.name} (store, device, online, last_seen, last_start, labels, max_seq, "
               "contiguous_seq, checked_seq, model, groups) VALUES (?,?,1,?,?,?,?,?,?,?,?)",
               (store, device, now, int(starts[-1]), labels, len(starts), len(starts), len(starts), model_json,
                GROUPS))
    return n


_EMOTION_TEXTS: dict[tuple, str] = {}


def _emotions_json(counts: tuple) -> str:
    text = _EMOTION_TEXTS.get(counts)
    if text is None:
        text = _EMOTION_TEXTS[counts] = json.dumps(dict(zip(LABELS, counts)), separators=(",", ":"))
    return text
