"""The hub's configuration (`hub.toml`): a validated schema with bounds, unknown keys refused."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from edgeemo.payload import MAX_SEQ, TimeRules
from edgeemo.tomlconfig import Section, load_toml
from edgeemo.wire import NAME_PATTERN, TOPIC_PREFIX_PATTERN, parse_iso


class MqttSection(Section):
    url: str | None = Field(None, description="mqtt://HOST:PORT or mqtts://HOST:PORT; none: no ingest, "
                            "dashboard only")
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = Field(None, description="CA of the broker's certificate (mqtts)")
    topic_prefix: str = Field("edgeemo", pattern=TOPIC_PREFIX_PATTERN)
    share_group: str = Field("edgeemo-hub", pattern=NAME_PATTERN,
                             description="MQTT 5 shared subscription: hubs in one group split the fleet")
    client_id: str | None = Field(None, pattern=NAME_PATTERN,
                                  description="unique per hub process: the broker keeps its session across restarts; "
                                  "default: the username (a broker with use_username_as_clientid, as the deploy's, "
                                  "makes it so), else edgeemo-hub-1")
    protocol: Literal["3.1.1", "5"] = Field("3.1.1", description="3.1.1: a third less CPU per message than 5 (no "
                                            "per-message properties), the broker's persistent_client_expiration "
                                            "bounds the session; 5: session_expiry_s does")
    session_expiry_s: int = Field(7 * 86400, ge=0, le=2**32 - 1,
                                  description="MQTT 5: how long the broker queues for a hub that is away; in a "
                                  "shared group, also how long a hub gone for good keeps its share (`edgeemo hub "
                                  "retire` ends it at once)")
    batch_size: int = Field(2000, ge=1, le=50_000, description="payloads written and acknowledged per transaction")
    max_payload_bytes: int = Field(16_384, ge=512, le=1_048_576, description="larger payloads are refused")

    @model_validator(mode="after")
    def _client_id(self) -> MqttSection:
        if self.client_id is None:
            self.client_id = self.username or "edgeemo-hub-1"
        return self

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
                raise ValueError("expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
        return value


class IngestSection(Section):
    """What a payload may say, and how much a device may send: bounds on input a hub does not control."""

    earliest: str = Field("2020-01-01", description="intervals that start before this date are refused")
    max_skew_s: float = Field(900.0, ge=0, le=86400, description="intervals that end later than this past the "
                              "hub's clock are refused (a device clock far ahead, or a forged year 9999)")
    max_seq_jump: int = Field(1_000_000, ge=1, le=MAX_SEQ, description="a sequence number this far above the "
                              "device's highest is refused, not taken as a gap of that many intervals")
    device_rate_per_s: float = Field(100.0, gt=0, le=1e6, description="messages a second one device may send on average; "
                                     "more are acknowledged unread and counted as flood (a lost interval is asked "
                                     "for again)")
    device_burst: int = Field(10_000, ge=1, le=10_000_000, description="messages one device may send at once (a day's backlog "
                              "of five zones after an outage is 7,200)")
    max_attempts: int = Field(3, ge=1, le=20, description="a message the database refuses this often goes to the "
                              "dead letters (and is acknowledged)")
    stall_after_s: float = Field(120.0, gt=0, le=86400, description="/api/health says degraded, and the watchdog goes "
                                 "unfed, when a message has waited this long to be stored")

    @field_validator("earliest")
    @classmethod
    def _date(cls, value: str) -> str:
        parse_iso(value)
        return value

    def time_rules(self, retention: RetentionSection | None = None) -> TimeRules:
        """The payload time rules; with the retention, intervals older than the raw data kept are refused
        (they were pruned: storing one again would count it twice in the roll-ups)."""
        return TimeRules(earliest=parse_iso(self.earliest), max_skew_s=self.max_skew_s,
                         max_age_s=None if retention is None else retention.raw_days * 86400.0)


class EstimatesSection(Section):
    """How figures are corrected for the classifier's error (edgeemo.estimates)."""

    models_dir: Path | None = Field(None, description="sidecars (.json) of models edgeemo does not ship, with "
                                    "their calibration; the shipped models' are known already")
    precision_floor: float = Field(0.15, gt=0, le=1, description="an index whose 95% interval is wider than "
                                   "+- this is shown as imprecise, not as a number")


class GapsSection(Section):
    check_every_s: float = Field(10.0, gt=0, le=3600, description="how often sequence numbers are checked")
    first_request_after_s: float = Field(30.0, ge=0, le=86400, description="a gap younger than this may still fill by itself")
    max_backoff_s: float = Field(3600.0, gt=0, le=7 * 86400, description="re-send requests back off to at most this")


class RetentionSection(Section):
    """How long the hub keeps what: raw 1-minute intervals for `raw_days`, the hourly cells and daily roll-ups for
    good; the upkeep (sealing the overview's released days, pruning, PostgreSQL partitions) runs this often."""

    raw_days: int = Field(90, ge=7, le=36600, description="raw intervals older than this are dropped (PostgreSQL: "
                          "whole monthly partitions) and refused when a device sends them")
    upkeep_every_s: float = Field(60.0, ge=1, le=3600, description="how often the upkeep runs")


class WebSection(Section):
    listen: str = Field("127.0.0.1:8080", pattern=r"^[^\s:]*:\d{1,5}$")
    session_hours: float = Field(12.0, gt=0, le=24 * 30, description="a login expires after this")
    secure_cookies: bool = Field(False, description="true behind a TLS reverse proxy")
    stale_after_s: int = Field(900, ge=60, le=366 * 86400, description="a device with no interval for this long is flagged stale")
    min_visits: int = Field(5, ge=1, le=1_000_000, description="k: buckets with fewer visits are suppressed everywhere")
    login_failures_per_name: int = Field(5, ge=1, le=1000, description="failed logins for one name from one address "
                                         "before that name is locked for that address (its owner elsewhere is not)")
    login_failures_per_address: int = Field(20, ge=1, le=10000,
                                            description="failed logins from one address before it is locked")
    login_window_s: int = Field(900, ge=1, le=86400, description="failures older than this are forgotten")
    login_lockout_s: int = Field(900, ge=1, le=86400, description="how long a locked name or address waits")
    trusted_proxies: list[str] = Field(default_factory=list, max_length=64, description="addresses or networks of "
                                       "reverse proxies whose X-Forwarded-For names the client (they must replace "
                                       "it, not append to it); none: the peer's address is the client's")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            ipaddress.ip_network(entry, strict=False)  # ValueError names it
        return value

    def server_options(self) -> dict[str, object]:
        """uvicorn's proxy settings: X-Forwarded-For is read only from the trusted proxies (uvicorn trusts
        127.0.0.1 by default, so a local process or a proxy that appends could pick any address)."""
        if not self.trusted_proxies:
            return {"proxy_headers": False}
        return {"proxy_headers": True, "forwarded_allow_ips": ",".join(self.trusted_proxies)}


class HubConfig(Section):
    db: str = Field("hub.db", description="postgresql://... or a SQLite file")
    mqtt: MqttSection = MqttSection()
    ingest: IngestSection = IngestSection()
    estimates: EstimatesSection = EstimatesSection()
    gaps: GapsSection = GapsSection()
    web: WebSection = WebSection()
    retention: RetentionSection = RetentionSection()


def load_config(path: Path | None) -> HubConfig:
    """The configuration file, or the defaults; a bad file is one ConfigError naming the key."""
    return load_toml(path, HubConfig)
