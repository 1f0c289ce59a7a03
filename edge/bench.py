"""`edgeemo bench`: the edge loop against a naive loop on the same source, in one process.

Edge loop = what `edgeemo run` runs (the configured detector every N frames unless nothing
moved, tracking in between, each face classified at its capped rate, all faces of a frame in
one batch). Naive loop = Haar on every full-size frame,
then each face classified on its own: the shape most demos have. Both decode the source
themselves on every pass; the best pass of each counts (the least disturbed by the host).
"""

from __future__ import annotations

import resource
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgeemo.edge.analytics.intervals import Analytics
from edgeemo.edge.capture.frame import Source
from edgeemo.edge.capture.uri import open_source
from edgeemo.edge.config import RunConfig
from edgeemo.edge.inference.model import EdgeModel, open_edge_model
from edgeemo.edge.loop import LoopParts, run_loop
from edgeemo.edge.vision.detector import Detector, detector_input, make_detector
from edgeemo.edge.vision.haar import HaarDetector
from edgeemo.edge.vision.zones import ZoneMap
from edgeemo.errors import EdgeemoError
from edgeemo.preprocess import Box, face_input
from edgeemo.text import plural


def _file_source(uri: str, config: RunConfig) -> Source:
    source = open_source(uri, config.source.model_copy(update={"realtime": False}), threading.Event())
    if source.live:
        source.close()
        raise EdgeemoError(f"--source {uri}: bench replays a video file or image folder, not a live camera")
    return source


class TimedDetector:
    """A detector that keeps every call's duration: bench-only, the run loop keeps a histogram."""

    def __init__(self, detector: Detector) -> None:
        self.detector, self.seconds = detector, list[float]()
        self.wants_color = detector.wants_color

    def detect(self, gray: np.ndarray) -> list[Box]:
        started = time.perf_counter()
        boxes = self.detector.detect(gray)
        self.seconds.append(time.perf_counter() - started)
        return boxes


def _percentiles(values: list[float]) -> dict[str, float]:
    array = np.asarray(values) * 1000
    return {"median_ms": round(float(np.median(array)), 3), "p95_ms": round(float(np.percentile(array, 95)), 3),
            "n": len(values)}


def edge_pass(model: EdgeModel, config: RunConfig, uri: str) -> dict[str, Any]:
    source = _file_source(uri, config)
    zones = ZoneMap(config.zones)
    analytics = Analytics(model.labels, config.store.bucket_s, config.tracker.max_age_s + 1.0, sinks=[],
                          zones=zones.names)
    detector = TimedDetector(make_detector(config.detector, zones))
    parts = LoopParts(source, detector, model.classifier, model.labels, analytics, config, threading.Event(),
                      zones=zones)
    try:
        stats = run_loop(parts)
    finally:
        source.close()
    return {"frames": stats.frames, "seconds": stats.seconds, "fps": stats.fps, "detect_s": detector.seconds,
            "frames_with_face": stats.frames_with_face, "visits": stats.visits,
            "detections_skipped": stats.detections_skipped, "faces_classified": stats.faces_classified,
            "faces_held": stats.faces_held}


def naive_pass(model: EdgeModel, config: RunConfig, uri: str) -> dict[str, Any]:
    source = _file_source(uri, config)
    # the naive baseline is fixed whatever the configured detector: Haar, 40 px faces, every full frame
    haar = config.detector.model_copy(update={"kind": "haar", "min_face_px": 40})
    detector = TimedDetector(HaarDetector(haar, downscale=False))
    frames = faces = 0
    started = time.perf_counter()
    try:
        while (frame := source.read()) is not None:
            boxes = detector.detect(frame.gray)
            for box in boxes:
                model.classifier.predict(face_input(frame.gray, model.classifier.input_size, box,
                                                    config.detector.margin)[None])
            frames += 1
            faces += len(boxes)
    finally:
        source.close()
    seconds = time.perf_counter() - started
    return {"frames": frames, "seconds": seconds, "fps": frames / seconds if seconds else 0.0,
            "detect_s": detector.seconds, "faces": faces}


def face_latency(model: EdgeModel, config: RunConfig, uri: str, samples: int = 300) -> list[float]:
    """Seconds per single-face inference on real crops from the source."""
    source = _file_source(uri, config)
    detector = make_detector(config.detector)
    crops: list[np.ndarray] = []
    try:
        while (frame := source.read()) is not None and len(crops) < 64:
            crops += [face_input(frame.gray, model.classifier.input_size, box, config.detector.margin)
                      for box in detector.detect(detector_input(detector, frame.gray, frame.color))]
    finally:
        source.close()
    if not crops:
        raise EdgeemoError(f"--source {uri}: no face found, so no per-face latency can be measured")
    model.classifier.predict(crops[0][None])  # warm-up (and batch size 1 allocation)
    timings = []
    for index in range(samples):
        crop = crops[index % len(crops)][None]
        started = time.perf_counter()
        model.classifier.predict(crop)
        timings.append(time.perf_counter() - started)
    return timings


def _zone_cost(config: RunConfig, zoned: list[dict[str, Any]], unzoned: list[dict[str, Any]]) -> dict[str, Any]:
    """The edge loop with the configured zones against the same loop without them, same process."""
    best, baseline = max(run["fps"] for run in zoned), max(run["fps"] for run in unzoned)
    return {"zones": len(config.zones), "fps": round(best, 1), "fps_without_zones": round(baseline, 1),
            "fps_ratio": round(best / baseline, 3) if baseline else None,
            "fps_all_passes_without_zones": [round(run["fps"], 1) for run in unzoned]}


def bench(config: RunConfig, uri: str, repeat: int = 3) -> dict[str, Any]:
    if not Path(uri).exists():
        raise EdgeemoError(f"--source {uri}: no such file or folder")
    model = open_edge_model(config.model.path, config.model.threads)
    latency = face_latency(model, config, uri)
    edge_runs, unzoned_runs = [], []
    for _ in range(max(1, repeat)):  # with zones configured, passes without them alternate with these
        edge_runs.append(edge_pass(model, config, uri))
        if config.zones:
            unzoned_runs.append(edge_pass(model, config.model_copy(update={"zones": []}), uri))
    naive_runs = [naive_pass(model, config, uri) for _ in range(max(1, repeat))]
    edge = max(edge_runs, key=lambda run: run["fps"])
    naive = max(naive_runs, key=lambda run: run["fps"])
    return {
        "source": uri, "model": str(model.path), "runtime": model.classifier.runtime,
        "accelerator": model.accelerator, "threads": config.model.threads, "repeat": repeat,
        "per_face_inference": _percentiles(latency),
        "edge": {
            "fps": round(edge["fps"], 1), "frames": edge["frames"], "frames_with_face": edge["frames_with_face"],
            "visits": edge["visits"], "detect_every_n_frames": config.detector.every_n_frames,
            "detector": config.detector.describe(), "detection": _percentiles(edge["detect_s"]),
            "detections_skipped": edge["detections_skipped"], "faces_classified": edge["faces_classified"],
            "faces_held": edge["faces_held"],
            "fps_all_passes": [round(run["fps"], 1) for run in edge_runs],
        },
        "naive": {
            "fps": round(naive["fps"], 1), "frames": naive["frames"], "faces": naive["faces"],
            "detection": _percentiles(naive["detect_s"]),
            "fps_all_passes": [round(run["fps"], 1) for run in naive_runs],
        },
        **({"zones": _zone_cost(config, edge_runs, unzoned_runs)} if config.zones else {}),
        "speedup": round(edge["fps"] / naive["fps"], 2) if naive["fps"] else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "median_pass_speedup": round(statistics.median(r["fps"] for r in edge_runs)
                                     / statistics.median(r["fps"] for r in naive_runs), 2),
    }


def format_bench(result: dict[str, Any]) -> str:
    edge, naive, face = result["edge"], result["naive"], result["per_face_inference"]
    lines = [
        (f"source {result['source']}, model {Path(result['model']).name} on {result['accelerator']} "
         f"({result['runtime']}, {result['threads']} threads), best of {result['repeat']} passes"),
        f"per-face inference:   median {face['median_ms']:.3f} ms, p95 {face['p95_ms']:.3f} ms ({face['n']} faces)",
        (f"edge loop:            {edge['fps']:.1f} fps; detection ({edge['detector']}) "
         f"{edge['detection']['median_ms']:.1f} ms median, every {edge['detect_every_n_frames']} frames "
         f"({edge['detections_skipped']} skipped as nothing moved); a face in {edge['frames_with_face']}/"
         f"{edge['frames']} frames, {edge['faces_classified']} crops classified ({edge['faces_held']} held), "
         f"{plural(edge['visits'], 'visit')}"),
        (f"naive loop:           {naive['fps']:.1f} fps; detection {naive['detection']['median_ms']:.1f} ms median "
         "on every full-size frame"),
        f"speedup:              {result['speedup']:.2f}x (median pass {result['median_pass_speedup']:.2f}x)",
        f"peak RSS:             {result['peak_rss_mb']:.0f} MB",
    ]
    if "zones" in result:
        zones = result["zones"]
        lines.append(f"zones:                {zones['zones']} configured: {zones['fps']:.1f} fps vs "
                     f"{zones['fps_without_zones']:.1f} fps without them ({zones['fps_ratio']:.3f}x)")
    return "\n".join(lines)
