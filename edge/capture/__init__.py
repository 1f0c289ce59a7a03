"""Capture: where frames come from (files, USB/network cameras, the Pi camera) and how a live
camera is kept alive (reconnect with backoff, stale-frame detection). Owns `[source]`.

`open_source(uri, ...)` (capture/uri.py) is the one entry point; every source yields `Frame`s.
Nothing here knows about faces, models or the database.
"""
