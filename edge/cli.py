"""`edgeemo run`, `edgeemo report` and `edgeemo bench`: the edge runtime's commands.

Nothing here imports TensorFlow: the edge side installs on a Pi with the `edge` extra only.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from edgeemo.cli_common import Formatter, Subcommands, positive_int

log = logging.getLogger(__name__)


def _add_run(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "run", formatter_class=Formatter, help="run the edge loop: camera → faces → emotions → analytics",
        description="Detect, track and classify faces and record privacy-preserving aggregates "
        "(counts only; no frame, crop or embedding is ever written).",
    )
    parser.add_argument("--source", help="picamera, a device index (0), rtsp://… or a video/image file or folder; "
                        "default: [source] uri of the config")
    parser.add_argument("--config", type=Path, help="TOML config (see edge/edgeemo.example.toml)")
    parser.add_argument("--db", type=Path, help="SQLite analytics database (overrides [store] path)")
    parser.add_argument("--model", type=Path, help="a .tflite model with its sidecar (overrides [model] path); "
                        "default: the bundled FER+ int8 model")
    parser.add_argument("--max-frames", type=positive_int, help="stop after this many frames")
    parser.add_argument("--recorded-at", metavar="ISO", help="a video file's recording time (2026-12-04T10:00:00-08:00): "
                        "its visits are labelled from then on (overrides [source] recorded_at); default: now")
    parser.add_argument("--validate-config", action="store_true", help="make every check a run makes before its "
                        "first frame (the config, the model and its labels, the source's file, the database path) "
                        "and exit: 0 if all pass, else one line naming the problem (78 for the config)")
    parser.add_argument("--show", action="store_true", help="DEBUG ONLY: show annotated frames in a window")
    parser.add_argument("--annotate-out", type=Path, help="DEBUG ONLY: write annotated frames to this .mp4")
    parser.add_argument("--json", action="store_true", help="print the run summary as one JSON object")
    parser.set_defaults(handler=_run_run, needs=("edge",))


def _run_run(args: argparse.Namespace) -> int:
    from edgeemo.edge.config import load_config

    config = load_config(args.config).with_paths(model=args.model, db=args.db)
    if args.recorded_at is not None:
        config = config.with_recording(args.recorded_at)
    if args.validate_config:
        from edgeemo.edge.runtime import prepare

        prepared = prepare(config, args.source or config.source.uri)
        print(f"{args.config or 'defaults'}: config OK (model {prepared.model.path.name}, labels "
              f"{', '.join(prepared.model.labels)}; source {args.source or config.source.uri}; "
              f"database {prepared.db_path})")
        return 0
    from edgeemo.edge.runtime import run
    from edgeemo.edge.service.debug_view import DebugView
    from edgeemo.text import plural

    view = DebugView(args.show, args.annotate_out, config.source.fps) if args.show or args.annotate_out else None
    try:
        stats, db_path = run(config, args.source or config.source.uri, args.max_frames, view)
    finally:
        if view is not None:
            view.close()
    summary = {
        "frames": stats.frames, "fps": round(stats.fps, 1), "frames_with_face": stats.frames_with_face,
        "face_rate": round(stats.frames_with_face / stats.frames, 4) if stats.frames else 0.0,
        "detect_frames": stats.detect_frames, "detect_frames_with_face": stats.detect_frames_with_face,
        "detections_skipped": stats.detections_skipped, "detector": config.detector.describe(),
        "faces_classified": stats.faces_classified, "faces_held": stats.faces_held,
        "faces_outside_zones": stats.faces_outside_zones, "visits": stats.visits,
        "short_tracks_dropped": stats.short_tracks_dropped, "clock_jumps": stats.clock_jumps,
        "frame_size_changes": stats.size_changes, "database": str(db_path),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{plural(stats.frames, 'frame')} at {summary['fps']} fps; a face in {stats.frames_with_face:,} "
              f"({100 * stats.frames_with_face / max(stats.frames, 1):.1f}%; {summary['detector']} found one in {stats.detect_frames_with_face:,} "
              f"of {plural(stats.detect_frames, 'detection frame')}, {stats.detections_skipped:,} skipped as nothing "
              f"moved); {plural(stats.faces_classified, 'face crop')} classified, {stats.faces_held:,} held between "
              f"classifications; {plural(stats.visits, 'visit')} recorded "
              f"({plural(stats.short_tracks_dropped, 'track')} shorter than the minimum dwell dropped); "
              f"database {db_path}")
    return 0


def _add_report(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "report", formatter_class=Formatter, help="charts, CSV and JSON from an analytics database",
        description="Satisfaction over time and the emotion mix. A visit counts only when its zone's hour has "
        "--min-visits visits or more and is over, and the range snaps outward to whole hours (k-anonymity "
        "that no two reports can difference away); a bucket with none is suppressed.",
    )
    parser.add_argument("--db", type=Path, required=True, help="SQLite analytics database written by `edgeemo run`")
    parser.add_argument("--since", help="ISO date or time, inclusive (in --timezone unless it names an offset)")
    parser.add_argument("--until", help="ISO date or time, exclusive (in --timezone unless it names an offset)")
    parser.add_argument("--bucket", choices=("hour", "day"), default="hour", help="reporting interval")
    parser.add_argument("--timezone", metavar="ZONE", help="the store's IANA time zone (America/Los_Angeles): the "
                        "report's days, hours and times; default: the device config's [store] timezone (as `edgeemo "
                        "run` recorded it in the database), else UTC")
    parser.add_argument("--min-visits", type=int, default=5, help="k: a zone's hour with fewer visits is held back")
    parser.add_argument("--zone", help="only this zone's visits (default: every zone, each broken down)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNG charts, CSV and JSON")
    parser.set_defaults(handler=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    from edgeemo.edge.analytics.report import build_report, held_back
    from edgeemo.text import plural

    report = build_report(args.db, args.out, args.since, args.until, args.bucket, args.min_visits, args.zone,
                          args.timezone)
    zones = ", ".join(f"{name} {zone['visits'] if zone['visits'] is not None else 'suppressed'}"
                      for name, zone in report["zones"].items())
    print(f"{plural(report['visits'], 'visit')} in {plural(len(report['buckets']), 'bucket')} "
          f"({report['suppressed_buckets']} suppressed, k={args.min_visits}) in {report['timezone']}; "
          f"by zone: {zones or '-'}; "
          f"charts, CSV and JSON in {args.out}")
    held = held_back(args.db, args.since, args.until, args.min_visits, args.zone, timezone=args.timezone)
    if held.visits:  # on the terminal only: the files never say what k held back
        print(f"held back: {plural(held.visits, 'visit')} ({held.under_k:,} in hours with fewer than "
              f"k={args.min_visits} visits in their zone, {held.not_over:,} in hours not over yet); for a test on a "
              "few visits, --min-visits 1 shows them all at once (never for a report you share)")
    return 0


def _add_bench(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "bench", formatter_class=Formatter, help="benchmark the edge loop against a naive loop on one source",
        description="Per-face inference latency, detection time, end-to-end fps and peak RSS of the edge loop, "
        "and the same source through a naive loop (Haar on every full-size frame, faces classified one by one).",
    )
    parser.add_argument("--source", required=True, help="a video file or image folder (replayed for both loops)")
    parser.add_argument("--model", type=Path, help="a .tflite model; default: the bundled FER+ int8 model (ferplus_cnn_int8.tflite)")
    parser.add_argument("--config", type=Path, help="TOML config for the detector/tracker settings")
    parser.add_argument("--repeat", type=positive_int, default=3, help="passes over the source per loop (best one counts)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", type=Path, help="also write bench.json here")
    parser.set_defaults(handler=_run_bench, needs=("edge",))


def _run_bench(args: argparse.Namespace) -> int:
    from edgeemo.cli_common import writable_folder
    from edgeemo.edge.bench import bench, format_bench
    from edgeemo.edge.config import load_config

    config = load_config(args.config).with_paths(model=args.model)
    if args.out:
        writable_folder(args.out, "--out")
    result = bench(config, args.source, args.repeat)
    if args.out:
        (args.out / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result) if args.json else format_bench(result))
    return 0


def _add_model(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "model", formatter_class=Formatter, help="install, roll back and inspect the device's model releases",
        description="Verified, atomic model updates on a device: releases/<sha256>/ plus a `current` symlink "
        "replaced by rename; the previous release is kept for rollback.",
    )
    parser.add_argument("--root", type=Path, help="models root (default $EDGEEMO_MODELS or /var/lib/edgeemo/models)")
    parser.add_argument("--json", action="store_true", help="print the resulting status as one JSON object")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    install = actions.add_parser("install", formatter_class=Formatter,
                                 help="check sha256, trial-load in staging, switch current atomically")
    install.add_argument("file", type=Path, help="a .tflite model with its sidecar JSON beside it")
    actions.add_parser("rollback", formatter_class=Formatter, help="make the previous release current again")
    actions.add_parser("status", formatter_class=Formatter, help="show current, previous and kept releases")
    parser.set_defaults(handler=_run_model, needs=("edge",))


def _run_model(args: argparse.Namespace) -> int:
    from edgeemo.edge.inference import releases

    if args.action == "install":
        result = releases.install(args.file, args.root)
    elif args.action == "rollback":
        result = releases.rollback(args.root)
    else:
        result = releases.status(args.root)
    if args.json:
        print(releases.to_json(result))
    else:
        if result.message:
            print(result.message)
        print(f"current: {result.current_model or '-'}" + (f" (release {result.current})" if result.current else ""))
        print(f"previous: {'release ' + result.previous if result.previous else 'none'}; "
              f"releases kept: {len(result.releases)} in {result.root} (a release: the model's sha256 and its "
              "sidecar, hashed together)")
    return 0


def _add_zones(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "zones", formatter_class=Formatter, help="set-up tools for zones (analysed areas, excluded staff areas)",
        description="Zones are [[zones]] tables of the run config; see edge/edgeemo.example.toml.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    preview = actions.add_parser(
        "preview", formatter_class=Formatter, help="draw the configured zones on one frame from the source",
        description="SET-UP ONLY: writes one picture of the camera's view (it may show people) with the zones "
        "drawn on it, for the installer to check. `edgeemo run` never writes a picture.",
    )
    preview.add_argument("--source", help="as for `edgeemo run`; default: [source] uri of the config")
    preview.add_argument("--config", type=Path, required=True, help="the TOML config holding the [[zones]]")
    preview.add_argument("--out", type=Path, required=True, help="the picture to write (.png or .jpg)")
    parser.set_defaults(handler=_run_zones, needs=("edge",))


def _run_zones(args: argparse.Namespace) -> int:
    import sys
    import threading

    import cv2

    from edgeemo.edge.capture.uri import open_source
    from edgeemo.edge.config import load_config
    from edgeemo.edge.vision.zones import draw_zones
    from edgeemo.errors import EdgeemoError

    config = load_config(args.config)
    if args.out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise EdgeemoError(f"--out {args.out}: write the preview as .png or .jpg")
    if not args.out.parent.is_dir():
        raise EdgeemoError(f"--out {args.out}: folder {args.out.parent} does not exist")
    print(PRIVACY_WARNING, file=sys.stderr)
    source = open_source(args.source or config.source.uri, config.source, threading.Event())
    try:
        frame = source.read()
    finally:
        source.close()
    if frame is None:
        raise EdgeemoError(f"{source.name}: delivered no frame to draw on")
    image = frame.color if frame.color is not None else cv2.cvtColor(frame.gray, cv2.COLOR_GRAY2BGR)
    if not cv2.imwrite(str(args.out), draw_zones(image, config.zones)):
        raise EdgeemoError(f"--out {args.out}: could not write the picture there")
    names = ", ".join(f"{zone.name} ({zone.kind})" for zone in config.zones) or "none (the whole frame is analysed)"
    print(f"zones: {names}; drawn on a {image.shape[1]}x{image.shape[0]} frame of {source.name} -> {args.out}")
    return 0


PRIVACY_WARNING = ("PRIVACY WARNING: the picture shows the camera's view and may show identifiable people. "
                   "Use it to set the camera up, then delete it; never collect such pictures in a store.")


def _add_detect(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "detect", formatter_class=Formatter, help="the configured face detector on images (camera set-up)",
        description="Prints the faces the configured detector ([detector] of --config) finds in each image, "
        "with their sizes, keeping only those `edgeemo run` would (excluded zones blanked, box centres in an "
        "analysed zone): check that shoppers at the back of the area are "
        "found and big enough. Writes no image unless --out is given.",
    )
    parser.add_argument("paths", type=Path, nargs="+", metavar="PATH", help="images, or folders of images")
    parser.add_argument("--config", type=Path, help="TOML config whose [detector] and [[zones]] to use")
    parser.add_argument("--json", action="store_true", help="one JSON object per image per line")
    parser.add_argument("--out", type=Path, help="write each image with its boxes drawn into this folder")
    parser.set_defaults(handler=_run_detect, needs=("edge",))


def _run_detect(args: argparse.Namespace) -> int:
    import sys

    from edgeemo.cli_common import writable_folder
    from edgeemo.edge.config import load_config
    from edgeemo.edge.survey import detect_images, draw_found, image_files
    from edgeemo.edge.vision.detector import make_detector
    from edgeemo.edge.vision.zones import ZoneMap

    config = load_config(args.config)
    files = image_files(args.paths)
    if args.out:
        writable_folder(args.out, "--out")
        print(PRIVACY_WARNING, file=sys.stderr)
    zones = ZoneMap(config.zones)
    detector = make_detector(config.detector, zones)
    unreadable, written = 0, set[str]()
    for path, image, found in detect_images(detector, config.detector, zones, files):
        if image is None or found is None:
            unreadable += 1
            print(f"{path}: not a readable image, skipped", file=sys.stderr)
            continue
        print(json.dumps(found.as_json()) if args.json else found.as_text(), flush=True)
        if args.out:
            draw_found(image, found, args.out, written)
    return 1 if unreadable else 0


COMMANDS = (_add_run, _add_report, _add_bench, _add_detect, _add_model, _add_zones)
