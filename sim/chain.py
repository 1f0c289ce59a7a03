"""`edgeemo evaluate --chain`: the whole device chain (detector, crop, resize, classifier, tracker,
smoothing, visit) run on simulated footage and scored against its truth.

One shopper walks through for each face of a labelled folder; the footage goes through a real
codec to a file, and the device's own loop (`edgeemo run`'s code, not paced) reads it. Each
recorded visit is matched to the shopper whose true face boxes its track followed. Store-days
are then composed by resampling shoppers by their true label (as `--quantify` resamples faces):
what each drawn shopper left in the device's counts (no visit, one, or two when its track broke)
is what the store counts, so detection, splits and merges weigh in (edgeemo.sim.chain_score).
"""

from __future__ import annotations

import logging
import multiprocessing
import tempfile
import threading
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeemo.bands import band_of
from edgeemo.edge.analytics.intervals import Analytics
from edgeemo.edge.analytics.visits import Visit
from edgeemo.edge.capture.files import VideoFileSource
from edgeemo.edge.capture.frame import Frame
from edgeemo.edge.config import RunConfig
from edgeemo.edge.inference.model import EdgeModel, open_edge_model
from edgeemo.edge.loop import LoopParts, run_loop
from edgeemo.edge.vision.detector import Detector, make_detector
from edgeemo.edge.vision.tracker import IouTracker, Track, iou
from edgeemo.machine import usable_cpus
from edgeemo.preprocess import Box
from edgeemo.sim.footage import footage_name, write_video
from edgeemo.sim.profile import Profile
from edgeemo.sim.render import Renderer, Truth
from edgeemo.sim.shoppers import plan_shoppers

log = logging.getLogger(__name__)
MATCH_IOU = 0.3  # a track's box follows a shopper where it overlaps the true face box this much
MATCH_SHARE = 0.2  # ... on at least this share of the track's detections
# BlazeFace's box against the true FER-framed box on rendered heads (scripts/measure_box_jitter.py):
# standard deviations of log(width ratio) and of the centre's offset in widths
ORACLE_JITTER = {"scale": 0.05, "dx": 0.03, "dy": 0.04}


@dataclass
class RecordedVisit:
    """A visit the device recorded, with the shoppers its track followed (most first; none: a false one)."""

    label: str
    face_px: float | None
    shoppers: list[int]

    @property
    def band(self) -> str | None:
        return band_of(self.face_px)


@dataclass
class ChainRun:
    """What the device recorded of a simulated footage, matched to its truth."""

    truth: Truth
    labels: tuple[str, ...]
    visits: list[RecordedVisit]
    frames: int = 0
    seconds: float = 0.0

    def in_view(self) -> list[int]:
        return [s.id for s in self.truth.shoppers if self.truth.boxes.get(s.id)]

    def by_shopper(self) -> dict[int, list[RecordedVisit]]:
        found: dict[int, list[RecordedVisit]] = defaultdict(list)
        for visit in self.visits:
            if visit.shoppers:
                found[visit.shoppers[0]].append(visit)
        return found

    def tally(self) -> Counter:
        """The counts the summary's shares are made of (runs' tallies add up)."""
        seen, found = self.in_view(), self.by_shopper()
        label_of = {s.id: s.label for s in self.truth.shoppers}
        matched = [v for v in self.visits if v.shoppers]
        return Counter(simulated=len(seen), recorded=len(self.visits), found=sum(1 for s in seen if found.get(s)),
                       split=sum(1 for s in seen if len(found.get(s, [])) >= 2),
                       merged=sum(1 for v in self.visits if len(v.shoppers) >= 2),
                       false=sum(1 for v in self.visits if not v.shoppers), matched=len(matched),
                       right=sum(v.label == label_of[v.shoppers[0]] for v in matched))

    def summary(self) -> dict:
        return summary_of([self])


def summary_of(runs: Sequence[ChainRun]) -> dict:
    """simulated, recorded, recall, split (true visits recorded twice or more), merged (recorded visits
    holding two shoppers), false (visits of no shopper), label_accuracy (recorded visits whose label is
    their shopper's), over every run."""
    t = sum((run.tally() for run in runs), Counter())

    def share(part: str, whole: str) -> float:
        return round(t[part] / max(1, t[whole]), 4)

    return {"simulated": t["simulated"], "recorded": t["recorded"], "recall": share("found", "simulated"),
            "split": share("split", "simulated"), "merged": share("merged", "recorded"),
            "false": share("false", "recorded"), "label_accuracy": share("right", "matched")}


class RecordingTracker(IouTracker):
    """The device's tracker, noting each track's box at every detection (for matching to the truth)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.seen: dict[int, list[tuple[float, Box]]] = defaultdict(list)

    def update(self, detections: list[Box], now: float, zones: list[str] | None = None,
               image: np.ndarray | None = None) -> list[Track]:
        ended = super().update(detections, now, zones, image)
        for track in self.tracks.values():
            if track.last_seen == now:
                self.seen[track.id].append((now, track.box))
        return ended


class OracleDetector:
    """The true face boxes of the current frame, jittered as the detector's are (`--boxes oracle`): the
    reading is scored apart from the finding. A stand-in for a detector, for measurement only."""

    wants_color = False

    def __init__(self, truth: Truth, seed: int) -> None:
        self.by_frame: dict[int, list[Box]] = defaultdict(list)
        for boxes in truth.boxes.values():
            for index, box in boxes:
                self.by_frame[index].append(box)
        self.rng = np.random.default_rng((seed, 5))
        self.frame = 0

    def watch(self, frame: Frame) -> None:
        self.frame = frame.index

    def detect(self, image: np.ndarray) -> list[Box]:
        found = []
        for x, y, w, h in self.by_frame.get(self.frame, []):
            scale = float(np.exp(self.rng.normal(0, ORACLE_JITTER["scale"])))
            cx = x + w / 2 + self.rng.normal(0, ORACLE_JITTER["dx"]) * w
            cy = y + h / 2 + self.rng.normal(0, ORACLE_JITTER["dy"]) * h
            side = max(8, round(w * scale))
            found.append((round(cx - side / 2), round(cy - side / 2), side, side))
        return found


class _Tapped:
    """A source whose every frame is shown to a watcher first (the oracle learns the frame's index)."""

    def __init__(self, source: VideoFileSource, watch) -> None:
        self.source, self.watch = source, watch
        self.live, self.name = False, source.name

    def open(self) -> None:
        self.source.open()

    def read(self) -> Frame | None:
        frame = self.source.read()
        if frame is not None:
            self.watch(frame)
        return frame

    def close(self) -> None:
        self.source.close()


class _Collect:
    def __init__(self) -> None:
        self.visits: list[Visit] = []

    def add_visit(self, visit: Visit) -> None:
        self.visits.append(visit)


def run_chain(model: EdgeModel, images: np.ndarray, face_labels: Sequence[str], profile: Profile, seed: int,
              boxes: str = "detector", config: RunConfig | None = None, distances: Sequence[float] | None = None,
              face_heights: Sequence[float] | None = None, work: Path | None = None) -> ChainRun:
    """Render one shopper per face (in this order), run the device loop on the footage, match visits to shoppers."""
    config = config or RunConfig(device_id="sim")
    rng = np.random.default_rng(seed)
    shoppers = plan_shoppers(range(len(images)), face_labels, profile, rng, distances=distances,
                             face_heights=face_heights)
    renderer = Renderer(profile, images, shoppers, seed)
    with tempfile.TemporaryDirectory(dir=work) as folder:
        path = Path(folder) / footage_name(profile.image)
        write_video(renderer.frames(), path, profile)
        truth = renderer.truth
        source = VideoFileSource(path)
        detector: Detector
        if boxes == "detector":
            detector = make_detector(config.detector)
        else:
            oracle = OracleDetector(truth, seed)
            source, detector = _Tapped(source, oracle.watch), oracle  # type: ignore[assignment]
        collect = _Collect()
        analytics = Analytics(model.labels, config.store.bucket_s, config.tracker.max_age_s + 1.0, sinks=[],
                              visit_sinks=[collect])
        tracker = RecordingTracker(config.tracker.iou_threshold, config.tracker.max_age_s, speed=config.tracker.speed)
        source.open()
        try:
            stats = run_loop(LoopParts(source, detector, model.classifier, model.labels, analytics, config,
                                       threading.Event(), tracker=tracker))
        finally:
            source.close()
    visits = [RecordedVisit(v.dominant, v.face_px, _followed(tracker.seen.get(v.track_id, []), truth))
              for v in collect.visits]
    return ChainRun(truth, model.labels, visits, stats.frames, stats.seconds)


CHUNK_SHOPPERS = 400  # shoppers per rendered footage: about 20 minutes, a few hundred MB of temporary video


def _run_chunk(model_path: Path, *args, **kwargs) -> ChainRun:
    """One chunk in a worker process: the model is opened there (an interpreter does not cross processes)."""
    return run_chain(open_edge_model(model_path, threads=1), *args, **kwargs)


def run_chains(model: EdgeModel, images: np.ndarray, face_labels: Sequence[str], profile: Profile, seed: int,
               boxes: str = "detector", config: RunConfig | None = None, distances: Sequence[float] | None = None,
               face_heights: Sequence[float] | None = None, chunk: int = CHUNK_SHOPPERS,
               workers: int | None = None) -> list[ChainRun]:
    """`run_chain` over consecutive chunks of the faces, each its own footage (seed + its index): the
    temporary video stays small whatever the folder's size, and nothing is lost at the seams but the
    few shoppers who would have crossed one. With several chunks, `workers` processes (a core each by
    default) run them side by side; each chunk's seed fixes its result, so the runs are the same."""
    jobs = []
    for number, start in enumerate(range(0, len(images), chunk)):
        part = slice(start, start + chunk)
        jobs.append((images[part], face_labels[part], profile, seed + 1000 * number, boxes, config,
                      distances[part] if distances is not None else None,
                      face_heights[part] if face_heights is not None else None))
    workers = min(len(jobs), workers or usable_cpus())  # one a core: each chunk runs on one thread
    if workers <= 1:
        return [run_chain(model, *job) for job in jobs]
    # spawn, not fork: the parent holds an interpreter's threads, which a forked child would inherit stuck
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_run_chunk, [model.path] * len(jobs), *zip(*jobs)))


def _followed(seen: list[tuple[float, Box]], truth: Truth) -> list[int]:
    """The shoppers a track's boxes overlap on at least MATCH_SHARE of its detections, most first."""
    if not seen:
        return []
    by_frame = truth.frame_index()
    hits: dict[int, int] = defaultdict(int)
    for t, box in seen:  # each detection follows the one shopper it overlaps most
        overlaps = [(iou(box, true_box), shopper) for shopper, true_box in by_frame.get(round(t * truth.fps), [])]
        best = max(overlaps, default=(0.0, 0))
        if best[0] >= MATCH_IOU:
            hits[best[1]] += 1
    need = max(1, MATCH_SHARE * len(seen))
    return [s for s, n in sorted(hits.items(), key=lambda item: -item[1]) if n >= need]
