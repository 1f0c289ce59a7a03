"""How often each tracked face is classified: a few times a second, more while it is uncertain.

A shopper's expression changes over seconds, not 15 times a second; classifying every live
track on every frame spends most of a Pi's CPU on near-identical crops. Each track is
classified at `per_second`, or at `uncertain_per_second` while its smoothed emotion's top
probability is under `certain_above` (a new face, an expression changing). Frames in between
hold the smoothed label, so a visit's shares stay shares of its time.

The defaults (3 a second, 7.5 while the top probability is under 0.6) were chosen by
`scripts/bench_gate_rate.py` on 3,000 FER-2013 training faces as the largest saving whose
visits' dominant emotions still agree >= 99% with classifying every frame (99.4%, 4.1x fewer
crops; reports/detection/gate_rate.json).
"""

from __future__ import annotations

from pydantic import Field

from edgeemo.tomlconfig import Section


class ClassifyConfig(Section):
    """`[classify]`: the per-track classification rate."""

    per_second: float = Field(3.0, ge=0.0, le=120.0, description="classifications per second of a settled "
                              "track; 0 = every frame")
    uncertain_per_second: float = Field(7.5, ge=0.0, le=120.0, description="while the smoothed emotion is "
                                        "uncertain; 0 = every frame")
    certain_above: float = Field(0.6, ge=0.0, le=1.0, description="a smoothed top probability above this "
                                 "is settled")


class ClassifySchedule:
    """Which live tracks are due for a classification on this frame."""

    def __init__(self, config: ClassifyConfig) -> None:
        self.config = config
        self._last: dict[int, tuple[float, int]] = {}  # track id -> (frames' clock, frame number) of its last

    def due(self, track_id: int, now: float, confidence: float | None) -> bool:
        """True when track `track_id` is to be classified now; `confidence` None: never classified."""
        if confidence is None or track_id not in self._last:
            return True
        last = self._last[track_id][0]
        if now < last:  # the frames' clock went back (a new source): classify afresh
            return True
        settled = confidence > self.config.certain_above
        rate = self.config.per_second if settled else self.config.uncertain_per_second
        # a millisecond's slack for float clocks: at 15 fps and 3 per second, every fifth frame is due
        return rate == 0 or now - last >= 1.0 / rate - 1e-3

    def classified(self, track_id: int, now: float, frame: int) -> int:
        """Record a classification at frame number `frame`; returns how many frames it stands for."""
        previous = self._last.get(track_id)
        self._last[track_id] = (now, frame)
        return 1 if previous is None else max(1, frame - previous[1])

    def forget(self, track_id: int) -> None:
        self._last.pop(track_id, None)
