"""The edge runtime's configuration: TOML, validated with bounds; unknown keys are errors.

Each section is defined by the floor that owns it (`[source]` in capture, `[detector]` in
vision, `[model]` in inference, ...) and composed here. Every section has defaults, so an
empty file (or no file) is a valid config. A bad key or value raises `ConfigError`, which the
CLI turns into one line naming the key and exit 78 (EX_CONFIG) so systemd does not
restart-loop on it.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import Field, model_validator

from edgeemo.edge.analytics.intervals import AnalyticsConfig
from edgeemo.edge.analytics.mqtt import MqttConfig
from edgeemo.edge.analytics.store_config import StoreConfig
from edgeemo.edge.analytics.visits import SmoothingConfig
from edgeemo.edge.capture.frame import SourceConfig
from edgeemo.edge.inference.model import ModelConfig
from edgeemo.edge.inference.rate import ClassifyConfig
from edgeemo.edge.service.metrics import PrometheusConfig
from edgeemo.edge.vision.detector import DetectorConfig
from edgeemo.edge.vision.motion import MotionConfig
from edgeemo.edge.vision.tracker import TrackerConfig
from edgeemo.edge.vision.zones import ZoneConfig, check_zones
from edgeemo.errors import ConfigError
from edgeemo.tomlconfig import Section, load_toml
from edgeemo.wire import NAME_PATTERN


class RunConfig(Section):
    store_id: str = Field("store", pattern=NAME_PATTERN, description="letters, digits, _ . - (an MQTT topic level)")
    device_id: str = Field(default_factory=socket.gethostname, pattern=NAME_PATTERN)
    source: SourceConfig = SourceConfig()
    detector: DetectorConfig = DetectorConfig()
    motion: MotionConfig = MotionConfig()
    classify: ClassifyConfig = ClassifyConfig()
    tracker: TrackerConfig = TrackerConfig()
    smoothing: SmoothingConfig = SmoothingConfig()
    model: ModelConfig = ModelConfig()
    store: StoreConfig = StoreConfig()
    mqtt: MqttConfig = MqttConfig()
    prometheus: PrometheusConfig = PrometheusConfig()
    analytics: AnalyticsConfig = AnalyticsConfig()
    zones: list[ZoneConfig] = Field(default_factory=list, max_length=64)

    @model_validator(mode="after")
    def _zones_consistent(self) -> RunConfig:
        check_zones(self.zones)
        return self

    @model_validator(mode="after")
    def _published_under_a_store(self) -> RunConfig:
        """With MQTT on, the store's id is the topic the hub files every number under: the default
        ("store") would merge every such device of the fleet into one phantom store."""
        if self.mqtt.enabled and "store_id" not in self.model_fields_set:
            raise ValueError("store_id: [mqtt] enabled = true needs this device's store_id (a top-level key, "
                             "e.g. store_id = \"store-042\")")
        return self

    def with_paths(self, model: Path | None = None, db: Path | None = None) -> RunConfig:
        """A copy with --model / --db from the command line taking precedence."""
        updates: dict[str, Section] = {}
        if model is not None:
            updates["model"] = self.model.model_copy(update={"path": model})
        if db is not None:
            updates["store"] = self.store.model_copy(update={"path": db})
        return self.model_copy(update=updates)

    def with_recording(self, recorded_at: str) -> RunConfig:
        """A copy whose file source is labelled as recorded at `recorded_at` (ISO with its offset)."""
        from pydantic import ValidationError

        try:
            source = SourceConfig.model_validate({**self.source.model_dump(), "recorded_at": recorded_at})
        except ValidationError as exc:
            raise ConfigError(f"--recorded-at {recorded_at!r}: {exc.errors()[0]['msg']} (e.g. "
                              "2026-12-04T10:00:00-08:00)") from None
        return self.model_copy(update={"source": source})

    def db_path(self) -> Path:
        if self.store.path is not None:
            return self.store.path
        state = os.environ.get("STATE_DIRECTORY")  # set by systemd's StateDirectory=
        return Path(state.split(":")[0]) / "edgeemo.db" if state else Path("edgeemo.db")


def load_config(path: Path | None) -> RunConfig:
    """The validated config from a TOML file (defaults without one)."""
    return load_toml(path, RunConfig)
