"""The edge runtime's configuration: TOML, validated with bounds; unknown keys are errors.

Every section has defaults, so an empty file (or no file) is a valid config. A bad key or
value raises `ConfigError`, which the CLI turns into one line naming the key and exit 78
(EX_CONFIG) so systemd does not restart-loop on it.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edgeemo.aggregates import DEFAULT_NEGATIVE, DEFAULT_POSITIVE, SatisfactionGroups
from edgeemo.edge.zones import ZoneConfig, check_zones
from edgeemo.tomlconfig import load_toml

# store_id, device_id and each topic_prefix level become MQTT topic levels: no wildcards
# (+ #), no empty levels, nothing a broker or an ACL pattern would read differently.
NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
TOPIC_PREFIX_PATTERN = r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$"

class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceConfig(Section):
    uri: str = Field("picamera", description="picamera, a device index, rtsp://… / http://… URL, or a file/folder")
    width: int = Field(640, ge=64, le=4096, description="requested capture width (live sources)")
    height: int = Field(480, ge=48, le=4096, description="requested capture height (live sources)")
    fps: float = Field(15.0, gt=0, le=120, description="requested camera rate; frame rate of image folders")
    realtime: bool = Field(False, description="play files at their own frame rate instead of as fast as possible")
    reconnect_initial_s: float = Field(1.0, gt=0, le=60)
    reconnect_max_s: float = Field(30.0, gt=0, le=600)
    stale_frames: int = Field(30, ge=2, le=10_000, description="this many identical frames in a row = stale camera")
    open_timeout_s: float = Field(10.0, gt=0, le=25.0, description="URL streams: give up opening or reading "
                                  "after this long (under the watchdog's 30 s)")


class DetectorConfig(Section):
    detect_width: int = Field(320, ge=80, le=4096, description="frames are downscaled to this width for Haar")
    every_n_frames: int = Field(3, ge=1, le=100, description="run Haar every N frames; track in between")
    scale_factor: float = Field(1.1, gt=1.0, le=2.0)
    min_neighbors: int = Field(5, ge=0, le=50)
    min_face_px: int = Field(40, ge=8, le=2000, description="smallest face, in pixels of the full frame")
    margin: float = Field(0.1, ge=0.0, le=1.0, description="crop margin around the box, share of its size")


class TrackerConfig(Section):
    iou_threshold: float = Field(0.3, gt=0.0, le=1.0)
    max_age_s: float = Field(2.0, gt=0.0, le=60.0, description="a track unseen this long ends")
    hold_s: float = Field(0.5, ge=0.0, le=10.0,
                          description="a face missed by Haar is still classified at its last box this long")


class SmoothingConfig(Section):
    mode: Literal["ema", "vote"] = "ema"
    alpha: float = Field(0.3, gt=0.0, le=1.0, description="ema weight of the newest frame")
    window: int = Field(15, ge=1, le=1000, description="vote window in frames")
    min_dwell_s: float = Field(1.0, ge=0.0, le=3600, description="shorter tracks are not counted as visits")


class ModelConfig(Section):
    path: Path | None = Field(None, description="a .tflite with its sidecar; default: the bundled FER+ int8 model (ferplus_cnn_int8.tflite)")
    threads: int = Field(2, ge=1, le=64)
    tta: Literal["none", "flip"] = Field("none", description="flip: classify each face and its mirror image "
                                         "in one batch and average (about 2x the inference time)")


class AnalyticsConfig(Section):
    """The satisfaction index's groups; labels the model does not have are an error at start."""

    positive: list[str] = Field(default_factory=lambda: list(DEFAULT_POSITIVE))
    negative: list[str] = Field(default_factory=lambda: list(DEFAULT_NEGATIVE))

    @model_validator(mode="after")
    def _disjoint(self) -> AnalyticsConfig:
        both = sorted(set(self.positive) & set(self.negative))
        if both:
            raise ValueError(f"{both[0]!r} is both positive and negative")
        return self

    def groups(self) -> SatisfactionGroups:
        return SatisfactionGroups(tuple(self.positive), tuple(self.negative))


class StoreConfig(Section):
    path: Path | None = Field(None, description="SQLite file; default: $STATE_DIRECTORY/edgeemo.db or ./edgeemo.db")
    bucket_s: int = Field(60, ge=10, le=3600, description="aggregation interval (per-minute by default)")
    commit_every_s: float = Field(10.0, gt=0, le=3600, description="batched commits")
    retention_days: float = Field(90.0, gt=0, le=3650)
    max_pending_rows: int = Field(100_000, ge=100, description="rows held in memory while the disk fails")


class MqttConfig(Section):
    enabled: bool = False
    host: str = "localhost"
    port: int = Field(1883, ge=1, le=65535)
    topic_prefix: str = Field("edgeemo", pattern=TOPIC_PREFIX_PATTERN, max_length=128,
                              description="topic levels of letters, digits, _ . - joined by /; no + or #")
    username: str | None = None
    password: str | None = None
    tls: bool = False
    qos: int = Field(1, ge=0, le=2)
    keepalive_s: int = Field(60, ge=5, le=3600)
    max_publish_per_s: float = Field(20.0, gt=0, le=10_000, description="outbox rate: a backlog after an "
                                     "outage goes out at most this fast, oldest first")


class PrometheusConfig(Section):
    enabled: bool = False
    address: str = "127.0.0.1"
    port: int = Field(9108, ge=0, le=65535)


class RunConfig(Section):
    store_id: str = Field("store", pattern=NAME_PATTERN, description="letters, digits, _ . - (an MQTT topic level)")
    device_id: str = Field(default_factory=socket.gethostname, pattern=NAME_PATTERN)
    source: SourceConfig = SourceConfig()
    detector: DetectorConfig = DetectorConfig()
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

    def with_paths(self, model: Path | None = None, db: Path | None = None) -> RunConfig:
        """A copy with --model / --db from the command line taking precedence."""
        updates = {}
        if model is not None:
            updates["model"] = self.model.model_copy(update={"path": model})
        if db is not None:
            updates["store"] = self.store.model_copy(update={"path": db})
        return self.model_copy(update=updates)

    def db_path(self) -> Path:
        if self.store.path is not None:
            return self.store.path
        state = os.environ.get("STATE_DIRECTORY")  # set by systemd's StateDirectory=
        return Path(state.split(":")[0]) / "edgeemo.db" if state else Path("edgeemo.db")


def load_config(path: Path | None) -> RunConfig:
    """The validated config from a TOML file (defaults without one)."""
    return load_toml(path, RunConfig)
