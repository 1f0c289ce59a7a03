"""Composite frames for the detection benchmark: hand-checked faces, with their head and shoulders, put
where a store's faces are (off-centre, at the frame's edges, two at once) on busier backgrounds.

The centred benchmark shows each face at the frame's centre on flat gray, which flatters a detector.
A layout (`composites` in detection_annotations.json) names a background and one or two faces of the
annotated sources, each with where its box lies in the 640x480 frame: (0, 0) touches the top-left
corner, (1, 1) the bottom-right, so the face is whole in the frame at every width. At width W the
face's patch (its box widened to hair and shoulders) is scaled so that the face is W px wide and
blended in with a feathered edge; its box is the hand-checked one moved by the same arithmetic, and
every other annotated or ignored face of the patch and of the background is carried along as known
(a detection there is neither a hit nor a false positive). Backgrounds are filled to the frame
(scaled to cover it, centre kept): a photo's face-free crop, a whole frame of the sample clip (her
face known), the cartoon of no-faces.jpg, or the simulator's generated shop wall (`{"store": seed}`).

    python scripts/detection_composites.py draw --set tune --seed 1 --sources ...   # new layouts (JSON)
    python scripts/detection_composites.py overlays --width 48 --out /tmp/overlays  # to check by eye
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

FRAME_W, FRAME_H = 640, 480
PATCH = (0.75, 0.6, 0.75, 1.6)  # the patch around a face box: left, top, right, bottom, in box sizes
FEATHER = 0.18  # the blended border, share of the patch's shorter side


@dataclass
class Source:
    """An annotated image the composites take faces from (or use as a background)."""

    name: str
    image: np.ndarray
    faces: np.ndarray   # (n, 4) hand-checked boxes, FER framing
    widths: np.ndarray  # (n,) face width share of each box
    ignore: np.ndarray  # (m, 4)
    held_out: bool = False  # a source only the held-out set shows

    @property
    def known(self) -> np.ndarray:
        return np.concatenate([self.faces, self.ignore]).reshape(-1, 4)


def _moved(boxes: np.ndarray, scale: float, dx: float, dy: float) -> np.ndarray:
    out = np.asarray(boxes, np.float64).reshape(-1, 4) * scale
    out[:, 0] += dx
    out[:, 1] += dy
    return out


def _inside_share(boxes: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """Share of each box's area inside the rectangle."""
    w = np.clip(np.minimum(boxes[:, 0] + boxes[:, 2], x1) - np.maximum(boxes[:, 0], x0), 0, None)
    h = np.clip(np.minimum(boxes[:, 1] + boxes[:, 3], y1) - np.maximum(boxes[:, 1], y0), 0, None)
    return w * h / np.maximum(boxes[:, 2] * boxes[:, 3], 1e-9)


def background(spec: dict, sources: dict[str, Source]) -> tuple[np.ndarray, np.ndarray]:
    """The 640x480 background a layout names, and the known faces in it."""
    if "store" in spec:
        from edgeemo.sim.scene import generated_background

        image = generated_background(FRAME_W, FRAME_H, np.random.default_rng(int(spec["store"])))
        return np.clip(image + 0.5, 0, 255).astype(np.uint8), np.zeros((0, 4))
    source = sources[spec["image"]]
    x, y, w, h = spec.get("crop", (0, 0, source.image.shape[1], source.image.shape[0]))
    known = _moved(source.known, 1.0, -x, -y)
    known = known[_inside_share(known, 0, 0, w, h) >= 0.5]
    crop = source.image[y:y + h, x:x + w]
    scale = max(FRAME_W / w, FRAME_H / h)
    scaled = cv2.resize(crop, (max(FRAME_W, round(w * scale)), max(FRAME_H, round(h * scale))),
                        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    left, top = (scaled.shape[1] - FRAME_W) // 2, (scaled.shape[0] - FRAME_H) // 2
    known = _moved(known, scale, -left, -top)
    return scaled[top:top + FRAME_H, left:left + FRAME_W].copy(), known[_inside_share(known, 0, 0, FRAME_W, FRAME_H)
                                                                         >= 0.5]


def face_ref(ref: str, sources: dict[str, Source]) -> tuple[Source, int]:
    """`name/index` -> the source and the face's index in it."""
    name, _, index = ref.rpartition("/")
    return sources[name], int(index)


def paste_face(frame: np.ndarray, source: Source, index: int, width: float,
               at: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blend face `index` of `source` into `frame` (in place), `width` px wide with its box at `at`; returns the
    face's box in the frame, the other known faces its patch carried in, and the patch's alpha over the frame."""
    x, y, w, h = source.faces[index]
    src_h, src_w = source.image.shape[:2]
    px0, py0 = max(0, round(x - PATCH[0] * w)), max(0, round(y - PATCH[1] * h))
    px1, py1 = min(src_w, round(x + w + PATCH[2] * w)), min(src_h, round(y + h + PATCH[3] * h))
    scale = width / (w * source.widths[index])
    size = (max(1, round((px1 - px0) * scale)), max(1, round((py1 - py0) * scale)))
    patch = cv2.resize(source.image[py0:py1, px0:px1], size, interpolation=cv2.INTER_AREA if scale < 1
                       else cv2.INTER_LINEAR).astype(np.float32)
    box_w, box_h = w * scale, h * scale
    ox = round(at[0] * (FRAME_W - box_w) - (x - px0) * scale)
    oy = round(at[1] * (FRAME_H - box_h) - (y - py0) * scale)
    feather = max(1.0, FEATHER * min(size))
    ramp_x = np.minimum(np.arange(size[0]) + 0.5, size[0] - np.arange(size[0]) - 0.5) / feather
    ramp_y = np.minimum(np.arange(size[1]) + 0.5, size[1] - np.arange(size[1]) - 0.5) / feather
    alpha = np.clip(np.minimum(ramp_y[:, None], ramp_x[None, :]), 0, 1).astype(np.float32)
    coverage = np.zeros((FRAME_H, FRAME_W), np.float32)
    fx0, fy0, fx1, fy1 = max(0, ox), max(0, oy), min(FRAME_W, ox + size[0]), min(FRAME_H, oy + size[1])
    a = alpha[fy0 - oy:fy1 - oy, fx0 - ox:fx1 - ox, None]
    region = frame[fy0:fy1, fx0:fx1].astype(np.float32)
    frame[fy0:fy1, fx0:fx1] = np.clip(region * (1 - a) + patch[fy0 - oy:fy1 - oy, fx0 - ox:fx1 - ox] * a + 0.5,
                                      0, 255).astype(np.uint8)
    coverage[fy0:fy1, fx0:fx1] = a[..., 0]
    target = _moved(source.faces[index], scale, ox - px0 * scale, oy - py0 * scale)[0]
    others = np.delete(source.faces, index, axis=0).reshape(-1, 4)
    carried = _moved(np.concatenate([others, source.ignore.reshape(-1, 4)]), scale, ox - px0 * scale,
                     oy - py0 * scale)
    carried = carried[_inside_share(carried, max(ox, 0), max(oy, 0), min(ox + size[0], FRAME_W),
                                    min(oy + size[1], FRAME_H)) >= 0.5]
    return target, carried, coverage


def covered(coverage: np.ndarray, box: np.ndarray) -> float:
    """The mean alpha a later patch lays over `box`."""
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(FRAME_W, int(np.ceil(box[0] + box[2]))), min(FRAME_H, int(np.ceil(box[1] + box[3])))
    return float(coverage[y0:y1, x0:x1].mean()) if x1 > x0 and y1 > y0 else 0.0


def render(layout: dict, width: float, sources: dict[str, Source],
           cache: dict | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The layout's frame with its faces `width` px wide: the frame, the faces' boxes, each face's own width
    share, and the known boxes (every face and ignore box in the frame, the targets included)."""
    key = json.dumps(layout["background"], sort_keys=True)
    if cache is not None and key in cache:
        base, known = cache[key]
    else:
        base, known = background(layout["background"], sources)
        if cache is not None:
            cache[key] = base, known
    frame = base.copy()
    targets, shares, carried = [], [], [known]
    for face in layout["faces"]:
        source, index = face_ref(face["face"], sources)
        target, others, coverage = paste_face(frame, source, index, width, tuple(face["at"]))
        for earlier in targets:  # a layout is drawn so that no face hides another (see draw)
            if covered(coverage, earlier) > 0.05:
                raise ValueError(f"{layout}: a face's patch covers an earlier face at {width} px")
        targets.append(target)
        shares.append(source.widths[index])
        carried.append(others)
    targets_array = np.asarray(targets, np.float64).reshape(-1, 4)
    hidden = np.concatenate(carried).reshape(-1, 4)
    return frame, targets_array, np.asarray(shares), np.concatenate([targets_array, hidden])


def draw(faces: list[str], backgrounds: list[dict], pairs: int, seed: int, sources: dict[str, Source],
         widths: tuple[int, ...]) -> list[dict]:
    """Layouts for `faces` (each used once; `pairs` layouts hold two), on backgrounds drawn at random, each
    face's place at random (two in five touch an edge). A place is redrawn until no face covers another,
    nor a known face of the background, at any width."""
    rng = np.random.default_rng(seed)
    order = [faces[i] for i in rng.permutation(len(faces))]
    groups = [order[2 * i:2 * i + 2] for i in range(pairs)] + [[f] for f in order[2 * pairs:]]
    layouts = []
    for group in groups:
        for _ in range(1000):
            places = []
            for _ in group:
                at = rng.uniform(0, 1, 2)
                if rng.uniform() < 0.4:
                    at[int(rng.integers(2))] = float(rng.integers(2))
                places.append([round(float(v), 3) for v in at])
            layout = {"background": backgrounds[int(rng.integers(len(backgrounds)))],
                      "faces": [{"face": f, "at": at} for f, at in zip(group, places)]}
            if _fits(layout, sources, widths):
                layouts.append(layout)
                break
        else:
            raise SystemExit(f"no place found for {group}")
    return layouts


def _fits(layout: dict, sources: dict[str, Source], widths: tuple[int, ...]) -> bool:
    _, known = background(layout["background"], sources)
    for width in widths:
        try:
            _, targets, _, _ = render(layout, width, sources)
        except ValueError:
            return False
        boxes = np.concatenate([targets, known])
        for i, box in enumerate(boxes):  # no two boxes (faces, or a face and the background's) overlap
            others = np.delete(boxes, i, axis=0)
            if len(others) and _inside_share(others, box[0], box[1], box[0] + box[2], box[1] + box[3]).max() > 0:
                return False
    return True


def overlays(layouts: dict[str, list[dict]], width: int, sources: dict[str, Source], out: Path) -> None:
    """Each layout at `width` with its targets (green) and known boxes (cyan), to check by eye; 2x enlarged."""
    out.mkdir(parents=True, exist_ok=True)
    for name, group in layouts.items():
        for number, layout in enumerate(group):
            frame, targets, _, known = render(layout, width, sources)
            big = cv2.resize(frame, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
            for box, colour in [(b, (255, 255, 0)) for b in known[len(targets):]] + [(b, (0, 255, 0)) for b in targets]:
                x, y, w, h = (2 * box).round().astype(int)
                cv2.rectangle(big, (x, y), (x + w, y + h), colour, 1)
            cv2.imwrite(str(out / f"{name}-{number:02d}-{width}px.png"), big)


def main() -> int:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_detection import ANNOTATIONS, WIDTHS, load_sources

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("draw", "overlays"))
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parent.parent.parent / "shared")
    parser.add_argument("--set", default="tune")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--faces", nargs="*", default=[], help="draw: face refs (source name/index)")
    parser.add_argument("--backgrounds", default="[]", help="draw: a JSON list of background specs")
    parser.add_argument("--pairs", type=int, default=0)
    parser.add_argument("--width", type=int, default=48)
    parser.add_argument("--out", type=Path, default=Path("/tmp/composite-overlays"))
    args = parser.parse_args()
    sources = load_sources(args.shared)
    if args.action == "draw":
        layouts = draw(args.faces, json.loads(args.backgrounds), args.pairs, args.seed, sources, WIDTHS)
        print(json.dumps(layouts))
    else:
        overlays(json.loads(ANNOTATIONS.read_text())["composites"], args.width, sources, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
