"""Issue 34's targets, measured on this machine (a throwaway PostgreSQL 15 and mosquitto on loopback):

- F1: after a cell of 2^31 - 1 visits, one batch of further messages for that cell and five honest
  devices, stored through the ingest's BatchStore: seconds, commits refused, dead letters. Run on the
  schema of this release (8, BIGINT sums) and on version 7 (INTEGER) for comparison.
- F2: the same cell's two intervals in two hours of one day, honest stores beside them and a row past
  retention, then `edgeemo hub upkeep`: exit status, stores sealed, rows pruned.
- F4: a gap asked 1,024 times and 50 other devices' gaps: the re-send check's requests.
- F7: a device database with 50 rows (20 sent), the wall clock 200 days ahead for over an hour:
  rows deleted, unsent rows deleted.
- F3: the deploy's broker; a device login reconnects with the hub's client id every 2 s for 30 s:
  the hub's disconnections, and whether it was connected at each sample (also without the setting).

    .venv/bin/python scripts/bench_hardening.py --out reports/hub/hardening.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import paho.mqtt.client as mqtt

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the deploy's broker, as the tests start it

from edgeemo.aggregates import DEFAULT_GROUPS, NO_ZONE
from edgeemo.hub.bench.servers import Postgres
from edgeemo.hub.config import IngestSection
from edgeemo.hub.ingest.batches import BatchStore, IngestStats, Item
from edgeemo.hub.ingest.gaps import check_gaps, due_requests
from edgeemo.hub.ingest.writer import write_batch
from edgeemo.hub.storage import db as db_module
from edgeemo.hub.storage import migrations
from edgeemo.hub.storage.db import open_database
from tests.test_hub_overflow import BIG, DAY, HOUR, NOW, huge, minute


def fresh_database(cluster: Postgres) -> str:
    import uuid

    import psycopg

    name = f"h_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(cluster.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return cluster.url.rsplit("/", 1)[0] + "/" + name


def f1(url: str, version: int, further: int = 10) -> dict:
    if version < migrations.latest_version():  # a hub of that schema version made the database
        saved = db_module.MIGRATIONS, db_module.latest_version
        db_module.MIGRATIONS, db_module.latest_version = migrations.MIGRATIONS[:version], lambda: version
    database = open_database(url)
    if version < migrations.latest_version():
        db_module.MIGRATIONS, db_module.latest_version = saved
    write_batch(database, [huge(minute("s0", "big", HOUR, 1))], now=NOW)
    stats, acked = IngestStats(), []
    store = BatchStore(database, IngestSection(), stats, ack=acked.append, wait=lambda s: time.sleep(s) or False,
                       log_once=lambda *a: None)
    intervals = [minute("s0", "big", HOUR + 60 * (i + 1), i + 2) for i in range(further)]
    intervals += [minute(f"s{i}", "cam", HOUR, 1) for i in range(1, 6)]
    started = time.perf_counter()
    store.store([Item(mqtt.MQTTMessage(mid=i), 0.0, interval=interval) for i, interval in enumerate(intervals)])
    seconds = time.perf_counter() - started
    with database.transaction() as tx:
        honest = tx.one("SELECT count(*) FROM intervals WHERE device = 'cam'")[0]
    database.close()
    return {"schema_version": version, "batch": len(intervals), "seconds": round(seconds, 3),
            "refused_commits": stats.db_errors, "dead_letters": stats.dead_letters, "honest_stored": honest}


def f2(url: str, stores: int = 20) -> dict:
    from edgeemo.hub.storage import partitions

    database = open_database(url)
    day = HOUR - HOUR % DAY - DAY
    old = NOW - NOW % DAY - 200 * DAY + 10 * 3600
    if database.dialect == "postgresql":
        with database.transaction(write=True) as tx:
            partitions.ensure_months(tx, old, old)
    write_batch(database, [huge(minute("big", "cam", day + 10 * 3600, 1)), huge(minute("big", "cam", day + 11 * 3600, 2)),
                           minute("old", "cam", old, 1),
                           *(minute(f"honest-{i:03d}", "cam", day + 10 * 3600, 1) for i in range(stores))], now=NOW)
    database.close()
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "edgeemo", "hub", "upkeep", "--db", url], capture_output=True,
                          text=True, check=False, cwd=REPO)
    seconds = time.perf_counter() - started
    database = open_database(url)
    with database.transaction() as tx:
        sealed = tx.one("SELECT count(DISTINCT store) FROM released_daily WHERE store LIKE 'honest-%'")[0]
        big = tx.one("SELECT visits FROM released_daily WHERE store = 'big'")
        old_rows = tx.one("SELECT count(*) FROM intervals WHERE store = 'old'")[0]
    database.close()
    return {"exit": done.returncode, "seconds": round(seconds, 2), "honest_stores_sealed": f"{sealed}/{stores}",
            "big_store_day_visits": big[0] if big else None, "expected": 2 * BIG, "row_past_retention_left": old_rows,
            "stdout": done.stdout.strip(), "stderr": done.stderr.strip()}


def f4(url: str, others: int = 50) -> dict:
    database = open_database(url)
    devices = ["stuck", *(f"d{i:02d}" for i in range(others))]
    write_batch(database, [minute("s", device, HOUR + 60 * seq, seq) for device in devices for seq in (1, 3)], now=NOW)
    check_gaps(database, now=NOW, first_request_after_s=0)
    with database.transaction(write=True) as tx:
        tx.run("UPDATE devices SET gap_requests = 1024 WHERE device = 'stuck'")
    started = time.perf_counter()
    requests = due_requests(database, now=NOW + 1)
    seconds = time.perf_counter() - started
    database.close()
    asked = {request.device for request in requests}
    return {"devices_asked": f"{len(asked - {'stuck'})}/{others} others", "stuck_asked": "stuck" in asked,
            "seconds": round(seconds, 3)}


def f7(folder: Path) -> dict:
    from unittest import mock

    from edgeemo.edge.analytics.intervals import Aggregate
    from edgeemo.edge.analytics.store import AnalyticsStore
    from edgeemo.labels import FERPLUS_LABELS

    def aggregate(start: float) -> Aggregate:
        return Aggregate(start, 60, FERPLUS_LABELS, NO_ZONE, groups=DEFAULT_GROUPS, visits_by_emotion=Counter(happy=1))

    path, now = folder / "device.db", time.time()
    store = AnalyticsStore(path, retention_days=90, keep_unsent=True)
    for i in range(50):
        store.add_aggregate(aggregate(now - now % 60 - 3000 + 60 * i))
    store.flush()
    store.mark_sent(list(range(1, 21)))
    store.clock_jumped(200 * DAY)
    real_time, real_monotonic = time.time, time.monotonic
    with mock.patch.object(time, "time", lambda: real_time() + 200 * DAY + 3700), \
            mock.patch.object(time, "monotonic", lambda: real_monotonic() + 3700):
        store._last_prune = None
        store.add_aggregate(aggregate(time.time()))
        doubt = store.clock_doubt(time.time())
        store.flush()
    rows = store.connection.execute("SELECT count(*), sum(sent = 0) FROM aggregates WHERE seq <= 50").fetchone()
    store.close()
    return {"rows_before": 50, "unsent_before": 30, "rows_after": rows[0], "unsent_after": rows[1],
            "a_guard_doubted_the_clock": doubt}


def f3(folder: Path, tied: bool = True, seconds: float = 30.0) -> dict:
    """`tied`: the deploy's config as it is; False: without use_username_as_clientid (before issue 34)."""
    from tests.test_deploy_broker import MOSQUITTO, DeployBroker

    broker = DeployBroker(folder)
    if not tied:
        broker.stop()
        broker.config.write_text(broker.config.read_text().replace("use_username_as_clientid true", ""))
        broker.process = subprocess.Popen([MOSQUITTO, "-c", str(broker.config)], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
        while not broker.answers():
            time.sleep(0.1)
    state = {"connects": 0, "disconnects": 0}
    hub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="edgeemo-hub-1", protocol=mqtt.MQTTv5)
    hub.username_pw_set("edgeemo-hub", "s3cret-password-42")
    hub.on_connect = lambda *args: state.__setitem__("connects", state["connects"] + 1)
    hub.on_disconnect = lambda *args: state.__setitem__("disconnects", state["disconnects"] + 1)
    hub.connect("127.0.0.1", broker.port)
    hub.loop_start()
    samples, attacks = [], 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            attacker = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="edgeemo-hub-1")
            attacker.username_pw_set("cam-a", "s3cret-password-42")
            attacker.tls_set(ca_certs=broker.vars["hub_tls_cafile"])
            attacker.tls_insecure_set(True)
            attacker.connect("127.0.0.1", broker.vars["hub_mqtt_tls_port"])
            attacker.loop_start()
            attacks += 1
            time.sleep(2.0)
            samples.append(hub.is_connected())
            attacker.loop_stop()
            attacker.disconnect()
        dropped = state["disconnects"]  # before the hub's own goodbye below
    finally:
        hub.loop_stop()
        hub.disconnect()
        broker.stop()
    return {"client_ids_tied_to_logins": tied, "attacks": attacks, "hub_connected_samples": f"{sum(samples)}/{len(samples)}",
            "hub_disconnections": dropped, "hub_connections": state["connects"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="write the results here (JSON)")
    args = parser.parse_args()
    cluster = Postgres(settings={"fsync": "off"}).start()
    report: dict = {}
    try:
        with tempfile.TemporaryDirectory() as folder:
            work = Path(folder)
            report["F1"] = {"postgresql": [f1(fresh_database(cluster), v) for v in (7, 8)],
                            "sqlite": [f1(str(work / f"f1-{v}.db"), v) for v in (7, 8)]}
            report["F2"] = {"postgresql": f2(fresh_database(cluster)), "sqlite": f2(str(work / "f2.db"))}
            report["F4"] = {"postgresql": f4(fresh_database(cluster)), "sqlite": f4(str(work / "f4.db"))}
            report["F7"] = f7(work)
            for tied in (False, True):
                (work / f"broker-{tied}").mkdir()
                report.setdefault("F3", []).append(f3(work / f"broker-{tied}", tied))
    finally:
        cluster.stop()
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
