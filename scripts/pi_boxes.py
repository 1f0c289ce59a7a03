#!/usr/bin/env python3
"""The face detector's boxes on the sample clip on two machines (arm64 under emulation against x86).

    python scripts/pi_boxes.py predict --clip samples/clip.mp4 --out arm64.json   # on each machine
    python scripts/pi_boxes.py compare x86.json arm64.json --max-px 1

`predict` runs each BlazeFace model through the edge runtime's own detector (LiteRT, no
TensorFlow) on every `--every`th frame and writes the boxes (float, FER framing) and scores.
`compare` prints one JSON object and exits 1 when a frame's faces differ in number, or any box
edge by more than `--max-px` pixels.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

MODELS = ("back", "full-range")


def predict(args: argparse.Namespace) -> int:
    import cv2

    from edgeemo.edge.vision.blazeface import BlazeFaceDetector
    from edgeemo.edge.vision.detector import DetectorConfig

    detectors = {name: BlazeFaceDetector(DetectorConfig(kind="blazeface", model=name)) for name in MODELS}
    capture, index, frames = cv2.VideoCapture(str(args.clip)), 0, {name: {} for name in MODELS}
    while True:
        ok, image = capture.read()
        if not ok:
            break
        if index % args.every == 0:
            for name, detector in detectors.items():
                boxes, scores = detector.detect_scored(image)
                frames[name][str(index)] = {"boxes": boxes.round(3).tolist(), "scores": scores.round(4).tolist()}
        index += 1
    if not index:
        sys.exit(f"{args.clip}: no frames decoded")
    Path(args.out).write_text(json.dumps({"machine": platform.machine(), "frames": frames}))
    found = sum(len(f["boxes"]) for f in frames["back"].values())
    print(f"{platform.machine()}: {len(frames['back'])} frames, {found} faces (back) -> {args.out}")
    return 0


def compare(args: argparse.Namespace) -> int:
    reference, candidate = (json.loads(Path(p).read_text()) for p in (args.reference, args.candidate))
    worst, problems, faces = 0.0, [], 0
    for name in MODELS:
        ours, theirs = reference["frames"][name], candidate["frames"][name]
        if ours.keys() != theirs.keys():
            problems.append(f"{name}: different frames")
            continue
        for frame, row in ours.items():
            a, b = row["boxes"], theirs[frame]["boxes"]
            if len(a) != len(b):
                problems.append(f"{name} frame {frame}: {len(a)} vs {len(b)} faces")
                continue
            for box_a, box_b in zip(sorted(a), sorted(b)):
                edges_a = [box_a[0], box_a[1], box_a[0] + box_a[2], box_a[1] + box_a[3]]
                edges_b = [box_b[0], box_b[1], box_b[0] + box_b[2], box_b[1] + box_b[3]]
                worst = max(worst, max(abs(p - q) for p, q in zip(edges_a, edges_b)))
                faces += 1
    ok = not problems and worst <= args.max_px and faces > 0
    print(json.dumps({"machines": [reference["machine"], candidate["machine"]], "faces_compared": faces,
                      "max_edge_difference_px": round(worst, 4), "problems": problems[:5], "ok": ok}))
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("predict")
    run.add_argument("--clip", type=Path, required=True)
    run.add_argument("--every", type=int, default=2)
    run.add_argument("--out", required=True)
    run.set_defaults(handler=predict)
    check = commands.add_parser("compare")
    check.add_argument("reference")
    check.add_argument("candidate")
    check.add_argument("--max-px", type=float, default=1.0)
    check.set_defaults(handler=compare)
    args = parser.parse_args()
    return args.handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
