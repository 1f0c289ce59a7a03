"""`edgeemo hub …`: the fleet hub's commands (serve, import, export, bench; user, store and dead-letters
in `admin_cli.py`).

Nothing here imports TensorFlow, OpenCV or `edgeemo.edge`: the hub installs with the `hub`
extra only. Heavy imports (the web stack, psycopg) happen inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from edgeemo.cli_common import Formatter, Subcommands, positive_int
from edgeemo.errors import EdgeemoError
from edgeemo.hub.admin_cli import ADMIN_COMMANDS
from edgeemo.hub.cli_shared import add_create, add_db, open_database_of, opened_database, store_name
from edgeemo.text import plural

log = logging.getLogger(__name__)

# -- serve ---------------------------------------------------------------------------------------
def _serve(args: argparse.Namespace) -> int:
    import threading
    import time

    import uvicorn

    from edgeemo.hub.ingest.mqtt_ingest import MqttIngest
    from edgeemo.hub.storage.upkeep import Upkeep
    from edgeemo.hub.web import create_app
    from edgeemo.sdnotify import ServiceNotifier

    config, database = open_database_of(args)
    host, _, port = config.web.listen.rpartition(":")
    notifier = ServiceNotifier()
    server: uvicorn.Server | None = None

    def ingest_failed(why: str) -> None:  # the worker stopped: exit, so systemd restarts the hub
        if server is not None:
            server.should_exit = True

    ingest = MqttIngest(config, database, notifier, ingest_failed) if config.mqtt.url else None
    upkeep = Upkeep(database, config.web.min_visits, config.retention.raw_days, config.retention.upkeep_every_s)
    app = create_app(config, database, ingest=ingest, upkeep=upkeep)
    server = uvicorn.Server(uvicorn.Config(app, host=host or "127.0.0.1", port=int(port), log_level="warning",
                                           access_log=False, **config.web.server_options()))

    def ready_once_serving() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            notifier.ready(f"dashboard on {config.web.listen}, database {database.describe()}")
            if ingest is None:  # no ingest to prove progress: the web side's liveness feeds the watchdog
                while not server.should_exit:
                    notifier.watchdog()
                    time.sleep(1.0)

    upkeep.start()
    if ingest:
        ingest.start()
    else:
        log.info("hub: no [mqtt] url: serving the database only (dashboard, API)")
    threading.Thread(target=ready_once_serving, name="hub-ready", daemon=True).start()
    log.info("hub: dashboard on http://%s:%s (database %s)", host or "127.0.0.1", port, database.describe())
    try:
        server.run()  # returns on SIGTERM/SIGINT, or when ingest failed
    finally:
        notifier.stopping()
        upkeep.stop()
        if ingest:
            ingest.stop()
        database.close()
    if ingest is not None and ingest.stats.failure is not None:
        raise EdgeemoError(f"ingest stopped ({ingest.stats.failure}); exiting so the service restarts")
    if not server.started:
        raise EdgeemoError(f"cannot listen on {config.web.listen} (in use, or not an address of this host)")
    log.info("hub: stopped")
    return 0


def _add_serve(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("serve", formatter_class=Formatter, help="ingest over MQTT and serve the dashboard",
                                 description="Subscribe to every device's aggregates (a shared "
                                 "subscription, MQTT 3.1.1 unless [mqtt] protocol = \"5\"), store them, and serve the "
                                 "dashboard and API.")
    add_db(parser)
    add_create(parser)
    parser.add_argument("--mqtt", help="mqtt://HOST:PORT (mqtts:// for TLS); default: [mqtt] url of --config; "
                        "none: dashboard only")
    parser.add_argument("--listen", help="HOST:PORT of the dashboard (default 127.0.0.1:8080: put a TLS "
                        "reverse proxy in front for other hosts)")
    parser.add_argument("--min-visits", type=positive_int, help="k of the k-anonymity rule (default: [web] "
                        "min_visits, 5; lower it only for a demo on a handful of visits)")
    parser.set_defaults(handler=_serve)


# -- import / export -----------------------------------------------------------------------------
def _import(args: argparse.Namespace) -> int:
    from collections import Counter

    from edgeemo.hub.ingest.gaps import check_gaps
    from edgeemo.hub.ingest.importer import import_device_db

    with opened_database(args, create=True) as (config, database):  # importing into a new hub makes it
        result = import_device_db(database, args.device_db, args.store, args.device, config.ingest.time_rules(config.retention),
                                  config.ingest.max_seq_jump)
        check_gaps(database, first_request_after_s=0, max_seq_jump=config.ingest.max_seq_jump)
    refused = Counter(reject.reason for reject in result.refused)
    print(f"imported {args.device_db} as {args.store}/{args.device}: {result.new} new, {result.changed} changed, "
          f"{result.duplicates} already there"
          + (f"; refused {', '.join(f'{n} {why}' for why, n in sorted(refused.items()))}" if refused else ""))
    for reject in result.refused[:10]:  # one line each, the row and why (all counted in the hub's rejects)
        print(f"  skipped ({reject.reason}) {reject.error}")
    if len(result.refused) > 10:
        print(f"  ... and {len(result.refused) - 10} more")
    return 0


def _add_import(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("import", formatter_class=Formatter, help="load a device's own database",
                                 description="Load a device's SQLite file (for a store without a network link, "
                                 "or a backfill after an outage) into the hub database, which is created if --db "
                                 "names none. Idempotent.")
    parser.add_argument("device_db", type=Path, metavar="DEVICE.db", help="the device's analytics database "
                        "(`edgeemo run --db`, or [store] path)")
    add_db(parser)
    parser.add_argument("--store", type=store_name, required=True, help="the device's store_id")
    parser.add_argument("--device", type=store_name, required=True, help="the device's device_id")
    parser.set_defaults(handler=_import)


def _export(args: argparse.Namespace) -> int:
    import time

    from edgeemo.hub.estimating import load_calibrations
    from edgeemo.hub.reading import params, queries
    from edgeemo.hub.reading.known import check_store
    from edgeemo.hub.reading.numbers import EstimateSettings
    from edgeemo.hub.reading.render import to_csv
    from edgeemo.hub.storage.stores import zone_of

    with opened_database(args) as (config, database):
        k = args.min_visits if args.min_visits is not None else config.web.min_visits
        stores = [check_store(database, args.store)] if args.store else queries.list_stores(database)
        estimates = EstimateSettings(load_calibrations(config.estimates.models_dir), config.estimates.precision_floor)
        results = []
        for store in [None, *stores]:  # dates in each store's own zone (None: checked once, in UTC)
            with database.transaction() as tx:
                timezone = zone_of(tx, store) if store else "UTC"
            until = params.parse_time(args.until, "--until", timezone) if args.until else int(time.time())
            since = params.parse_time(args.since, "--since", timezone) if args.since else until - 30 * 86400
            if since >= until:
                raise EdgeemoError("--since must be before --until")
            bucket = params.choose_bucket({"bucket": args.bucket}, since, until)
            if store:
                found = queries.series(database, store, since, until, bucket, k, None, estimates)
                if args.format == "json":  # the buckets' raw shares, and the range's corrected mix beside them
                    mix = queries.emotion_mix(database, store, since, until, k, None, estimates, bucket)
                    found["emotion_mix"] = {key: mix[key] for key in ("visits", "intervals", "shares_raw")}
                results.append(found)
    if args.format == "json":
        text = json.dumps({"min_visits": k, "bucket": args.bucket, "stores": results}, indent=1)
    else:
        text = to_csv([{"store": r["store"], **point} for r in results for point in r["series"]])
    if args.out:
        args.out.write_text(text)
        print(f"wrote {args.out}: {plural(sum(len(r['series']) for r in results), 'bucket')} of "
              f"{plural(len(results), 'store')}, k={k}")
    else:
        sys.stdout.write(text)
    return 0


def _add_export(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("export", formatter_class=Formatter, help="the dashboard's numbers as CSV or JSON",
                                 description="Per-bucket numbers of one or all stores; buckets with fewer than "
                                 "k visits are suppressed (as in `edgeemo report` and the dashboard).")
    add_db(parser)
    parser.add_argument("--store", type=store_name, help="one store (default: all)")
    parser.add_argument("--since", help="start, a date or date-time (in each store's zone unless it names an "
                        "offset); default: 30 days ago")
    parser.add_argument("--until", help="end (exclusive); default: now")
    parser.add_argument("--bucket", choices=["hour", "day", "week"], default="day",
                        help="one row per store and bucket (local hours, days, ISO weeks)")
    parser.add_argument("--min-visits", type=positive_int, help="k (default: [web] min_visits, 5)")
    parser.add_argument("--format", choices=["csv", "json"], default="csv", help="what to write")
    parser.add_argument("--out", type=Path, help="file to write (default: stdout)")
    parser.set_defaults(handler=_export)


# -- upkeep --------------------------------------------------------------------------------------
def _upkeep(args: argparse.Namespace) -> int:
    from edgeemo.hub.storage.upkeep import run_upkeep

    with opened_database(args) as (config, database):
        result = run_upkeep(database, config.web.min_visits, config.retention.raw_days)
    sealed = "every day" if result.sealed_days < 0 else plural(result.sealed_days, "day")
    print(f"sealed {sealed} (k={config.web.min_visits}); raw intervals older than {config.retention.raw_days} days: "
          f"{plural(len(result.dropped_partitions), 'partition')} dropped, {plural(result.pruned_rows, 'row')} deleted; "
          f"{plural(len(result.made_partitions), 'partition')} made; "
          f"{plural(result.expired_dead_letters, 'old dead letter')} deleted")
    for problem in result.problems:  # the rest was done; a monitor sees the exit status
        print(f"edgeemo: upkeep: {problem}", file=sys.stderr)
    return 1 if result.problems else 0


def _add_upkeep(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("upkeep", formatter_class=Formatter, help="seal the overview's days, prune old raw "
                                 "intervals (what `hub serve` does every minute)",
                                 description="One round of the upkeep `hub serve` runs every [retention] "
                                 "upkeep_every_s: the overview's released days sealed, raw intervals older than "
                                 "[retention] raw_days dropped, PostgreSQL's monthly partitions made ahead.")
    add_db(parser)
    parser.set_defaults(handler=_upkeep)


def _retire(args: argparse.Namespace) -> int:
    from edgeemo.hub.cli_shared import config_of
    from edgeemo.hub.ingest.broker_session import end_session

    config = config_of(args)
    end_session(config.mqtt)
    print(f"ended the session of client {config.mqtt.client_id} on {config.mqtt.url}: the broker no longer "
          "queues its share; what it held comes back through gap repair")
    return 0


def _add_retire(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("retire", formatter_class=Formatter, help="end this hub's session on the broker "
                                 "(a hub taken out of a shared group for good)",
                                 description="Connect once with the hub's login and client id and a clean start: "
                                 "the broker drops its persistent session, so the other hubs of its group get "
                                 "every message again. Run it with the retired hub's config, after stopping it.")
    add_db(parser)
    parser.add_argument("--mqtt", help="mqtt://HOST:PORT; default: [mqtt] url of --config")
    parser.set_defaults(handler=_retire)


def _backup(args: argparse.Namespace) -> int:
    from edgeemo.hub.storage.backup import backup_sqlite

    with opened_database(args) as (_, database):
        size = backup_sqlite(database, args.to)
    print(f"wrote {args.to} ({size:,} bytes): {database.describe()} as of one moment")
    return 0


def _add_backup(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("backup", formatter_class=Formatter, help="a consistent copy of an SQLite hub "
                                 "database, while it runs", description="SQLite's online backup (the ingest goes "
                                 "on meanwhile). PostgreSQL: pg_dump -Fc (docs/hub-guide.md, Backup and restore).")
    add_db(parser)
    parser.add_argument("--to", type=Path, required=True, help="the new file")
    parser.set_defaults(handler=_backup)


# -- bench ---------------------------------------------------------------------------------------
def _bench(args: argparse.Namespace) -> int:
    from edgeemo.hub.bench.run import run_bench

    report = run_bench(args)
    print(json.dumps(report, indent=1) if args.json else "\n".join(f"{k}: {v}" for k, v in report.items()))
    return 0 if report.get("lost", 0) == 0 else 1


def _add_bench(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("bench", formatter_class=Formatter, help="fleet-scale ingest and query speed",
                                 description="Through a real mosquitto and database (started on loopback when "
                                 "not given): N simulated devices publish a backlog, the hub ingests it; then the "
                                 "overview and a store page are timed over generated load data.")
    parser.add_argument("--db", default="postgresql", help="postgresql (a throwaway cluster), sqlite (a temporary "
                        "file), or a URL/path to use")
    parser.add_argument("--mqtt", help="mqtt://HOST:PORT of a broker to use (default: a throwaway mosquitto)")
    parser.add_argument("--devices", type=positive_int, default=1000, help="simulated devices publishing")
    parser.add_argument("--messages", type=positive_int, default=20, help="backlog per device")
    parser.add_argument("--stores", type=positive_int, default=100, help="stores of generated load data")
    parser.add_argument("--days", type=positive_int, default=90, help="days of 1-minute load data per store")
    parser.add_argument("--hubs", type=positive_int, default=os.cpu_count() or 1,
                        help="hub processes sharing the subscription (one per core)")
    parser.add_argument("--requests", type=positive_int, default=40, help="timed requests per page")
    parser.add_argument("--scenario", choices=["fleet", "chain"], default="fleet",
                        help="fleet: the load above, then ingest; chain: 1,000 stores x 4 devices, a year of "
                        "roll-ups and 90 days of raw rows (GENERATED; --sample-stores of them in full), pages "
                        "and bytes per store-year, no ingest")
    parser.add_argument("--sample-stores", type=positive_int, default=20,
                        help="chain: stores generated minute by minute (cells and raw rows)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=_bench)


def _add_hub(commands: Subcommands) -> None:
    parser = commands.add_parser("hub", formatter_class=Formatter, help="the fleet hub: ingest, dashboard, export",
                                 description="Gather every store's aggregates (MQTT → PostgreSQL or SQLite) and "
                                 "serve a dashboard.")
    parser.set_defaults(needs=("hub",))
    sub = parser.add_subparsers(dest="hub_command", metavar="COMMAND", required=True)
    for add in (_add_serve, _add_import, _add_export, _add_upkeep, _add_backup, _add_retire, *ADMIN_COMMANDS,
                _add_bench):
        add(sub)


COMMANDS = (_add_hub,)
