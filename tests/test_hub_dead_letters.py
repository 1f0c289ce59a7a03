"""When storing fails: a poison message kept as a dead letter while the rest of its batch is stored,
and what an admin does with it; a worker that stops, said and acted on; a database outage ridden
out, then reported, with the systemd watchdog starved while a message waits too long."""

from __future__ import annotations

import json
import logging
import time

import pytest

from edgeemo.hub.config import HubConfig, IngestSection, MqttSection
from edgeemo.hub.storage.db import open_database
from tests.conftest import recent_day
from tests.test_hub_hostile import payload_of
from tests.test_payload import NOW

POISON_SQL = {
    "sqlite": [("CREATE TRIGGER poison BEFORE INSERT ON intervals WHEN NEW.zone = 'poison' "
               "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END")],
    "postgresql": [("CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN IF NEW.zone = 'poison' THEN "
                   "RAISE EXCEPTION 'poisoned row'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"),
                   "CREATE TRIGGER poison BEFORE INSERT ON intervals FOR EACH ROW EXECUTE FUNCTION poison()"],
}


def test_a_poison_message_becomes_a_dead_letter_and_its_batch_is_stored(hub_url: str, tmp_path,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    """A row the database refuses while it answers (a trigger stands in for a bug nobody has found
    yet): the batch is split until that message is alone, it is retried, then kept and acknowledged."""
    from edgeemo.hub.bench.servers import Mosquitto
    from edgeemo.hub.ingest.mqtt_ingest import MqttIngest
    from tests.conftest import wait_for
    from tests.test_hub_fleet import connect

    database = open_database(hub_url)
    with database.transaction(write=True) as tx:
        for statement in POISON_SQL[database.dialect]:
            tx.run(statement)
    broker = Mosquitto(tmp_path, extra="max_queued_messages 0\nmax_inflight_messages 4000\n").start()
    config = HubConfig(db=hub_url, mqtt=MqttSection(url=broker.url, client_id="hub-poison", batch_size=50),
                       ingest=IngestSection(max_attempts=2))
    hub = MqttIngest(config, database)
    caplog.set_level(logging.INFO, logger="edgeemo.hub")
    try:
        hub.start()
        wait_for(lambda: hub.stats.subscribed, 60, "the hub's subscription")
        device, _ = connect(broker.port)
        live = recent_day()  # the hub judges times by its own clock
        bodies = [payload_of("d1", 1, minute=0, t0=live), payload_of("d2", 1, minute=0, zone="poison", t0=live),
                  payload_of("d3", 1, minute=0, t0=live), payload_of("d1", 2, minute=1, t0=live)]
        for body in bodies:
            device.publish(f"edgeemo/s1/{json.loads(body)['device_id']}/aggregates", body, qos=1)
        wait_for(lambda: hub.stats.dead_letters == 1 and hub.stats.new == 3, 60, "three stored and a dead letter")
        device.loop_stop()
        device.disconnect()
        assert not hub.stalled()  # acknowledged: nothing waits
    finally:
        hub.stop()
        broker.stop()
    with database.transaction() as tx:
        assert sorted(tx.rows("SELECT device, seq FROM intervals")) == [("d1", 1), ("d1", 2), ("d3", 1)]
        letter = tx.one("SELECT store, device, count, error FROM dead_letters")
    database.close()
    assert letter[:3] == ("s1", "d2", 1) and "poisoned row" in letter[3]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("kept as a dead letter" in m for m in messages) == 1
    assert not any(r.exc_info for r in caplog.records)


def test_a_worker_that_stops_is_said_once_and_acted_on(tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    from starlette.testclient import TestClient

    from edgeemo.hub.ingest.mqtt_ingest import MqttIngest
    from edgeemo.hub.web import create_app
    from tests.conftest import wait_for

    database = open_database(str(tmp_path / "hub.db"))
    failures: list[str] = []
    hub = MqttIngest(HubConfig(db=str(tmp_path / "hub.db"), mqtt=MqttSection(url="mqtt://127.0.0.1:9")),
                     database, on_failure=failures.append)

    def broken() -> list:
        raise MemoryError("a worker can die of anything")

    hub._take_batch = broken  # the stand-in for a failure no handler foresaw
    caplog.set_level(logging.INFO, logger="edgeemo.hub")
    try:
        hub.start()
        wait_for(lambda: failures, 30, "on_failure")
        health = TestClient(create_app(hub.config, database, ingest=hub)).get("/api/health").json()
    finally:
        hub.stop()
        database.close()
    assert failures == ["MemoryError: a worker can die of anything"]
    assert health["status"] == "degraded" and health["problems"] == [f"ingest stopped: {failures[0]}"]
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) == 1 and not critical[0].exc_info


@pytest.mark.slow
def test_a_database_outage_is_ridden_out_then_reported_and_the_watchdog_starves(tmp_path) -> None:
    """PostgreSQL stops under the hub: the batch is held, unacknowledged; health says degraded once a
    message has waited past stall_after_s, and from then on the watchdog is not fed (systemd would
    restart the hub); the database comes back, the message is stored, health and pings return."""
    from starlette.testclient import TestClient

    from edgeemo.hub.bench.servers import Mosquitto, Postgres
    from edgeemo.hub.ingest.mqtt_ingest import MqttIngest
    from edgeemo.hub.web import create_app
    from edgeemo.sdnotify import ServiceNotifier
    from tests.conftest import wait_for
    from tests.test_hub_fleet import connect
    from tests.test_service_notify import Listener

    postgres = Postgres(settings={"fsync": "off"}).start()
    broker = Mosquitto(tmp_path, extra="max_queued_messages 0\nmax_inflight_messages 4000\n").start()
    listener = Listener(tmp_path / "notify.sock")
    database = open_database(postgres.url)
    notifier = ServiceNotifier({"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "200000"})
    hub = MqttIngest(HubConfig(db=postgres.url, mqtt=MqttSection(url=broker.url, client_id="hub-outage"),
                               ingest=IngestSection(stall_after_s=2.0)), database, notifier)
    health = TestClient(create_app(hub.config, database, ingest=hub)).get
    pings = lambda: len(listener.messages("WATCHDOG=1"))
    try:
        hub.start()
        wait_for(lambda: hub.stats.subscribed and pings() >= 2, 60, "a subscribed, fed ingest")
        assert health("/api/health").json()["status"] == "ok"
        postgres.halt()
        device, _ = connect(broker.port)
        device.publish("edgeemo/s1/d1/aggregates", payload_of("d1", 1, t0=recent_day()), qos=1).wait_for_publish(30)
        wait_for(hub.stalled, 120, "the held message to count as stalled")
        report = health("/api/health").json()
        assert report["status"] == "degraded" and any("ingest stalled" in p for p in report["problems"])
        assert any("database is not answering" in p for p in report["problems"])
        time.sleep(2.0)  # a ping decided just before the stall counted has long been sent
        starved = notifier.watchdog_pings  # the sender's own count
        time.sleep(1.0)  # five watchdog intervals: nothing may be sent while the message waits
        assert notifier.watchdog_pings == starved and hub.stalled()
        postgres.resume()
        wait_for(lambda: hub.stats.new == 1 and not hub.stalled(), 120, "the held message stored")
        wait_for(lambda: notifier.watchdog_pings > starved and pings() > 0, 30, "the watchdog fed again")
        assert health("/api/health").json()["status"] == "ok"
        device.loop_stop()
        device.disconnect()
    finally:
        hub.stop()
        database.close()
        listener.close()
        broker.stop()
        postgres.stop()


def test_an_admin_lists_exports_and_deletes_dead_letters(tmp_path) -> None:
    from edgeemo.hub.ingest.writer import keep_dead_letter
    from tests.conftest import run_cli

    url = str(tmp_path / "hub.db")
    database = open_database(url)
    keep_dead_letter(database, "s1", "d2", "edgeemo/s1/d2/aggregates", b'{"zone": "poison"}', "poisoned row", NOW)
    keep_dead_letter(database, "s1", "d2", "edgeemo/s1/d2/aggregates", b'{"zone": "poison"}', "poisoned row", NOW)
    keep_dead_letter(database, "s1", "d3", "edgeemo/s1/d3/aggregates", b"\x00\xff", "another\nline", NOW)
    database.close()
    listed = run_cli("hub", "dead-letters", "list", "--db", url, "--json")
    assert listed.returncode == 0, listed.stderr
    letters = json.loads(listed.stdout)
    assert sorted((x["device"], x["count"]) for x in letters) == [("d2", 2), ("d3", 1)]
    assert all("\n" not in x["error"] for x in letters) and "body" not in letters[0]
    export = tmp_path / "dead.jsonl"
    assert run_cli("hub", "dead-letters", "export", "--db", url, "--out", str(export)).returncode == 0
    import base64

    bodies = {json.loads(line)["device"]: base64.b64decode(json.loads(line)["body"]) for line in export.open()}
    assert bodies == {"d2": b'{"zone": "poison"}', "d3": b"\x00\xff"}  # as received, byte for byte
    refused = run_cli("hub", "dead-letters", "delete", "--db", url)
    assert refused.returncode != 0 and "--all" in refused.stderr and "Traceback" not in refused.stderr
    digest = next(x["digest"] for x in letters if x["device"] == "d3")
    assert "deleted 1" in run_cli("hub", "dead-letters", "delete", digest[:12], "--db", url).stdout
    assert "deleted 1" in run_cli("hub", "dead-letters", "delete", "--all", "--db", url).stdout
    assert json.loads(run_cli("hub", "dead-letters", "list", "--db", url, "--json").stdout) == []


def test_dead_letters_are_bounded_per_device_and_in_all_and_expire(hub_url: str, monkeypatch) -> None:
    """F9: no cap, no retention, no per-device limit. Past a limit a message is counted, not kept."""
    from edgeemo.hub.ingest.writer import keep_dead_letter
    from edgeemo.hub.storage import dead_letters
    from edgeemo.hub.storage.upkeep import run_upkeep

    monkeypatch.setattr(dead_letters, "PER_DEVICE", 3)
    monkeypatch.setattr(dead_letters, "MAX_LETTERS", 5)
    database = open_database(hub_url)
    try:
        kept = [keep_dead_letter(database, "s1", "flood", "t", b"body %d" % i, "refused", NOW) for i in range(10)]
        assert kept == [True] * 3 + [False] * 7
        assert keep_dead_letter(database, "s1", "flood", "t", b"body 0", "refused", NOW)  # a known body counts up
        kept = [keep_dead_letter(database, "s1", f"d{i}", "t", b"x", "refused", NOW) for i in range(4)]
        assert kept == [True, True, False, False]  # 5 in all
        with database.transaction() as tx:
            assert tx.one("SELECT count(*), sum(count) FROM dead_letters") == (5, 6)
            assert tx.one("SELECT sum(count) FROM rejects WHERE reason = 'unstorable'")[0] == 9
        assert run_upkeep(database, 5, 90, now=NOW + 31 * 86400).expired_dead_letters == 5
        with database.transaction() as tx:
            assert tx.one("SELECT count(*) FROM dead_letters")[0] == 0
    finally:
        database.close()


def test_dead_letter_errors_are_logged_a_few_at_a_time() -> None:
    from edgeemo.hub.ingest.batches import LogBudget

    now = [0.0]
    budget = LogBudget(every_s=600, most=3, clock=lambda: now[0])
    said = [budget.allow(("s", "d1")) for _ in range(1000)]
    assert said[0] == 0 and said[1:] == [None] * 999  # one line, then quiet
    assert [budget.allow(("s", f"x{i}")) for i in range(5)] == [0, 0, None, None, None]  # three lines in all
    now[0] = 601.0
    assert budget.allow(("s", "d1")) == 999  # the next line says how many were held back


def test_delete_matches_a_digest_exactly_never_a_pattern(tmp_path) -> None:
    """F11: `delete 6` deleted 24 (SQL LIKE), `delete _` and `delete ""` deleted all."""
    import hashlib

    from edgeemo.hub.ingest.writer import keep_dead_letter
    from tests.conftest import run_cli

    url = str(tmp_path / "hub.db")
    database = open_database(url)
    bodies = [b"poison %d" % i for i in range(40)]
    for body in bodies:
        keep_dead_letter(database, "s1", "d1", "t", body, "refused", NOW)
    database.close()
    digests = sorted(hashlib.sha256(body).hexdigest() for body in bodies)
    for pattern in ("6", "_", "", "%", "6%", "a_b_c_", digests[0][:5]):
        done = run_cli("hub", "dead-letters", "delete", pattern, "--db", url)
        assert done.returncode != 0 and done.stderr.count("\n") == 1 and "not a digest" in done.stderr, done.stderr
    database = open_database(url)
    with database.transaction(write=True) as tx:  # two digests that share their first six characters
        for digest in ("abcdef" + "0" * 58, "abcdef" + "1" * 58):
            tx.run("INSERT INTO dead_letters (store, device, digest, topic, reason, error, body, count, first_at, "
                   "last_at) VALUES ('s1', 'd2', ?, 't', 'unstorable', 'e', '', 1, 0, 0)", (digest,))
    database.close()
    done = run_cli("hub", "dead-letters", "delete", "abcdef", "--db", url)
    assert done.returncode != 0 and "2 dead letters start with abcdef" in done.stderr, done.stderr
    assert "deleted 1 " in run_cli("hub", "dead-letters", "delete", "abcdef1", "--db", url).stdout
    assert "deleted 1 " in run_cli("hub", "dead-letters", "delete", digests[0], "--db", url).stdout
    assert "deleted 0 " in run_cli("hub", "dead-letters", "delete", "f" * 64, "--db", url).stdout
    left = json.loads(run_cli("hub", "dead-letters", "list", "--db", url, "--json").stdout)
    assert len(left) == 40  # 39 of the poison, and abcdef000...
