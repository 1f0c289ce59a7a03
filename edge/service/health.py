"""Device health for /metrics: SoC temperature and the Raspberry Pi firmware's throttling flags.

Read from sysfs when Prometheus scrapes (no thread, no polling); a file that does not exist
(not a Pi, no thermal zone) is skipped without a word. The throttling word is the sysfs twin
of `vcgencmd get_throttled`: a store device that is under-voltage or hot drops frames.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")
THROTTLED = Path("/sys/devices/platform/soc/soc:firmware/get_throttled")
# Bits of the firmware's throttling word (Raspberry Pi documentation, vcgencmd get_throttled).
THROTTLE_FLAGS = {
    0: "under_voltage_now", 1: "frequency_capped_now", 2: "throttled_now", 3: "soft_temperature_limit_now",
    16: "under_voltage_since_boot", 17: "frequency_capped_since_boot", 18: "throttled_since_boot",
    19: "soft_temperature_limit_since_boot",
}


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


class DeviceHealth(Collector):
    def __init__(self, thermal: Path = THERMAL_ZONE, throttled: Path = THROTTLED) -> None:
        self.thermal, self.throttled = thermal, throttled

    def collect(self) -> Iterator[GaugeMetricFamily]:
        millidegrees = _read(self.thermal)
        if millidegrees is not None and millidegrees.lstrip("-").isdigit():
            yield GaugeMetricFamily("edgeemo_soc_temperature_celsius", "SoC temperature (thermal zone 0)",
                                    value=int(millidegrees) / 1000)
        word = _read(self.throttled)
        if word is not None:
            try:
                value = int(word, 16)
            except ValueError:
                return
            flags = GaugeMetricFamily("edgeemo_throttled", "Raspberry Pi firmware throttling flags (1 = set)",
                                      labels=["flag"])
            for bit, name in THROTTLE_FLAGS.items():
                flags.add_metric([name], (value >> bit) & 1)
            yield flags
