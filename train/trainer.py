"""`edgeemo train`: one readable training run with checkpoints, resume and early stopping.

The run directory holds config.json, history.csv, curves.png, checkpoint/ (last model with
optimizer state, best weights, early-stopping state) and the best model as model.keras
with its sidecar model.json.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from edgeemo import __version__
from edgeemo.errors import EdgeemoError
from edgeemo.machine import usable_cpus
from edgeemo.sidecar import write_sidecar
from edgeemo.train.augment import augment_batch
from edgeemo.train.config import TrainConfig
from edgeemo.train.data import FaceDataset, load_split
from edgeemo.train.init import init_provenance, load_initial_weights
from edgeemo.train.metrics import classification_report
from edgeemo.train.model import build_model, count_macs
from edgeemo.train.plots import training_curves
from edgeemo.train.progress import EpochProgress
from edgeemo.train.teacher import mixed_targets, read_teacher_targets, teacher_provenance
from edgeemo.train.tfkeras import keras, tf

log = logging.getLogger(__name__)

HISTORY_FIELDS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds", "images_per_s")


class AugmentedBatches(keras.utils.Sequence):
    """Shuffled, augmented batches; the order and augmentation depend only on (seed, epoch)."""

    def __init__(self, data: FaceDataset, config: TrainConfig, class_weights: np.ndarray,
                 teacher: np.ndarray | None = None) -> None:
        super().__init__()
        self.data = data
        self.config = config
        self.targets = training_targets(data, config.targets)
        if teacher is not None:
            self.targets = mixed_targets(self.targets, teacher, config.teacher_weight)
        self.weights = class_weights[data.labels].astype(np.float32)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.order = np.random.default_rng((self.config.seed, epoch)).permutation(len(self.data))

    def __len__(self) -> int:
        return math.ceil(len(self.data) / self.config.batch_size)

    def __getitem__(self, index: int):
        batch = self.order[index * self.config.batch_size : (index + 1) * self.config.batch_size]
        rng = np.random.default_rng((self.config.seed, self.epoch, index))
        faces = augment_batch(self.data.images[batch], rng, self.config.augment)[..., None]
        return faces, self.targets[batch], self.weights[batch]


def training_targets(data: FaceDataset, mode: str) -> np.ndarray:
    """One-hot majority labels, or the vote distributions (FER+ soft targets)."""
    if mode == "distribution":
        if data.targets is None:
            raise EdgeemoError("--targets distribution needs vote distributions: pass --votes")
        return data.targets.astype(np.float32)
    return np.eye(len(data.names), dtype=np.float32)[data.labels]


def class_weight_vector(counts: np.ndarray, mode: str) -> np.ndarray:
    """Per-class loss weights, mean 1 over the training samples ('none' gives all ones)."""
    if mode == "none":
        return np.ones(len(counts))
    inverse = counts.sum() / np.maximum(counts, 1) / len(counts)
    weights = inverse if mode == "balanced" else np.sqrt(inverse)
    return weights * counts.sum() / (weights * counts).sum()


class BatchProgress(keras.callbacks.Callback):
    """Keras's hooks driving `EpochProgress` (for a run whose output is not a terminal)."""

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.epochs, self.progress = epochs, EpochProgress()

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.progress.begin(epoch + 1, self.epochs, self.params.get("steps"))

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        self.progress.step()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self.progress.end()


class RunCheckpoint(keras.callbacks.Callback):
    """Per epoch: history row, last checkpoint (with optimizer), best weights, early stopping."""

    def __init__(self, run_dir: Path, batches: AugmentedBatches, patience: int, state: dict) -> None:
        super().__init__()
        self.dir = run_dir / "checkpoint"
        self.history_path = run_dir / "history.csv"
        self.batches = batches
        self.patience = patience
        self.state = state
        self.started = 0.0

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.batches.set_epoch(epoch)
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = logs or {}
        seconds = time.perf_counter() - self.started
        row = {
            "epoch": epoch + 1,
            "loss": logs["loss"],
            "accuracy": logs["accuracy"],
            "val_loss": logs["val_loss"],
            "val_accuracy": logs["val_accuracy"],
            "lr": _current_lr(self.model.optimizer),
            "seconds": seconds,
            "images_per_s": len(self.batches.data) / seconds,
        }
        append_history(self.history_path, row)
        if row["val_accuracy"] > self.state["best_val_accuracy"]:
            self.state.update(best_val_accuracy=row["val_accuracy"], best_epoch=epoch + 1)
            _atomic_save(self.model.save_weights, self.dir / "best.weights.h5")
        _atomic_save(self.model.save, self.dir / "last.keras")
        self.state["epochs_done"] = epoch + 1
        self.state["train_seconds"] += seconds
        # state.json is the commit point: an epoch counts once it is written.
        _atomic_write_text(self.dir / "state.json", json.dumps(self.state, indent=2))
        if epoch + 1 - self.state["best_epoch"] >= self.patience:
            log.info("early stop: no better validation accuracy for %d epochs", self.patience)
            self.model.stop_training = True


def _atomic_save(save: Callable[[str], object], path: Path) -> None:
    """Write via a temporary file in the same folder, then rename: a kill leaves the old file whole."""
    tmp = path.with_name(f".tmp-{path.name}")
    save(str(tmp))
    os.replace(tmp, path)


def _atomic_write_text(path: Path, text: str) -> None:
    _atomic_save(lambda name: Path(name).write_text(text), path)


def append_history(path: Path, row: dict) -> None:
    new_file = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, HISTORY_FIELDS)
        if new_file:
            writer.writeheader()
        writer.writerow(row)


def truncate_history(path: Path, epochs_done: int) -> None:
    """Drop rows of epochs that ran after the last committed checkpoint (killed mid-epoch)."""
    if not path.exists():
        return
    with open(path, newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if int(row["epoch"]) <= epochs_done]
    path.unlink()
    for row in rows:
        append_history(path, row)


def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU computes bf16 itself (AVX512-BF16 or AMX); True where it cannot be told."""
    try:
        flags = set(cpuinfo.read_text(errors="replace").split())
    except OSError:
        return True
    if "flags" not in flags:  # not an x86 Linux cpuinfo (an ARM one lists "Features")
        return True
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def _current_lr(optimizer: keras.optimizers.Optimizer) -> float:
    """The learning rate in effect now (the optimizer may hold a value or a schedule)."""
    rate = optimizer.learning_rate
    return float(rate(optimizer.iterations) if callable(rate) else rate)


def _compile(model: keras.Model, config: TrainConfig, steps_per_epoch: int) -> None:
    total = config.epochs * steps_per_epoch
    warmup = min(config.warmup_epochs * steps_per_epoch, total - 1)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.lr / 100, decay_steps=total - warmup, alpha=0.0,
        warmup_target=config.lr, warmup_steps=warmup,
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=schedule, weight_decay=config.weight_decay),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
    )


def validation_arrays(dataset: FaceDataset) -> tuple[np.ndarray, np.ndarray]:
    """(faces as float32 (N, H, W, 1), one-hot majority labels) for Keras validation."""
    return dataset.images[..., None].astype(np.float32), np.eye(len(dataset.names), dtype=np.float32)[dataset.labels]


def fine_tune(model: keras.Model, train_set: FaceDataset, val_set: FaceDataset, config: TrainConfig, epochs: int,
              lr: float, epoch_offset: int, callbacks: tuple[keras.callbacks.Callback, ...] = ()) -> None:
    """Briefly train an already-trained model (pruning, QAT) with the run's augmentation and loss.

    `epoch_offset` picks augmentation seeds the original run never used.
    """
    batches = AugmentedBatches(train_set, config, class_weight_vector(train_set.class_counts(), config.class_weights))
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
    )

    class FreshAugmentation(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs=None) -> None:
            batches.set_epoch(epoch_offset + epoch)

    model.fit(batches, epochs=epochs, validation_data=validation_arrays(val_set), verbose=2,
              callbacks=[*callbacks, FreshAugmentation()])


def read_history(path: Path) -> dict[str, list[float]]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {name: [float(row[name]) for row in rows] for name in HISTORY_FIELDS}


def train(config: TrainConfig | None, run_dir: Path, resume: bool = False) -> Path:
    """Train, keep the best validation checkpoint, and write model.keras + model.json (resuming,
    with the config the run recorded: `config` may then be None)."""
    checkpoint_dir = run_dir / "checkpoint"
    state_path = checkpoint_dir / "state.json"
    if resume:
        if not state_path.exists():
            raise EdgeemoError(f"{run_dir}: nothing to resume (no checkpoint/state.json); start without --resume")
        config = TrainConfig.from_json(run_dir / "config.json")
        state = json.loads(state_path.read_text())
        truncate_history(run_dir / "history.csv", state["epochs_done"])
    else:
        if state_path.exists():
            raise EdgeemoError(f"{run_dir}: holds a run already; pass --resume to continue it or choose another --out")
        assert config is not None, "a new run needs its config"
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        _atomic_write_text(run_dir / "config.json", config.to_json())
        state = {"best_val_accuracy": -1.0, "best_epoch": 0, "epochs_done": 0, "train_seconds": 0.0}

    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if config.precision == "bf16" else "float32")
    if config.precision == "bf16" and not cpu_has_native_bf16():
        log.warning("this CPU has no AVX512-BF16/AMX: bf16 is emulated and trains several times slower; "
                    "pass --precision fp32")
    train_set, val_set = load_split(config.data, config.val_fraction, config.seed, config.input_size, config.votes)
    subset = config.class_subset()
    if subset:
        train_set, val_set = train_set.only(subset), val_set.only(subset)
    log.info("training part: %s", train_set.summary())
    log.info("split (seed %d, no validation face copied in training): %d train, %d validation",
             config.seed, len(train_set), len(val_set))
    weights = class_weight_vector(train_set.class_counts(), config.class_weights)
    teacher = None
    if config.teacher_targets:
        teacher = read_teacher_targets(config.teacher_targets, train_set, config.teacher_temperature)
        log.info("distilling: %.0f%% of each target from %s", 100 * config.teacher_weight, config.teacher_targets)
    batches = AugmentedBatches(train_set, config, weights, teacher)
    val_x, val_y = validation_arrays(val_set)

    if resume and state["epochs_done"] > 0:
        model = keras.models.load_model(checkpoint_dir / "last.keras")
        log.info("resuming after epoch %d (best %.4f at epoch %d)", state["epochs_done"],
                 state["best_val_accuracy"], state["best_epoch"])
    else:
        model = build_model(config.model, config.input_size, len(train_set.names), config.activation)
        if config.init_from:
            state["init"] = load_initial_weights(model, Path(config.init_from))
        _compile(model, config, len(batches))
    done = state["epochs_done"]
    if done < config.epochs and done - state["best_epoch"] < config.patience:
        terminal = sys.stdout.isatty()  # Keras's own bar there; a line per epoch and ours in a log
        model.fit(
            batches, epochs=config.epochs, initial_epoch=done, validation_data=(val_x, val_y),
            callbacks=[RunCheckpoint(run_dir, batches, config.patience, state),
                       *([] if terminal else [BatchProgress(config.epochs)])],
            verbose=1 if terminal else 2,
        )
    return _export_best(config, run_dir, state, val_x, val_set, len(train_set))


def _export_best(config: TrainConfig, run_dir: Path, state: dict, val_x: np.ndarray,
                 val_set: FaceDataset, n_train: int) -> Path:
    """Rebuild the model in float32, load the best weights, save it with its sidecar and curves."""
    keras.mixed_precision.set_global_policy("float32")
    names = val_set.names
    model = build_model(config.model, config.input_size, len(names), config.activation)
    model.load_weights(run_dir / "checkpoint" / "best.weights.h5")
    val_labels = val_set.labels
    val_report = classification_report(val_labels, model.predict(val_x, batch_size=256, verbose=0), names)
    model_path = run_dir / "model.keras"
    model.save(model_path)  # uncompiled: weights and architecture only
    history = read_history(run_dir / "history.csv")
    training_curves(history, run_dir / "curves.png")
    made_by = {
        "stage": "train",
        "data": str(config.data),
        "split": (f"train minus a stratified {config.val_fraction:.0%} validation split (seed {config.seed}); "
                  "validation faces with a pixel-identical copy in training moved to training"),
        **({"votes": str(config.votes), "labels_from": f"FER+ majority; trained on {config.targets}"}
           if config.votes else {}),
        **({"classes": list(names)} if config.classes else {}),
        **({**teacher_provenance(config.teacher_targets), "teacher_weight": config.teacher_weight,
            "teacher_temperature": config.teacher_temperature} if config.teacher_targets else {}),
        "n_train": n_train,
        "n_validation": len(val_labels),
        "epochs_run": state["epochs_done"],
        "best_epoch": state["best_epoch"],
        "validation_accuracy": round(val_report.accuracy, 4),
        "validation_macro_f1": round(val_report.macro_f1, 4),
        "validation_recall": {c.label: round(c.recall, 4) for c in val_report.per_class},
        "parameters": int(model.count_params()),
        "macs_per_face": count_macs(model),
        "train_seconds": round(state["train_seconds"], 1),
        "train_images_per_s": round(float(np.median(history["images_per_s"])), 1),
        "precision": config.precision,
        **init_provenance(state),
        "config": asdict(config),
        "edgeemo": __version__,
        "tensorflow": tf.__version__,
        "machine": f"{platform.machine()}, {usable_cpus()} CPU(s)",
    }
    write_sidecar(model_path, made_by, labels=list(names), input_shape=(*config.input_size, 1))
    log.info("best model (epoch %d, validation accuracy %.4f) -> %s", state["best_epoch"], val_report.accuracy, model_path)
    return model_path


