"""The source a URI names: 'picamera', a device index, a URL, a video file, an image file or folder."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from edgeemo.edge.capture.cameras import OpenCVCameraSource, PiCameraSource
from edgeemo.edge.capture.files import IMAGE_SUFFIXES, ImageSource, VideoFileSource
from edgeemo.edge.capture.frame import Source, SourceConfig, SourceError
from edgeemo.edge.capture.reconnect import ReconnectingSource


def is_live(uri: str) -> bool:
    """A camera or a stream (retried when it fails), not a file or folder."""
    return uri == "picamera" or uri.isdigit() or "://" in uri


def check_uri(uri: str) -> Path | None:
    """The file or folder `uri` names (None for a live source), or SourceError if there is none: what
    `edgeemo run --validate-config` can check without opening a camera the running service may hold."""
    if is_live(uri):
        return None
    path = Path(uri)
    if not path.exists():
        raise SourceError(f"{uri}: no such file or folder (and not picamera, a device index or a URL)")
    return path


def open_source(uri: str, config: SourceConfig, stop: threading.Event,
                on_state: Callable[[bool], None] = lambda up: None,
                keepalive: Callable[[], None] = lambda: None) -> Source:
    """The source `uri` names: 'picamera', a device index, a URL, a video file, an image file or folder."""
    inner: Source
    if config.recorded_at is not None and ("://" in uri or uri.isdigit() or uri == "picamera"):
        raise SourceError(f"{uri}: recorded_at labels recorded footage; a live camera's frames are labelled with "
                          "now (drop --recorded-at / [source] recorded_at)")
    if uri == "picamera":
        inner = PiCameraSource(config.width, config.height, config.fps)
    elif uri.isdigit():
        inner = OpenCVCameraSource(int(uri), config.width, config.height, config.fps)
    elif "://" in uri:
        inner = OpenCVCameraSource(uri, config.width, config.height, config.fps, config.open_timeout_s)
    else:
        path = check_uri(uri)
        assert path is not None
        if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
            if config.recorded_at is not None:
                raise SourceError(f"{uri}: recorded_at labels a video file's frames; photos are labelled with now "
                                  "(drop --recorded-at / [source] recorded_at)")
            source: Source = ImageSource(path, config.fps)
        else:
            recorded = config.recorded_at.timestamp() if config.recorded_at is not None else None
            source = VideoFileSource(path, config.realtime, recorded)
        source.open()
        on_state(True)
        return source
    wrapped = ReconnectingSource(inner, config, stop, on_state, keepalive)
    wrapped.open()
    return wrapped
