#!/usr/bin/env python3
"""The face detector's boxes on the sample clip on two machines (arm64 under emulation against x86).

    python scripts/pi_boxes.py frames --clip samples/clip.mp4 --out frames.npz    # decode once, on x86
    python scripts/pi_boxes.py predict --frames frames.npz --out arm64.json        # on each machine
    python scripts/pi_boxes.py compare x86.json arm64.json --max-px 1

Both machines see the same decoded frames: the comparison is of the detector (resize, LiteRT,
decoding and NMS), not of two video decoders (OpenCV builds decode a clip to slightly
different pixels). `predict` runs each BlazeFace model through the edge runtime's own
detector (LiteRT, no TensorFlow) and writes the boxes (float, FER framing) and scores.
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


def frames(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    capture, index, kept = cv2.VideoCapture(str(args.clip)), 0, {}
    while True:
        ok, image = capture.read()
        if not ok:
            break
        if index % args.every == 0:
            kept[f"frame_{index}"] = image
        index += 1
    if not kept:
        sys.exit(f"{args.clip}: no frames decoded")
    np.savez_compressed(args.out, **kept)
    print(f"{len(kept)} frames of {args.clip} -> {args.out}")
    return 0


def predict(args: argparse.Namespace) -> int:
    import numpy as np

    from edgeemo.edge.vision.blazeface import BlazeFaceDetector
    from edgeemo.edge.vision.detector import DetectorConfig

    detectors = {name: BlazeFaceDetector(DetectorConfig(kind="blazeface", model=name)) for name in MODELS}
    found = {name: {} for name in MODELS}
    with np.load(args.frames) as images:
        for key in images.files:
            image = images[key]
            for name, detector in detectors.items():
                boxes, scores = detector.detect_scored(image)
                found[name][key] = {"boxes": boxes.round(3).tolist(), "scores": scores.round(4).tolist()}
    Path(args.out).write_text(json.dumps({"machine": platform.machine(), "frames": found}))
    faces = sum(len(f["boxes"]) for f in found["back"].values())
    print(f"{platform.machine()}: {len(found['back'])} frames, {faces} faces (back) -> {args.out}")
    return 0


def compare(args: argparse.Namespace) -> int:
    reference, candidate = (json.loads(Path(p).read_text()) for p in (args.reference, args.candidate))
    worst, problems, faces, where = 0.0, [], 0, ""
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
                difference = max(abs(p - q) for p, q in zip(edges_a, edges_b))
                if difference > worst:
                    worst, where = difference, f"{name} {frame}: {box_a} vs {box_b}"
                faces += 1
    ok = not problems and worst <= args.max_px and faces > 0
    print(json.dumps({"machines": [reference["machine"], candidate["machine"]], "faces_compared": faces,
                      "max_edge_difference_px": round(worst, 4), "worst": where, "problems": problems[:5],
                      "ok": ok}))
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    decode = commands.add_parser("frames")
    decode.add_argument("--clip", type=Path, required=True)
    decode.add_argument("--every", type=int, default=2)
    decode.add_argument("--out", required=True)
    decode.set_defaults(handler=frames)
    run = commands.add_parser("predict")
    run.add_argument("--frames", type=Path, required=True)
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
