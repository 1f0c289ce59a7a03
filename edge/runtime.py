"""`edgeemo run` assembled: config → model, camera, store, publishers → the frame loop → a clean stop.

READY=1 goes to systemd only once the model and the camera are open; SIGTERM and SIGINT
set the stop event, after which open intervals are closed, written and published.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

from edgeemo.aggregates import SatisfactionGroups
from edgeemo.edge.analytics.intervals import Analytics
from edgeemo.edge.analytics.mqtt import MqttPublisher
from edgeemo.edge.analytics.outbox import Outbox
from edgeemo.edge.analytics.store import AnalyticsStore
from edgeemo.edge.analytics.store_config import calibration_since
from edgeemo.edge.capture.uri import check_uri, open_source
from edgeemo.edge.config import RunConfig
from edgeemo.edge.inference.model import EdgeModel, open_edge_model
from edgeemo.edge.loop import LoopParts, LoopStats, run_loop
from edgeemo.edge.service.metrics import RuntimeMetrics
from edgeemo.edge.vision.detector import Detector, make_detector
from edgeemo.edge.vision.zones import ZoneMap
from edgeemo.errors import ConfigError
from edgeemo.sdnotify import ServiceNotifier

log = logging.getLogger(__name__)


def _stop_on_signals(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, _frame: object) -> None:
        log.info("%s: stopping after this frame", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def satisfaction_groups(config: RunConfig, labels: tuple[str, ...], model_path: Path) -> SatisfactionGroups:
    """The configured groups, checked against the model's labels (a label it lacks exits 78).

    The defaults name every negative label of both label sets (contempt is FER+ only), so
    they are narrowed to the model's labels instead of refused.
    """
    groups = config.analytics.groups()
    chosen = config.analytics.model_fields_set  # the keys the config sets; the rest are defaults
    named = [x for key in ("positive", "negative") if key in chosen for x in getattr(groups, key)]
    if named:
        unknown = [x for x in named if x not in labels]
        if unknown:
            raise ConfigError(f"[analytics]: label {unknown[0]!r} is not one of the model's labels "
                              f"({', '.join(labels)}; from {model_path.name}'s sidecar)")
    return groups.for_labels(labels)


@dataclass
class Prepared:
    """What `run` checks and opens before the first frame; `--validate-config` stops here."""

    model: EdgeModel
    groups: SatisfactionGroups
    zones: ZoneMap
    detector: Detector
    db_path: Path


def prepare(config: RunConfig, source_uri: str) -> Prepared:
    """Every check `edgeemo run` makes before its loop: the source's file or folder, the model (its sha256
    and a load), the [analytics] labels against the model's, the zones, the detector, the database path."""
    check_uri(source_uri)
    model = open_edge_model(config.model.path, config.model.threads)
    groups = satisfaction_groups(config, model.labels, model.path)
    zones = ZoneMap(config.zones)
    detector = make_detector(config.detector, zones)
    db_path = config.db_path()
    if db_path.exists() and not db_path.is_file():
        kind = "a folder" if db_path.is_dir() else "not a regular file"
        raise ConfigError(f"{db_path}: the analytics database path is {kind}; point --db or [store] path at a "
                          "file (it is created if missing)")
    return Prepared(model, groups, zones, detector, db_path)


def run(config: RunConfig, source_uri: str, max_frames: int | None = None, view=None,
        stop: threading.Event | None = None, notifier: ServiceNotifier | None = None) -> tuple[LoopStats, Path]:
    stop = stop or threading.Event()
    notifier = notifier or ServiceNotifier()
    _stop_on_signals(stop)
    metrics = RuntimeMetrics()
    prepared = prepare(config, source_uri)
    model, groups, zones, detector, db_path = (prepared.model, prepared.groups, prepared.zones, prepared.detector,
                                               prepared.db_path)
    metrics.model_info.info({
        "file": model.path.name, "sha256": model.sidecar.sha256, "runtime": model.classifier.runtime,
        "accelerator": model.accelerator,
    })
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # the store reports an unwritable location and holds rows in memory
    store = AnalyticsStore(db_path, config.store.commit_every_s, config.store.retention_days,
                           config.store.max_pending_rows, keep_unsent=config.mqtt.enabled)
    made_by = {"model": {"name": model.path.name, "sha256": model.sidecar.sha256},
               "satisfaction_groups": groups.as_dict()}
    store.set_meta(labels=list(model.labels), zones=list(zones.names), **made_by,
                   calibration=model.sidecar.calibration,  # what `edgeemo report` corrects the index with ...
                   calibration_since=calibration_since(store.stored_meta(), made_by),  # ... of visits since then
                   timezone=config.store.timezone)  # the days and times `edgeemo report` shows, by default
    publisher = MqttPublisher(config.mqtt, config.store_id, config.device_id) if config.mqtt.enabled else None
    outbox = Outbox(store, publisher, config.mqtt.max_publish_per_s) if publisher is not None else None
    with contextlib.ExitStack() as cleanup:  # closes in reverse: source, publisher, metrics, store
        cleanup.callback(notifier.close)
        cleanup.callback(store.close)
        if config.prometheus.enabled:
            metrics.serve(config.prometheus)
            cleanup.callback(metrics.close)
        if publisher is not None:
            publisher.start()
            cleanup.callback(publisher.close)

        def camera_state(up: bool) -> None:
            metrics.camera_up.set(int(up))
            notifier.status("running" if up else "camera down; reconnecting")

        def keepalive() -> None:  # while a camera reconnects: the watchdog is fed, rows still land and go out
            notifier.watchdog()
            store.maybe_flush()
            if outbox is not None:
                outbox.pump()

        source = open_source(source_uri, config.source, stop, on_state=camera_state, keepalive=keepalive)
        cleanup.callback(source.close)
        analytics = Analytics(model.labels, config.store.bucket_s, config.tracker.max_age_s + 1.0, [store], [store],
                              zones.names, groups, {"name": model.path.name, "sha256": model.sidecar.sha256})

        def periodic() -> None:
            store.maybe_flush()
            if outbox is not None:
                outbox.pump()
            metrics.store_pending.set(store.pending)

        parts = LoopParts(source, detector, model.classifier, model.labels, analytics, config, stop, metrics,
                          heartbeat=notifier.watchdog, periodic=periodic, view=view, zones=zones,
                          on_clock_jump=store.clock_jumped)
        notifier.ready(f"source {source.name}, model {model.path.name}")
        log.info("running: source %s, database %s, store %s, device %s, zones %s",
                 source.name, db_path, config.store_id, config.device_id, ", ".join(zones.names))
        try:
            stats = run_loop(parts, max_frames)
        finally:
            notifier.stopping()
            analytics.close()  # the open intervals go to the store, and from there to the broker
            if outbox is not None:
                store.flush()
                outbox.drain()
    return stats, db_path
