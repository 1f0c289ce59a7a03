"""Service: the device as a service. Prometheus /metrics with the SoC's health, and the
debugging views (--show / --annotate-out, the only code that draws faces). Owns `[prometheus]`.
systemd's notify protocol is on the ground floor (`edgeemo.sdnotify`): the hub uses it too.
"""
