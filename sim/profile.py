"""A simulated store camera and its shoppers, described by numbers (a TOML profile).

The camera is a pinhole at `height_m`, tilted down by `tilt_deg`, with a horizontal field of view:
a face's width in pixels follows from its distance, so a profile's distances fix its face sizes.
Shipped profiles are in `sim/profiles/` (`near`: faces 48-96 px; `far`: 24-48 px behind JPEG q70);
a user's own camera is a TOML file with the same tables.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from edgeemo.errors import EdgeemoError
from edgeemo.tomlconfig import Section, load_toml

PROFILES = Path(__file__).resolve().parent / "profiles"
MIN_DEPTH_M = 0.3  # a face nearer the lens than this is not a shopper in view
MIN_FACE_PX = 8  # a face narrower than this is a few pixels of skin, not a face
FACE_WIDTH_M = 0.168  # the FER-framed face box's width on a real head (32 px at 2.4 m, 640 px, 70 degrees)


class CameraSpec(Section):
    """`[camera]`: the sensor, the lens and where it hangs."""

    width: int = Field(640, ge=64, le=4096)
    height: int = Field(480, ge=48, le=4096)
    fps: float = Field(15.0, gt=0, le=120)
    hfov_deg: float = Field(70.0, gt=1.0, lt=180.0, description="horizontal field of view")
    height_m: float = Field(2.2, gt=0.0, le=20.0, description="mounting height above the floor")
    tilt_deg: float = Field(10.0, ge=-45.0, le=89.0, description="pitched down from the horizontal")

    @model_validator(mode="after")
    def _whole_fps(self) -> CameraSpec:
        if not float(self.fps).is_integer():
            raise ValueError(f"fps {self.fps}: a whole number of frames per second (the codecs keep whole rates)")
        return self

    @property
    def focal_px(self) -> float:
        return self.width / 2 / math.tan(math.radians(self.hfov_deg) / 2)


class ShopperSpec(Section):
    """`[shoppers]`: who walks in, how far from the camera, how long they stay."""

    distance_m: tuple[float, float] = Field((1.6, 3.2), description="floor distance from the camera, min and max")
    per_minute: float = Field(6.0, gt=0.0, le=600.0, description="arrivals per minute (Poisson)")
    dwell_median_s: float = Field(3.0, gt=0.0, le=3600.0, description="pause in view: log-normal median")
    dwell_sigma: float = Field(0.5, ge=0.0, le=3.0, description="pause in view: log-normal sigma")
    walk_m_s: tuple[float, float] = Field((0.7, 1.3), description="walking speed, min and max")
    face_height_m: tuple[float, float] = Field((1.5, 1.8), description="height of the face above the floor")

    @model_validator(mode="after")
    def _ranges(self) -> ShopperSpec:
        for name in ("distance_m", "walk_m_s", "face_height_m"):
            low, high = getattr(self, name)
            if not 0.0 < low <= high or not math.isfinite(high):
                raise ValueError(f"{name} {[low, high]}: two positive numbers, smallest first")
        if self.distance_m[0] < 0.3 or self.distance_m[1] > 50.0:
            raise ValueError(f"distance_m {list(self.distance_m)}: from 0.3 m to 50 m")
        return self


class ImageSpec(Section):
    """`[image]`: the light, the sensor and the compression between the scene and the device."""

    noise_sigma: float = Field(2.0, ge=0.0, le=50.0, description="sensor noise, gray levels")
    light_drift: float = Field(0.1, ge=0.0, le=0.8, description="slow gain change, +- this share")
    codec: Literal["h264", "jpeg"] = "h264"
    quality: int = Field(23, ge=1, le=100, description="h264: CRF 1-51 (lower is better); jpeg: quality 1-100")

    @model_validator(mode="after")
    def _quality(self) -> ImageSpec:
        if self.codec == "h264" and self.quality > 51:
            raise ValueError(f"quality {self.quality}: an H.264 CRF is 1-51 (lower is better)")
        return self


class Profile(Section):
    """A camera, its shoppers and its image path."""

    name: str = "custom"
    camera: CameraSpec = Field(default_factory=CameraSpec)
    shoppers: ShopperSpec = Field(default_factory=ShopperSpec)
    image: ImageSpec = Field(default_factory=ImageSpec)

    @model_validator(mode="after")
    def _faces_in_view(self) -> Profile:
        cam, spec = self.camera, self.shoppers
        if self.image.codec == "h264" and (cam.width % 2 or cam.height % 2):
            raise ValueError(f"camera {cam.width}x{cam.height}: H.264 (4:2:0) needs an even width and height")
        corners = [(d, h) for d in spec.distance_m for h in spec.face_height_m]
        if min(self.depth(d, h) for d, h in corners) < MIN_DEPTH_M:
            raise ValueError(f"shoppers.distance_m {list(spec.distance_m)} with face_height_m "
                             f"{list(spec.face_height_m)}: some faces would be behind or at the lens of a camera at "
                             f"{cam.height_m} m tilted {cam.tilt_deg} degrees; stand them farther away")
        largest, smallest = max(self.face_px(d, h) for d, h in corners), min(self.face_px(d, h) for d, h in corners)
        if largest > cam.height / 2:
            raise ValueError(f"shoppers.distance_m {spec.distance_m[0]} m: a face would be {largest:.0f} px, over "
                             f"half the {cam.height} px frame; stand them farther away")
        if smallest < MIN_FACE_PX:
            raise ValueError(f"shoppers.distance_m {spec.distance_m[1]} m: a face would be {smallest:.1f} px, under "
                             f"{MIN_FACE_PX} px (no detector finds it); bring them closer")
        return self

    def face_px(self, distance_m: float, face_height_m: float = 1.65) -> float:
        """The FER-framed face box's width in pixels at this floor distance."""
        return self.camera.focal_px * FACE_WIDTH_M / self.depth(distance_m, face_height_m)

    def distance_for(self, face_px: float, face_height_m: float = 1.65) -> float:
        """The floor distance at which a face is `face_px` wide (the inverse of face_px)."""
        tilt = math.radians(self.camera.tilt_deg)
        depth = self.camera.focal_px * FACE_WIDTH_M / face_px
        return (depth - (self.camera.height_m - face_height_m) * math.sin(tilt)) / math.cos(tilt)

    def depth(self, distance_m: float, face_height_m: float) -> float:
        """Distance along the optical axis (what sets the scale) of a face at floor distance `distance_m`."""
        tilt = math.radians(self.camera.tilt_deg)
        return (self.camera.height_m - face_height_m) * math.sin(tilt) + distance_m * math.cos(tilt)

    def project(self, lateral_m: float, distance_m: float, face_height_m: float) -> tuple[float, float]:
        """Pixel (u, v) of a point `lateral_m` right of the axis, at this floor distance and height."""
        tilt = math.radians(self.camera.tilt_deg)
        depth = self.depth(distance_m, face_height_m)
        down = (self.camera.height_m - face_height_m) * math.cos(tilt) - distance_m * math.sin(tilt)
        f = self.camera.focal_px
        return self.camera.width / 2 + f * lateral_m / depth, self.camera.height / 2 + f * down / depth

    def half_width_m(self, distance_m: float, face_height_m: float = 1.65) -> float:
        """Half the width the camera sees at this distance."""
        return self.depth(distance_m, face_height_m) * self.camera.width / 2 / self.camera.focal_px


def load_profile(name_or_path: str) -> Profile:
    """A shipped profile by name (near, far) or a TOML file; one line naming the problem otherwise."""
    path = PROFILES / f"{name_or_path}.toml" if (PROFILES / f"{name_or_path}.toml").is_file() else Path(name_or_path)
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in PROFILES.glob("*.toml")))
        raise EdgeemoError(f"--profile {name_or_path}: not a shipped profile ({shipped}) nor a TOML file")
    profile = load_toml(path, Profile)
    return profile if profile.name != "custom" else profile.model_copy(update={"name": path.stem})
