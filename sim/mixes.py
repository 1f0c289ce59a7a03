"""Which expression each shopper wears: a folder's own mix, a named scenario, or explicit shares."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgeemo.aggregates import DEFAULT_GROUPS
from edgeemo.errors import EdgeemoError

NAMED = ("natural", "happy50", "bad30", "dirichlet", "mixshift")


def parse_mix(text: str, labels: Sequence[str], natural: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A mix over `labels`: a scenario name (edgeemo evaluate --quantify's) or 'happy=0.5,sad=0.2,...'
    (the rest of the labels share what is left in the folder's own proportions)."""
    from edgeemo.train.quantify import scenario_mix

    if text in NAMED:
        return scenario_mix(text, natural, labels, DEFAULT_GROUPS.for_labels(labels), rng)
    shares: dict[str, float] = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        name = name.strip()
        try:
            share = float(value)
        except ValueError:
            share = float("nan")
        if name not in labels or not 0.0 <= share <= 1.0:
            raise EdgeemoError(f"--mix {text!r}: expected one of {', '.join(NAMED)} or label=share pairs like "
                               f"happy=0.5,sad=0.2 with labels from {', '.join(labels)} and shares 0..1")
        shares[name] = share
    empty = [name for name, share in shares.items() if share > 0 and natural[list(labels).index(name)] == 0]
    if empty:
        raise EdgeemoError(f"--mix {text!r}: the folder holds no {', '.join(empty)} face to cast; give it share 0 "
                           "or use a folder that has some")
    given = sum(shares.values())
    if given > 1.0 + 1e-9:
        raise EdgeemoError(f"--mix {text!r}: the shares add up to {given:.3f}, over 1")
    mix = np.array([shares.get(x, 0.0) for x in labels])
    rest = np.array([x not in shares for x in labels]) & (natural > 0)
    if rest.any():
        mix[rest] = (1.0 - given) * natural[rest] / natural[rest].sum()
    elif given < 1.0 - 1e-9:
        raise EdgeemoError(f"--mix {text!r}: the shares add up to {given:.3f}; name every label's share or leave "
                           "some out for the rest")
    return mix / mix.sum()


def draw_faces(labels_of_faces: np.ndarray, mix: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` face indices: each shopper's label drawn from `mix`, then one face of that label at random."""
    by_label = [np.flatnonzero(labels_of_faces == k) for k in range(len(mix))]
    mix = np.where([len(f) > 0 for f in by_label], mix, 0.0)
    if mix.sum() <= 0:
        raise EdgeemoError("--mix: the folder holds no face of any label the mix asks for")
    chosen = rng.choice(len(mix), size=count, p=mix / mix.sum())
    return np.array([rng.choice(by_label[k]) for k in chosen], dtype=np.int64)
