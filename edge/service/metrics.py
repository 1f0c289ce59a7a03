"""Prometheus metrics of the runtime (prometheus-client); served on /metrics only when enabled.

Each run has its own registry, so tests and benchmarks never collide on the global one.
"""

from __future__ import annotations

import logging
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, start_http_server
from pydantic import Field

from edgeemo.edge.service.health import DeviceHealth
from edgeemo.errors import EdgeemoError
from edgeemo.tomlconfig import Section

log = logging.getLogger(__name__)


class PrometheusConfig(Section):
    """`[prometheus]`: /metrics, off by default."""

    enabled: bool = False
    address: str = "127.0.0.1"
    port: int = Field(9108, ge=0, le=65535)


class RuntimeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.frames = Counter("edgeemo_frames", "Frames processed", registry=self.registry)
        self.faces = Counter("edgeemo_faces", "Faces followed on a frame (classified, or held between two "
                             "classifications by the rate cap)", ["zone"], registry=self.registry)
        self.classifications = Counter("edgeemo_classifications", "Face crops classified", registry=self.registry)
        self.detections_skipped = Counter("edgeemo_detections_skipped", "Detection frames skipped as nothing "
                                          "moved (the motion gate)", registry=self.registry)
        self.visits = Counter("edgeemo_visits", "Visits recorded, by zone and dominant emotion (the model's labels)",
                              ["zone", "emotion"], registry=self.registry)
        self.inference_seconds = Histogram(
            "edgeemo_inference_seconds", "Classifier time per batch of faces", registry=self.registry,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
        )
        self.detection_seconds = Histogram(
            "edgeemo_detection_seconds", "Face detection time per detected frame", registry=self.registry,
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
        )
        self.camera_up = Gauge("edgeemo_camera_up", "1 while the source delivers frames", registry=self.registry)
        self.store_pending = Gauge("edgeemo_store_pending_rows", "Analytics rows held in memory, not yet on disk",
                                   registry=self.registry)
        self.model_info = Info("edgeemo_model", "The model in use", registry=self.registry)
        self.registry.register(DeviceHealth())
        self._server: WSGIServer | None = None

    def serve(self, config: PrometheusConfig) -> None:
        try:
            self._server, _ = start_http_server(config.port, addr=config.address, registry=self.registry)
        except OSError as exc:
            raise EdgeemoError(
                f"prometheus: cannot listen on {config.address}:{config.port} ({exc.strerror}); "
                "pick another [prometheus] port or disable it"
            ) from exc
        log.info("prometheus: /metrics on %s:%d", config.address, self.port)

    @property
    def port(self) -> int:
        return self._server.server_port if self._server is not None else 0

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
