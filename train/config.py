"""Training configuration: one dataclass, saved as config.json beside the weights."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from edgeemo.errors import EdgeemoError
from edgeemo.train.augment import AugmentSpec

PRECISIONS = ("fp32", "bf16")
TARGETS = ("majority", "distribution")
# Augmentation presets: `standard` for training from scratch; `light` (flips and a few pixels
# of shift) for a final phase or a fine-tune, which heavy augmentation holds back.
AUGMENT_PRESETS = {
    "standard": AugmentSpec(),
    "light": AugmentSpec(max_rotation_deg=0.0, max_shift=3 / 48, max_zoom=0.0, brightness=0.0, contrast=0.0,
                         erase_prob=0.0),
}
CLASS_WEIGHTINGS = ("none", "balanced", "sqrt")


@dataclass
class ModelConfig:
    widths: tuple[int, ...] = (32, 64, 128, 256)
    convs_per_stage: tuple[int, ...] = (2, 2, 3, 2)
    stage_dropout: float = 0.1
    head_dropout: float = 0.4


@dataclass
class TrainConfig:
    data: str
    epochs: int = 50
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.05  # AdamW, decoupled
    warmup_epochs: int = 3
    seed: int = 42
    precision: str = "bf16"
    val_fraction: float = 0.1
    label_smoothing: float = 0.1
    class_weights: str = "none"
    patience: int = 15  # epochs without a better validation accuracy before stopping
    init_from: str | None = None  # a trained model of the same architecture to start from (fine-tuning)
    votes: str | None = None  # FER+ ferplus_votes.csv: 8 FER+ classes instead of the folders' 7
    targets: str = "majority"  # or "distribution": FER+ vote distributions as soft targets
    input_size: tuple[int, int] = (48, 48)
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentSpec = field(default_factory=AugmentSpec)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise EdgeemoError(f"--precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}")
        if self.class_weights not in CLASS_WEIGHTINGS:
            raise EdgeemoError(f"--class-weights {self.class_weights!r}: choose one of {', '.join(CLASS_WEIGHTINGS)}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise EdgeemoError(f"--{name.replace('_', '-')} must be at least 1")
        if not 0 < self.val_fraction < 1:
            raise EdgeemoError("val_fraction must be between 0 and 1")
        if self.lr <= 0:
            raise EdgeemoError("--lr must be positive")
        if self.targets not in TARGETS:
            raise EdgeemoError(f"--targets {self.targets!r}: choose one of {', '.join(TARGETS)}")
        if self.targets == "distribution" and not self.votes:
            raise EdgeemoError("--targets distribution needs --votes (the FER+ vote file)")
        if self.warmup_epochs < 0:
            raise EdgeemoError("--warmup-epochs must be 0 or more")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, path: Path) -> TrainConfig:
        try:
            raw: dict[str, Any] = json.loads(path.read_text())
            model = ModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.pop("model", {}).items()})
            augment = AugmentSpec(**raw.pop("augment", {}))
            known = {f.name for f in fields(cls)}
            unknown = sorted(set(raw) - known)
            if unknown:
                raise EdgeemoError(f"{path}: unknown training setting {unknown[0]!r}")
            raw["input_size"] = tuple(raw.get("input_size", (48, 48)))
            return cls(model=model, augment=augment, **raw)
        except (OSError, json.JSONDecodeError, TypeError) as exc:
            raise EdgeemoError(f"{path}: not a readable training config ({exc})") from exc
