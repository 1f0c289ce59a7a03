"""A device database edited by hand or damaged on disk: a row that cannot be a payload is skipped by
the outbox (the rest still go), a damaged band count is merged as unsized, a damaged calibration
makes the report count raw; none of them is a crash."""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

from edgeemo.edge.analytics.intervals import Aggregate
from edgeemo.edge.analytics.store import AnalyticsStore
from edgeemo.labels import LABELS
from tests.conftest import Subscriber, db_rows, recent_day, run_cli, valid_payload


def _store_of_three(path: Path) -> tuple[AnalyticsStore, int]:
    store = AnalyticsStore(path)
    first = recent_day()
    for minute in range(3):
        store.add_aggregate(Aggregate(float(first + 60 * minute), 60, LABELS, visits_by_emotion=Counter(happy=2),
                                      visits_by_band={"lt28": Counter(happy=2)}))
    store.flush()
    return store, first


def _edit(path: Path, sql: str, *values: object) -> None:
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.execute(sql, values)


def test_the_outbox_skips_a_row_that_cannot_be_a_payload_and_sends_the_rest(tmp_path: Path, broker: int) -> None:
    from edgeemo.edge.analytics.mqtt import MqttConfig, MqttPublisher
    from edgeemo.edge.analytics.outbox import Outbox

    db = tmp_path / "a.db"
    store, first = _store_of_three(db)
    _edit(db, "UPDATE aggregates SET bands = ? WHERE start = ?", json.dumps({"lt28": {"happy": 1.5}}), first + 60)
    subscriber = Subscriber(broker, "edgeemo/#")
    publisher = MqttPublisher(MqttConfig(enabled=True, host="127.0.0.1", port=broker), "s", "d")
    publisher.start()
    outbox = Outbox(store, publisher, max_per_s=1000)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (store.unsent(10) or outbox.in_flight):
            outbox.pump()
            time.sleep(0.05)
        seen = subscriber.until(lambda got: sum(t.endswith("/aggregates") for t, _, _ in got) >= 2)
    finally:
        publisher.close()
        subscriber.close()
        store.close()
    starts = sorted(valid_payload(json.loads(body)).start for t, body, _ in seen
                    if t.endswith("/aggregates"))
    assert starts == [first, first + 120] and outbox.unsendable == 1
    assert db_rows(db, "SELECT bands FROM aggregates WHERE start = ?".replace("?", str(first + 60))) == [
        (json.dumps({"lt28": {"happy": 1.5}}),)], "the edited row stays as it was"


def test_a_damaged_band_count_merges_as_unsized(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    store, first = _store_of_three(db)
    _edit(db, "UPDATE aggregates SET bands = ? WHERE start = ?", '{"lt28": {"happy": "two"}}', first)
    store.add_aggregate(Aggregate(float(first), 60, LABELS, visits_by_emotion=Counter(sad=1),
                                  visits_by_band={"36-48": Counter(sad=1)}))
    assert store.flush()
    store.close()
    [(emotions, bands)] = db_rows(db, f"SELECT emotions, bands FROM aggregates WHERE start = {first}")
    assert json.loads(emotions)["happy"] == 2 and json.loads(emotions)["sad"] == 1
    assert json.loads(bands) == {"36-48": {"sad": 1}, "unsized": {**{x: 0 for x in LABELS}, "happy": 2}}


def test_a_damaged_calibration_in_the_database_makes_the_report_count_raw(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    store, _ = _store_of_three(db)
    store.close()
    _edit(db, "INSERT OR REPLACE INTO meta VALUES ('labels', ?)", json.dumps(list(LABELS)))
    _edit(db, "INSERT OR REPLACE INTO meta VALUES ('calibration', ?)",
          json.dumps({"labels": list(LABELS), "sources": {"validation": {"faces": "many"}}}))
    done = run_cli("report", "--db", str(db), "--out", str(tmp_path / "report"))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
