"""Training configuration: one dataclass, saved as config.json beside the weights."""

from __future__ import annotations

import json
from dataclasses import MISSING, Field, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from edgeemo.errors import EdgeemoError


@dataclass(frozen=True)
class AugmentSpec:
    """Training-time augmentation (edgeemo.train.augment applies it)."""

    flip: bool = True
    max_rotation_deg: float = 10.0
    max_shift: float = 0.1  # fraction of the side
    max_zoom: float = 0.1  # scale in [1 - z, 1 + z]
    brightness: float = 0.2  # shift of up to this fraction of 255
    contrast: float = 0.2  # gain in [1 - c, 1 + c] around the face's mean
    erase_prob: float = 0.25  # random erasing (cutout) of one rectangle
    # The store camera (edgeemo.train.camera.store_camera): this share of faces is shrunk to a width
    # in camera_px, given gamma, blur, noise and JPEG, then enlarged by the runtime's own resize.
    camera_prob: float = 0.0
    camera_px: tuple[int, int] = (16, 48)
    jpeg_quality: tuple[int, int] = (40, 95)
    jpeg_prob: float = 0.8
    noise_sigma: float = 5.0  # the largest sensor noise's standard deviation, in gray levels
    gamma: tuple[float, float] = (0.7, 1.5)
    blur_prob: float = 0.2

    def __post_init__(self) -> None:
        for name in ("camera_px", "jpeg_quality", "gamma"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        low, high = self.camera_px
        if not 8 <= low <= high:
            raise EdgeemoError(f"augment.camera_px {self.camera_px}: two widths, 8 px or more, smallest first")
        if not 1 <= self.jpeg_quality[0] <= self.jpeg_quality[1] <= 100:
            raise EdgeemoError(f"augment.jpeg_quality {self.jpeg_quality}: two qualities 1..100, lowest first")
        if not 0 < self.gamma[0] <= self.gamma[1]:
            raise EdgeemoError(f"augment.gamma {self.gamma}: two positive exponents, smallest first")
        for name in ("camera_prob", "jpeg_prob", "blur_prob", "erase_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise EdgeemoError(f"augment.{name} {getattr(self, name)}: a probability, 0..1")


PRECISIONS = ("fp32", "bf16")
TARGETS = ("majority", "distribution")
# Augmentation presets: `standard` for training from scratch; `light` (flips and a few pixels
# of shift) for a final phase or a fine-tune, which heavy augmentation holds back; `store`: the
# standard one with two faces in three seen through a store camera (16-48 px, JPEG q40-95, noise,
# gamma, blur), the rest left sharp so that 48 px faces keep their accuracy.
AUGMENT_PRESETS = {
    "standard": AugmentSpec(),
    "light": AugmentSpec(max_rotation_deg=0.0, max_shift=3 / 48, max_zoom=0.0, brightness=0.0, contrast=0.0,
                         erase_prob=0.0),
    "store": AugmentSpec(camera_prob=2 / 3),
}
CLASS_WEIGHTINGS = ("none", "balanced", "sqrt")
BLOCKS = ("conv", "separable")
ACTIVATIONS = ("relu", "relu6", "hard_swish", "swish")


@dataclass
class ModelConfig:
    """The network's shape (edgeemo.train.model builds it): stages of blocks, each ending in a pool."""

    widths: tuple[int, ...] = (32, 64, 128, 256)
    convs_per_stage: tuple[int, ...] = (2, 2, 3, 2)
    stage_dropout: float = 0.1
    head_dropout: float = 0.4
    blocks: str = "conv"  # conv: 3x3 convolutions; separable: depthwise 3x3 + pointwise 1x1
    stem: int = 0  # separable only: channels of a plain 3x3 convolution before the first stage (0: none)

    def __post_init__(self) -> None:
        if self.blocks not in BLOCKS:
            raise EdgeemoError(f"model.blocks {self.blocks!r}: choose one of {', '.join(BLOCKS)}")
        if len(self.widths) != len(self.convs_per_stage) or not self.widths:
            raise EdgeemoError("model.widths and model.convs_per_stage need one entry per stage, and one stage at least")
        if min(self.widths) < 1 or min(self.convs_per_stage) < 1 or self.stem < 0:
            raise EdgeemoError("model.widths, convs_per_stage must be at least 1 and model.stem 0 or more")


def option(default: Any = MISSING, help: str = "", *, flag: str | None = None, choices: tuple[str, ...] = (),
           metavar: str | None = None, factory: Any = MISSING) -> Any:
    """A training setting: its one default, and (with `help`) the `edgeemo train` flag made from it."""
    metadata = {"help": help, "flag": flag, "choices": choices, "metavar": metavar} if help else {}
    if factory is not MISSING:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class TrainConfig:
    """Every setting of a run: `edgeemo train`'s flags are made from these fields (one default each),
    a preset file (`--config train/presets/NAME.toml`) sets any of them, and `config.json` in the
    run directory records them all."""

    data: str = option(help="Kaggle folder tree (<split>/<label>/*.jpg) or fer2013.csv", metavar="DIR_OR_CSV")
    epochs: int = option(50, "epochs to train (fewer if early stopping ends the run)")
    batch_size: int = option(128, "faces per batch")
    lr: float = option(1e-3, "peak learning rate (AdamW, cosine schedule)")
    weight_decay: float = 0.05  # AdamW, decoupled
    warmup_epochs: int = option(3, "linear warm-up before the cosine decay")
    seed: int = option(42, "seeds the validation split, the shuffling, the augmentation and the weights")
    precision: str = option("bf16", "bf16 = mixed_bfloat16, about 2x faster on CPUs with AVX512-BF16/AMX",
                            choices=PRECISIONS)
    val_fraction: float = 0.1
    label_smoothing: float = option(0.1, "label smoothing of the loss")
    class_weights: str = option("none", "per-class loss weights against class imbalance", choices=CLASS_WEIGHTINGS)
    patience: int = option(15, "early-stopping patience in epochs")
    init_from: str | None = option(None, "start from this trained .keras model (same architecture) instead of "
                                   "random weights: fine-tune the bundled model on your own data with a lower --lr",
                                   flag="--init", metavar="MODEL")
    votes: str | None = option(None, "FER+ ferplus_votes.csv: train the 8 FER+ classes on its majority labels "
                               "(images without a majority are dropped)", metavar="CSV")
    targets: str = option("majority", "with --votes: one-hot majority labels, or the vote distribution as soft "
                          "targets", choices=TARGETS)
    activation: str = option("relu", "the convolution blocks' activation (hard_swish: MobileNetV3's)",
                             choices=ACTIVATIONS)
    classes: str | None = option(None, "train on these labels only, comma-separated (happy,sad: a binary model); "
                                 "faces of other labels are dropped from training and validation",
                                 metavar="LABEL,LABEL")
    teacher_targets: str | None = option(None, "distil: a teacher's outputs for the training faces (written by "
                                         "`edgeemo teacher-targets`); each face's target becomes a mix of the "
                                         "teacher's and its labels'", metavar="NPZ")
    teacher_weight: float = option(0.5, "with --teacher-targets: the teacher's share of each target, 0..1")
    teacher_temperature: float = option(1.0, "with --teacher-targets: soften the teacher's probabilities "
                                        "(p^(1/T), renormalised) before mixing")
    input_size: tuple[int, int] = (48, 48)
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentSpec = option(  # noqa: RUF009 - option() returns a field()
        help="standard: flip, rotation, shift, zoom, brightness/contrast, erasing; light: flip and +-3 px shift "
        "(for fine-tuning); store: standard, and two faces in three seen through a store camera (16-48 px, JPEG, "
        "noise, gamma, blur; the store models' setting)", choices=tuple(AUGMENT_PRESETS), factory=AugmentSpec)

    def __post_init__(self) -> None:
        if not self.data:
            raise EdgeemoError("--data is required (or `data = ...` in --config)")
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
        if self.activation not in ACTIVATIONS:
            raise EdgeemoError(f"--activation {self.activation!r}: choose one of {', '.join(ACTIVATIONS)}")
        if self.classes is not None and len(set(self.class_subset() or ())) < 2:
            raise EdgeemoError(f"--classes {self.classes!r}: name two or more different labels, e.g. happy,sad")
        if not 0.0 <= self.teacher_weight <= 1.0:
            raise EdgeemoError(f"--teacher-weight {self.teacher_weight}: must be between 0 and 1")
        if not 0.0 < self.teacher_temperature < 100.0:
            raise EdgeemoError(f"--teacher-temperature {self.teacher_temperature}: must be above 0 (1 = unchanged)")

    def class_subset(self) -> tuple[str, ...] | None:
        """The labels `--classes` keeps, in the order given (None: all of the data's labels)."""
        if self.classes is None:
            return None
        return tuple(name.strip() for name in self.classes.split(",") if name.strip())

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, path: Path) -> TrainConfig:
        """The config a run recorded (`--resume` continues with exactly it)."""
        try:
            raw: dict[str, Any] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise EdgeemoError(f"{path}: not a readable training config ({exc})") from exc
        return from_settings(raw, str(path))


def cli_settings() -> list[Field]:
    """The fields that are `edgeemo train` flags."""
    return [f for f in fields(TrainConfig) if f.metadata.get("help")]


def flag_of(setting: Field) -> str:
    return setting.metadata.get("flag") or "--" + setting.name.replace("_", "-")


def default_of(setting: Field) -> Any:
    if setting.name == "augment":
        return "standard"
    return setting.default if setting.default is not MISSING else None


def from_settings(settings: dict[str, Any], source: str = "the settings") -> TrainConfig:
    """A config from field names to values (a preset file and the flags given, merged): `augment`
    may name a preset or hold an AugmentSpec's fields, `model` a ModelConfig's."""
    settings = dict(settings)
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise EdgeemoError(f"{source}: unknown training setting {unknown[0]!r} (known: {', '.join(sorted(known))})")
    try:
        augment = settings.get("augment")
        if isinstance(augment, str):
            if augment not in AUGMENT_PRESETS:
                raise EdgeemoError(f"{source}: augment {augment!r}: choose one of {', '.join(AUGMENT_PRESETS)}")
            settings["augment"] = AUGMENT_PRESETS[augment]
        elif isinstance(augment, dict):
            settings["augment"] = AugmentSpec(**augment)
        if isinstance(settings.get("model"), dict):
            shape: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in settings["model"].items()}
            settings["model"] = ModelConfig(**shape)
        if "input_size" in settings:
            settings["input_size"] = tuple(settings["input_size"])
        return TrainConfig(**{"data": "", **settings})
    except TypeError as exc:
        raise EdgeemoError(f"{source}: {exc}") from None


def read_preset(path: Path) -> dict[str, Any]:
    """A preset file's settings (TOML: field names at the top, `[model]` and `[augment]` tables)."""
    from edgeemo.tomlconfig import tomllib  # here: `edgeemo --help` imports this module and must stay light

    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise EdgeemoError(f"--config {path}: no such preset file (the shipped ones are in train/presets/)") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise EdgeemoError(f"--config {path}: not a readable TOML preset ({exc})") from None
