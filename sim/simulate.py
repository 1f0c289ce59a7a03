"""`edgeemo simulate`: store footage with a known truth from a labelled face folder."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeemo.errors import EdgeemoError
from edgeemo.sim.footage import footage_name, staged_output, truth_document, write_video
from edgeemo.sim.mixes import draw_faces, parse_mix
from edgeemo.sim.profile import Profile
from edgeemo.sim.render import Renderer, Truth
from edgeemo.sim.shoppers import plan_shoppers

MAX_FOOTAGE_S = 24 * 3600  # a day of one camera; more is a typo in --shoppers or the profile


@dataclass
class Faces:
    """Labelled faces to cast: 48x48 gray images, label indices, label names, file keys, FER+ votes."""

    images: np.ndarray
    labels: np.ndarray
    names: tuple[str, ...]
    keys: list[str] | None
    votes: np.ndarray | None
    source: str

    @property
    def natural(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(self.names)) / len(self.labels)


def load_cast(folder: str, split: str = "test", votes: str | None = None) -> Faces:
    """The faces of a FER-layout folder (with FER+ votes: their majority labels and the votes)."""
    from edgeemo.train.data import load_faces
    from edgeemo.train.ferplus import read_votes

    dataset = load_faces(folder, split, (48, 48), votes)
    keys = [str(k) for k in dataset.keys] if dataset.keys is not None else None
    vote_rows = None
    if votes is not None and keys is not None:
        table = read_votes(Path(votes))
        vote_rows = np.array([table[k] for k in keys])
    return Faces(dataset.images, dataset.labels, dataset.names, keys, vote_rows, dataset.source)


def render_footage(faces: Faces, profile: Profile, shoppers: int, mix: str, seed: int, out: Path,
                   background: Path | None = None, recorded_at: float | None = None) -> Truth:
    """Write `out`/footage.(mp4|avi) and `out`/truth.json; returns the truth."""
    rng = np.random.default_rng(seed)
    chosen = draw_faces(faces.labels, parse_mix(mix, faces.names, faces.natural, rng), shoppers, rng)
    cast = plan_shoppers(chosen.tolist(), [faces.names[faces.labels[i]] for i in chosen], profile, rng)
    planned_s = max((s.leave_s for s in cast), default=0.0)
    if planned_s > MAX_FOOTAGE_S:
        raise EdgeemoError(f"--shoppers {shoppers}: {planned_s / 3600:.1f} h of footage at the profile's "
                           f"{profile.shoppers.per_minute:g} arrivals a minute, over {MAX_FOOTAGE_S // 3600} h; "
                           "fewer shoppers, or more per_minute / a shorter dwell in the profile")
    renderer = Renderer(profile, faces.images, cast, seed, background)  # reads the background first: fails early
    with staged_output(out) as staging:
        write_video(renderer.frames(), staging / footage_name(profile.image), profile)
        document = truth_document(renderer.truth, profile, faces.source, faces.keys, faces.votes, seed, recorded_at)
        document["mix"] = mix
        (staging / "truth.json").write_text(json.dumps(document) + "\n")
    return renderer.truth
