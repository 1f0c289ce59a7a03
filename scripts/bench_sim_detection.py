"""Face detection on simulated store footage (`edgeemo simulate`): recall by the true face box's width and false
positives a frame, for each detector, on the frames the loop detects on.

The footage is rendered from labelled faces (FER-2013's test split by default: drawn heads, the profile's
light drift, noise and codec) into a temporary folder and read back as a device reads a clip. A detection
is a hit at IoU >= 0.4 with a true box (FER framing, faces wholly in view and less than a third hidden);
a box overlapping no true box (IoU < 0.2) counts as a false positive, so a face half out of the frame or
behind another shopper that a detector still finds counts against it: an upper bound.

    python scripts/bench_sim_detection.py --faces ../shared/data/fer2013 --profile far --shoppers 40 \\
        [--every 3] [--out reports/detection]   # writes sim-far.json and sim-far.md
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2
import numpy as np

from edgeemo.edge.vision.blazeface import BlazeFaceDetector, iou_one_to_many
from edgeemo.edge.vision.detector import DetectorConfig, detector_input, make_detector
from edgeemo.preprocess import to_gray
from edgeemo.sim.footage import footage_name
from edgeemo.sim.profile import load_profile
from edgeemo.sim.simulate import load_cast, render_footage

DETECTORS = {
    "haar@320": DetectorConfig(kind="haar"),
    "blazeface/back, no zoom": DetectorConfig(zoom=False),
    "blazeface/back (default)": DetectorConfig(),
}
BANDS = ((16, 24), (24, 28), (28, 32), (32, 36), (36, 40), (40, 48), (48, 64), (64, 96), (96, 128))
HIT_IOU = 0.4


def truth_by_frame(truth: dict) -> dict[int, np.ndarray]:
    """frame -> (n, 4) true boxes."""
    frames: dict[int, list] = {}
    for shopper in truth["shoppers"]:
        for index, *box in shopper["boxes"]:
            frames.setdefault(index, []).append(box)
    return {index: np.asarray(boxes, np.float64) for index, boxes in frames.items()}


def measure(footage: Path, truth: dict, every: int) -> dict:
    cv2.setNumThreads(1)
    detectors = {name: make_detector(config) for name, config in DETECTORS.items()}
    detectors = {name: BlazeFaceDetector(DETECTORS[name], num_threads=1) if isinstance(d, BlazeFaceDetector) else d
                 for name, d in detectors.items()}
    boxes_at = truth_by_frame(truth)
    faces = dict.fromkeys(BANDS, 0)
    found = {name: dict.fromkeys(BANDS, 0) for name in detectors}
    false_pos = dict.fromkeys(detectors, 0)
    cpu: dict[str, list[float]] = {name: [] for name in detectors}
    capture, index, frames = cv2.VideoCapture(str(footage)), 0, 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        index += 1
        if (index - 1) % every:
            continue
        frames += 1
        gray, true = to_gray(frame), boxes_at.get(index - 1, np.zeros((0, 4)))
        bands = [next((b for b in BANDS if b[0] <= box[2] < b[1]), None) for box in true]
        for band in bands:
            if band is not None:
                faces[band] += 1
        for name, detector in detectors.items():
            started = time.process_time()
            boxes = np.asarray(detector.detect(detector_input(detector, gray, frame)), np.float64).reshape(-1, 4)
            cpu[name].append(time.process_time() - started)
            for box, band in zip(true, bands):
                if band is not None and len(boxes) and (iou_one_to_many(box, boxes) >= HIT_IOU).any():
                    found[name][band] += 1
            for box in boxes:
                if not len(true) or not (iou_one_to_many(box, true) >= HIT_IOU / 2).any():
                    false_pos[name] += 1
    capture.release()
    label = {band: f"{band[0]}-{band[1]} px" for band in BANDS}
    return {
        "profile": truth["profile"]["name"], "shoppers": len(truth["shoppers"]), "frames_detected": frames,
        "every": every, "faces_by_box_width": {label[b]: n for b, n in faces.items()},
        "detectors": {name: {
            "recall_by_box_width": {label[b]: round(found[name][b] / faces[b], 4) if faces[b] else None for b in BANDS},
            "false_positives_per_frame": round(false_pos[name] / max(frames, 1), 4),
            "cpu_ms_per_frame_mean": round(1000 * float(np.mean(cpu[name])), 3),
            "cpu_ms_per_frame_median": round(1000 * float(np.median(cpu[name])), 3),
        } for name in detectors},
    }


def markdown(result: dict, command: str) -> str:
    widths = [w for w, n in result["faces_by_box_width"].items() if n]  # the bands the profile fills
    lines = [f"Simulated footage, profile `{result['profile']}`: {result['shoppers']} shoppers, "
             f"{result['frames_detected']} frames detected on (every {result['every']}). Recall by the true face "
             "box's width (FER framing: about 1.3x the face's own width), faces per band: "
             + ", ".join(f"{w}: {n}" for w, n in result["faces_by_box_width"].items()) + f". `{command}`", "",
             "| detector | " + " | ".join(widths) + " | FP/frame (upper bound) | CPU ms/frame, mean |",
             "|---" * (len(widths) + 3) + "|"]
    for name, row in result["detectors"].items():
        recalls = " | ".join(f"{100 * row['recall_by_box_width'][w]:.0f}%" for w in widths)
        lines.append(f"| {name} | {recalls} | {row['false_positives_per_frame']:.3f} | "
                     f"{row['cpu_ms_per_frame_mean']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", required=True, help="a FER-layout folder (or its root: --split picks one)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--profile", default="far")
    parser.add_argument("--shoppers", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--every", type=int, default=3, help="detect on every Nth frame, as the loop does")
    parser.add_argument("--out", type=Path, help="write sim-PROFILE.json and sim-PROFILE.md here")
    args = parser.parse_args()
    profile = load_profile(args.profile)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "footage"
        render_footage(load_cast(args.faces, args.split), profile, args.shoppers, "natural", args.seed, out)
        truth = json.loads((out / "truth.json").read_text())
        result = measure(out / footage_name(profile.image), truth, args.every)
    command = (f"python scripts/bench_sim_detection.py --faces {args.faces} --profile {args.profile} "
               f"--shoppers {args.shoppers} --seed {args.seed} --every {args.every}")
    text = markdown(result, command)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        name = f"sim-{result['profile']}"
        (args.out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        (args.out / f"{name}.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
