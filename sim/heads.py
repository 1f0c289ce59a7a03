"""A shopper's head for a FER face: hair, skin, neck, shoulders and the face blended in.

FER-2013 faces are tight 48x48 gray crops; pasted alone on a background, no detector finds them the
way it finds a person. Each shopper gets a head drawn around the face (skin tone, hair, clothing
drawn at random), with the face tinted to the skin tone and feathered into it, so that the face box
sits where a detector's FER-framed box would. The sprite is drawn at 96 px a face and shrunk with
area averaging to the face's size in the frame, as a sensor would see it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

DRAW_PX = 96  # the face box's width while drawing; the sprite is shrunk from it
SKIN = np.array([[185, 205, 240], [150, 180, 225], [115, 150, 200], [85, 115, 165], [55, 75, 115]], np.float32)
HAIR = np.array([[20, 20, 25], [25, 40, 60], [40, 70, 110], [90, 150, 195], [150, 150, 155], [35, 30, 30]],
                np.float32)


@dataclass(frozen=True)
class Sprite:
    """A head as a BGR image and an alpha mask, and where the FER face box lies in it."""

    image: np.ndarray  # (h, w, 3) float32 0..255
    alpha: np.ndarray  # (h, w) float32 0..1
    face: tuple[int, int, int]  # x, y of the face box's top-left in the sprite, and its width


def luminance(bgr: np.ndarray) -> np.ndarray:
    return bgr[..., 0] * 0.114 + bgr[..., 1] * 0.587 + bgr[..., 2] * 0.299


def draw_head(face: np.ndarray, width_px: int, rng: np.random.Generator) -> Sprite:
    """A head around the 48x48 (any square) gray `face`, its face box `width_px` wide."""
    f = DRAW_PX
    w, h = round(2.9 * f), round(2.7 * f)
    cx, top = w / 2, 0.45 * f  # the face box: centred, its top this far down
    cy = top + f / 2
    skin = SKIN[rng.integers(len(SKIN))] * rng.uniform(0.9, 1.1, 3)
    hair = HAIR[rng.integers(len(HAIR))] * rng.uniform(0.85, 1.15, 3)
    cloth = rng.uniform(30, 230, 3).astype(np.float32)
    tint = skin / max(float(luminance(skin)), 1.0)  # the face keeps its own brightness, takes the skin's hue
    gray = cv2.resize(face.astype(np.float32), (f, f), interpolation=cv2.INTER_CUBIC)
    tone = float(np.median(gray[f // 4: 3 * f // 4, f // 4: 3 * f // 4]))  # the face's own skin brightness

    image = np.zeros((h, w, 3), np.float32)
    alpha = np.zeros((h, w), np.float32)

    def shape(draw, color: np.ndarray) -> None:
        mask = np.zeros((h, w), np.uint8)
        draw(mask)
        inside = mask > 0
        image[inside] = color
        alpha[inside] = 1.0

    c = (round(cx), round(cy))
    hair_style = rng.uniform(0.0, 1.0)
    shape(lambda m: cv2.ellipse(m, (c[0], round(cy + 1.25 * f)), (round(1.3 * f), round(0.75 * f)), 0, 180, 360,
                                255, -1), cloth)  # shoulders
    shape(lambda m: cv2.rectangle(m, (round(cx - 1.3 * f), round(cy + 1.25 * f)), (round(cx + 1.3 * f), h), 255, -1),
          cloth)
    shape(lambda m: cv2.rectangle(m, (round(cx - 0.24 * f), round(cy + 0.3 * f)), (round(cx + 0.24 * f),
                                  round(cy + 1.0 * f)), 255, -1), tint * tone * 0.8)  # neck
    shape(lambda m: cv2.ellipse(m, (c[0], round(cy - 0.12 * f)), (round((0.58 + 0.1 * hair_style) * f),
                                round((0.66 + 0.08 * hair_style) * f)), 0, 0, 360, 255, -1), hair)  # hair
    shape(lambda m: cv2.ellipse(m, (c[0], round(cy + 0.04 * f)), (round(0.5 * f), round(0.6 * f)), 0, 0, 360, 255, -1),
          tint * tone)  # skin
    # the face itself, tinted, feathered into the skin
    feather = np.zeros((h, w), np.float32)
    cv2.ellipse(feather, (c[0], round(cy + 0.03 * f)), (round(0.44 * f), round(0.54 * f)), 0, 0, 360, 1.0, -1)
    feather = np.asarray(cv2.GaussianBlur(feather, (0, 0), 0.06 * f), np.float32)
    x0, y0 = round(cx - f / 2), round(top)
    region = (slice(y0, y0 + f), slice(x0, x0 + f))
    painted = gray[..., None] * tint[None, None, :]
    blend = feather[region][..., None]
    image[region] = image[region] * (1 - blend) + painted * blend
    alpha = np.asarray(cv2.GaussianBlur(alpha, (0, 0), 0.03 * f), np.float32)  # soft outline: no hard cut-out edge
    scale = width_px / f
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    image = np.clip(image, 0.0, 255.0)
    return Sprite(np.clip(cv2.resize(image, size, interpolation=interpolation), 0.0, 255.0),
                  np.clip(cv2.resize(alpha, size, interpolation=interpolation), 0.0, 1.0),
                  (round(x0 * scale), round(y0 * scale), width_px))


def paste(frame: np.ndarray, sprite: Sprite, face_x: int, face_y: int) -> None:
    """Blend the sprite into a float32 BGR frame in place, its face box's top-left at (face_x, face_y)."""
    x0, y0 = face_x - sprite.face[0], face_y - sprite.face[1]
    h, w = sprite.alpha.shape
    fx0, fy0 = max(0, x0), max(0, y0)
    fx1, fy1 = min(frame.shape[1], x0 + w), min(frame.shape[0], y0 + h)
    if fx1 <= fx0 or fy1 <= fy0:
        return
    sx, sy = fx0 - x0, fy0 - y0
    a = sprite.alpha[sy:sy + fy1 - fy0, sx:sx + fx1 - fx0, None]
    target = frame[fy0:fy1, fx0:fx1]
    target *= 1 - a
    target += a * sprite.image[sy:sy + fy1 - fy0, sx:sx + fx1 - fx0]
