"""Writing simulated footage through a real codec, and its truth file.

H.264 (PyAV's FFmpeg with libx264, quality as a CRF) into .mp4, or JPEG (each frame encoded by OpenCV
at a quality, muxed as MJPEG by FFmpeg) into .avi: the device reads them back as it reads any recorded clip. Everything is written
into a temporary folder beside the output and moved into place at the end, so an error or a kill
leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgeemo.errors import EdgeemoError
from edgeemo.sim.profile import ImageSpec, Profile
from edgeemo.sim.render import Truth


def footage_name(image: ImageSpec) -> str:
    return "footage.mp4" if image.codec == "h264" else "footage.avi"


def write_video(frames: Iterable[np.ndarray], path: Path, profile: Profile) -> int:
    """Encode the frames at the profile's codec and quality; returns how many were written. JPEG frames
    are encoded by OpenCV at the exact quality and muxed as MJPEG into AVI by FFmpeg (OpenDML: no 4 GB
    limit, where OpenCV's own AVI writer aborts the process past it)."""
    cam, image = profile.camera, profile.image
    try:
        import av
    except ImportError:
        raise EdgeemoError("simulated footage needs PyAV: pip install 'edgeemo[sim]'") from None
    count = 0
    with av.open(str(path), mode="w") as container:
        if image.codec == "jpeg":
            stream: Any = container.add_stream("mjpeg", rate=round(cam.fps))  # a VideoStream (loosely typed)
            stream.width, stream.height, stream.pix_fmt = cam.width, cam.height, "yuvj420p"
            tick = Fraction(1, round(cam.fps))
            stream.codec_context.time_base = tick
            for frame in frames:
                ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, image.quality])
                if not ok:
                    raise EdgeemoError(f"{path}: OpenCV cannot encode frame {count} as JPEG")
                packet = av.Packet(encoded.tobytes())
                packet.stream, packet.pts, packet.dts, packet.time_base = stream, count, count, tick
                packet.is_keyframe = True
                container.mux(packet)
                count += 1
            return count
        stream = container.add_stream("libx264", rate=round(cam.fps))
        stream.width, stream.height, stream.pix_fmt = cam.width, cam.height, "yuv420p"
        stream.options = {"crf": str(image.quality), "preset": "veryfast"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                container.mux(packet)
            count += 1
        for packet in stream.encode():
            container.mux(packet)
    return count


def truth_document(truth: Truth, profile: Profile, faces_source: str, keys: list[str] | None,
                   votes: np.ndarray | None, seed: int, recorded_at: float | None = None) -> dict:
    """The truth file: the profile, and per shopper its face, label, votes, distance, in-view times and boxes."""
    shoppers = []
    for s in truth.shoppers:
        seen = truth.in_view(s.id)
        shoppers.append({
            "id": s.id, "label": s.label, "face": keys[s.face] if keys is not None else s.face,
            **({"votes": [int(v) for v in votes[s.face]]} if votes is not None else {}),
            "distance_m": s.distance_m, "face_px": s.face_px, "arrive_s": round(s.arrive_s, 3),
            "leave_s": round(s.leave_s, 3), "dwell_s": round(s.dwell_s, 3),
            "in_view_s": [round(seen[0], 3), round(seen[1], 3)] if seen else None,
            "boxes": [[index, *box] for index, box in truth.boxes.get(s.id, [])],
        })
    return {"about": "edgeemo simulate: footage with a known truth; boxes are [frame, x, y, w, h] in the FER "
                     "framing, for the frames where the face lies wholly in view",
            "profile": json.loads(profile.model_dump_json()), "seed": seed, "faces": faces_source,
            "fps": truth.fps, "frames": truth.frames,
            **({"recorded_at": recorded_at} if recorded_at is not None else {}), "shoppers": shoppers}


@contextmanager
def staged_output(out: Path):
    """A temporary folder that becomes `out` only when the block finishes; `out` must not exist."""
    if out.exists():
        raise EdgeemoError(f"--out {out}: already exists; choose a new folder (nothing is overwritten)")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise EdgeemoError(f"--out {out}: its folder {parent} does not exist")
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # a folder as any other the user makes (mkdtemp's is private)
    try:
        yield staging
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
